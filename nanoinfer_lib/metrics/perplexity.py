"""Model-based metrics: how well a model predicts text. ``token_nll`` (the surprise of every token,
with a sliding window past the context), ``perplexity``, ``bits_per_byte`` (comparable across
tokenizers), ``continuation_nll`` (a continuation given its context) and ``heldout_loss``.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .. import validate
from ..model import check_model
from ..tokenizer import check_token_ids, check_tokenizer


def _sequence(model, input_ids, tokenizer=None) -> torch.Tensor:
    """One sequence of at least 2 token ids, 1-D, on the model's device (a str is encoded first)."""
    if isinstance(input_ids, str):
        if tokenizer is None:
            raise TypeError("input_ids is a str: pass tokenizer=... to encode it, or pass token ids")
        input_ids = check_tokenizer("tokenizer", tokenizer).encode(input_ids)
    ids = check_token_ids("input_ids", input_ids, model.config.vocab_size)
    if ids.dim() == 2 and ids.shape[0] == 1:
        ids = ids[0]
    if ids.dim() != 1:
        raise ValueError(f"input_ids must be one sequence: 1-D or (1, T), got shape {tuple(ids.shape)}")
    if ids.numel() < 2:
        raise ValueError(f"input_ids needs at least 2 tokens (the first one is only context), got {ids.numel()}")
    return ids.to(model.device)


@torch.inference_mode()
def token_nll(model, input_ids, stride: int | None = None, tokenizer=None) -> torch.Tensor:
    """Negative log-likelihood (nats) of every token after the first: a float32 tensor (T - 1,),
    entry ``i`` for token ``i + 1`` given the tokens before it.

    Sliding window: the model sees at most ``block_size`` tokens. The first window scores tokens
    1..block_size; each later window moves ``stride`` tokens on and scores only its ``stride`` new
    tokens, so every one of them has at least ``block_size - stride`` tokens of context. Smaller
    strides give more context and cost more (about ``T / stride`` forward passes).
    ``stride=None`` means ``block_size // 2``; ``stride=block_size`` gives disjoint windows.
    """
    check_model("model", model)
    ids = _sequence(model, input_ids, tokenizer)
    block = model.config.block_size
    stride = max(1, block // 2) if stride is None else validate.integer("stride", stride, 1, block)
    T = ids.numel()
    out = torch.empty(T - 1, dtype=torch.float32, device=ids.device)
    done = 0                                        # tokens 1..done are scored
    while done < T - 1:
        end = min(done + (block if done == 0 else stride), T - 1)   # last token this window scores
        begin = max(0, end - block)                                 # window = ids[begin:end] as input
        logits = model(ids[None, begin:end])[0].float()         # (end - begin, V)
        nll = F.cross_entropy(logits, ids[begin + 1:end + 1], reduction="none")   # tokens begin+1..end
        out[done:end] = nll[-(end - done):]
        done = end
    return out


def perplexity(model, input_ids, stride: int | None = None, tokenizer=None) -> float:
    """``exp(mean NLL)`` of the tokens of ``input_ids`` after the first (see ``token_nll`` for the
    sliding window used past the context). ``input_ids``: list[int], 1-D or (1, T) tensor, or a str
    with ``tokenizer`` given. A model that spreads its probability evenly over V tokens scores V."""
    return math.exp(token_nll(model, input_ids, stride, tokenizer).mean().item())


def bits_per_byte(model, tokenizer, text: str, stride: int | None = None) -> float:
    """Total NLL of the text's tokens after the first, in bits, divided by the UTF-8 bytes of those
    tokens. Unlike perplexity, it does not depend on how big the tokens are, so models with different
    tokenizers can be compared on the same text."""
    ids = check_tokenizer("tokenizer", tokenizer, "token_bytes").encode(validate.text("text", text))
    nll = token_nll(model, ids, stride)
    n_bytes = sum(len(b) for b in tokenizer.token_bytes(ids[1:]))
    return nll.sum().item() / math.log(2) / n_bytes


@torch.inference_mode()
def continuation_nll(model, contexts: list[list[int]], continuations: list[list[int]],
                     batch_size: int = 16) -> list[torch.Tensor]:
    """NLL (nats) of each continuation's tokens given its context: one tensor (len(continuation),) each.

    Rows are right-padded into batches (causal attention never looks right, so padding changes
    nothing); a context is cropped from the left so that context + continuation fits the window.
    """
    block = model.config.block_size
    order = sorted(range(len(contexts)), key=lambda i: len(contexts[i]) + len(continuations[i]))  # less padding
    out: list[torch.Tensor] = [torch.empty(0)] * len(contexts)
    for b in range(0, len(order), batch_size):
        rows, spans, idx = [], [], order[b:b + batch_size]
        for ctx, cont in zip([contexts[i] for i in idx], [continuations[i] for i in idx]):
            if not ctx or len(cont) > block - 1:
                raise ValueError(f"each context needs >= 1 token and each continuation <= {block - 1} tokens")
            ctx = ctx[-(block - len(cont)):]
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


def heldout_loss(model, ids, max_tokens: int | None = None) -> float:
    """Mean next-token loss (nats) over ``ids`` (list or (1, N)) in disjoint windows of block_size
    (``token_nll`` with ``stride=block_size``), computed in float32 whatever the model's dtype.
    ``max_tokens`` scores only the first that many tokens (a quick estimate while training)."""
    ids = _sequence(model, ids)
    if max_tokens is not None:
        ids = ids[:validate.integer("max_tokens", max_tokens, 2)]
    return token_nll(model, ids, stride=model.config.block_size).mean().item()
