"""``python -m nanoinfer_lib.benchmark gpu-refs --out-dir DIR``: the GPU reference files that chapters
01, 02 and 04 read where a learner has no GPU, re-measured in one call with the current code:

- ``perf_gpu.json``: ``perf --device cuda`` (precision, batching on chapter 04's workload, the
  synchronisation trap, CUDA graphs, torch.compile, the roofline), every timing with its runs;
- ``kv_sweep_gpu.json``: ``kv-sweep`` of the bundled model and the GPT-2 shape at batch 1, then
  the GPT-2 shape at batch 16 (peak memory of a batch), five interleaved rounds each.

Copy both into ``nanoinfer_lib/results/`` to replace the references. ``--quick`` runs the same
plumbing on the CPU with tiny sweeps (a smoke test; its files are no GPU references).
"""
from __future__ import annotations

from pathlib import Path

import torch

from .. import cli
from . import kv_sweep, perf
from .kv_sweep import KV_SWEEP_NEW_TOKENS


def commands(out_dir: Path, quick: bool = False) -> list[tuple[str, list[str]]]:
    """The (command, arguments) that ``main`` runs, in order."""
    device = "cpu" if quick else "cuda"
    perf_file, kv_file = str(out_dir / "perf_gpu.json"), str(out_dir / "kv_sweep_gpu.json")
    small = ["--quick"] if quick else ["--runs", "5"]
    return [("perf", ["--device", device, "--out", perf_file] + (["--quick", "--no-compile"] if quick else [])),
            ("kv-sweep", ["--device", device, "--model", "bundled"] + ([] if quick else ["gpt2-random"]) + small
             + ["--out", kv_file]),
            ("kv-sweep", ["--device", device, "--model", "bundled" if quick else "gpt2-random", "--batch-size", "16"]
             + (["--quick"] if quick else ["--new-tokens", *map(str, KV_SWEEP_NEW_TOKENS), "--runs", "5"])
             + ["--append", "--out", kv_file])]


def main(argv: list[str]) -> int:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.benchmark gpu-refs",
                           description="Re-measure the GPU reference files (perf_gpu.json, kv_sweep_gpu.json).")
    p.add_argument("--out-dir", required=True, help="folder to write both files into")
    p.add_argument("--quick", action="store_true", help="the same plumbing on the CPU, tiny sweeps (a smoke test)")
    args = p.parse_args(argv)
    if not args.quick and not torch.cuda.is_available():
        p.error("no CUDA device: the GPU references need a GPU (--quick runs the plumbing on the CPU)")
    out = Path(args.out_dir)
    if not out.is_dir():
        p.error(f"--out-dir: {out.name} is not a folder")
    for name, arguments in commands(out, args.quick):
        print(f"python -m nanoinfer_lib.benchmark {name} {' '.join(Path(a).name if '/' in a else a for a in arguments)}",
              flush=True)
        {"perf": perf.main, "kv-sweep": kv_sweep.main}[name](arguments)
    return 0
