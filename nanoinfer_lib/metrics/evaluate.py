"""``compute_metrics``: the tutorial's evaluation in one call (perplexity of the references, then
BLEU-4, ROUGE-L and distinct-n of greedy or sampled continuations), and the bundled evaluation set.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import torch

from .. import validate
from ..generation import generate_batch
from ..model import check_model
from ..paths import EVAL_SET
from ..sampling import MAX_SEED, SamplingSettings, check_seed
from ..tokenizer import check_encoded, check_tokenizer
from .perplexity import continuation_nll
from .text import corpus_bleu, distinct_n, rouge_l, words


def check_eval_data(eval_data) -> list[dict]:
    """Raise a ValueError/TypeError naming the first malformed item of ``eval_data``."""
    if isinstance(eval_data, (str, dict)) or not isinstance(eval_data, (list, tuple)):
        raise TypeError(f"eval_data must be a list of {{'prompt': str, 'reference': str}} dicts, "
                        f"got {type(eval_data).__name__}")
    if not eval_data:
        raise ValueError("eval_data is empty: give at least one {'prompt', 'reference'} pair")
    for i, item in enumerate(eval_data):
        if not isinstance(item, dict):
            raise TypeError(f"eval_data[{i}] must be a dict with 'prompt' and 'reference', got {type(item).__name__}")
        for key in ("prompt", "reference"):
            if key not in item:
                raise ValueError(f"eval_data[{i}] has no {key!r} key (it has {sorted(item)})")
            if not isinstance(item[key], str):
                raise TypeError(f"eval_data[{i}][{key!r}] must be a str, got {type(item[key]).__name__}")
            if not item[key].strip():
                raise ValueError(f"eval_data[{i}][{key!r}] is empty")
    return list(eval_data)


def load_eval_set(path=None) -> list[dict]:
    """The bundled held-out evaluation set (or the JSON list at ``path``): 100 pairs from plays held
    out of training (Julius Caesar, Macbeth, Twelfth Night). Each prompt is the previous speech, the
    speaker and the first line of a speech; the reference is that speech's next line."""
    return check_eval_data(json.loads(Path(path or EVAL_SET).read_text()))


def compute_metrics(model, tokenizer, eval_data, max_new_tokens: int = 32, batch_size: int = 16,
                    temperature: float = 0.0, top_k: int | None = None, top_p: float | None = None,
                    min_p: float | None = None, repetition_penalty: float | None = None,
                    seed: int | None = None, first_line: bool = True, progress: bool | None = None,
                    return_hypotheses: bool = False) -> dict:
    """Score ``model`` on ``eval_data`` (a list of ``{"prompt": str, "reference": str}``).

    - ``perplexity``: exp of the mean NLL of the reference tokens given their prompts (all reference
      tokens pooled), i.e. how well the model predicts the true continuation.
    - Each prompt is continued by ``generate_batch`` (greedy by default: ``temperature=0``; the other
      sampling arguments as in ``generate``). Batches group prompts of similar length; sampling with
      a ``seed`` repeats for the same ``eval_data`` and ``batch_size``. A continuation ends at
      ``<|endoftext|>``; with ``first_line=True`` it also stops at its first newline and only that
      line is kept (stripped), since the bundled references are one line of verse each.
    - ``bleu_4``: corpus BLEU-4; ``rougeL``: mean ROUGE-L F-measure over pairs; ``distinct_1`` and
      ``distinct_2`` of the continuations; ``generated_perplexity``: the model's perplexity of its own
      continuations given the prompts (NaN if all are empty); ``avg_hyp_words`` and ``avg_ref_words``.
    - ``n_examples``: how many pairs were scored. ``progress``: a tqdm bar; ``None`` shows one for
      more than 200 pairs. ``return_hypotheses=True`` adds the continuations as ``hypotheses``.
    """
    check_model("model", model)
    first_line = validate.flag("first_line", first_line)
    check_tokenizer("tokenizer", tokenizer, *(("vocab_size", "token_bytes") if first_line else ()))
    data = check_eval_data(eval_data)
    block, V = model.config.block_size, model.config.vocab_size
    max_new_tokens = validate.integer("max_new_tokens", max_new_tokens, 1, block - 1)
    batch_size = validate.integer("batch_size", batch_size, 1)
    validate.flag("return_hypotheses", return_hypotheses)
    SamplingSettings(temperature, top_k, top_p, min_p, repetition_penalty)     # checked before any work
    seed = check_seed("seed", seed)
    progress = len(data) > 200 if progress is None else validate.flag("progress", progress)
    ctx = [check_encoded(f"eval_data[{i}]['prompt']", tokenizer.encode(d["prompt"]), V) for i, d in enumerate(data)]
    ref_ids = [check_encoded(f"eval_data[{i}]['reference']", tokenizer.encode(d["reference"]), V)
               for i, d in enumerate(data)]
    for i, r in enumerate(ref_ids):
        if len(r) > block - 1:
            raise ValueError(f"eval_data[{i}]['reference'] is {len(r)} tokens long; the model scores at most "
                             f"block_size - 1 = {block - 1}")
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                    repetition_penalty=repetition_penalty)
    hyps = _continuations(model, tokenizer, [d["prompt"] for d in data], ctx, max_new_tokens, batch_size,
                          sampling, seed, first_line, progress)
    results = _scores(model, tokenizer, ctx, ref_ids, hyps, [d["reference"] for d in data], batch_size)
    if return_hypotheses:
        results["hypotheses"] = hyps
    return results


def _stop_tokens(tokenizer, vocab_size: int, first_line: bool) -> list[int]:
    """Where a continuation ends: ``<|endoftext|>`` and, with ``first_line``, any token holding a newline."""
    eot = tokenizer.eot_token if tokenizer.eot_token < vocab_size else None
    stops = [] if eot is None else [eot]
    if first_line:
        stops += [i for i in range(min(tokenizer.vocab_size, vocab_size)) if i != eot
                  and b"\n" in tokenizer.token_bytes([i])[0]]
    return stops


def _continuations(model, tokenizer, prompts: list[str], ctx: list[list[int]], max_new_tokens: int,
                   batch_size: int, sampling: dict, seed: int | None, first_line: bool, progress: bool) -> list[str]:
    """Each prompt's continuation, in batches of similar prompt lengths (batch k seeded ``seed + k``)."""
    stops = _stop_tokens(tokenizer, model.config.vocab_size, first_line)
    eot_text = tokenizer.decode([tokenizer.eot_token])
    order = sorted(range(len(prompts)), key=lambda i: len(ctx[i]))   # similar lengths share a batch: less padding
    starts = range(0, len(prompts), batch_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="generating", unit="batch")
    hyps: list[str] = [""] * len(prompts)
    for k, b in enumerate(starts):
        idx = order[b:b + batch_size]
        out = generate_batch(model, [prompts[i] for i in idx], tokenizer, max_new_tokens=max_new_tokens,
                             batch_size=batch_size, stop_tokens=stops,
                             seed=None if seed is None else (seed + k) % (MAX_SEED + 1),
                             **sampling)
        for i, o in zip(idx, out):
            o = o.split(eot_text)[0]
            hyps[i] = o.split("\n")[0].strip() if first_line else o
    return hyps


def _scores(model, tokenizer, ctx: list[list[int]], ref_ids: list[list[int]], hyps: list[str], refs: list[str],
            batch_size: int) -> dict:
    """The metrics of ``compute_metrics`` from the continuations ``hyps`` and the references."""
    ref_nll = torch.cat(continuation_nll(model, ctx, ref_ids, batch_size))
    gen = [(c, tokenizer.encode(h)) for c, h in zip(ctx, hyps) if h]
    gen_nll = torch.cat(continuation_nll(model, [c for c, _ in gen], [h for _, h in gen], batch_size)) if gen else None
    n = len(hyps)
    return {
        "perplexity": math.exp(ref_nll.mean().item()),
        "bleu_4": corpus_bleu(hyps, refs, max_n=4),
        "rougeL": sum(rouge_l(h, r)["fmeasure"] for h, r in zip(hyps, refs)) / n,
        "distinct_1": distinct_n(hyps, 1),
        "distinct_2": distinct_n(hyps, 2),
        "generated_perplexity": math.exp(gen_nll.mean().item()) if gen_nll is not None else float("nan"),
        "avg_hyp_words": sum(len(words(h)) for h in hyps) / n,
        "avg_ref_words": sum(len(words(r)) for r in refs) / n,
        "n_examples": n,
    }
