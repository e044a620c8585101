"""What the chapters' figures share."""
from __future__ import annotations

import re


def tail_words(text: str, max_chars: int = 30) -> str:
    """The end of ``text`` in whole words, at most ``max_chars`` long, with "…" in front when cut:
    titles quote the end of a prompt without cutting a word in two."""
    if len(text) <= max_chars:
        return text
    pieces = re.split(r"(\s+)", text)          # words and the spaces between them, in order
    kept = ""
    for piece in reversed(pieces):
        if len(piece) + len(kept) > max_chars - 1:
            break
        kept = piece + kept
    kept = kept.lstrip()
    return "…" + (kept if kept else text.split()[-1])
