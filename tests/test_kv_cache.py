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


# ---- the quantized cache (kv_bits) ---------------------------------------------------------------

def _decode(model, ids, cache, prefill):
    """Logits (B, T, V) of ``ids`` fed as a prefill of ``prefill`` tokens then one token per step."""
    steps = [model(ids[:, :prefill], kv_cache=cache)]
    steps += [model(ids[:, j:j + 1], kv_cache=cache) for j in range(prefill, ids.shape[1])]
    return torch.cat(steps, dim=1)


@pytest.mark.parametrize("kv_bits, tol", [(8, 0.03), (4, 0.5)])
def test_quantized_cache_logits_stay_close_to_the_float_cache(bundled, kv_bits, tol):
    # tolerance on the bundled model, whose logits have a spread (std) of about 3.8: measured errors
    # were 0.011 (int8) and 0.26 (int4) at group_size 32 on this 105-token excerpt
    model, tok = bundled
    ids = torch.tensor([tok.encode("ROMEO:\nBut soft, what light through yonder window breaks? " * 6)])[:, :100]
    with torch.inference_mode():
        ref = _decode(model, ids, KVCache(model.config, 1, 128), prefill=20)
        q = _decode(model, ids, KVCache(model.config, 1, 128, kv_bits=kv_bits), prefill=20)
    err = (q - ref).abs().max().item()
    assert 0 < err < tol


def test_quantized_cache_keeps_keys_per_channel_and_values_per_token_by_hand():
    cfg = tiny_config(n_layer=1, n_head=1, n_embd=2)              # one head of 2 channels
    cache = KVCache(cfg, batch_size=1, max_len=6, kv_bits=8, group_size=4)
    k = torch.tensor([[0., 10.], [1., 20.], [2., -10.], [3., 0.], [5., 5.]])[None, None]   # (1, 1, 5, 2)
    v = torch.tensor([[0., 255.], [-1., 1.], [4., 4.], [0., 51.], [7., 7.]])[None, None]
    K, V = cache.update(0, k, v)
    # keys: one group of 4 positions; channel 0 spans [0, 3], channel 1 [-10, 20]
    assert torch.equal(cache.k_scale[0][0, 0], torch.tensor([[3 / 255, 30 / 255]]))
    assert torch.equal(cache.k_low[0][0, 0], torch.tensor([[0., -10.]]))
    assert cache.k_codes[0][0, 0, :, 0].tolist() == [0, 85, 170, 255]            # 0, 1, 2, 3 in steps of 3/255
    assert cache.k_codes[0][0, 0, :, 1].tolist() == [170, 255, 0, 85]            # 10, 20, -10, 0 in steps of 30/255
    # values: one scale and minimum per position, over its 2 channels
    assert torch.allclose(cache.v_scale[0][0, 0, :, 0], torch.tensor([1., 2 / 255, 0., 51 / 255]))
    assert cache.v_low[0][0, 0, :, 0].tolist() == [0., -1., 4., 0.]
    assert cache.v_codes[0][0, 0, :, 1].tolist() == [255, 255, 0, 255]
    # the fifth position starts a new group: it waits in full precision
    assert torch.equal(cache.k_tail[0][0, 0, :1], k[0, 0, 4:]) and torch.equal(K[:, :, 4:], k[:, :, 4:])
    assert torch.allclose(K, k, atol=30 / 255 / 2 + 1e-6) and torch.allclose(V, v, atol=1 / 2 + 1e-6)
    assert torch.equal(V[0, 0, 2], v[0, 0, 2])                    # a constant row comes back exactly


def test_int4_codes_pack_two_per_byte_and_unpack_bit_exactly():
    codes = torch.arange(16, dtype=torch.uint8).repeat(3, 2)       # (3, 32), every 4-bit value
    packed = bm.pack_int4(codes)
    assert packed.shape == (3, 16) and packed.dtype == torch.uint8
    assert packed[0, 0].item() == 0 | (1 << 4)
    assert torch.equal(bm.unpack_int4(packed), codes)


@pytest.mark.parametrize("kv_bits", [8, 4])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("B, max_len, group_size", [(1, 16, 4), (2, 13, 4), (3, 7, 32), (1, 10, 1)])
def test_quantized_nbytes_equals_the_formula(kv_bits, dtype, B, max_len, group_size):
    cfg = tiny_config()
    cache = KVCache(cfg, batch_size=B, max_len=max_len, dtype=dtype, kv_bits=kv_bits, group_size=group_size)
    assert cache.nbytes == bm.kv_cache_bytes(cfg, B, max_len, dtype, kv_bits=kv_bits, group_size=group_size)
    assert cache.nbytes == sum(t.numel() * t.element_size() for t in cache.tensors())


def test_quantized_nbytes_by_hand():
    # GPT-2 small, 1024 positions, float16, int8 codes, groups of 32: per layer and row
    # codes 2*1024*768, key scales+mins 2*32*768*2, value scales+mins 2*1024*12*2, tail 2*31*768*2
    from nanoinfer_lib.model import GPT2_SMALL
    per_layer = 2 * 1024 * 768 + 2 * 32 * 768 * 2 + 2 * 1024 * 12 * 2 + 2 * 31 * 768 * 2
    assert bm.kv_cache_bytes(GPT2_SMALL, 1, 1024, torch.float16, kv_bits=8) == 12 * per_layer
    assert 12 * per_layer / bm.kv_cache_bytes(GPT2_SMALL, 1, 1024, torch.float16) < 0.6


@pytest.mark.parametrize("kw, exc, name", [
    (dict(kv_bits=16), ValueError, "kv_bits"),
    (dict(kv_bits=2), ValueError, "kv_bits"),
    (dict(kv_bits=8.0), TypeError, "kv_bits"),
    (dict(kv_bits=True), TypeError, "kv_bits"),
    (dict(kv_bits=8, group_size=0), ValueError, "group_size"),
    (dict(kv_bits=8, dtype=torch.float64), ValueError, "dtype"),
    (dict(kv_bits=4, dtype=torch.float8_e4m3fn), ValueError, "dtype"),
])
def test_quantized_cache_bad_arguments(kw, exc, name):
    with pytest.raises(exc, match=name):
        KVCache(tiny_config(), batch_size=1, max_len=8, **kw)
    with pytest.raises(exc, match=name):
        bm.kv_cache_bytes(tiny_config(), 1, 8, **kw)


def test_int4_cache_needs_an_even_head_dim():
    with pytest.raises(ValueError, match="kv_bits=4.*head_dim"):
        KVCache(tiny_config(n_head=2, n_embd=6), batch_size=1, max_len=8, kv_bits=4)


@pytest.mark.parametrize("kv_bits", [8, 4])
def test_a_caller_decodes_with_a_quantized_cache(bundled, kv_bits):
    """``generate`` builds its own float cache; a caller who wants a quantized one passes it to the
    model in a decode loop. Greedy tokens agree with generate's on this prompt (measured: all 40)."""
    from nanoinfer_lib import generate
    model, tok = bundled
    ids = torch.tensor([tok.encode("JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n")])
    want = generate(model, ids, max_new_tokens=40, temperature=0)
    cache = KVCache(model.config, 1, ids.shape[1] + 40, kv_bits=kv_bits)
    tokens = [ids]
    with torch.inference_mode():
        logits = model(ids, kv_cache=cache, last_only=True)          # (1, 1, V)
        for _ in range(40):
            tokens.append(logits[:, -1].argmax(-1, keepdim=True))      # (1, 1)
            logits = model(tokens[-1], kv_cache=cache, last_only=True)
    assert torch.equal(torch.cat(tokens, dim=1), want)


def test_quantized_cache_crop_and_reset(tiny_model):
    ids = torch.randint(0, 50, (2, 14), generator=torch.Generator().manual_seed(0))
    cache = KVCache(tiny_model.config, 2, 16, kv_bits=8, group_size=4)
    with torch.inference_mode():
        tiny_model(ids[:, :10], kv_cache=cache)
        cache.crop(6)                               # back into the second group, quantized already
        a = tiny_model(ids[:, 6:14], kv_cache=cache)
        cache.reset()
        full = tiny_model(ids, kv_cache=cache)[:, 6:]
        ref = tiny_model(ids)[:, 6:]
    assert cache.length == 14
    assert (a - full).abs().max() < 1e-3 and (a - ref).abs().max() < 1e-2
