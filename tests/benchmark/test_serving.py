"""benchmark.serving: the seeded workload, the three ways to serve it (tiny model), the statistics of
a run, the interleaved rounds, the claims, and the command line."""
import json

import numpy as np
import pytest

from nanoinfer_lib.benchmark import serving as bm
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE

from _helpers import CharTokenizer, command_needs_out_and_a_file_name, command_rejects

TOK = CharTokenizer()
EVAL = [{"prompt": p, "reference": "x"} for p in ("abc", "de", "fghij", "k", "lmnopq", "rs")]


def workload(n=6, rate=1e6, mean=3.0, window=16, system=""):
    return bm.make_workload(EVAL, TOK, n, rate, mean, seed=1, window=window, system_prompt=system)


def test_workload_is_seeded_and_fits_the_window():
    a, b = workload(40), workload(40)
    assert [(r.prompt, r.max_new_tokens, r.arrival) for r in a] == [(r.prompt, r.max_new_tokens, r.arrival) for r in b]
    assert [r.arrival for r in a] == sorted(r.arrival for r in a) and a[0].arrival > 0
    assert all(r.ids == TOK.encode(r.prompt) and 1 <= r.max_new_tokens <= 16 - len(r.ids) for r in a)
    assert {r.prompt for r in a} == {e["prompt"] for e in EVAL}           # every prompt, then again
    long = bm.make_workload(EVAL, TOK, 4000, 100.0, 20.0, seed=0, window=512)
    assert np.mean([r.max_new_tokens for r in long]) == pytest.approx(20, rel=0.1)    # geometric, mean 20
    assert max(r.max_new_tokens for r in long) > 60 and min(r.max_new_tokens for r in long) == 1
    assert np.mean(np.diff([0] + [r.arrival for r in long])) == pytest.approx(0.01, rel=0.1)   # 100 per second
    shared = workload(8, system="zz")
    assert all(r.prompt.startswith("zz") and len(r.ids) <= 12 for r in shared)      # 4 tokens left for the output


@pytest.mark.parametrize("kwargs, err, name", [
    (dict(num_requests=0), ValueError, "num_requests"),
    (dict(rate=0.0), ValueError, "rate"),
    (dict(mean_output=0.5), ValueError, "mean_output"),
    (dict(system_prompt="y" * 20), ValueError, "system_prompt"),
])
def test_workload_bad_arguments(kwargs, err, name):
    args = dict(num_requests=4, rate=10.0, mean_output=3.0, window=16, system_prompt="")
    args.update(kwargs)
    with pytest.raises(err, match=name):
        bm.make_workload(EVAL, TOK, **args)


def test_the_three_systems_serve_the_same_tokens(tiny_model):
    w = workload(7, mean=4.0)
    one, engine = bm.serve_one_at_a_time(tiny_model, w), bm.serve_engine(tiny_model, TOK, w, max_num_seqs=3)
    static = bm.serve_static(tiny_model, TOK, w, batch_size=3)
    bm.check_equal(one, engine)
    assert [len(t) for t in one["tokens"]] == [r.max_new_tokens for r in w]
    for run in (one, static, engine):
        assert len(run["records"]) == len(w) and run["seconds"] >= max(rec[2] for rec in run["records"])
        for (arrival, first, last, n), r in zip(run["records"], w):
            assert (arrival, n) == (r.arrival, r.max_new_tokens) and arrival <= first <= last
    kv = static["kv"]
    assert 0 < kv["used"] < kv["reserved"] and kv["peak_bytes"] > 0
    assert {row[0] for row in static["occupancy"]} == {"prefill", "decode"}
    assert all(wanted <= rows <= 3 for _, rows, wanted in static["occupancy"])
    assert engine["stats"]["generated_tokens"] == sum(r.max_new_tokens for r in w)
    with pytest.raises(RuntimeError, match="request 0"):
        bm.check_equal({"tokens": [[1, 2]]}, {"tokens": [[1, 3]]})


def test_static_batches_hold_arrived_requests_that_fit_the_window():
    r = lambda n_ids, new, t: bm.Request("x", [0] * n_ids, new, t)                         # noqa: E731
    queue = [r(3, 4, 0.0), r(2, 9, 0.1), r(5, 2, 0.2), r(1, 1, 5.0)]
    assert bm.static_batch(queue, 8, now=1.0, window=13) == queue[:2]       # 5 + 9 > 13: the third waits
    assert bm.static_batch(queue, 8, now=1.0, window=14) == queue[:3]
    assert bm.static_batch(queue, 1, now=1.0, window=13) == queue[:1]
    assert bm.static_batch(queue, 8, now=0.05, window=13) == queue[:1]      # the second has not arrived
    assert bm.static_batch(queue[2:], 8, now=9.0, window=13) == queue[2:]
    assert bm.static_batch(queue, 8, now=0.0, window=4) == queue[:1]        # alone: the workload made it fit


def test_summarize_by_hand():
    run = {"records": [(0.0, 1.0, 3.0, 3), (1.0, 2.0, 2.0, 1), (2.0, 2.5, 4.0, 4)]}
    s = bm.summarize(run)
    assert s["tokens_per_s"] == pytest.approx(8 / 4.0)                       # 8 tokens by t = 4 s
    assert s["ttft_p50"] == pytest.approx(1.0) and s["ttft_p99"] == pytest.approx(1.0)      # TTFT 1, 1, 0.5
    assert s["tpot_p50"] == pytest.approx(0.75)          # TPOT 1.0 and 0.5: the 1-token request has none
    assert s["tpot_p99"] == pytest.approx(np.percentile([1.0, 0.5], 99))
    runs = bm.over_runs([run, run, run])
    assert runs["runs"] == 3 and runs["tokens_per_s"]["interval"] == [2.0, 2.0]
    assert "range of 3" in runs["interval_kind"]


def test_interleaved_runs_each_pair_in_abba_order():
    calls = []
    systems = {k: (lambda k=k: calls.append(k) or {"seconds": 1.0}) for k in "ABC"}
    runs = bm.interleaved(systems, rounds=2)
    assert "".join(calls) == "ABC" + "ABCCBA" * 2                            # warm-ups, then the rounds
    assert {k: len(v) for k, v in runs.items()} == {"A": 5, "B": 5, "C": 5}


def test_comparison_of_run_times():
    runs = {"slow": [{"seconds": 9.0}] + [{"seconds": s} for s in (2.0, 2.2, 2.0, 2.2)],
            "fast": [{"seconds": 9.0}] + [{"seconds": s} for s in (1.0, 1.0, 1.1, 1.1)]}
    c = bm.comparison(runs, "slow", "fast")                                   # the warm-up (9 s) left out
    assert c.names == ("slow", "fast") and c.rounds == 2
    half = (np.log(2.0) + np.log(2.2)) / 2                                     # each round: slow's two runs
    assert c.ratio == pytest.approx(np.exp(np.mean([half - np.log(1.0), half - np.log(1.1)])))
    assert c.interval[0] <= c.ratio <= c.interval[1]


def test_measure_and_claims_on_a_tiny_model(tiny_model):
    w, shared = workload(6, mean=3.0), workload(6, mean=3.0, system="ab")
    data = bm.measure(tiny_model, TOK, w, shared, max_num_seqs=2, rounds=2, log=lambda *a: None)
    assert set(data["systems"]) == {"one at a time", "static batching", "engine"}
    assert all(s["runs"] == 4 for s in data["systems"].values())
    assert data["prefix_caching"]["prefix caching"]["prefix_cache_hit_tokens"] >= 0
    assert data["prefix_caching"]["no prefix caching"]["prefix_cache_hit_tokens"] == 0
    kv = data["kv"]
    assert all(0 < f <= 1 for f in kv["static_used_fraction"] + kv["engine_used_fraction"])
    assert [c["verdict"] in (HOLDS, FAILS, INCONCLUSIVE) for c in data["claims"]] == [True] * 5
    assert data["rows_per_step"]["engine"] <= 2 and data["small_pool"]["num_blocks"] >= 1
    assert list(data["max_num_seqs_sweep"]) == ["2"] and data["claims"][0]["claim"].endswith("max_num_seqs (2)")
    json.dumps(data)
    swept = bm.measure(tiny_model, TOK, w, shared, max_num_seqs=2, rounds=2, log=lambda *a: None, sweep=(3,))
    row = swept["max_num_seqs_sweep"]["3"]
    assert row["comparison"]["rounds"] == 2 and row["rows_per_step"]["engine"] <= 3 and row["engine"]["median"] > 0
    assert swept["claims"][-2]["claim"].startswith("at max_num_seqs=3, the Engine's throughput is at least 2x")
    assert swept["claims"][-1]["claim"].startswith("at max_num_seqs=3, the Engine's p99 time to first token")
    lo, hi = row["ttft_p99_ratio"]["interval"]
    assert 0 < lo <= row["ttft_p99_ratio"]["ratio"] <= hi                                                           # plain values: a results file holds it


def test_command_writes_a_results_file(tmp_path):
    out = tmp_path / "serving.json"
    assert bm.main(["--quick", "--requests", "4", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["schema"] == "nanoinfer-results/2" and res["benchmark"] == "serving" and res["complete"]
    assert res["repeats"] == 2 and str(tmp_path) not in res["command"]
    data = res["data"]
    assert data["workload"]["requests"] == 4 and len(data["workload"]["output_tokens"]) == 4
    assert [c["claim"] for c in data["claims"]][0].startswith("the Engine's throughput is at least 2x")


@pytest.mark.parametrize("argv, err, match", [
    (["--rounds", "1"], ValueError, "--rounds"),
    (["--requests", "0"], ValueError, "--requests"),
    (["--rate", "0"], ValueError, "--rate"),
    (["--mean-output", "0.5"], ValueError, "--mean-output"),
    (["--max-num-seqs", "0"], ValueError, "--max-num-seqs"),
    (["--system-tokens", "0"], ValueError, "--system-tokens"),
    (["--sweep", "4,0"], ValueError, "--sweep"),
    (["--sweep", "4,x"], TypeError, "--sweep"),
])
def test_command_bad_arguments(tmp_path, argv, err, match):
    command_rejects(bm.main, tmp_path, argv, err, match)


def test_command_needs_out_and_a_file_name(tmp_path):
    command_needs_out_and_a_file_name(bm.main, tmp_path)
