"""Reduced-precision weights: module swaps, as gpt-fast does them. ``quantize_int8(model)`` returns a
copy in which every ``nn.Linear`` is an ``Int8Linear``; ``quantize_bf16(model)`` one in which every
``nn.Linear`` is a ``Bf16Linear`` (bfloat16 weights, float32 activations and sums). Both pay in a
batch-1 decode step compiled by ``static_decode.compiled_greedy``: there a one-row product is one fused
pass over the narrow weight, widened to float32 in registers, so the step reads 2x (bf16) or 4x
(int8) fewer bytes. Run eagerly they are slower than float32 (each call widens the whole weight).
``tests/test_quantize.py`` checks them against the dequantised float reference and the float model."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from .cpu import cpu_features


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
        if torch.compiler.is_compiling() and x.numel() == self.in_features:   # one row: one fused pass
            y = (self.weight.to(x.dtype) * x.reshape(1, -1)).sum(-1) * self.scale.to(x.dtype)
            y = y.view(*x.shape[:-1], self.out_features)
        elif x.device.type == "cpu" and hasattr(torch.ops.aten, "_weight_int8pack_mm"):
            y = torch.ops.aten._weight_int8pack_mm(x.reshape(-1, self.in_features).contiguous(),
                                                   self.weight, self.scale.to(x.dtype))
            y = y.view(*x.shape[:-1], self.out_features)
        else:
            y = F.linear(x, self.weight.to(x.dtype)) * self.scale.to(x.dtype)
        return y if self.bias is None else y + self.bias.to(x.dtype)


class Bf16Linear(nn.Module):
    """bfloat16 weights (8 bits of mantissa, float32's range); inputs, outputs and sums stay float32.

    y = x @ bf16(W)^T + bias. In a compiled one-row step this is ``(W_bf16.float() * x).sum(-1)``,
    which inductor fuses into one pass that reads 2 bytes per weight.
    """

    def __init__(self, linear: nn.Linear):
        super().__init__()
        self.register_buffer("weight", linear.weight.detach().to(torch.bfloat16).clone())   # (out, in)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features = linear.in_features, linear.out_features

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.numel() == self.in_features:                               # one row
            y = (self.weight.to(x.dtype) * x.reshape(1, -1)).sum(-1).view(*x.shape[:-1], self.out_features)
        else:
            y = F.linear(x, self.weight.to(x.dtype))
        return y if self.bias is None else y + self.bias.to(x.dtype)


def _swap_linears(model: nn.Module, make) -> nn.Module:
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    model = copy.deepcopy(model)
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, nn.Linear):
                setattr(parent, name, make(child))
    return model


def quantize_int8(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every nn.Linear replaced by an Int8Linear (weight-only int8).
    The embedding tables stay in floating point (a lookup reads one row, not the whole table)."""
    return _swap_linears(model, Int8Linear)


def quantize_bf16(model: nn.Module) -> nn.Module:
    """A copy of ``model`` with every nn.Linear replaced by a Bf16Linear. The embedding tables and
    LayerNorms stay float32, so the model (and its KV cache) still runs in float32; GPT-2's tied
    lm_head gets its own bf16 copy of the token embedding."""
    return _swap_linears(model, Bf16Linear)


def cpu_weight_dtype(features: list[str] | None = None) -> torch.dtype:
    """The weight dtype for batch-1 CPU decoding with ``compiled_greedy``: bfloat16 where the CPU has
    the wide vector units (AVX-512, AVX2, NEON) that widen it to float32 at streaming speed, as
    measured on an AMD EPYC with AVX-512 (see the vs-hf README section); else float32."""
    if features is None:
        features = cpu_features()
    return torch.bfloat16 if {"AVX-512", "AVX2", "NEON"} & set(features) else torch.float32
