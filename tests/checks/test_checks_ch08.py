"""checks.ch08: int4 weight bytes of Llama-style models and the group size where scales cost over a
share of the payload; the stubs fail, right answers pass, the usual mistakes are named."""
import math

import pytest

from nanoinfer_lib import checks
from nanoinfer_lib.checks.ch08 import int4_weight_bytes, llama_parts, overhead_group_size


def _int4(cfg, g):                                   # written as a learner would, from the config alone
    h, L = cfg["hidden_size"], cfg["num_hidden_layers"]
    kv = h // cfg["num_attention_heads"] * cfg["num_key_value_heads"]
    linear = L * (2 * h * h + 2 * h * kv + 3 * h * cfg["intermediate_size"])
    tables = cfg["vocab_size"] * h * (1 if cfg["tie_word_embeddings"] else 2)
    return linear / 2 + linear / g * 2 + (tables + (2 * L + 1) * h) * 2


def test_reference_values():
    cfg = checks.LLAMA_WEIGHTS["Llama-2-7B"]
    p = llama_parts(cfg)
    assert p["linear"] + p["embedding"] + p["lm_head"] + p["norms"] == 6_738_415_616   # Llama-2-7B's parameter count
    assert int4_weight_bytes(cfg, 64) == 6_476_005_376 // 2 + 6_476_005_376 // 64 * 2 + (2 * 32000 * 4096 + 65 * 4096) * 2
    assert llama_parts(checks.LLAMA_WEIGHTS["Llama-3.2-1B"])["lm_head"] == 0                # tied


def test_check_int4_weight_bytes(capsys):
    assert checks.check_int4_weight_bytes(_int4)
    assert "✓" in capsys.readouterr().out

    def stub(cfg, g):
        raise NotImplementedError

    def parts(cfg, g):
        return llama_parts(cfg)
    mistakes = [
        (stub, "not written yet"),
        (lambda c, g: None, "not written yet"),
        (lambda c, g: _int4(c, g) - parts(c, g)["linear"] / g * 2, "forgot the scales"),
        (lambda c, g: _int4(c, g) + parts(c, g)["linear"] * 3.5, "bits as bytes"),
        (lambda c, g: _int4(c, g) + parts(c, g)["linear"] / 2, "int8"),
        (lambda c, g: parts(c, g)["linear"] / 2 + parts(c, g)["linear"] / g * 2, "not quantized"),
        (lambda c, g: _int4(c, g) - parts(c, g)["norms"] * 2, "norms"),
        (lambda c, g: _int4(c, g) - parts(c, g)["lm_head"] * 2, "does not tie"),
        (lambda c, g: _int4(c, g) + parts(c, g)["linear"] / g * 2, "2 bytes each, not 4"),
        (lambda c, g: _int4(c, 64), "use the group_size"),
        (lambda c, g: _int4(dict(c, num_key_value_heads=c["num_attention_heads"]), g), "grouped-query"),
        (lambda c, g: "4 GB", "return a number"),
        (lambda c, g: c["missing"], "KeyError"),
        (lambda c, g: 7, "expected"),
    ]
    for wrong, hint in mistakes:
        assert not checks.check_int4_weight_bytes(wrong)
        assert hint in capsys.readouterr().out
    with pytest.raises(TypeError, match="fn"):
        checks.check_int4_weight_bytes(42)


def test_tied_model_counted_twice_is_named(capsys):
    def twice(c, g):
        return _int4(dict(c, tie_word_embeddings=False), g)
    assert not checks.check_int4_weight_bytes(lambda c, g: _int4(c, g) if not c["tie_word_embeddings"] else twice(c, g))
    assert "counted once" in capsys.readouterr().out


def test_overhead_reference():
    assert overhead_group_size(4, 16, 0.10) == 39                   # 16 / (4 * 39) = 10.3%; at 40 exactly 10%
    assert 16 / (4 * 40) == 0.10 and overhead_group_size(3, 16, 0.10) == 53


def test_check_overhead_group_size(capsys):
    learner_loop = overhead_group_size

    def closed_form(bits, scale_bits, share):
        return math.ceil(scale_bits / (share * bits)) - 1

    def search(bits, scale_bits, share):
        return max(g for g in range(1, 10_000) if scale_bits / (bits * g) > share)

    for right in (learner_loop, closed_form, search):
        assert checks.check_overhead_group_size(right)
        assert "✓" in capsys.readouterr().out

    def stub(bits, scale_bits, share):
        raise NotImplementedError

    for wrong, hint in ((stub, "not written yet"), (lambda b, s, x: None, "not written yet"),
                        (lambda b, s, x: closed_form(b, s, x) + 1, "strict"),
                        (lambda b, s, x: closed_form(b, s // 8, x), "scale's bytes"),
                        (lambda b, s, x: closed_form(b, s * 8, x), "bits as bytes"),
                        (lambda b, s, x: max(g for g in range(1, 999) if s / (b * g + s) > x), "payload + scales"),
                        (lambda b, s, x: 1, "largest"),
                        (lambda b, s, x: 32, "expected"),
                        (lambda b, s, x: 1 / 0, "ZeroDivisionError")):
        assert not checks.check_overhead_group_size(wrong)
        assert hint in capsys.readouterr().out
