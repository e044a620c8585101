"""Results files: one schema for every benchmark command, and a reader that also loads the files
committed before the schema existed.

    {"schema": "nanoinfer-results/2", "benchmark": "kv-sweep", "complete": true,
     "hardware": {device, device_name, cpu, cpu_features, cpu_count, threads, gpu, driver, ...},
     "versions": {python, torch, nanoinfer_lib, transformers?}, "library_commit": "1a2b3c4" | null,
     "date": "2026-12-02T10:00:00+00:00", "command": "python -m nanoinfer_lib.benchmark ...",
     "repeats": 3, "data": {...what the command measured...}}
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
# files written before the schema: the commit that produced them (from the repository's history)
LEGACY_COMMITS = {"kv_sweep_gpu.json": "5597665", "perf_gpu.json": "5597665", "vs_hf_cpu.json": "c0ebd94"}


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
    """A results file in the current schema (legacy files converted, with ``"legacy": True``), or
    None when there is none. A file that is neither is a ValueError naming it."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        raw = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        raise ValueError(f"{path.name} is not a readable JSON results file: {e}") from e
    if isinstance(raw, dict) and raw.get("schema") == SCHEMA:
        return raw
    legacy = _from_legacy(raw, path.name)
    if legacy is None:
        raise ValueError(f"{path.name} is not a NanoInfer results file (no 'schema': {SCHEMA!r})")
    return legacy


def _from_legacy(raw, name: str) -> dict | None:
    if not isinstance(raw, dict):
        return None
    if "meta" in raw and "runs" in raw:                          # kv-sweep, before the schema
        meta = raw["meta"]
        return _legacy("kv-sweep", meta, meta.get("date"), meta.get("command"), {"runs": raw["runs"]}, name)
    if "info" in raw and "precision" in raw:                     # perf, before the schema
        data = {k: v for k, v in raw.items() if k not in ("info", "date", "command")}
        return _legacy("perf", raw["info"], raw.get("date"), raw.get("command"), data, name)
    if isinstance(raw.get("runs"), list) and raw["runs"] and "machine" in raw["runs"][0]:   # vs-hf
        first = raw["runs"][0]
        return _legacy("vs-hf", first["machine"], first["machine"].get("date"), first.get("command"),
                       {"runs": raw["runs"]}, name)
    return None


def _legacy(benchmark: str, hardware: dict, date, command, data: dict, name: str) -> dict:
    return {"schema": SCHEMA, "benchmark": benchmark, "complete": True, "legacy": True,
            "hardware": dict(hardware, cpu=hardware.get("cpu")), "versions": {"torch": hardware.get("torch")},
            "library_commit": LEGACY_COMMITS.get(name), "date": date, "command": command, "repeats": None,
            "data": data}
