"""Weight-only int8: a module swap, as gpt-fast does it. ``quantize_int8(model)`` returns a copy in
which every ``nn.Linear`` is an ``Int8Linear``; ``tests/test_quantize.py`` checks it against the
dequantised float reference and the float model."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F


class Int8Linear(nn.Module):
    """int8 weights with one scale per output row; inputs stay floating point.

    y = (x @ W_int8^T) * scale + bias, which equals x @ (W_int8 * scale)^T + bias: the scale of an
    output row can be applied after the matmul. Uses PyTorch's fused int8-weight kernel on CPU when
    present, else converts the weights to the input's dtype on the fly.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        w = linear.weight.detach().float()                              # (out, in)
        scale = w.abs().amax(dim=1).clamp(min=1e-12) / 127.0            # (out,)
        self.register_buffer("weight", (w / scale[:, None]).round().clamp(-127, 127).to(torch.int8))
        self.register_buffer("scale", scale.to(linear.weight.dtype))
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def dequantized(self) -> torch.Tensor:
        """The float weight this module multiplies by: W_int8 * scale, (out, in)."""
        return self.weight.float() * self.scale.float()[:, None]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int8pack_mm"):
            y = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, self.in_features).contiguous(),
                                                   self.weight, self.scale.to(x.dtype))
            y = y.view(*x.shape[:-1], self.out_features)
        else:
            y = F.linear(x, self.weight.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every nn.Linear replaced by an Int8Linear (weight-only int8).
    The embedding tables stay in floating point (a lookup reads one row, not the whole table)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, Int8Linear(child))
    return model
