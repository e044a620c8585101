"""The library vs ``transformers``: greedy decoding of the same random GPT-2-shaped weights in one
process, runs alternating, outputs compared token for token.

    python -m nanoinfer_lib.benchmark vs-hf [--threads N] [--plain-linear] [--eager] [--out FILE]
    python -m nanoinfer_lib.benchmark vs-hf --device cuda --dtype bfloat16 [--cuda-graphs]

Decode bandwidth (bytes a step must read / its time) is reported against the read roof measured
beside the run (``hardware.read_bandwidth``); a figure above the roof is a measurement error and is
reported as such, never as a result.
"""
from __future__ import annotations

import statistics
import tempfile
from typing import Callable

import numpy as np
import torch

from .. import cli, validate
from ..generation import generate
from ..kernels import use_fast_decode
from ..model import GPT2_SMALL, GPTConfig
from ..static_decode import compiled_greedy, graphed_greedy
from .hardware import copy_bandwidth, fraction_of_roof, read_bandwidth
from .results import command_line, make_results, write_results
from .speed import generation_bytes
from .stats import paired_ratio_interval
from .timing import time_fn

SHAPES = {"gpt2": GPT2_SMALL,                                                      # GPT-2 124M
          "tiny": GPTConfig(n_layer=2, n_head=2, n_embd=64, vocab_size=512, block_size=128)}   # for tests


def hf_twins(shape: str = "gpt2", dtype: torch.dtype = torch.float32, device: str = "cpu", seed: int = 0):
    """A randomly initialised ``transformers`` GPT2LMHeadModel and the library's GPT holding the same
    weights (saved by transformers, loaded with ``GPT.from_pretrained``), both in eval mode."""
    import transformers
    from transformers import GPT2Config, GPT2LMHeadModel
    from ..model import GPT
    s = SHAPES[shape]
    torch.manual_seed(seed)
    eot = s.vocab_size - 1                      # GPT-2's <|endoftext|> is its last token
    config = GPT2Config(n_layer=s.n_layer, n_head=s.n_head, n_embd=s.n_embd, vocab_size=s.vocab_size,
                        n_positions=s.block_size, bos_token_id=eot, eos_token_id=eot)
    transformers.utils.logging.disable_progress_bar()      # no loading bars in the output
    with tempfile.TemporaryDirectory() as tmp:
        GPT2LMHeadModel(config).save_pretrained(tmp)
        hf = GPT2LMHeadModel.from_pretrained(tmp, dtype=dtype, attn_implementation="sdpa")
        model = GPT.from_pretrained(tmp, dtype=dtype)
    return hf.to(device).eval(), model.to(device).eval()


def hf_greedy(hf, ids: torch.Tensor, max_new_tokens: int, cuda_graphs: bool = False) -> torch.Tensor:
    """transformers' greedy ``generate`` with its KV cache, never stopping early (no EOS). With
    ``cuda_graphs``: its static cache, with which transformers compiles the decode step."""
    from transformers import GenerationConfig
    config = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, use_cache=True,
                              eos_token_id=None, pad_token_id=0)
    if cuda_graphs:
        config.cache_implementation = "static"
    with torch.inference_mode():
        return hf.generate(ids, attention_mask=torch.ones_like(ids), generation_config=config)


def lib_greedy(model, ids: torch.Tensor, max_new_tokens: int, cuda_graphs: bool = False,
               compiled: bool = False) -> torch.Tensor:
    """The library's greedy ``generate`` (KV cache on); with ``cuda_graphs``, ``graphed_greedy``;
    with ``compiled``, ``static_decode.compiled_greedy`` (each decode step compiled on a static cache)."""
    if cuda_graphs:
        return graphed_greedy(model, ids, max_new_tokens)
    if compiled:
        return compiled_greedy(model, ids, max_new_tokens)
    return generate(model, ids, max_new_tokens=max_new_tokens, temperature=0.0)


def _time_pair(runners: dict[str, Callable], runs: int, warmup: int, device) -> tuple[dict, bool]:
    """Each runner timed by ``time_fn`` one call at a time, the runners alternating (so both see the
    same conditions); the first ``warmup`` rounds untimed. Every output is checked against the first."""
    reference, equal, times = None, True, {name: [] for name in runners}
    for i in range(warmup + runs):
        for name, run in runners.items():
            outs = []
            seconds = time_fn(lambda: outs.append(run()), num_runs=1, warmup=0, device=device)[0]
            if i >= warmup:
                times[name].append(seconds)
            out = outs[0]
            reference = out if reference is None else reference     # transformers' first output
            equal &= out.shape == reference.shape and bool(torch.equal(out, reference))
    return times, equal


def vs_hf(batch_sizes=(1, 8), new_tokens=(128, 512), prompt_len: int = 16, num_runs: int = 3,
          warmup: int = 1, shape: str = "gpt2", device: str = "cpu", dtype: torch.dtype = torch.float32,
          cuda_graphs: bool = False, fast_decode: bool = True, compile_batch_1: bool = True, seed: int = 0,
          log: Callable[[str], None] | None = print, on_case: Callable[[dict], None] | None = None) -> dict:
    """For each (batch size, new tokens) case: run each ``warmup + num_runs`` times, alternating
    (transformers, library, ...), time the last ``num_runs`` of each, and check every output against
    transformers' first one. Returns the cases (tokens/s, ratio library/transformers with a bootstrap
    interval over runs, bytes read per second against the read roof) and the roofs. With
    ``compile_batch_1`` (and ``fast_decode``, on a CPU) batch 1 decodes with ``compiled_greedy``,
    its compilation inside the warm-up runs (so ``warmup`` must be >= 1 to leave it untimed). ``on_case`` gets
    the result so far after each case (so a run cut short still leaves its numbers)."""
    import transformers
    log = log or (lambda s: None)
    hf, model = hf_twins(shape, dtype, device, seed)
    if fast_decode:
        use_fast_decode(model)
    log(f"model: {shape} ({model.num_params() / 1e6:.1f}M parameters), {validate.dtype_name(dtype)} on {device}, "
        f"{torch.get_num_threads()} thread(s), transformers {transformers.__version__}, fast decode {fast_decode}")
    roofs = {"read_GBps": read_bandwidth(device=device), "copy_GBps": copy_bandwidth(device=device)}
    log(f"read roof {roofs['read_GBps']:.1f} GB/s, copy {roofs['copy_GBps']:.1f} GB/s (measured now)")
    gen = torch.Generator().manual_seed(seed)
    settings = dict(model=shape, num_params=model.num_params(), dtype=validate.dtype_name(dtype),
                    cuda_graphs=cuda_graphs, fast_decode=fast_decode, compile_batch_1=compile_batch_1,
                    num_runs=num_runs, warmup=warmup,
                    transformers=transformers.__version__, roofs=roofs)
    cases = []
    for B in batch_sizes:
        ids = torch.randint(0, model.config.vocab_size, (B, prompt_len), generator=gen).to(device)
        compiled = compile_batch_1 and fast_decode and B == 1 and device == "cpu" and not cuda_graphs
        for N in new_tokens:
            times, equal = _time_pair({"transformers": lambda: hf_greedy(hf, ids, N, cuda_graphs),
                                       "library": lambda: lib_greedy(model, ids, N, cuda_graphs, compiled)},
                                      num_runs, warmup, device)
            tps = {name: B * N / statistics.median(t) for name, t in times.items()}
            th, tl = np.array(times["transformers"]), np.array(times["library"])
            interval = paired_ratio_interval(th, tl)[1]          # runs alternate: paired, t interval
            nbytes = generation_bytes(model, B, prompt_len, N)
            bw = {n: nbytes * v / (B * N) / 1e9 for n, v in tps.items()}
            case = dict(batch_size=B, prompt_len=prompt_len, new_tokens=N, outputs_equal=equal, tokens_per_s=tps,
                        library_path="compiled_greedy" if compiled else ("graphed_greedy" if cuda_graphs else "generate"),
                        seconds=times, ratio=tps["library"] / tps["transformers"], ratio_interval=interval,
                        bytes_read=nbytes, bandwidth_GBps=bw,
                        read_roof_fraction={n: fraction_of_roof(v, roofs["read_GBps"]) for n, v in bw.items()})
            cases.append(case)
            frac = case["read_roof_fraction"]["library"]
            log(f"B={B:<3d} new={N:<4d} transformers {tps['transformers']:9.1f} tok/s   library {tps['library']:9.1f}"
                f" tok/s   ratio {case['ratio']:.2f} [{interval[0]:.2f}-{interval[1]:.2f}]   library reads "
                f"{bw['library']:.1f} GB/s ("
                + (f"{frac:.0%} of the read roof" if frac is not None else "above the read roof: a measurement error")
                + f")   outputs equal: {equal}")
            if on_case is not None:
                on_case(_summary(settings, cases))
    result = _summary(settings, cases)
    log(f"smallest ratio library/transformers: {result['smallest_ratio']:.2f} (batch {result['smallest_case'][0]}, "
        f"{result['smallest_case'][1]} new tokens); outputs equal in every case: {result['outputs_equal']}")
    return result


def _summary(settings: dict, cases: list[dict]) -> dict:
    worst = min(cases, key=lambda c: c["ratio"])
    return dict(settings, cases=list(cases), smallest_ratio=worst["ratio"],
                smallest_case=(worst["batch_size"], worst["new_tokens"]),
                outputs_equal=all(c["outputs_equal"] for c in cases))


def main(argv: list[str]) -> int:
    p = cli.ArgumentParser(prog="python -m nanoinfer_lib.benchmark vs-hf",
                           description="Greedy decoding speed: the library vs transformers (same weights).")
    p.add_argument("--batch-sizes", type=int, nargs="+", default=[1, 8])
    p.add_argument("--new-tokens", type=int, nargs="+", default=[128, 512])
    p.add_argument("--prompt-len", type=int, default=16)
    p.add_argument("--runs", type=int, default=3, help="timed runs of each (after --warmup); median reported")
    p.add_argument("--warmup", type=int, default=1)
    p.add_argument("--model", choices=sorted(SHAPES), default="gpt2", help="shape of the random model")
    p.add_argument("--device", default="cpu")
    p.add_argument("--dtype", choices=sorted(validate.DTYPES), default="float32")
    p.add_argument("--cuda-graphs", action="store_true", help="decode with CUDA graphs (both libraries; GPU only)")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads for both (default: as set)")
    p.add_argument("--plain-linear", action="store_true",
                   help="plain nn.Linear in the library: leave out kernels.use_fast_decode (to measure what it brings)")
    p.add_argument("--eager", action="store_true",
                   help="batch 1 with generate, not static_decode.compiled_greedy (CPU; to measure what compiling brings)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=None, help="write the results as JSON to this file (after every case)")
    a = p.parse_args(argv)
    validate.device("--device", a.device)
    if a.out is not None:
        validate.output_file("--out", a.out)
    if a.cuda_graphs and not a.device.startswith("cuda"):
        p.error("--cuda-graphs needs --device cuda")
    if a.threads is not None:
        torch.set_num_threads(a.threads)
    command = command_line(["vs-hf", *argv])

    def save(result: dict, complete: bool) -> None:   # one file keeps a run per (dtype, CUDA graphs, threads)
        if a.out is None:
            return
        from .results import read_results
        old = read_results(a.out)
        key = lambda r: (r["dtype"], r["cuda_graphs"], r.get("threads"), r.get("fast_decode", True),
                         r.get("compile_batch_1", False))
        run = dict(result, threads=torch.get_num_threads(), command=command, complete=complete)
        runs = [r for r in (old["data"]["runs"] if old else []) if key(r) != key(run)] + [run]
        write_results(a.out, make_results("vs-hf", {"runs": runs}, device=a.device, command=command,
                                          repeats=a.runs, complete=complete, extra_versions=("transformers",)))

    result = vs_hf(a.batch_sizes, a.new_tokens, a.prompt_len, a.runs, a.warmup, a.model, a.device,
                   validate.DTYPES[a.dtype], a.cuda_graphs, not a.plain_linear, not a.eager, a.seed,
                   on_case=lambda r: save(r, complete=False))
    save(result, complete=True)
    return 0 if result["outputs_equal"] or a.dtype != "float32" else 1

