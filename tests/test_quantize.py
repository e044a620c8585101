"""quantize: int8 weights equal the dequantised reference and stay close to the float model."""
import pytest
import torch
import torch.nn.functional as F

from nanoinfer_lib import quantize as bench
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
