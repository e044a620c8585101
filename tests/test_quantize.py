"""quantize: int8 weights equal the dequantised reference and stay close to the float model."""
import pytest
import torch
import torch.nn.functional as F

from nanoinfer_lib import quantize as bench
from nanoinfer_lib.kv_cache import unpack_int4
from nanoinfer_lib.benchmark.hardware import model_memory


def test_int8_linear_equals_dequantized_reference():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96)
    q = bench.Int8Linear(lin)
    w = lin.weight.detach()
    assert q.weight.dtype == torch.int8 and q.scale.shape == (96,)
    deq = q.weight.float() * q.scale[:, None]                           # (out, in)
    assert ((deq - w).abs() <= q.scale[:, None] / 2 + 1e-6).all()       # rounding error <= half a step
    x = torch.randn(2, 5, 64)
    assert torch.allclose(q(x), F.linear(x, deq, lin.bias), atol=1e-4)
    assert torch.allclose(q(x), lin(x), atol=0.05)


def test_quantize_int8_copies_and_stays_close(tiny_model):
    q = bench.quantize_int8(tiny_model)
    assert not any(isinstance(m, torch.nn.Linear) for m in q.modules())
    assert any(isinstance(m, torch.nn.Linear) for m in tiny_model.modules())   # the original is untouched
    ids = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert (q(ids) - tiny_model(ids)).abs().max() < 0.05
    assert model_memory(q) < model_memory(tiny_model)


def test_bf16_linear_equals_the_rounded_weight_in_float32():
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96)
    q = bench.Bf16Linear(lin)
    assert q.weight.dtype == torch.bfloat16 and q.bias.dtype == torch.float32
    w = lin.weight.detach().bfloat16().float()                          # (out, in)
    for x in (torch.randn(1, 1, 64), torch.randn(2, 5, 64)):            # one row and several
        torch.testing.assert_close(q(x), F.linear(x, w, lin.bias), rtol=1e-5, atol=1e-5)
        assert q(x).dtype == torch.float32
    assert (q(x) - lin(x)).abs().max() < 0.02


def test_quantize_bf16_keeps_float32_activations_and_decodes_compiled(tiny_model):
    from nanoinfer_lib import generate
    from nanoinfer_lib.static_decode import compiled_greedy
    q = bench.quantize_bf16(tiny_model)
    assert all(type(m) is not torch.nn.Linear for m in q.modules())
    assert q.dtype == torch.float32 and q.transformer.wte.weight.dtype == torch.float32
    assert q.lm_head.weight.dtype == torch.bfloat16
    ids = torch.randint(0, 50, (1, 6), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert (q(ids) - tiny_model(ids)).abs().max() < 0.05
    assert torch.equal(compiled_greedy(q, ids, 8), generate(q, ids, max_new_tokens=8, temperature=0))
    assert model_memory(q) < model_memory(tiny_model) * 1.3   # lm_head's own bf16 copy, other weights halved


def test_cpu_weight_dtype_follows_the_features():
    assert bench.cpu_weight_dtype(["AVX2", "AVX-512", "AVX512-BF16"]) == torch.bfloat16
    assert bench.cpu_weight_dtype(["NEON"]) == torch.bfloat16
    assert bench.cpu_weight_dtype([]) == torch.float32
    assert bench.cpu_weight_dtype() in (torch.bfloat16, torch.float32)


@pytest.mark.parametrize("fn", [bench.quantize_int8, bench.quantize_bf16])
def test_quantize_rejects_what_is_not_a_module(fn):
    with pytest.raises(TypeError, match="model"):
        fn("gpt2")


def test_int8_linear_compiled_one_row_equals_dequantized_reference():
    torch.manual_seed(1)
    lin = torch.nn.Linear(64, 96)
    q = bench.Int8Linear(lin)
    x = torch.randn(1, 1, 64)
    with torch.inference_mode():
        torch.testing.assert_close(torch.compile(q)(x), F.linear(x, q.dequantized(), lin.bias), rtol=1e-4, atol=1e-4)


# ---- quantize(model, bits, group_size): int4 group-wise and int8 -------------------------------

def test_int4_linear_recovers_weights_on_its_grid_bit_exactly():
    g = torch.Generator().manual_seed(0)
    codes = torch.randint(-7, 8, (6, 64), generator=g).float()
    codes[:, ::16] = 7                                           # each group of 16 reaches +7: scale = its step
    steps = torch.tensor([0.5, 0.25, 0.125, 2.0]).repeat(6, 1).repeat_interleave(16, dim=1)   # (6, 64)
    lin = torch.nn.Linear(64, 6)
    with torch.no_grad():
        lin.weight.copy_(codes * steps)
    q = bench.Int4Linear(lin, group_size=16)
    assert q.weight.dtype == torch.uint8 and q.weight.shape == (6, 32)        # two codes per byte
    assert q.scale.dtype == torch.float16 and q.scale.shape == (6, 4)
    assert torch.equal(q.dequantized(), lin.weight.detach())
    assert torch.equal(unpack_int4(q.weight).long() - 8, codes.long())


@pytest.mark.parametrize("group_size", [8, 32])
def test_int4_linear_rounds_to_half_a_step_and_equals_the_dequantized_matmul(group_size):
    torch.manual_seed(0)
    lin = torch.nn.Linear(64, 96)
    q = bench.Int4Linear(lin, group_size)
    w, deq = lin.weight.detach(), q.dequantized()
    step = q.scale.float().repeat_interleave(group_size, dim=1)             # (out, in)
    assert ((deq - w).abs() <= step / 2 * (1 + 1e-3)).all()
    for x in (torch.randn(1, 1, 64), torch.randn(2, 5, 64)):                 # one row and several
        torch.testing.assert_close(q(x), F.linear(x, deq, lin.bias), rtol=0, atol=0)
        bound = x.abs() @ (step / 2).t() * (1 + 1e-3) + 1e-6                 # sum of |x| * half a step
        assert ((q(x) - lin(x)).abs() <= bound).all()


@pytest.mark.parametrize("bits, group_size", [(4, 8), (4, 16), (4, 32), (8, None)])
def test_quantize_copies_and_weight_bytes_equal_the_formula(tiny_model, bits, group_size):
    before = {k: v.clone() for k, v in tiny_model.state_dict().items()}
    q = bench.quantize(tiny_model, bits=bits, group_size=group_size)
    assert all(torch.equal(before[k], v) for k, v in tiny_model.state_dict().items())   # the original is untouched
    assert not any(type(m) is torch.nn.Linear for m in q.modules())
    kind = bench.Int4Linear if bits == 4 else bench.Int8Linear
    assert isinstance(q.lm_head, kind) and isinstance(q.transformer.h[0].mlp.c_proj, kind)
    assert bench.weight_bytes(q) == bench.quantized_weight_bytes(tiny_model.config, bits, group_size)
    assert bench.weight_bytes(tiny_model) == bench.quantized_weight_bytes(tiny_model.config)
    ids = torch.randint(0, 50, (2, 10), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        assert (q(ids) - tiny_model(ids)).abs().max() < (0.05 if bits == 8 else 0.5)


def test_quantized_weight_bytes_by_hand():
    # GPT-2 small in int4, groups of 32: codes n*m/2 and n*m/32 float16 scales per linear, float32 rest
    from nanoinfer_lib.model import GPT2_SMALL as c
    C, V = c.n_embd, c.vocab_size
    linears = 12 * (C * 3 * C + C * C + C * 4 * C + 4 * C * C) + C * V      # weights of the linears
    biases = 12 * (3 * C + C + 4 * C + C)
    rest = (V + c.block_size) * C + (2 * 12 + 1) * 2 * C + biases           # float32 parameters
    assert bench.quantized_weight_bytes(c, 4, 32) == linears // 2 + linears // 32 * 2 + 4 * rest
    assert bench.quantized_weight_bytes(c) == 4 * (rest + linears - C * V)  # the lm_head is tied


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, torch.float16])
@pytest.mark.parametrize("bits", [4, 8])
def test_a_quantized_model_generates_at_every_dtype(tiny_model, dtype, bits):
    from nanoinfer_lib import generate
    model = tiny_model.to(dtype)
    q = bench.quantize(model, bits=bits, group_size=16 if bits == 4 else None)
    assert bench.weight_bytes(q) == bench.quantized_weight_bytes(model.config, bits, 16 if bits == 4 else None, dtype)
    ids = torch.tensor([[1, 2, 3]])
    out = generate(q, ids, max_new_tokens=6, temperature=0)
    assert out.shape == (1, 9) and torch.equal(out, generate(q, ids, max_new_tokens=6, temperature=0, use_cache=False))


@pytest.mark.parametrize("kw, exc, name", [
    (dict(bits=3), ValueError, "bits"),
    (dict(bits=16), ValueError, "bits"),
    (dict(bits=4.0), TypeError, "bits"),
    (dict(bits=4, group_size=24), ValueError, "group_size"),     # widths 32 and 128
    (dict(bits=4, group_size=0), ValueError, "group_size"),
    (dict(bits=8, group_size=32), ValueError, "group_size"),     # int8 has one scale per row
])
def test_quantize_bad_arguments(tiny_model, kw, exc, name):
    with pytest.raises(exc, match=name):
        bench.quantize(tiny_model, **kw)


@pytest.mark.parametrize("first", [dict(bits=4), dict(bits=8), None])
def test_quantizing_a_quantized_model_is_refused(tiny_model, first):
    q = bench.quantize(tiny_model, **first) if first else bench.quantize_bf16(tiny_model)
    with pytest.raises(ValueError, match="already quantized"):
        bench.quantize(q)
    with pytest.raises(TypeError, match="model"):
        bench.quantize("gpt2")
