"""Logit processors and sampling, applied in Hugging Face's order:

repetition penalty -> temperature -> top-k -> top-p -> min-p -> softmax -> sample.

Each processor takes logits (..., V) and returns new logits with removed entries set to -inf,
so every step can be plotted on its own.
"""
from __future__ import annotations

import math
import numbers

import torch
import torch.nn.functional as F


def _number(name: str, value, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a number, got {type(value).__name__}")
    value = float(value)
    rng = f"{'(' if low_open else '['}{low if low is not None else '-inf'}, {high if high is not None else 'inf'}]"
    if not math.isfinite(value) or (low is not None and (value < low or (low_open and value == low))) \
            or (high is not None and value > high):
        raise ValueError(f"{name} must be a finite number in {rng}, got {value}")
    return value


def check_temperature(temperature) -> float:
    return _number("temperature", temperature, 0.0)


def check_top_k(top_k) -> int | None:
    if top_k is None:
        return None
    if isinstance(top_k, bool) or not isinstance(top_k, numbers.Integral):
        raise TypeError(f"top_k must be None or an int >= 0, got {type(top_k).__name__}")
    if top_k < 0:
        raise ValueError(f"top_k must be None or an int >= 0 (0 disables), got {top_k}")
    return int(top_k) or None


def check_top_p(top_p) -> float | None:
    return None if top_p is None else _number("top_p", top_p, 0.0, 1.0)


def check_min_p(min_p) -> float | None:
    return None if min_p is None else _number("min_p", min_p, 0.0, 1.0)


def check_repetition_penalty(penalty) -> float | None:
    return None if penalty is None else _number("repetition_penalty", penalty, 0.0, low_open=True)


def _check_logits(logits) -> None:
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(f"logits must be a floating-point tensor (..., V), got {type(logits).__name__}")
    if logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")


def apply_repetition_penalty(logits: torch.Tensor, input_ids: torch.Tensor, penalty: float | None) -> torch.Tensor:
    """For tokens already in ``input_ids`` (..., T): divide positive logits by ``penalty``, multiply
    negative ones (CTRL's rule, as Hugging Face). Ids < 0 (padding) are ignored. ``None``/1.0: no-op."""
    _check_logits(logits)
    penalty = check_repetition_penalty(penalty)
    if penalty is None or penalty == 1.0:
        return logits
    ids = torch.as_tensor(input_ids, device=logits.device).long()
    if ids.dim() == logits.dim() - 1:                       # (T,) with (V,), or (B, T) missing a dim
        ids = ids.unsqueeze(-1) if logits.dim() == 1 else ids
    ids = ids.reshape(*logits.shape[:-1], -1)               # (..., T)
    valid = ids >= 0
    safe = ids.clamp(min=0)
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, safe, valid)   # (..., V)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature``. Temperature 0 is greedy: only the argmax survives."""
    _check_logits(logits)
    temperature = check_temperature(temperature)
    if temperature == 0.0:
        keep = F.one_hot(logits.argmax(-1), logits.shape[-1]).bool()
        return logits.masked_fill(~keep, float("-inf"))
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep the ``top_k`` largest logits (and any tied with the k-th). ``None``/0 or k >= V: no-op."""
    _check_logits(logits)
    top_k = check_top_k(top_k)
    if top_k is None or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]             # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float | None) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability sums to at
    least ``top_p``; the token that crosses the threshold is kept and the top token always is.
    ``None``/1.0: no-op."""
    _check_logits(logits)
    top_p = check_top_p(top_p)
    if top_p is None or top_p >= 1.0:
        return logits
    sorted_logits, sorted_idx = torch.sort(logits, dim=-1, descending=True)      # (..., V)
    probs = F.softmax(sorted_logits.float(), dim=-1)
    before = probs.cumsum(-1) - probs              # probability of the tokens ranked above each one
    remove_sorted = before >= top_p                # already enough mass above it: drop it
    remove_sorted[..., 0] = False                  # at least one token survives
    remove = remove_sorted.scatter(-1, sorted_idx, remove_sorted)   # back to vocabulary order
    return logits.masked_fill(remove, float("-inf"))


def min_p_filter(logits: torch.Tensor, min_p: float | None) -> torch.Tensor:
    """Keep tokens whose probability is at least ``min_p`` times the top token's. ``None``/0: no-op."""
    _check_logits(logits)
    min_p = check_min_p(min_p)
    if not min_p:
        return logits
    probs = F.softmax(logits.float(), dim=-1)
    threshold = min_p * probs.max(dim=-1, keepdim=True).values
    return logits.masked_fill(probs < threshold, float("-inf"))


def process_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None, min_p: float | None = None) -> torch.Tensor:
    """Temperature, top-k, top-p and min-p in order: the logits that ``sample_next_token`` samples from."""
    logits = apply_temperature(logits, temperature)
    return min_p_filter(top_p_filter(top_k_filter(logits, top_k), top_p), min_p)


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, min_p: float | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``logits`` (..., V) -> LongTensor (...). Temperature 0 is argmax."""
    _check_logits(logits)
    if check_temperature(temperature) == 0.0:
        return logits.argmax(dim=-1)                                # greedy: no filtering needed
    logits = process_logits(logits, temperature, top_k, top_p, min_p)
    probs = F.softmax(logits.float(), dim=-1)
    flat = probs.reshape(-1, probs.shape[-1])
    return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])
