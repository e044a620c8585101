"""torch.compile of chapter 08's int4 decode step, beside the eager int4 step and float32's.

An eager ``Int4Linear`` unpacks its whole weight to a float copy at every step, writes it and reads
it back (``memory.int4_reasons`` measures that share of a step). ``torch.compile`` of the decode
step hands inductor the unpacking and the matmul together, so it may unpack in registers instead.
Whether it does, and whether a compiled int4 step then beats float32, is measured, not assumed:

- compile time: ``torch.compile`` and the first call (where it compiles), timed once, apart from
  the timed calls, with torch's compile caches off (what a first compile costs), and the number of
  graphs it made (a break in the step makes more than one).
- agreement: the compiled step's logits against the eager int4 step's (largest difference).
- speed: the compiled step against the eager int4 step and against float32's eager step, each in
  ABBA rounds (``compare``), tokens/s with intervals, each ratio with its interval and verdict.

Where torch.compile is missing or fails (no C++ compiler, an inductor error), the row records the
reason instead of the numbers (``not_measured``) and the run goes on.

(A module of its own: memory.py holds the tables every format shares, measured the same way; this
one compiles one format, with what compiling needs: a fallback when it cannot, and its own timing.)
"""
from __future__ import annotations

import contextlib
import copy
import re
import time

import torch

from .memory import speed_row, weight_format
from .speculative import forward_fn
from .speed import decode_flops_per_step
from .timing import compare

COMPILED = "int4 g32"          # the format compiled: the int4 layout of the speed table


def compile_step(model, position: int, first_compile: bool = True):
    """The decode step at ``position`` (a ``forward_fn``) of a copy of ``model`` compiled in place
    with ``torch.compile`` after its cache was prefilled eagerly, so only the step is compiled;
    called once here to compile it, with torch's compile caches off when ``first_compile`` (the time
    of a first compile, not of a cache hit). Returns (step, seconds to compile and run that first
    call, graphs made)."""
    from torch._dynamo.utils import counters
    if not hasattr(torch, "compile"):
        raise RuntimeError(f"torch.compile is not in torch {torch.__version__}")
    compiled = copy.deepcopy(model)
    step = forward_fn(compiled, 1, position)                    # the prefill runs eagerly
    graphs, t0 = counters["stats"]["unique_graphs"], time.perf_counter()
    compiled.compile()                                          # nn.Module.compile: torch.compile in place
    with _caches_off() if first_compile else contextlib.nullcontext():
        step()                                                  # compiles here, untimed by compare
    return step, time.perf_counter() - t0, counters["stats"]["unique_graphs"] - graphs


def _caches_off():
    """torch's compile caches (on disk and in memory) off, where this torch can turn them off."""
    config = getattr(torch.compiler, "config", None)
    if config is None or not hasattr(config, "force_disable_caches"):
        return contextlib.nullcontext()
    return config.patch(force_disable_caches=True)


def reason(error: BaseException) -> str:
    """One line for the results file: the error's type and first line, without local paths."""
    first = (str(error).strip().splitlines() or [""])[0]
    first = re.sub(r"(?:/[\w.@+-]+){2,}", "<path>", first)[:300]
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def not_measured(label: str, why: str) -> dict:
    """The row of a model whose compiled step was not measured, and why."""
    return {"model": label, "format": f"{COMPILED} compiled", "not_measured": why}


def compiled_speed(model, label: str, roofs: dict, position: int, rounds: int, min_sample_s: float,
                   log=print, first_compile: bool = True) -> dict:
    """The compiled COMPILED step of ``model`` against its eager step and float32's eager step (see
    the module's docstring); where compiling fails, ``not_measured`` with the reason.
    ``first_compile=False`` lets torch reuse its compile caches (quicker; for tests)."""
    q4 = weight_format(model, COMPILED)
    row = {"model": label, "format": f"{COMPILED} compiled"}
    eager = forward_fn(q4, 1, position)
    try:
        step, compile_s, graphs = compile_step(q4, position, first_compile)
        diff = (step() - eager()).abs().max().item()
        vs_eager = compare(eager, step, names=(COMPILED, row["format"]), rounds=rounds, min_sample_s=min_sample_s)
        vs_fp32 = compare(forward_fn(model, 1, position), step, names=("fp32", row["format"]), rounds=rounds,
                          min_sample_s=min_sample_s)
    except Exception as e:                                         # no C++ compiler, an inductor error, ...
        row = not_measured(label, f"torch.compile failed: {reason(e)}")
        log(compiled_lines([row])[0])
        return row
    flops = decode_flops_per_step(model, 1, position)["total"]
    row.update(speed_row(label, row["format"], q4, vs_fp32.median_b, vs_fp32.spread("b"), flops, roofs, position))
    row.update(compile_s=compile_s, first_compile=first_compile, graphs=graphs, max_abs_diff_vs_eager=diff,
               speedup=vs_fp32.ratio, interval=list(vs_fp32.interval), noise=list(vs_fp32.noise),
               verdict=vs_fp32.verdict(1.0), times_fp32_s=vs_fp32.a, times_s=vs_fp32.b,
               vs_eager={"speedup": vs_eager.ratio, "interval": list(vs_eager.interval), "noise": list(vs_eager.noise),
                         "verdict": vs_eager.verdict(1.0), "eager_tokens_per_s": 1 / vs_eager.median_a,
                         "times_eager_s": vs_eager.a, "times_s": vs_eager.b})
    log(compiled_lines([row])[0])
    return row


def compiled_lines(rows: list[dict]) -> list[str]:
    """One sentence per row of ``compiled_speed``: what compiling cost and what it changed."""
    out = []
    for r in rows:
        if "not_measured" in r:
            out.append(f"{r['model']}: {r['format']} not measured: {r['not_measured']}")
            continue
        e = r["vs_eager"]
        out.append(f"{r['model']}: compiling the {COMPILED} step took {r['compile_s']:.1f} s ({r['graphs']} graphs); "
                   f"compiled it runs {r['tokens_per_s']:.0f} tokens/s [{r['tokens_per_s_interval'][0]:.0f}-"
                   f"{r['tokens_per_s_interval'][1]:.0f}], {e['speedup']:.2f}x the eager {COMPILED} step "
                   f"[{e['interval'][0]:.2f}-{e['interval'][1]:.2f}] (faster: {e['verdict']}) and {r['speedup']:.2f}x "
                   f"fp32 [{r['interval'][0]:.2f}-{r['interval'][1]:.2f}] (faster than fp32: {r['verdict']}); "
                   f"logits within {r['max_abs_diff_vs_eager']:.1e} of the eager step's")
    return out


def compiled_claims(rows: list[dict]) -> list[dict]:
    """The two verdicts of each measured row, as ``memory.claims`` lists them."""
    out = []
    for r in rows:
        if "not_measured" in r:
            continue
        e = r["vs_eager"]
        out += [{"claim": f"{r['format']} decodes faster than eager {COMPILED} ({r['model']})", "value": e["speedup"],
                 "interval": e["interval"], "verdict": e["verdict"]},
                {"claim": f"{r['format']} decodes faster than fp32 ({r['model']})", "value": r["speedup"],
                 "interval": r["interval"], "verdict": r["verdict"]}]
    return out
