"""checks.ch02: the cache update, the offset causal mask, the cache size and GQA bytes per token."""
import pytest
import torch

from nanoinfer_lib import checks
from nanoinfer_lib.checks.ch02 import kv_bytes_per_token
from nanoinfer_lib.model import GPT2_SMALL


def _update(past, k, v):
    return (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))


def test_check_cache_update(capsys):
    assert checks.check_cache_update(_update)
    assert not checks.check_cache_update(lambda past, k, v: _update(past, k, v)[::-1])       # k and v swapped
    assert not checks.check_cache_update(
        lambda past, k, v: (k, v) if past is None else (torch.cat([past[0], k], 3), torch.cat([past[1], v], 3)))
    assert not checks.check_cache_update(
        lambda past, k, v: (k, v) if past is None else (torch.cat([k, past[0]], 2), torch.cat([v, past[1]], 2)))
    assert not checks.check_cache_update(lambda past, k, v: None)                             # the stub
    assert "not written yet" in capsys.readouterr().out


def test_check_causal_mask(capsys):
    assert checks.check_causal_mask(lambda T, past: torch.ones(T, past + T, dtype=torch.bool).tril(diagonal=past))
    assert not checks.check_causal_mask(lambda T, past: torch.ones(T, T, dtype=torch.bool).tril())   # the square mask
    assert not checks.check_causal_mask(lambda T, past: torch.ones(T, past + T, dtype=torch.bool).tril())  # no offset
    assert not checks.check_causal_mask(lambda T, past: None)
    assert "not written yet" in capsys.readouterr().out


def test_check_cache_size(capsys):
    cfg = GPT2_SMALL
    right = 2 * 12 * 4 * 1024 * 768 * 2
    assert checks.check_cache_size(right, cfg, 4, 1024, torch.float16)
    assert not checks.check_cache_size(right // 2, cfg, 4, 1024, torch.float16)
    assert "k AND v" in capsys.readouterr().out
    assert not checks.check_cache_size(..., cfg, 4, 1024, torch.float16)
    with pytest.raises(TypeError, match="answer_bytes"):
        checks.check_cache_size("150MB", cfg, 4, 1024, torch.float16)


def test_kv_bytes_per_token_reference_values():
    cfg = checks.LLAMA_STYLE
    assert kv_bytes_per_token(cfg["Llama-2-7B (MHA)"], 2) == 2 * 32 * 32 * 128 * 2 == 512 * 1024
    assert kv_bytes_per_token(cfg["Llama-3-8B (GQA)"], 2) == 128 * 1024                 # 4x smaller: 8 of 32 heads


def test_check_kv_bytes_per_token(capsys):
    def query_heads(c, b):                                   # caches every query head: the MHA size
        return 2 * c["num_hidden_layers"] * c["hidden_size"] * b

    assert checks.check_kv_bytes_per_token(kv_bytes_per_token)
    assert "✓" in capsys.readouterr().out
    for wrong, hint in ((lambda c, b: kv_bytes_per_token(c, b) // 2, "times 2"),
                        (query_heads, "key/value heads"),
                        (lambda c, b: None, "not written yet"),
                        (lambda c, b: c["missing"], "KeyError"),
                        (lambda c, b: 7, "head_dim")):
        assert not checks.check_kv_bytes_per_token(wrong)
        assert hint in capsys.readouterr().out


def _window(T, past, window):
    q, k = torch.arange(past, past + T)[:, None], torch.arange(past + T)[None, :]
    return (k <= q) & (k > q - window)


def test_check_sliding_window_mask(capsys):
    assert checks.check_sliding_window_mask(_window)
    assert "✓" in capsys.readouterr().out
    causal = lambda T, past, w: torch.ones(T, past + T, dtype=torch.bool).tril(diagonal=past)
    no_offset = lambda T, past, w: _window(T, 0, w) if past == 0 else torch.cat(
        [torch.zeros(T, past, dtype=torch.bool), _window(T, 0, w)], dim=1)
    for wrong, hint in ((lambda T, past, w: None, "not written yet"),
                        (causal, "further back than the window"),
                        (lambda T, past, w: _window(T, past, w + 1), "not >="),
                        (lambda T, past, w: _window(T, past, w - 1), "window - 1"),
                        (lambda T, past, w: _window(T, 0, w), "expected a tensor of shape"),   # square: no cache
                        (no_offset, "wrong entries"),
                        (lambda T, past, w: 1 / 0, "ZeroDivisionError")):
        assert not checks.check_sliding_window_mask(wrong)
        assert hint in capsys.readouterr().out


def test_check_sliding_window_mask_names_the_missing_offset(capsys):
    def first_rows(T, past, w):                                 # the first T rows of the S x S mask
        return torch.ones(T, past + T, dtype=torch.bool).tril() & ~torch.ones(T, past + T, dtype=torch.bool).tril(-w)
    assert not checks.check_sliding_window_mask(first_rows)
    assert "shift the diagonals by past" in capsys.readouterr().out


def test_check_repeat_kv(capsys):
    assert checks.check_repeat_kv(lambda x, n: x.repeat_interleave(n, dim=1))
    assert "✓" in capsys.readouterr().out
    for wrong, hint in ((lambda x, n: None, "not written yet"),
                        (lambda x, n: x.repeat(1, n, 1, 1), "tiled"),
                        (lambda x, n: x.repeat_interleave(n, dim=2), "dim 1"),
                        (lambda x, n: x.repeat_interleave(n, dim=1).flip(1), "h // n_rep"),
                        (lambda x, n: x.zero_(), "changed its input"),
                        (lambda x, n: x.expand(2), "raised")):
        assert not checks.check_repeat_kv(wrong)
        assert hint in capsys.readouterr().out
    with pytest.raises(TypeError, match="fn"):
        checks.check_repeat_kv("repeat")
