"""Chapter 08's measurements: what each weight and KV-cache format costs in quality, saves in bytes
and gains (or loses) in speed, and the tutorial's four answers to "out of memory?" (显存不足怎么办).

    python -m nanoinfer_lib.benchmark memory --out memory.json [--quick] [--no-compile]

- quality: perplexity and bits per byte of the held-out excerpts (prompt + reference) for each
  format, as a paired difference against float32 (nats per token) with a bootstrap interval over
  excerpts and a verdict on "within 1% of float32's perplexity"; greedy token agreement with float32
  over held-out prompts; the logit error on the GPT-2 shape (random weights). A quantized KV cache is
  filled by one prefill of the excerpt, so every complete group of positions is quantized.
- bytes: each format's weights counted tensor by tensor beside ``quantized_weight_bytes``, and each
  KV cache's tensors beside ``kv_cache_bytes`` (both must be equal, exactly).
- speed: one decode step per format against float32 in ABBA rounds (``compare``), tokens/s with
  intervals, the bytes a step reads, placed on the roof of the memory those bytes come from.
- compiled: the int4 g32 step compiled with ``torch.compile`` against the eager int4 step and
  float32's, its compile time apart (``memory_compile``; the reason instead where it cannot compile).
- the FAQ: ``memory.faq_memory``'s rows, each with a verdict on "it lowers the memory of the run".

(Over 300 lines: the four tables of one results file stay together, so a reader finds every format's
quality, bytes and speed measured the same way in one place; compiling one format, with its fallback
and compile time, lives in ``memory_compile``.)
"""
from __future__ import annotations

import argparse
import copy
import math
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import validate
from ..kv_cache import KVCache, kv_cache_bytes
from ..memory import cache_bytes, checkpointing_memory, faq_memory, model_bytes
from ..model import GPT, GPT2_SMALL
from ..quantize import Int4Linear, quantize, quantized_weight_bytes
from . import command
from .roofline import place_on_roofline, roofline_roofs
from .speculative import forward_fn
from .speed import decode_flops_per_step, random_prompt
from .stats import bootstrap_interval
from .timing import FAILS, compare, verdict

WEIGHTS = {"fp32": (None, None, torch.float32), "bf16": (None, None, torch.bfloat16),
           "fp16": (None, None, torch.float16), "int8": (8, None, torch.float32),
           "int4 g32": (4, 32, torch.float32), "int4 g64": (4, 64, torch.float32)}   # name -> bits, group, dtype
KV = {"kv int8": (8, 32), "kv int4 g32": (4, 32)}                                   # name -> kv_bits, group_size
PPL_BUDGET = math.log(1.01)      # "no measurable loss": perplexity within 1% of float32's (in nats per token)
FAQ_GAIN = 0.95                  # an answer "lowers the memory" when the run needs at most 95% of the baseline


def weight_format(model, name: str):
    """A copy of ``model`` in weight format ``name`` (one of WEIGHTS; "fp32" is the model itself)."""
    bits, group, dtype = WEIGHTS[validate.choice("format", name, list(WEIGHTS))]
    if bits is not None:
        return quantize(model, bits, group)
    return model if dtype == torch.float32 else copy.deepcopy(model).to(dtype)


def excerpt_nll(model, ids: torch.Tensor, kv: str | None = None) -> float:
    """Total NLL (nats) of the tokens of ``ids`` (1-D) after the first, in one forward pass; with ``kv``
    (one of KV) through a quantized cache filled by that pass."""
    cache = None
    if kv is not None:
        bits, group = KV[validate.choice("kv", kv, list(KV))]
        cache = KVCache(model.config, 1, ids.numel(), dtype=model.dtype, kv_bits=bits, group_size=group)
    with torch.inference_mode():
        logits = model(ids[None], kv_cache=cache)[0].float()                     # (T, V)
    return F.cross_entropy(logits[:-1], ids[1:], reduction="sum").item()


def greedy(model, ids: torch.Tensor, n: int, kv: str | None = None) -> list[int]:
    """``n`` greedy tokens after ``ids`` (1, T), through a KV cache (quantized with ``kv``)."""
    bits, group = KV[kv] if kv is not None else (None, 32)
    cache = KVCache(model.config, 1, ids.shape[1] + n, dtype=model.dtype, kv_bits=bits, group_size=group)
    out, new = [], ids
    with torch.inference_mode():
        for _ in range(n):
            new = model(new, kv_cache=cache, last_only=True)[:, -1].argmax(-1, keepdim=True)   # (1, 1)
            out.append(new.item())
    return out


def paired(base: np.ndarray, other: np.ndarray, tokens: np.ndarray, nbytes: np.ndarray) -> dict:
    """The paired difference of two formats' per-excerpt NLL sums: nats per token and bits per byte,
    each with a bootstrap 95% interval over excerpts, and the verdict on "within PPL_BUDGET"."""
    d = other - base
    per_token = lambda i: d[i].sum() / tokens[i].sum()                               # noqa: E731
    lo, hi = bootstrap_interval(per_token, d.size)
    to_bpb = tokens.sum() / nbytes.sum() / math.log(2)                               # nats/token -> bits/byte
    return {"delta_nats_per_token": float(per_token(slice(None))), "interval": [lo, hi],
            "ppl_ratio": math.exp(per_token(slice(None))), "ppl_ratio_interval": [math.exp(lo), math.exp(hi)],
            "delta_bits_per_byte": float(per_token(slice(None)) * to_bpb), "bpb_interval": [lo * to_bpb, hi * to_bpb],
            "verdict": verdict((lo, hi), None, PPL_BUDGET, kind="difference")}


def quality(model, tokenizer, eval_set: list[dict], n_prompts: int, new_tokens: int, log=print) -> list[dict]:
    """One row per weight and KV format: perplexity, bits per byte, the paired difference against
    float32 (``paired``) and greedy agreement with float32 over ``n_prompts`` held-out prompts."""
    L = model.config.block_size
    texts = [tokenizer.encode(e["prompt"] + e["reference"])[:L] for e in eval_set]
    tokens = np.array([len(t) - 1 for t in texts], dtype=float)
    nbytes = np.array([sum(len(b) for b in tokenizer.token_bytes(t[1:])) for t in texts], dtype=float)
    prompts = [torch.tensor([tokenizer.encode(e["prompt"])[-(L - new_tokens):]]) for e in eval_set[:n_prompts]]
    rows, base, base_out = [], None, None
    for name in [*WEIGHTS, *KV]:
        m, kv = (weight_format(model, name), None) if name in WEIGHTS else (model, name)
        nll = np.array([excerpt_nll(m, torch.tensor(t), kv) for t in texts])
        outs = [greedy(m, p, new_tokens, kv) for p in prompts]
        row = {"format": name, "kind": "weights" if kv is None else "kv cache",
               "perplexity": math.exp(nll.sum() / tokens.sum()),
               "bits_per_byte": nll.sum() / nbytes.sum() / math.log(2)}
        if base is None:
            base, base_out = nll, outs
        else:
            same = np.array([np.mean(np.equal(a, b)) for a, b in zip(outs, base_out)])
            row.update(paired(base, nll, tokens, nbytes), agreement=float(same.mean()),
                       agreement_interval=list(bootstrap_interval(lambda i: same[i].mean(), same.size)),
                       identical_prompts=int((same == 1).sum()))
            log(f"{name:11s} perplexity {row['perplexity']:.3f} ({row['bits_per_byte']:.4f} bits/byte), "
                f"{row['delta_nats_per_token']:+.5f} nats/token [{row['interval'][0]:+.5f}, {row['interval'][1]:+.5f}]"
                f" vs fp32: {row['verdict']}; greedy agreement {row['agreement']:.1%}")
        rows.append(row)
    return rows


def logit_error(config, seed: int = 0, prompt_len: int = 64) -> list[dict]:
    """Each format's logits against float32's on ``config`` (random weights, a random prompt): the
    largest and the root-mean-square error, and that error over the spread (std) of the logits."""
    torch.manual_seed(seed)
    model = GPT(config).eval()
    ids = random_prompt(config.vocab_size, 1, min(prompt_len, config.block_size), seed)[0]
    rows, ref = [], None
    for name in [*WEIGHTS, *KV]:
        m, kv = (weight_format(model, name), None) if name in WEIGHTS else (model, name)
        cache = None if kv is None else KVCache(config, 1, ids.numel(), kv_bits=KV[kv][0], group_size=KV[kv][1])
        with torch.inference_mode():
            logits = m(ids[None], kv_cache=cache)[0].float()                         # (T, V)
        if ref is None:
            ref = logits
            continue
        err = logits - ref
        rows.append({"format": name, "max_abs": err.abs().max().item(), "rms": err.pow(2).mean().sqrt().item(),
                     "rms_over_std": (err.pow(2).mean().sqrt() / ref.std()).item()})
    return rows


def byte_counts(config, model=None, kv_len: int | None = None) -> dict:
    """Weights per format counted tensor by tensor (``memory.model_bytes``) beside the formula, and
    KV caches of ``kv_len`` positions (default block_size) beside ``kv_cache_bytes``."""
    if model is None:
        torch.manual_seed(0)
        model = GPT(config).eval()
    T = config.block_size if kv_len is None else validate.integer("kv_len", kv_len, 1)
    weights = []
    for name, (bits, group, dtype) in WEIGHTS.items():
        measured = model_bytes(weight_format(model, name))["total"]
        formula = quantized_weight_bytes(config, bits, group, dtype)
        weights.append({"format": name, "measured": measured, "formula": formula, "exact": measured == formula})
    kv = []
    for name, (bits, group) in {"kv fp32": (None, 32), **KV}.items():
        measured = cache_bytes(KVCache(config, 1, T, kv_bits=bits, group_size=group))
        formula = kv_cache_bytes(config, 1, T, torch.float32, bits, group)
        kv.append({"format": name, "positions": T, "measured": measured, "formula": formula, "exact": measured == formula})
    return {"weights": weights, "kv": kv}


def step_bytes(model, position: int) -> int:
    """Bytes one decode step at ``position`` reads: every weight tensor and the float cache of
    ``position + 1`` positions, less the lookup tables of which it reads one row: the position table,
    and the token table too when the lm_head has its own (quantized) copy of it instead of sharing it."""
    wte, wpe = model.transformer.wte.weight, model.transformer.wpe.weight
    tables = [wpe] if getattr(model.lm_head, "weight", None) is wte else [wpe, wte]
    return (model_bytes(model)["total"] - sum(t.numel() * t.element_size() for t in tables)
            + kv_cache_bytes(model.config, 1, position + 1, model.dtype))


def speed(model, label: str, roofs: dict, position: int, rounds: int, min_sample_s: float, log=print) -> list[dict]:
    """One decode step of each format timed against float32's (ABBA rounds): tokens/s with intervals,
    the speedup, bytes read per step and where that places it on the roofline. For int4, the time of
    unpacking every weight alone (what eager int4 does at every step) and its share of the step."""
    base = forward_fn(model, 1, position)
    flops = decode_flops_per_step(model, 1, position)["total"]
    rows = []
    for name in list(WEIGHTS)[1:]:
        m = weight_format(model, name)
        step = forward_fn(m, 1, position)
        cmp = compare(base, step, names=("fp32", name), rounds=rounds, min_sample_s=min_sample_s)
        if not rows:
            rows.append(speed_row(label, "fp32", model, cmp.median_a, cmp.spread("a"), flops, roofs, position))
        row = speed_row(label, name, m, cmp.median_b, cmp.spread("b"), flops, roofs, position)
        row.update(speedup=cmp.ratio, interval=list(cmp.interval), noise=list(cmp.noise),
                   verdict=cmp.verdict(1.0), times_fp32_s=cmp.a, times_s=cmp.b)
        int4 = [mod for mod in m.modules() if isinstance(mod, Int4Linear)]
        if int4:
            unpack = compare(lambda: _unpack_each(int4), step, names=("unpack", name), rounds=rounds,
                             min_sample_s=min_sample_s)                      # interleaved with the step it is part of
            floats = sum(mod.in_features * mod.out_features * 4 for mod in int4)
            row.update(unpack_s=unpack.median_a, unpack_share=unpack.ratio, unpack_share_interval=list(unpack.interval),
                       eager_bytes_moved=row["bytes_per_step"] + 2 * floats)       # float copy written, then read
        rows.append(row)
        log(f"{label} {name:9s} {row['tokens_per_s']:8.1f} tokens/s [{row['tokens_per_s_interval'][0]:.1f}-"
            f"{row['tokens_per_s_interval'][1]:.1f}], {cmp.ratio:.2f}x fp32 [{cmp.interval[0]:.2f}-"
            f"{cmp.interval[1]:.2f}] ({row['verdict']} faster), {row['bytes_per_step'] / 1e6:.1f} MB/step, "
            f"{row['achieved_GBps']:.1f} GB/s vs the {row['memory']} roof {row['roof_GBps']:.1f} GB/s")
    return rows


def _unpack_each(modules) -> None:
    """Unpack each int4 weight to float once, one at a time (each copy freed before the next, as in a step)."""
    for mod in modules:
        mod.dequantized()


def speed_row(label, name, model, seconds, spread, flops, roofs, position) -> dict:
    nbytes = step_bytes(model, position)
    place = place_on_roofline(flops, nbytes, seconds, roofs)
    roof = roofs["cache_GBps"] if place["memory"] == "cache" else roofs["dram_GBps"]
    return {"model": label, "format": name, "step_s": seconds, "tokens_per_s": 1 / seconds,
            "tokens_per_s_interval": [1 / spread[1], 1 / spread[0]], "bytes_per_step": nbytes,
            "memory": place["memory"], "roof_GBps": roof, "achieved_GBps": place["achieved_GBps"],
            "fraction_of_roof": place["fraction"], "bound": place["bound"], "intensity": place["intensity"]}


def int4_reasons(rows: list[dict]) -> list[str]:
    """Why an eager int4 step is slower than float32 where it is (decided here from the rows)."""
    out = []
    for r in rows:
        if "unpack_s" in r and r["verdict"] == FAILS:
            out.append(f"{r['model']}: eager {r['format']} runs at {r['speedup']:.2f}x fp32's speed although it "
                       f"needs only {r['bytes_per_step'] / 1e6:.1f} MB per step: unpacking every weight to float "
                       f"alone takes {r['unpack_s'] * 1e3:.1f} ms, {r['unpack_share']:.0%} [{r['unpack_share_interval'][0]:.0%}-"
                       f"{r['unpack_share_interval'][1]:.0%}] of a step's time, and the "
                       f"float copy is written and read again, {r['eager_bytes_moved'] / 1e6:.1f} MB moved per token")
    return out


def faq(model, tokenizer, eval_set: list[dict], new_tokens: int, batch_size: int) -> dict:
    """``memory.faq_memory`` on a held-out prompt, each answer with a verdict on "it lowers the memory
    of the run" (at most FAQ_GAIN of the baseline's bytes), and ``checkpointing_memory``'s rows."""
    ids = torch.tensor([tokenizer.encode(eval_set[0]["prompt"])])
    quantized = {"int8 weights": quantize(model, 8), "int4 g32 weights": quantize(model, 4, 32)}
    rows = faq_memory(model, ids, new_tokens, batch_size, quantized=quantized)
    for r in rows[1:]:
        r["verdict"] = verdict((r["ratio"], r["ratio"]), None, FAQ_GAIN)
        r["claim"] = f"{r['answer'][3:]} ({r['setting']}) lowers the memory of the run"
    ckpt = {(r["mode"], r["model"]): r["kept_bytes"] for r in checkpointing_memory(model, ids)}
    ratio = ckpt[("gradients on", "checkpointed")] / ckpt[("gradients on", "plain")]
    rows.append({"answer": "3. gradient checkpointing", "setting": "gradients on (training), bytes kept for backward",
                 "ratio": ratio, "verdict": verdict((ratio, ratio), None, FAQ_GAIN),
                 "claim": "gradient checkpointing lowers the memory kept for a backward pass (gradients on)"})
    return {"rows": rows, "checkpointing": [{"mode": k[0], "model": k[1], "kept_bytes": v} for k, v in ckpt.items()],
            "prompt_tokens": ids.shape[1],
            "new_tokens": new_tokens, "batch_size": batch_size, "threshold": FAQ_GAIN}


def claims(data: dict) -> list[dict]:
    """Every verdict of the run, one line each."""
    out = [{"claim": f"{r['format']} keeps perplexity within 1% of fp32", "value": r["ppl_ratio"],
            "interval": r["ppl_ratio_interval"], "verdict": r["verdict"]} for r in data.get("quality", [])[1:]]
    out += [{"claim": f"{r['format']} decodes faster than fp32 ({r['model']})", "value": r["speedup"],
             "interval": r["interval"], "verdict": r["verdict"]} for r in data.get("speed", []) if "verdict" in r]
    out += [{"claim": r["claim"], "value": r["ratio"], "interval": [r["ratio"], r["ratio"]], "verdict": r["verdict"]}
            for r in data.get("faq", {}).get("rows", [])[1:]]
    from .memory_compile import compiled_claims               # it imports this module
    return out + compiled_claims(data.get("int4_compiled", []))


def main(argv: list[str] | None = None) -> int:
    """``python -m nanoinfer_lib.benchmark memory --out FILE``."""
    p = command.parser("memory", "Weight and KV-cache formats: quality, bytes, speed; the FAQ's answers.")
    p.add_argument("--excerpts", type=int, default=None, help="held-out excerpts for perplexity (2..100; default 100)")
    p.add_argument("--prompts", type=int, default=None, help="held-out prompts for greedy agreement (default 40)")
    p.add_argument("--new-tokens", type=int, default=None, help="greedy tokens per prompt (default 16)")
    p.add_argument("--rounds", type=int, default=None, help="ABBA rounds per speed comparison (default 4)")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="measure the int4 g32 step compiled with torch.compile (default: yes, but not with --quick)")
    args = command.parse(p, argv, "defaults of 4 excerpts, 2 prompts, 2 rounds, a small GPT-2-like shape and "
                                  "quick roofs, no torch.compile: a smoke test, not a measurement")
    excerpts = validate.integer("--excerpts", command.default(args, args.excerpts, 4, 100), 2, 100)
    prompts = validate.integer("--prompts", command.default(args, args.prompts, 2, 40), 1, 100)
    new_tokens = validate.integer("--new-tokens", command.default(args, args.new_tokens, 4, 16), 1, 256)
    rounds = validate.integer("--rounds", command.default(args, args.rounds, 2, 4), 2, 50)
    compiled = not args.quick if args.compile is None else args.compile
    return run(args.out, excerpts, prompts, new_tokens, rounds, args.quick, argv, compiled)


def run(out_path, excerpts: int, prompts: int, new_tokens: int, rounds: int, quick: bool, argv,
        compiled: bool = True) -> int:
    from ..checkpoint import load_model
    from ..metrics import load_eval_set
    from .memory_compile import compiled_speed, not_measured
    from .results import checkpoint_sha256, command_line, make_results, write_results
    model, tokenizer = load_model()
    eval_set = load_eval_set()[:excerpts]
    gpt2 = GPT2_SMALL if not quick else GPT2_SMALL.__class__(block_size=128, vocab_size=512, n_layer=2,
                                                             n_head=2, n_embd=128)
    t0, data = time.perf_counter(), {"gpt2_shape": gpt2.to_dict(), "model": model.config.to_dict(),
                                     "model_sha256": checkpoint_sha256(), "ppl_budget_nats": PPL_BUDGET}
    command = command_line(["memory", *(argv or [])])

    def save(complete=False):
        data.update(seconds=round(time.perf_counter() - t0, 1), claims=claims(data))
        write_results(out_path, make_results("memory", data, "cpu", command, rounds, complete))

    data["bytes"] = {"bundled": byte_counts(model.config, model), "gpt2 shape": byte_counts(gpt2)}
    for label, b in data["bytes"].items():
        print(f"{label}: weights " + ", ".join(f"{r['format']} {r['measured']:,} B ({'=' if r['exact'] else '!='} formula)"
                                               for r in b["weights"]))
    save()
    data["quality"] = quality(model, tokenizer, eval_set, prompts, new_tokens)
    data["logit_error_gpt2_shape"] = logit_error(gpt2)
    data.update(excerpts=excerpts, prompts=prompts, new_tokens=new_tokens)
    save()
    data["roofs"] = roofline_roofs("cpu", quick=quick)
    torch.manual_seed(0)
    big = GPT(gpt2).eval()
    min_s = 0.01 if quick else 0.2
    data["speed"] = (speed(model, "bundled", data["roofs"], 64, rounds, min_s)
                     + speed(big, "gpt2 shape", data["roofs"], 64, rounds, min_s))
    data["int4_eager_slower_because"] = int4_reasons(data["speed"])
    for line in data["int4_eager_slower_because"]:
        print(line)
    data["int4_compiled"] = [compiled_speed(m, label, data["roofs"], 64, rounds, min_s) if compiled
                             else not_measured(label, "skipped (--quick or --no-compile)")
                             for m, label in ((model, "bundled"), (big, "gpt2 shape"))]
    del big
    save()
    data["faq"] = faq(model, tokenizer, eval_set, 8 if quick else 32, 8)
    save(complete=True)
    for c in data["claims"]:
        print(f"{c['verdict']:>13s}: {c['claim']}")
    print(f"wrote {out_path} ({data['seconds']} s)")
    return 0

