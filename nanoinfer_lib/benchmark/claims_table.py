"""The claims table's rows: a ``Claim`` each, built from a live comparison (``live_row``), an exact
figure (``exact_row``) or a reference file (``reference_row``), with the rule that decides its
verdict, and the table as text (``format_table``). ``claims.ClaimRunner`` measures what goes in them.

Live rows come from ``timing.compare`` (ABBA rounds; a t 95% interval of the ratio over the rounds;
the verdict is widened by the run's A/A noise, and by at least ``FLOOR``, so a ratio must clear the
claim by more than this machine's wobble and the drift between runs). A claimed band of speed-ups
("2-4x") is read as its lower end ("at least 2x"); a figure above the band is noted, not counted
against the claim. Exact figures (bytes, counts) get a verdict without noise. Rows read from a
reference file get a verdict only from an interval the file supports: its runs' times, or the
conservative range of at least ``MIN_RANGE_RUNS`` runs a side; a single figure is labelled
``REFERENCE`` and decides nothing.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .stats import median_coverage
from .timing import ratio_interval, verdict

NOISE = "machine noise"        # the verdict column of the A/A row: it calibrates, it claims nothing
REFERENCE = "reference only"   # a figure from a file without the spread to decide a claim
FLOOR = 0.05                   # live verdicts: widened by at least 5% either way (drifts between runs)
MIN_RANGE_RUNS = 6             # a file's [min, max] covers each median >= 95% from 6 runs a side


@dataclass
class Claim:
    """One row: the claim as the tutorial says it (and how the code reads it), the figure with its
    interval, the verdict, and where it was measured (a key of ``ClaimRunner.sources``)."""
    claim: str
    measured: str
    verdict: str
    where: str
    value: float | None = None
    interval: tuple[float, float] | None = None
    noise: tuple[float, float] | None = None
    detail: dict = field(default_factory=dict)     # e.g. the Comparison behind a live row

    def as_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("claim", "measured", "verdict", "where", "value", "interval", "noise")}
        d["detail"] = {k: (v.as_dict() if hasattr(v, "as_dict") else v) for k, v in self.detail.items()}
        return d


def ratio_text(v: float, iv: tuple[float, float] | None, unit: str = "x") -> str:
    """A ratio and its interval as a claim row prints it: ``1.23x [1.10-1.40]``."""
    return f"{v:.2f}{unit}" + (f" [{iv[0]:.2f}-{iv[1]:.2f}]" if iv is not None else "")


def above_band(iv: tuple[float, float] | None, top: float | None) -> str:
    return f" (above {top:g}x)" if top is not None and iv is not None and iv[0] > top else ""


def live_row(claim: str, c, where: str, low=None, high=None, scale: float = 1.0, what: str = "",
             top: float | None = None) -> Claim:
    """A row from a ``Comparison``; ``top``: the upper end of a claimed band, noted when exceeded."""
    iv = c.scaled_interval(scale)
    return Claim(claim, f"{ratio_text(c.ratio * scale, iv)}{above_band(iv, top)} {what}".strip(),
                 verdict(iv, low, high, c.noise, floor=FLOOR), where, c.ratio * scale, iv, c.noise, {"comparison": c})


def noise_row(claim: str, c, where: str) -> Claim:
    """The A/A row from a ``Comparison`` of a thing with itself: this machine's noise. It decides nothing (``NOISE``)."""
    lo, hi = c.interval
    return Claim(claim, f"{c.ratio:.3f}x [{lo:.3f}-{hi:.3f}]", NOISE, where, c.ratio, c.interval, c.noise,
                 {"comparison": c})


def exact_row(claim: str, value: float, where: str, low=None, high=None, text: str | None = None) -> Claim:
    """A row from an exact figure (bytes, counts): no noise, so a firm verdict."""
    return Claim(claim, text or f"{value:.3f}", verdict((value, value), low, high), where, value, (value, value))


def reference_row(claim: str, value: float, where: str, low=None, high=None, interval=None, how: str = "",
                  top: float | None = None) -> Claim:
    """A row from a reference file: a verdict from ``interval`` (what the file's runs support,
    described by ``how``), or none (``REFERENCE``) for a single figure."""
    text = ratio_text(value, interval) + f" ({how or 'one figure in the file, no spread'})" + above_band(interval, top)
    return Claim(claim, text, verdict(interval, low, high) if interval is not None else REFERENCE, where, value,
                 interval)


def file_sources(perf_ref: dict | None, kv_ref: dict | None, vs_hf: dict | None) -> dict[str, str]:
    """What a row's "where" means for each reference file that was read: hardware, date, commit."""
    sources = {}
    for name, ref in (("GPU file", perf_ref), ("GPU kv file", kv_ref)):
        if ref is not None:
            sources[name] = reference_label(ref.get("info") or ref.get("meta"), ref)
    if vs_hf is not None:
        hw = vs_hf["hardware"]
        sources["GPT-2 CPU file"] = (f"{hw['device_name']}, {hw.get('threads')} thread, GPT-2 124M shape "
                                     f"(random weights), vs_hf_cpu.json at commit {vs_hf['library_commit']}")
    return sources


def latency_ratio(num: dict, den: dict) -> tuple[float, tuple[float, float] | None, str]:
    """median(num)/median(den) of two latency dicts; with at least ``MIN_RANGE_RUNS`` runs a side,
    the conservative range min/max, max/min (else None: the range of fewer runs covers too rarely)."""
    key, n = "median_latency_ms", min(num.get("num_runs") or 1, den.get("num_runs") or 1)
    ratio = num[key] / den[key]
    if n < MIN_RANGE_RUNS:
        return ratio, None, f"medians of {n} runs; a range of {n} covers {median_coverage(n):.0%}"
    return ratio, (num["min_latency_ms"] / den["max_latency_ms"], num["max_latency_ms"] / den["min_latency_ms"]), \
        f"range of {n} runs a side"


def reference_label(info: dict, ref: dict) -> str:
    """Where a reference file was measured, and that it is older than the code that reads it."""
    commit = ref.get("library_commit") or info.get("library_commit")
    date = str(ref.get("date") or info.get("date") or "")[:10]
    legacy = ref.get("legacy", info.get("legacy"))
    old = " (an older reference: before the attention-kernel change, not re-measured since)" if legacy else ""
    return f"{info['device_name']}, torch {info['torch']}, measured {date} at commit {commit}{old}"


def file_ratio(num: dict, den: dict) -> tuple[float, tuple[float, float] | None, str]:
    """Ratio of two timings from a perf file: Welch's t interval on their runs' times when the file
    kept them, else ``latency_ratio`` (the conservative range of enough runs, or no interval)."""
    a, b = num.get("times_s"), den.get("times_s")
    if a and b and len(a) > 1 and len(b) > 1:
        return float(np.exp(np.log(a).mean() - np.log(b).mean())), ratio_interval(a, b), \
            f"{len(a)} and {len(b)} runs, t interval"
    return latency_ratio(num, den)


def format_table(rows: list[Claim], sources: dict[str, str] | None = None) -> str:
    """The table as text: claim | measured | verdict | where, then what each "where" means."""
    w = [max([len(h)] + [len(getattr(r, k)) for r in rows]) for h, k in
         (("claim", "claim"), ("measured", "measured"), ("verdict", "verdict"))]
    lines = [f"{'claim':{w[0]}} | {'measured':{w[1]}} | {'verdict':{w[2]}} | where", "-" * (sum(w) + 16)]
    for r in rows:
        lines.append(f"{r.claim:{w[0]}} | {r.measured:{w[1]}} | {r.verdict:{w[2]}} | {r.where}")
    for k, v in (sources or {}).items():
        if any(r.where == k for r in rows):
            lines.append(f"  {k}: {v}")
    return "\n".join(lines)
