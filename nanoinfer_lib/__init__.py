"""NanoInfer: the backing library of the course on how a language model generates text."""
from .checkpoint import load_checkpoint, load_model, save_checkpoint
from .generation import generate, generate_batch
from .kv_cache import KVCache
from .model import GPT, GPTConfig
from .sampling import (apply_repetition_penalty, apply_temperature, min_p_filter, sample_next_token,
                       top_k_filter, top_p_filter)
from .tokenizer import Tokenizer

__version__ = "0.1.0"

__all__ = [
    "GPT", "GPTConfig", "KVCache", "Tokenizer", "load_checkpoint", "load_model", "save_checkpoint",
    "generate", "generate_batch", "sample_next_token", "apply_repetition_penalty", "apply_temperature",
    "top_k_filter", "top_p_filter", "min_p_filter",
]
