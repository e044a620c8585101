"""benchmark.claims: the tutorial's claims measured, with intervals and verdicts decided by code."""
import json

import pytest
import torch

from nanoinfer_lib.benchmark import claims as cl
from nanoinfer_lib.benchmark.results import read_results
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE, Comparison

VERDICTS = {HOLDS, FAILS, INCONCLUSIVE, cl.NOISE, cl.REFERENCE}


@pytest.fixture(scope="module")
def runner():
    torch.manual_seed(0)
    from nanoinfer_lib import GPT
    from _helpers import tiny_config
    return cl.ClaimRunner(GPT(tiny_config()).eval(), quick=True, compile=False, gpu=False)


def test_every_row_has_a_verdict_from_code(runner):
    rows = runner.run()
    assert rows[0].verdict == cl.NOISE and rows[0].where == "this CPU"
    assert {r.verdict for r in rows} <= VERDICTS
    assert all(r.where in runner.sources for r in rows)
    live = [r for r in rows if "comparison" in r.detail]
    assert live and all(r.interval[0] <= r.value <= r.interval[1] for r in live)
    json.dumps([r.as_dict() for r in rows])                            # serialisable for the results file
    text = cl.format_table(rows, runner.sources)
    assert "KV cache" in text and "this CPU:" in text


def test_measure_remembers_and_checks_its_key(runner):
    assert runner.measure("fp16_memory") is runner.measure("fp16_memory")
    assert runner.measure("fp16_memory")[0].verdict == HOLDS                # exactly half the bytes
    assert runner.measure("int8_memory")[0].verdict == HOLDS
    assert runner.measure("bf16_range")[0].verdict == HOLDS
    with pytest.raises(ValueError, match="key"):
        runner.measure("warp drive")


def test_reference_rows_are_labelled_and_decide_only_from_an_interval(runner):
    if runner.perf_ref is None:
        pytest.skip("no GPU results file installed")
    gpu = [r for r in runner.run() if r.where in ("GPU file", "GPU kv file")]
    assert gpu and "5597665" in runner.sources["GPU file"] and "older reference" in runner.sources["GPU file"]
    for r in gpu:                      # timings: a firm verdict only with an interval; exact peaks: always
        timing = "peak" not in r.measured
        assert not timing or (r.verdict == cl.REFERENCE) == (r.interval is None), r
    fp16 = {r.claim.split("(")[1]: r for r in gpu if r.claim.startswith("FP16")}
    assert fp16["prefill 4x512)"].verdict == FAILS and "range of 10 runs" in fp16["prefill 4x512)"].measured
    assert fp16["decode, batch 1)"].verdict == cl.REFERENCE and "3 runs" in fp16["decode, batch 1)"].measured
    graphs = next(r for r in gpu if r.claim.startswith("CUDA graphs"))
    assert graphs.verdict == cl.REFERENCE and "one figure" in graphs.measured


def _comparison(ratio, interval, noise=(0.99, 1.01)):
    return Comparison(("a", "b"), [1.0] * 4, [1.0] * 4, ratio, interval, noise, (1, 1))


def test_a_band_is_read_as_its_lower_end_and_a_figure_above_it_is_noted():
    row = cl._live("KV cache 2-4x faster", _comparison(5.0, (4.6, 5.3)), "this CPU", 2, top=4)
    assert row.verdict == HOLDS and "(above 4x)" in row.measured
    row = cl._live("KV cache 2-4x faster", _comparison(1.5, (1.4, 1.6)), "this CPU", 2, top=4)
    assert row.verdict == FAILS and "above" not in row.measured
    row = cl._live("faster", _comparison(1.03, (1.02, 1.04)), "this CPU", 1.0)
    assert row.verdict == INCONCLUSIVE                                   # within the 5% floor


def test_one_reference_figure_decides_nothing():
    row = cl._reference("batching", 5.9, "GPU file", 3, top=5)
    assert row.verdict == cl.REFERENCE and "one figure" in row.measured and row.interval is None
    row = cl._reference("batching", 5.9, "GPU file", 3, interval=(5.2, 6.4), how="3 runs each", top=5)
    assert row.verdict == HOLDS and "(above 5x)" in row.measured and "3 runs each" in row.measured
    few = {"median_latency_ms": 2.0, "min_latency_ms": 1.9, "max_latency_ms": 2.1, "num_runs": 3}
    many = dict(few, num_runs=10)
    assert cl._latency_ratio(few, few)[1] is None and "75%" in cl._latency_ratio(few, few)[2]
    assert cl._latency_ratio(many, many)[1] == pytest.approx((1.9 / 2.1, 2.1 / 1.9))
    v, iv, how = cl._file_ratio(dict(many, times_s=[1.0, 1.1, 0.9]), dict(many, times_s=[0.5, 0.55, 0.45]))
    assert v == pytest.approx(2.0) and iv[0] < 2.0 < iv[1] and "t interval" in how


@pytest.mark.parametrize("kwargs, name", [({"model": "gpt2"}, "model"), ({"quick": "yes"}, "quick"),
                                          ({"compile": 1}, "compile"), ({"gpu": "no"}, "gpu")])
def test_runner_rejects_bad_arguments(runner, kwargs, name):
    with pytest.raises(TypeError, match=name):
        cl.ClaimRunner(**{"model": runner.model, **kwargs})


def test_claims_command_writes_a_results_file(tmp_path):
    out = tmp_path / "claims.json"
    assert cl.main(["--quick", "--no-compile", "--out", str(out)]) == 0
    res = read_results(out)
    assert res["benchmark"] == "claims" and res["repeats"] == 2 and str(tmp_path) not in res["command"]
    assert res["hardware"]["cpu"] and isinstance(res["hardware"]["cpu_features"], list)
    rows = res["data"]["rows"]
    assert rows[0]["verdict"] == cl.NOISE and {r["verdict"] for r in rows} <= VERDICTS
    assert set(res["data"]["sources"]) >= {r["where"] for r in rows}
