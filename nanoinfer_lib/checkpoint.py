"""Save and load model checkpoints; ``load_model()`` gives a bundled model and its tokenizer.

A checkpoint is a ``torch.save``d dict: ``format``, ``config`` (GPTConfig fields), ``model`` (the
state dict without the tied ``lm_head.weight``), ``tokenizer`` (a file name beside the checkpoint,
or a path) and ``extra``. Every failure to load names the file and what is wrong with it.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from . import validate
from .model import GPT, GPTConfig
from .paths import BUNDLED_CHECKPOINT, DRAFT_CHECKPOINT
from .tokenizer import Tokenizer

FORMAT = "nanoinfer-checkpoint-v1"
BUNDLED = {"shakespeare": BUNDLED_CHECKPOINT, "draft": DRAFT_CHECKPOINT}   # load_model(name=...)


def save_checkpoint(model: GPT, path: str | Path, tokenizer_path: str | Path | None = None,
                    dtype: torch.dtype = torch.float16, extra: dict | None = None) -> Path:
    """Write the weights (in ``dtype``; fp16 halves the file), the config and the tokenizer's file name.
    The tokenizer path is stored relative to the checkpoint when it lies beside it. The file is
    written to a temporary name in the same folder and renamed into place, so an interrupted save
    leaves the old checkpoint whole."""
    validate.model("model", model)
    dtype = validate.dtype("dtype", dtype)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tok = None
    if tokenizer_path is not None:
        tok = Path(tokenizer_path)
        tok = tok.name if tok.resolve().parent == path.resolve().parent else str(tok)
    state = {k: v.detach().to("cpu", dtype) for k, v in model.state_dict().items() if k != "lm_head.weight"}
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        torch.save({"format": FORMAT, "config": model.config.to_dict(), "model": state,
                    "tokenizer": tok, "extra": extra or {}}, tmp)
        os.replace(tmp, path)               # atomic on POSIX and Windows
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _read(path: Path) -> dict:
    if path.is_dir():
        raise IsADirectoryError(f"checkpoint {path} is a directory: give the .pt file inside it")
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        raise ValueError(f"{path} is not a readable checkpoint: {type(e).__name__}: {str(e)[:200]}") from e
    if not isinstance(ckpt, dict) or ckpt.get("format") != FORMAT:
        raise ValueError(f"{path} is not a NanoInfer checkpoint (expected format {FORMAT!r})")
    for key, kind in (("config", dict), ("model", dict)):
        if not isinstance(ckpt.get(key), kind):
            raise ValueError(f"{path} has no {key!r} entry (a {kind.__name__}): the file is incomplete")
    return ckpt


def load_checkpoint(path: str | Path, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32) -> tuple[GPT, GPTConfig, Path | None]:
    """Load a checkpoint written by ``save_checkpoint``: returns ``(model, config, tokenizer_path)``,
    the model in eval mode on ``device`` in ``dtype``. Raises FileNotFoundError, IsADirectoryError
    or ValueError naming the path; never returns a half-built model."""
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    path, dtype = Path(path), validate.dtype("dtype", dtype)
    ckpt = _read(path)
    try:
        config = GPTConfig(**ckpt["config"])
    except (TypeError, ValueError) as e:
        raise ValueError(f"{path}: bad config in checkpoint: {e}") from e
    model = GPT(config)
    state = dict(ckpt["model"])
    if "transformer.wte.weight" not in state:
        raise ValueError(f"{path}: the weights have no 'transformer.wte.weight' (token embedding)")
    state["lm_head.weight"] = state["transformer.wte.weight"]   # tied weights
    missing = sorted(set(model.state_dict()) - set(state))
    unexpected = sorted(set(state) - set(model.state_dict()))
    if missing or unexpected:
        raise ValueError(f"{path}: the weights do not match the config: missing {missing[:4]}, "
                         f"unexpected {unexpected[:4]}")
    for k, v in model.state_dict().items():
        if not isinstance(state[k], torch.Tensor) or state[k].shape != v.shape:
            got = tuple(state[k].shape) if isinstance(state[k], torch.Tensor) else type(state[k]).__name__
            raise ValueError(f"{path}: weight {k} has shape {got}, the config needs {tuple(v.shape)}")
    model.load_state_dict({k: v.float() for k, v in state.items()})
    model.eval().to(device=device, dtype=dtype)
    tok = ckpt.get("tokenizer")
    tokenizer_path = None
    if tok is not None:
        tokenizer_path = Path(tok) if Path(tok).is_absolute() else path.parent / tok
    return model, config, tokenizer_path


def load_model(device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32,
               checkpoint: str | Path | None = None, name: str = "shakespeare") -> tuple[GPT, Tokenizer]:
    """A bundled model (``name``: "shakespeare", the default, or "draft", chapter 06's small draft
    model) and its tokenizer, or those of ``checkpoint``; in eval mode, ready to generate."""
    if checkpoint is None:
        checkpoint = BUNDLED[validate.choice("name", name, BUNDLED)]
    model, _, tokenizer_path = load_checkpoint(checkpoint, device=device, dtype=dtype)
    return model, Tokenizer(tokenizer_path)
