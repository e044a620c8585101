"""quantize: int8 weights equal the dequantised reference and stay close to the float model."""
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
