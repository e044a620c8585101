"""``claims``: the original tutorial's performance claims, each measured on this machine or read from
a results file measured on named hardware, with an interval and a verdict decided by code. The rows,
their verdict rules and the printed table live in ``claims_table``; here, what each claim measures.
(Over 300 lines: each claim is one method of ``ClaimRunner``, which chapter 04 calls claim by claim.)

    python -m nanoinfer_lib.benchmark claims --out claims.json [--quick] [--no-compile]

Chapter 04 builds the same table: it asks ``ClaimRunner.measure`` for each claim in the section that
teaches it, and ``ClaimRunner.run`` at the end measures the rest, in the same order as this command.
"""
from __future__ import annotations

import copy
import os
import time

import numpy as np
import torch

from .. import validate
from ..generation import generate
from ..kernels import use_fast_decode
from ..model import check_model
from ..quantize import quantize_int8
from ..static_decode import static_greedy
from . import command
from .claims_table import (FLOOR, MIN_RANGE_RUNS, NOISE, REFERENCE, Claim, exact_row, file_ratio,  # noqa: F401
                           file_sources, format_table, live_row, noise_row, reference_label, reference_row)
from .hardware import OtherLoad, describe, device_info, model_memory, native_16bit
from .kv_sweep import decode_step_fn, generation_peak_memory, load_kv_sweep
from .perf import load_perf
from .results import VS_HF_CPU_FILE, command_line, make_results, read_results, write_results
from .speed import cuda_graph_step_ms, random_prompt
from .timing import FAILS, HOLDS, INCONCLUSIVE, compare, paired_ratio_interval, ratio_interval

ROUNDS = 6                     # ABBA rounds per live row (t interval with 5 degrees of freedom)
BUSY = 0.15                    # threads: other programs above this share of the CPUs leave it undecided
KV_NEW_TOKENS = 100            # the tutorial's own example generates max_new_tokens=100
PROMPT_LEN, PREFILL_SHAPE, DECODE_TOKENS, BATCH, POSITION = 16, (1, 128), 32, 8, 64


class ClaimRunner:
    """Measures the claims one by one (``measure(key)``, cached) or all (``run()``).

    model: the bundled model in float32 on the CPU (loaded when None). With a CUDA device the GPU
    rows are measured live; otherwise they come from ``perf_gpu.json`` and ``kv_sweep_gpu.json``.
    quick: two rounds and tiny workloads (for tests). compile: measure ``torch.compile`` (slow once)."""

    def __init__(self, model=None, quick: bool = False, compile: bool = True, gpu: bool | None = None,
                 log=None):
        if model is None:
            from ..checkpoint import load_model
            model = load_model()[0]
        self.model = check_model("model", model)
        self.quick, self.compile = validate.flag("quick", quick), validate.flag("compile", compile)
        self.gpu = torch.cuda.is_available() if gpu is None else validate.flag("gpu", gpu)
        self.rounds = 2 if quick else ROUNDS
        self.log = log or (lambda s: None)
        self.info = device_info("cpu")
        self.sources = {"this CPU": describe(self.info) + " (measured now)"}
        if self.gpu:
            self.sources["this GPU"] = describe(device_info("cuda")) + " (measured now)"
        self.perf_ref = None if self.gpu else load_perf()
        self.kv_ref = None if self.gpu else load_kv_sweep()
        self.vs_hf = read_results(VS_HF_CPU_FILE)
        self.sources.update(file_sources(self.perf_ref, self.kv_ref, self.vs_hf))
        self._done: dict[str, list[Claim]] = {}
        self.sizes = dict(new=8, decode=4, prefill=(1, 8), position=8) if quick else \
            dict(new=KV_NEW_TOKENS, decode=DECODE_TOKENS, prefill=PREFILL_SHAPE, position=POSITION)

    # ------------------------------------------------------------------ running
    def measure(self, key: str) -> list[Claim]:
        """The rows of one claim (measured once, then remembered)."""
        validate.choice("key", key, CLAIMS)
        if key not in self._done:
            t0 = time.perf_counter()
            self._done[key] = getattr(self, key)()
            self.log(f"  {key}: {time.perf_counter() - t0:.1f} s")
        return self._done[key]

    def run(self) -> list[Claim]:
        """Every claim's rows, in the table's order (already measured ones are not measured again)."""
        return [row for key in CLAIMS for row in self.measure(key)]

    def _cmp(self, a, b, names, **kw):
        return compare(a, b, names=names, rounds=self.rounds, min_sample_s=0.0 if self.quick else 0.05, **kw)

    def _ids(self, model, batch=1, length=None):
        return random_prompt(model.config.vocab_size, batch, length or min(PROMPT_LEN, model.config.block_size // 2),
                             0, model.device)

    def _gen(self, model, use_cache=True, new=None, batch=1):
        ids = self._ids(model, batch)
        n = min(new or self.sizes["new"], model.config.block_size - ids.shape[1])
        return lambda: generate(model, ids, max_new_tokens=n, temperature=0, use_cache=use_cache)

    def _prefill(self, model, shape=None):
        ids = random_prompt(model.config.vocab_size, *(shape or self.sizes["prefill"]), 0, model.device)

        def run():
            with torch.inference_mode():
                model(ids, last_only=True)
        return run

    # ------------------------------------------------------------------ the claims
    def noise(self) -> list[Claim]:
        step = decode_step_fn(self.model, 1, min(self.sizes["position"], self.model.config.block_size - 1))
        return [noise_row("A/A: one decode step timed against itself", self._cmp(step, step, ("step", "same step")),
                          "this CPU")]

    def kv_speed(self) -> list[Claim]:
        c = self._cmp(self._gen(self.model, False), self._gen(self.model, True), ("uncached", "cached"))
        rows = [live_row(f"KV cache 2-4x faster: >= 2x ({self.sizes['new']} new tokens, batch 1)", c, "this CPU", 2,
                         top=4)]
        run = next((r for r in (self.kv_ref or {"runs": []})["runs"] if r["model"] == "bundled"), None)
        if run is not None:
            by = {(r["mode"], r["new_tokens"]): r for r in run["records"]}
            n = min({n for _, n in by}, key=lambda n: abs(n - KV_NEW_TOKENS))
            un, ca = by[("uncached", n)], by[("cached", n)]
            if un.get("times") and ca.get("times"):
                v, iv = paired_ratio_interval(un["times"], ca["times"])
                how = f"{len(un['times'])} paired rounds"
            else:
                v, iv, how = un["seconds"] / ca["seconds"], None, ""
            rows.append(reference_row(f"KV cache 2-4x faster: >= 2x ({n} new tokens, batch 1)", v, "GPU kv file", 2,
                                      interval=iv, how=how, top=4))
        return rows

    def kv_memory(self) -> list[Claim]:
        m = generation_peak_memory(self.model, self.sizes["new"] if not self.quick else 4,
                                   min(PROMPT_LEN, self.model.config.block_size // 2))
        growth = m["cached"]["peak_bytes"] / m["uncached"]["peak_bytes"]
        claim = "KV cache: ~+50% memory (read: peak x1.4-1.6)"
        rows = [exact_row(claim, growth, "this CPU", 1.4, 1.6,
                          f"x{growth:.3f} peak ({m['cached']['peak_bytes'] / 2**20:.1f} vs "
                          f"{m['uncached']['peak_bytes'] / 2**20:.1f} MiB, batch 1, {self.sizes['new']} tokens)")]
        rows[0].detail["memory"] = m
        for run in (self.kv_ref or {"runs": []})["runs"]:
            rec = run["records"]
            if run["model"] == "gpt2-random" and rec[0]["batch_size"] > 1:
                n = max(r["new_tokens"] for r in rec)
                peak = {r["mode"]: r["peak_memory_bytes"] for r in rec if r["new_tokens"] == n}
                g = peak["cached"] / peak["uncached"]
                rows.append(exact_row(claim, g, "GPU kv file", 1.4, 1.6,
                                      f"x{g:.3f} peak (GPT-2 124M, batch {rec[0]['batch_size']}, {n} tokens)"))
        return rows

    def fp16_memory(self) -> list[Claim]:
        r = model_memory(copy.deepcopy(self.model).half()) / model_memory(self.model)
        return [exact_row("FP16 halves weight memory", r, "this CPU", 0.49, 0.51, f"x{r:.3f} bytes of weights")]

    def fp16_gpu(self) -> list[Claim]:
        claim = "FP16 1.5-2x faster on a GPU: >= 1.5x ({})"
        if self.gpu:
            m32 = copy.deepcopy(self.model).to("cuda")
            m16 = copy.deepcopy(m32).half()
            prefill = self._cmp(self._prefill(m32, (4, 512)), self._prefill(m16, (4, 512)), ("fp32", "fp16"),
                                device="cuda")
            decode = self._cmp(self._gen(m32), self._gen(m16), ("fp32", "fp16"), device="cuda")
            return [live_row(claim.format("prefill 4x512"), prefill, "this GPU", 1.5, top=2),
                    live_row(claim.format("decode, batch 1"), decode, "this GPU", 1.5, top=2)]
        if self.perf_ref is None:
            return []
        p = self.perf_ref["precision"]
        rows = []
        for phase in ("prefill", "decode"):
            v, iv, how = file_ratio(p["float32"][phase], p["float16"][phase])
            rows.append(reference_row(claim.format(phase + (" 4x512" if phase == "prefill" else ", batch 1")), v,
                                      "GPU file", 1.5, None, iv, how, top=2))
        return rows

    def fp32_cpu(self) -> list[Claim]:
        m16 = copy.deepcopy(self.model).half()
        native = native_16bit(self.info["cpu_features"])["float16"]
        rows = []
        for phase, a, b in (("prefill", self._prefill(m16), self._prefill(self.model)),
                            ("decode", self._gen(m16, new=self.sizes["decode"]), self._gen(self.model, new=self.sizes["decode"]))):
            shape = "x".join(map(str, self.sizes["prefill"])) if phase == "prefill" else f"{self.sizes['decode']} tokens"
            row = live_row(f"FP32 faster than FP16 on a CPU ({phase} {shape})", self._cmp(a, b, ("fp16", "fp32")),
                           "this CPU", 1.0, what="fp16 time / fp32 time")
            row.detail["native_fp16"] = native
            rows.append(row)
        return rows

    def bf16_range(self) -> list[Claim]:
        x = torch.tensor(70000.0)
        ok = bool(torch.isinf(x.half()) and torch.isfinite(x.bfloat16()))
        text = (f"70000 -> {x.half().item():g} in fp16, {x.bfloat16().item():g} in bf16; largest "
                f"{torch.finfo(torch.float16).max:g} vs {torch.finfo(torch.bfloat16).max:.2g}")
        return [Claim("BF16: better numerical stability (range)", text, HOLDS if ok else FAILS, "this CPU")]

    def compile_speed(self) -> list[Claim]:
        rows = []
        if self.compile:
            rows.append(self._compiled_decode())
        if self.perf_ref is not None and "compile" in self.perf_ref:
            c = self.perf_ref["compile"]
            v, iv, how = file_ratio(c["eager"], c["compiled"])
            rows.append(reference_row(f"torch.compile speeds up ({c['dtype']} prefill 4x512)", v, "GPU file", 1.0,
                                      interval=iv, how=how))
        return rows

    def _compiled_decode(self) -> Claim:
        """``generate`` (eager) against the library's compiled decode (``static_decode.compiled_greedy``:
        each step compiled on a static cache), same prompt and tokens; compiled once, untimed."""
        from torch._dynamo.utils import counters
        ids, n = self._ids(self.model, 1, PROMPT_LEN if not self.quick else 4), self.sizes["decode"]
        fast = use_fast_decode(copy.deepcopy(self.model))              # what compiled_greedy does, on a copy
        claim = f"torch.compile speeds up decode (static cache, {n} tokens)"
        graphs, t0 = counters["stats"]["unique_graphs"], time.perf_counter()
        try:
            out = static_greedy(fast, ids, n, mode="compile")                 # compiles (once per process)
        except Exception as e:                                              # e.g. no C++ compiler
            return Claim(claim, f"could not compile: {type(e).__name__}", INCONCLUSIVE, "this CPU")
        compile_s = time.perf_counter() - t0
        c = self._cmp(lambda: generate(self.model, ids, max_new_tokens=n, temperature=0),
                      lambda: static_greedy(fast, ids, n, mode="compile"), ("generate", "compiled"))
        row = live_row(claim, c, "this CPU", 1.0, what="generate time / compiled time")
        row.detail.update(compile_s=compile_s, new_graphs=counters["stats"]["unique_graphs"] - graphs,
                          same_tokens=bool(torch.equal(out, generate(self.model, ids, max_new_tokens=n, temperature=0))))
        return row

    def batching(self) -> list[Claim]:
        claim = f"batching 3-5x throughput: >= 3x (B={BATCH} vs B=1, {{}})"
        pos = min(self.sizes["position"], self.model.config.block_size - 1)
        c = self._cmp(decode_step_fn(self.model, 1, pos), decode_step_fn(self.model, BATCH, pos), ("batch 1", f"batch {BATCH}"))
        rows = [live_row(claim.format("decode steps"), c, "this CPU", 3, scale=BATCH, top=5)]
        if self.vs_hf is not None:
            run = self.vs_hf["data"]["runs"][0]
            case = {(k["batch_size"], k["new_tokens"]): np.array(k["seconds"]["library"]) for k in run["cases"]}
            n = min(n for b, n in case if b == 1)
            t1, t8 = case.get((1, n)), case.get((BATCH, n))
            if t1 is not None and t8 is not None:
                g = BATCH * np.exp(np.log(t1).mean() - np.log(t8).mean())
                iv = tuple(BATCH * v for v in ratio_interval(t1, t8))
                rows.append(reference_row(claim.format(f"generate {n} tokens"), g, "GPT-2 CPU file", 3, None, iv,
                                          f"{len(t1)} runs each, t interval", top=5))
        if self.perf_ref is not None:
            by = {r["batch_size"]: r for r in self.perf_ref["batching"]["float32"]}
            if 1 in by and BATCH in by:
                t1, t8 = by[1].get("times_s", {}).get("whole"), by[BATCH].get("times_s", {}).get("whole")
                iv = tuple(BATCH * v for v in ratio_interval(t1, t8)) if t1 and t8 and len(t1) > 1 else None
                rows.append(reference_row(claim.format(f"generate_batch, {by[1]['prompts']} prompts"),
                                          by[BATCH]["tokens_per_second"] / by[1]["tokens_per_second"], "GPU file", 3,
                                          interval=iv, how=f"{len(t1)} rounds, t interval" if iv else "", top=5))
        return rows

    def threads(self) -> list[Claim]:
        n = os.cpu_count() or 1
        if n < 2:
            return [Claim("more threads (up to the cores) are faster", "one core: nothing to compare", INCONCLUSIVE,
                          "this CPU")]
        shape = (4, self.sizes["prefill"][1])
        rows = []
        for what, fn in ((f"prefill {shape[0]}x{shape[1]}", self._prefill(self.model, shape)),
                         ("decode step", decode_step_fn(self.model, 1, min(self.sizes["position"], 8 if self.quick else 64)))):
            with OtherLoad() as load:
                c = self._cmp(fn, fn, ("1 thread", f"{n} threads"), threads=(1, n))
            row = live_row(f"set threads to the cores: {n} faster than 1 ({what})", c, "this CPU", 1.0)
            row.detail["other_load"] = load.fraction
            if load.fraction is not None and load.fraction > BUSY:      # the cores were not free to test it
                row.verdict = INCONCLUSIVE
                row.measured += f", {load.fraction:.0%} of the CPUs busy with other programs"
            rows.append(row)
        return rows

    def cuda_graphs(self) -> list[Claim]:
        claim = "CUDA graphs cut launch overhead (decode step, batch 1)"
        if self.gpu:
            r = cuda_graph_step_ms(copy.deepcopy(self.model).to("cuda"), context_len=128)
            return [reference_row(claim, r["eager_ms"] / r["graph_ms"], "this GPU", 1.0,
                                  how="medians of 50 runs each, no interval")]
        if self.perf_ref is None or "cuda_graph" not in self.perf_ref:
            return []
        r = next(g for g in self.perf_ref["cuda_graph"] if g["dtype"] == "float32")
        return [reference_row(claim, r["eager_ms"] / r["graph_ms"], "GPU file", 1.0)]

    def int8_memory(self) -> list[Claim]:
        r = model_memory(quantize_int8(self.model)) / model_memory(self.model)
        return [exact_row("int8 quantization saves memory", r, "this CPU", None, 0.99,
                          f"x{r:.3f} bytes of weights (embeddings stay fp32)")]


# the table's rows, in order: ClaimRunner methods
CLAIMS = ("noise", "kv_speed", "kv_memory", "fp16_memory", "fp16_gpu", "fp32_cpu", "bf16_range", "compile_speed",
          "batching", "threads", "cuda_graphs", "int8_memory")


def main(argv: list[str]) -> int:
    p = command.parser("claims", "The tutorial's performance claims, measured here, with verdicts.")
    p.add_argument("--quick", action="store_true", help="two rounds, tiny workloads (a smoke test)")
    p.add_argument("--no-compile", action="store_true", help="leave out torch.compile (it compiles for seconds)")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    runner = ClaimRunner(quick=args.quick, compile=not args.no_compile, log=print)
    rows = runner.run()
    print(format_table(rows, runner.sources))
    seconds = round(time.perf_counter() - t0, 1)
    data = {"rows": [r.as_dict() for r in rows], "sources": runner.sources, "seconds": seconds}
    write_results(args.out, make_results("claims", data, command=command_line(["claims", *argv]),
                                         repeats=runner.rounds))
    print(f"wrote {args.out} ({seconds} s)")
    return 0
