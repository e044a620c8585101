"""What the two serving benchmarks (``serving``: the Engine in this process; ``serve_load``: the HTTP
server under load) report alike: each figure of a run summarised over runs as a median with its
``median_interval``, and one line of text for a system's throughput, TTFT and TPOT.
"""
from __future__ import annotations

import numpy as np

from .stats import median_interval, median_label


def medians(rows: list[dict]) -> dict:
    """Each figure of ``rows`` (one dict of figures per run) over the runs: its median, its
    ``median_interval`` and its values; ``interval_kind`` says what the interval is."""
    out = {"runs": len(rows), "interval_kind": median_label(len(rows))}
    for key in rows[0]:
        values = [row[key] for row in rows]
        out[key] = {"median": float(np.median(values)), "interval": list(median_interval(values)), "values": values}
    return out


def median_text(s: dict, key: str, scale: float = 1.0) -> str:
    """``s[key]``'s median and interval (from ``medians``) times ``scale``: ``1.23e+03 [1.1e+03-1.4e+03]``."""
    lo, hi = (v * scale for v in s[key]["interval"])
    return f"{s[key]['median'] * scale:.3g} [{lo:.3g}-{hi:.3g}]"


def latency_text(s: dict) -> str:
    """Throughput, TTFT and TPOT (p50 and p99, in ms) of one system's ``medians``."""
    ms = lambda key: median_text(s, key, 1e3)                                                       # noqa: E731
    return (f"{median_text(s, 'tokens_per_s')} tokens/s, TTFT p50 {ms('ttft_p50')} p99 {ms('ttft_p99')} ms, "
            f"TPOT p50 {ms('tpot_p50')} p99 {ms('tpot_p99')} ms")
