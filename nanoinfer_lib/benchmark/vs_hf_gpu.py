"""The GPU table of ``vs-hf`` in one call: float16 and bfloat16, each eager and with CUDA graphs
(the library's ``graphed_greedy`` against transformers with its static cache, which its ``generate``
compiles with ``torch.compile``: its fastest documented path), every configuration into one results
file, written after every case.

    python -m nanoinfer_lib.benchmark vs-hf-gpu --out nanoinfer_lib/results/vs_hf_gpu.json

Sized to finish in under 8 minutes on one data-centre GPU (GPT-2 124M, batch 1 and 8, 128 and 256
new tokens, 3 timed runs). ``--device cpu --model tiny`` runs the same plumbing on a CPU (eager
configurations only; CUDA graphs need a GPU), as the tests do.
"""
from __future__ import annotations

import time

from .. import cli
from . import vs_hf

CONFIGS = [("float16", False), ("float16", True), ("bfloat16", False), ("bfloat16", True)]


def main(argv: list[str]) -> int:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.benchmark vs-hf-gpu",
                           description="vs-hf on a GPU: fp16 and bf16, eager and CUDA graphs, one file.")
    p.add_argument("--device", default="cuda")
    p.add_argument("--model", choices=sorted(vs_hf.SHAPES), default="gpt2")
    p.add_argument("--batch-sizes", default="1 8", help="space-separated (default: '1 8')")
    p.add_argument("--new-tokens", default="128 256", help="space-separated (default: '128 256')")
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--out", required=True, help="results file (JSON, common schema), written after every case")
    a = p.parse_args(argv)
    gpu = a.device.startswith("cuda")
    worst, start = 0, time.perf_counter()
    for dtype, graphs in CONFIGS:
        if graphs and not gpu:
            print(f"{dtype} with CUDA graphs: skipped (needs a GPU)")
            continue
        args = ["--device", a.device, "--model", a.model, "--dtype", dtype, "--runs", str(a.runs),
                "--batch-sizes", *a.batch_sizes.split(), "--new-tokens", *a.new_tokens.split(), "--out", a.out]
        print(f"== {dtype}, {'CUDA graphs' if graphs else 'eager'} ({time.perf_counter() - start:.0f} s so far)", flush=True)
        worst = max(worst, vs_hf.main(args + (["--cuda-graphs"] if graphs else [])))
    print(f"all configurations done in {time.perf_counter() - start:.0f} s; results in {a.out}")
    return worst
