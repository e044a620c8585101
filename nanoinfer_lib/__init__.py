"""NanoInfer: the backing library of the course on how a language model generates text."""
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

__version__ = "0.2.0"

__all__ = [
    "GPT", "GPTConfig", "KVCache", "Tokenizer", "load_checkpoint", "load_model", "save_checkpoint",
    "generate", "generate_batch", "sample_next_token", "apply_repetition_penalty", "apply_temperature",
    "top_k_filter", "top_p_filter", "min_p_filter", "benchmark_model",
    "compute_metrics", "perplexity", "corpus_bleu", "sentence_bleu", "rouge_l",
    "SamplingExplorer", "explore_sampling", "sampling_explorer",
    "speculative_generate", "PromptLookup", "SpeculativeOutput",
]

# imported on first use: the widgets need ipywidgets (and so IPython), the benchmarks the measuring tools
_LAZY = {"SamplingExplorer": "widgets", "sampling_explorer": "widgets", "benchmark_model": "benchmark"}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
