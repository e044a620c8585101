"""benchmark.speculative: the formula, the cost and speed measurements (tiny models), the results
file and the command line's argument errors."""
import json
import math

import pytest
import torch

from nanoinfer_lib import GPT
from nanoinfer_lib.benchmark import speculative as bm
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE

from _helpers import tiny_config, command_needs_out_and_a_file_name, command_rejects


def test_expected_tokens_per_call():
    assert bm.expected_tokens_per_call(0.0, 4) == 1.0                # nothing kept: the model's own token
    assert bm.expected_tokens_per_call(1.0, 4) == 5.0                # everything kept, plus the bonus
    assert bm.expected_tokens_per_call(0.5, 1) == pytest.approx(1.5)
    # the closed form equals the sum over i of P(the first i drafts are kept) = alpha^i
    for a in (0.3, 0.8):
        assert bm.expected_tokens_per_call(a, 6) == pytest.approx(sum(a ** i for i in range(7)))


def test_predicted_speedup_and_best_k():
    assert bm.predicted_speedup(0.8, 4, 0.0) == pytest.approx(bm.expected_tokens_per_call(0.8, 4))
    assert bm.predicted_speedup(0.8, 4, 0.05) == pytest.approx((1 - 0.8 ** 5) / 0.2 / 1.2)
    assert bm.predicted_speedup(0.8, 4, 0.05, verify_cost=2.0) == pytest.approx((1 - 0.8 ** 5) / 0.2 / 2.2)
    assert bm.predicted_speedup(0.0, 3, 0.1) < 1                       # a draft that is never kept only costs
    assert bm.best_num_draft_tokens(0.9, 0.01) > bm.best_num_draft_tokens(0.6, 0.2) >= 1
    k = bm.best_num_draft_tokens(0.7, 0.1, max_k=12)
    assert all(bm.predicted_speedup(0.7, k, 0.1) >= bm.predicted_speedup(0.7, j, 0.1) for j in range(1, 13))
    # a verification pass that grows with k moves the best k down
    grows = {k: 1 + 0.4 * k for k in range(1, 17)}
    assert bm.best_num_draft_tokens(0.8, 0.1, verify_costs=grows) < bm.best_num_draft_tokens(0.8, 0.1)


@pytest.mark.parametrize("call, err, match", [
    (lambda: bm.expected_tokens_per_call(1.2, 3), ValueError, "alpha"),
    (lambda: bm.expected_tokens_per_call(0.5, 2.5), TypeError, "k"),
    (lambda: bm.predicted_speedup(0.5, 2, -0.1), ValueError, "c"),
    (lambda: bm.predicted_speedup(0.5, 2, 0.1, verify_cost=0), ValueError, "verify_cost"),
    (lambda: bm.best_num_draft_tokens(0.5, 0.1, max_k=0), ValueError, "max_k"),
])
def test_formula_bad_arguments(call, err, match):
    with pytest.raises(err, match=match):
        call()


def test_forward_fn_repeats_the_same_pass(tiny_model):
    calls = []
    tiny_model.register_forward_hook(lambda m, args, out: calls.append(out.shape))
    fn = bm.forward_fn(tiny_model, n_tokens=3, position=5)
    fn(), fn()
    assert calls == [(1, 5, 50), (1, 3, 50), (1, 3, 50)]              # the prefill, then the same pass twice
    with pytest.raises(ValueError, match="position"):
        bm.forward_fn(tiny_model, n_tokens=3, position=14)            # 14 + 3 > block_size 16


def test_run_measures_every_row_and_checks_equality(tiny_model):
    torch.manual_seed(1)
    draft = GPT(tiny_config(n_layer=1)).eval()
    prompts = {"free text": [torch.tensor([[1, 2, 3]]), torch.tensor([[4, 5]])],
               "repeats its prompt": [torch.tensor([[1, 2, 3, 1, 2]])]}
    data = bm.run(tiny_model, draft, prompts, ks=[1, 2], new_tokens=4, rounds=2, log=lambda *a: None)
    assert [(r["workload"], r["drafter"], r["k"]) for r in data["runs"]] == [
        (w, d, k) for w in prompts for d in ("draft model", "prompt lookup") for k in (1, 2)]
    for r in data["runs"]:
        assert 0 <= r["alpha"] <= 1 and 1 <= r["tokens_per_call"] <= r["k"] + 1
        assert r["interval"][0] <= r["speedup"] <= r["interval"][1] and len(r["times_plain_s"]) == 4
        assert r["plain_interval"][0] <= r["plain_tokens_per_s"] <= r["plain_interval"][1]
        assert r["new_tokens"] == 4 * len(prompts[r["workload"]])
        c = data["costs"]["c"] if r["drafter"] == "draft model" else data["costs"]["c_lookup"] / r["k"]
        assert r["acceptance_rate"] <= r["alpha"]
        assert r["predicted"] == pytest.approx(bm.predicted_speedup(r["alpha"], r["k"], c))
    assert [v["k"] for v in data["costs"]["verify"]] == [1, 2]
    assert [(b["workload"], b["drafter"]) for b in data["best"]] == [(w, d) for w in prompts
                                                                      for d in ("draft model", "prompt lookup")]
    for b in data["best"]:
        assert b["speedup"] == max(r["speedup"] for r in data["runs"]
                                   if (r["workload"], r["drafter"]) == (b["workload"], b["drafter"]))
    assert data["costs"]["c"] > 0 and data["costs"]["target_step_s"] > 0
    json.dumps(data)                                                   # plain values only: a results file holds it


def test_claims_decide_from_the_intervals():
    def row(drafter, workload, lo, hi):
        return {"drafter": drafter, "workload": workload, "k": 4, "speedup": (lo + hi) / 2,
                "interval": [lo, hi], "noise": [0.99, 1.01]}
    runs = [row("draft model", "free text", 1.5, 1.7), row("prompt lookup", "repeats its prompt", 2.0, 2.4),
            row("prompt lookup", "free text", 1.0, 1.2)]
    assert [c["verdict"] for c in bm.claims(runs)] == [HOLDS, HOLDS, HOLDS]
    runs[0]["interval"], runs[2]["interval"] = [0.5, 0.6], [1.9, 2.1]
    assert [c["verdict"] for c in bm.claims(runs)] == [FAILS, HOLDS, INCONCLUSIVE]
    assert bm.claims([]) == []


def test_command_writes_a_results_file(tmp_path):
    out = tmp_path / "spec.json"
    argv = ["--quick", "--num-draft-tokens", "2", "--new-tokens", "8", "--prompts", "1", "--out", str(out)]
    assert bm.main(argv) == 0
    res = json.loads(out.read_text())
    assert res["schema"] == "nanoinfer-results/2" and res["benchmark"] == "speculative" and res["complete"]
    assert res["hardware"]["device"] == "cpu" and res["repeats"] == 2 and str(tmp_path) not in res["command"]
    data = bm.load_speculative(out)
    assert data["meta"]["cpu"]
    assert {(r["drafter"], r["k"]) for r in data["runs"]} == {("draft model", 2), ("prompt lookup", 2)}
    assert data["draft"]["n_layer"] < data["model"]["n_layer"] and len(data["claims"]) == 0   # k=4 not run
    assert math.isfinite(data["costs"]["c"]) and data["draft_sha256"] != data["model_sha256"]
    assert data["new_tokens"] == 8                       # an option given with --quick wins over its small default


@pytest.mark.parametrize("argv, err, match", [
    (["--num-draft-tokens", "0"], ValueError, "--num-draft-tokens"),
    (["--rounds", "1"], ValueError, "--rounds"),
    (["--prompts", "0"], ValueError, "--prompts"),
    (["--new-tokens", "0"], ValueError, "--new-tokens"),
])
def test_command_bad_arguments(tmp_path, argv, err, match):
    command_rejects(bm.main, tmp_path, argv, err, match)


def test_command_needs_out_and_a_file_name(tmp_path):
    command_needs_out_and_a_file_name(bm.main, tmp_path)


def test_load_speculative_refuses_other_results(tmp_path):
    assert bm.load_speculative(tmp_path / "absent.json") is None
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"schema": "nanoinfer-results/2", "benchmark": "perf", "hardware": {}, "command": None,
                                 "date": None, "library_commit": None, "data": {}}))
    with pytest.raises(ValueError, match="not speculative"):
        bm.load_speculative(other)
