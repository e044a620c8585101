"""Measurement: honest timers and comparisons with verdicts (``timing``), intervals honest at small
sample sizes (``stats``), where it ran and the machine's roofs (``hardware``), how fast a model runs
(``speed``), one results-file schema (``results``), and the command lines (``__main__``):

    python -m nanoinfer_lib.benchmark kv-sweep --out kv.json   # chapter 02: cached vs uncached
    python -m nanoinfer_lib.benchmark perf --out perf.json     # chapter 04: precision, batching, ...
    python -m nanoinfer_lib.benchmark vs-hf                    # the library vs transformers
    python -m nanoinfer_lib.benchmark claims --out claims.json # the tutorial's claims, with verdicts
"""
from .hardware import (copy_bandwidth, cpu_features, cpu_name, describe, device_info, fraction_of_roof, gpu_memory,
                       model_memory, native_16bit, peak_memory, process_memory, read_bandwidth, roofs)
from .results import checkpoint_sha256, read_results, write_results
from .speed import benchmark_decode, benchmark_model, decode_bytes_per_step, decode_flops_per_step, generation_bytes
from .stats import median_label, paired_ratio_interval, t_quantile
from .timing import (Comparison, compare, latency_stats, median_interval, ratio_interval, synchronize, time_fn,
                     time_fn_unsynced, verdict)

__all__ = ["Comparison", "compare", "verdict", "latency_stats", "median_interval", "median_label", "ratio_interval",
           "paired_ratio_interval", "t_quantile", "synchronize",
           "time_fn", "time_fn_unsynced", "copy_bandwidth", "read_bandwidth", "roofs", "fraction_of_roof", "peak_memory", "cpu_features", "cpu_name", "describe", "device_info",
           "gpu_memory", "model_memory", "native_16bit", "process_memory", "checkpoint_sha256", "read_results", "write_results",
           "benchmark_decode", "benchmark_model", "decode_bytes_per_step", "decode_flops_per_step", "generation_bytes"]
