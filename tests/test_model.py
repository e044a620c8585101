"""model: shapes, tied weights, cached == uncached logits for every split, padding, config checks, GPT-2 import."""
import pytest
import torch

from nanoinfer_lib import GPT, GPTConfig, KVCache, generate
from nanoinfer_lib import model as bm

from _helpers import tiny_config


def test_forward_shapes(tiny_model):
    idx = torch.randint(0, 50, (3, 7))
    assert tiny_model(idx).shape == (3, 7, 50)
    assert tiny_model(idx, last_only=True).shape == (3, 1, 50)


def test_tied_embeddings_and_param_count(tiny_model):
    assert tiny_model.lm_head.weight is tiny_model.transformer.wte.weight
    n = sum(p.numel() for p in tiny_model.parameters())
    assert tiny_model.num_params() in (n, n - tiny_model.transformer.wpe.weight.numel())


@pytest.mark.parametrize("n_prefill", range(1, 12))
def test_cached_equals_uncached_for_every_split(tiny_model, n_prefill):
    torch.manual_seed(1)
    idx = torch.randint(0, 50, (2, 12))
    full = tiny_model(idx)
    cache = KVCache(tiny_model.config, batch_size=2, max_len=12)
    parts = [tiny_model(idx[:, :n_prefill], kv_cache=cache)]
    t = n_prefill
    step = 1
    while t < 12:                                   # decode in chunks of 1, 2, 1, 2, ... tokens
        parts.append(tiny_model(idx[:, t:t + step], kv_cache=cache))
        t += step
        step = 3 - step
    cached = torch.cat(parts, dim=1)
    assert cache.length == 12
    assert (cached - full).abs().max().item() < 1e-4


def test_config_validation():
    with pytest.raises(ValueError, match="n_embd"):
        GPTConfig(n_embd=30, n_head=4)
    with pytest.raises(ValueError, match="block_size"):
        GPTConfig(block_size=0)
    with pytest.raises(TypeError, match="vocab_size"):
        GPTConfig(vocab_size=2.5)
    with pytest.raises(ValueError, match="dropout"):
        GPTConfig(dropout=1.5)


def test_forward_rejects_bad_input(tiny_model):
    with pytest.raises(TypeError, match="idx"):
        tiny_model(torch.rand(1, 4))
    with pytest.raises(ValueError, match="idx"):
        tiny_model(torch.tensor([1, 2, 3]))
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        tiny_model(torch.tensor([[1, 50]]))
    with pytest.raises(ValueError, match=r"\[0, 50\)"):
        tiny_model(torch.tensor([[-1, 2]]))
    with pytest.raises(ValueError, match="block_size"):
        tiny_model(torch.zeros(1, 17, dtype=torch.long))


def test_full_cache_is_a_clear_error(tiny_model):
    cache = KVCache(tiny_model.config, batch_size=1, max_len=4)
    tiny_model(torch.zeros(1, 3, dtype=torch.long), kv_cache=cache)
    with pytest.raises(ValueError, match="full"):
        tiny_model(torch.zeros(1, 2, dtype=torch.long), kv_cache=cache)


def test_padding_mask_and_positions_match_unpadded(tiny_model):
    ids = torch.randint(0, 50, (1, 5))
    padded = torch.cat([torch.zeros(1, 3, dtype=torch.long), ids], dim=1)
    mask = torch.tensor([[0, 0, 0, 1, 1, 1, 1, 1]])
    pos = (mask.cumsum(-1) - 1).clamp(min=0)
    out = tiny_model(padded, attention_mask=mask, position_ids=pos)[:, 3:]
    assert (out - tiny_model(ids)).abs().max().item() < 1e-5


def test_count_parameters_without_allocating():
    cfg = tiny_config()
    assert bm.GPT.count_parameters(cfg) == GPT(cfg).num_params()
    assert bm.GPT.count_parameters(bm.GPT2_SMALL) == 124_439_808      # GPT-2 small, as Hugging Face counts it


# ---- GPT.from_pretrained against transformers' GPT2LMHeadModel (offline: random weights saved locally)
@pytest.fixture(scope="module")
def hf_pair(tmp_path_factory):
    transformers = pytest.importorskip("transformers")
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
    pytest.importorskip("transformers")
    with pytest.raises((OSError, ValueError), match="nope"):
        GPT.from_pretrained(str(tmp_path / "nope"))


@pytest.mark.parametrize("causal", [True, False])
def test_attention_equals_the_formula(causal):
    torch.manual_seed(0)
    q, k, v = torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8), torch.randn(2, 3, 5, 8)   # (B, nh, T, hs)
    scores = q @ k.transpose(-1, -2) / 8 ** 0.5
    if causal:
        scores = scores.masked_fill(~torch.ones(5, 5, dtype=torch.bool).tril(), float("-inf"))
    torch.testing.assert_close(bm.attention(q, k, v, is_causal=causal), scores.softmax(-1) @ v)
    mask = torch.rand(2, 1, 5, 5, generator=torch.Generator().manual_seed(1)) > 0.3
    mask[..., 0] = True                                                         # every query sees a key
    want = q @ k.transpose(-1, -2) / 8 ** 0.5
    torch.testing.assert_close(bm.attention(q, k, v, mask), want.masked_fill(~mask, float("-inf")).softmax(-1) @ v)


def test_models_configs_and_caches(tiny_model):
    assert bm.check_model("model", tiny_model) is tiny_model
    assert bm.check_model_like("model", tiny_model) is tiny_model
    assert bm.check_config("config", tiny_model.config) is tiny_model.config
    with pytest.raises(TypeError, match="model must be a nanoinfer_lib GPT, got Linear"):
        bm.check_model("model", torch.nn.Linear(2, 2))
    with pytest.raises(TypeError, match="model must be a nanoinfer_lib GPT .*, got str"):
        bm.check_model_like("model", "gpt2")
    with pytest.raises(TypeError, match=r"config must be a GPTConfig \(model.config\), got dict"):
        bm.check_config("config", {"n_layer": 2})
    cache = KVCache(tiny_model.config, 1, 4)
    assert bm.check_kv_cache("kv_cache", cache) is cache
    with pytest.raises(TypeError, match=r"kv_cache must be None or a KVCache\(model.config, ...\), got list"):
        bm.check_kv_cache("kv_cache", [])


def test_positions():
    ok = torch.tensor([[0, 1, 2]])
    assert bm.check_positions("position_ids", ok, 2, 3, 16) is ok              # (1, T) broadcasts over B
    cases = [(torch.tensor([[0.0, 1.0, 2.0]]), TypeError, "integer tensor"),
             ([[0, 1, 2]], TypeError, "must be a tensor"),
             (torch.tensor([0, 1, 2]), ValueError, "2 dimensions"),
             (torch.tensor([[0, 1]]), ValueError, r"shape \(2, 3\)"),
             (torch.tensor([[0, 1, 16]]), ValueError, r"\[0, block_size=16\), got min 0 and max 16"),
             (torch.tensor([[-1, 1, 2]]), ValueError, "min -1")]
    for value, exc, msg in cases:
        with pytest.raises(exc, match=rf"position_ids .*{msg}"):
            bm.check_positions("position_ids", value, 2, 3, 16)
