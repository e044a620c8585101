"""What every chapter's self-checks share: the verdict they return, calling a learner's function
safely, reading an answer."""
from __future__ import annotations

import functools
from typing import Callable


class Verdict:
    """What a self-check returns: truthy when the answer is right (``.ok``). The check has already
    printed its message, so a notebook cell that ends with a check shows only that message, no
    ``True``/``False`` output."""

    def __init__(self, ok: bool):
        self.ok = bool(ok)

    def __bool__(self) -> bool:
        return self.ok

    def __repr__(self) -> str:
        return f"Verdict(ok={self.ok})"

    def _ipython_display_(self) -> None:      # shown in a notebook: nothing more than the message
        pass


def self_check(fn: Callable[..., bool]) -> Callable[..., Verdict]:
    """Turn a check's True/False into a ``Verdict``."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs) -> Verdict:
        return Verdict(fn(*args, **kwargs))
    return wrapper


def require_callable(fn, name: str) -> None:
    if not callable(fn):
        raise TypeError(f"{name} must be a function, got {type(fn).__name__}")


STUB = "replace the raise NotImplementedError with your code"


def call_learner(fn, args: tuple, where: str, unwritten: str | None = None,
                 hint: str = "", stub: str | None = None) -> tuple[bool, object]:
    """Call a learner's function with ``args``: (True, its answer), or (False, None) after printing
    why not, instead of a traceback: it raised (``✗ {where} raised Error: message{hint}``; with
    ``stub`` given, a NotImplementedError prints ``… not written yet: {stub}``), or, when
    ``unwritten`` is given, it returned None or ... (``… not written yet: {unwritten}``)."""
    try:
        got = fn(*args)
    except NotImplementedError as e:
        print(f"… not written yet: {stub}" if stub is not None else f"✗ {where} raised NotImplementedError: {e}{hint}")
        return False, None
    except Exception as e:  # a learner's bug: report it instead of a traceback
        print(f"✗ {where} raised {type(e).__name__}: {e}{hint}")
        return False, None
    if unwritten is not None and (got is None or got is ...):
        print(f"… not written yet: {unwritten}")
        return False, None
    return True, got


def learner_int(fn, *args) -> tuple[bool, object]:
    """Call a learner's function; report (instead of a traceback) when it raises or returns None."""
    ok, got = call_learner(fn, args, f"fn{args!r}".replace(",)", ")"))
    if not ok:
        return False, None
    if got is None:
        print("✗ your function returned None: fill it in and return an int")
        return False, None
    return True, got


def number_answer(answer, name: str) -> float | None:
    if answer is None or answer is ...:
        print(f"… not answered yet: replace the ... with your {name}")
        return None
    if isinstance(answer, bool) or not isinstance(answer, (int, float)):
        raise TypeError(f"answer must be a number, got {type(answer).__name__}")
    return float(answer)
