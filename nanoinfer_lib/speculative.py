"""Speculative decoding (chapter 06): a cheap drafter proposes ``k`` tokens, the model checks them
all in one forward pass, and a rejection rule keeps the output exactly what the model alone would
give (Leviathan et al. 2023; Chen et al. 2023).

One round, with the sequence ``s`` so far (the model's KV cache holds all of it but the last token):

1. the drafter proposes ``d_1..d_k`` (a small model decoding greedily or sampling from its own
   distribution ``q``; or ``PromptLookup``, which copies what followed an earlier match);
2. the model runs once over ``[s_last, d_1..d_k]`` and so gets its distribution ``p`` at all k + 1
   positions;
3. ``accept_drafts`` keeps ``d_i`` with probability ``min(1, p(d_i) / q(d_i))`` (greedy: while it is
   the argmax); at the first rejection it draws the next token from ``normalize(max(0, p - q))``;
   when all k are kept it draws one more, the bonus token, from ``p``;
4. both KV caches are cropped back to the tokens that were kept.

A round emits between 1 and k + 1 tokens for one forward pass of the model. Every emitted token is
distributed exactly as ``generate`` would draw it after the same processors (temperature, top-k,
top-p, min-p), and greedy decoding returns ``generate(..., temperature=0)``'s tokens.

Context window: unlike ``generate``, which crops to the last ``block_size`` tokens, the prompt plus
``max_new_tokens`` must fit in the model's (and a draft model's) ``block_size``; a longer request is a
``ValueError`` naming ``max_new_tokens``. (A sliding window would rebuild both caches every round,
which is everything speculative decoding saves.)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import validate
from .generation import prompt_ids
from .kv_cache import KVCache
from .model import GPT, check_model
from .sampling import SamplingSettings, check_finite, check_seed_and_generator, make_generator
from .tokenizer import check_token_id_set


@dataclass
class SpeculativeOutput:
    """What ``speculative_generate`` returns: the tokens and how the drafts fared."""
    sequences: torch.Tensor   # (1, T + n) LongTensor, the prompt included, as generate returns
    proposed: int             # draft tokens proposed
    accepted: int             # draft tokens the model kept
    rejected: int             # draft tokens the model checked and refused (at most one per round)
    rounds: int               # verification passes of the model (one per round)
    target_calls: int         # forward passes of the model: the prefill (when the prompt has > 1 token) + rounds
    draft_calls: int          # forward passes of a draft model (0 for PromptLookup)
    prompt_len: int

    @property
    def new_tokens(self) -> int:
        return self.sequences.shape[1] - self.prompt_len

    @property
    def acceptance_rate(self) -> float:
        """accepted / proposed, in [0, 1] (0.0 when nothing was proposed)."""
        return self.accepted / self.proposed if self.proposed else 0.0

    @property
    def alpha(self) -> float:
        """The chance that a checked draft is kept, accepted / (accepted + rejected): the alpha of
        the expected tokens per call ``(1 - alpha^(k+1)) / (1 - alpha)``. (``acceptance_rate`` is
        lower for k > 1: drafts after a rejection are never checked.) 0.0 when none was checked."""
        checked = self.accepted + self.rejected
        return self.accepted / checked if checked else 0.0

    @property
    def tokens_per_call(self) -> float:
        """New tokens per verification pass: plain decoding makes 1; at most num_draft_tokens + 1."""
        return self.new_tokens / self.rounds if self.rounds else 0.0


class PromptLookup:
    """Drafts without a model: find the most recent earlier occurrence of the last ``n`` tokens
    (``n`` from ``max_ngram`` down to ``min_ngram``) in the prompt and the text so far, and propose
    the tokens that followed it (prompt lookup decoding, as in Hugging Face transformers). Costs a
    scan of the sequence per round; wins when the output repeats its input."""

    def __init__(self, max_ngram: int = 3, min_ngram: int = 1):
        self.max_ngram = validate.integer("max_ngram", max_ngram, 1)
        self.min_ngram = validate.integer("min_ngram", min_ngram, 1, self.max_ngram)

    def propose(self, tokens: list[int], num_tokens: int) -> list[int]:
        """Up to ``num_tokens`` ids that followed the latest earlier match of ``tokens``' tail ([] if none)."""
        for n in range(min(self.max_ngram, len(tokens) - 1), self.min_ngram - 1, -1):
            tail = tokens[-n:]
            # candidate starts: where the tail's first token occurs, latest first, the tail itself excluded
            starts = [i for i, t in enumerate(tokens[:len(tokens) - n]) if t == tail[0]]
            for i in reversed(starts):
                if tokens[i:i + n] == tail:
                    return tokens[i + n:i + n + num_tokens]
        return []

    def __repr__(self) -> str:
        return f"PromptLookup(max_ngram={self.max_ngram}, min_ngram={self.min_ngram})"


def token_probs(settings: SamplingSettings, logits: torch.Tensor) -> torch.Tensor:
    """The distribution ``settings.sample`` draws from for ``logits`` (..., V): the processors, then
    the softmax, in float32."""
    logits = check_finite(logits.float())
    return F.softmax(settings.process(logits - logits.amax(-1, keepdim=True)), dim=-1)


def accept_drafts(p: torch.Tensor, drafts: list[int], q: torch.Tensor | None = None,
                  generator: torch.Generator | None = None) -> tuple[int, int]:
    """The rule that keeps speculative sampling exact. ``p`` (k + 1, V): the model's probabilities
    at each draft position and one more; ``drafts``: the k proposed ids; ``q`` (k, V): the
    distribution each was drawn from (None: proposed for certain, as ``PromptLookup`` does).

    Draft i is kept with probability ``min(1, p_i(d_i) / q_i(d_i))``; at the first rejection the next
    token is drawn from ``normalize(max(0, p_i - q_i))``; if all are kept, from ``p_k`` (the bonus).
    Returns (number kept, next token id)."""
    k = len(drafts)
    d = torch.tensor(drafts, dtype=torch.long, device=p.device)                  # (k,)
    p_d = p[:k].gather(-1, d[:, None])[:, 0]                                      # (k,)
    q_d = q[:k].gather(-1, d[:, None])[:, 0] if q is not None else torch.ones_like(p_d)
    u = torch.rand(k, generator=generator, device=p.device)
    kept = (u * q_d < p_d).tolist()                    # u < p/q: accepted with probability min(1, p/q)
    n = kept.index(False) if False in kept else k
    if n == k:
        return k, int(torch.multinomial(p[k], 1, generator=generator))
    q_n = q[n] if q is not None else F.one_hot(d[n], p.shape[-1]).to(p.dtype)
    residual = (p[n] - q_n).clamp(min=0)
    if float(residual.sum()) <= 0:       # p == q up to rounding: a rejection has probability ~0
        residual = p[n]
    return n, int(torch.multinomial(residual, 1, generator=generator))


class _DraftModel:
    """A draft GPT with its own KV cache, kept in step with the tokens the model accepts."""

    def __init__(self, draft, max_len: int, settings: SamplingSettings, generator):
        self.model, self.settings, self.generator, self.calls = draft, settings, generator, 0
        self.cache = KVCache(draft.config, 1, max_len, draft.device, draft.dtype)

    def propose(self, tokens: list[int], k: int) -> tuple[list[int], torch.Tensor | None]:
        x = torch.tensor([tokens[self.cache.length:]], device=self.model.device)    # (1, unseen): 1 or 2 tokens
        drafts, qs = [], []
        for _ in range(k):
            logits = self.model(x, kv_cache=self.cache, last_only=True)[:, -1]      # (1, V)
            if self.settings.greedy:
                x = logits.argmax(-1, keepdim=True)                                 # (1, 1)
            else:
                qs.append(token_probs(self.settings, logits)[0])                     # (V,)
                x = torch.multinomial(qs[-1], 1, generator=self.generator)[None]     # (1, 1)
            drafts.append(x)
        self.calls += k
        return torch.cat(drafts, 1)[0].tolist(), torch.stack(qs) if qs else None

    def keep(self, length: int) -> None:
        """The first ``length`` tokens of the sequence are settled: forget cached positions past them."""
        self.cache.crop(min(length, self.cache.length))


class _Lookup:
    def __init__(self, lookup: PromptLookup):
        self.lookup, self.calls = lookup, 0

    def propose(self, tokens: list[int], k: int) -> tuple[list[int], None]:
        return self.lookup.propose(tokens, k), None

    def keep(self, length: int) -> None:
        pass


def _check_draft(draft, model, settings, generator, max_len):
    if isinstance(draft, PromptLookup):
        return _Lookup(draft)
    if not isinstance(draft, GPT):
        raise TypeError(f"draft must be a nanoinfer_lib GPT (a draft model) or a PromptLookup, "
                        f"got {type(draft).__name__}")
    if draft.config.vocab_size != model.config.vocab_size:
        raise ValueError(f"draft has vocab_size={draft.config.vocab_size} but the model has "
                         f"{model.config.vocab_size}: a draft must share the model's tokenizer")
    if draft.device != model.device:
        raise ValueError(f"draft is on {draft.device} but the model is on {model.device}: put both on one device")
    if max_len > draft.config.block_size:
        raise ValueError(f"max_new_tokens: the prompt plus max_new_tokens ({max_len}) must fit in the "
                         f"draft's block_size={draft.config.block_size}")
    return _DraftModel(draft, max_len, settings, generator)


def speculative_generate(model, input_ids, draft, max_new_tokens: int = 100, num_draft_tokens: int = 4,
                         temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                         min_p: float | None = None, stop_tokens=None, seed: int | None = None) -> SpeculativeOutput:
    """Continue ``input_ids`` (1, T) by up to ``max_new_tokens`` tokens, ``num_draft_tokens`` drafted per
    round by ``draft`` (a smaller GPT with the same vocabulary, or a ``PromptLookup``) and checked by
    ``model`` in one forward pass. The output is distributed as ``generate``'s with the same
    arguments (greedy: the same tokens). A stop token ends the output and is kept. ``seed`` makes
    sampling reproducible. Batch size 1 only. Context window: see the module's docstring."""
    check_model("model", model)
    ids = prompt_ids(input_ids, model)
    if ids.shape[0] != 1:
        raise ValueError(f"input_ids must hold one prompt (batch size 1), got a batch of {ids.shape[0]}")
    max_new_tokens = validate.integer("max_new_tokens", max_new_tokens, 0)
    k = validate.integer("num_draft_tokens", num_draft_tokens, 1)
    settings = SamplingSettings(temperature, top_k, top_p, min_p)
    stops = check_token_id_set("stop_tokens", stop_tokens, model.config.vocab_size)
    seed, _ = check_seed_and_generator(seed, None)
    T, bs = ids.shape[1], model.config.block_size
    if T + max_new_tokens > bs:
        raise ValueError(f"max_new_tokens: the prompt ({T} tokens) plus max_new_tokens ({max_new_tokens}) must "
                         f"fit in the context window block_size={bs}")
    generator = make_generator(seed, None, model.device)
    drafter = _check_draft(draft, model, settings, generator, T + max_new_tokens)
    out = SpeculativeOutput(ids.clone(), 0, 0, 0, 0, 0, 0, T)
    if max_new_tokens == 0:
        return out
    tokens = ids[0].tolist()
    with torch.inference_mode():
        cache = KVCache(model.config, 1, T + max_new_tokens, model.device, model.dtype)
        if T > 1:
            model(ids[:, :-1], kv_cache=cache, last_only=True)        # the prefill: all but the last token
            out.target_calls += 1
        while (left := max_new_tokens - (len(tokens) - T)) > 0:
            # draft at most left - 1: a round emits up to (drafts + 1) tokens
            new, n, proposed = _round(model, cache, drafter, tokens, min(k, left - 1), settings, generator)
            out.rounds, out.proposed, out.accepted = out.rounds + 1, out.proposed + proposed, out.accepted + n
            out.rejected += n < proposed
            stop_at = next((i for i, t in enumerate(new) if t in stops), None)
            tokens += new if stop_at is None else new[:stop_at + 1]
            if stop_at is not None:
                break
    out.target_calls += out.rounds
    out.draft_calls = drafter.calls
    out.sequences = torch.tensor([tokens], dtype=torch.long, device=ids.device)
    return out


def _round(model, cache: KVCache, drafter, tokens: list[int], k: int, settings: SamplingSettings,
           generator) -> tuple[list[int], int, int]:
    """One round: draft up to ``k`` tokens, verify them in one pass, keep what the rule accepts and
    roll both caches back. Returns (the new tokens, drafts kept, drafts proposed)."""
    L = len(tokens)                                                   # the cache holds L - 1 positions
    drafts, q = drafter.propose(tokens, k) if k > 0 else ([], None)
    x = torch.tensor([[tokens[-1], *drafts]], device=model.device)    # (1, 1 + k)
    logits = model(x, kv_cache=cache)[0]                              # (1 + k, V)
    if settings.greedy:
        best = check_finite(logits.float()).argmax(-1).tolist()
        n = 0
        while n < len(drafts) and drafts[n] == best[n]:
            n += 1
        token = best[n]
    else:
        n, token = accept_drafts(token_probs(settings, logits), drafts, q, generator)
    cache.crop(L + n)                      # keep s and the n accepted drafts; the new token is fed next round
    drafter.keep(L + n)
    return drafts[:n] + [token], n, len(drafts)
