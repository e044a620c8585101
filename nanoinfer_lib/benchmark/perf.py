"""``perf``: chapter 04's measurements on one device (precision, the KV cache, batching, threads,
CUDA graphs, torch.compile, bandwidth), written to a results file; the GPU reference of chapter 04.

    python -m nanoinfer_lib.benchmark perf --device cuda --out perf_gpu.json
"""
from __future__ import annotations

import os
import statistics
import time

import torch

from .. import cli, validate
from ..cuda_graphs import cuda_graph_step_ms
from ..quantize import quantize_int8
from .hardware import copy_bandwidth, model_memory, read_bandwidth
from .results import PERF_GPU_FILE, checkpoint_sha256, command_line, make_results, read_results, write_results
from .speed import benchmark_decode, benchmark_model, decode_bytes_per_step
from .timing import synchronize, time_fn, time_fn_unsynced


def load_perf(path=PERF_GPU_FILE) -> dict | None:
    """A perf results file's measurements (its ``data``, with ``info`` = where it ran), or None."""
    res = read_results(path)
    if res is None:
        return None
    return dict(res["data"], info=res["hardware"], date=res["date"], command=res["command"],
                library_commit=res["library_commit"], legacy=res.get("legacy", False))


def main(argv: list[str]) -> int:
    from ..checkpoint import load_model
    from ..generation import generate_batch
    from ..metrics import heldout_loss, load_eval_set
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

    res["precision"] = {}
    for name, dt in validate.DTYPES.items():
        m = model.to(dt)
        row = {"weights_mb": model_memory(m) / 2**20, "loss": heldout_loss(m, heldout),
               "prefill": benchmark_model(m, input_shape=shape, num_runs=runs),
               "decode": benchmark_decode(m, batch_size=1, prompt_len=16, new_tokens=new, num_runs=max(2, runs // 3))}
        res["precision"][name] = row
        print(f"  {name:9s} prefill {row['prefill']['tokens_per_second']:10.0f} tok/s, decode "
              f"{row['decode']['tokens_per_second']:8.0f} tok/s, loss {row['loss']:.4f}", flush=True)
    model = model.to(torch.float32)
    work_dtypes = ["float32"] + (["bfloat16"] if device.type == "cuda" else [])

    res["kv_cache"] = {k: benchmark_decode(model, new_tokens=new, num_runs=2, use_cache=c)
                       for k, c in (("cached", True), ("uncached", False))}
    prompts = [t["prompt"] for t in texts][:(4 if q else 64)]
    res["batching"] = {}
    for name in work_dtypes[:1]:
        m, rows = model.to(validate.DTYPES[name]), []
        for bs in ([1, 4] if q else [1, 2, 4, 8, 16, 32, 64]):
            n = min(len(prompts), max(bs, 4 if q else 16))
            generate_batch(m, prompts[:bs], tokenizer, max_new_tokens=4, batch_size=bs, temperature=0)  # warm-up
            synchronize(device)
            t0 = time.perf_counter()
            generate_batch(m, prompts[:n], tokenizer, max_new_tokens=new // 2, batch_size=bs, temperature=0)
            synchronize(device)
            dt_s = time.perf_counter() - t0
            rows.append({"batch_size": bs, "prompts": n, "tokens_per_second": n * (new // 2) / dt_s,
                         "latency_ms_per_batch": dt_s / -(-n // bs) * 1e3})
        res["batching"][name] = rows
    model = model.to(torch.float32)

    if device.type == "cuda":            # a timer without synchronisation measures only the launches
        ids = torch.zeros(shape, dtype=torch.long, device=device)
        with torch.inference_mode():
            res["sync"] = {"without_sync_ms": statistics.median(time_fn_unsynced(lambda: model(ids), runs)) * 1e3,
                           "with_sync_ms": statistics.median(time_fn(lambda: model(ids), runs, 2, device)) * 1e3}
        res["cuda_graph"] = [cuda_graph_step_ms(model.to(validate.DTYPES[name]), context_len=128) | {"dtype": name}
                             for name in work_dtypes]
        model = model.to(torch.float32)
    else:
        saved, res["threads"] = torch.get_num_threads(), []
        for n in sorted({1, 2, os.cpu_count() or 1}):
            torch.set_num_threads(n)
            res["threads"].append({"threads": n, "prefill_tokens_per_second": benchmark_model(model, input_shape=shape, num_runs=runs)["tokens_per_second"],
                                   "decode_tokens_per_second": benchmark_decode(model, new_tokens=new, num_runs=2)["tokens_per_second"]})
        torch.set_num_threads(saved)
        q_model = quantize_int8(model)
        res["int8"] = {"weights_mb": model_memory(q_model) / 2**20, "loss": heldout_loss(q_model, heldout),
                       "decode": benchmark_decode(q_model, new_tokens=new, num_runs=2)}

    if not args.no_compile:
        m = model.to(validate.DTYPES[work_dtypes[-1]])
        eager = benchmark_model(m, input_shape=shape, num_runs=runs)
        compiled = torch.compile(m)
        t0 = time.perf_counter()
        with torch.inference_mode():
            compiled(torch.zeros(shape, dtype=torch.long, device=device))
        synchronize(device)
        res["compile"] = {"dtype": work_dtypes[-1], "compile_s": time.perf_counter() - t0, "eager": eager,
                          "compiled": benchmark_model(compiled, input_shape=shape, num_runs=runs)}
        model = model.to(torch.float32)

    res["bandwidth"] = {"read_gb_s": read_bandwidth(device=device, nbytes=(16 << 20) if q else None),
                        "copy_gb_s": copy_bandwidth(device=device, nbytes=(16 if q else 256) * 2**20)}
    d = benchmark_decode(model, new_tokens=new, num_runs=2)
    step_bytes = decode_bytes_per_step(model, 1, 16 + new // 2)["total"]
    res["bandwidth"].update(decode_tokens_per_second=d["tokens_per_second"], bytes_per_step=step_bytes,
                            achieved_gb_s=step_bytes * d["tokens_per_second"] / 1e9)
    write_results(args.out, make_results("perf", res, device=device, command=command_line(["perf", *argv]), repeats=runs))
    print(f"wrote {args.out}")
    return 0
