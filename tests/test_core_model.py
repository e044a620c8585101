"""GPT forward, KV cache equality for every prefill/decode split, input validation."""
import copy

import pytest
import torch

from nanoinfer_lib import GPTConfig, KVCache


def test_forward_shapes(tiny_model):
    idx = torch.randint(0, 50, (3, 7))
    assert tiny_model(idx).shape == (3, 7, 50)
    assert tiny_model(idx, last_only=True).shape == (3, 1, 50)


def test_tied_embeddings_and_param_count(tiny_model):
    assert tiny_model.lm_head.weight is tiny_model.transformer.wte.weight
    n = sum(p.numel() for p in tiny_model.parameters())
    assert tiny_model.num_params() in (n, n - tiny_model.transformer.wpe.weight.numel())


@pytest.mark.parametrize("n_prefill", range(1, 12))
def test_cached_equals_uncached_for_every_split(tiny_model, n_prefill):
    torch.manual_seed(1)
    idx = torch.randint(0, 50, (2, 12))
    full = tiny_model(idx)
    cache = KVCache(tiny_model.config, batch_size=2, max_len=12)
    parts = [tiny_model(idx[:, :n_prefill], kv_cache=cache)]
    t = n_prefill
    step = 1
    while t < 12:                                   # decode in chunks of 1, 2, 1, 2, ... tokens
        parts.append(tiny_model(idx[:, t:t + step], kv_cache=cache))
        t += step
        step = 3 - step
    cached = torch.cat(parts, dim=1)
    assert cache.length == 12
    assert (cached - full).abs().max().item() < 1e-4


def test_config_validation():
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="block_size"):
        GPTConfig(block_size=0)
    with pytest.raises(TypeError, match="vocab_size"):
        GPTConfig(vocab_size=2.5)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.5)


def test_forward_rejects_bad_input(tiny_model):
    with pytest.raises(TypeError, match="idx"):
        tiny_model(torch.rand(1, 4))
    with pytest.raises(ValueError, match="idx"):
        tiny_model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        tiny_model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        tiny_model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="block_size"):
        tiny_model(torch.zeros(1, 17, dtype=torch.long))


def test_full_cache_is_a_clear_error(tiny_model):
    cache = KVCache(tiny_model.config, batch_size=1, max_len=4)
    tiny_model(torch.zeros(1, 3, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="full"):
        tiny_model(torch.zeros(1, 2, dtype=torch.long), kv_cache=cache)


def test_padding_mask_and_positions_match_unpadded(tiny_model):
    ids = torch.randint(0, 50, (1, 5))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = tiny_model(padded, attention_mask=mask, position_ids=pos)[:, 3:]
    assert (out - tiny_model(ids)).abs().max().item() < 1e-5


def test_fast_cpu_linear_matches_nn_linear_and_follows_weight_changes():
    """model.Linear's one-row path multiplies by a cached W^T: same numbers as nn.Linear, and the cache
    must notice in-place updates and replaced weights (else decoding would use stale weights)."""
    from nanoinfer_lib.model import Linear
    torch.manual_seed(0)
    fast, plain = Linear(32, 48), torch.nn.Linear(32, 48)
    plain.load_state_dict(fast.state_dict())
    x = torch.randn(1, 1, 32)
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x))
        assert fast(x).shape == (1, 1, 48)
        fast.weight.mul_(2.0)                                   # in place
        plain.weight.mul_(2.0)
        torch.testing.assert_close(fast(x), plain(x))
        fast.weight = torch.nn.Parameter(torch.randn(48, 32))   # replaced
        plain.weight = torch.nn.Parameter(fast.weight.detach().clone())
        torch.testing.assert_close(fast(x), plain(x))
        rows = torch.randn(3, 32)                               # several rows, small W: the plain path
        torch.testing.assert_close(fast(rows), plain(rows))
    y = fast(x)                                                 # with gradients: the plain path, differentiable
    y.sum().backward()
    assert fast.weight.grad is not None


@pytest.mark.parametrize("bias", [True, False])
def test_packed_cpu_linear_matches_nn_linear_for_several_rows(monkeypatch, bias):
    """Several rows through a large W take oneDNN's packed kernel (the threshold is lowered here so a
    small layer qualifies): same numbers as nn.Linear for 2-D and 3-D inputs, and a weight changed in
    place or replaced is repacked."""
    from nanoinfer_lib.model import Linear
    if not torch.backends.mkldnn.is_available():
        pytest.skip("this PyTorch build has no oneDNN")
    monkeypatch.setattr(Linear, "packed_min_features", 0)
    torch.manual_seed(0)
    fast, plain = Linear(32, 48, bias=bias), torch.nn.Linear(32, 48, bias=bias)
    plain.load_state_dict(fast.state_dict())
    with torch.no_grad():
        for x in (torch.randn(2, 32), torch.randn(4, 5, 32), torch.randn(3, 1, 32)):
            torch.testing.assert_close(fast(x), plain(x))
        assert "packed" in fast._copies                       # the packed path did run
        x = torch.randn(8, 1, 32)
        fast.weight.mul_(-1.0)                                 # in place
        plain.weight.mul_(-1.0)
        torch.testing.assert_close(fast(x), plain(x))
        fast.weight = torch.nn.Parameter(torch.randn(48, 32))  # replaced
        plain.weight = torch.nn.Parameter(fast.weight.detach().clone())
        torch.testing.assert_close(fast(x), plain(x))
        f16, p16 = copy.deepcopy(fast).half(), copy.deepcopy(plain).half()
        torch.testing.assert_close(f16(x.half()), p16(x.half()))  # fp16: the plain path
    monkeypatch.setattr(Linear, "_packed_ok", False)           # a build without oneDNN's linear ops
    with torch.no_grad():
        torch.testing.assert_close(fast(x), plain(x))
