"""Shared helpers for the unit tests (fixtures live in conftest.py)."""
from nanoinfer_lib import GPTConfig


def tiny_config(**kw) -> GPTConfig:
    """A small GPT configuration: block_size 16, vocab 50, 2 layers, 2 heads, 32 channels."""
    cfg = dict(block_size=16, vocab_size=50, n_layer=2, n_head=2, n_embd=32, dropout=0.0)
    cfg.update(kw)
    return GPTConfig(**cfg)


class CharTokenizer:
    """A stand-in tokenizer for the tiny model: characters a..z -> ids 1..26; id 0 decodes to '|'
    (it doubles as the end-of-text / padding token)."""
    eot_token = 0

    def encode(self, text):
        return [ord(c) - 96 for c in text]

    def decode(self, ids):
        return "".join(chr(i + 96) if i > 0 else "|" for i in ids)
