"""checkpoint: save/load round trips, errors that name the file, atomic saves, the bundled models."""
import json

import pytest
import torch

from nanoinfer_lib import GPT, load_checkpoint, load_model, save_checkpoint
from nanoinfer_lib.paths import BUNDLED_TOKENIZER

from _helpers import tiny_config


TEXT = "ROMEO.\nBut soft, what light through yonder window breaks?\n\n"


def test_checkpoint_round_trip(tmp_path):
    torch.manual_seed(0)
    model = GPT(tiny_config()).eval()
    path = tmp_path / "m.pt"
    save_checkpoint(model, path, tokenizer_path=BUNDLED_TOKENIZER, dtype=torch.float32)
    loaded, config, tok_path = load_checkpoint(path)
    assert config == model.config and tok_path == BUNDLED_TOKENIZER
    idx = torch.randint(0, 50, (1, 8))
    assert torch.equal(loaded(idx), model(idx))
    assert not loaded.training


def test_checkpoint_errors_name_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match="nothing.pt"):
        load_checkpoint(tmp_path / "nothing.pt")
    junk = tmp_path / "junk.pt"
    junk.write_text("not a checkpoint")
    with pytest.raises(ValueError, match="junk.pt"):
        load_checkpoint(junk)
    other = tmp_path / "other.pt"
    torch.save({"weights": 1}, other)
    with pytest.raises(ValueError, match="other.pt"):
        load_checkpoint(other)
    model = GPT(tiny_config())
    bad = tmp_path / "mismatch.pt"
    save_checkpoint(model, bad)
    ckpt = torch.load(bad, weights_only=False)
    ckpt["config"]["n_embd"] = 64
    torch.save(ckpt, bad)
    with pytest.raises(ValueError, match="mismatch.pt"):
        load_checkpoint(bad)


def test_bundled_model_and_training_record():
    model, tok = load_model()
    assert model.config.block_size == 512 and model.config.vocab_size == tok.vocab_size
    assert not model.training and model.dtype == torch.float32
    info = json.loads((BUNDLED_TOKENIZER.parent / "train_info.json").read_text())
    assert info["config"] == model.config.to_dict()
    eval_set = json.loads((BUNDLED_TOKENIZER.parent / "eval_set.json").read_text())
    assert len(eval_set) >= 50 and all(set(e) >= {"prompt", "reference"} for e in eval_set)
