"""``python -m nanoinfer_lib.benchmark COMMAND [options]``: the benchmark command lines.

Each command lives in its own module, imported only when it runs; ``COMMAND --help`` lists its options.
"""
from __future__ import annotations

import argparse
import importlib

from .. import cli

COMMANDS = {  # command -> (module with main(argv), what it measures)
    "kv-sweep": ("kv_sweep", "chapter 02: greedy generation with and without the KV cache over lengths"),
    "perf": ("perf", "chapter 04: precision, the KV cache, batching, threads, compile, bandwidth"),
    "vs-hf": ("vs_hf", "the library vs transformers on GPT-2-shaped weights"),
    "vs-hf-gpu": ("vs_hf_gpu", "vs-hf's GPU table in one call: fp16 and bf16, eager and CUDA graphs"),
    "claims": ("claims", "chapter 04: the tutorial's performance claims, measured, with intervals and verdicts"),
    "speculative": ("speculative", "chapter 06: speculative decoding vs plain greedy, measured beside its formula"),
    "gpu-refs": ("gpu_refs", "the GPU reference files (perf_gpu.json, kv_sweep_gpu.json) re-measured in one call"),
    "serving": ("serving", "chapter 07: one at a time, static batching and the Engine on one stream of requests"),
    "serve-load": ("serve_load", "chapter 07: the HTTP server under 1, 8 and 32 concurrent streamed clients"),
    "memory": ("memory", "chapter 08: weight and KV-cache formats: quality, bytes, speed; the FAQ's answers"),
}


def main(argv: list[str] | None = None) -> int:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.benchmark",
                           description="\n".join(f"  {k:10s} {v[1]}" for k, v in COMMANDS.items()),
                           formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(COMMANDS), help="which benchmark to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (see COMMAND --help)")
    ns = p.parse_args(argv)
    module = importlib.import_module(f"nanoinfer_lib.benchmark.{COMMANDS[ns.command][0]}")
    return cli.guarded(module.main, ns.args)     # bad input: one line on stderr, no traceback


if __name__ == "__main__":
    raise SystemExit(main())
