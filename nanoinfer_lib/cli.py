"""What every command line of the library shares: a bad argument or a bad file ends in one line on
stderr and a non-zero exit status, never a Python traceback.

- ``ArgumentParser``: argparse whose errors are one line (``PROG: error: ... (see PROG --help)``),
  exit status 2, instead of the usage block and the message.
- ``guarded(main, *args)``: runs a command's ``main`` and turns the library's errors for bad input
  (``ValueError``, ``TypeError``, ``OSError``, a missing optional package) into ``error: ...``, exit 2;
  Ctrl-C exits 130. Anything else is a bug and keeps its traceback.
"""
from __future__ import annotations

import argparse
import sys
from typing import Callable

BAD_INPUT = (ValueError, TypeError, OSError, ImportError)


class ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {one_line(message)} (see {self.prog} --help)\n")


def one_line(message) -> str:
    return " ".join(str(message).split())


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
