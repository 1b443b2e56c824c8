"""The training loop: split, tokenize, batch, fit with early stopping, then decide on validation.

Reads like a recipe on purpose (nanoGPT's train.py): seed everything, hold out a stratified
validation split, fit the tokenizer on the training part only, compute word vectors from the same
reviews to start the embedding (word_vectors.py), build the model from the config, `fit` on
length-bucketed batches (where exact) with early stopping that restores the best weights, and
choose the decision threshold and calibration temperature on the validation split. I/O of the
model directory lives in api.py.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from sentiment_cli.config import Config
from sentiment_cli.data import LabeledData
from sentiment_cli.metrics import apply_temperature, choose_threshold, fit_temperature
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
    t = cfg.tokenizer
    return Tokenizer(num_words=t.num_words, filters=t.filters, lower=t.lower, split=t.split,
                     oov_token=t.oov, strip_html=t.strip_html, maxlen=t.maxlen, padding=t.padding,
                     truncating=t.truncating)


def split_validation(data: LabeledData, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Stratified, seeded index split: the same rows are held out every run."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data))
    counts = np.bincount(data.y, minlength=2)
    n_val = int(round(len(idx) * fraction))
    if counts.min() < 2 or n_val < 2 or len(idx) - n_val < 2:
        from sentiment_cli.errors import DataError

        raise DataError(f"'{data.source}' has too few rows per class ({counts[0]} / {counts[1]}) "
                        f"for a validation split of {fraction}", "Add more rows or change training.validation_split")
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


def make_dataset(x: np.ndarray, lengths: np.ndarray, y: np.ndarray, *, batch_size: int,
                 seed: int, bucketing: bool, padding: str, sample_weight: np.ndarray | None = None) -> Any:
    """A shuffled tf.data pipeline; bucketed by length when asked."""
    import tensorflow as tf

    if bucketing:
        rng = np.random.default_rng(seed)
        pre = padding == "pre"

        def gen() -> Iterator[tuple[np.ndarray, ...]]:
            for rows, width in bucketed_batches(lengths, batch_size, rng):
                xb = x[rows, -width:] if pre else x[rows, :width]
                yield (xb, y[rows]) if sample_weight is None else (xb, y[rows], sample_weight[rows])

        sig = [tf.TensorSpec((None, None), tf.int32), tf.TensorSpec((None,), tf.float32)]
        if sample_weight is not None:
            sig.append(tf.TensorSpec((None,), tf.float32))
        return tf.data.Dataset.from_generator(gen, output_signature=tuple(sig)).prefetch(2)
    tensors = (x, y) if sample_weight is None else (x, y, sample_weight)
    ds = tf.data.Dataset.from_tensor_slices(tensors)
    ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
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


def initial_embedding(cfg: Config, tokenizer: Tokenizer, sequences: list[list[int]]) -> np.ndarray | None:
    """Starting embedding rows per model.embedding_init: None keeps Keras' random init."""
    if cfg.model.embedding_init == "random":
        return None
    from sentiment_cli.word_vectors import ppmi_svd

    oov = tokenizer.word_index_.get(tokenizer.oov_token) if tokenizer.oov_token is not None else None
    return ppmi_svd(sequences, tokenizer.vocabulary_size, cfg.model.embedding_dim,
                    window=cfg.model.embedding_window, seed=cfg.training.seed,
                    skip=(0,) if oov is None else (0, oov))


def class_weights(y: np.ndarray, mode: str) -> np.ndarray | None:
    """Per-row weights n / (2 * n_class) for 'balanced', as scikit-learn defines it."""
    if mode != "balanced":
        return None
    counts = np.bincount(y, minlength=2).astype(float)
    w = len(y) / (2.0 * counts)
    return w[y].astype(np.float32)


def predict_proba(model: Any, x: np.ndarray, batch_size: int = 512) -> np.ndarray:
    return np.asarray(model.predict(x, batch_size=batch_size, verbose=0), dtype=np.float64).reshape(-1)


@contextlib.contextmanager
def stdout_to_stderr() -> Iterator[None]:
    """Keras prints progress to stdout; stdout is for results, so send it to stderr."""
    with contextlib.redirect_stdout(sys.stderr):
        yield


def train(cfg: Config, data: LabeledData, *, backup_dir: Path | None = None,
          tensorboard_dir: Path | None = None, verbose: int | None = None,
          extra_callbacks: Callable[[Tokenizer], list[Any]] | None = None) -> TrainOutput:
    """Fit tokenizer and model on `data` per `cfg`; return everything api.train persists.

    `extra_callbacks(tokenizer)` returns more Keras callbacks for this run (bench/ uses it to
    score the test split at every epoch end); `backup_dir` makes the run resumable (resume.py).
    """
    quiet_tensorflow()
    import keras
    import tensorflow as tf

    from sentiment_cli import distribute
    from sentiment_cli.model import build_model, compile_model, count_params

    tc = cfg.training
    seed_everything(tc.seed)
    tr_idx, va_idx = split_validation(data, tc.validation_split, tc.seed)
    tr_texts = [data.texts[i] for i in tr_idx]
    va_texts = [data.texts[i] for i in va_idx]
    y_tr = data.y[tr_idx].astype(np.float32)
    y_va = data.y[va_idx]

    tokenizer = tokenizer_from_config(cfg).fit(tr_texts)
    seqs_tr = tokenizer.transform(tr_texts)
    x_tr = tokenizer.pad(seqs_tr)
    len_tr = np.fromiter(map(len, seqs_tr), dtype=np.int64, count=len(seqs_tr))
    len_tr = np.minimum(len_tr, cfg.tokenizer.maxlen)
    x_va = tokenizer.encode(va_texts)
    log.info("training on %d reviews, validating on %d; vocabulary %d words, ids below %d kept",
             len(tr_texts), len(va_texts), len(tokenizer.word_index_), tokenizer.vocabulary_size)

    bucketing = tc.bucketing and bucketing_is_exact(cfg)
    if tc.bucketing and not bucketing:
        log.info("length bucketing is off: it needs model.mask=true, and tokenizer.padding=post "
                 "unless pooling is last or avg, to leave predictions unchanged")

    # One device, the local GPUs or TF_CONFIG's workers (distribute.py); logs where, on stderr.
    placement = distribute.setup(cfg)
    batch_size = tc.batch_size * placement.replicas  # training.batch_size is per replica
    weights = class_weights(data.y[tr_idx], tc.class_weight)
    train_ds = make_dataset(x_tr, len_tr, y_tr, batch_size=batch_size, seed=tc.seed,
                            bucketing=bucketing, padding=cfg.tokenizer.padding, sample_weight=weights)
    val_ds = tf.data.Dataset.from_tensor_slices((x_va, y_va.astype(np.float32))).batch(512)

    callbacks: list[Any] = []
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

    steps = -(-len(y_tr) // batch_size)
    if steps < FEW_STEPS:
        # The defaults suit tens of thousands of reviews; a few thousand at batch 256 barely learn
        # (1,350 IMDB reviews: 0.62 test accuracy at 256, 0.83 at 32, same epochs).
        log.warning("only %d step(s) per epoch: %d training reviews in batches of %d. A small dataset "
                    "learns better in smaller batches, e.g. --set training.batch_size=32",
                    steps, len(y_tr), batch_size)
    start = time.perf_counter()  # training time includes computing the initial word vectors
    embedding = initial_embedding(cfg, tokenizer, seqs_tr)
    del seqs_tr
    with stdout_to_stderr():
        # model.fit's loop, written out so that it also runs under multi_worker (distribute.py).
        fitted = distribute.fit(
            placement, lambda: compile_model(build_model(cfg.model, vocab_size=tokenizer.vocabulary_size,
                                                         seed=tc.seed, padding=cfg.tokenizer.padding,
                                                         embedding=embedding), tc),
            train_ds, val_ds, epochs=tc.epochs, steps=steps, callbacks=callbacks, verbose=verbose)
    seconds = time.perf_counter() - start
    model, history = fitted.model, fitted.history
    resumed_from = 0
    if backup_dir is not None and backup.resumed_from:
        # The fit above ran only the epochs after the backup; the backup kept the earlier ones.
        history, resumed_from = backup.history, backup.resumed_from
        seconds += backup.previous_seconds
    val_losses = history.get("val_loss", [])
    best_epoch = int(np.argmin(val_losses)) + 1 if val_losses else len(val_losses)

    p_raw = predict_proba(model, x_va)
    temperature = fit_temperature(y_va, p_raw) if tc.calibrate == "temperature" else 1.0
    p_va = apply_temperature(p_raw, temperature)
    threshold = choose_threshold(y_va, p_va, tc.threshold)
    return TrainOutput(model=model, tokenizer=tokenizer, history=history, val_y=y_va, val_p=p_va,
                       val_p_raw=p_raw, threshold=threshold, temperature=temperature, seconds=seconds,
                       epochs_run=len(val_losses), best_epoch=best_epoch, params=count_params(model),
                       resumed_from=resumed_from,
                       devices=placement.describe())
