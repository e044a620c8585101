"""The library-vs-transformers comparison (``python -m nanoinfer_lib.benchmark vs-hf``) on a tiny model."""
import json

import pytest
import torch

pytest.importorskip("transformers")

from nanoinfer_lib import benchmark  # noqa: E402
from nanoinfer_lib.benchmark import generation_bytes, hf_twins, vs_hf, vs_hf_main  # noqa: E402


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


def test_generation_bytes_counts_weights_per_pass_and_the_cache(twins):
    _, model = twins
    cfg = model.config
    weights = 4 * (model.num_params() - cfg.block_size * cfg.n_embd)           # float32, no position table
    per_position = 2 * cfg.n_layer * 3 * cfg.n_embd * 4                         # k and v, 3 rows
    expected = 4 * weights + (5 + 6 + 7 + 8) * per_position                     # prefill of 5, then 3 steps
    assert generation_bytes(model, batch_size=3, prompt_len=5, new_tokens=4) == expected


def test_vs_hf_reports_ratios_and_equality():
    res = vs_hf(batch_sizes=(1, 2), new_tokens=(3, 6), num_runs=2, warmup=0, shape="tiny", log=None)
    assert [(c["batch_size"], c["new_tokens"]) for c in res["cases"]] == [(1, 3), (1, 6), (2, 3), (2, 6)]
    for c in res["cases"]:
        assert c["outputs_equal"] is True
        assert len(c["seconds"]["library"]) == len(c["seconds"]["transformers"]) == 2
        assert c["ratio"] == pytest.approx(c["tokens_per_s"]["library"] / c["tokens_per_s"]["transformers"])
        assert c["bandwidth_fraction"]["library"] == pytest.approx(
            c["bandwidth_GBps"]["library"] / res["machine"]["copy_bandwidth_GBps"])
    assert res["smallest_ratio"] == min(c["ratio"] for c in res["cases"])
    assert res["outputs_equal"] is True and res["machine"]["transformers"]


def test_vs_hf_catches_different_tokens(monkeypatch):
    real = benchmark.lib_greedy

    def off_by_one(model, ids, max_new_tokens, cuda_graphs=False):
        out = real(model, ids, max_new_tokens, cuda_graphs).clone()
        out[0, -1] = (out[0, -1] + 1) % model.config.vocab_size
        return out

    monkeypatch.setattr(benchmark, "lib_greedy", off_by_one)
    res = vs_hf(batch_sizes=(1,), new_tokens=(4,), num_runs=1, warmup=0, shape="tiny", log=None)
    assert res["outputs_equal"] is False and res["cases"][0]["outputs_equal"] is False


def test_command_line_writes_json(tmp_path, capsys):
    out = tmp_path / "vs_hf.json"
    rc = vs_hf_main(["--model", "tiny", "--batch-sizes", "1", "--new-tokens", "4", "--runs", "1",
                     "--warmup", "0", "--out", str(out)])
    assert rc == 0
    assert "smallest ratio library/transformers" in capsys.readouterr().out
    (data,) = json.loads(out.read_text())["runs"]
    assert data["dtype"] == "float32" and data["cases"][0]["outputs_equal"]
    assert {"device_name", "torch", "transformers", "date", "copy_bandwidth_GBps"} <= set(data["machine"])
    vs_hf_main(["--model", "tiny", "--batch-sizes", "2", "--new-tokens", "3", "--runs", "1", "--out", str(out)])
    (data,) = json.loads(out.read_text())["runs"]       # the same configuration again: replaced, not added
    assert data["cases"][0]["batch_size"] == 2


def test_command_line_keeps_the_cases_of_a_run_cut_short(tmp_path, monkeypatch):
    """The file is written after every case, so a run stopped by a time limit keeps what it measured."""
    real, out = benchmark.lib_greedy, tmp_path / "vs_hf.json"

    def fails_at_batch_2(model, ids, max_new_tokens, cuda_graphs=False):
        if ids.shape[0] == 2:
            raise KeyboardInterrupt                       # as a time limit would stop it
        return real(model, ids, max_new_tokens, cuda_graphs)

    monkeypatch.setattr(benchmark, "lib_greedy", fails_at_batch_2)
    args = ["--model", "tiny", "--batch-sizes", "1", "2", "--new-tokens", "3", "--runs", "1", "--warmup", "0",
            "--out", str(out)]
    with pytest.raises(KeyboardInterrupt):
        vs_hf_main(args)
    (data,) = json.loads(out.read_text())["runs"]
    assert data["complete"] is False and [c["batch_size"] for c in data["cases"]] == [1]
    monkeypatch.setattr(benchmark, "lib_greedy", real)
    vs_hf_main(args)
    (data,) = json.loads(out.read_text())["runs"]
    assert data["complete"] is True and [c["batch_size"] for c in data["cases"]] == [1, 2]
    assert data["command"].endswith(" ".join(args))


def test_command_line_rejects_cuda_graphs_on_cpu():
    with pytest.raises(SystemExit):
        vs_hf_main(["--model", "tiny", "--cuda-graphs"])


@pytest.mark.parametrize("B,N", [(1, 0), (1, 1), (1, 9), (3, 2), (3, 9)])
def test_static_cache_decoding_equals_generate(twins, B, N):
    """The fixed-shape decode loop that CUDA graphs replay (run eagerly here) gives generate's tokens."""
    from nanoinfer_lib import generate
    _, model = twins
    ids = torch.randint(0, model.config.vocab_size, (B, 4), generator=torch.Generator().manual_seed(N))
    assert torch.equal(benchmark.graphed_greedy(model, ids, N), generate(model, ids, max_new_tokens=N, temperature=0))
