"""benchmark.claims: the tutorial's claims measured, with intervals and verdicts decided by code."""
import json

import pytest
import torch

from nanoinfer_lib.benchmark import claims as cl
from nanoinfer_lib.benchmark.results import read_results
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE

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
