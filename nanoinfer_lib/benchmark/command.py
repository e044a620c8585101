"""What the benchmark commands share around their measurements: a parser whose first option is
``--out`` (the results file, checked to be a file name that can be written) and whose last is
``--quick`` (smaller defaults: a smoke test), and the results file written with one line that says
where it went.

    p = command.parser("serving", "One at a time, static batching and the Engine ...")
    p.add_argument("--requests", type=int, default=None, help="...")     # the command's own options
    args = command.parse(p, argv, "defaults of 8 requests ...: a smoke test")
    n = command.default(args, args.requests, 8, 64)                         # 8 with --quick, else 64
    ...
    command.save(args, "serving", data, argv, repeats=rounds)
"""
from __future__ import annotations

import argparse

from .. import cli, validate
from .results import command_line, make_results, write_results


def parser(name: str, description: str) -> cli.ArgumentParser:
    """The parser of ``python -m nanoinfer_lib.benchmark NAME``, with ``--out`` (required)."""
    p = cli.ArgumentParser(prog=f"python -m nanoinfer_lib.benchmark {name}", description=description)
    p.add_argument("--out", required=True, help="JSON file to write")
    return p


def parse(p: cli.ArgumentParser, argv: list[str] | None, quick_help: str) -> argparse.Namespace:
    """``argv`` parsed after adding ``--quick`` (``quick_help`` says what it changes), with ``--out``
    checked to name a file."""
    p.add_argument("--quick", action="store_true", help=quick_help)
    args = p.parse_args(argv)
    validate.output_file("--out", args.out)
    return args


def default(args: argparse.Namespace, given, small, full):
    """``given`` when the option was given (not None); else ``small`` with ``--quick``, ``full`` without."""
    return given if given is not None else small if args.quick else full


def save(args: argparse.Namespace, name: str, data: dict, argv: list[str] | None, repeats: int,
         extra_versions: tuple[str, ...] = ()) -> dict:
    """Write ``data`` (measured on the CPU, with its ``seconds``) as NAME's results file to ``--out``
    and print where it went; returns the file's contents."""
    out = make_results(name, data, device="cpu", command=command_line([name, *(argv or [])]), repeats=repeats,
                       extra_versions=extra_versions)
    write_results(args.out, out)
    print(f"wrote {args.out} ({out['hardware']['device_name']}, {data['seconds']} s)")
    return out
