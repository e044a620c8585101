"""kv_cache: preallocation, the byte formula, crop/reset, and errors for a cache that does not fit the model."""
import pytest
import torch

from nanoinfer_lib import KVCache
from nanoinfer_lib import kv_cache as bm

from _helpers import tiny_config


def test_preallocated_shapes_and_exact_nbytes():
    cfg = tiny_config()
    for dtype, size in [(torch.float32, 4), (torch.float16, 2)]:
        cache = KVCache(cfg, batch_size=3, max_len=10, dtype=dtype)
        assert cache.nbytes == 2 * cfg.n_layer * 3 * 10 * cfg.n_embd * size
        assert sum(t.numel() * t.element_size() for t in cache.k + cache.v) == cache.nbytes
        assert cache.k[0].shape == (3, cfg.n_head, 10, cfg.head_dim)


def test_defaults_are_cpu_float32():
    cache = KVCache(tiny_config(), batch_size=1, max_len=4)
    assert cache.k[0].device.type == "cpu" and cache.k[0].dtype == torch.float32


def test_length_reset_and_no_reallocation(tiny_model):
    cache = KVCache(tiny_model.config, batch_size=1, max_len=8)
    ptr = cache.k[0].data_ptr()
    tiny_model(torch.tensor([[1, 2, 3]]), kv_cache=cache)
    tiny_model(torch.tensor([[4]]), kv_cache=cache)
    assert cache.length == 4 and cache.remaining == 4
    assert cache.k[0].data_ptr() == ptr
    cache.reset()
    assert cache.length == 0
    # after a reset the cache gives the same logits as a fresh one
    fresh = KVCache(tiny_model.config, batch_size=1, max_len=8)
    a = tiny_model(torch.tensor([[5, 6]]), kv_cache=cache)
    b = tiny_model(torch.tensor([[5, 6]]), kv_cache=fresh)
    assert torch.allclose(a, b)


@pytest.mark.parametrize("kw,exc", [
    (dict(batch_size=0, max_len=4), ValueError),
    (dict(batch_size=1, max_len=0), ValueError),
    (dict(batch_size=1, max_len=17), ValueError),        # beyond block_size 16
    (dict(batch_size=1.5, max_len=4), TypeError),
])
def test_bad_arguments(kw, exc):
    with pytest.raises(exc, match="batch_size|max_len"):
        KVCache(tiny_config(), **kw)


def test_batch_mismatch_is_a_clear_error(tiny_model):
    cache = KVCache(tiny_model.config, batch_size=2, max_len=8)
    with pytest.raises(ValueError, match="batch"):
        tiny_model(torch.tensor([[1, 2]]), kv_cache=cache)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
@pytest.mark.parametrize("B,T", [(1, 1), (2, 16), (3, 7)])
def test_kv_cache_bytes_matches_allocated_cache(dtype, B, T):
    cfg = tiny_config()
    cache = KVCache(cfg, batch_size=B, max_len=T, dtype=dtype)
    assert bm.kv_cache_bytes(cfg, B, T, dtype) == cache.nbytes
    assert bm.kv_cache_bytes(cfg, B, T, dtype) == 2 * cfg.n_layer * B * T * cfg.n_embd * dtype.itemsize


def test_kv_cache_bytes_rejects_bad_arguments():
    cfg = tiny_config()
    with pytest.raises(ValueError, match="batch_size"):
        bm.kv_cache_bytes(cfg, -1, 4)
    with pytest.raises(TypeError, match="seq_len"):
        bm.kv_cache_bytes(cfg, 1, 2.5)
    with pytest.raises(TypeError, match="dtype"):
        bm.kv_cache_bytes(cfg, 1, 4, 2)
    with pytest.raises(ValueError, match="dtype"):
        bm.kv_cache_bytes(cfg, 1, 4, "float64")
    assert bm.kv_cache_bytes(cfg, 1, 4, "float16") == bm.kv_cache_bytes(cfg, 1, 4, torch.float16)
