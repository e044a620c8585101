"""Exercises of chapter 02 (the KV cache). Each check prints a friendly verdict and returns a bool."""
from __future__ import annotations

import torch

from ..kv_cache import kv_cache_bytes
from ._common import Verdict, require_callable, self_check


@self_check
def check_cache_update(fn) -> Verdict:
    """Exercise (chapter 02): ``fn(past, k, v) -> (k_all, v_all)`` appends one layer's new keys and
    values (B, nh, T, hs) to ``past`` (None, or a pair of (B, nh, S, hs) tensors) along the time axis."""
    require_callable(fn, "fn")
    g = torch.Generator().manual_seed(0)
    cases = [(None, 1, 3), ((2, 5), 2, 1), ((2, 7), 2, 3)]      # (past shape (B, S) or None, B, T)
    for past_shape, B, T in cases:
        nh, hs = 3, 4
        k, v = torch.randn(B, nh, T, hs, generator=g), torch.randn(B, nh, T, hs, generator=g)
        past = None
        if past_shape is not None:
            S = past_shape[1]
            past = (torch.randn(B, nh, S, hs, generator=g), torch.randn(B, nh, S, hs, generator=g))
        want = (k, v) if past is None else (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))
        try:
            got = fn(past, k, v)
        except NotImplementedError:
            print("… not written yet: replace the raise NotImplementedError with your code")
            return False
        except Exception as e:  # a learner's bug: report it instead of a traceback
            print(f"✗ with past={'None' if past is None else 'S=' + str(past_shape[1])} and T={T}: "
                  f"raised {type(e).__name__}")
            return False
        if got is None:
            print("… not written yet: return the pair (k_all, v_all)")
            return False
        if not (isinstance(got, tuple) and len(got) == 2 and all(isinstance(t, torch.Tensor) for t in got)):
            print("✗ return a pair (k_all, v_all) of tensors")
            return False
        for name, g_t, w_t in (("k_all", got[0], want[0]), ("v_all", got[1], want[1])):
            if g_t.shape != w_t.shape:
                print(f"✗ {name} has shape {tuple(g_t.shape)}, expected {tuple(w_t.shape)} "
                      "(B, nh, S + T, hs): concatenate on the time axis, dim=2")
                return False
            if not torch.equal(g_t, w_t):
                print(f"✗ {name} has the right shape but wrong values: old positions first, then the new ones")
                return False
    print(f"✓ cache update correct for {len(cases)} cases (time axis is dim 2 of (B, nh, T, hs))")
    return True


@self_check
def check_causal_mask(fn) -> Verdict:
    """Exercise (chapter 02): ``fn(T, past) -> bool tensor (T, past + T)``, True where query i (the
    (past + i)-th position) may attend to key j, i.e. j <= past + i."""
    require_callable(fn, "fn")
    cases = [(1, 0), (4, 0), (1, 5), (3, 4), (5, 2)]
    for T, past in cases:
        want = torch.ones(T, past + T, dtype=torch.bool).tril(diagonal=past)
        try:
            got = fn(T, past)
        except NotImplementedError:
            print("… not written yet: replace the raise NotImplementedError with your code")
            return False
        except Exception as e:  # a learner's bug: report it instead of a traceback
            print(f"✗ fn(T={T}, past={past}) raised {type(e).__name__}")
            return False
        if got is None:
            print("… not written yet: return the boolean mask")
            return False
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            print(f"✗ fn(T={T}, past={past}) gave {shape}, expected a tensor of shape {tuple(want.shape)} "
                  "(queries x keys; a square T x T mask is the tutorial's bug)")
            return False
        if not torch.equal(got.bool(), want):
            print(f"✗ fn(T={T}, past={past}): wrong entries; query i sits at position past + i "
                  "and may see keys 0..past + i")
            return False
    print(f"✓ causal mask with a cache offset correct for {len(cases)} (T, past) cases")
    return True


@self_check
def check_cache_size(answer_bytes, config, batch_size: int, seq_len: int, dtype: torch.dtype) -> Verdict:
    """Exercise (chapter 02): your prediction, in bytes, of the KV cache of ``config`` holding
    ``seq_len`` positions for ``batch_size`` sequences in ``dtype`` (within 1%)."""
    if answer_bytes is None or answer_bytes is ...:
        print("… not answered yet: replace the ... with your prediction in bytes")
        return False
    if isinstance(answer_bytes, bool) or not isinstance(answer_bytes, (int, float)):
        raise TypeError(f"answer_bytes must be a number of bytes, got {type(answer_bytes).__name__}")
    want = kv_cache_bytes(config, batch_size, seq_len, dtype)
    if abs(answer_bytes - want) <= 0.01 * want:
        print(f"✓ {answer_bytes:,.0f} bytes = {answer_bytes / 2**20:,.1f} MiB is right")
        return True
    ratio = answer_bytes / want if want else float("inf")
    hint = ("off by 2: k AND v" if abs(ratio - 0.5) < 0.01 or abs(ratio - 2) < 0.02 else
            "off by the dtype's bytes per number" if any(abs(ratio - r) < 0.01 for r in (0.25, 0.5, 2, 4)) else
            "count 2 (k, v) x n_layer x batch x positions x n_embd x bytes per number")
    print(f"✗ {answer_bytes:,.0f} bytes is {ratio:.3g}x the right size; hint: {hint}")
    return False


# Llama-style configurations (Hugging Face config names): multi-head, grouped-query and multi-query
LLAMA_STYLE = {
    "Llama-2-7B (MHA)": {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                         "hidden_size": 4096},
    "Llama-3-8B (GQA)": {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                         "hidden_size": 4096},
    "an MQA model": {"num_hidden_layers": 24, "num_attention_heads": 16, "num_key_value_heads": 1,
                     "hidden_size": 2048},
}


def kv_bytes_per_token(config: dict, dtype_bytes: int = 2) -> int:
    """Bytes one token adds to the KV cache of a Llama-style ``config``: K and V, in every layer,
    for each key/value head, ``head_dim = hidden_size / num_attention_heads`` numbers each."""
    head_dim = config["hidden_size"] // config["num_attention_heads"]
    return 2 * config["num_hidden_layers"] * config["num_key_value_heads"] * head_dim * dtype_bytes


@self_check
def check_kv_bytes_per_token(fn) -> Verdict:
    """Exercise (chapter 02): ``fn(config, dtype_bytes) -> int``, the KV-cache bytes per token of a
    Llama-style config (MHA, GQA and MQA cases of ``LLAMA_STYLE``, in 2-byte and 4-byte dtypes)."""
    require_callable(fn, "fn")
    for name, cfg in LLAMA_STYLE.items():
        for nbytes in (2, 4):
            want = kv_bytes_per_token(cfg, nbytes)
            try:
                got = fn(dict(cfg), nbytes)
            except Exception as e:  # a learner's bug: report it instead of a traceback
                print(f"✗ {name}, {nbytes}-byte numbers: raised {type(e).__name__}: {e}")
                return False
            if got is None or got is ...:
                print("… not written yet: return the bytes per token")
                return False
            if got == want:
                continue
            heads = cfg["num_attention_heads"] / cfg["num_key_value_heads"]
            ratio = got / want if isinstance(got, (int, float)) and not isinstance(got, bool) else None
            if ratio is None:
                hint = "return an int"
            elif ratio == 0.5:
                hint = "count K and V: times 2"
            elif heads > 1 and ratio == heads:
                hint = "only the key/value heads are cached, not every query head"
            else:
                hint = "2 x layers x KV heads x head_dim x bytes, head_dim = hidden_size / num_attention_heads"
            print(f"✗ {name}, {nbytes}-byte numbers: got {got!r}, expected {want:,} ({hint})")
            return False
    rows = ", ".join(f"{n}: {kv_bytes_per_token(c, 2) // 1024} KiB" for n, c in LLAMA_STYLE.items())
    print(f"✓ bytes per token right for MHA, GQA and MQA in 2 and 4 bytes (16-bit: {rows})")
    return True
