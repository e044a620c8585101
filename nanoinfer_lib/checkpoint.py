"""Save and load model checkpoints; ``load_model()`` gives the bundled Shakespeare model."""
from __future__ import annotations

from pathlib import Path

import torch

from .model import GPT, GPTConfig
from .tokenizer import ASSETS, Tokenizer

BUNDLED_CHECKPOINT = ASSETS / "model.pt"
FORMAT = "nanoinfer-checkpoint-v1"


def save_checkpoint(model: GPT, path: str | Path, tokenizer_path: str | Path | None = None,
                    dtype: torch.dtype = torch.float16, extra: dict | None = None) -> Path:
    """Write the weights (in ``dtype``; fp16 halves the file), the config and the tokenizer's file name.
    The tokenizer path is stored relative to the checkpoint when it lies beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok = None
    if tokenizer_path is not None:
        tok = Path(tokenizer_path)
        tok = tok.name if tok.resolve().parent == path.resolve().parent else str(tok)
    state = {k: v.detach().to("cpu", dtype) for k, v in model.state_dict().items() if k != "lm_head.weight"}
    torch.save({"format": FORMAT, "config": model.config.to_dict(), "model": state,
                "tokenizer": tok, "extra": extra or {}}, path)
    return path


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> tuple[GPT, GPTConfig, Path | None]:
    """Load a checkpoint written by ``save_checkpoint``: returns ``(model, config, tokenizer_path)``,
    the model in eval mode on ``device`` in ``dtype``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a readable checkpoint: {type(e).__name__}: {e}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a NanoInfer checkpoint (expected format {FORMAT!r})")
    try:
        config = GPTConfig(**ckpt["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad config in checkpoint: {e}") from e
    model = GPT(config)
    state = dict(ckpt["model"])
    state["lm_head.weight"] = state["transformer.wte.weight"]   # tied weights
    try:
        model.load_state_dict({k: v.float() for k, v in state.items()})
    except RuntimeError as e:
        raise ValueError(f"{path}: the weights do not match the checkpoint's config: {str(e)[:300]}") from e
    model.eval().to(device=device, dtype=dtype)
    tok = ckpt.get("tokenizer")
    tokenizer_path = None
    if tok is not None:
        tokenizer_path = Path(tok) if Path(tok).is_absolute() else path.parent / tok
    return model, config, tokenizer_path


def load_model(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
               checkpoint: str | Path | None = None) -> tuple[GPT, Tokenizer]:
    """The bundled Shakespeare model and its tokenizer (or those of ``checkpoint``), ready to generate."""
    model, _, tokenizer_path = load_checkpoint(checkpoint or BUNDLED_CHECKPOINT, device=device, dtype=dtype)
    return model, Tokenizer(tokenizer_path)
