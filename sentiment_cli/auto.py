"""Settings that follow the data: config values of "auto", resolved at train time.

The right sequence length, vocabulary, batch size and epoch budget depend on the user's data: a
tweet is 20 tokens, a review 700; 1,500 rows in batches of 256 are six steps an epoch. Each rule
below is a plain function of statistics of the training rows (never the validation or test rows),
logged, and written resolved into the model directory's config.yaml, so the run can be repeated
from it. The rules were chosen on the validation splits of the datasets in bench/bench_datasets.py.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from itertools import islice
from typing import Any, Iterable, Sequence

import numpy as np

from sentiment_cli.config import Config
from sentiment_cli.errors import ConfigError

log = logging.getLogger("sentiment")

AUTO = "auto"
# tokenizer.maxlen (the recurrent branch's length): this percentile of training token counts, rounded
# up to a multiple of MAXLEN_STEP, within MAXLEN_RANGE: a tweet is not 380 padding steps, and a long
# review is cut to its last 256 tokens, since the wide branch reads it whole (model.wide_maxlen) and
# the recurrent one pays for every step. On IMDB validation rows, 256 against 400: wide & deep 0.928
# vs 0.926 (the recurrent branch alone 0.889 vs 0.898), in 48 s of training instead of 62.
MAXLEN_PERCENTILE, MAXLEN_STEP, MAXLEN_RANGE = 95, 16, (16, 256)
# model.wide_maxlen: the longest training text, rounded up to WIDE_MAXLEN_STEP, within tokenizer.maxlen
# and WIDE_MAXLEN_CAP: a linear branch costs little per token, so it reads texts whole; the cap bounds
# the id rows predict holds (a batch of 512 rows of 4,096 int32 ids is 8 MB).
WIDE_MAXLEN_STEP, WIDE_MAXLEN_CAP = 64, 4096
# tokenizer.num_words: words in at least this many training texts (+ padding and OOV), at most this.
# The wide branch's n-grams are built on these ids: on IMDB a 20,000-word cap cost it 0.3 points.
VOCAB_MIN_DOCS, VOCAB_MAX = 2, 50_000
# training.batch_size: the power of two nearest training rows / ROWS_PER_BATCH, within BATCH_RANGE.
ROWS_PER_BATCH, BATCH_RANGE = 40, (32, 256)
# training.epochs: enough epochs for about TARGET_STEPS optimizer steps, within EPOCH_RANGE; early
# stopping on validation loss ends most runs well before the cap.
TARGET_STEPS, EPOCH_RANGE = 1500, (4, 30)
# training.early_stopping_patience: with this many validation rows or more, one epoch's rise in
# validation loss is signal (patience 1); below, it is often noise (patience 2).
PATIENCE_ROWS = 1000


def _clip(value: float, bounds: tuple[int, int]) -> int:
    return int(min(max(value, bounds[0]), bounds[1]))


def auto_maxlen(lengths: np.ndarray) -> int:
    if len(lengths) == 0:
        return MAXLEN_RANGE[0]
    p = float(np.percentile(lengths, MAXLEN_PERCENTILE))
    return _clip(math.ceil(max(p, 1.0) / MAXLEN_STEP) * MAXLEN_STEP, MAXLEN_RANGE)


def auto_num_words(word_docs: dict[str, int], has_oov: bool) -> int:
    kept = sum(1 for n in word_docs.values() if n >= VOCAB_MIN_DOCS)
    return max(min(kept + 1 + int(has_oov), VOCAB_MAX), 2)


def auto_batch_size(n_rows: int) -> int:
    target = max(n_rows / ROWS_PER_BATCH, 1.0)
    return _clip(2 ** round(math.log2(target)), BATCH_RANGE)


def auto_epochs(n_rows: int, batch_size: int) -> int:
    steps = max(math.ceil(n_rows / max(batch_size, 1)), 1)
    return _clip(math.ceil(TARGET_STEPS / steps), EPOCH_RANGE)


def is_auto(value: Any) -> bool:
    return isinstance(value, str) and value == AUTO


def auto_patience(n_val: int) -> int:
    return 1 if n_val >= PATIENCE_ROWS else 2


def resolve_training(cfg: Config, n_rows: int, n_val: int) -> Config:
    """training.batch_size (per replica), epochs and early_stopping_patience from the numbers of
    training and validation rows."""
    tc = cfg.training
    batch = auto_batch_size(n_rows) if is_auto(tc.batch_size) else tc.batch_size
    epochs = auto_epochs(n_rows, batch) if is_auto(tc.epochs) else tc.epochs
    patience = auto_patience(n_val) if is_auto(tc.early_stopping_patience) else tc.early_stopping_patience
    resolved = {"batch_size": batch, "epochs": epochs, "early_stopping_patience": patience}
    _log({f"training.{k}": v for k, v in resolved.items() if is_auto(getattr(tc, k))}, n_rows)
    return dataclasses.replace(cfg, training=dataclasses.replace(tc, **resolved))


def resolve_vocabulary(cfg: Config, tokenizer: Any) -> Config:
    """tokenizer.num_words from a tokenizer fitted on the training rows (num_words unset); sets it
    on `tokenizer` too."""
    t = cfg.tokenizer
    if not is_auto(t.num_words):
        return cfg
    num_words = auto_num_words(tokenizer.word_docs_, t.oov is not None)
    tokenizer.num_words = num_words
    tokenizer._build_lookup()
    _log({"tokenizer.num_words": num_words}, tokenizer.document_count_)
    return dataclasses.replace(cfg, tokenizer=dataclasses.replace(t, num_words=num_words))


def resolve_maxlen(cfg: Config, tokenizer: Any, lengths: np.ndarray) -> Config:
    """tokenizer.maxlen from the training rows' token counts; sets it on `tokenizer` too."""
    t = cfg.tokenizer
    if not is_auto(t.maxlen):
        return cfg
    maxlen = auto_maxlen(lengths)
    tokenizer.maxlen = maxlen
    _log({"tokenizer.maxlen": maxlen}, len(lengths))
    return dataclasses.replace(cfg, tokenizer=dataclasses.replace(t, maxlen=maxlen))


def auto_wide_maxlen(lengths: np.ndarray, maxlen: int) -> int:
    longest = int(lengths.max(initial=0))
    return max(maxlen, min(math.ceil(max(longest, 1) / WIDE_MAXLEN_STEP) * WIDE_MAXLEN_STEP, WIDE_MAXLEN_CAP))


def resolve_wide_maxlen(cfg: Config, lengths: np.ndarray) -> Config:
    """model.wide_maxlen from the training rows' token counts, once tokenizer.maxlen is resolved;
    a number below tokenizer.maxlen is a ConfigError (the recurrent branch reads a part of the wide
    branch's rows)."""
    m, maxlen = cfg.model, cfg.tokenizer.maxlen
    if m.wide == "none":
        return cfg
    if not is_auto(m.wide_maxlen):
        if m.wide_maxlen < maxlen:
            raise ConfigError(f"model.wide_maxlen ({m.wide_maxlen}) is below tokenizer.maxlen ({maxlen}): the "
                              "recurrent branch reads a part of the wide branch's tokens",
                              f"Set model.wide_maxlen to at least {maxlen}, or to auto")
        return cfg
    wide_maxlen = auto_wide_maxlen(lengths, maxlen)
    _log({"model.wide_maxlen": wide_maxlen}, len(lengths))
    return dataclasses.replace(cfg, model=dataclasses.replace(m, wide_maxlen=wide_maxlen))


# model.wide_subwords: the character n-gram block is added when the median training text has at most
# SUBWORD_MEDIAN_TOKENS tokens and the training tokens times SUBWORD_EXPANSION fit in
# model.wide_max_tokens, so that it never makes the wide branch sample rows (with the block the
# branch's matrix holds up to ~10 times the word n-grams' entries: 8.7-8.9 times as many again on
# the dev sets' tweets and sentences, 5-7 times on reviews). 5-fold CV on the dev sets' training
# rows (bench/bench_subword_cv.py): +0.4 to +1.6 points on the tweets and sentences (medians of
# 20-22 tokens), -0.6 to +0.9 on the reviews (medians of 70-173); 40 sits between. On the
# validation splits of bench/bench_datasets.py the whole model gained on all four short sets
# (semeval 0.8456 -> 0.8582, phrasebank 0.8471 -> 0.8599, their 3-class views 0.6486 -> 0.6519
# and 0.7809 -> 0.7835) and lost on IMDB, electronics and kitchen.
SUBWORD_MEDIAN_TOKENS, SUBWORD_EXPANSION = 40, 10


def short_texts(lengths: np.ndarray | Sequence[int]) -> bool:
    """Tweets, sentences, titles: the median text holds at most SUBWORD_MEDIAN_TOKENS tokens."""
    return len(lengths) > 0 and float(np.median(lengths)) <= SUBWORD_MEDIAN_TOKENS


def auto_wide_subwords(lengths: np.ndarray, wide_max_tokens: int) -> bool:
    return bool(short_texts(lengths) and int(np.sum(lengths)) * SUBWORD_EXPANSION <= wide_max_tokens)


def resolve_wide_subwords(cfg: Config, lengths: np.ndarray) -> Config:
    """model.wide_subwords from the training rows' token counts (off without a wide branch)."""
    m = cfg.model
    if not is_auto(m.wide_subwords):
        return cfg
    on = m.wide != "none" and auto_wide_subwords(lengths, m.wide_max_tokens)
    if m.wide != "none":
        _log({"model.wide_subwords": str(on).lower()}, len(lengths))
    return dataclasses.replace(cfg, model=dataclasses.replace(m, wide_subwords=on))


# tokenizer.symbols: "!", "?", emoticons and emoji as words, for short texts by the same median as
# model.wide_subwords, counted before tokenizing (the setting decides how texts are split) on up to
# SYMBOLS_SAMPLE training texts split the Keras way. 5-fold CV of the n-gram branch on the dev sets'
# training rows (bench/bench_symbols_cv.py): +0.7 and +1.3 points on SemEval's binary and 3-class
# tweets, -0.3 to +0.3 on the reviews; the whole model's validation accuracy (bench_datasets.py,
# symbols on everywhere against off): semeval 0.8582 -> 0.8597, semeval_3class 0.6519 -> 0.6633,
# PhraseBank's two views unchanged (12 of its 4,846 sentences hold a symbol), and lower on five of
# the six review sets (IMDB -0.1, dvd, electronics, kitchen -0.6 to -1.3, TripAdvisor -1.8; books +0.6).
SYMBOLS_SAMPLE = 2_000


def resolve_symbols(cfg: Config, texts: Sequence[str] | Iterable[str], rows: Sequence[int] | None = None) -> Config:
    """tokenizer.symbols from a sample of the training texts: `rows` of an in-memory list, evenly
    spaced, or else the first SYMBOLS_SAMPLE texts (a large file's stream is read only that far)."""
    from sentiment_cli.tokenizer import Tokenizer

    t = cfg.tokenizer
    if not is_auto(t.symbols):
        return cfg
    if isinstance(texts, list):
        rows = np.arange(len(texts)) if rows is None else np.asarray(rows, dtype=np.int64)
        if len(rows) > SYMBOLS_SAMPLE:  # evenly spaced over the rows, so a sorted file is read whole
            rows = rows[np.linspace(0, len(rows) - 1, SYMBOLS_SAMPLE).astype(np.int64)]
        sample = [texts[i] for i in rows]
    else:
        sample = list(islice(iter(texts), SYMBOLS_SAMPLE))
    splitter = Tokenizer(filters=t.filters, lower=t.lower, split=t.split, strip_html=t.strip_html)
    on = short_texts([len(splitter.words(text)) for text in sample])
    log.info("auto settings from a sample of %d training texts: tokenizer.symbols=%s", len(sample), str(on).lower())
    return dataclasses.replace(cfg, tokenizer=dataclasses.replace(t, symbols=on))


# training.class_weight with K >= 3 classes: rows weighted by class count ** -0.5 (between none and
# balanced). On the validation splits of semeval_3class / phrasebank_3class / tripadvisor_5star,
# accuracy 0.646 / 0.791 / 0.612 against 0.646 / 0.804 / 0.589 unweighted and 0.624 / 0.760 / 0.617
# balanced; macro-F1 0.619 / 0.740 / 0.536 against 0.599 / 0.756 / 0.468 and 0.607 / 0.712 / 0.564.
# Two classes stay unweighted, as the binary benchmark was tuned.
MULTICLASS_WEIGHTING = "sqrt_balanced"


def resolve_class_weight(cfg: Config, n_classes: int, n_rows: int) -> Config:
    """training.class_weight from the number of classes."""
    tc = cfg.training
    if not is_auto(tc.class_weight):
        return cfg
    mode = "none" if n_classes == 2 else MULTICLASS_WEIGHTING
    _log({"training.class_weight": mode}, n_rows)
    return dataclasses.replace(cfg, training=dataclasses.replace(tc, class_weight=mode))


def _log(changed: dict[str, Any], n_rows: int) -> None:
    if changed:
        log.info("auto settings for %d training rows: %s", n_rows,
                 ", ".join(f"{k}={v}" for k, v in changed.items()))
