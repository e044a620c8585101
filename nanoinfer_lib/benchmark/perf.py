"""``perf``: chapter 04's measurements on one device (precision, the KV cache, batching, threads,
CUDA graphs, torch.compile, the synchronisation trap, bandwidth and the roofline), written to a
results file; the GPU reference of chapter 04 (``gpu-refs`` re-measures it with kv-sweep's).
Also the pieces chapter 04 uses itself: ``batching_sweep`` (the same workload at several batch
sizes, prefill timed apart from decode) and ``top_ops`` (where a call spends its time, by operator).

    python -m nanoinfer_lib.benchmark perf --device cuda --out perf_gpu.json
"""
from __future__ import annotations

import copy
import os
import statistics
import sys
import time
from contextlib import contextmanager

import numpy as np

import torch

from .. import cli, validate
from ..quantize import quantize_int8
from .hardware import copy_bandwidth, fraction_of_roof, model_memory, read_bandwidth
from .results import PERF_GPU_FILE, checkpoint_sha256, command_line, make_results, read_results, write_results
from .roofline import place_on_roofline, roofline_roofs
from .speed import benchmark_decode, benchmark_model, cuda_graph_step_ms, decode_bytes_per_step, decode_flops_per_step
from .timing import median_interval, synchronize, time_fn, time_fn_unsynced


# chapter 04's batching workload, shared with this command so a GPU file compares point for point
BATCHING = {"prompts": 8, "new_tokens": 32, "batch_sizes": (1, 2, 4, 8), "rounds": 6}

# figures a legacy file holds that are known to be wrong, left out when it is read (kept in the file)
EXCLUDED = {("batching", "bfloat16"): "measured with cuDNN attention, which built a new plan at every decode "
                                      "step, since left out by model.attention: 20-800 tokens/s instead of thousands"}


def load_perf(path=PERF_GPU_FILE) -> dict | None:
    """A perf results file's measurements (its ``data``, with ``info`` = where it ran), or None.
    In a legacy file the figures of ``EXCLUDED`` are left out; ``excluded`` says which and why."""
    res = read_results(path)
    if res is None:
        return None
    data = dict(res["data"], info=res["hardware"], date=res["date"], command=res["command"],
                library_commit=res["library_commit"], legacy=res.get("legacy", False), excluded={})
    if data["legacy"]:
        for (section, key), why in EXCLUDED.items():
            if key in data.get(section, {}):
                data[section] = {k: v for k, v in data[section].items() if k != key}
                data["excluded"][f"{section}/{key}"] = why
    return data


def batching_sweep(model, tokenizer, prompts: list[str], batch_sizes=(1, 2, 4, 8, 16), new_tokens: int = 64,
                   rounds: int = 3) -> list[dict]:
    """``generate_batch`` (greedy) of the same ``prompts`` at each batch size, ``rounds`` rounds, each
    timing every batch size twice: ``new_tokens`` tokens (the whole run) and 1 token (the prefill and
    its first token). Decode = whole - prefill, per round. One record per batch size: tokens_per_second
    (whole run), decode_tokens_per_second (the other ``new_tokens - 1`` tokens of every prompt),
    prefill_tokens_per_second (prompt tokens), latency_ms_per_batch, each with a bootstrap 95%
    ``..._interval`` over the rounds, and the raw ``times_s``."""
    from ..generation import generate_batch
    prompts = validate.texts("prompts", prompts)
    sizes = [validate.integer("batch_sizes[i]", b, 1) for b in batch_sizes]
    new_tokens = validate.integer("new_tokens", new_tokens, 2)
    rounds = validate.integer("rounds", rounds, 1)
    device = model.device
    run = lambda B, n: generate_batch(model, prompts, tokenizer, max_new_tokens=n, batch_size=B, temperature=0)  # noqa: E731
    for B in sizes:                                                       # warm-up
        generate_batch(model, prompts[:B], tokenizer, max_new_tokens=2, batch_size=B, temperature=0)
    times = {B: {"whole": [], "prefill": []} for B in sizes}
    for _ in range(rounds):
        for B in sizes:
            times[B]["prefill"] += time_fn(lambda: run(B, 1), num_runs=1, warmup=0, device=device)
            times[B]["whole"] += time_fn(lambda: run(B, new_tokens), num_runs=1, warmup=0, device=device)
    n, prompt_tokens = len(prompts), sum(len(tokenizer.encode(p)) for p in prompts)
    rows = []
    for B in sizes:
        whole, pre = np.array(times[B]["whole"]), np.array(times[B]["prefill"])
        per_round = {"tokens_per_second": n * new_tokens / whole,
                     "decode_tokens_per_second": n * (new_tokens - 1) / np.maximum(whole - pre, 1e-9),
                     "prefill_tokens_per_second": prompt_tokens / pre,
                     "latency_ms_per_batch": whole / -(-n // B) * 1e3}
        row = {"batch_size": B, "prompts": n, "new_tokens": new_tokens, "rounds": rounds,
               "times_s": {k: v.tolist() for k, v in (("whole", whole), ("prefill", pre))}}
        for key, values in per_round.items():
            row[key] = float(np.median(values))
            row[key + "_interval"] = median_interval(values.tolist()) if rounds > 1 else (row[key], row[key])
        rows.append(row)
    return rows


def sync_trap(model, shape=(4, 512), runs: int = 10, device="cuda") -> dict:
    """Milliseconds a timer reads without and with GPU synchronisation, for a forward pass over
    ``shape`` and for a large matrix product (4096 x 4096, whose kernel runs far longer than its
    launch, so the unsynchronised timer sees only the launch)."""
    ids = torch.zeros(shape, dtype=torch.long, device=device)
    x = torch.randn(4096, 4096, device=device)
    out = {}
    with torch.inference_mode():
        for name, fn in (("forward", lambda: model(ids)), ("matmul_4096", lambda: x @ x)):
            fn()
            synchronize(device)
            out[name] = {"without_sync_ms": statistics.median(time_fn_unsynced(fn, runs)) * 1e3,
                         "with_sync_ms": statistics.median(time_fn(fn, runs, 2, device)) * 1e3}
    return dict(out["forward"], matmul_4096=out["matmul_4096"])        # forward at the top level, as before


@contextmanager
def _quiet_stderr():
    """Send file descriptor 2 to /dev/null meanwhile: the profiler's C++ start/stop lines."""
    sys.stderr.flush()
    saved, null = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(null, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(null)
        os.close(saved)


def top_ops(fn, n: int = 6) -> list[dict]:
    """Where ``fn()`` spends its CPU time: ``torch.profiler``'s operators by self time, the ``n``
    largest, each {"op", "share" (of all self time), "ms", "calls"}."""
    from torch.profiler import ProfilerActivity, profile
    if not callable(fn):
        raise TypeError(f"fn must be a function of no arguments, got {type(fn).__name__}")
    n = validate.integer("n", n, 1)
    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU]) as prof:
        fn()
    events = [e for e in prof.key_averages() if e.self_cpu_time_total > 0]
    total = sum(e.self_cpu_time_total for e in events) or 1
    events.sort(key=lambda e: -e.self_cpu_time_total)
    return [{"op": e.key, "share": e.self_cpu_time_total / total, "ms": e.self_cpu_time_total / 1e3,
             "calls": e.count} for e in events[:n]]


def _precision(model, heldout, shape, runs: int, new: int) -> dict:
    """Weights, held-out loss, prefill and decode speed in each dtype, each on its own copy."""
    from ..metrics import heldout_loss
    rows = {}
    for name, dt in validate.DTYPES.items():
        m = copy.deepcopy(model).to(dt)                 # a copy: float32 -> bf16 -> float32 would round the weights
        row = {"weights_mb": model_memory(m) / 2**20, "loss": heldout_loss(m, heldout),
               "prefill": benchmark_model(m, input_shape=shape, num_runs=runs),
               "decode": benchmark_decode(m, batch_size=1, prompt_len=16, new_tokens=new, num_runs=max(2, runs // 3))}
        rows[name] = row
        print(f"  {name:9s} prefill {row['prefill']['tokens_per_second']:10.0f} tok/s, decode "
              f"{row['decode']['tokens_per_second']:8.0f} tok/s, loss {row['loss']:.4f}", flush=True)
    return rows


def _cpu_only(model, heldout, shape, runs: int, new: int) -> dict:
    """Speed at 1, 2 and all threads, and the int8 model: {"threads": [...], "int8": {...}}."""
    from ..metrics import heldout_loss
    saved, threads = torch.get_num_threads(), []
    for n in sorted({1, 2, os.cpu_count() or 1}):
        torch.set_num_threads(n)
        threads.append({"threads": n, "prefill_tokens_per_second": benchmark_model(model, input_shape=shape, num_runs=runs)["tokens_per_second"],
                        "decode_tokens_per_second": benchmark_decode(model, new_tokens=new, num_runs=2)["tokens_per_second"]})
    torch.set_num_threads(saved)
    q_model = quantize_int8(model)
    return {"threads": threads,
            "int8": {"weights_mb": model_memory(q_model) / 2**20, "loss": heldout_loss(q_model, heldout),
                     "decode": benchmark_decode(q_model, new_tokens=new, num_runs=2)}}


def _compile_speed(model, dtype_name: str, shape, runs: int, device) -> dict:
    """Prefill eager vs ``torch.compile``d, and how long the first compiled call took."""
    m = copy.deepcopy(model).to(validate.DTYPES[dtype_name])
    eager = benchmark_model(m, input_shape=shape, num_runs=runs)
    compiled = torch.compile(m)
    t0 = time.perf_counter()
    with torch.inference_mode():
        compiled(torch.zeros(shape, dtype=torch.long, device=device))
    synchronize(device)
    return {"dtype": dtype_name, "compile_s": time.perf_counter() - t0, "eager": eager,
            "compiled": benchmark_model(compiled, input_shape=shape, num_runs=runs)}


def _bandwidth_and_roofline(model, device, new: int, quick: bool) -> dict:
    """The read and copy roofs, the bytes/s a batch-1 decode step achieves, and its roofline point."""
    bandwidth = {"threads": torch.get_num_threads(), "read_gb_s": read_bandwidth(device=device, nbytes=(16 << 20) if quick else None),
                 "copy_gb_s": copy_bandwidth(device=device, nbytes=(16 if quick else 256) * 2**20)}
    d = benchmark_decode(model, new_tokens=new, num_runs=2)
    step_bytes = decode_bytes_per_step(model, 1, 16 + new // 2)["total"]
    bandwidth.update(decode_tokens_per_second=d["tokens_per_second"], bytes_per_step=step_bytes,
                     achieved_gb_s=step_bytes * d["tokens_per_second"] / 1e9)
    bandwidth["read_roof_fraction"] = fraction_of_roof(bandwidth["achieved_gb_s"], bandwidth["read_gb_s"])  # None: above the roof
    roofs = roofline_roofs(device, quick=quick)
    flops = decode_flops_per_step(model, 1, 16 + new // 2)["total"]
    return {"bandwidth": bandwidth,
            "roofline": {"roofs": roofs, "decode_batch_1": place_on_roofline(flops, step_bytes, 1 / d["tokens_per_second"], roofs)}}


def main(argv: list[str]) -> int:
    from ..checkpoint import load_model
    from ..metrics import load_eval_set
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.benchmark perf",
                           description="Chapter 04's measurements (precision, batching, threads, "
                                       "torch.compile, CUDA graphs, bandwidth) on one device.")
    p.add_argument("--out", required=True, help="JSON file to write")
    p.add_argument("--device", default="cpu", help="cpu or cuda (default cpu)")
    p.add_argument("--quick", action="store_true", help="tiny sweeps (for tests)")
    p.add_argument("--no-compile", action="store_true", help="skip the torch.compile measurement")
    args = p.parse_args(argv)
    device = validate.device("--device", args.device)          # 'cuda' without a GPU: one clear line
    validate.output_file("--out", args.out)
    q = args.quick
    runs, shape, new = (2, (2, 64), 8) if q else (10, (4, 512), 128)
    model, tokenizer = load_model(device=device)
    texts = load_eval_set()
    heldout = tokenizer.encode("\n\n".join(t["prompt"] + t["reference"] for t in texts), return_tensors="pt")
    heldout = heldout[:, :(128 if q else 4096)]
    res = {"checkpoint_sha256": checkpoint_sha256(), "settings": {"prefill_shape": list(shape), "decode_prompt_len": 16,
                                                                  "decode_new_tokens": new, "num_runs": runs}}
    print(f"perf on {device}, torch {torch.__version__}", flush=True)

    res["precision"] = _precision(model, heldout, shape, runs, new)
    work_dtypes = ["float32"] + (["bfloat16"] if device.type == "cuda" else [])

    res["kv_cache"] = {k: benchmark_decode(model, new_tokens=new, num_runs=2, use_cache=c)
                       for k, c in (("cached", True), ("uncached", False))}
    prompts = [t["prompt"] for t in texts][:(4 if q else BATCHING["prompts"])]
    res["batching"] = {"float32": batching_sweep(model, tokenizer, prompts, [1, 4] if q else BATCHING["batch_sizes"],
                                                 new_tokens=4 if q else BATCHING["new_tokens"],
                                                 rounds=2 if q else BATCHING["rounds"])}
    if device.type == "cuda":            # a timer without synchronisation measures only the launches
        res["sync"] = sync_trap(model, shape, runs, device)
        res["cuda_graph"] = [cuda_graph_step_ms(copy.deepcopy(model).to(validate.DTYPES[name]), context_len=128)
                             | {"dtype": name} for name in work_dtypes]
    else:
        res.update(_cpu_only(model, heldout, shape, runs, new))
    if not args.no_compile:
        res["compile"] = _compile_speed(model, work_dtypes[-1], shape, runs, device)
    res.update(_bandwidth_and_roofline(model, device, new, q))
    write_results(args.out, make_results("perf", res, device=device, command=command_line(["perf", *argv]), repeats=runs))
    print(f"wrote {args.out}")
    return 0
