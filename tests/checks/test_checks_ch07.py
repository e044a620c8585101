"""checks.ch07: each exercise check accepts the right answer, names the usual mistakes, says
"not written yet" for the stub, and agrees with the library it checks against."""
import pytest

from nanoinfer_lib import GPTConfig, checks
from nanoinfer_lib.checks import ch07
from nanoinfer_lib.kv_cache import kv_cache_bytes


def _ceil(a, b):
    return -(-a // b)


def test_check_blocks_needed(capsys):
    assert checks.check_blocks_needed(lambda p, n, bs: _ceil(p + n - 1, bs)).ok is True
    assert "✓" in capsys.readouterr().out


@pytest.mark.parametrize("wrong, hint", [
    (lambda p, n, bs: ..., "not written yet"),
    (lambda p, n, bs: _ceil(p + n, bs), "never fed back"),
    (lambda p, n, bs: (p + n - 1) // bs, "round up"),
    (lambda p, n, bs: _ceil(p, bs), "output's keys"),
    (lambda p, n, bs: _ceil(p, bs) + _ceil(n, bs), "together"),
    (lambda p, n, bs: p + n - 1, "divide by block_size"),
    (lambda p, n, bs: (p + n - 1) / bs, "an int"),
    (lambda p, n, bs: 1 / 0, "ZeroDivisionError"),
    (lambda p, n, bs: 3, "block i // block_size"),
])
def test_check_blocks_needed_names_the_mistake(capsys, wrong, hint):
    assert checks.check_blocks_needed(wrong).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out


def test_blocks_needed_reference_is_the_engines_peak():
    """The reference is what a running Engine holds at its peak (the bundled-free tiny model)."""
    import torch
    from _helpers import CharTokenizer, tiny_config
    from nanoinfer_lib import GPT
    from nanoinfer_lib.serving import Engine, SamplingParams
    torch.manual_seed(0)
    model = GPT(tiny_config()).eval()
    for p, n, bs in [(3, 2, 4), (3, 3, 4), (4, 1, 4), (5, 4, 2)]:
        engine = Engine(model, CharTokenizer(), max_num_seqs=1, block_size=bs)
        engine.generate([[1] * p], SamplingParams(max_new_tokens=n))
        assert engine.stats["peak_blocks_used"] == ch07.blocks_needed_reference(p, n, bs), (p, n, bs)


def test_preemption_reference_matches_a_plain_reading_of_the_rule():
    for case in ch07._preemption_cases():
        assert ch07.preemption_reference(*case) == ch07._preemption_variant(*case), case


def test_check_preemption(capsys):
    assert checks.check_preemption(lambda r, f, bs: ch07._preemption_variant(r, f, bs)).ok is True
    assert "✓" in capsys.readouterr().out


def _decoded_too(r, f, bs):
    decoded, preempted = ch07._preemption_variant(r, f, bs)
    return [rid for rid, _ in r], preempted


@pytest.mark.parametrize("wrong, hint", [
    (lambda r, f, bs: None, "not written yet"),
    (lambda r, f, bs: ch07._preemption_variant(r, f, bs, victim="oldest"), "not the oldest"),
    (lambda r, f, bs: ch07._preemption_variant(r, f, bs, victim="self"), "itself the newest"),
    (lambda r, f, bs: ch07._preemption_variant(r, f, bs, frees=False), "gives back all its blocks"),
    (lambda r, f, bs: ch07._preemption_variant(r, f, bs, every_step=True), "last one is full"),
    (_decoded_too, "computes nothing"),
    (lambda r, f, bs: [rid for rid, _ in r], "pair of lists"),
    (lambda r, f, bs: r[5], "IndexError"),
])
def test_check_preemption_names_the_mistake(capsys, wrong, hint):
    assert checks.check_preemption(wrong).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out


def test_check_preemption_needs_a_function():
    with pytest.raises(TypeError, match="fn"):
        checks.check_preemption(3)


CONFIG = GPTConfig(block_size=512, vocab_size=2048, n_layer=4, n_head=4, n_embd=256)


def test_check_prefix_sharing_bytes(capsys):
    per_token = kv_cache_bytes(CONFIG, 1, 1)
    assert per_token == 8192
    assert checks.check_prefix_sharing_bytes(7 * 8 * 16 * per_token, CONFIG).ok is True
    assert "✓" in capsys.readouterr().out
    assert checks.check_prefix_sharing_bytes(3 * 2 * 32 * per_token, CONFIG, num_requests=4, prefix_tokens=64,
                                             block_size=32).ok is True


WANT = 7 * 8 * 16 * 8192


@pytest.mark.parametrize("answer, hint", [
    (..., "not answered yet"),
    (8 * 8 * 16 * 8192, "one copy is still stored"),
    (7 * 130 * 8192, "only full blocks"),
    (WANT / 2, "keys AND values"),
    (WANT / 4, "every layer"),
    (8 * 16 * 8192, "one copy of the prefix"),
    (WANT / 2**20, "not MiB"),
    (WANT * 8, "not bits"),
    (12345, "how many full blocks"),
])
def test_check_prefix_sharing_bytes_names_the_mistake(capsys, answer, hint):
    assert checks.check_prefix_sharing_bytes(answer, CONFIG).ok is False
    out = capsys.readouterr().out
    assert hint in out and "✓" not in out


def test_check_prefix_sharing_bytes_wants_a_number():
    with pytest.raises(TypeError, match="answer"):
        checks.check_prefix_sharing_bytes("7 MiB", CONFIG)
