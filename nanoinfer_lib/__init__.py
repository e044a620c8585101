"""NanoInfer: the backing library of the course on how a language model generates text."""
from .benchmark import benchmark_model
from .checkpoint import load_checkpoint, load_model, save_checkpoint
from .explorer import explore_sampling
from .generation import generate, generate_batch
from .kv_cache import KVCache
from .metrics import compute_metrics, corpus_bleu, perplexity, rouge_l, sentence_bleu
from .model import GPT, GPTConfig
from .sampling import (apply_repetition_penalty, apply_temperature, min_p_filter, sample_next_token,
                       top_k_filter, top_p_filter)
from .speculative import PromptLookup, SpeculativeOutput, speculative_generate
from .tokenizer import Tokenizer
from .widgets import SamplingExplorer, sampling_explorer

__version__ = "0.2.0"

__all__ = [
    "GPT", "GPTConfig", "KVCache", "Tokenizer", "load_checkpoint", "load_model", "save_checkpoint",
    "generate", "generate_batch", "sample_next_token", "apply_repetition_penalty", "apply_temperature",
    "top_k_filter", "top_p_filter", "min_p_filter", "benchmark_model",
    "compute_metrics", "perplexity", "corpus_bleu", "sentence_bleu", "rouge_l",
    "SamplingExplorer", "explore_sampling", "sampling_explorer",
    "speculative_generate", "PromptLookup", "SpeculativeOutput",
]
