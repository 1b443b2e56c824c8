"""Accuracy on slices of an evaluated file: where does the model do worse than its average?

Two slicings that matter for sentiment with a recurrent model: review length (quartiles of the
token count: long reviews are truncated, short ones carry little evidence) and negation ("not
good" is the classic failure of bag-of-words-like models). Plus, when some reviews are longer than
the model's `maxlen`, the slice of those truncated reviews.

Negation is detected on the raw text with a regular expression, not on tokenizer output, on
purpose: the tokenizer's `filters` decide how "don't" splits (Keras' default filters keep the
ASCII apostrophe, so it stays "don't"; a config that filters the apostrophe yields "don" + "t",
and curly apostrophes or HTML entities give yet other tokens), and a slice definition must not
change with the model's config. The pattern matches the words not, no, never, nothing, nor as
whole words, and the contraction n't with any of the apostrophes ' ’ ‘ ` ´ or the entity &#39;
(case-insensitive). Apostrophe-less slang such as "dont" is not counted.
"""

from __future__ import annotations

import re
from typing import Any, Sequence

import numpy as np

NEGATION_WORDS = ("not", "no", "never", "nothing", "nor")
NEGATION = re.compile(r"\b(?:" + "|".join(NEGATION_WORDS) + r")\b|n(?:['’‘`´]|&#39;)t\b", re.IGNORECASE)


def has_negation(text: str) -> bool:
    """True when `text` contains a negation word or an n't contraction (see module docstring)."""
    return NEGATION.search(text) is not None


def _row(name: str, sel: np.ndarray, correct: np.ndarray) -> dict[str, Any]:
    n = int(sel.sum())
    return {"slice": name, "n": n, "accuracy": float(correct[sel].mean()) if n else None}


def slice_report(texts: Sequence[str], y: np.ndarray, p: np.ndarray, n_tokens: np.ndarray,
                 threshold: float, tokenizer: Any = None) -> list[dict[str, Any]]:
    """Rows {"slice", "n", "accuracy"}: length quartiles, negation yes/no, truncated reviews.

    `n_tokens` are token counts before truncation (as `Tokenizer.encode_with_lengths` returns);
    `tokenizer` supplies `maxlen` for the truncated slice (omitted when None or nothing is cut).
    Quartile edges come from the data; a review on an edge goes to the lower quartile, and each
    name shows the token range actually present in its slice.
    """
    y = np.asarray(y, dtype=int)
    n_tokens = np.asarray(n_tokens)
    from sentiment_cli.metrics import predicted_classes

    correct = predicted_classes(np.asarray(p, dtype=float), threshold) == y  # (n, K) scores: argmax
    rows: list[dict[str, Any]] = []
    if len(y):
        edges = np.quantile(n_tokens, [0.25, 0.5, 0.75])
        quartile = np.searchsorted(edges, n_tokens, side="left")  # 0..3; ties go to the lower one
        for q in range(4):
            sel = quartile == q
            span = f"{int(n_tokens[sel].min())}-{int(n_tokens[sel].max())}" if sel.any() else "none"
            rows.append(_row(f"length q{q + 1} ({span} tokens)", sel, correct))
    negated = np.fromiter((has_negation(t) for t in texts), dtype=bool, count=len(texts))
    rows.append(_row("with negation", negated, correct))
    rows.append(_row("without negation", ~negated, correct))
    maxlen = getattr(tokenizer, "maxlen", None)
    if maxlen and len(y) and (n_tokens > maxlen).any():
        rows.append(_row(f"longer than maxlen ({maxlen})", n_tokens > maxlen, correct))
    return rows
