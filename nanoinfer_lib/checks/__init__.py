"""Self-checks for the notebooks' exercises, one module per chapter; each check prints a friendly
verdict (what is right, or a hint that names the likely mistake) and returns a ``Verdict``."""
from ._common import Verdict
from .ch01 import check_forward_tokens, check_greedy_with_stop, naive_forward_tokens
from .ch02 import LLAMA_STYLE, check_cache_size, check_cache_update, check_causal_mask, check_kv_bytes_per_token
from .ch02 import check_repeat_kv, check_sliding_window_mask
from .ch03 import SURVIVOR_PROBS, SURVIVOR_SETTINGS, check_distinct_n, check_survivors, check_top_k_mass, check_top_p, check_typical_p, survivors, top_k_mass, typical_p_reference
from .ch04 import check_decode_bytes, check_timer
from .ch05 import check_bleu_by_hand, check_lcs
from .ch05 import check_unigram_perplexity
from .ch06 import check_best_num_draft_tokens, check_expected_tokens, check_prompt_lookup
from .ch07 import check_blocks_needed, check_prefix_sharing_bytes, check_preemption
from .ch08 import LLAMA_WEIGHTS, check_int4_weight_bytes, check_overhead_group_size

__all__ = ['Verdict', 'check_forward_tokens', 'check_greedy_with_stop', 'naive_forward_tokens', 'check_cache_size', 'check_cache_update', 'check_causal_mask', 'LLAMA_STYLE', 'check_kv_bytes_per_token', 'SURVIVOR_PROBS', 'SURVIVOR_SETTINGS', 'check_distinct_n', 'check_survivors', 'check_top_k_mass', 'check_top_p', 'check_typical_p', 'survivors', 'top_k_mass', 'typical_p_reference', 'check_decode_bytes', 'check_timer', 'check_bleu_by_hand', 'check_lcs', 'check_best_num_draft_tokens', 'check_expected_tokens', 'check_prompt_lookup']
__all__ += ["check_repeat_kv", "check_sliding_window_mask", "check_unigram_perplexity"]
__all__ += ["check_blocks_needed", "check_prefix_sharing_bytes", "check_preemption"]
