"""Argument primitives and their messages: a bad type is a ``TypeError``, a bad value a ``ValueError``,
and each message names the argument, what was given and what is allowed. The rules of the library's
own types live with them (``model.check_model``, ``tokenizer.check_token_ids``, ``sampling.check_seed``, ...).

- An int is a Python or NumPy integer. ``True``/``False`` are not ints here, and neither is ``3.0``.
- A number is a finite real: an int, a float or a NumPy scalar (not a bool, not NaN or +-inf).
- A flag is ``True`` or ``False`` (NumPy bools too), nothing else.
- A dtype is a floating-point ``torch.dtype`` or one of the names in ``DTYPES``; a device is one that
  this machine has (``"cuda"`` without a GPU is a ValueError, not torch's AssertionError).
"""
from __future__ import annotations

import math
import numbers
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

# dtype names accepted on command lines and in results files; the one table of them
DTYPES = {"float32": torch.float32, "float16": torch.float16, "bfloat16": torch.bfloat16}


def given(value) -> str:
    """What was given, for a message: its type and a short repr."""
    text = repr(value)
    return f"{type(value).__name__} {text[:60] + '...' if len(text) > 60 else text}"


def is_int(value) -> bool:
    """A Python or NumPy integer, not a bool."""
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
    if not is_int(value):
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


def tensor(name: str, value, dims: tuple[int, ...] | None = None, floating: bool = False) -> torch.Tensor:
    """A tensor, optionally with one of the allowed numbers of dimensions and a floating dtype."""
    kind = "a floating-point tensor" if floating else "a tensor"
    if not isinstance(value, torch.Tensor) or (floating and not value.is_floating_point()):
        got = f"a tensor of dtype {value.dtype}" if isinstance(value, torch.Tensor) else given(value)
        raise TypeError(f"{name} must be {kind}, got {got}")
    if dims is not None and value.dim() not in dims:
        raise ValueError(f"{name} must have {' or '.join(map(str, dims))} dimensions, got shape {tuple(value.shape)}")
    return value
