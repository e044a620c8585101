"""metrics.evaluate: compute_metrics agrees with its parts; the bundled evaluation set."""
import math


import pytest
import torch

from nanoinfer_lib import generate
from nanoinfer_lib.metrics import compute_metrics, corpus_bleu, distinct_n, load_eval_set, rouge_l, token_nll



HYP, REF = "the cat sat on the mat", "the cat is on the mat"








@pytest.fixture(scope="module")
def small_eval():
    return load_eval_set()[:5]


def test_compute_metrics_agrees_with_its_parts(bundled, small_eval):
    model, tokenizer = bundled
    r = compute_metrics(model, tokenizer, small_eval, max_new_tokens=8, batch_size=2, return_hypotheses=True)
    assert r["n_examples"] == 5 and len(r["hypotheses"]) == 5
    refs = [ex["reference"] for ex in small_eval]
    assert r["bleu_4"] == corpus_bleu(r["hypotheses"], refs)
    assert r["rougeL"] == pytest.approx(sum(rouge_l(h, x)["fmeasure"] for h, x in zip(r["hypotheses"], refs)) / 5)
    assert r["distinct_2"] == distinct_n(r["hypotheses"], 2)
    # greedy continuations equal generating each prompt alone, cut at the first newline
    for ex, hyp in zip(small_eval, r["hypotheses"]):
        out = generate(model, tokenizer.encode(ex["prompt"], return_tensors="pt"), max_new_tokens=8, temperature=0)
        text = tokenizer.decode(out[0, out.shape[1] - 8:]).split("<|endoftext|>")[0]
        assert hyp == text.split("\n")[0].strip()
    # perplexity: all reference tokens pooled, each given its prompt
    nll = torch.cat([token_nll(model, tokenizer.encode(ex["prompt"]) + tokenizer.encode(ex["reference"]))
                     [-len(tokenizer.encode(ex["reference"])):] for ex in small_eval])
    assert r["perplexity"] == pytest.approx(math.exp(nll.mean().item()), rel=1e-4)


def test_compute_metrics_sampling_is_seeded(bundled, small_eval):
    model, tokenizer = bundled
    kw = dict(max_new_tokens=6, temperature=1.0, top_p=0.9, seed=3, return_hypotheses=True)
    a = compute_metrics(model, tokenizer, small_eval, **kw)
    assert a == compute_metrics(model, tokenizer, small_eval, **kw)


def test_compute_metrics_progress_bar(bundled, small_eval, capsys):
    model, tokenizer = bundled
    compute_metrics(model, tokenizer, small_eval[:2], max_new_tokens=2, progress=True)
    assert "generating" in capsys.readouterr().err
    compute_metrics(model, tokenizer, small_eval[:2], max_new_tokens=2)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize("bad, err, msg", [
    ("prompt", TypeError, "eval_data must be a list"),
    ({"prompt": "a", "reference": "b"}, TypeError, "eval_data must be a list"),
    ([], ValueError, "eval_data is empty"),
    ([{"prompt": "a", "reference": "b"}, "x"], TypeError, r"eval_data\[1\] must be a dict"),
    ([{"prompt": "a", "reference": "b"}, {"prompt": "a"}], ValueError, r"eval_data\[1\] has no 'reference'"),
    ([{"prompt": 3, "reference": "b"}], TypeError, r"eval_data\[0\]\['prompt'\] must be a str"),
    ([{"prompt": "a", "reference": " "}], ValueError, r"eval_data\[0\]\['reference'\] is empty"),
])
def test_compute_metrics_rejects_malformed_eval_data(bundled, bad, err, msg):
    model, tokenizer = bundled
    with pytest.raises(err, match=msg):
        compute_metrics(model, tokenizer, bad)


def test_compute_metrics_argument_errors(bundled, small_eval):
    model, tokenizer = bundled
    with pytest.raises(ValueError, match="max_new_tokens"):
        compute_metrics(model, tokenizer, small_eval, max_new_tokens=0)
    with pytest.raises(ValueError, match="batch_size"):
        compute_metrics(model, tokenizer, small_eval, batch_size=0)
    with pytest.raises(ValueError, match="temperature"):
        compute_metrics(model, tokenizer, small_eval, temperature=-1)
    with pytest.raises(TypeError, match="model"):
        compute_metrics("gpt2", tokenizer, small_eval)


def test_bundled_eval_set_shape():
    data = load_eval_set()
    assert len(data) == 100
    assert all(ex["prompt"].endswith("\n") and "\n" not in ex["reference"] for ex in data)
