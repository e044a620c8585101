"""benchmark.memory: each part against a second computation (greedy vs generate, one-pass NLL vs
token_nll, bytes counted vs the formulas), the paired difference and its verdict, the results file
of a quick run with every part present, and the command line's argument errors."""
import json
import math

import numpy as np
import pytest
import torch

from nanoinfer_lib import GPT
from nanoinfer_lib.benchmark import memory as bm
from nanoinfer_lib.benchmark.timing import FAILS, HOLDS, INCONCLUSIVE
from nanoinfer_lib.generation import generate
from nanoinfer_lib.metrics import token_nll
from nanoinfer_lib.quantize import Int4Linear, Int8Linear

from _helpers import command_needs_out_and_a_file_name, command_rejects, tiny_config

VERDICTS = {HOLDS, FAILS, INCONCLUSIVE}


@pytest.fixture
def tiny64():
    torch.manual_seed(0)
    return GPT(tiny_config(n_embd=64, block_size=128)).eval()


def test_weight_format_makes_each_format_and_leaves_the_model(tiny64):
    before = {k: v.clone() for k, v in tiny64.state_dict().items()}
    assert bm.weight_format(tiny64, "fp32") is tiny64
    assert bm.weight_format(tiny64, "bf16").dtype == torch.bfloat16
    assert bm.weight_format(tiny64, "fp16").dtype == torch.float16
    assert isinstance(bm.weight_format(tiny64, "int8").lm_head, Int8Linear)
    assert bm.weight_format(tiny64, "int4 g64").lm_head.group_size == 64
    assert isinstance(bm.weight_format(tiny64, "int4 g32").transformer.h[0].mlp.c_fc, Int4Linear)
    assert all(torch.equal(before[k], v) for k, v in tiny64.state_dict().items())
    with pytest.raises(ValueError, match="format"):
        bm.weight_format(tiny64, "int3")


def test_greedy_equals_generate_and_nll_equals_token_nll(tiny64):
    ids = torch.randint(0, 50, (1, 5), generator=torch.Generator().manual_seed(1))
    assert bm.greedy(tiny64, ids, 6) == generate(tiny64, ids, max_new_tokens=6, temperature=0)[0, 5:].tolist()
    assert len(bm.greedy(tiny64, ids, 6, kv="kv int8")) == 6
    seq = torch.randint(0, 50, (32,), generator=torch.Generator().manual_seed(2))
    assert bm.excerpt_nll(tiny64, seq) == pytest.approx(token_nll(tiny64, seq).sum().item(), rel=1e-5)
    q8 = bm.excerpt_nll(tiny64, seq, kv="kv int8")
    assert q8 != bm.excerpt_nll(tiny64, seq) and q8 == pytest.approx(bm.excerpt_nll(tiny64, seq), rel=1e-2)
    with pytest.raises(ValueError, match="kv"):
        bm.excerpt_nll(tiny64, seq, kv="kv int2")


def test_paired_difference_and_its_verdict():
    rng = np.random.default_rng(0)
    base, tokens, nbytes = rng.uniform(50, 60, 40), np.full(40, 20.0), np.full(40, 60.0)
    same = bm.paired(base, base.copy(), tokens, nbytes)
    assert same["delta_nats_per_token"] == 0 and same["interval"] == [0, 0] and same["verdict"] == HOLDS
    worse = bm.paired(base, base + 20 * 0.05 + rng.normal(0, 0.1, 40), tokens, nbytes)   # +0.05 nats/token
    assert worse["interval"][0] < 0.05 < worse["interval"][1] and worse["verdict"] == FAILS
    assert worse["ppl_ratio"] == pytest.approx(math.exp(worse["delta_nats_per_token"]))
    assert worse["delta_bits_per_byte"] == pytest.approx(worse["delta_nats_per_token"] * 20 / 60 / math.log(2))
    near = bm.paired(base, base + rng.normal(0.2, 0.4, 40), tokens, nbytes)   # about +0.01 nats/token: straddles 1%
    assert near["interval"][0] < bm.PPL_BUDGET < near["interval"][1] and near["verdict"] == INCONCLUSIVE


def test_byte_counts_equal_the_formulas(tiny64):
    b = bm.byte_counts(tiny64.config, tiny64)
    assert [r["format"] for r in b["weights"]] == list(bm.WEIGHTS)
    assert all(r["exact"] and r["measured"] == r["formula"] > 0 for r in b["weights"] + b["kv"])
    w = {r["format"]: r["measured"] for r in b["weights"]}
    assert w["fp32"] == 2 * w["bf16"] and w["int4 g64"] < w["int4 g32"] < w["int8"] < w["fp32"]
    kv = {r["format"]: r["measured"] for r in b["kv"]}
    assert kv["kv int4 g32"] < kv["kv int8"] < kv["kv fp32"]


def test_step_bytes_leave_out_the_tables_a_step_reads_one_row_of(tiny64):
    cfg, kv = tiny64.config, bm.kv_cache_bytes(tiny64.config, 1, 11)
    table = cfg.block_size * cfg.n_embd * 4                                  # the position table, float32
    assert bm.step_bytes(tiny64, 10) == bm.model_bytes(tiny64)["total"] - table + kv   # wte is the lm_head
    q4 = bm.weight_format(tiny64, "int4 g32")                               # the lm_head has its own int4 copy
    assert bm.step_bytes(q4, 10) == bm.model_bytes(q4)["total"] - table - cfg.vocab_size * cfg.n_embd * 4 + kv


def test_logit_error_grows_as_bits_shrink():
    rows = {r["format"]: r for r in bm.logit_error(tiny_config(n_embd=64, block_size=32, vocab_size=64))}
    assert set(rows) == set(bm.WEIGHTS) - {"fp32"} | set(bm.KV)
    assert 0 < rows["int8"]["rms"] < rows["int4 g32"]["rms"] and rows["kv int8"]["rms"] < rows["kv int4 g32"]["rms"]


def test_quick_run_writes_every_part(tmp_path):
    out = tmp_path / "memory.json"
    assert bm.main(["--quick", "--out", str(out)]) == 0
    res = json.loads(out.read_text())
    assert res["schema"] == "nanoinfer-results/2" and res["benchmark"] == "memory" and res["complete"]
    assert str(tmp_path) not in res["command"] and res["repeats"] == 2
    d = res["data"]
    for part in ("bytes", "quality", "logit_error_gpt2_shape", "roofs", "speed", "faq", "claims"):
        assert d[part], part
    assert [r["format"] for r in d["quality"]] == [*bm.WEIGHTS, *bm.KV]
    for r in d["quality"][1:]:
        assert r["interval"][0] <= r["delta_nats_per_token"] <= r["interval"][1] and 0 <= r["agreement"] <= 1
    assert all(r["exact"] for part in d["bytes"].values() for r in part["weights"] + part["kv"])
    speed = {(r["model"], r["format"]) for r in d["speed"]}
    assert speed == {(m, f) for m in ("bundled", "gpt2 shape") for f in bm.WEIGHTS}
    assert all(r["tokens_per_s_interval"][0] <= r["tokens_per_s"] <= r["tokens_per_s_interval"][1]
               and r["memory"] in ("cache", "DRAM") for r in d["speed"])
    assert all(r["unpack_share"] > 0 and len(r["unpack_share_interval"]) == 2 for r in d["speed"] if r["format"].startswith("int4"))
    answers = [r["answer"] for r in d["faq"]["rows"]]
    assert answers[0] == "baseline" and sum(a.startswith(("1.", "2.", "3.", "4.")) for a in answers) == 7
    assert all(c["verdict"] in VERDICTS for c in d["claims"]) and len(d["claims"]) == 7 + 2 * 5 + 7
    checkpointed = [r for r in d["faq"]["checkpointing"] if r["mode"] == "inference_mode"]
    assert checkpointed[0]["kept_bytes"] == checkpointed[1]["kept_bytes"]    # nothing saved to drop
    training = d["faq"]["rows"][-1]
    assert training["setting"].startswith("gradients on") and training["ratio"] < 1 and training["verdict"] == HOLDS


@pytest.mark.parametrize("argv, err, match", [
    (["--excerpts", "1"], ValueError, "--excerpts"),
    (["--excerpts", "101"], ValueError, "--excerpts"),
    (["--prompts", "0"], ValueError, "--prompts"),
    (["--new-tokens", "0"], ValueError, "--new-tokens"),
    (["--rounds", "1"], ValueError, "--rounds"),
])
def test_command_bad_arguments(tmp_path, argv, err, match):
    command_rejects(bm.main, tmp_path, argv, err, match)


def test_command_needs_out_and_a_file_name(tmp_path):
    command_needs_out_and_a_file_name(bm.main, tmp_path)


def _cannot_compile(model, *args, **kwargs):
    raise RuntimeError("InductorError: C++ compile error: cc not found in /usr/local/bin/cc\nmore lines")


class _FailsWhenCalled:                                # inductor compiles at the first call, and fails there
    def __init__(self, model, *args, **kwargs):
        self.model = model

    def __getattr__(self, name):
        return getattr(self.model, name)

    def __call__(self, *args, **kwargs):
        raise OSError("no C++ compiler")


@pytest.mark.parametrize("how", ["raises", "fails at the first call", "missing"])
def test_compiled_speed_records_why_when_torch_compile_fails(tiny64, monkeypatch, how):
    from nanoinfer_lib.benchmark import memory_compile as mc
    if how == "missing":
        monkeypatch.delattr(torch, "compile")
    else:
        monkeypatch.setattr(torch, "compile", _cannot_compile if how == "raises" else _FailsWhenCalled)
    lines = []
    row = mc.compiled_speed(tiny64, "tiny", {}, 16, 2, 0.001, log=lines.append)
    assert set(row) == {"model", "format", "not_measured"} and row["format"] == "int4 g32 compiled"
    expected = {"raises": "RuntimeError: InductorError", "fails at the first call": "OSError: no C++ compiler",
                "missing": "RuntimeError: torch.compile is not in torch"}[how]
    assert row["not_measured"].startswith(f"torch.compile failed: {expected}")
    assert "/usr" not in row["not_measured"] and "more lines" not in row["not_measured"]   # one line, no local path
    assert lines == [f"tiny: int4 g32 compiled not measured: {row['not_measured']}"] == mc.compiled_lines([row])
    assert mc.compiled_claims([row]) == []


def test_quick_run_with_torch_compile_failing_writes_the_reason(tmp_path, monkeypatch):
    monkeypatch.setattr(torch, "compile", _cannot_compile)
    out = tmp_path / "memory.json"
    assert bm.main(["--quick", "--compile", "--out", str(out)]) == 0        # no crash: the run goes on
    d = json.loads(out.read_text())["data"]
    assert [r["model"] for r in d["int4_compiled"]] == ["bundled", "gpt2 shape"]
    assert all(r["not_measured"].startswith("torch.compile failed: RuntimeError") for r in d["int4_compiled"])
    assert d["faq"]["rows"] and not any("compiled" in c["claim"] for c in d["claims"])   # later parts still ran


@pytest.mark.parametrize("argv, compiled", [([], True), (["--quick"], False), (["--quick", "--compile"], True),
                                            (["--no-compile"], False)])
def test_command_compiles_unless_quick_or_told_not_to(tmp_path, monkeypatch, argv, compiled):
    runs = []
    monkeypatch.setattr(bm, "run", lambda *args: runs.append(args) or 0)
    assert bm.main(["--out", str(tmp_path / "x.json"), *argv]) == 0
    assert runs[0][-1] is compiled


def test_an_option_given_with_quick_wins_over_its_small_default(tmp_path, monkeypatch):
    runs = []
    monkeypatch.setattr(bm, "run", lambda *args: runs.append(args) or 0)
    assert bm.main(["--quick", "--excerpts", "10", "--out", str(tmp_path / "x.json")]) == 0
    assert runs[0][1:5] == (10, 2, 4, 2)                  # excerpts given; prompts, new tokens, rounds quick


def test_compiled_int4_step_agrees_with_eager_and_is_timed_against_both():
    """A real torch.compile (a one-block model; torch's caches allowed): the compiled step's logits equal the
    eager int4 step's, the compile time is apart from the timed samples, and both comparisons carry
    an interval around their ratio and a verdict that become two claims."""
    from nanoinfer_lib.benchmark import memory_compile as mc
    from nanoinfer_lib.benchmark.roofline import roofline_roofs
    tiny = GPT(tiny_config(n_layer=1, block_size=32)).eval()             # one block: the least to compile
    row = mc.compiled_speed(tiny, "tiny", roofline_roofs("cpu", quick=True), 16, 2, 0.001, log=lambda _: None,
                            first_compile=False)
    assert "not_measured" not in row, row.get("not_measured")
    assert row["max_abs_diff_vs_eager"] < 1e-4 and row["graphs"] >= 1
    assert row["compile_s"] > 10 * max(row["times_s"])               # the first call compiled; samples did not
    e = row["vs_eager"]
    assert len(e["times_eager_s"]) == len(e["times_s"]) == len(row["times_s"]) == len(row["times_fp32_s"]) == 4
    for ratio, (lo, hi), verdict in ((e["speedup"], e["interval"], e["verdict"]),
                                     (row["speedup"], row["interval"], row["verdict"])):
        assert lo <= ratio <= hi and verdict in VERDICTS
    lo, hi = row["tokens_per_s_interval"]
    assert lo <= row["tokens_per_s"] <= hi and row["bytes_per_step"] == bm.step_bytes(bm.weight_format(tiny, "int4 g32"), 16)
    claims = mc.compiled_claims([row])
    assert [c["claim"] for c in claims] == ["int4 g32 compiled decodes faster than eager int4 g32 (tiny)",
                                            "int4 g32 compiled decodes faster than fp32 (tiny)"]
    assert claims[1]["value"] == row["speedup"] and claims[0]["verdict"] == e["verdict"]
    assert mc.compiled_lines([row])[0].startswith("tiny: compiling the int4 g32 step took ")
