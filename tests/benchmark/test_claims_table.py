"""benchmark.claims_table: how a claim row's verdict is decided (live, exact, from a reference file)
and the rows as a table."""
import pytest

from nanoinfer_lib.benchmark import claims_table as ct
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE, Comparison


def _comparison(ratio, interval, noise=(0.99, 1.01)):
    return Comparison(("a", "b"), [1.0] * 4, [1.0] * 4, ratio, interval, noise, (1, 1))


def test_a_band_is_read_as_its_lower_end_and_a_figure_above_it_is_noted():
    row = ct.live_row("KV cache 2-4x faster", _comparison(5.0, (4.6, 5.3)), "this CPU", 2, top=4)
    assert row.verdict == HOLDS and "(above 4x)" in row.measured
    row = ct.live_row("KV cache 2-4x faster", _comparison(1.5, (1.4, 1.6)), "this CPU", 2, top=4)
    assert row.verdict == FAILS and "above" not in row.measured
    row = ct.live_row("faster", _comparison(1.03, (1.02, 1.04)), "this CPU", 1.0)
    assert row.verdict == INCONCLUSIVE                                   # within the 5% floor


def test_one_reference_figure_decides_nothing():
    row = ct.reference_row("batching", 5.9, "GPU file", 3, top=5)
    assert row.verdict == ct.REFERENCE and "one figure" in row.measured and row.interval is None
    row = ct.reference_row("batching", 5.9, "GPU file", 3, interval=(5.2, 6.4), how="3 runs each", top=5)
    assert row.verdict == HOLDS and "(above 5x)" in row.measured and "3 runs each" in row.measured
    few = {"median_latency_ms": 2.0, "min_latency_ms": 1.9, "max_latency_ms": 2.1, "num_runs": 3}
    many = dict(few, num_runs=10)
    assert ct.latency_ratio(few, few)[1] is None and "75%" in ct.latency_ratio(few, few)[2]
    assert ct.latency_ratio(many, many)[1] == pytest.approx((1.9 / 2.1, 2.1 / 1.9))
    v, iv, how = ct.file_ratio(dict(many, times_s=[1.0, 1.1, 0.9]), dict(many, times_s=[0.5, 0.55, 0.45]))
    assert v == pytest.approx(2.0) and iv[0] < 2.0 < iv[1] and "t interval" in how


def test_exact_rows_decide_firmly_and_the_table_lists_only_the_sources_it_uses():
    rows = [ct.exact_row("halves memory", 0.5, "this CPU", 0.49, 0.51),
            ct.exact_row("saves memory", 1.2, "GPU file", None, 0.99, "x1.200 bytes"),
            ct.noise_row("A/A", _comparison(1.01, (0.97, 1.05)), "this CPU")]
    assert [r.verdict for r in rows] == [HOLDS, FAILS, ct.NOISE] and rows[1].measured == "x1.200 bytes"
    text = ct.format_table(rows, {"this CPU": "a laptop", "GPU file": "an H100", "GPT-2 CPU file": "unused"})
    lines = text.splitlines()
    assert [[c.strip() for c in line.split("|")] for line in lines[2:5]] == [
        ["halves memory", "0.500", "holds", "this CPU"], ["saves memory", "x1.200 bytes", FAILS, "GPU file"],
        ["A/A", "1.010x [0.970-1.050]", ct.NOISE, "this CPU"]]
    bars = {tuple(i for i, ch in enumerate(line) if ch == "|") for line in [lines[0], *lines[2:5]]}
    assert len(bars) == 1 and set(lines[1]) == {"-"}                      # the columns line up under a rule
    assert lines[-2:] == ["  this CPU: a laptop", "  GPU file: an H100"]             # what each "where" means
