"""Evaluation metrics (chapter 05), by concept: ``perplexity`` (model-based: perplexity, bits per
byte, per-token surprise), ``text`` (BLEU, ROUGE-L, distinct-n; no model), and ``evaluate``
(``compute_metrics`` on prompt/reference pairs, the bundled evaluation set)."""
from .evaluate import check_eval_data, compute_metrics, load_eval_set
from .perplexity import bits_per_byte, continuation_nll, heldout_loss, perplexity, token_nll
from .text import (WORD_RE, bleu_stats, brevity_penalty, corpus_bleu, distinct_n, lcs_table, ngrams, rouge_l,
                   sentence_bleu, words)

__all__ = ["check_eval_data", "compute_metrics", "load_eval_set", "bits_per_byte", "continuation_nll",
           "heldout_loss", "perplexity", "token_nll", "WORD_RE", "bleu_stats", "brevity_penalty", "corpus_bleu",
           "distinct_n", "lcs_table", "ngrams", "rouge_l", "sentence_bleu", "words"]
