"""Evaluation metrics: perplexity and bits per byte (how well a model predicts text), BLEU and ROUGE-L
(how much generated text overlaps a reference), distinct-n (how varied generated text is), and
``compute_metrics``, which runs them all on prompt/reference pairs (chapter 05).

Text is split into words by one rule for BLEU, ROUGE-L and distinct-n (``words``): lowercase, then
runs of letters/digits (an apostrophe inside a word keeps it whole: ``deck'd``, ``ne'er``) and each
other non-space character on its own (``,`` ``.`` ``--`` -> ``-`` ``-``). Scores are in [0, 1].
"""
from __future__ import annotations

import math
import numbers
import re
from collections import Counter
from typing import Sequence

import torch
import torch.nn.functional as F

from .generation import generate_batch
from .model import GPT
from .tokenizer import ASSETS

ASSETS_EVAL_SET = ASSETS / "eval_set.json"
WORD_RE = re.compile(r"\w+(?:'\w+)*|[^\w\s]")


def words(text: str) -> list[str]:
    """Lowercased words and punctuation marks: ``"Ne'er look, Caesar!"`` -> ``["ne'er", "look", ",", "caesar", "!"]``."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return WORD_RE.findall(text.lower())


def ngrams(tokens: Sequence[str], n: int) -> Counter:
    """Counts of the n-grams (tuples of n consecutive tokens) of ``tokens``."""
    return Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


# ---- perplexity ---------------------------------------------------------------------------------

def _as_id_list(model: GPT, input_ids, tokenizer=None) -> torch.Tensor:
    if isinstance(input_ids, str):
        if tokenizer is None:
            raise TypeError("input_ids is a str: pass tokenizer=... to encode it, or pass token ids")
        input_ids = tokenizer.encode(input_ids)
    if isinstance(input_ids, (list, tuple)):
        input_ids = torch.tensor(list(input_ids), dtype=torch.long)
    if not isinstance(input_ids, torch.Tensor) or input_ids.is_floating_point() or input_ids.is_complex():
        raise TypeError(f"input_ids must be token ids (list[int], 1-D or (1, T) LongTensor) or a str, "
                        f"got {type(input_ids).__name__}")
    if input_ids.dim() == 2 and input_ids.shape[0] == 1:
        input_ids = input_ids[0]
    if input_ids.dim() != 1:
        raise ValueError(f"input_ids must be one sequence: 1-D or (1, T), got shape {tuple(input_ids.shape)}")
    if input_ids.numel() < 2:
        raise ValueError(f"input_ids needs at least 2 tokens (the first one is only context), got {input_ids.numel()}")
    V = model.config.vocab_size
    if int(input_ids.min()) < 0 or int(input_ids.max()) >= V:
        raise ValueError(f"input_ids must lie in [0, {V}), got min {int(input_ids.min())}, max {int(input_ids.max())}")
    return input_ids.to(model.device, torch.long)


def _check_stride(stride, block_size: int) -> int:
    if stride is None:
        return max(1, block_size // 2)
    if isinstance(stride, bool) or not isinstance(stride, numbers.Integral):
        raise TypeError(f"stride must be None or an int in [1, {block_size}], got {type(stride).__name__}")
    if not 1 <= stride <= block_size:
        raise ValueError(f"stride must be None or an int in [1, block_size={block_size}], got {stride}")
    return int(stride)


@torch.inference_mode()
def token_nll(model: GPT, input_ids, stride: int | None = None, tokenizer=None) -> torch.Tensor:
    """Negative log-likelihood (nats) of every token after the first: a float32 tensor (T - 1,),
    entry ``i`` for token ``i + 1`` given the tokens before it.

    Sliding window: the model sees at most ``block_size`` tokens. The first window scores tokens
    1..block_size; each later window moves ``stride`` tokens on and scores only its ``stride`` new
    tokens, so every one of them has at least ``block_size - stride`` tokens of context. Smaller
    strides give more context and cost more (about ``T / stride`` forward passes).
    ``stride=None`` means ``block_size // 2``; ``stride=block_size`` gives disjoint windows.
    """
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a nanoinfer_lib GPT, got {type(model).__name__}")
    ids = _as_id_list(model, input_ids, tokenizer)
    L = model.config.block_size
    stride = _check_stride(stride, L)
    T = ids.numel()
    out = torch.empty(T - 1, dtype=torch.float32, device=ids.device)
    done = 0                                        # tokens 1..done are scored
    while done < T - 1:
        end = min(done + (L if done == 0 else stride), T - 1)   # last token this window scores
        begin = max(0, end - L)                                 # window = ids[begin:end] as input
        logits = model(ids[None, begin:end])[0].float()         # (end - begin, V)
        nll = F.cross_entropy(logits, ids[begin + 1:end + 1], reduction="none")   # tokens begin+1..end
        out[done:end] = nll[-(end - done):]
        done = end
    return out


def perplexity(model: GPT, input_ids, stride: int | None = None, tokenizer=None) -> float:
    """``exp(mean NLL)`` of the tokens of ``input_ids`` after the first (see ``token_nll`` for the
    sliding window used past the context). ``input_ids``: list[int], 1-D or (1, T) tensor, or a str
    with ``tokenizer`` given. A model that spreads its probability evenly over V tokens scores V."""
    return math.exp(token_nll(model, input_ids, stride, tokenizer).mean().item())


def bits_per_byte(model: GPT, tokenizer, text: str, stride: int | None = None) -> float:
    """Total NLL of the text's tokens after the first, in bits, divided by the UTF-8 bytes of those
    tokens. Unlike perplexity, it does not depend on how big the tokens are, so models with different
    tokenizers can be compared on the same text."""
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    ids = tokenizer.encode(text)
    nll = token_nll(model, ids, stride)
    n_bytes = sum(len(b) for b in tokenizer.token_bytes(ids[1:]))
    return nll.sum().item() / math.log(2) / n_bytes


@torch.inference_mode()
def continuation_nll(model: GPT, contexts: list[list[int]], continuations: list[list[int]],
                     batch_size: int = 16) -> list[torch.Tensor]:
    """NLL (nats) of each continuation's tokens given its context: one tensor (len(continuation),) each.

    Rows are right-padded into batches (causal attention never looks right, so padding changes
    nothing); a context is cropped from the left so that context + continuation fits the window.
    """
    L = model.config.block_size
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]) + len(continuations[i]))  # less padding
    out: list[torch.Tensor] = [torch.empty(0)] * len(contexts)
    for b in range(0, len(order), batch_size):
        rows, spans, idx = [], [], order[b:b + batch_size]
        for ctx, cont in zip([contexts[i] for i in idx], [continuations[i] for i in idx]):
            if not ctx or len(cont) > L - 1:
                raise ValueError(f"each context needs >= 1 token and each continuation <= {L - 1} tokens")
            ctx = ctx[-(L - len(cont)):]
            rows.append(ctx + cont)
            spans.append((len(ctx), len(cont)))
        width = max(len(r) for r in rows)
        x = torch.zeros(len(rows), width, dtype=torch.long, device=model.device)
        for r, row in enumerate(rows):
            x[r, :len(row)] = torch.tensor(row)
        logp = model(x).float().log_softmax(-1)                  # (B, width, V)
        for r, (c, n) in enumerate(spans):
            tgt = x[r, c:c + n]                                   # (n,)
            out[idx[r]] = -logp[r, c - 1:c - 1 + n].gather(-1, tgt[:, None])[:, 0].cpu()
    return out


# ---- BLEU ---------------------------------------------------------------------------------------

def _check_max_n(max_n) -> int:
    if isinstance(max_n, bool) or not isinstance(max_n, numbers.Integral) or max_n < 1:
        raise ValueError(f"max_n must be an int >= 1, got {max_n!r}")
    return int(max_n)


def _check_texts(name: str, texts) -> list[str]:
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)):
        raise TypeError(f"{name} must be a list of strings, got {type(texts).__name__}")
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__}")
    return list(texts)


def bleu_stats(hypothesis: str, reference: str, max_n: int = 4) -> dict:
    """The counts BLEU is made of, for one pair: ``matches[n-1]`` (clipped: an n-gram counts at most as
    often as it occurs in the reference) and ``totals[n-1]`` (n-grams in the hypothesis), and the two
    lengths in words. Corpus BLEU adds these up over all pairs before dividing."""
    max_n = _check_max_n(max_n)
    hyp, ref = words(hypothesis), words(reference)
    matches, totals = [], []
    for n in range(1, max_n + 1):
        h, r = ngrams(hyp, n), ngrams(ref, n)
        matches.append(sum(min(c, r[g]) for g, c in h.items()))
        totals.append(max(len(hyp) - n + 1, 0))
    return {"matches": matches, "totals": totals, "hyp_len": len(hyp), "ref_len": len(ref)}


def brevity_penalty(hyp_len: int, ref_len: int) -> float:
    """1 when the hypothesis is at least as long as the reference, else ``exp(1 - ref_len / hyp_len)``
    (0 for an empty hypothesis): it stops a system from scoring high precision with a few safe words."""
    if hyp_len >= ref_len:
        return 1.0
    return math.exp(1 - ref_len / hyp_len) if hyp_len > 0 else 0.0


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], max_n: int = 4) -> float:
    """Corpus BLEU-``max_n`` in [0, 1] (Papineni et al., 2002), one reference per hypothesis.

    Clipped n-gram matches and n-gram totals are summed over the corpus; the score is the brevity
    penalty (on the summed lengths) times the geometric mean of the ``max_n`` precisions. No
    smoothing: if some order has no match, the score is 0. Equals ``sacrebleu``'s corpus BLEU / 100
    with ``tokenize="none"`` and ``smooth_method="none"`` on text split by ``words``.
    """
    hypotheses, references = _check_texts("hypotheses", hypotheses), _check_texts("references", references)
    if len(hypotheses) != len(references):
        raise ValueError(f"hypotheses and references must have the same length, got {len(hypotheses)} and {len(references)}")
    max_n = _check_max_n(max_n)
    matches, totals, hyp_len, ref_len = [0] * max_n, [0] * max_n, 0, 0
    for h, r in zip(hypotheses, references):
        s = bleu_stats(h, r, max_n)
        matches = [a + b for a, b in zip(matches, s["matches"])]
        totals = [a + b for a, b in zip(totals, s["totals"])]
        hyp_len, ref_len = hyp_len + s["hyp_len"], ref_len + s["ref_len"]
    if any(m == 0 for m in matches):
        return 0.0
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    return brevity_penalty(hyp_len, ref_len) * math.exp(log_p)


def sentence_bleu(hypothesis: str, reference: str, max_n: int = 4) -> float:
    """BLEU-``max_n`` of one sentence, in [0, 1], smoothed so a short or partly matching sentence
    does not score exactly 0.

    Smoothing ("exp", NIST's; method 3 of Chen & Cherry, 2014): the k-th order with no match gets
    precision ``1 / (2**k * total)`` instead of 0. Effective order: orders longer than the hypothesis
    (no n-grams at all) are left out of the mean. No match at all scores 0. Equals ``sacrebleu``'s
    ``sentence_bleu`` / 100 (its defaults) on text split by ``words`` with ``tokenize="none"``.
    """
    if not isinstance(hypothesis, str) or not isinstance(reference, str):
        raise TypeError("hypothesis and reference must be strings")
    s = bleu_stats(hypothesis, reference, max_n)
    if sum(s["matches"]) == 0:
        return 0.0
    log_ps, k = [], 0
    for m, t in zip(s["matches"], s["totals"]):
        if t == 0:               # effective order: the hypothesis is shorter than n
            break
        if m == 0:
            k += 1
            log_ps.append(math.log(1 / (2 ** k * t)))
        else:
            log_ps.append(math.log(m / t))
    return brevity_penalty(s["hyp_len"], s["ref_len"]) * math.exp(sum(log_ps) / len(log_ps))


# ---- ROUGE-L and distinct-n ---------------------------------------------------------------------

def lcs_table(a: Sequence[str], b: Sequence[str]) -> list[list[int]]:
    """Dynamic-programming table: ``table[i][j]`` = length of the longest common subsequence of
    ``a[:i]`` and ``b[:j]``; ``table[-1][-1]`` is the LCS of the whole sequences."""
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            table[i][j] = table[i - 1][j - 1] + 1 if a[i - 1] == b[j - 1] else max(table[i - 1][j], table[i][j - 1])
    return table


def rouge_l(hypothesis: str, reference: str) -> dict:
    """ROUGE-L (Lin, 2004) from the longest common subsequence (LCS) of the two word lists:
    precision = LCS / hypothesis words, recall = LCS / reference words, fmeasure = their harmonic
    mean (all 0 when either text has no words). Equals ``rouge-score``'s ``rougeL`` with ``words`` as
    its tokenizer."""
    if not isinstance(hypothesis, str) or not isinstance(reference, str):
        raise TypeError("hypothesis and reference must be strings")
    hyp, ref = words(hypothesis), words(reference)
    if not hyp or not ref:
        return {"precision": 0.0, "recall": 0.0, "fmeasure": 0.0}
    lcs = lcs_table(hyp, ref)[-1][-1]
    p, r = lcs / len(hyp), lcs / len(ref)
    return {"precision": p, "recall": r, "fmeasure": 2 * p * r / (p + r) if p + r > 0 else 0.0}


def distinct_n(texts: Sequence[str], n: int = 2) -> float:
    """Distinct n-grams / all n-grams over all ``texts`` (Li et al., 2016), in [0, 1]: low means the
    texts repeat themselves or each other. 0 when the texts hold no n-gram."""
    texts = _check_texts("texts", texts)
    n = _check_max_n(n)
    seen: Counter = Counter()
    for t in texts:
        seen.update(ngrams(words(t), n))
    total = sum(seen.values())
    return len(seen) / total if total else 0.0


# ---- everything at once -------------------------------------------------------------------------

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
    import json
    from pathlib import Path
    return check_eval_data(json.loads(Path(path or ASSETS_EVAL_SET).read_text()))


def compute_metrics(model: GPT, tokenizer, eval_data, max_new_tokens: int = 32, batch_size: int = 16,
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
    if not isinstance(model, GPT):
        raise TypeError(f"model must be a nanoinfer_lib GPT, got {type(model).__name__}")
    data = check_eval_data(eval_data)
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, numbers.Integral) or max_new_tokens < 1:
        raise ValueError(f"max_new_tokens must be an int >= 1, got {max_new_tokens!r}")
    if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be an int >= 1, got {batch_size!r}")
    if progress is None:
        progress = len(data) > 200
    eot = tokenizer.eot_token if tokenizer.eot_token < model.config.vocab_size else None
    stops = [] if eot is None else [eot]                  # a continuation also ends at <|endoftext|>
    if first_line:
        stops += [i for i in range(min(tokenizer.vocab_size, model.config.vocab_size)) if i != eot
                  and b"\n" in tokenizer.token_bytes([i])[0]]
    eot_text = tokenizer.decode([tokenizer.eot_token])
    sampling = dict(temperature=temperature, top_k=top_k, top_p=top_p, min_p=min_p,
                    repetition_penalty=repetition_penalty)
    prompts = [d["prompt"] for d in data]
    ctx = [tokenizer.encode(p) for p in prompts]
    order = sorted(range(len(data)), key=lambda i: len(ctx[i]))   # similar lengths share a batch: less padding
    starts = range(0, len(data), batch_size)
    if progress:
        from tqdm.auto import tqdm
        starts = tqdm(starts, desc="generating", unit="batch")
    hyps: list[str] = [""] * len(data)
    for k, b in enumerate(starts):
        idx = order[b:b + batch_size]
        out = generate_batch(model, [prompts[i] for i in idx], tokenizer, max_new_tokens=max_new_tokens,
                             batch_size=batch_size, stop_tokens=stops, seed=None if seed is None else seed + k,
                             **sampling)
        for i, o in zip(idx, out):
            o = o.split(eot_text)[0]
            hyps[i] = o.split("\n")[0].strip() if first_line else o
    refs = [d["reference"] for d in data]
    ref_nll = torch.cat(continuation_nll(model, ctx, [tokenizer.encode(r) for r in refs], batch_size))
    gen = [(c, tokenizer.encode(h)) for c, h in zip(ctx, hyps) if h]
    gen_nll = torch.cat(continuation_nll(model, [c for c, _ in gen], [h for _, h in gen], batch_size)) if gen else None
    results = {
        "perplexity": math.exp(ref_nll.mean().item()),
        "bleu_4": corpus_bleu(hyps, refs, max_n=4),
        "rougeL": sum(rouge_l(h, r)["fmeasure"] for h, r in zip(hyps, refs)) / len(data),
        "distinct_1": distinct_n(hyps, 1),
        "distinct_2": distinct_n(hyps, 2),
        "generated_perplexity": math.exp(gen_nll.mean().item()) if gen_nll is not None else float("nan"),
        "avg_hyp_words": sum(len(words(h)) for h in hyps) / len(data),
        "avg_ref_words": sum(len(words(r)) for r in refs) / len(data),
        "n_examples": len(data),
    }
    if return_hypotheses:
        results["hypotheses"] = hyps
    return results
