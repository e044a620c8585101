"""What every command line of the library shares: a bad argument or a bad file ends in one line on
stderr and a non-zero exit status, never a Python traceback.

- ``ArgumentParser``: argparse whose errors are one line (``PROG: error: ... (see PROG --help)``),
  exit status 2, instead of the usage block and the message.
- ``guarded(main, *args)``: runs a command's ``main`` and turns the library's errors for bad input
  (``ValueError``, ``TypeError``, ``OSError``, a missing optional package) into ``error: ...``, exit 2;
  Ctrl-C exits 130. Anything else is a bug and keeps its traceback.
- ``integers(name, text, low, high)``: an option's comma-separated whole numbers (``--sweep 4,16``),
  each checked like ``validate.integer``, so a bad one is an error that names the option.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

from . import validate

BAD_INPUT = (ValueError, TypeError, OSError, ImportError)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(message) -> str:
    return " ".join(str(message).split())


def integers(name: str, text: str, low: int | None = None, high: int | None = None) -> tuple[int, ...]:
    """``"4,16"`` -> ``(4, 16)``: whole numbers separated by commas (spaces around them and empty items
    ignored), each in ``[low, high]``; anything else raises ``validate.integer``'s TypeError or
    ValueError naming ``name``."""
    return tuple(validate.integer(name, int(v) if v.strip().isdecimal() else v, low, high)
                 for v in text.split(",") if v.strip())


def guarded(main: Callable[..., object], *args) -> int:
    """``main(*args)``'s exit status (0 when it returns something that is not an int)."""
    try:
        status = main(*args)
    except BAD_INPUT as e:
        hint = " (an optional package: pip install it)" if isinstance(e, ModuleNotFoundError) and e.name else ""
        print(f"error: {one_line(e)}{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\n[interrupted]", file=sys.stderr)
        return 130
    return status if isinstance(status, int) else 0
