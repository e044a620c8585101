"""What this CPU is: its model name and the vector features that decide the course's precision and
speed claims (read from the system; nothing is measured here)."""
from __future__ import annotations

import platform
import re
import subprocess
from pathlib import Path

# CPU flags (as /proc/cpuinfo names them) that decide the precision and speed claims
CPU_FEATURES = {"avx2": "AVX2", "avx512f": "AVX-512", "avx512_bf16": "AVX512-BF16", "avx512_vnni": "AVX512-VNNI",
                "avx_vnni": "AVX-VNNI", "amx_bf16": "AMX-BF16", "amx_int8": "AMX-INT8", "asimd": "NEON",
                "sve": "SVE", "bf16": "BF16 (Arm)", "avx512_fp16": "AVX512-FP16", "amx_fp16": "AMX-FP16",
                "asimdhp": "FP16 (Arm)"}


def _cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""


def cpu_name() -> str:
    """The CPU's model name where the system tells it (Linux: /proc/cpuinfo), else its architecture."""
    m = re.search(r"^model name\s*:\s*(.+)$", _cpuinfo(), re.M)
    if m:
        return f"{m.group(1).strip()} ({platform.machine()})"
    if platform.system() == "Darwin":
        try:
            brand = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True,
                                   text=True, timeout=5).stdout.strip()
            if brand:
                return f"{brand} ({platform.machine()})"
        except (OSError, subprocess.SubprocessError):
            pass
    return platform.processor() or platform.machine()


def cpu_features() -> list[str]:
    """The features of ``CPU_FEATURES`` this CPU has (empty where the system does not say)."""
    m = re.search(r"^(?:flags|Features)\s*:\s*(.+)$", _cpuinfo(), re.M)
    flags = set(m.group(1).split()) if m else set()
    return [name for flag, name in CPU_FEATURES.items() if flag in flags]
