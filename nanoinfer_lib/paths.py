"""Where the package keeps its files: the bundled checkpoints, tokenizer and evaluation set
(``assets/``) and the reference results measured on named hardware (``results/``); and
``atomic_write``, how every file the library writes is written."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable

PACKAGE = Path(__file__).resolve().parent
ASSETS = PACKAGE / "assets"
RESULTS = PACKAGE / "results"
BUNDLED_CHECKPOINT = ASSETS / "model.pt"          # the Shakespeare model (load_model(name="shakespeare"))
DRAFT_CHECKPOINT = ASSETS / "draft.pt"            # the draft model of chapter 06 (load_model(name="draft"))
BUNDLED_TOKENIZER = ASSETS / "tokenizer.tiktoken"
EVAL_SET = ASSETS / "eval_set.json"               # prompt/reference pairs from the held-out plays


def atomic_write(path: str | os.PathLike, write: Callable[[Path], object]) -> Path:
    """The one way the library writes a file: ``write(tmp)`` fills a temporary file in the same folder,
    which is then renamed over ``path`` (``os.replace`` is atomic on POSIX and Windows). An interrupted
    or failed write leaves the old file whole and no temporary file behind."""
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{path} is a directory: give a file name inside it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def atomic_write_text(path: str | os.PathLike, text: str) -> Path:
    """``atomic_write`` of ``text`` in UTF-8."""
    return atomic_write(path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
