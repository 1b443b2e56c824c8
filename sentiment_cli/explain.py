"""Why a review got its score: occlusion effects of its words, in one batched inference call.

For each distinct word the model sees, score the review again with that word masked; the word's
effect is `score(review) - score(review without it)`, on the calibrated probability of the positive
class. A positive effect means the word pushes toward positive, a negative one toward negative.
For a model of K >= 3 classes the score is the probability of the class the review is labelled
with: "positive" words push toward that class, "negative" ones away from it.
All masked variants and the unmasked review go into ONE call to the predictor (the light ONNX path
when exported), so explaining costs one batch, not one call per word, and the reference score
comes from the same batch as the variants.

Choices, on purpose:
- Masking replaces the word's id with the OOV id when the tokenizer has an OOV token (the model
  has seen that id in training for "some word I don't know", so the sequence keeps its length and
  every other word keeps its position). Without an OOV token the word is removed, which is also
  what the tokenizer does with an unknown word then.
- Only the words inside the model's `maxlen` window count (the last `maxlen` tokens when
  truncating is "pre", the first ones when "post"): a word the model never sees has no effect.
- A word that occurs several times is masked everywhere at once and reported once, with its
  `count`: the effect is that of the word in this review, and masking only one occurrence would
  understate words the reviewer repeats.
- Words the model cannot tell apart from OOV (outside `num_words`) are skipped: masking them
  changes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sentiment_cli.tokenizer import pad_sequences


def _window(n: int, maxlen: int, truncating: str) -> range:
    """Positions of a sequence of `n` ids that survive truncation to `maxlen`."""
    if not maxlen or n <= maxlen:
        return range(n)
    return range(n - maxlen, n) if truncating == "pre" else range(maxlen)


def explain(predictor: Any, text: str, k: int = 5) -> dict[str, list[dict[str, Any]]]:
    """The `k` words of `text` that push its score most toward positive and toward negative.

    Returns {"positive": [{"token", "effect", "count"}...], "negative": [...]}, each list sorted by
    the size of the effect, strongest first; a word appears in at most one list.
    """
    tok = predictor.tokenizer
    words = tok.words(text)
    oov = tok.word_index_.get(tok.oov_token) if tok.oov_token is not None else None
    if oov is not None:
        ids = tok.transform([text])[0]  # with an OOV token, one id per word, in order
    else:
        # Unknown words are dropped from the id sequence; find which, word by word (a split
        # word re-splits to itself, so transform([word]) is [[id]] or [[]]).
        distinct = list(dict.fromkeys(words))
        known = {w: seq[0] for w, seq in zip(distinct, tok.transform(distinct)) if seq}
        words = [w for w in words if w in known]
        ids = [known[w] for w in words]
    seen = _window(len(ids), tok.maxlen or 0, tok.truncating)
    ids, words = ids[seen.start:seen.stop], words[seen.start:seen.stop]

    candidates: dict[str, list[int]] = {}
    for pos, (word, i) in enumerate(zip(words, ids)):
        if i != oov:
            candidates.setdefault(word, []).append(pos)
    if not candidates or k <= 0:
        return {"positive": [], "negative": []}

    width = tok.maxlen or len(ids)
    if oov is not None:
        # Same length for every variant: tile the padded row and overwrite the masked positions.
        x = np.tile(pad_sequences([ids], width, padding=tok.padding), (len(candidates) + 1, 1))
        offset = width - len(ids) if tok.padding == "pre" else 0
        for row, positions in enumerate(candidates.values(), start=1):
            x[row, [offset + pos for pos in positions]] = oov
    else:
        variants = [ids]
        for positions in candidates.values():
            drop = set(positions)
            variants.append([i for pos, i in enumerate(ids) if pos not in drop])
        x = pad_sequences(variants, width, padding=tok.padding, truncating=tok.truncating)
    p = predictor.score_ids(x)  # the one inference call
    if p.ndim == 2:  # K >= 3 classes: effects on the probability of the class the review gets
        p = p[:, int(np.argmax(p[0]))]
    effects = p[0] - p[1:]

    order = np.argsort(-effects, kind="stable")
    names = list(candidates)

    def rows(indices: Any) -> list[dict[str, Any]]:
        return [{"token": names[j], "effect": round(float(effects[j]), 6), "count": len(candidates[names[j]])}
                for j in indices]

    positive = [j for j in order if effects[j] > 0][:k]
    negative = [j for j in order[::-1] if effects[j] < 0][:k]
    return {"positive": rows(positive), "negative": rows(negative)}
