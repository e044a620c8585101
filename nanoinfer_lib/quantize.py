"""Reduced-precision weights: module swaps, as gpt-fast does them. ``quantize(model, bits=4,
group_size=32)`` returns a copy in which every ``nn.Linear`` is an ``Int4Linear`` (two 4-bit codes per
byte, one float16 scale per group of ``group_size`` inputs); ``bits=8`` one with ``Int8Linear`` (one
scale per output row), as ``quantize_int8(model)`` does. ``weight_bytes(model)`` counts what a model
holds and ``quantized_weight_bytes(config, bits, group_size)`` gives the same number from the shapes.
``quantize_bf16(model)`` returns a copy in which every ``nn.Linear`` is a ``Bf16Linear`` (bfloat16
weights, float32 activations and sums). int8 and bf16 pay in a batch-1 decode step compiled by
``static_decode.compiled_greedy``: there a one-row product is one fused pass over the narrow weight,
widened to float32 in registers, so the step reads 2x (bf16) or 4x (int8) fewer bytes. Run eagerly
they are slower than float32 (each call widens the whole weight), and so is int4, which also unpacks
its nibbles. ``tests/test_quantize.py`` checks them against the dequantised float reference and the
float model."""
from __future__ import annotations

import copy

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validate
from .cpu import cpu_features
from .kv_cache import pack_int4, unpack_int4
from .model import GPT2_SMALL, GPTConfig, check_config

BITS = (4, 8)


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


class Int4Linear(nn.Module):
    """int4 weights, symmetric, group-wise: each run of ``group_size`` inputs of an output row has one
    float16 scale (its largest magnitude / 7) and codes in [-7, 7], stored as code + 8 (a 4-bit value
    in [1, 15]), two per byte. Symmetric because a weight group is centred near 0, so a zero point
    would double the bytes of the scales for little gain; float16 scales because float32 ones would
    add 1 bit per weight instead of 0.5 at group_size 32 and weights never leave float16's range.

    forward: y = x @ W^T + bias with W = (codes - 8) * scale, widened to the input's dtype at every call
    (eager: it reads 4.5 bits per weight but writes and reads a whole float weight each call).
    """

    def __init__(self, linear: nn.Linear, group_size: int = 32):
        super().__init__()
        out, width = linear.out_features, linear.in_features
        w = linear.weight.detach().float().reshape(out, width // group_size, group_size)   # (out, groups, G)
        scale = (w.abs().amax(dim=2) / 7).to(torch.float16)                             # (out, groups)
        if not torch.isfinite(scale).all():
            raise ValueError("weights beyond float16's range cannot take int4 float16 scales")
        codes = (w / scale.float().clamp(min=torch.finfo(torch.float32).tiny)[..., None]).round().clamp(-7, 7)
        self.register_buffer("weight", pack_int4((codes + 8).to(torch.uint8).reshape(out, width)))  # (out, in/2)
        self.register_buffer("scale", scale)
        self.register_buffer("bias", None if linear.bias is None else linear.bias.detach().clone())
        self.in_features, self.out_features, self.group_size = width, out, group_size

    def dequantized(self, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """The weight this module multiplies by, (out, in): (codes - 8) * scale of each code's group."""
        codes = unpack_int4(self.weight).to(dtype) - 8                           # (out, in)
        groups = codes.view(self.out_features, -1, self.group_size) * self.scale.to(dtype)[..., None]
        return groups.view(self.out_features, self.in_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.dequantized(x.dtype), None if self.bias is None else self.bias.to(x.dtype))

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, out_features={self.out_features}, group_size={self.group_size}"


QUANTIZED = (Int8Linear, Int4Linear, Bf16Linear)


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


def quantize(model: nn.Module, bits: int = 4, group_size: int | None = None) -> nn.Module:
    """A copy of ``model`` with every nn.Linear's weight quantized (the original is not modified).

    bits=4: ``Int4Linear``, one float16 scale per ``group_size`` inputs (default 32), which must divide
    every linear's input width. bits=8: ``Int8Linear``, one scale per output row (no ``group_size``).
    The embedding tables and LayerNorms keep their dtype; GPT-2's tied lm_head gets its own quantized
    copy of the token embedding. A model already quantized (any Int4/Int8/Bf16Linear) is refused."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    if validate.integer("bits", bits) not in BITS:
        raise ValueError(f"bits must be one of {list(BITS)}, got {bits}")
    if any(isinstance(m, QUANTIZED) for m in model.modules()):
        raise ValueError("model is already quantized (it holds Int4Linear/Int8Linear/Bf16Linear layers): "
                         "quantize the original float model")
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    if not linears:
        raise ValueError("model has no nn.Linear layer to quantize")
    if bits == 8:
        if group_size is not None:
            raise ValueError(f"group_size must be None for bits=8 (one scale per output row), got {group_size!r}")
        return quantize_int8(model)
    group_size = 32 if group_size is None else validate.integer("group_size", group_size, 1)
    for m in linears:
        if m.in_features % group_size or m.in_features % 2:
            raise ValueError(f"group_size must divide every linear's input width (and int4 needs an even "
                             f"width to pack two codes per byte): got group_size={group_size} for a width "
                             f"of {m.in_features}")
    return _swap_linears(model, lambda linear: Int4Linear(linear, group_size))


def weight_bytes(model: nn.Module) -> int:
    """Bytes of a model's parameters and buffers (packed codes, scales, biases, embeddings,
    LayerNorms), each storage counted once, so a tied weight counts once."""
    seen, total = set(), 0
    for t in list(model.parameters()) + list(model.buffers()):
        if t.untyped_storage().data_ptr() not in seen:
            seen.add(t.untyped_storage().data_ptr())
            total += t.numel() * t.element_size()
    return total


def quantized_weight_bytes(config: GPTConfig = GPT2_SMALL, bits: int | None = None, group_size: int | None = None,
                           dtype: torch.dtype = torch.float32) -> int:
    """``weight_bytes(quantize(GPT(config).to(dtype), bits, group_size))`` from the shapes alone
    (``bits=None``: the float model). A linear of n inputs and m outputs holds n*m/2 bytes of codes
    and m*n/group_size float16 scales (int4), or n*m bytes and m scales in ``dtype`` (int8); its
    bias, the embeddings and the LayerNorms stay in ``dtype``."""
    config = check_config("config", config)
    item = torch.empty((), dtype=validate.dtype("dtype", dtype)).element_size()
    C, V, L, bias = config.n_embd, config.vocab_size, config.n_layer, config.bias
    embeddings = (V + config.block_size) * C
    norms = (2 * L + 1) * C * (2 if bias else 1)
    shapes = [(C, 3 * C), (C, C), (C, 4 * C), (4 * C, C)] * L           # (in, out) of each block's linears
    if bits is None:
        return item * (embeddings + norms + sum(n * m + bias * m for n, m in shapes))   # lm_head is tied
    if validate.integer("bits", bits) not in BITS:
        raise ValueError(f"bits must be one of {list(BITS)}, got {bits}")
    g = (32 if group_size is None else validate.integer("group_size", group_size, 1)) if bits == 4 else None
    def linear(n, m, has_bias):
        codes = n * m // 2 + m * (n // g) * 2 if bits == 4 else n * m + m * item
        return codes + has_bias * m * item
    return item * (embeddings + norms) + sum(linear(n, m, bias) for n, m in shapes) + linear(C, V, False)
