"""``SamplingParams``: what one request asks for. The sampling rules themselves (temperature, top-k,
top-p, min-p, repetition penalty, their checks and their order) are ``sampling.SamplingSettings``;
this subclass adds only what a served request needs beyond them: how many tokens, when to stop,
and a seed of its own."""
from __future__ import annotations

from dataclasses import dataclass

from .. import validate
from ..sampling import SamplingSettings, check_seed


@dataclass(frozen=True)
class SamplingParams(SamplingSettings):
    """The sampling settings of ``SamplingSettings`` (checked there, once) plus:

    ``max_new_tokens`` an int >= 1; ``stop_tokens`` None, one id or a list of ids (a token that ends
    the request and stays in its output, as in ``generate``; ids are checked against the model's
    vocabulary when the request is added); ``stop`` None, a string or a list of non-empty strings
    (the text ends before the first of them, which is left out, as OpenAI's API does); ``seed``
    None or an int: the request then samples from a generator of its own, so its text does not
    depend on the other requests in the batch. Greedy (``temperature=0``) is the default."""
    temperature: float = 0.0
    max_new_tokens: int = 64
    stop_tokens: tuple[int, ...] | None = None
    stop: tuple[str, ...] | None = None
    seed: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        checked = dict(max_new_tokens=validate.integer("max_new_tokens", self.max_new_tokens, 1),
                       stop_tokens=_stop_tokens(self.stop_tokens), stop=_stop_strings(self.stop),
                       seed=check_seed("seed", self.seed))
        for name, value in checked.items():
            object.__setattr__(self, name, value)          # frozen: normalised values set once, here


def _stop_tokens(value) -> tuple[int, ...] | None:
    """Sorted unique ids >= 0 (their upper bound, the vocabulary, is checked by ``Engine.add_request``)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes, dict)) or not (validate.is_int(value) or isinstance(value, (list, tuple, set))):
        raise TypeError(f"stop_tokens must be None, a token id or a list of token ids, got {type(value).__name__}")
    items = [value] if validate.is_int(value) else list(value)
    ids = {validate.integer(f"stop_tokens[{i}]", v, 0) for i, v in enumerate(items)}
    return tuple(sorted(ids)) or None


def _stop_strings(value) -> tuple[str, ...] | None:
    if value is None:
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, (list, tuple)):
        raise TypeError(f"stop must be None, a string or a list of strings, got {type(value).__name__}")
    for i, s in enumerate(items):
        if not isinstance(s, str) or not s:
            raise (TypeError if not isinstance(s, str) else ValueError)(
                f"stop[{i}] must be a non-empty string, got {s!r}")
    return tuple(dict.fromkeys(items)) or None
