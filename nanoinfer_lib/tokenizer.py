"""A thin tokenizer on tiktoken: the bundled byte-level BPE, or a named tiktoken encoding (online)."""
from __future__ import annotations

import base64
from pathlib import Path
from typing import Iterable

import tiktoken
import torch

ASSETS = Path(__file__).resolve().parent / "assets"
BUNDLED_TOKENIZER = ASSETS / "tokenizer.tiktoken"
EOT = "<|endoftext|>"
# GPT-2's pre-tokenisation pattern: BPE merges never cross these pieces (words, numbers, punctuation, spaces)
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def read_tiktoken_file(path: str | Path) -> dict[bytes, int]:
    """Parse a ``.tiktoken`` file (one ``base64(token_bytes) rank`` per line) into mergeable ranks."""
    ranks: dict[bytes, int] = {}
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
        except ValueError as e:
            raise ValueError(f"{path}: line {n} is not 'base64_token rank': {line[:40]!r}") from e
    return ranks


def write_tiktoken_file(ranks: dict[bytes, int], path: str | Path) -> None:
    lines = [f"{base64.b64encode(tok).decode()} {rank}" for tok, rank in sorted(ranks.items(), key=lambda kv: kv[1])]
    Path(path).write_text("\n".join(lines) + "\n")


def encoding_from_file(path: str | Path, name: str | None = None) -> tiktoken.Encoding:
    ranks = read_tiktoken_file(path)
    return tiktoken.Encoding(name=name or Path(path).stem, pat_str=GPT2_PATTERN,
                             mergeable_ranks=ranks, special_tokens={EOT: len(ranks)})


class Tokenizer:
    """``Tokenizer()`` or ``Tokenizer(path_to.tiktoken)`` loads a local BPE; ``Tokenizer("gpt2")`` asks
    tiktoken for a named encoding, which downloads its file the first time (needs internet)."""

    def __init__(self, name_or_path: str | Path | None = None):
        if name_or_path is None:
            name_or_path = BUNDLED_TOKENIZER
        if not isinstance(name_or_path, (str, Path)):
            raise TypeError(f"name_or_path must be a str or Path, got {type(name_or_path).__name__}")
        path = Path(name_or_path)
        if path.suffix == ".tiktoken" or path.exists():
            if not path.is_file():
                raise FileNotFoundError(f"tokenizer file not found: {path}")
            self.enc = encoding_from_file(path)
            self.name = path.name
        else:
            try:
                self.enc = tiktoken.get_encoding(str(name_or_path))
            except ValueError:
                raise ValueError(f"unknown tokenizer {name_or_path!r}: give a .tiktoken file or one of "
                                 f"{tiktoken.list_encoding_names()}") from None
            except Exception as e:  # requests' ConnectionError and friends, when offline
                raise ConnectionError(f"could not download the tiktoken encoding {name_or_path!r} "
                                      f"(it needs internet the first time): {type(e).__name__}") from e
            self.name = str(name_or_path)
        self.eot_token: int = self.enc.eot_token

    @property
    def vocab_size(self) -> int:
        return self.enc.n_vocab

    def encode(self, text: str, return_tensors: str | None = None, add_eot: bool = False):
        """Text -> token ids: ``list[int]``, or a ``LongTensor`` of shape (1, T) with ``return_tensors="pt"``.
        ``<|endoftext|>`` written in the text is encoded as the special token."""
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if return_tensors not in (None, "pt"):
            raise ValueError(f"return_tensors must be None or 'pt', got {return_tensors!r}")
        ids = self.enc.encode(text, allowed_special="all")
        if add_eot:
            ids.append(self.eot_token)
        return torch.tensor([ids], dtype=torch.long) if return_tensors == "pt" else ids

    def _to_list(self, ids) -> list[int]:
        if isinstance(ids, torch.Tensor):
            if ids.dim() > 1:
                raise ValueError(f"ids must be 0-D or 1-D, got shape {tuple(ids.shape)}; decode one row: ids[0]")
            ids = ids.reshape(-1).tolist()
        elif isinstance(ids, int):
            ids = [ids]
        elif isinstance(ids, Iterable) and not isinstance(ids, (str, bytes)):
            ids = [int(i) for i in ids]
        else:
            raise TypeError(f"ids must be a list of ints or a tensor, got {type(ids).__name__}")
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token ids must lie in [0, {self.vocab_size}), got {bad[:5]}")
        return ids

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
