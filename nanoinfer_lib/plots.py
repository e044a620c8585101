"""Matplotlib figures used by the notebooks. Each function returns the Figure it draws on.

Every plot has a title, labelled axes with units, a legend where there are several lines, and the
device/dtype it was measured on in the title or caption.
"""
from __future__ import annotations

import matplotlib.pyplot as plt

# ---- chapter 01: autoregressive generation --------------------------------------------------

# ---- chapter 02: KV cache -------------------------------------------------------------------

# ---- chapter 03: sampling -------------------------------------------------------------------

# ---- chapter 04: performance ----------------------------------------------------------------

# ---- chapter 05: evaluation -----------------------------------------------------------------
