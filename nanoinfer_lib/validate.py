"""The one home of argument rules and their messages; every public entry point checks here.
(Over 300 lines on purpose: one file holds every rule, so no rule is written twice.)

Rules (DESIGN.md, Errors): a bad type is a ``TypeError``, a bad value a ``ValueError``, and each
message names the argument, what was given and what is allowed.

- An int is a Python or NumPy integer. ``True``/``False`` are not ints here, and neither is ``3.0``.
- A number is a finite real: an int, a float or a NumPy scalar (not a bool, not NaN or +-inf).
- A flag is ``True`` or ``False`` (NumPy bools too), nothing else.
- Token ids are integer-typed (ints, or an integer tensor) and lie in ``[0, vocab_size)``.
- A seed is an int in ``[0, 2**64 - 1]`` (what ``torch.Generator.manual_seed`` takes); ``seed`` and
  ``generator`` together are refused.
- A dtype is a floating-point ``torch.dtype`` or one of the names in ``DTYPES``; a device is one that
  this machine has (``"cuda"`` without a GPU is a ValueError, not torch's AssertionError).
- A tokenizer is anything with ``encode``, ``decode`` and an int ``eot_token`` (``tokenizer_with`` adds
  what a function needs beyond that, such as ``vocab_size`` or ``token_bytes``).
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

MAX_SEED = 2**64 - 1
# dtype names accepted on command lines and in results files; the one table of them
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def given(value) -> str:
    """What was given, for a message: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def _is_int(value) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, (bool, np.bool_))


def _span(kind: str, low, high, low_open: bool = False, high_open: bool = False) -> str:
    if low is not None and high is not None:
        return f"{kind} in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{kind} {'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{kind} {'<' if high_open else '<='} {high}"
    return kind


def integer(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """``value`` as a Python int, if it is an int in ``[low, high]`` (either end may be None)."""
    allowed = _span("an int", low, high)
    if not _is_int(value):
        raise TypeError(f"{name} must be {allowed}, got {given(value)}")
    value = int(value)
    if (low is not None and value < low) or (high is not None and value > high):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def optional_integer(name: str, value, low: int | None = None, high: int | None = None) -> int | None:
    if value is None:
        return None
    try:
        return integer(name, value, low, high)
    except (TypeError, ValueError) as e:   # say that None is allowed too
        raise type(e)(str(e).replace(" must be ", " must be None or ", 1)) from None


def number(name: str, value, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False) -> float:
    """``value`` as a float, if it is a finite real number in the given range."""
    allowed = _span("a finite number", low, high, low_open, high_open)
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be {allowed}, got {given(value)}")
    value = float(value)
    if (not math.isfinite(value) or (low is not None and (value < low or (low_open and value == low)))
            or (high is not None and (value > high or (high_open and value == high)))):
        raise ValueError(f"{name} must be {allowed}, got {value}")
    return value


def optional_number(name: str, value, low: float | None = None, high: float | None = None,
                    low_open: bool = False, high_open: bool = False) -> float | None:
    if value is None:
        return None
    try:
        return number(name, value, low, high, low_open, high_open)
    except (TypeError, ValueError) as e:
        raise type(e)(str(e).replace(" must be ", " must be None or ", 1)) from None


def flag(name: str, value) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be True or False, got {given(value)}")
    return bool(value)


def choice(name: str, value, choices: Iterable):
    choices = list(choices)
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")
    return value


def text(name: str, value) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {given(value)}")
    return value


def texts(name: str, value) -> list[str]:
    """A list or tuple of strings (a single str is refused: it is a common slip)."""
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise TypeError(f"{name} must be a list of strings, got {given(value)}")
    for i, item in enumerate(value):
        text(f"{name}[{i}]", item)
    return list(value)


def seed(name: str, value) -> int | None:
    return optional_integer(name, value, 0, MAX_SEED)


def seed_and_generator(seed_value, generator) -> tuple[int | None, torch.Generator | None]:
    """The rule for the two ways to make sampling reproducible: give ``seed`` or ``generator``, not both."""
    s = seed("seed", seed_value)
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be None or a torch.Generator, got {given(generator)}")
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


def dtype(name: str, value) -> torch.dtype:
    """A floating-point ``torch.dtype`` or one of the names in ``DTYPES`` (weights, caches and
    activations are floats: an integer dtype would truncate them)."""
    if isinstance(value, str):
        return DTYPES[choice(name, value, DTYPES)]
    if not isinstance(value, torch.dtype):
        raise TypeError(f"{name} must be a torch.dtype or one of {list(DTYPES)}, got {given(value)}")
    if not value.is_floating_point:
        raise ValueError(f"{name} must be a floating-point dtype such as {list(DTYPES)}, got {value}")
    return value


def device(name: str, value) -> torch.device:
    """A ``torch.device``, a device string (``"cpu"``, ``"cuda"``, ``"cuda:1"``, ``"mps"``) or a CUDA
    index, that exists on this machine."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, torch.device, numbers.Integral)):
        raise TypeError(f"{name} must be a torch.device or a string such as 'cpu' or 'cuda', got {given(value)}")
    try:
        d = torch.device(f"cuda:{int(value)}" if isinstance(value, numbers.Integral) else value)
    except RuntimeError:
        raise ValueError(f"{name} must be a device such as 'cpu', 'cuda' or 'cuda:0', got {value!r}") from None
    if d.type == "cuda" and (not torch.cuda.is_available() or (d.index or 0) >= torch.cuda.device_count()):
        have = f"{torch.cuda.device_count()} CUDA device(s)" if torch.cuda.is_available() else "no CUDA device"
        raise ValueError(f"{name} is {str(d)!r}, but this machine has {have}: use 'cpu'")
    if d.type == "mps" and not torch.backends.mps.is_available():
        raise ValueError(f"{name} is 'mps', but MPS is not available on this machine: use 'cpu'")
    return d


def path(name: str, value) -> Path:
    """A file path: a str or an ``os.PathLike`` (not bytes, not None)."""
    if not isinstance(value, (str, os.PathLike)):
        raise TypeError(f"{name} must be a file path (str or pathlib.Path), got {given(value)}")
    return Path(value)


def output_file(name: str, value) -> Path:
    """A path a command may write its file to (checked before the work, not after): not a directory."""
    p = path(name, value)
    if p.is_dir():
        raise IsADirectoryError(f"{name} {p} is a directory: give a file name inside it")
    return p


def dtype_name(value: torch.dtype) -> str:
    return str(value).replace("torch.", "")


def token_ids(name: str, value, vocab_size: int, max_dim: int = 2) -> torch.Tensor:
    """Token ids as a LongTensor of their own shape: an integer tensor, an int, or (nested) lists of
    ints. Floats, bools and anything else are a TypeError; ids outside [0, vocab_size) a ValueError."""
    allowed = f"token ids (ints or an integer tensor) in [0, {vocab_size})"
    ids = _id_tensor(name, value, allowed)
    if ids.dim() > max_dim:
        raise ValueError(f"{name} must have at most {max_dim} dimensions, got shape {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"{name} must be {allowed}, got min {int(ids.min())} and max {int(ids.max())}")
    return ids.long()


def _id_tensor(name: str, value, allowed: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be {allowed}, got a tensor of dtype {value.dtype}")
        return value
    lists = _int_lists(name, value, allowed)
    try:
        return torch.tensor(lists, dtype=torch.long)
    except ValueError:     # torch: "expected sequence of length 2 at dim 1 (got 1)"
        raise ValueError(f"{name} must be a rectangular list of token ids (every row the same length), "
                         f"got {given(value)}") from None


def _int_lists(name: str, value, allowed: str):
    if _is_int(value):
        if not -2**63 <= int(value) < 2**63:       # beyond int64: torch would say "Overflow"
            raise ValueError(f"{name} must be {allowed}, got {int(value)}")
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_int_lists(name, v, allowed) for v in value]
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
        return _int_lists(name, value.tolist(), allowed)
    raise TypeError(f"{name} must be {allowed}, got {given(value)}")


def encoded(name: str, ids, vocab_size: int) -> list[int]:
    """What a tokenizer made of the text ``name``: a non-empty list of ids in the model's vocabulary
    (a tokenizer that does not fit the model is named here, not deep inside torch)."""
    ids = _id_tensor(f"the token ids of {name}", ids, "a list of int token ids").reshape(-1).tolist()
    if not ids:
        raise ValueError(f"{name} is empty: it encodes to no token (give at least one character)")
    if min(ids) < 0 or max(ids) >= vocab_size:
        raise ValueError(f"{name} encodes to ids from {min(ids)} to {max(ids)}, outside the model's vocabulary "
                         f"[0, {vocab_size}): use the model's own tokenizer")
    return ids


def token_id_set(name: str, value, vocab_size: int) -> set[int]:
    """``None`` (empty), one id, or an iterable of ids (stop tokens): a set of ints in range."""
    if value is None:
        return set()
    if isinstance(value, (str, bytes, dict)):
        raise TypeError(f"{name} must be None, a token id or a list of token ids, got {given(value)}")
    if isinstance(value, torch.Tensor) or _is_int(value):
        ids = token_ids(name, value, vocab_size, max_dim=1).reshape(-1).tolist()
    elif isinstance(value, Iterable):
        ids = token_ids(name, list(value), vocab_size, max_dim=1).tolist()
    else:
        raise TypeError(f"{name} must be None, a token id or a list of token ids, got {given(value)}")
    return set(ids)


def tensor(name: str, value, dims: tuple[int, ...] | None = None, floating: bool = False) -> torch.Tensor:
    """A tensor, optionally with one of the allowed numbers of dimensions and a floating dtype."""
    kind = "a floating-point tensor" if floating else "a tensor"
    if not isinstance(value, torch.Tensor) or (floating and not value.is_floating_point()):
        got = f"a tensor of dtype {value.dtype}" if isinstance(value, torch.Tensor) else given(value)
        raise TypeError(f"{name} must be {kind}, got {got}")
    if dims is not None and value.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(value.shape)}")
    return value


def tokenizer(name: str, value):
    """Anything with ``encode`` and ``decode`` methods and an int ``eot_token``, like ``nanoinfer_lib.Tokenizer``."""
    return tokenizer_with(name, value)


def tokenizer_with(name: str, value, *attributes: str):
    """A tokenizer (see ``tokenizer``) that also has ``attributes`` (e.g. ``"vocab_size"``, ``"token_bytes"``)."""
    needed = ("encode", "decode", "eot_token", *attributes)
    missing = [a for a in needed if not hasattr(value, a)]
    if value is None or missing or not (callable(value.encode) and callable(value.decode)):
        lacks = f" (it has no {', '.join(missing)})" if value is not None and missing else ""
        raise TypeError(f"{name} must be a tokenizer with {', '.join(needed[:-1])} and {needed[-1]} "
                        f"(nanoinfer_lib.Tokenizer), got {given(value)}{lacks}")
    integer(f"{name}.eot_token", value.eot_token, 0)
    return value
