"""A GPT-2 decoder (nanoGPT's layout) that runs with or without a KV cache. Plain PyTorch: the
faster linears live in ``kernels.py``, int8 weights in ``quantize.py``, static-cache decoding (CUDA
graphs, ``torch.compile``) in ``static_decode.py``. Also the checks of what the model takes
(``check_config``, ``check_model``, ``check_positions``, ...). (Over 300 lines: the rules of what the
model takes live with the model, so its callers import them from here and nowhere else.)

Shapes follow one convention everywhere in the course:
B batch, T new tokens, S keys attended (cache + new), C = n_embd, nh = n_head, hs = head_dim.
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import validate

try:      # torch >= 2.3 can choose attention kernels; older versions have no cuDNN attention to avoid
    from torch.nn.attention import SDPBackend, sdpa_kernel
    NOT_CUDNN = [SDPBackend.FLASH_ATTENTION, SDPBackend.EFFICIENT_ATTENTION, SDPBackend.MATH]
except ImportError:  # pragma: no cover - depends on the torch version
    sdpa_kernel = None


@dataclass
class GPTConfig:
    block_size: int = 512      # context window: the most tokens the model sees at once
    vocab_size: int = 2048     # tokenizer size (bundled BPE: 2047 merges/bytes + <|endoftext|>)
    n_layer: int = 4           # transformer blocks
    n_head: int = 4            # attention heads per block
    n_embd: int = 256          # model width C
    dropout: float = 0.0       # used only while training
    bias: bool = True          # biases in Linear and LayerNorm, as GPT-2
    layer_norm_epsilon: float = 1e-5

    def __post_init__(self) -> None:
        for name in ("block_size", "vocab_size", "n_layer", "n_head", "n_embd"):
            setattr(self, name, validate.integer(f"GPTConfig.{name}", getattr(self, name), 1))
        self.dropout = validate.number("GPTConfig.dropout", self.dropout, 0.0, 1.0, high_open=True)
        self.bias = validate.flag("GPTConfig.bias", self.bias)
        self.layer_norm_epsilon = validate.number("GPTConfig.layer_norm_epsilon", self.layer_norm_epsilon,
                                                  0.0, low_open=True)
        if self.n_embd % self.n_head:
            raise ValueError(f"GPTConfig.n_embd ({self.n_embd}) must be divisible by n_head ({self.n_head})")

    @property
    def head_dim(self) -> int:
        return self.n_embd // self.n_head

    def to_dict(self) -> dict:
        return asdict(self)


# GPT-2 small ("124M"), the smallest released GPT-2: the shape of the course's GPT-2-sized measurements
GPT2_SMALL = GPTConfig(block_size=1024, vocab_size=50257, n_layer=12, n_head=12, n_embd=768)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.n_head, self.head_dim, self.layer_idx = config.n_head, config.head_dim, layer_idx
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)  # q, k, v at once
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = config.dropout
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, kv_cache=None, attn_mask: torch.Tensor | None = None) -> torch.Tensor:
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)                          # 3 x (B, T, C)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # (B, nh, T, hs)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # (B, nh, T, hs)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)      # (B, nh, T, hs)
        past = 0
        if kv_cache is not None:
            past = kv_cache.length
            k, v = kv_cache.update(self.layer_idx, k, v)                  # (B, nh, S, hs), S = past + T
        dropout = self.dropout if self.training else 0.0
        if attn_mask is not None:       # explicit mask: padding and/or causal with an offset
            y = attention(q, k, v, attn_mask, dropout)
        elif past == 0:                 # plain causal attention over the new tokens
            y = attention(q, k, v, None, dropout, is_causal=T > 1)
        elif T == 1:                    # one new token sees every cached position
            y = attention(q, k, v, None, dropout)
        else:                           # several new tokens after a cache: query i sees keys <= past + i
            y = attention(q, k, v, causal_mask(T, past, x.device), dropout)
        y = self.c_proj(y.transpose(1, 2).reshape(B, T, C))               # (B, T, C)
        return self.resid_dropout(y) if self.training else y              # dropout only while training


def attention(q, k, v, mask: torch.Tensor | None = None, dropout: float = 0.0,
              is_causal: bool = False) -> torch.Tensor:
    """Scaled dot-product attention of q (B, nh, T, hs) over k, v (B, nh, S, hs) -> (B, nh, T, hs);
    ``mask`` is boolean, True where a query may see a key. On CUDA it leaves out cuDNN's kernel, which
    PyTorch prefers for fp16/bf16 on recent GPUs but which builds a new plan for every new key length,
    and decoding brings a new length at every step."""
    if sdpa_kernel is None or q.device.type != "cuda":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)
    with sdpa_kernel(NOT_CUDNN):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=dropout, is_causal=is_causal)


def causal_mask(T: int, past: int, device=None) -> torch.Tensor:
    """Boolean (T, past + T): query i sits at position past + i and sees keys 0..past + i."""
    return torch.ones(T, past + T, dtype=torch.bool, device=device).tril(diagonal=past)


class MLP(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.c_proj(F.gelu(self.c_fc(x), approximate="tanh"))      # GPT-2's GELU
        return self.dropout(x) if self.training else x


class Block(nn.Module):
    def __init__(self, config: GPTConfig, layer_idx: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.attn = CausalSelfAttention(config, layer_idx)
        self.ln_2 = nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x, kv_cache=None, attn_mask=None):
        x = x + self.attn(self.ln_1(x), kv_cache, attn_mask)   # pre-LayerNorm residual blocks
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    def __init__(self, config: GPTConfig):
        super().__init__()
        self.config = check_config("config", config)
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),   # token embeddings
            wpe=nn.Embedding(config.block_size, config.n_embd),   # learned positions
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList(Block(config, i) for i in range(config.n_layer)),
            ln_f=nn.LayerNorm(config.n_embd, eps=config.layer_norm_epsilon, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.lm_head.weight = self.transformer.wte.weight          # tied embeddings, as GPT-2
        self.apply(self._init_weights)
        for name, p in self.named_parameters():                    # GPT-2's scaled residual init
            if name.endswith("c_proj.weight"):
                nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))

    @staticmethod
    def _init_weights(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, mean=0.0, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    @staticmethod
    def count_parameters(config: GPTConfig) -> int:
        """Parameters of a GPT with this config (tied embeddings once), without allocating weights."""
        with torch.device("meta"):
            return GPT(config).num_params()

    def num_params(self, non_embedding: bool = False) -> int:
        n = sum(p.numel() for p in self.parameters())   # the tied lm_head is counted once
        return n - self.transformer.wpe.weight.numel() if non_embedding else n

    @property
    def device(self) -> torch.device:
        return self.transformer.wte.weight.device

    @property
    def dtype(self) -> torch.dtype:
        return self.transformer.wte.weight.dtype

    def forward(self, idx: torch.Tensor, kv_cache=None, attention_mask: torch.Tensor | None = None,
                position_ids: torch.Tensor | None = None, last_only: bool = False) -> torch.Tensor:
        """Logits (B, T, vocab) for the T tokens in ``idx`` (B, T).

        kv_cache: keys/values of earlier positions (a ``KVCache``); the new ones are appended to it.
        attention_mask: (B, S) with 1 for real tokens and 0 for padding, S = cached + T; or a
            ready boolean mask (B, 1, T, S), True where a query may see a key.
        position_ids: (B, T) positions of the new tokens (default: cache length + 0..T-1).
        last_only: return only the last position's logits, (B, 1, vocab), as decoding needs.
        """
        if not isinstance(idx, torch.Tensor) or idx.dtype not in (torch.int64, torch.int32):
            raise TypeError(f"idx must be an integer tensor of token ids (B, T), got {type(idx).__name__}"
                            + (f" of dtype {idx.dtype}" if isinstance(idx, torch.Tensor) else ""))
        if idx.dim() != 2 or idx.shape[1] == 0:
            raise ValueError(f"idx must have shape (B, T) with T >= 1, got {tuple(idx.shape)}")
        B, T = idx.shape
        past = 0
        if kv_cache is not None:
            check_kv_cache("kv_cache", kv_cache).check(self.config, B, self.dtype, idx.device)
            past = kv_cache.length
        if position_ids is not None:
            check_positions("position_ids", position_ids, B, T, self.config.block_size)
        last_only = validate.flag("last_only", last_only)
        if position_ids is None and past + T > self.config.block_size:
            raise ValueError(f"sequence length {past + T} (cached {past} + new {T}) exceeds the "
                             f"context window block_size={self.config.block_size}; crop the input")
        # checked on CPU only: on a GPU this check would cost a host sync per step (generate checks prompts)
        if idx.device.type == "cpu" and (idx.min() < 0 or idx.max() >= self.config.vocab_size):
            raise ValueError(f"token ids must lie in [0, {self.config.vocab_size}), "
                             f"got min {int(idx.min())} and max {int(idx.max())}")
        pos = torch.arange(past, past + T, device=idx.device) if position_ids is None else position_ids
        x = self.transformer.wte(idx) + self.transformer.wpe(pos)         # (B, T, C)
        if self.training:
            x = self.transformer.drop(x)
        attn_mask = None
        if attention_mask is not None:
            validate.tensor("attention_mask", attention_mask, dims=(2, 4))
            attn_mask = padding_mask(attention_mask, past, T)              # (B, 1, T, S)
        for block in self.transformer.h:
            x = block(x, kv_cache, attn_mask)
        if kv_cache is not None:
            kv_cache.advance(T)
        if last_only:
            x = x[:, -1:, :]
        return self.lm_head(self.transformer.ln_f(x))                      # (B, T, vocab)

    # ------------------------------------------------------------------ Hugging Face GPT-2
    @classmethod
    def from_pretrained(cls, name_or_path: str = "gpt2", dtype: torch.dtype | None = None) -> "GPT":
        """Load GPT-2 weights in Hugging Face format: a hub name ("gpt2", "gpt2-medium", ...; online)
        or a local directory holding ``config.json`` and the weights (offline). Needs the ``hf`` extra."""
        try:
            from transformers import GPT2LMHeadModel
        except ImportError as e:  # pragma: no cover - depends on the environment
            raise ImportError("GPT.from_pretrained needs transformers: pip install 'nanoinfer_lib[hf]'") from e
        try:
            hf = GPT2LMHeadModel.from_pretrained(name_or_path)       # GPT-2 ships float32 weights
        except OSError as e:
            where = "directory" if Path(name_or_path).exists() else "hub name (needs internet)"
            raise OSError(f"could not load GPT-2 weights from {name_or_path!r} ({where}): {e}") from e
        hc = hf.config
        model = cls(GPTConfig(block_size=hc.n_positions, vocab_size=hc.vocab_size, n_layer=hc.n_layer,
                              n_head=hc.n_head, n_embd=hc.n_embd, bias=True,
                              layer_norm_epsilon=hc.layer_norm_epsilon))
        sd, sd_hf = model.state_dict(), hf.state_dict()
        # HF's GPT-2 uses Conv1D modules: their weights are stored transposed relative to nn.Linear
        transposed = ("attn.c_attn.weight", "attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")
        keys = [k for k in sd_hf if not k.endswith((".attn.bias", ".attn.masked_bias"))]
        missing = set(sd) - set(keys)
        if missing - {"lm_head.weight"}:
            raise ValueError(f"weights missing from {name_or_path!r}: {sorted(missing)[:5]}")
        with torch.no_grad():
            for k in keys:
                src = sd_hf[k].t() if k.endswith(transposed) else sd_hf[k]
                if src.shape != sd[k].shape:
                    raise ValueError(f"shape mismatch for {k}: {tuple(src.shape)} vs {tuple(sd[k].shape)}")
                sd[k].copy_(src)
        model.eval()
        return model.to(dtype) if dtype is not None else model


def padding_mask(attention_mask: torch.Tensor, past: int, T: int) -> torch.Tensor:
    """Boolean (B, 1, T, S) mask from a (B, S) padding mask: causal (with the cache's offset) and no
    padded keys. A ready (B, 1, T, S) boolean mask is returned as it is."""
    S = past + T
    if attention_mask.dim() == 4 and attention_mask.dtype == torch.bool and attention_mask.shape[-2:] == (T, S):
        return attention_mask
    if attention_mask.dim() != 2 or attention_mask.shape[1] != S:
        raise ValueError(f"attention_mask must have shape (B, {S}) (cached + new tokens) or be a boolean "
                         f"(B, 1, {T}, {S}) mask, got {tuple(attention_mask.shape)}")
    mask = causal_mask(T, past, attention_mask.device)[None, None] & attention_mask.bool()[:, None, None, :]
    # a padded query row would see no key at all (NaN in softmax): let it see itself
    eye = torch.ones(T, S, dtype=torch.bool, device=mask.device).tril(past).triu(past)  # key past + i
    return mask | (~mask.any(-1, keepdim=True) & eye)


# ---- what the model takes: checked here, where its types are ----------------------------------

def check_config(name: str, value) -> GPTConfig:
    """A ``GPTConfig``."""
    if not isinstance(value, GPTConfig):
        raise TypeError(f"{name} must be a GPTConfig (model.config), got {validate.given(value)}")
    return value


def check_model(name: str, value) -> GPT:
    """A ``GPT``."""
    if not isinstance(value, GPT):
        raise TypeError(f"{name} must be a nanoinfer_lib GPT, got {type(value).__name__}")
    return value


def check_model_like(name: str, value):
    """What computes logits like a GPT: callable on token ids (B, T), with a ``config`` that has
    ``vocab_size`` and ``block_size`` (a ``GPT``, or a stand-in in a test)."""
    config = getattr(value, "config", None)
    if not callable(value) or not all(hasattr(config, a) for a in ("vocab_size", "block_size")):
        raise TypeError(f"{name} must be a nanoinfer_lib GPT (a callable with config.vocab_size and "
                        f"config.block_size), got {type(value).__name__}")
    return value


def check_kv_cache(name: str, value):
    """A KV cache: ``KVCache`` or anything with its ``check``, ``update``, ``advance``, ``length``."""
    if not all(hasattr(value, a) for a in ("check", "update", "advance", "length")):
        raise TypeError(f"{name} must be None or a KVCache(model.config, ...), got {validate.given(value)}")
    return value


def check_positions(name: str, value, batch_size: int, length: int, block_size: int) -> torch.Tensor:
    """An integer tensor (B, T) or (1, T) of positions in [0, block_size). The range is checked on
    CPU only: on a GPU it would cost a host sync per decode step (and break CUDA graph capture)."""
    validate.tensor(name, value, dims=(2,))
    if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
        raise TypeError(f"{name} must be an integer tensor of positions, got dtype {value.dtype}")
    if value.shape[1] != length or value.shape[0] not in (1, batch_size):
        raise ValueError(f"{name} must have shape ({batch_size}, {length}), got {tuple(value.shape)}")
    if value.device.type == "cpu" and value.numel() and (value.min() < 0 or value.max() >= block_size):
        raise ValueError(f"{name} must lie in [0, block_size={block_size}), got min {int(value.min())} "
                         f"and max {int(value.max())}")
    return value
