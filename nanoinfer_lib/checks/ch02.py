"""Exercises of chapter 02 (the KV cache). Each check prints a friendly verdict and returns a bool."""
from __future__ import annotations

import torch

from ..kv_cache import kv_cache_bytes
from ._common import Verdict, call_learner, require_callable, self_check


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
            ok, got = call_learner(fn, (dict(cfg), nbytes), f"{name}, {nbytes}-byte numbers:",
                                   "return the bytes per token")
            if not ok:
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


def _sliding_window_mask(T: int, past: int, window: int) -> torch.Tensor:
    """(T, past + T) bool: query i (position past + i) sees keys j with past + i - window < j <= past + i."""
    q = torch.arange(past, past + T)[:, None]                      # (T, 1) positions of the queries
    k = torch.arange(past + T)[None, :]                            # (1, S) positions of the keys
    return (k <= q) & (k > q - window)


@self_check
def check_sliding_window_mask(fn) -> Verdict:
    """Exercise (chapter 02): ``fn(T, past, window) -> bool tensor (T, past + T)``, True where new
    query i (position past + i) may attend to key j: the last ``window`` positions, its own included."""
    require_callable(fn, "fn")
    cases = [(4, 0, 2), (1, 5, 3), (3, 4, 2), (5, 2, 10), (2, 6, 1)]
    for T, past, window in cases:
        want = _sliding_window_mask(T, past, window)
        ok, got = call_learner(fn, (T, past, window), f"fn(T={T}, past={past}, window={window})")
        if not ok:
            return False
        if got is None or got is ...:
            print("… not written yet: return the boolean mask")
            return False
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            shape = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            print(f"✗ fn(T={T}, past={past}, window={window}) gave {shape}, expected a tensor of shape "
                  f"{tuple(want.shape)}: one row per new query, one column per key (past + T of them)")
            return False
        got = got.bool()
        if torch.equal(got, want):
            continue
        causal = torch.ones(T, past + T, dtype=torch.bool).tril(diagonal=past)
        hints = [(causal, "keys further back than the window are still visible: also require j > past + i - window"),
                 (_sliding_window_mask(T, past, window + 1), "off by one: the window holds `window` positions, "
                  "the query's own included (j > past + i - window, not >=)"),
                 (_sliding_window_mask(T, past, window - 1) if window > 1 else None,
                  "off by one: the query sees itself and window - 1 positions before it"),
                 (torch.ones(T, past + T, dtype=torch.bool).tril() & ~torch.ones(T, past + T, dtype=torch.bool).tril(-window),
                  "query i sits at position past + i, not i: shift the diagonals by past")]
        hint = next((h for m, h in hints if m is not None and torch.equal(got, m)),
                    "query i (position past + i) sees keys j with past + i - window < j <= past + i")
        print(f"✗ fn(T={T}, past={past}, window={window}): wrong entries; {hint}")
        return False
    print(f"✓ sliding-window mask right for {len(cases)} (T, past, window) cases, a window wider than the "
          "sequence (the causal mask) and a window of 1 included")
    return True


def _repeat_kv(x: torch.Tensor, n_rep: int) -> torch.Tensor:
    """(B, n_kv, T, hs) -> (B, n_kv * n_rep, T, hs): key/value head h // n_rep serves query head h."""
    B, n_kv, T, hs = x.shape
    return x[:, :, None].expand(B, n_kv, n_rep, T, hs).reshape(B, n_kv * n_rep, T, hs)


@self_check
def check_repeat_kv(fn) -> Verdict:
    """Exercise (chapter 02): ``fn(x, n_rep) -> tensor``: grouped-query attention's ``repeat_kv``, each
    of the n_kv key/value heads of x (B, n_kv, T, hs) repeated for the n_rep query heads of its group."""
    require_callable(fn, "fn")
    g = torch.Generator().manual_seed(0)
    cases = [((2, 2, 3, 4), 3), ((1, 1, 5, 2), 4), ((2, 4, 3, 2), 1)]     # GQA, MQA (one K/V head), MHA
    for shape, n_rep in cases:
        x = torch.randn(*shape, generator=g)
        x_before = x.clone()
        want = _repeat_kv(x, n_rep)
        ok, got = call_learner(fn, (x, n_rep), f"fn(x of shape {shape}, n_rep={n_rep})")
        if not ok:
            return False
        if got is None or got is ...:
            print("… not written yet: return the repeated tensor")
            return False
        if not torch.equal(x, x_before):
            print("✗ your function changed its input x: build a new tensor")
            return False
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            gs = tuple(got.shape) if isinstance(got, torch.Tensor) else type(got).__name__
            print(f"✗ x of shape {shape}, n_rep={n_rep}: got {gs}, expected {tuple(want.shape)} "
                  "(B, n_kv * n_rep, T, hs): repeat along the head axis, dim 1")
            return False
        if torch.equal(got, want):
            continue
        if torch.equal(got, x.repeat(1, n_rep, 1, 1)):
            hint = ("the heads are tiled (0, 1, 0, 1, ...); a group's query heads sit next to each other, so "
                    "each K/V head must repeat in place (0, 0, 1, 1, ...), as repeat_interleave does")
        else:
            hint = "query head h uses key/value head h // n_rep"
        print(f"✗ x of shape {shape}, n_rep={n_rep}: right shape, wrong heads; {hint}")
        return False
    print(f"✓ repeat_kv right for GQA, MQA and MHA shapes ({len(cases)} cases)")
    return True
