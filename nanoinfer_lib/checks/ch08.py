"""Exercises of chapter 08 (memory and quantization). Each check prints a friendly verdict (what is
right, or a hint that names the likely mistake) and returns a Verdict."""
from __future__ import annotations

from ._common import STUB, Verdict, call_learner, require_callable, self_check

# Llama-style configurations (Hugging Face config names) with what the weight count needs
LLAMA_WEIGHTS = {
    "Llama-2-7B": {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 32,
                   "hidden_size": 4096, "intermediate_size": 11008, "vocab_size": 32000, "tie_word_embeddings": False},
    "Llama-3-8B": {"num_hidden_layers": 32, "num_attention_heads": 32, "num_key_value_heads": 8,
                   "hidden_size": 4096, "intermediate_size": 14336, "vocab_size": 128256, "tie_word_embeddings": False},
    "Llama-3.2-1B": {"num_hidden_layers": 16, "num_attention_heads": 32, "num_key_value_heads": 8,
                     "hidden_size": 2048, "intermediate_size": 8192, "vocab_size": 128256, "tie_word_embeddings": True},
}


def llama_parts(config: dict) -> dict:
    """Numbers (not bytes) in each part of a Llama-style model: ``linear`` (the seven projections of
    every block: q, k, v, o, gate, up, down), ``embedding`` (the token table), ``lm_head`` (0 when tied
    to the embedding), ``norms`` (two RMSNorm weights per block and the final one); ``kv_as_mha``:
    what the linears would hold if k and v had a head per query head."""
    h, L, inter = config["hidden_size"], config["num_hidden_layers"], config["intermediate_size"]
    kv = config["num_key_value_heads"] * h // config["num_attention_heads"]     # k/v width: KV heads x head_dim
    per_block = h * h + 2 * h * kv + h * h + 3 * h * inter                      # q, k, v, o, gate, up, down
    vocab = config["vocab_size"] * h
    return {"linear": L * per_block, "embedding": vocab, "lm_head": 0 if config["tie_word_embeddings"] else vocab,
            "norms": (2 * L + 1) * h, "kv_as_mha": L * (4 * h * h + 3 * h * inter)}


def int4_weight_bytes(config: dict, group_size: int = 64, scale_bytes: int = 2, other_bytes: int = 2) -> int:
    """Bytes of a Llama-style model whose block linears are int4 (two per byte) with one ``scale_bytes``
    scale per ``group_size`` weights (no zero point); embedding, lm_head and norms stay 16-bit."""
    p = llama_parts(config)
    return p["linear"] // 2 + p["linear"] // group_size * scale_bytes + \
        (p["embedding"] + p["lm_head"] + p["norms"]) * other_bytes


def _int4_mistakes(config: dict, g: int) -> list[tuple[int, str]]:
    """(the answer a usual mistake gives, what to say about it)."""
    p = llama_parts(config)
    n, rest = p["linear"], (p["embedding"] + p["lm_head"] + p["norms"]) * 2
    scales = n // g * 2
    return [
        (n // 2 + rest, "you forgot the scales: one 16-bit scale per group of group_size weights"),
        (n * 4 + scales + rest, "that counts bits as bytes: an int4 weight is 4 bits, half a byte"),
        (n + scales + rest, "that is one byte per weight (int8): int4 packs two weights in a byte"),
        (n // 2 + scales, "the embedding, the lm_head and the norms are not quantized: add them in 16 bits"),
        (n // 2 + scales + (p["embedding"] + p["lm_head"]) * 2, "the norms' weights count too (2 per block, 1 final)"),
        (n // 2 + scales + (p["embedding"] + p["norms"]) * 2, "this model does not tie its lm_head to the embedding: "
                                                              "count both tables"),
        (n // 2 + scales + (2 * p["embedding"] + p["norms"]) * 2, "this model ties its lm_head to the embedding: "
                                                                  "one table, counted once"),
        (n // 2 + n // g * 4 + rest, "the scales are fp16: 2 bytes each, not 4"),
        (n // 2 + scales + rest * 2, "what is left unquantized is 16-bit: 2 bytes per number, not 4"),
        ((n + p["embedding"] + p["lm_head"]) // 2 + (n + p["embedding"] + p["lm_head"]) // g * 2 + p["norms"] * 2,
         "only the linears of the blocks are int4 here; the embedding and the lm_head stay 16-bit"),
        (p["kv_as_mha"] // 2 + p["kv_as_mha"] // g * 2 + rest, "k_proj and v_proj are narrower under grouped-query "
         "attention: num_key_value_heads x head_dim outputs each"),
        (n // 2 + n // 64 * 2 + rest if g != 64 else -1, "use the group_size you are given"),
    ]


@self_check
def check_int4_weight_bytes(fn) -> Verdict:
    """Exercise (chapter 08): ``fn(config, group_size) -> int``, the bytes of a Llama-style model
    (a dict like ``LLAMA_WEIGHTS``'s) whose block linears are int4 with one fp16 scale per group of
    ``group_size`` weights, the embedding, lm_head and RMSNorm weights left in 16 bits."""
    require_callable(fn, "fn")
    for name, cfg in LLAMA_WEIGHTS.items():
        for g in (64, 32):
            want = int4_weight_bytes(cfg, g)
            ok, got = call_learner(fn, (dict(cfg), g), f"{name}, group size {g}:", "return the bytes", stub=STUB)
            if not ok:
                return False
            if isinstance(got, bool) or not isinstance(got, (int, float)):
                print(f"✗ {name}, group size {g}: return a number of bytes, got {type(got).__name__}")
                return False
            if got == want:
                continue
            hint = next((h for wrong, h in _int4_mistakes(cfg, g) if got == wrong),
                        "int4 linears (half a byte each) + one 2-byte scale per group + the 16-bit rest")
            print(f"✗ {name}, group size {g}: got {got:,.0f} bytes, expected {want:,} ({hint})")
            return False
    rows = ", ".join(f"{n} {int4_weight_bytes(c, 64) / 1e9:.2f} GB" for n, c in LLAMA_WEIGHTS.items())
    print(f"✓ int4 weight bytes right for tied and untied, MHA and GQA models, group sizes 64 and 32 "
          f"(g64: {rows})")
    return True


# ---- exercise: the group size where the scales cost more than a share of the payload -------------

# (bits per weight, bits per scale, share of the payload): boundaries that land on whole numbers
_OVERHEAD_CASES = [(4, 16, 0.10), (4, 32, 0.10), (8, 16, 0.05), (4, 16, 0.25), (3, 16, 0.10), (2, 16, 0.3)]


def overhead_group_size(bits: int, scale_bits: int, share: float) -> int:
    """The largest group size g whose scale costs more than ``share`` of the payload:
    scale_bits / (bits * g) > share, i.e. g < scale_bits / (share * bits)."""
    g = 1
    while scale_bits / (bits * (g + 1)) > share:
        g += 1
    return g


def _overhead_mistakes(bits: int, scale_bits: int, share: float) -> list[tuple[int, str]]:
    right = overhead_group_size(bits, scale_bits, share)
    return [
        (right + 1, "at that size the scales cost exactly the share, not more: 'exceeds' is strict"),
        (overhead_group_size(bits, scale_bits // 8, share), "that counts the scale's bytes against the weights' "
         "bits: put both in bits (a 16-bit scale per group of 4-bit weights)"),
        (overhead_group_size(bits, scale_bits * 8, share), "that counts the scale's bits as bytes: put both in bits"),
        (max(g for g in range(1, 10 * right + 10) if scale_bits / (bits * g + scale_bits) > share),
         "measure the scales against the payload (the packed weights), not against payload + scales"),
        (1, "the question asks for the largest group size at which the overhead still exceeds the share"),
    ]


@self_check
def check_overhead_group_size(fn) -> Verdict:
    """Exercise (chapter 08): ``fn(bits, scale_bits, share) -> int``, the largest group size at which
    one ``scale_bits``-bit scale per group costs more than ``share`` of the group's ``bits``-bit weights."""
    require_callable(fn, "fn")
    for bits, scale_bits, share in _OVERHEAD_CASES:
        want = overhead_group_size(bits, scale_bits, share)
        args = f"bits={bits}, scale_bits={scale_bits}, share={share}"
        ok, got = call_learner(fn, (bits, scale_bits, share), f"fn({args})", "return the group size", stub=STUB)
        if not ok:
            return False
        if got == want:
            continue
        hint = next((h for wrong, h in _overhead_mistakes(bits, scale_bits, share) if got == wrong),
                    "a group of g weights holds bits * g bits of payload and one scale_bits-bit scale")
        print(f"✗ fn({args}) gave {got!r}, expected {want} ({hint})")
        return False
    g = overhead_group_size(4, 16, 0.10)
    print(f"✓ right in {len(_OVERHEAD_CASES)} cases: int4 with fp16 scales pays over 10% for its scales below a "
          f"group size of {g + 1} (g32: {16 / (4 * 32):.1%}, g64: {16 / (4 * 64):.2%}, g128: {16 / (4 * 128):.3%})")
    return True
