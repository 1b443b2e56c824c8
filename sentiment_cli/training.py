"""The training loop: split, tokenize, batch, fit with early stopping, then decide on validation.

Reads like a recipe on purpose (nanoGPT's train.py): seed everything, hold out a stratified
validation split, fit the tokenizer on the training part only, compute word vectors from the same
reviews to start the embedding (word_vectors.py), build the model from the config, `fit` on
length-bucketed batches (where exact) with early stopping that restores the best weights, and
choose the decision threshold and calibration temperature on the validation split. I/O of the
model directory lives in api.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from itertools import islice
from typing import Any, Callable, Iterable, Iterator, NamedTuple, Sequence

import numpy as np

from sentiment_cli.config import Config
from sentiment_cli.data import LabeledData
from sentiment_cli import auto
from sentiment_cli.metrics import (apply_temperature, choose_threshold, fit_temperature, log_proba, logit,
                                   predicted_classes, softmax)
from sentiment_cli.memory import return_freed_memory
from sentiment_cli.ngrams import NgramFeatures, Rows, model_inputs
from sentiment_cli.token_ids import TokenIds
from sentiment_cli.tokenizer import Tokenizer

log = logging.getLogger("sentiment")
# Fewer optimizer steps per epoch than this and `train` suggests smaller batches.
FEW_STEPS = 10


@dataclass
class TrainOutput:
    """What a finished run hands to api.py to persist."""

    model: Any
    tokenizer: Tokenizer
    history: dict[str, list[float]]
    val_y: np.ndarray
    val_p: np.ndarray  # calibrated validation probabilities
    threshold: float
    temperature: float
    seconds: float
    epochs_run: int
    best_epoch: int
    params: int
    devices: dict[str, Any] = field(default_factory=dict)
    val_p_raw: np.ndarray | None = None  # before temperature scaling: metrics.json reports both ECEs
    resumed_from: int = 0  # epochs restored from a --resume backup (0: a fresh run)
    config: Config | None = None  # the config with every "auto" value resolved (config.yaml)
    features: NgramFeatures | None = None  # the wide branch's input (features.json), if any
    parts: dict[str, Any] = field(default_factory=dict)  # wide & deep: each branch on validation
    recurrent: Any = None  # the recurrent branch alone, as trained (bench/ reports what it adds)
    wide: "WideFit | None" = None
    vectors: dict[str, Any] | None = None  # embedding_init=vectors: the file and its coverage (metrics.json)
    unlabeled: dict[str, Any] | None = None  # --unlabeled: files, texts and tokens read (metrics.json)


def quiet_tensorflow() -> None:
    """Import TensorFlow once, without its C++ chatter on the user's terminal (see tflog)."""
    import warnings

    from sentiment_cli.tflog import filter_native_logs

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    os.environ.setdefault("KERAS_BACKEND", "tensorflow")
    filter_native_logs()
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"keras\.src\.export.*")
    # Max pooling drops the mask on purpose (see bucketing_is_exact); Keras warns on every build.
    warnings.filterwarnings("ignore", message=".*GlobalMaxPooling1D.*does not support masking.*")
    import tensorflow  # noqa: F401  (imported here, after the filter, on purpose)


def seed_everything(seed: int, deterministic: bool = True) -> None:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    if deterministic:
        # Same seed + same data -> same metrics on CPU, run to run.
        tf.config.experimental.enable_op_determinism()


def tokenizer_from_config(cfg: Config) -> Tokenizer:
    """A tokenizer per cfg; an "auto" num_words or maxlen is left unset (auto.py resolves it)."""
    t = cfg.tokenizer
    if auto.is_auto(t.symbols):
        raise ValueError("tokenizer.symbols is auto: resolve it first (auto.resolve_symbols)")
    return Tokenizer(num_words=None if auto.is_auto(t.num_words) else t.num_words, filters=t.filters, lower=t.lower, split=t.split,
                     oov_token=t.oov, strip_html=t.strip_html, maxlen=None if auto.is_auto(t.maxlen) else t.maxlen, padding=t.padding,
                     truncating=t.truncating, symbols=t.symbols)


def split_validation(data: LabeledData, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified, seeded index split: the same rows are held out every run."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data))
    counts = np.bincount(data.y, minlength=data.encoding.n_classes)
    n_val = int(round(len(idx) * fraction))
    if counts.min() < 2 or n_val < 2 or len(idx) - n_val < 2:
        from sentiment_cli.errors import DataError

        raise DataError(f"'{data.source}' has too few rows per class ({' / '.join(map(str, counts))}) "
                        f"for a validation split of {fraction}", "Add more rows or change training.validation_split")
    k = len(counts)
    if min(n_val, len(idx) - n_val) < k:  # a stratified split needs a row of every class on each side
        from sentiment_cli.errors import DataError

        needed = float(np.ceil(100 * k / len(idx)) / 100)
        fix = (f"Raise training.validation_split to {needed:.2f}, or add rows" if needed <= 0.5
               else "Add rows")
        raise DataError(f"'{data.source}' has {len(idx)} rows: a validation split of {fraction} holds {n_val}, "
                        f"fewer than its {k} classes", fix)
    tr, va = train_test_split(idx, test_size=n_val, stratify=data.y, random_state=seed)
    return sorted(tr.tolist()), sorted(va.tolist())


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                     window: int = 50) -> Iterator[tuple[np.ndarray, int]]:
    """Row indices and width of each batch for one epoch of length-bucketed training.

    Shuffle, sort by length within windows of `window` batches, then shuffle the batches: each
    batch is cut to its longest row, so short reviews stop paying for `maxlen` steps, while the
    windowed sort keeps batches random enough for SGD. Only exact when padding is masked.
    """
    order = rng.permutation(len(lengths))
    chunk = batch_size * window
    batches = []
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    for b in rng.permutation(len(batches)):
        rows = batches[b]
        yield rows, max(int(lengths[rows].max()), 1)


def make_dataset(x: np.ndarray | TokenIds, lengths: np.ndarray, y: np.ndarray, *, batch_size: int,
                 seed: int, bucketing: bool, padding: str, sample_weight: np.ndarray | None = None,
                 tokenizer: Tokenizer | None = None, batches: int | None = None) -> Any:
    """A shuffled tf.data pipeline; bucketed by length when asked. `x`: padded rows, or (bucketing
    only) the token store, each batch then padded to its width as `tokenizer.pad` pads (the same
    rows as cutting the padded ones, without holding every row padded). `batches`: exactly that
    many batches per pass, the rows reshuffled and drawn again as often as needed (multi_worker
    workers, each over its own share of the rows, must take the same number of steps)."""
    import tensorflow as tf

    if bucketing:
        rng = np.random.default_rng(seed)
        pre = padding == "pre"
        if isinstance(x, TokenIds):
            if tokenizer is None:
                raise ValueError("a token store needs the tokenizer that pads it")
            store, oov = x, tokenizer.__dict__.get("_oov_id")

            def batch(rows: np.ndarray, width: int) -> np.ndarray:
                return store.pad(width, padding=padding, truncating=tokenizer.truncating, empty=oov, rows=rows)
        else:
            def batch(rows: np.ndarray, width: int) -> np.ndarray:
                return x[rows, -width:] if pre else x[rows, :width]

        def drawn() -> Iterator[tuple[np.ndarray, int]]:
            if batches is None:
                yield from bucketed_batches(lengths, batch_size, rng)
                return
            left = batches if len(lengths) else 0
            while left > 0:  # as many passes over the rows as it takes
                for rows, width in islice(bucketed_batches(lengths, batch_size, rng), left):
                    left -= 1
                    yield rows, width

        def gen() -> Iterator[tuple[np.ndarray, ...]]:
            for rows, width in drawn():
                xb = batch(rows, width)
                yield (xb, y[rows]) if sample_weight is None else (xb, y[rows], sample_weight[rows])

        sig = [tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.float32)]
        if sample_weight is not None:
            sig.append(tf.TensorSpec((None,), tf.float32))
        return tf.data.Dataset.from_generator(gen, output_signature=tuple(sig)).prefetch(2)
    tensors = (x, y) if sample_weight is None else (x, y, sample_weight)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    if batches is not None:
        return ds.repeat().batch(batch_size).take(batches).prefetch(2)
    return ds.batch(batch_size).prefetch(2)


def bucketing_is_exact(cfg: Config) -> bool:
    """Whether cutting a batch to its longest row gives the same outputs as padding to maxlen.

    Needs masking. With a mask, Keras RNNs carry the last output through masked steps, so with
    post-padding the extra steps repeat a value already seen (max pooling unchanged); with
    pre-padding they output zeros first, which max pooling would see. Last-state and average
    pooling are mask-aware either way.
    """
    m = cfg.model
    return m.mask and (cfg.tokenizer.padding == "post" or m.pooling in ("last", "avg"))


def initial_embedding(cfg: Config, tokenizer: Tokenizer, sequences: list[list[int]]
                      ) -> tuple[np.ndarray | None, dict[str, Any] | None]:
    """Starting embedding rows per model.embedding_init (None keeps Keras' random init), and the
    coverage of a vector file (embedding_init=vectors, vectors.py)."""
    m = cfg.model
    if m.embedding_init == "random":
        return None, None
    oov = tokenizer.word_index_.get(tokenizer.oov_token) if tokenizer.oov_token is not None else None
    size = tokenizer.vocabulary_size
    skip = (0,) if oov is None else (0, oov)
    if m.embedding_init == "vectors":
        from sentiment_cli.vectors import embedding_from_file

        matrix, coverage = embedding_from_file(m.vectors, tokenizer.word_index_, size,
                                               dim=None if auto.is_auto(m.embedding_dim) else m.embedding_dim,
                                               seed=cfg.training.seed, sequences=sequences, skip=skip)
        return matrix, {"file": str(m.vectors), **coverage.to_dict()}
    from sentiment_cli.word_vectors import MAX_WORDS, ppmi_svd

    vectors = ppmi_svd(sequences, min(size, MAX_WORDS), m.embedding_dim, window=m.embedding_window,
                       seed=cfg.training.seed, skip=skip)
    if size > len(vectors):  # all-zero rows keep Keras' random init (build_model)
        vectors = np.vstack([vectors, np.zeros((size - len(vectors), vectors.shape[1]), vectors.dtype)])
    return vectors, None


# Texts tokenize_splits keeps when it releases the rest (api.train exports ONNX on a sample of them).
KEPT_TEXTS = 256


class Tokenized(NamedTuple):
    """What tokenize_splits returns."""

    config: Config  # tokenizer.num_words resolved
    tokenizer: Tokenizer  # fitted on every training row
    train: TokenIds  # the training rows' ids (with `share`, this worker's share of them)
    validation: TokenIds
    unlabeled: TokenIds
    train_lengths: np.ndarray  # tokens of every training row (all shares): what auto settings read


def training_share(tr_idx: Sequence[int], share: tuple[int, int] | None) -> np.ndarray:
    """The training rows a multi_worker worker (index, count) holds: every count-th from its index."""
    rows = np.asarray(tr_idx, dtype=np.int64)
    return rows if share is None else rows[share[0]::share[1]]


def tokenize_splits(cfg: Config, texts: list[str], tr_idx: Sequence[int], va_idx: Sequence[int],
                    unlabeled: Sequence[str] = (), release_texts: bool = False,
                    share: tuple[int, int] | None = None) -> Tokenized:
    """The config with tokenizer.num_words resolved, the fitted tokenizer, and the ids of the
    training rows, the validation rows and the --unlabeled texts: each text split once (corpus.py,
    on every core for large data), the vocabulary counted on the training rows, then
    (tokenizer.vocabulary=training_and_unlabeled) the unlabeled texts, as Tokenizer.fit on those
    texts in that order would count it.

    The unlabeled files are read only where something uses them: the word vectors of
    embedding_init=ppmi_svd, or that vocabulary setting (else a warning, and nothing is read).
    `release_texts`: `texts` is emptied as it is split and left holding its first KEPT_TEXTS: on a
    large file the texts are the biggest thing in memory, and nothing after this needs them.
    `share` (multi_worker: this worker's index, the worker count): the vocabulary is still counted
    on every training row, so it is the same on every worker, but only the share's training rows
    (training_share) are kept, each chunk's others dropped as it is split.
    """
    from sentiment_cli import corpus

    with_unlabeled = cfg.tokenizer.vocabulary == "training_and_unlabeled"
    if with_unlabeled and not unlabeled:
        log.warning("tokenizer.vocabulary=training_and_unlabeled without --unlabeled: the vocabulary comes "
                    "from the training rows")
    if unlabeled and not with_unlabeled and cfg.model.embedding_init != "ppmi_svd":
        log.warning("--unlabeled is read only by model.embedding_init=ppmi_svd (it is %s) and "
                    "tokenizer.vocabulary=training_and_unlabeled: not used", cfg.model.embedding_init)
        unlabeled = ()
    cfg = auto.resolve_symbols(cfg, texts, tr_idx)  # how texts are split: before any is
    tokenizer = tokenizer_from_config(cfg)
    space = corpus.WordSpace()
    n = len(texts)
    in_tr, in_va, held = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
    in_tr[np.asarray(tr_idx, dtype=np.int64)] = True
    in_va[np.asarray(va_idx, dtype=np.int64)] = True
    held[training_share(tr_idx, share)] = True
    held |= in_va
    # tr_idx and va_idx are sorted (split_validation): each split's rows are its rows of each part,
    # in order. Each part is counted (training rows) as it is made, and only its held rows kept.
    counts, lengths, kept_rows = corpus.VocabularyCounts(), [], []
    start = 0

    def on_part(part: TokenIds) -> TokenIds:
        nonlocal start
        rows, start = slice(start, start + len(part)), start + len(part)
        training = part.take(np.flatnonzero(in_tr[rows]))
        counts.add(training)
        lengths.append(training.lengths)
        keep = np.flatnonzero(held[rows])
        kept_rows.append(rows.start + keep)  # the kept rows' indices in the file
        return part if len(keep) == len(part) else part.take(keep)

    head = texts[:KEPT_TEXTS] if release_texts and isinstance(texts, list) else None
    # One part per chunk of texts, provisional int32 ids: nothing below holds them all twice.
    parts = corpus.tokenize_parts(tokenizer, texts, space, release=release_texts, on_part=on_part)
    if release_texts and isinstance(texts, list):  # (a large file's TextStream holds no texts)
        texts[:] = head
        return_freed_memory()
    extra = TokenIds.concat([])
    if unlabeled:
        from sentiment_cli.inputs import iter_texts

        extra = corpus.tokenize(tokenizer, iter_texts(unlabeled, cfg.data.text_column), space,
                                what="unlabeled texts")
        if with_unlabeled:
            counts.add(extra)
    words = space.words
    counts.fit(tokenizer, words)
    cfg = auto.resolve_vocabulary(cfg, tokenizer)
    lut = corpus.lookup_table(tokenizer, words)
    tr_parts, va_parts = [], []
    while parts:  # each part's int32 ids freed as its rows' 2-byte ones are made
        part, rows = parts.pop(0), kept_rows.pop(0)
        mapped = part.map(lut)
        del part
        tr_parts.append(mapped.take(np.flatnonzero(in_tr[rows])))
        va_parts.append(mapped.take(np.flatnonzero(in_va[rows])))
        del mapped
    return_freed_memory()  # the provisional ids, freed in the heap's middle
    tr = TokenIds.concat(tr_parts)
    del tr_parts
    va = TokenIds.concat(va_parts)
    del va_parts
    return_freed_memory()
    return Tokenized(cfg, tokenizer, tr, va, extra.map(lut),
                     np.concatenate(lengths) if lengths else np.zeros(0, np.int64))


def unlabeled_report(cfg: Config, paths: Sequence[str], ids: TokenIds) -> dict[str, Any]:
    """What --unlabeled contributed, for the log and metrics.json: `used` means the word vectors
    read the texts (embedding_init=ppmi_svd); `vocabulary` that the vocabulary counted them."""
    used = cfg.model.embedding_init == "ppmi_svd" and len(ids) > 0
    vocabulary = cfg.tokenizer.vocabulary == "training_and_unlabeled"
    if len(ids):
        log.info("unlabeled: %d texts, %d tokens from %d file(s), for the %s", len(ids), len(ids.ids),
                 len(paths), " and ".join([w for w, on in (("word vectors", used), ("vocabulary", vocabulary)) if on]))
    return {"files": list(paths), "texts": len(ids), "tokens": int(len(ids.ids)), "used": used,
            "vocabulary": vocabulary}


def class_weights(y: np.ndarray, mode: str, n_classes: int = 2) -> np.ndarray | None:
    """Per-row weights: n / (K * n_class) for 'balanced', as scikit-learn defines it; for
    'sqrt_balanced' proportional to 1 / sqrt(n_class), scaled to a mean of 1 over the rows."""
    if mode not in ("balanced", "sqrt_balanced"):
        return None
    counts = np.maximum(np.bincount(y, minlength=n_classes).astype(float), 1.0)
    if mode == "sqrt_balanced":
        w = counts ** -0.5
        w = w * len(y) / float(np.sum(w[y]))
    else:
        w = len(y) / (float(n_classes) * counts)
    return w[y].astype(np.float32)


def _scores(out: Any) -> np.ndarray:
    """A model's output as scores: (n,) for the sigmoid head, (n, K) for softmax (model.head)."""
    out = np.asarray(out, dtype=np.float64)
    return out.reshape(-1) if out.ndim < 2 or out.shape[-1] == 1 else out.reshape(len(out), -1)


def predict_proba(model: Any, x: np.ndarray, features: NgramFeatures | None = None,
                  batch_size: int = 512) -> np.ndarray:
    """Keras scores of id rows `x`; with `features`, for a wide & deep model (inputs per chunk, so
    the n-gram arrays are as wide as each chunk needs, not as the widest row of all)."""
    if features is None:
        return _scores(model.predict(x, batch_size=batch_size, verbose=0))
    chunk = 4 * batch_size
    parts = [_scores(model.predict(model_inputs(x[i:i + chunk], features), batch_size=batch_size, verbose=0))
             for i in range(0, len(x), chunk)]
    if not parts:
        width = model.outputs[0].shape[-1]
        return np.zeros(0 if width == 1 else (0, width), dtype=np.float64)
    return np.concatenate(parts)


def predict_texts(result: "TrainOutput", texts: list[str]) -> np.ndarray:
    """Calibrated probabilities of a finished run's model for raw `texts` (bench/, tests): the
    positive class's (n,) for two classes, (n, K) for more."""
    return apply_temperature(predict_proba(result.model, result.tokenizer.encode(texts), result.features),
                             result.temperature)


def predict_parts(result: "TrainOutput", texts: list[str]) -> dict[str, np.ndarray]:
    """Uncalibrated probabilities of each branch alone ("wide", "recurrent") and of the whole model,
    for raw `texts`: what each part contributes (bench/bench_datasets.py)."""
    x = result.tokenizer.encode(texts)
    out = {"combined": predict_proba(result.model, x, result.features)}
    if result.features is not None:
        coef, intercept = result.wide.weights
        z = np.asarray(result.features.to_csr(x) @ coef)
        out["wide"] = _sigmoid(z.reshape(-1) + intercept) if coef.ndim == 1 else softmax(z + intercept)
        out["recurrent"] = predict_proba(result.recurrent, model_inputs(x, result.features)["token_ids"])
    return out


# -- the wide branch and the combiner ------------------------------------------------------------
WIDE_C_GRID = (2.0, 4.0, 8.0, 16.0)
# model.wide_subwords: the character n-grams of each word. 3-5 was measured too: the same CV accuracy
# (0.7919 vs 0.7921 over 9 dev sets, bench/bench_subword_cv.py) with 30% fewer entries per row, but the
# whole model's validation accuracy fell on both 3-class short-text sets (semeval 0.6482 vs 0.6519,
# phrasebank 0.7784 vs 0.7835), so 2-5 stays.
SUBWORD_LENGTHS = (2, 5)


def vocabulary_words(tokenizer: Tokenizer) -> list[str | None]:
    """The word of each id the model reads (None for padding and ids without one)."""
    words: list[str | None] = [None] * tokenizer.vocabulary_size
    for word, i in tokenizer.word_index_.items():
        if i < tokenizer.vocabulary_size:
            words[i] = word
    return words


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    p = np.clip(p, 1e-7, 1 - 1e-7)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


@dataclass
class WideFit:
    """The wide branch's logistic regression: one weight per n-gram column (column 0 is padding);
    with K >= 3 classes one per column and class (coef (columns, K), intercept (K,)), one-vs-rest."""

    features: NgramFeatures
    coef: np.ndarray
    intercept: Any  # float, or (K,)
    c: float
    val_logits: np.ndarray  # x_va @ coef, without the intercept (the combiner has its own bias)
    val_accuracy: float
    final_coef: np.ndarray | None = None  # refitted on training + validation rows (model.wide_refit)
    final_intercept: Any = 0.0

    @property
    def weights(self) -> tuple[np.ndarray, Any]:
        """The (coef, intercept) the saved model carries: the refit when there is one."""
        return (self.coef, self.intercept) if self.final_coef is None else (self.final_coef, self.final_intercept)


def nb_ratios(a: Any, y: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    """NBSVM's log-count ratios (Wang & Manning 2012): r_j = log((p_j / |p|) / (q_j / |q|)), with p
    and q the smoothed counts of rows containing n-gram j among positive and negative rows."""
    a = a.tocsr()
    per_entry = np.diff(a.indptr)  # which stored entries are in rows of each class: no matrix copy
    p = alpha + np.bincount(a.indices[np.repeat(np.asarray(y) == 1, per_entry)], minlength=a.shape[1])
    q = alpha + np.bincount(a.indices[np.repeat(np.asarray(y) == 0, per_entry)], minlength=a.shape[1])
    return np.log((p / p.sum()) / (q / q.sum()))


# Training rows up to which the wide branch's C is chosen by cross-validation on them (cheap there,
# and a 160-row validation split is too noisy to choose by) and refitted on all labelled rows.
# Above, C is WIDE_C_LARGE (with that much data C matters little: 4 and 16 were within 0.1 point on
# IMDB validation) and the first fit is kept: each liblinear fit there costs seconds.
WIDE_CV_ROWS, WIDE_CV_FOLDS, WIDE_C_LARGE = 20_000, 5, 4.0
# Stored entries of the training matrix that C's cross-validation reads: a larger one (short texts
# with model.wide_subwords carry ~270 entries a row) is cross-validated on a seeded sample of its rows
# holding about this many, and the chosen C then fitted on all of them. Measured on the SemEval
# tweets: 3-class 5.4M entries, the wide fit 213 -> 71 s with the same C and validation accuracy
# (binary 3.1M: the same C); a 1.5M sample chose another C on both, each lower on validation.
WIDE_CV_ENTRIES = 3_000_000


def choose_wide_c(fit: Callable[[float, Any, np.ndarray], tuple[np.ndarray, float]], a_tr: Any, y_tr: np.ndarray, a_va: Any,
                  y_va: np.ndarray, seed: int) -> float:
    """The C of WIDE_C_GRID with the best accuracy (ties: lower log loss), k-fold cross-validated on
    the training rows when there are at most WIDE_CV_ROWS of them (else WIDE_C_LARGE), on a sample
    of them when their matrix holds more than WIDE_CV_ENTRIES entries.
    Measured by 5-fold CV on the dev datasets' training rows: NB-weighted C=4 beat plain TF-IDF by
    1.6-2.2 points on three Blitzer domains and Financial PhraseBank, 0.3 on SemEval, and lost 0.5
    on Blitzer kitchen; C=4 and 16 were within half a point of each other, C=1 was worse."""
    from sklearn.model_selection import StratifiedKFold

    if a_tr.shape[0] > WIDE_CV_ROWS:
        return WIDE_C_LARGE
    if a_tr.nnz > WIDE_CV_ENTRIES:
        rows = _entry_sample(np.diff(a_tr.indptr), WIDE_CV_ENTRIES, seed)
        log.info("wide branch: C cross-validated on %d of the %d training rows (%d stored entries, "
                 "more than %d)", len(rows), a_tr.shape[0], a_tr.nnz, WIDE_CV_ENTRIES)
        a_tr, y_tr = a_tr[rows], np.asarray(y_tr)[rows]
    if np.bincount(y_tr).min() >= WIDE_CV_FOLDS:  # every class in every fold
        splits = list(StratifiedKFold(WIDE_CV_FOLDS, shuffle=True, random_state=seed).split(np.zeros(len(y_tr)), y_tr))
        folds = [(a_tr[tr], y_tr[tr], a_tr[te], y_tr[te]) for tr, te in splits]
    else:
        folds = [(a_tr, y_tr, a_va, np.asarray(y_va))]
    scores = {}
    for c in WIDE_C_GRID:
        y_all, z_all = [], []
        for a, y, a_te, y_te in folds:
            coef, intercept = fit(c, a, y)
            z = np.asarray(a_te @ coef)
            z_all.append((z.reshape(-1) if np.ndim(coef) == 1 else z) + intercept)
            y_all.append(y_te)
        y_cat, z_cat = np.concatenate(y_all), np.concatenate(z_all)
        if z_cat.ndim == 1:
            p_cat = _sigmoid(z_cat)
            scores[c] = (float(np.mean((p_cat >= 0.5) == y_cat)), -_log_loss(y_cat, p_cat))
        else:  # one-vs-rest logits: the class of the largest, log loss of their softmax
            q = softmax(z_cat)[np.arange(len(y_cat)), y_cat]
            scores[c] = (float(np.mean(z_cat.argmax(axis=1) == y_cat)), float(np.mean(np.log(np.clip(q, 1e-7, 1)))))
    return max(WIDE_C_GRID, key=lambda c: scores[c])


def _entry_sample(sizes: np.ndarray, budget: int, seed: int) -> np.ndarray:
    """Sorted indices of a seeded random sample of whole rows whose `sizes` sum to about `budget`."""
    order = np.random.default_rng(seed).permutation(len(sizes))
    n = int(np.searchsorted(np.cumsum(sizes[order]), budget)) + 1
    return np.sort(order[:n])


def _token_sample(x: Rows, max_tokens: int, seed: int) -> np.ndarray | None:
    """Sorted indices of a seeded random sample of whole rows of about `max_tokens` tokens, or
    None when all of `x` holds no more than that."""
    if isinstance(x, TokenIds):
        lengths = x.lengths
    elif isinstance(x, np.ndarray):
        lengths = np.count_nonzero(x, axis=1)
    else:
        lengths = np.fromiter(map(len, x), dtype=np.int64, count=len(x))
    if int(lengths.sum()) <= max_tokens:
        return None
    return _entry_sample(lengths, max_tokens, seed)


def _take_rows(x: Rows, rows: np.ndarray) -> Rows:
    if isinstance(x, (np.ndarray, TokenIds)):
        return x[rows] if isinstance(x, np.ndarray) else x.take(rows)
    return [x[i] for i in rows]


# Validation rows turned into n-gram features at a time, where only their logits are needed.
WIDE_LOGIT_ROWS = 16_384


def fit_wide(cfg: Config, x_tr: Rows, y_tr: np.ndarray, x_va: Rows, y_va: np.ndarray, *,
             vocab_size: int, oov_id: int | None, n_classes: int | None = None,
             words: Sequence[str | None] | None = None) -> WideFit:
    """TF-IDF n-grams of the training texts (id rows or id sequences), scaled by NB log-count ratios
    for model.wide=nb_tfidf, then L2 logistic regression (liblinear), its C from choose_wide_c
    unless model.wide_c is a number. The scaling folds into the weights. nb_tfidf+tfidf (the
    default) averages that model and the unscaled one, one C for both: 5-fold CV on the dev sets'
    training rows put the average at or above nb_tfidf's accuracy on nine of ten, with the best
    mean (bench/bench_wide_cv.py). With K >= 3 classes, one
    such model per class against the rest, each with its own NB ratios (NBSVM's multi-class
    recipe): K logits, their softmax the branch's probabilities. `words` (vocabulary_words, the
    word of each id) is needed only with model.wide_subwords: the character n-grams of words."""
    from scipy.sparse import diags
    from sklearn.linear_model import LogisticRegression

    m = cfg.model
    if auto.is_auto(m.wide_subwords):
        raise ValueError("model.wide_subwords is auto: resolve it first (auto.resolve_wide_subwords)")
    mode = cfg.training.class_weight  # the rows weigh as in the recurrent branch's loss
    balanced = "balanced" if mode == "balanced" else None
    # memory: liblinear holds the whole matrix (model.wide_max_tokens); the subword block makes it
    # up to SUBWORD_EXPANSION times as large
    budget = m.wide_max_tokens // (auto.SUBWORD_EXPANSION if m.wide_subwords else 1)
    sample = _token_sample(x_tr, budget, cfg.training.seed)
    if sample is not None:
        log.info("wide branch: fitted on a sample of %d of the %d training texts (model.wide_max_tokens=%d%s)",
                 len(sample), len(x_tr), m.wide_max_tokens,
                 f", divided by {auto.SUBWORD_EXPANSION} for model.wide_subwords" if m.wide_subwords else "")
        x_tr, y_tr = _take_rows(x_tr, sample), np.asarray(y_tr)[sample]
    features = NgramFeatures(vocab_size=vocab_size, oov_id=oov_id, ngrams=m.wide_ngrams, min_df=m.wide_min_df,
                             max_features=m.wide_max_features,
                             subwords=SUBWORD_LENGTHS if m.wide_subwords else None).fit(x_tr, words)
    a_tr = features.to_csr(x_tr)
    # The validation rows' matrix is built before the fit only where choosing C reads it: on a
    # large file it would sit beside liblinear's copy of the training rows' at the memory peak.
    a_va = features.to_csr(x_va) if auto.is_auto(m.wide_c) and len(y_tr) <= WIDE_CV_ROWS else None
    y_tr, y_va = np.asarray(y_tr).astype(int), np.asarray(y_va).astype(int)
    n_classes = int(max(y_tr.max(initial=0), y_va.max(initial=0))) + 1 if n_classes is None else n_classes

    def fit_scaled(c: float, a: Any, y: np.ndarray, weight: np.ndarray | None, nb: bool,
                   inplace: bool) -> tuple[np.ndarray, float]:
        """(weights per column, intercept) of one 0/1 model on raw TF-IDF rows `a`, each column
        scaled by its NB ratio when `nb`; the ratios are computed from `a` and `y` alone, so
        cross-validation folds never see their test rows' labels. `weight`: per-row weights, else
        liblinear's own class_weight (balanced or none). `inplace` scales `a` itself (the same
        products; it is not used again): one matrix fewer in memory."""
        scale = nb_ratios(a, y) if nb else np.ones(a.shape[1])
        scale[0] = 0.0  # column 0 is padding
        clf = LogisticRegression(C=c, solver="liblinear", max_iter=1000, random_state=cfg.training.seed,
                                 class_weight=balanced if weight is None else None)
        if not nb:  # scaling by ones would change nothing: column 0 (padding) is never set
            x = a
        elif inplace:
            for lo in range(0, len(a.data), 1 << 22):  # blocks: no int64 temporary per entry
                a.data[lo:lo + (1 << 22)] *= scale[a.indices[lo:lo + (1 << 22)]]
            x = a
        else:
            x = a @ diags(scale)
        clf.fit(x, y, sample_weight=weight)
        return clf.coef_.reshape(-1).astype(np.float64) * scale, float(clf.intercept_[0])

    def fit_one(c: float, a: Any, y: np.ndarray, weight: np.ndarray | None,
                inplace: bool = False) -> tuple[np.ndarray, float]:
        """The 0/1 model of model.wide. nb_tfidf+tfidf averages the logits of the NB-scaled and the
        plain model: one linear model over the same columns, whose weights are the average of
        theirs (the plain one is fitted first, so `a` can then be scaled in place)."""
        if m.wide != "nb_tfidf+tfidf":
            return fit_scaled(c, a, y, weight, m.wide == "nb_tfidf", inplace)
        plain = fit_scaled(c, a, y, weight, False, False)
        nb = fit_scaled(c, a, y, weight, True, inplace)
        return 0.5 * (plain[0] + nb[0]), 0.5 * (plain[1] + nb[1])

    def fit(c: float, a: Any, y: np.ndarray, inplace: bool = False) -> tuple[np.ndarray, Any]:
        """Two classes: one model; K: one per class against the rest, its rows weighted as the K-class
        weights weigh them (two-class balanced stays scikit-learn's class_weight, as always)."""
        own = mode == "none" or (n_classes == 2 and mode == "balanced")
        weight = None if own else class_weights(y, mode, n_classes)
        if n_classes == 2:
            return fit_one(c, a, y, weight, inplace)
        parts = [fit_one(c, a, (y == k).astype(int), weight) for k in range(n_classes)]
        return np.stack([w for w, _ in parts], axis=1), np.array([b for _, b in parts])

    c = float(m.wide_c) if not auto.is_auto(m.wide_c) else choose_wide_c(fit, a_tr, y_tr, a_va, y_va,
                                                                         cfg.training.seed)
    refit = m.wide_refit and a_tr.shape[0] <= WIDE_CV_ROWS
    coef, intercept = fit(c, a_tr, y_tr, inplace=not refit)  # a_tr is needed again only to refit
    if a_va is None and refit:
        a_va = features.to_csr(x_va)
    if a_va is not None:
        val_logits = np.asarray(a_va @ coef)
    else:  # a chunk of rows at a time (the same rows' products): a large file's validation matrix
        # would be the memory peak, larger than the training sample's
        step = WIDE_LOGIT_ROWS
        val_logits = np.concatenate([np.asarray(features.to_csr(x_va[lo:lo + step]) @ coef)
                                     for lo in range(0, len(x_va), step)] or [np.zeros((0, *coef.shape[1:]))])
    val_logits = val_logits.reshape(-1) if coef.ndim == 1 else val_logits
    accuracy = float(np.mean(predicted_classes(val_logits + intercept, 0.0) == y_va))
    log.info("wide branch (%s): %d n-grams, C=%g, validation accuracy %.4f", m.wide, len(features.keys_), c,
             accuracy)
    wide = WideFit(features=features, coef=coef, intercept=intercept, c=c, val_logits=val_logits,
                   val_accuracy=accuracy)
    if refit:
        from scipy.sparse import vstack

        wide.final_coef, wide.final_intercept = fit(c, vstack([a_tr, a_va]).tocsr(), np.concatenate([y_tr, y_va]))
    return wide


# Combinations the combiner may choose: which logits it weighs (wide, recurrent).
COMBINATIONS = {"both": (0, 1), "wide": (0,), "recurrent": (1,)}


def fit_combiner(z_wide: np.ndarray, z_rec: np.ndarray, y: np.ndarray, seed: int, folds: int = 5,
                 wide_intercept: float = 0.0, class_weight: str = "none"
                 ) -> tuple[np.ndarray, np.ndarray, str, dict[str, float]]:
    """The final Dense(1, sigmoid) over [wide logit, recurrent logit], fitted on validation rows.

    Never worse than its best part on validation: each of both / wide only / recurrent only is
    scored by `folds`-fold cross-validated log loss on the validation rows (so a branch that only
    adds noise does not win by fitting the rows it is scored on), choose_combination decides. Each
    is scored with a slope per branch and an intercept (the same calibration freedom for all three:
    with one class rare, a single branch scored without an intercept looked worse than it was, and
    the combiner kept the recurrent branch where it ranked the rare class worse on test).
    A single branch is then kept with its own decision boundary (its logit, intercept included,
    times a slope fitted on validation, no new intercept): the slope calibrates its probabilities,
    while an intercept estimated from 160 validation rows would only move the boundary the branch
    learned from ten times as many. The choice is refitted on all validation rows; an unused branch
    gets weight 0. `z_wide` is the wide logit without `wide_intercept` (the model adds the bias
    returned here). Returns (kernel (2,), bias (1,), the choice, each choice's cross-validated log
    loss). Validation rows of one class only cannot fit anything: the wide branch is then kept as
    trained. With `class_weight` "balanced", rows are weighted as in training (fit and log losses
    alike). With K >= 3 classes the logits are (n, K) and the same choice is made among the same
    three combinations of the same form (fit_scaled_softmax); kernel (2K, K), bias (K,).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    if np.ndim(z_wide) == 2:
        return _fit_combiner_k(np.asarray(z_wide) + wide_intercept, np.asarray(z_rec), y, seed, folds,
                               np.asarray(wide_intercept, dtype=np.float64), class_weight)

    z = np.stack([np.asarray(z_wide) + wide_intercept, z_rec], axis=1)
    y = np.asarray(y).astype(int)
    k = int(min(folds, np.bincount(y, minlength=2).min()))
    if np.unique(y).size < 2 or k < 2:
        log.warning("the validation split holds too few rows of a class to combine the branches: the wide "
                    "branch alone decides")
        return np.array([1.0, 0.0]), np.array([wide_intercept]), "wide", {}
    weight = class_weights(y, class_weight)
    weight = np.ones(len(y)) if weight is None else weight.astype(np.float64)

    row_losses: dict[str, np.ndarray] = {}
    for name, cols in COMBINATIONS.items():
        p = np.zeros(len(y))
        for tr, te in StratifiedKFold(k, shuffle=True, random_state=seed).split(z, y):
            clf = LogisticRegression(C=1.0).fit(z[tr][:, cols], y[tr], sample_weight=weight[tr])
            p[te] = clf.predict_proba(z[te][:, cols])[:, 1]
        p = np.clip(p, 1e-7, 1 - 1e-7)
        row_losses[name] = -weight * (y * np.log(p) + (1 - y) * np.log(1 - p))
    choice = choose_combination(row_losses)
    cols = COMBINATIONS[choice]
    clf = LogisticRegression(C=1.0, fit_intercept=choice == "both").fit(z[:, cols], y, sample_weight=weight)
    kernel = np.zeros(2)
    kernel[list(cols)] = clf.coef_.reshape(-1)
    bias = float(np.ravel(clf.intercept_)[0]) + kernel[0] * wide_intercept  # the model's z_wide has no intercept
    return kernel, np.array([bias]), choice, {n: round(float(v.mean()), 4) for n, v in row_losses.items()}


def _one_se_better(row_losses: dict[str, np.ndarray], challenger: str, reference: str) -> bool:
    """Whether `challenger`'s mean loss is below `reference`'s by more than one standard error of
    the per-row difference (the one-standard-error rule of CART and glmnet)."""
    diff = row_losses[reference] - row_losses[challenger]
    margin = float(diff.std(ddof=1) / np.sqrt(len(diff))) if len(diff) > 1 else 0.0
    return float(diff.mean()) > margin


def choose_combination(row_losses: dict[str, np.ndarray]) -> str:
    """Which of COMBINATIONS to keep, from each one's cross-validated per-row losses.

    The wide branch alone is the reference: its validation scores are honest (its C is chosen by
    cross-validation on the training rows), while the recurrent branch's are a little optimistic,
    since early stopping chose its epoch on the same rows. So a combination using the recurrent
    branch is kept only when it beats the wide branch alone by more than one standard error, and
    both only when they also beat the recurrent branch alone by that much where it qualified (a
    tie keeps the simpler model). On 1,600 long reviews a 0.002 edge in log loss was noise that
    cost test accuracy; with a rare class, 4 validation rows of it let the recurrent branch win by
    0.017 and lose 0.12 of test ROC AUC (bench/bench_imbalanced.py)."""
    passed = [n for n in ("recurrent", "both") if _one_se_better(row_losses, n, "wide")]
    if passed == ["recurrent", "both"]:
        return "both" if _one_se_better(row_losses, "both", "recurrent") else "recurrent"
    return passed[0] if passed else "wide"


def fit_scaled_softmax(blocks: Sequence[np.ndarray], y: np.ndarray, weight: np.ndarray, intercept: bool,
                       c: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """softmax(sum_b s_b * Z_b + bias): one slope per block of (n, K) logits and, with `intercept`,
    a bias per class, by weighted maximum likelihood with LogisticRegression(C=c)'s penalty
    (0.5 * |s|^2, bias unpenalised). The K-class form of the binary combiner: for K = 2 with
    logits (0, z) it is logistic regression on the blocks' z. Returns (slopes, bias (K,))."""
    from scipy.optimize import minimize

    z = np.stack(blocks)  # (B, n, K)
    b, n, k = z.shape
    rows = np.arange(n)
    onehot = np.eye(k)[y]

    def loss(theta: np.ndarray) -> tuple[float, np.ndarray]:
        slopes, bias = theta[:b], (theta[b:] if intercept else np.zeros(k))
        logits = np.tensordot(slopes, z, axes=1) + bias
        q = softmax(logits)
        nll = -np.log(np.clip(q[rows, y], 1e-12, 1.0))
        value = c * float(np.sum(weight * nll)) + 0.5 * float(slopes @ slopes)
        g_logits = c * weight[:, None] * (q - onehot)  # d value / d logits
        grad = [np.einsum("bnk,nk->b", z, g_logits) + slopes]
        if intercept:
            grad.append(g_logits.sum(axis=0))
        return value, np.concatenate(grad)

    theta0 = np.concatenate([np.ones(b), np.zeros(k if intercept else 0)])
    res = minimize(loss, theta0, jac=True, method="L-BFGS-B")
    slopes = res.x[:b]
    bias = res.x[b:] if intercept else np.zeros(k)
    return slopes, bias - bias.mean()  # softmax ignores a common shift: keep the bias centred


def _fit_combiner_k(z_wide: np.ndarray, z_rec: np.ndarray, y: np.ndarray, seed: int, folds: int,
                    wide_intercept: np.ndarray, class_weight: str
                    ) -> tuple[np.ndarray, np.ndarray, str, dict[str, float]]:
    """fit_combiner for K >= 3 classes: `z_wide` (intercept included) and `z_rec` are (n, K) logits."""
    from sklearn.model_selection import StratifiedKFold

    y = np.asarray(y).astype(int)
    k = z_wide.shape[1]
    counts = np.bincount(y, minlength=k)
    n_folds = int(min(folds, counts.min()))
    eye = np.eye(k)
    if n_folds < 2:
        log.warning("the validation split holds too few rows of a class to combine the branches: the wide "
                    "branch alone decides")
        return np.vstack([eye, 0 * eye]), wide_intercept.copy(), "wide", {}
    weight = class_weights(y, class_weight, k)
    weight = np.ones(len(y)) if weight is None else weight.astype(np.float64)
    blocks = {"both": (z_wide, z_rec), "wide": (z_wide,), "recurrent": (z_rec,)}
    row_losses: dict[str, np.ndarray] = {}
    # A single branch is scored as it is kept, slopes without biases: unlike the binary combiner.
    # Scored with biases (as both are), SemEval 3-class tied on validation (0.8025 each), kept the
    # wide branch alone and its test macro-recall fell from 0.602 to 0.581; on the multi-class rows
    # of bench/bench_imbalanced.py (3 seeds) it changed 4 of 18 choices and no mean by more than
    # 0.004 (README, "When one class is rare"), so the K-class scoring stays as it was.
    for name, zs in blocks.items():
        nll = np.zeros(len(y))
        for tr, te in StratifiedKFold(n_folds, shuffle=True, random_state=seed).split(z_wide, y):
            slopes, bias = fit_scaled_softmax([z[tr] for z in zs], y[tr], weight[tr], intercept=name == "both")
            q = softmax(sum(s * z[te] for s, z in zip(slopes, zs)) + bias)
            nll[te] = -np.log(np.clip(q[np.arange(len(te)), y[te]], 1e-7, 1.0))
        row_losses[name] = weight * nll
    choice = choose_combination(row_losses)
    slopes, bias = fit_scaled_softmax(list(blocks[choice]), y, weight, intercept=choice == "both")
    scale = {"wide": 0.0, "recurrent": 0.0}
    for name, s_ in zip(("wide", "recurrent") if choice == "both" else (choice,), slopes):
        scale[name] = float(s_)
    kernel = np.vstack([scale["wide"] * eye, scale["recurrent"] * eye])
    bias = bias + scale["wide"] * wide_intercept  # the model's wide logits have no intercept
    return kernel, bias, choice, {n: round(float(v.mean()), 4) for n, v in row_losses.items()}


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keras prints progress to stdout; stdout is for results, so send it to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def train(cfg: Config, data: LabeledData, *, backup_dir: Path | None = None,
          tensorboard_dir: Path | None = None, verbose: int | None = None,
          extra_callbacks: Callable[[Tokenizer], list[Any]] | None = None,
          unlabeled: Sequence[str] = (), release_texts: bool = False) -> TrainOutput:
    """Fit tokenizer and model on `data` per `cfg`; return everything api.train persists.

    `release_texts`: `data.texts` keeps only its first KEPT_TEXTS once tokenized (memory).

    `unlabeled` (files of texts, inputs.iter_texts) joins the training texts where no label is
    needed: the word-vector co-occurrences of embedding_init=ppmi_svd, and the vocabulary with
    tokenizer.vocabulary=training_and_unlabeled. Never the labels, the validation split or the
    wide branch's n-grams (counted on training rows).

    `extra_callbacks(tokenizer)` returns more Keras callbacks for this run (bench/ uses it to
    score the test split at every epoch end); `backup_dir` makes the run resumable (resume.py).
    """
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from sentiment_cli import distribute
    from sentiment_cli.model import build_model, build_wide_deep, compile_model, count_params

    seed_everything(cfg.training.seed)
    n_classes = data.encoding.n_classes
    tr_idx, va_idx = split_validation(data, cfg.training.validation_split, cfg.training.seed)
    y_tr = data.y[tr_idx].astype(np.float32)
    y_va = data.y[va_idx]
    check_config(cfg)

    # Settings that follow the data (auto.py), from the training rows only.
    cfg = auto.resolve_training(cfg, len(tr_idx), len(va_idx))
    cfg = dataclasses.replace(cfg, data=dataclasses.replace(cfg.data, ordinal=data.encoding.ordinal))  # as resolved
    cfg = auto.resolve_class_weight(cfg, n_classes, len(tr_idx))
    tc = cfg.training
    # multi_worker: each worker keeps only its share of the training rows (the vocabulary and the
    # auto settings are still counted on all of them, so they are the same on every worker).
    share = distribute.data_share(cfg, len(tr_idx))
    cfg, tokenizer, seqs_tr, seqs_va, extra, all_lengths = tokenize_splits(cfg, data.texts, tr_idx, va_idx,
                                                                            unlabeled, release_texts, share)
    n_train = len(tr_idx)
    mine = training_share(np.arange(n_train), share)  # this worker's rows, as positions in tr_idx
    y_tr = y_tr[mine]
    if share is not None:
        log.info("multi_worker: this worker holds %d of the %d training rows (worker %d of %d's share) and "
                 "the %d validation rows", len(mine), n_train, share[0] + 1, share[1], len(va_idx))
    len_tr = seqs_tr.lengths
    cfg = auto.resolve_maxlen(cfg, tokenizer, all_lengths)  # every worker resolves the same settings
    cfg = auto.resolve_wide_maxlen(cfg, all_lengths)
    cfg = auto.resolve_wide_subwords(cfg, all_lengths)
    # The wide branch reads each text's first or last wide_maxlen ids (truncating), as sequences:
    # rows padded that wide would hold mostly padding.
    wide_len, last = cfg.model.wide_maxlen, cfg.tokenizer.truncating == "pre"
    wide_tr, wide_va = ((seqs_tr.window(wide_len, last), seqs_va.window(wide_len, last))
                        if cfg.model.wide != "none" else (None, None))
    len_tr = np.clip(len_tr, 1, cfg.tokenizer.maxlen)  # an empty text is one OOV id (Tokenizer.pad)
    log.info("training on %d reviews, validating on %d; vocabulary %d words, ids below %d kept",
             n_train, len(va_idx), len(tokenizer.word_index_), tokenizer.vocabulary_size)

    bucketing = tc.bucketing and bucketing_is_exact(cfg)
    if tc.bucketing and not bucketing:
        log.info("length bucketing is off: it needs model.mask=true, and tokenizer.padding=post "
                 "unless pooling is last or avg, to leave predictions unchanged")

    # One device, the local GPUs or TF_CONFIG's workers (distribute.py); logs where, on stderr.
    placement = distribute.setup(cfg)
    batch_size = tc.batch_size * placement.replicas  # training.batch_size is per replica
    weights = class_weights(data.y[tr_idx], tc.class_weight, n_classes)  # from every training row's class
    weights = weights[mine] if weights is not None else None
    steps = -(-n_train // batch_size)
    # Bucketed batches are padded from the token store as they are drawn; else every row is padded now.
    x_tr = seqs_tr if bucketing else tokenizer.pad(seqs_tr)
    if share is None:
        train_ds = make_dataset(x_tr, len_tr, y_tr, batch_size=batch_size, seed=tc.seed, bucketing=bucketing,
                                padding=cfg.tokenizer.padding, sample_weight=weights, tokenizer=tokenizer)
    else:
        # Each worker batches its own rows, per replica; every worker takes the same number of
        # steps (the largest share's), a smaller share drawing some of its rows twice in an epoch.
        local = max(placement.replicas // share[1], 1)
        steps = -(-(-(-n_train // share[1])) // (tc.batch_size * local))
        seed = tc.seed + share[0]  # (the batches of different workers are different rows anyway)

        def train_ds() -> Any:
            return make_dataset(x_tr, len_tr, y_tr, batch_size=tc.batch_size, seed=seed, bucketing=bucketing,
                                padding=cfg.tokenizer.padding, sample_weight=weights, tokenizer=tokenizer,
                                batches=steps * local)

    callbacks: list[Any] = [StopOnNonFiniteLoss()]
    if tc.early_stopping_patience is not None:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=tc.early_stopping_patience,
                                                       restore_best_weights=True, verbose=0))
    if backup_dir is not None:
        from sentiment_cli.resume import resumable_backup

        # After EarlyStopping: it restores early stopping's state too (see resume.py).
        stopping = next((c for c in callbacks if isinstance(c, keras.callbacks.EarlyStopping)), None)
        backup = resumable_backup(backup_dir, stopping)
        callbacks.append(backup)
    if tensorboard_dir is not None and placement.chief:
        callbacks.append(keras.callbacks.TensorBoard(str(tensorboard_dir)))
    if extra_callbacks is not None:
        callbacks += extra_callbacks(tokenizer)
    if verbose is None:
        verbose = 1 if sys.stderr.isatty() else 2

    if steps < FEW_STEPS and batch_size > auto.BATCH_RANGE[0]:
        # 1,350 IMDB reviews: 0.62 test accuracy in batches of 256, 0.83 in batches of 32.
        log.warning("only %d step(s) per epoch: %d training reviews in batches of %d. A small dataset "
                    "learns better in smaller batches, e.g. --set training.batch_size=auto",
                    steps, n_train, batch_size)
    start = time.perf_counter()  # training time includes the wide branch and the word vectors
    oov_id = tokenizer.word_index_.get(tokenizer.oov_token) if tokenizer.oov_token is not None else None
    unlabeled_info = None
    if unlabeled:
        unlabeled_info = unlabeled_report(cfg, unlabeled, extra)
    embedding, vectors = initial_embedding(cfg, tokenizer, TokenIds.concat([seqs_tr, extra])
                                           if unlabeled_info and unlabeled_info["used"] else seqs_tr)
    del extra
    return_freed_memory()  # the word vectors' co-occurrence matrices
    # The validation rows padded (twice: tf.data copies them) only now, not beside the word vectors'
    # peak: on a large file they are hundreds of MB.
    x_va = tokenizer.pad(seqs_va)
    del seqs_va
    val_ds = tf.data.Dataset.from_tensor_slices((x_va, y_va.astype(np.float32))).batch(512)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        # The wide branch (scipy/liblinear, which release the GIL) fits on one core while the
        # recurrent one trains: it needs nothing from it until the combiner. (After the word
        # vectors, not beside them: on a large file the two would add up to the memory peak.)
        wide_job = (pool.submit(fit_wide, cfg, wide_tr, y_tr, wide_va, y_va, vocab_size=tokenizer.vocabulary_size,
                                words=vocabulary_words(tokenizer) if cfg.model.wide_subwords else None,
                                oov_id=oov_id, n_classes=n_classes) if cfg.model.wide != "none" else None)
        del wide_tr, wide_va
        if embedding is not None and auto.is_auto(cfg.model.embedding_dim):  # the vector file's dimension
            cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, embedding_dim=int(embedding.shape[1])))
        with stdout_to_stderr():
            # model.fit's loop, written out so that it also runs under multi_worker (distribute.py).
            fitted = distribute.fit(
                placement, lambda: compile_model(build_model(cfg.model, vocab_size=tokenizer.vocabulary_size,
                                                             seed=tc.seed, padding=cfg.tokenizer.padding,
                                                             embedding=embedding, n_classes=n_classes), tc,
                                                 n_classes),
                train_ds, val_ds, epochs=tc.epochs, steps=steps, callbacks=callbacks, verbose=verbose)
        wide = wide_job.result() if wide_job is not None else None
    model, history = fitted.model, fitted.history
    resumed_from = 0
    if backup_dir is not None and backup.resumed_from:
        # The fit above ran only the epochs after the backup; the backup kept the earlier ones.
        history, resumed_from = backup.history, backup.resumed_from
    val_losses = history.get("val_loss", [])
    best_epoch = int(np.argmin(val_losses)) + 1 if val_losses else len(val_losses)

    recurrent, parts = model, {}
    features = None
    if wide is not None:
        p_rec = predict_proba(recurrent, x_va)
        z_rec = logit(p_rec) if n_classes == 2 else log_proba(p_rec)  # softmax ignores the rows' shift
        kernel, bias, choice, losses = fit_combiner(wide.val_logits, z_rec, y_va, tc.seed,
                                                    wide_intercept=wide.intercept, class_weight=tc.class_weight)
        model = build_wide_deep(cfg.model, recurrent, vocab_size=tokenizer.vocabulary_size, seed=tc.seed,
                                padding=cfg.tokenizer.padding, wide_weights=wide.coef, combiner=(kernel, bias))
        # The model before the refit (which saw the validation rows) on validation: its combiner over
        # the two logits it was fitted to (computed, not predicted: the recurrent branch already ran).
        if n_classes == 2:
            p_first = _sigmoid(kernel[0] * wide.val_logits + kernel[1] * logit(p_rec) + bias[0])
        else:
            p_first = softmax(np.concatenate([wide.val_logits, z_rec], axis=1) @ kernel + bias)
        if wide.final_coef is not None and n_classes != 2:
            k = n_classes
            model.get_layer("wide_weights").set_weights([wide.final_coef.astype(np.float32).reshape(-1, k)])
            bias = bias + kernel[:k].T @ (wide.final_intercept - wide.intercept)
            model.get_layer("predictions").set_weights([np.asarray(kernel, np.float32),
                                                        np.asarray(bias, np.float32).reshape(k)])
        elif wide.final_coef is not None:
            # The combiner was fitted to the first fit's logits without its intercept (x @ coef);
            # the refit has its own intercept, so the bias moves by the combiner's weight times the
            # difference: the combination sees the refit's logit where it saw the first fit's.
            model.get_layer("wide_weights").set_weights([wide.final_coef.astype(np.float32).reshape(-1, 1)])
            bias = bias + kernel[0] * (wide.final_intercept - wide.intercept)
            model.get_layer("predictions").set_weights([np.asarray(kernel, np.float32).reshape(2, 1),
                                                        np.asarray(bias, np.float32).reshape(1)])
        features = wide.features
        if cfg.model.wide_maxlen > cfg.tokenizer.maxlen:
            # The saved model takes rows of wide_maxlen ids; model_inputs cuts the recurrent branch's.
            features.recurrent = {"maxlen": cfg.tokenizer.maxlen, "padding": cfg.tokenizer.padding,
                                  "truncating": cfg.tokenizer.truncating}
            tokenizer.maxlen = cfg.model.wide_maxlen
        cfg = dataclasses.replace(cfg, model=dataclasses.replace(cfg.model, wide_c=wide.c))  # resolved, for config.yaml
        parts = {"wide_accuracy": wide.val_accuracy, "wide_c": wide.c, "wide_ngrams": len(wide.features.keys_),
                 "recurrent_accuracy": float(np.mean(predicted_classes(p_rec) == y_va)),
                 "combination": choice, "combiner_cv_log_loss": losses,
                 "combiner_weights": ([round(float(v), 4) for v in kernel] + [round(float(bias[0]), 4)]
                                      if n_classes == 2 else  # K >= 3: the slope of each branch's logits
                                      [round(float(kernel[0, 0]), 4), round(float(kernel[n_classes, 0]), 4)])}
        log.info("wide & deep: validation accuracy wide %.4f, recurrent %.4f; combiner keeps %s "
                 "(cross-validated log loss %s)", parts["wide_accuracy"], parts["recurrent_accuracy"], choice,
                 ", ".join(f"{k} {v:.4f}" for k, v in losses.items()))
    seconds = time.perf_counter() - start
    if backup_dir is not None and backup.resumed_from:
        seconds += backup.previous_seconds

    p_raw = p_first if wide is not None else predict_proba(model, x_va)
    temperature = fit_temperature(y_va, p_raw) if tc.calibrate == "temperature" else 1.0
    p_va = apply_temperature(p_raw, temperature)
    if wide is not None:
        parts["combined_accuracy"] = float(np.mean(predicted_classes(p_raw) == y_va))
    if n_classes == 2:
        threshold = choose_threshold(y_va, p_va, tc.threshold)
    else:  # the most probable class wins: there is no threshold to choose
        if tc.threshold != 0.5:
            log.warning("training.threshold=%s is used only with two classes (there are %d): ignored",
                        tc.threshold, n_classes)
        threshold = 0.5
    return TrainOutput(model=model, tokenizer=tokenizer, history=history, val_y=y_va, val_p=p_va,
                       val_p_raw=p_raw, threshold=threshold, temperature=temperature, seconds=seconds,
                       epochs_run=len(val_losses), best_epoch=best_epoch, params=count_params(model),
                       resumed_from=resumed_from, devices=placement.describe(), config=cfg,
                       features=features, parts=parts, recurrent=recurrent, wide=wide, vectors=vectors,
                       unlabeled=unlabeled_info)


def check_config(cfg: Config) -> None:
    """Combinations of settings that are each valid but cannot train together."""
    from sentiment_cli.errors import ConfigError

    m = cfg.model
    if m.embedding_init == "vectors" and m.vectors is None:
        raise ConfigError("model.embedding_init=vectors needs model.vectors, the vector file",
                          "Set model.vectors to a GloVe, word2vec or fastText file")
    if m.embedding_init == "vectors" and not Path(m.vectors).is_file():
        from sentiment_cli.errors import DataError

        raise DataError(f"vector file '{m.vectors}' does not exist", "Check model.vectors")
    if auto.is_auto(m.embedding_dim) and m.embedding_init != "vectors":
        raise ConfigError(f"model.embedding_dim=auto takes the dimension of model.vectors, and "
                          f"model.embedding_init is {m.embedding_init}", "Set model.embedding_dim to a number")
    if cfg.model.mask and cfg.tokenizer.oov is None and cfg.model.pooling in ("avg", "max_avg"):
        # Tokenizer.pad reads a text with no known word as one OOV id; without one the row would be
        # all padding, and average pooling over zero unmasked steps is NaN.
        raise ConfigError("model.mask=true with average pooling needs tokenizer.oov (texts with no known "
                          "word would leave nothing to average)",
                          "Set tokenizer.oov to a token such as '<OOV>', or model.mask=false")


class StopOnNonFiniteLoss:
    """Stop at the end of the first epoch whose loss is NaN or infinite, with a one-line error,
    before anything is written (api.train writes --out only after training returns)."""

    def __new__(cls) -> Any:
        import keras

        class _Stop(keras.callbacks.Callback):
            # Checked per epoch: per-step losses would cost a device sync each (distribute._loop).
            def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
                for key in ("loss", "val_loss"):
                    value = (logs or {}).get(key)
                    if value is not None and not np.isfinite(float(value)):
                        from sentiment_cli.errors import TrainingError

                        raise TrainingError(f"the {'validation' if key == 'val_loss' else 'training'} loss "
                                            f"became {float(value)} in epoch {epoch + 1}; nothing was written",
                                            "Lower training.learning_rate (or set training.clipnorm) and "
                                            "train again")

        return _Stop()
