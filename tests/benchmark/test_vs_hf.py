"""benchmark.vs_hf: the library against transformers on the same random weights (tiny shape)."""

import pytest
import torch

from nanoinfer_lib.benchmark import vs_hf as benchmark
from nanoinfer_lib.benchmark.results import read_results
from nanoinfer_lib.benchmark.speed import generation_bytes
from nanoinfer_lib.benchmark.vs_hf import hf_twins, main as vs_hf_main, vs_hf

pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def twins():
    return hf_twins("tiny", seed=0)


def test_twins_hold_the_same_weights(twins):
    hf, model = twins
    ids = torch.randint(0, model.config.vocab_size, (2, 9), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        ref = hf(ids).logits
        assert torch.allclose(model(ids), ref, atol=1e-5, rtol=0)
    assert model.num_params() == sum(p.numel() for p in hf.parameters())


def test_greedy_outputs_equal_token_for_token(twins):
    hf, model = twins
    ids = torch.randint(0, model.config.vocab_size, (3, 5), generator=torch.Generator().manual_seed(1))
    ref = benchmark.hf_greedy(hf, ids, 20)
    assert ref.shape == (3, 25)                       # no early stop: every row gets all 20 tokens
    assert torch.equal(benchmark.lib_greedy(model, ids, 20), ref)
    one = ids[:1]
    assert torch.equal(benchmark.lib_greedy(model, one, 12, compiled=True), benchmark.hf_greedy(hf, one, 12))


def test_generation_bytes_counts_weights_per_pass_and_the_cache(twins):
    _, model = twins
    cfg = model.config
    weights = 4 * (model.num_params() - cfg.block_size * cfg.n_embd)           # float32, no position table
    per_position = 2 * cfg.n_layer * 3 * cfg.n_embd * 4                         # k and v, 3 rows
    expected = 4 * weights + (5 + 6 + 7 + 8) * per_position                     # prefill of 5, then 3 steps
    assert generation_bytes(model, batch_size=3, prompt_len=5, new_tokens=4) == expected


def test_vs_hf_reports_ratios_and_equality():
    res = vs_hf(batch_sizes=(1, 2), new_tokens=(3, 6), num_runs=2, warmup=0, shape="tiny", compile_batch_1=False, log=None)
    assert [(c["batch_size"], c["new_tokens"]) for c in res["cases"]] == [(1, 3), (1, 6), (2, 3), (2, 6)]
    for c in res["cases"]:
        assert c["outputs_equal"] is True
        assert len(c["seconds"]["library"]) == len(c["seconds"]["transformers"]) == 2
        assert c["ratio"] == pytest.approx(c["tokens_per_s"]["library"] / c["tokens_per_s"]["transformers"])
        lo, hi = c["ratio_interval"]
        assert lo <= hi
        frac = c["read_roof_fraction"]["library"]
        assert frac is None or frac == pytest.approx(c["bandwidth_GBps"]["library"] / res["roofs"]["read_GBps"])
        assert frac is None or 0 < frac <= 1                   # above the roof is reported as an error, never a figure
    assert res["smallest_ratio"] == min(c["ratio"] for c in res["cases"])
    assert res["outputs_equal"] is True and res["transformers"]
    assert res["roofs"]["read_GBps"] > 0 and res["roofs"]["copy_GBps"] > 0


def test_vs_hf_catches_different_tokens(monkeypatch):
    real = benchmark.lib_greedy

    def off_by_one(model, ids, max_new_tokens, *args):
        out = real(model, ids, max_new_tokens, *args).clone()
        out[0, -1] = (out[0, -1] + 1) % model.config.vocab_size
        return out

    monkeypatch.setattr(benchmark, "lib_greedy", off_by_one)
    res = vs_hf(batch_sizes=(1,), new_tokens=(4,), num_runs=1, warmup=0, shape="tiny", compile_batch_1=False, log=None)
    assert res["outputs_equal"] is False and res["cases"][0]["outputs_equal"] is False


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "vs_hf.json"
    rc = vs_hf_main(["--model", "tiny", "--batch-sizes", "1", "--new-tokens", "4", "--runs", "1",
                     "--warmup", "0", "--eager", "--out", str(out)])
    assert rc == 0
    assert "smallest ratio library/transformers" in capsys.readouterr().out
    full = read_results(out)
    assert full["benchmark"] == "vs-hf" and full["versions"]["transformers"]
    assert {"device_name", "cpu", "cpu_features", "torch", "date"} <= set(full["hardware"])
    (data,) = full["data"]["runs"]
    assert data["dtype"] == "float32" and data["cases"][0]["outputs_equal"] and data["roofs"]["read_GBps"] > 0
    vs_hf_main(["--model", "tiny", "--batch-sizes", "2", "--new-tokens", "3", "--runs", "1", "--eager", "--out", str(out)])
    (data,) = read_results(out)["data"]["runs"]       # the same configuration again: replaced, not added
    assert data["cases"][0]["batch_size"] == 2


def test_command_line_keeps_the_cases_of_a_run_cut_short(tmp_path, monkeypatch):
    """The file is written after every case, so a run stopped by a time limit keeps what it measured."""
    real, out = benchmark.lib_greedy, tmp_path / "vs_hf.json"

    def fails_at_batch_2(model, ids, max_new_tokens, *args):
        if ids.shape[0] == 2:
            raise KeyboardInterrupt                       # as a time limit would stop it
        return real(model, ids, max_new_tokens, *args)

    monkeypatch.setattr(benchmark, "lib_greedy", fails_at_batch_2)
    args = ["--model", "tiny", "--batch-sizes", "1", "2", "--new-tokens", "3", "--runs", "1", "--warmup", "0",
            "--out", str(out)]
    with pytest.raises(KeyboardInterrupt):
        vs_hf_main(args)
    (data,) = read_results(out)["data"]["runs"]
    assert data["complete"] is False and [c["batch_size"] for c in data["cases"]] == [1]
    monkeypatch.setattr(benchmark, "lib_greedy", real)
    vs_hf_main(args)
    (data,) = read_results(out)["data"]["runs"]
    assert data["complete"] is True and [c["batch_size"] for c in data["cases"]] == [1, 2]
    assert data["command"].endswith(" ".join(args[:-1]) + " vs_hf.json")         # no local paths in the file


def test_command_line_rejects_cuda_graphs_on_cpu():
    with pytest.raises(SystemExit):
        vs_hf_main(["--model", "tiny", "--cuda-graphs"])


def test_gpu_table_plumbing_runs_on_cpu(tmp_path, capsys):
    """vs-hf-gpu on the CPU with the tiny shape: each eager configuration lands in one file."""
    from nanoinfer_lib.benchmark import vs_hf_gpu
    out = tmp_path / "vs_hf_gpu.json"
    vs_hf_gpu.main(["--device", "cpu", "--model", "tiny", "--batch-sizes", "2", "--new-tokens", "3",
                    "--runs", "1", "--out", str(out)])
    assert "CUDA graphs: skipped" in capsys.readouterr().out
    runs = read_results(out)["data"]["runs"]
    assert sorted(r["dtype"] for r in runs) == ["bfloat16", "float16"]
    assert all(r["complete"] and r["cases"][0]["tokens_per_s"]["library"] > 0 for r in runs)


def test_time_pair_alternates_and_leaves_warmup_untimed():
    order = []
    runners = {name: (lambda name=name: order.append(name) or torch.zeros(2)) for name in ("a", "b")}
    times, equal = benchmark._time_pair(runners, runs=2, warmup=1, device="cpu")
    assert order == ["a", "b"] * 3 and equal is True
    assert [len(t) for t in times.values()] == [2, 2] and all(s >= 0 for t in times.values() for s in t)


def test_gpu_table_command_rejects_a_bad_argument_in_one_line(capsys):
    from nanoinfer_lib.benchmark import vs_hf_gpu
    with pytest.raises(SystemExit) as e:
        vs_hf_gpu.main(["--runs", "x", "--out", "x.json"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and "--runs: invalid int value" in err
