"""Timers, benchmarks and device/memory information; also a command line:

    python -m nanoinfer_lib.benchmark kv-sweep --out results.json
    python -m nanoinfer_lib.benchmark vs-hf
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from typing import Callable

import torch


def synchronize(device: torch.device | str | None = None) -> None:
    """Wait for queued GPU work so a wall-clock timer measures it (no-op on CPU)."""
    device = torch.device(device) if device is not None else None
    if torch.cuda.is_available() and (device is None or device.type == "cuda"):
        torch.cuda.synchronize(device)
    elif device is not None and device.type == "mps":
        torch.mps.synchronize()


def time_fn(fn: Callable[[], object], num_runs: int = 5, warmup: int = 1,
            device: torch.device | str | None = None) -> list[float]:
    """Run `fn` `warmup` times untimed, then `num_runs` times; return the wall times in seconds."""
    if not isinstance(num_runs, int) or num_runs < 1:
        raise ValueError(f"num_runs must be an integer >= 1, got {num_runs!r}")
    if not isinstance(warmup, int) or warmup < 0:
        raise ValueError(f"warmup must be an integer >= 0, got {warmup!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(num_runs):
        synchronize(device)
        t0 = time.perf_counter()
        fn()
        synchronize(device)
        times.append(time.perf_counter() - t0)
    return times


def device_info(device: torch.device | str | None = None) -> dict:
    """What a measurement ran on: device name, torch version, threads."""
    device = torch.device(device or "cpu")
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else (platform.processor() or platform.machine())
    return {"device": str(device), "device_name": name, "torch": torch.__version__,
            "threads": torch.get_num_threads(), "cpu_count": os.cpu_count()}


# ---- chapter 02: cached vs uncached sweep (kv-sweep) -----------------------------------------

# ---- chapter 04: benchmark_model, decode benchmark, memory ------------------------------------

# ---- fast decoding vs transformers (vs-hf) ----------------------------------------------------


# ---- command line ------------------------------------------------------------------------------
COMMANDS: dict[str, Callable[[list[str]], int]] = {}   # name -> main(argv); sections above register theirs


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m nanoinfer_lib.benchmark", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("command", choices=sorted(COMMANDS), help="which benchmark to run")
    p.add_argument("args", nargs=argparse.REMAINDER, help="the command's own arguments (see COMMAND --help)")
    ns = p.parse_args(argv)
    return COMMANDS[ns.command](ns.args)


if __name__ == "__main__":
    raise SystemExit(main())
