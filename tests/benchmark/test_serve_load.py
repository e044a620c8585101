"""benchmark.serve_load: the statistics of a run from hand-made records, the prompts, the loopback
rule, bounded concurrency against a real server (also from inside a running event loop, as in
Jupyter), and a tiny run of the command writing its results file."""
import asyncio
import json

import pytest

from nanoinfer_lib.benchmark import serve_load as sl
from nanoinfer_lib.benchmark.__main__ import main as benchmark_main
from nanoinfer_lib.benchmark.results import SCHEMA
from nanoinfer_lib.serve import background_server

from _helpers import command_needs_out_and_a_file_name

pytestmark = pytest.mark.usefixtures("alarm")
ALARM_S = 90                    # the alarm fixture fails a test that runs longer than this


def test_summarize_from_hand_made_records():
    records = [{"sent": 0.0, "first": 0.1, "end": 1.0, "tokens": 10},      # TPOT 0.9 / 9 = 0.1
               {"sent": 0.5, "first": 0.8, "end": 2.0, "tokens": 5}]       # TPOT 1.2 / 4 = 0.3
    s = sl.summarize(records)
    assert s["seconds"] == pytest.approx(2.0) and s["tokens_per_s"] == pytest.approx(7.5)
    assert s["requests_per_s"] == pytest.approx(1.0)
    assert s["ttft_p50"] == pytest.approx(0.2) and s["ttft_p99"] == pytest.approx(0.298)
    assert s["tpot_p50"] == pytest.approx(0.2) and s["latency_p50"] == pytest.approx(1.25)


def test_prompts_are_seeded_and_leave_room_for_the_output(bundled):
    a, b = sl.load_prompts(40, 64, seed=3), sl.load_prompts(40, 64, seed=3)
    assert a == b and len(a) == 40 and a != sl.load_prompts(40, 64, seed=4)
    tokenizer = bundled[1]
    assert max(len(tokenizer.encode(p)) for p in sl.load_prompts(100, 400)) <= 112
    with pytest.raises(ValueError, match="max_tokens"):
        sl.load_prompts(1, 512)


@pytest.mark.parametrize("url", ["http://example.com/v1", "http://0.0.0.0:8000/v1", "https://127.0.0.1:1/v1"])
def test_only_a_loopback_server_is_loaded(url):
    with pytest.raises(ValueError, match="127.0.0.1"):
        sl.run_level(url, ["ROMEO."], 2, 1)


def test_concurrency_is_bounded_and_run_level_works_inside_a_running_loop():
    prompts = sl.load_prompts(6, 6)
    with background_server(max_num_seqs=4) as server:
        async def inside_a_loop():                     # as a notebook cell runs: a loop already running
            return sl.run_level(server.base_url, prompts, max_tokens=6, concurrency=2)
        records = asyncio.run(inside_a_loop())
        alone = sl.run_level(server.base_url, prompts, max_tokens=6, concurrency=1)
    assert [r["text"] for r in records] == [r["text"] for r in alone]           # greedy: batching changes nothing
    assert all(r["tokens"] == 6 and r["sent"] <= r["first"] <= r["end"] for r in records)
    for r in records:                                  # never more than 2 in flight
        assert sum(q["sent"] <= r["sent"] < q["end"] for q in records) <= 2
    for a, b in zip(alone, alone[1:]):                 # one at a time: each sent after the last ended
        assert b["sent"] >= a["end"]


def test_the_command_writes_a_results_file(tmp_path, capsys):
    out = tmp_path / "load.json"
    assert benchmark_main(["serve-load", "--out", str(out), "--requests", "3", "--max-tokens", "3",
                           "--concurrency", "1,3", "--rounds", "2", "--max-num-seqs", "3"]) == 0
    res = json.loads(out.read_text())
    assert res["schema"] == SCHEMA and res["benchmark"] == "serve-load" and res["repeats"] == 2
    assert res["command"].startswith("python -m nanoinfer_lib.benchmark serve-load --out load.json")
    levels = res["data"]["levels"]
    assert set(levels) == {"1", "3"} and all(levels[c]["runs"] == 2 for c in levels)
    assert all(len(levels[c]["tokens_per_s"]["values"]) == 2 for c in levels)
    assert levels["1"]["tokens_per_engine_step"] <= 1.0 < levels["3"]["tokens_per_engine_step"]
    assert set(res["data"]["speedup_vs_concurrency_1"]) == {"3"}
    assert "throughput at concurrency 3 over concurrency 1" in capsys.readouterr().out


@pytest.mark.parametrize("args, name", [(["--concurrency", "4"], "--concurrency"), (["--requests", "0"], "--requests"),
                                        (["--max-tokens", "600"], "--max-tokens")])
def test_bad_options_are_one_line_errors(tmp_path, capsys, args, name):
    assert benchmark_main(["serve-load", "--out", str(tmp_path / "x.json"), *args]) == 2
    assert name in capsys.readouterr().err


def test_the_command_needs_out_and_a_file_name(tmp_path):
    command_needs_out_and_a_file_name(sl.main, tmp_path)


def test_the_committed_cpu_results_hold_what_the_command_measured():
    from nanoinfer_lib.benchmark.results import read_results
    from nanoinfer_lib.paths import RESULTS
    res = read_results(RESULTS / "serve_load_cpu.json")
    assert res["benchmark"] == "serve-load" and res["complete"] and res["hardware"]["device"] == "cpu"
    assert res["command"] == "python -m nanoinfer_lib.benchmark serve-load --out serve_load_cpu.json"
    data = res["data"]
    assert set(data["levels"]) == {"1", "8", "32"} and data["workload"]["rounds"] == res["repeats"] == 6
    for s in data["levels"].values():
        for key in ("tokens_per_s", "ttft_p50", "ttft_p99", "tpot_p50"):
            values = s[key]["values"]
            assert len(values) == 6 and s[key]["median"] == pytest.approx(sorted(values)[2] / 2 + sorted(values)[3] / 2)
            assert s[key]["interval"][0] <= s[key]["median"] <= s[key]["interval"][1]
    for c, r in data["speedup_vs_concurrency_1"].items():
        assert r["interval"][0] <= r["ratio"] <= r["interval"][1]
