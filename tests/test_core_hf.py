"""GPT.from_pretrained against transformers' own GPT2LMHeadModel (offline: random weights saved locally)."""
import pytest
import torch

transformers = pytest.importorskip("transformers")
from nanoinfer_lib import GPT, generate  # noqa: E402


@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory):
    torch.manual_seed(0)
    cfg = transformers.GPT2Config(vocab_size=300, n_positions=128, n_embd=64, n_layer=2, n_head=4)
    hf = transformers.GPT2LMHeadModel(cfg).eval()
    path = tmp_path_factory.mktemp("gpt2-random")
    hf.save_pretrained(path)
    return hf, GPT.from_pretrained(str(path)).eval()


def test_logits_match(hf_pair):
    hf, ours = hf_pair
    idx = torch.randint(0, 300, (2, 40))
    with torch.no_grad():
        ref = hf(idx).logits
    assert ours.config.block_size == 128 and ours.config.vocab_size == 300
    assert (ours(idx) - ref).abs().max().item() < 1e-4


def test_greedy_generation_matches_transformers(hf_pair):
    hf, ours = hf_pair
    idx = torch.randint(0, 300, (1, 8))
    with torch.no_grad():
        ref = hf.generate(idx, attention_mask=torch.ones_like(idx), max_new_tokens=64, do_sample=False,
                          pad_token_id=0, eos_token_id=None)
    out = generate(ours, idx, max_new_tokens=64, temperature=0)
    assert torch.equal(out, ref)


def test_missing_local_dir_is_a_clear_error(tmp_path):
    with pytest.raises((OSError, ValueError), match="nope"):
        GPT.from_pretrained(str(tmp_path / "nope"))
