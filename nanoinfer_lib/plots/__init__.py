"""Matplotlib figures used by the notebooks, one module per chapter. Each function returns the
Figure it draws on; every plot has a title, labelled axes with units, a legend where there are
several lines, and the device/dtype it was measured on in the title or caption."""
from ._common import tail_words
from .ch01 import plot_naive_cost, plot_next_token_probs
from .ch02 import plot_attention_reuse, plot_cache_memory, plot_kv_sweep
from .ch03 import plot_distribution, plot_entropy_vs_temperature, plot_kept_by_rank, plot_diversity_vs_perplexity, plot_temperature_grid, plot_top_p_survivors
from .ch04 import plot_bar_panels, plot_batching, plot_roofline, plot_run_times
from .ch05 import plot_context_curve, plot_decoding_sweep
from .ch06 import plot_acceptance, plot_speedup, plot_token_distribution, plot_verify_cost
from .ch07 import TIMELINE_STATES, plot_kv_usage, plot_serving, plot_timeline
from .ch08 import byte_unit, plot_bytes_by_format, plot_memory_timeline, plot_quality_vs_bytes

__all__ = ['tail_words', 'plot_naive_cost', 'plot_next_token_probs', 'plot_attention_reuse', 'plot_cache_memory', 'plot_kv_sweep', 'plot_distribution', 'plot_entropy_vs_temperature', 'plot_kept_by_rank', 'plot_diversity_vs_perplexity', 'plot_temperature_grid', 'plot_top_p_survivors', 'plot_bar_panels', 'plot_batching', 'plot_roofline', 'plot_run_times', 'plot_context_curve', 'plot_decoding_sweep', 'plot_acceptance', 'plot_speedup', 'plot_token_distribution', 'plot_verify_cost']
__all__ += ["TIMELINE_STATES", "plot_kv_usage", "plot_serving", "plot_timeline"]
