"""Shared helpers for the unit tests (fixtures live in conftest.py)."""
from types import SimpleNamespace

import pytest
import torch

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


PROBS = [0.2, 0.4, 0.1, 0.3]          # by token id: 'a' 0.2, 'b' 0.4, 'c' 0.1, 'd' 0.3


class FakeModel:
    """Always predicts PROBS, whatever the context (enough for the explorer's distribution panel)."""

    def __init__(self, probs=PROBS):
        self.logits = torch.tensor(probs).log()
        self.config = SimpleNamespace(vocab_size=len(probs), block_size=8)
        self.device = torch.device("cpu")

    def __call__(self, idx, last_only=False):
        return self.logits.expand(idx.shape[0], 1, -1)        # (B, 1, V)


class FakeTokenizer:
    eot_token = 3                 # a tokenizer has encode, decode and an int eot_token (tokenizer.check_tokenizer)

    def encode(self, text, return_tensors=None):
        ids = [ord(c) - ord("a") for c in text]
        return torch.tensor([ids], dtype=torch.long).reshape(1, -1) if return_tensors == "pt" else ids

    def decode(self, ids):
        return "".join(chr(ord("a") + int(i)) for i in ids)


def kept_tokens(w):
    return {tok for tok, k in zip(w.result.tokens, w.result.kept) if k}


def legend_covers_data(fig) -> bool:
    """True when a legend drawn inside its axes covers a plotted point of those axes."""
    fig.canvas.draw()
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        box = legend.get_window_extent()
        if not box.overlaps(ax.get_window_extent()):
            continue                                           # outside the axes: covers nothing
        for line in ax.get_lines():
            xy = ax.transData.transform(line.get_xydata())
            if any(box.contains(x, y) for x, y in xy):
                return True
    return False


def legend_fonts_readable(fig):
    """Every legend text (in an axes or the figure) is at least 8 points."""
    for ax in fig.axes:
        legend = ax.get_legend()
        if legend is not None:
            assert all(t.get_fontsize() >= 8 for t in legend.get_texts())
    for legend in fig.legends:
        assert all(t.get_fontsize() >= 8 for t in legend.get_texts())



def command_rejects(main, tmp_path, argv, err, match):
    """A benchmark command's ``main`` given ``--out FILE`` and ``argv`` raises ``err`` whose message
    matches ``match`` (the option it names), before measuring anything."""
    with pytest.raises(err, match=match):
        main(["--out", str(tmp_path / "x.json"), *argv])


def command_needs_out_and_a_file_name(main, tmp_path):
    """A benchmark command's ``main`` stops without ``--out`` (argparse), and refuses a directory as ``--out``."""
    with pytest.raises(SystemExit):
        main([])
    with pytest.raises((ValueError, IsADirectoryError), match="--out"):
        main(["--out", str(tmp_path)])
