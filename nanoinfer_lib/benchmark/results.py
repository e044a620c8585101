"""Results files: one schema for every benchmark command.

    {"schema": "nanoinfer-results/2", "benchmark": "kv-sweep", "complete": true,
     "hardware": {device, device_name, cpu, cpu_features, cpu_count, threads, gpu, driver, ...},
     "versions": {python, torch, nanoinfer_lib, transformers?}, "library_commit": "1a2b3c4" | null,
     "date": "2026-12-02T10:00:00+00:00", "command": "python -m nanoinfer_lib.benchmark ...",
     "repeats": 3, "data": {...what the command measured...}}

A reference file measured with an older version of the library than the code that reads it carries
``"legacy": true`` (its label says so, and ``perf.load_perf`` leaves out its figures known to be wrong).
"""
from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

from ..paths import BUNDLED_CHECKPOINT, PACKAGE, RESULTS, atomic_write_text
from .hardware import device_info, versions

SCHEMA = "nanoinfer-results/2"
KV_SWEEP_GPU_FILE = RESULTS / "kv_sweep_gpu.json"
PERF_GPU_FILE = RESULTS / "perf_gpu.json"
VS_HF_CPU_FILE = RESULTS / "vs_hf_cpu.json"


def library_commit() -> str | None:
    """The git commit of the library's checkout (None for an installed copy without git)."""
    try:
        out = subprocess.run(["git", "-C", str(PACKAGE), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def checkpoint_sha256(path: str | Path | None = None) -> str:
    """SHA-256 of a checkpoint file (default: the bundled one), to tell which weights a file used."""
    return hashlib.sha256(Path(path or BUNDLED_CHECKPOINT).read_bytes()).hexdigest()


def command_line(argv: list[str] | None = None) -> str:
    """The command that is running, with file paths cut to their names (no local paths in files)."""
    args = sys.argv[1:] if argv is None else argv
    shown = [Path(a).name if os.sep in a else a for a in args]
    return "python -m nanoinfer_lib.benchmark " + " ".join(shown)


def make_results(benchmark: str, data: dict, device="cpu", command: str | None = None, repeats: int | None = None,
                 complete: bool = True, extra_versions: tuple[str, ...] = ()) -> dict:
    return {"schema": SCHEMA, "benchmark": benchmark, "complete": complete, "hardware": device_info(device),
            "versions": versions(("nanoinfer_lib", "torch", *extra_versions)), "library_commit": library_commit(),
            "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "command": command, "repeats": repeats, "data": data}


def write_results(path: str | Path, results: dict) -> Path:
    """Write atomically (a temporary file renamed into place), so a run cut short leaves the last
    complete write, never half a file."""
    return atomic_write_text(path, json.dumps(results, indent=1) + "\n")


def read_results(path: str | Path) -> dict | None:
    """A results file in the current schema, or None when there is none. Any other file is a
    ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path.name} is not a readable JSON results file: {e}") from e
    if not (isinstance(raw, dict) and raw.get("schema") == SCHEMA):
        raise ValueError(f"{path.name} is not a NanoInfer results file (no 'schema': {SCHEMA!r})")
    return raw


def read_benchmark(path: str | Path, benchmark: str) -> dict | None:
    """``benchmark``'s results file as ``{"meta": hardware and provenance, "data": ...}``, None if absent;
    a ValueError if it holds another benchmark's results."""
    res = read_results(path)
    if res is None:
        return None
    if res["benchmark"] != benchmark:
        raise ValueError(f"{path} holds {res['benchmark']!r} results, not {benchmark}")
    meta = dict(res["hardware"], command=res["command"], date=res["date"], library_commit=res["library_commit"],
                legacy=res.get("legacy", False))
    return {"meta": meta, "data": res["data"]}
