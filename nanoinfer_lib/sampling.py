"""Logit processors and sampling, applied in Hugging Face's order:

repetition penalty -> temperature -> top-k -> top-p -> min-p -> softmax -> sample.

Each processor takes logits (..., V) and returns new logits with removed entries set to -inf, so
every step can be plotted on its own. Temperature and the softmax are computed in float32 whatever
the model's dtype (fp16 logits divided by a small temperature would overflow), so
``apply_temperature`` returns float32 logits.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from . import validate
from .tokenizer import check_token_ids

MAX_SEED = 2**64 - 1      # the largest seed torch.Generator.manual_seed takes

TINY_TEMPERATURE = 1e-20     # below it apply_temperature shifts each row first (no overflow to inf)


def _logits(logits) -> torch.Tensor:
    validate.tensor("logits", logits, floating=True)
    if logits.dim() == 0 or logits.shape[-1] == 0:
        raise ValueError(f"logits must have shape (..., V) with V >= 1, got {tuple(logits.shape)}")
    return logits


def apply_repetition_penalty(logits: torch.Tensor, input_ids, penalty: float | None) -> torch.Tensor:
    """For tokens already in ``input_ids`` (T,) or (..., T) matching the leading dims of ``logits``:
    divide positive logits by ``penalty`` and multiply negative ones (CTRL's rule, as Hugging Face).
    Ids -1 (padding) are ignored; others must lie in [0, V). ``None``/1.0: no-op (the ids are
    checked all the same, so a wrong history fails whatever the penalty)."""
    _logits(logits)
    penalty = validate.optional_number("repetition_penalty", penalty, 0.0, low_open=True)
    V = logits.shape[-1]
    ids = torch.as_tensor(input_ids) if isinstance(input_ids, torch.Tensor) else \
        check_token_ids("input_ids", input_ids, V, max_dim=logits.dim())
    if ids.is_floating_point() or ids.is_complex() or ids.dtype == torch.bool:
        raise TypeError(f"input_ids must be integer token ids, got a tensor of dtype {ids.dtype}")
    if ids.dim() == 1 and logits.dim() > 1:
        ids = ids.expand(*logits.shape[:-1], ids.shape[0])           # one history for every row
    if ids.dim() != logits.dim() or ids.shape[:-1] != logits.shape[:-1]:
        raise ValueError(f"input_ids must have shape (T,) or {(*logits.shape[:-1], 'T')} to match logits "
                         f"{tuple(logits.shape)}, got {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < -1 or int(ids.max()) >= V):
        raise ValueError(f"input_ids must lie in [0, {V}) (or be -1 for padding), "
                         f"got min {int(ids.min())} and max {int(ids.max())}")
    if penalty is None or penalty == 1.0:
        return logits
    ids = ids.to(logits.device).long()
    seen = torch.zeros_like(logits, dtype=torch.bool).scatter_(-1, ids.clamp(min=0), ids >= 0)   # (..., V)
    penalised = torch.where(logits > 0, logits / penalty, logits * penalty)
    return torch.where(seen, penalised, logits)


def apply_temperature(logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """``logits / temperature`` in float32. Temperature 0 is greedy: only the argmax survives.

    A temperature below ``TINY_TEMPERATURE`` could overflow the division to +inf (and one below
    float32's range would divide by 0), so each row is first shifted to a top logit of 0 (the
    softmax is unchanged) and divided by at least the smallest normal float32: such a temperature
    is greedy in effect, with ties kept."""
    _logits(logits)
    temperature = validate.number("temperature", temperature, 0.0)
    logits = logits.float()
    if temperature == 0.0:
        keep = F.one_hot(logits.argmax(-1), logits.shape[-1]).bool()
        return logits.masked_fill(~keep, float("-inf"))
    if temperature < TINY_TEMPERATURE:
        top = logits.amax(-1, keepdim=True)
        logits = logits - torch.where(torch.isfinite(top), top, 0.0)                # (..., V) top at 0
        return logits / max(temperature, torch.finfo(torch.float32).tiny)
    return logits if temperature == 1.0 else logits / temperature


def top_k_filter(logits: torch.Tensor, top_k: int | None) -> torch.Tensor:
    """Keep the ``top_k`` largest logits (and any tied with the k-th). ``None``/0 or k >= V: no-op."""
    _logits(logits)
    top_k = validate.optional_integer("top_k", top_k, 0)
    if not top_k or top_k >= logits.shape[-1]:
        return logits
    kth = torch.topk(logits, top_k, dim=-1).values[..., -1:]             # (..., 1)
    return logits.masked_fill(logits < kth, float("-inf"))


def top_p_filter(logits: torch.Tensor, top_p: float | None) -> torch.Tensor:
    """Nucleus filter: keep the smallest set of most likely tokens whose probability sums to at
    least ``top_p``; the token that crosses the threshold is kept and the top token always is.
    ``None``/1.0: no-op."""
    _logits(logits)
    top_p = validate.optional_number("top_p", top_p, 0.0, 1.0)
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
    _logits(logits)
    min_p = validate.optional_number("min_p", min_p, 0.0, 1.0)
    if not min_p:
        return logits
    probs = F.softmax(logits.float(), dim=-1)
    threshold = min_p * probs.max(dim=-1, keepdim=True).values
    return logits.masked_fill(probs < threshold, float("-inf"))


def process_logits(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                   top_p: float | None = None, min_p: float | None = None) -> torch.Tensor:
    """Temperature, top-k, top-p and min-p in order: the float32 logits ``sample_next_token`` samples from."""
    logits = apply_temperature(logits, temperature)
    return min_p_filter(top_p_filter(top_k_filter(logits, top_k), top_p), min_p)


def check_finite(logits: torch.Tensor) -> torch.Tensor:
    """Refuse logits that cannot define a distribution: a NaN anywhere, or a row without a finite
    logit (all -inf). ``+inf`` means certain: such a row becomes uniform over its ``+inf`` entries.
    Costs one host synchronisation on a GPU."""
    top = logits.amax(-1)     # (...,) one pass: NaN if a NaN, -inf if no usable entry, +inf if a +inf
    low, high = torch.stack(torch.aminmax(top)).tolist()         # NaN if any row is NaN
    if math.isnan(low) or math.isnan(high):
        raise ValueError("logits contain NaN: the model's output is broken (check its weights and dtype)")
    if low == float("-inf"):
        raise ValueError("a row of logits has no finite entry (every token removed or -inf): nothing to sample")
    if high == float("inf"):
        posinf = logits == float("inf")
        certain = posinf.any(-1, keepdim=True)
        logits = torch.where(certain, torch.where(posinf, 0.0, float("-inf")), logits)
    return logits


@dataclass(frozen=True)
class SamplingSettings:
    """The sampling settings, checked once when made; ``generate``, the explorer, speculative
    decoding and the serving engine's ``SamplingParams`` all share this one definition.

    ``temperature`` a finite number >= 0 (0 is greedy); ``top_k`` None or an int >= 0 (None and 0
    are off); ``top_p`` and ``min_p`` None or in [0, 1] (None, 1.0 and None, 0 are off);
    ``repetition_penalty`` None or > 0 (None and 1.0 are off). Every one is checked whatever the
    temperature."""
    temperature: float = 1.0
    top_k: int | None = None
    top_p: float | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None

    def __post_init__(self) -> None:
        checked = dict(temperature=validate.number("temperature", self.temperature, 0.0),
                       top_k=validate.optional_integer("top_k", self.top_k, 0),
                       top_p=validate.optional_number("top_p", self.top_p, 0.0, 1.0),
                       min_p=validate.optional_number("min_p", self.min_p, 0.0, 1.0),
                       repetition_penalty=validate.optional_number("repetition_penalty", self.repetition_penalty,
                                                                   0.0, low_open=True))
        for name, value in checked.items():
            object.__setattr__(self, name, value)          # frozen: normalised values set once, here

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0

    @property
    def penalises(self) -> bool:
        return self.repetition_penalty is not None and self.repetition_penalty != 1.0

    def process(self, logits: torch.Tensor) -> torch.Tensor:
        """Temperature, top-k, top-p and min-p: the float32 logits that ``sample`` draws from."""
        return process_logits(logits, self.temperature, self.top_k, self.top_p, self.min_p)

    def sample(self, logits: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
        """One token id per row of ``logits`` (..., V) -> LongTensor (...); see ``sample_next_token``."""
        logits = check_finite(logits.float())
        if self.greedy:
            return logits.argmax(dim=-1)                            # greedy: no filtering needed
        # shift so the top logit is 0: a tiny temperature can then only push others to -inf, never to inf
        probs = F.softmax(self.process(logits - logits.max(dim=-1, keepdim=True).values), dim=-1)
        flat = probs.reshape(-1, probs.shape[-1])
        return torch.multinomial(flat, 1, generator=generator).reshape(probs.shape[:-1])


def sample_next_token(logits: torch.Tensor, temperature: float = 1.0, top_k: int | None = None,
                      top_p: float | None = None, min_p: float | None = None,
                      generator: torch.Generator | None = None) -> torch.Tensor:
    """One token id per row of ``logits`` (..., V) -> LongTensor (...). Temperature 0 is argmax.
    Every argument is checked whatever the temperature; NaN logits are a ValueError (see ``check_finite``)."""
    _logits(logits)
    settings = SamplingSettings(temperature, top_k, top_p, min_p)
    _, generator = check_seed_and_generator(None, generator)
    return settings.sample(logits, generator)


# ---- seeds and generators: the two ways to make sampling reproducible ----------------------------

def check_seed(name: str, value) -> int | None:
    """None, or an int in [0, 2**64 - 1] (what ``torch.Generator.manual_seed`` takes)."""
    return validate.optional_integer(name, value, 0, MAX_SEED)


def check_seed_and_generator(seed_value, generator) -> tuple[int | None, torch.Generator | None]:
    """The rule for the two ways to make sampling reproducible: give ``seed`` or ``generator``, not both."""
    s = check_seed("seed", seed_value)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, got {validate.given(generator)}")
    if s is not None and generator is not None:
        raise ValueError("give seed or generator, not both: a generator already carries its own seed")
    return s, generator


def make_generator(seed_value: int | None, generator: torch.Generator | None, device) -> torch.Generator | None:
    """The generator to sample with: ``generator`` itself, a new one seeded with ``seed_value`` on
    ``device``, or None (torch's global generator)."""
    if generator is not None:
        return generator
    if seed_value is None:
        return None
    return torch.Generator(device=device).manual_seed(seed_value)
