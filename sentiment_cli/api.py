"""The library API behind every command: train, evaluate, predict. Returns data; never exits.

Each function here is what its CLI command does minus argument parsing and printing, so scripts and
tests can call it directly (spaCy's `train()` beside `train_cli`). Errors are raised as
SentimentError subclasses; cli.py turns them into one-line messages and exit codes.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable, Iterator, Sequence

import numpy as np

from sentiment_cli import artifacts, interrupts
from sentiment_cli.data import LabeledData, load_labeled
from sentiment_cli.errors import ArtifactError
from sentiment_cli.metrics import evaluation_report
from sentiment_cli.predictor import DEFAULT_BATCH_SIZE, Predictor, iter_batches

if TYPE_CHECKING:  # the config schema is imported where used: `predict` never needs it
    from sentiment_cli.config import Config

log = logging.getLogger("sentiment")
ONNX_TOLERANCE = 1e-5


# -- train -----------------------------------------------------------------------------------------
def train(cfg: Config, data_path: str | Path, out: str | Path, *, test_data: str | Path | None = None,
          force: bool = False, resume: bool = False, tensorboard: str | Path | None = None,
          plots: bool = True, verbose: int | None = None, baseline: bool = False,
          unlabeled: Sequence[str | Path] = ()) -> dict[str, Any]:
    """Train on `data_path` and write a complete model directory at `out`; return metrics.json.

    `out` is checked before any work and replaced atomically at the end: an error or interrupt
    at any point leaves what was there before. `baseline` adds a `baseline` section: TF-IDF +
    logistic regression fitted on the same validation split and scored on the same test file.
    `unlabeled`: files of texts without labels, used where labels are not needed (training.train).
    """
    out = Path(out)
    unlabeled = [str(p) for p in unlabeled]
    check_text_files(unlabeled, "--unlabeled")
    if out.is_symlink():  # replace the model the link points to, and keep the user's link
        import os

        out = Path(os.path.realpath(out))
    from sentiment_cli.distribute import worker_role

    role = worker_role(cfg)
    if role is not None:  # multi_worker: this worker trains in step with the chief, which writes `out`
        return _train_worker(cfg, data_path, out, role, resume=resume, verbose=verbose, unlabeled=unlabeled)
    artifacts.check_out_dir(out, force)
    if tensorboard is not None:
        _check_tensorboard()
    with artifacts.out_dir_lock(out):
        dc = cfg.data
        # A large file is read a chunk at a time and its texts again as they are tokenized.
        data = load_labeled(data_path, dc.text_column, dc.label_column, **dc.label_options(), stream=True)
        test = (load_labeled(test_data, dc.text_column, dc.label_column, encoding=data.encoding)
                if test_data is not None else None)
        check_validation_split(cfg, data)
        warn_rare_classes(data)
        backup = _resume_dir(out, cfg, data_path, resume, unlabeled)

        from sentiment_cli import training

        try:
            # A Ctrl-C that TensorFlow swallows is raised again by the epoch loop or just below.
            with _write_errors(out, backup), interrupts.recorded():
                # Once tokenized, the texts are dropped (but a sample for the ONNX check): on a
                # large file they are the largest thing in memory. The baseline needs them all.
                result = training.train(cfg, data, backup_dir=backup, verbose=verbose,
                                        tensorboard_dir=Path(tensorboard) if tensorboard else None,
                                        unlabeled=unlabeled, release_texts=not baseline)
                interrupts.check()
        except KeyboardInterrupt:
            _log_resume_hint(out, backup)
            raise
        cfg = result.config or cfg  # every "auto" value resolved: config.yaml repeats this run
        metrics = _train_metrics(result, cfg, data, test)
        if baseline:
            from sentiment_cli.baseline import fit_baseline

            metrics["baseline"] = fit_baseline(cfg, data, test)
        with _write_errors(out, out.parent / f".{out.name}.tmp-*"):
            with artifacts.staged_dir(out, force) as tmp:
                _write_model_dir(tmp, result, cfg, data, test, metrics, data_path, test_data, plots)
        _clear_resume_dir(backup)
    log.info("wrote %s", out)
    return metrics


# errno values that mean "this output cannot be written here", not a bug
_WRITE_ERRNOS = ("ENOSPC", "EFBIG", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "ENAMETOOLONG")


@contextlib.contextmanager
def _write_errors(out: Path, where: Path, again: str = "train again") -> Iterator[None]:
    """Turn a failed write under `where` (disk full, file too large...) into a one-line WriteError."""
    import errno

    try:
        yield
    except OSError as exc:
        if exc.errno not in {getattr(errno, name) for name in _WRITE_ERRNOS if hasattr(errno, name)}:
            raise
        from sentiment_cli.errors import WriteError, os_reason

        filename, reason = os_reason(exc)
        raise WriteError(f"cannot write '{filename or where}' ({reason})",
                         f"Free disk space (or raise the file size limit) and {again}; '{out}' was not "
                         "changed") from None


def check_validation_split(cfg: Config, data: LabeledData) -> None:
    """Refuse a validation split that holds no example of a class.

    The threshold, temperature, early stopping and the wide & deep combiner are all chosen on
    that split: with one class only, a threshold such as 0.99998 would be written with exit 0.
    """
    from sentiment_cli.errors import DataError
    from sentiment_cli.training import split_validation

    k = data.encoding.n_classes
    _, va = split_validation(data, cfg.training.validation_split, cfg.training.seed)
    held = np.bincount(data.y[va], minlength=k)
    if held.min() > 0:
        return
    counts = np.bincount(data.y, minlength=k)
    rare = int(np.argmin(held))
    name = data.encoding.classes[rare]
    # The fraction whose stratified share of the rarer class is at least one whole row.
    needed = float(np.ceil(100 / counts[rare]) / 100)
    fix = (f"Add examples of {name!r}, or raise training.validation_split to {needed:.2f}" if needed <= 0.5
           else f"Add examples of {name!r}")
    what = "the threshold cannot be chosen on it" if k == 2 else "the model cannot be checked on that class"
    raise DataError(f"'{data.source}' has {counts[rare]} {name!r} row(s) of {len(data)}: the validation split "
                    f"({len(va)} rows) holds none, so {what}", fix)


RARE_CLASS_ROWS = 10  # fewer training rows than this and a class is learned from too little


def warn_rare_classes(data: LabeledData) -> None:
    """Warn about classes with fewer than RARE_CLASS_ROWS rows: their scores are close to guesses."""
    counts = np.bincount(data.y, minlength=data.encoding.n_classes)
    rare = [f"{c!r} ({n})" for c, n in zip(data.encoding.classes, counts) if n < RARE_CLASS_ROWS]
    if rare:
        log.warning("%s: class(es) with fewer than %d rows: %s; the model can hardly learn them (add rows, "
                    "or merge them into another class)", data.source, RARE_CLASS_ROWS, ", ".join(rare))


def _train_worker(cfg: Config, data_path: str | Path, out: Path, role: tuple[int, int], *,
                  resume: bool, verbose: int | None, unlabeled: Sequence[str] = ()) -> dict[str, Any]:
    """Train as multi_worker worker `role` = (index, count): no check, lock or write at `out`.

    Its --resume state lives beside `out` under its own name (.NAME.worker1.resume: workers may
    share a filesystem) and is deleted when training ends. Returns validation metrics only.
    """
    from sentiment_cli import training

    dc = cfg.data
    data = load_labeled(data_path, dc.text_column, dc.label_column, **dc.label_options(), stream=True)
    check_validation_split(cfg, data)
    backup = _resume_dir(out.with_name(f"{out.name}.worker{role[0]}"), cfg, data_path, resume, unlabeled)
    result = training.train(cfg, data, backup_dir=backup, verbose=verbose, unlabeled=unlabeled, release_texts=True)
    _clear_resume_dir(backup)
    log.info("worker %d of %d done; the chief writes the model directory (nothing written at %s)",
             role[0] + 1, role[1], out)
    return _train_metrics(result, cfg, data, None)


def _check_tensorboard() -> None:
    """Keras' TensorBoard callback fails only after the first epoch without the package: check first."""
    import importlib.util

    if importlib.util.find_spec("tensorboard") is None:
        from sentiment_cli.errors import ConfigError

        raise ConfigError("--tensorboard needs the tensorboard package, which is not installed",
                          "Install it with: pip install 'sentiment-cli[tensorboard]' (or pip install tensorboard)")


def _resume_dir(out: Path, cfg: Config, data_path: str | Path, resume: bool, unlabeled: Sequence[str] = ()) -> Path:
    """Where BackupAndRestore keeps per-epoch state; kept only for a --resume of the same run."""
    import shutil

    backup = out.parent / f".{out.name}.resume"
    stamp = {"config": cfg.to_dict(), "data_sha256": artifacts.sha256(data_path)}
    if unlabeled:
        stamp["unlabeled_sha256"] = [artifacts.sha256(p) for p in unlabeled]
    stamp_file = backup / "run.json"
    if resume:
        if not stamp_file.is_file():
            raise ArtifactError(f"nothing to resume for '{out}' (no interrupted training found)",
                                "Run without --resume to start a new training")
        if artifacts.read_json(stamp_file) != stamp:
            raise ArtifactError(f"the interrupted training of '{out}' used another config or data file",
                                "Resume with the same --config, --set and --data, or run without --resume")
        log.info("resuming the interrupted training of %s", out)
        return backup
    if backup.exists():
        from sentiment_cli.resume import completed_epochs

        if completed_epochs(backup):
            log.warning("discarding the backup of an interrupted training of %s (%d epoch(s) done); "
                        "--resume would have continued it", out, completed_epochs(backup))
        shutil.rmtree(backup)
    backup.mkdir(parents=True)
    artifacts.write_json(stamp_file, stamp)
    return backup


def _log_resume_hint(out: Path, backup: Path) -> None:
    """After Ctrl-C: say how far the backup got and how to continue from there."""
    from sentiment_cli.resume import completed_epochs

    done = completed_epochs(backup)
    if done:
        log.warning("training of %s stopped after epoch %d; continue it with the same command "
                    "plus --resume", out, done)


def _clear_resume_dir(backup: Path) -> None:
    import shutil

    shutil.rmtree(backup, ignore_errors=True)


def _train_metrics(result: Any, cfg: Config, data: LabeledData, test: LabeledData | None) -> dict[str, Any]:
    from sentiment_cli.metrics import apply_temperature
    from sentiment_cli.training import predict_proba

    encoding = data.encoding
    metrics: dict[str, Any] = {
        "validation": evaluation_report(result.val_y, result.val_p, encoding, result.threshold),
        **({"threshold": result.threshold} if encoding.binary else {"classes": list(encoding.classes)}),
        "temperature": result.temperature,
        "train_seconds": round(result.seconds, 2),
        "epochs_run": result.epochs_run,
        "best_epoch": result.best_epoch,
        "params": result.params,
        "train_rows": len(data),
        "devices": result.devices,
    }
    if getattr(result, "unlabeled", None):
        metrics["unlabeled"] = result.unlabeled  # --unlabeled: files, texts and tokens the word vectors read
    if getattr(result, "vectors", None):
        metrics["vectors"] = result.vectors  # embedding_init=vectors: the file's coverage of the vocabulary
    if getattr(result, "parts", None):
        metrics["wide_deep"] = result.parts  # each branch alone on validation, and what the combiner kept
    if getattr(result, "resumed_from", 0):
        metrics["resumed_from_epoch"] = result.resumed_from  # epochs restored by --resume
    if getattr(result, "val_p_raw", None) is not None:
        # Before/after temperature scaling on the same held-out rows: did calibration help?
        from sentiment_cli.metrics import expected_calibration_error, top_label_ece

        metrics["validation"]["ece_raw"] = (expected_calibration_error(result.val_y, result.val_p_raw)
                                            if encoding.binary else top_label_ece(result.val_y, result.val_p_raw))
    if test is not None:
        x, lengths = result.tokenizer.encode_with_lengths(test.texts)
        p = apply_temperature(predict_proba(result.model, x, result.features), result.temperature)
        metrics["test"] = evaluation_report(test.y, p, encoding, result.threshold)
        metrics["test"]["truncated"] = int((lengths > result.tokenizer.maxlen).sum())  # read by no branch whole
    return metrics


def _write_model_dir(tmp: Path, result: Any, cfg: Config, data: LabeledData, test: LabeledData | None,
                     metrics: dict[str, Any], data_path: str | Path, test_path: str | Path | None,
                     plots: bool) -> None:
    from sentiment_cli.config import render_yaml
    from sentiment_cli.predictor import Decision

    save_for_inference(result.model, tmp / artifacts.MODEL_KERAS)
    result.tokenizer.save(tmp / artifacts.TOKENIZER)
    if result.features is not None:
        artifacts.write_json(tmp / artifacts.FEATURES, result.features.to_dict())
    (tmp / artifacts.CONFIG).write_text(render_yaml(cfg, "Resolved config of this model (sentiment train)."),
                                        encoding="utf-8")
    decision = Decision(data.encoding, result.threshold, result.temperature)
    sample = result.tokenizer.encode(data.texts[:256])
    onnx_ok = export_onnx(result.model, tmp / artifacts.MODEL_ONNX, sample, result.features)
    # The input columns too: `predict --input file.csv` then needs no YAML parser (see input_columns).
    artifacts.write_json(tmp / artifacts.LABELS, {**decision.to_dict(), "text_column": cfg.data.text_column,
                                                  "label_column": cfg.data.label_column,
                                                  "trim_padding": _trim_is_exact(cfg, result.model, tmp, onnx_ok,
                                                                                 sample, result.features)})
    metrics["onnx"] = onnx_ok
    artifacts.write_json(tmp / artifacts.METRICS, metrics)
    _write_history(tmp / artifacts.HISTORY, result.history)
    if plots:
        try:
            from sentiment_cli import plots as plotting

            plotting.training_plots(tmp / artifacts.PLOTS, result.history, result.val_y, result.val_p,
                                    result.threshold, list(data.encoding.classes))
        except ImportError:
            log.info("matplotlib is not installed; skipping plots")
    sources = {"train": {"path": str(data_path), "sha256": artifacts.sha256(data_path), "rows": len(data)}}
    if test is not None and test_path is not None:
        sources["test"] = {"path": str(test_path), "sha256": artifacts.sha256(test_path), "rows": len(test)}
    if getattr(result, "unlabeled", None):
        sources["unlabeled"] = [{"path": p, "sha256": artifacts.sha256(p)} for p in result.unlabeled["files"]]
    artifacts.write_manifest(tmp, {"data": sources, "seed": cfg.training.seed, "onnx": onnx_ok,
                                   "devices": result.devices})


def save_for_inference(model: Any, path: Path) -> None:
    """Save architecture and weights without the optimizer state (a third of the size)."""
    import keras

    clone = keras.Model.from_config(model.get_config())  # uncompiled: no optimizer slots saved
    clone.set_weights(model.get_weights())
    clone.save(path)


def _write_history(path: Path, history: dict[str, list[float]]) -> None:
    keys = list(history)
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["epoch", *keys])
        for i in range(len(history[keys[0]]) if keys else 0):
            writer.writerow([i + 1, *(f"{history[k][i]:.6f}" for k in keys)])


def _trim_is_exact(cfg: Config, model: Any, tmp: Path, onnx_ok: bool, sample: np.ndarray,
                   features: Any = None) -> bool:
    """Whether predict may drop all-padding columns: the config says it is exact (a masked model,
    as for length bucketing) and the runtime predict will use agrees on real rows."""
    from sentiment_cli.predictor import onnx_runner, trimming_is_exact
    from sentiment_cli.training import bucketing_is_exact

    if not bucketing_is_exact(cfg):
        return False
    from sentiment_cli.training import predict_proba

    score = (onnx_runner(tmp / artifacts.MODEL_ONNX, 2, features) if onnx_ok
             else lambda x: predict_proba(model, x, features))
    exact = trimming_is_exact(score, sample, cfg.tokenizer.padding, ONNX_TOLERANCE)
    if not exact:
        log.info("scores of padding-trimmed rows differ from full-width ones: predict keeps maxlen columns")
    return exact


def export_onnx(model: Any, path: Path, sample: np.ndarray, features: Any = None) -> bool:
    """Export to ONNX and prove it scores like Keras on `sample` (id rows; `features` computes the
    wide branch's inputs from them); on any failure keep Keras only."""
    import contextlib

    from sentiment_cli.predictor import onnx_runner
    from sentiment_cli.training import predict_proba

    try:
        # Keras' scores first: the export also needs a model that has been called once (a wide &
        # deep model assembled after training has not: "The model provided has never called").
        want = predict_proba(model, sample, features)
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints "Saved artifact at ..."
            model.export(str(path), format="onnx")
        got = onnx_runner(path, 2, features)(np.ascontiguousarray(sample, dtype=np.int32))
        diff = float(np.max(np.abs(got - want))) if len(sample) else 0.0
        if diff > ONNX_TOLERANCE:
            raise ValueError(f"ONNX scores differ from Keras by {diff:.2e}")
        return True
    except Exception as exc:  # the export is an optimisation; the .keras model is the source of truth
        log.warning("ONNX export failed (%s); predict will use Keras", str(exc).splitlines()[0][:200])
        if path.exists():
            path.unlink()
        return False


# -- vectors ---------------------------------------------------------------------------------------
def check_text_files(paths: Iterable[str | Path], flag: str) -> None:
    """Each path an existing file, before any work starts."""
    from sentiment_cli.errors import DataError

    for path in paths:
        if not Path(path).is_file():
            raise DataError(f"text file '{path}' does not exist", f"Check the path given to {flag}")


def vectors(cfg: Config, data_paths: Sequence[str | Path], out: str | Path, *, text_column: str | None = None,
            force: bool = False) -> dict[str, Any]:
    """Word vectors from any texts, by the PPMI + SVD of embedding_init=ppmi_svd, written as GloVe
    text to `out`; returns what was read and written.

    A large unlabelled corpus is then processed once and any training starts from it
    (model.embedding_init=vectors). The texts are split as cfg's tokenizer splits them, read
    streaming once (corpus.py); the vocabulary follows tokenizer.num_words (auto: words
    in at least two texts, at most 50,000), the dimension model.embedding_dim, the window
    model.embedding_window. `out` is written beside itself and moved into place: an existing file is
    replaced only with `force`, and never left half-written.
    """
    import os
    import tempfile

    from sentiment_cli import auto, corpus, inputs
    from sentiment_cli.errors import ConfigError, WriteError
    from sentiment_cli.training import tokenizer_from_config
    from sentiment_cli.vectors import write_glove
    from sentiment_cli.word_vectors import ppmi_svd

    check_text_files(data_paths, "--data")
    out = Path(out)
    if out.is_dir():
        raise WriteError(f"'{out}' is a directory", "Give a file path for the vectors")
    if out.exists() and not force:
        raise WriteError(f"'{out}' already exists", "Use --force to replace it, or another --out")
    if auto.is_auto(cfg.model.embedding_dim):
        raise ConfigError("model.embedding_dim=auto has no file to take a dimension from here",
                          "Set model.embedding_dim to a number, e.g. --set model.embedding_dim=100")

    def texts() -> Iterator[str]:
        return inputs.iter_texts(map(str, data_paths), text_column or cfg.data.text_column)

    cfg = auto.resolve_symbols(cfg, texts())  # from the first texts, as for a large training file
    tokenizer, space = tokenizer_from_config(cfg), corpus.WordSpace()
    sequences = corpus.tokenize(tokenizer, texts(), space)  # each text read and split once
    corpus.fit_vocabulary(tokenizer, space.words, sequences)
    cfg = auto.resolve_vocabulary(cfg, tokenizer)
    sequences = sequences.map(corpus.lookup_table(tokenizer, space.words))
    oov = tokenizer.word_index_.get(tokenizer.oov_token) if tokenizer.oov_token is not None else None
    size = tokenizer.vocabulary_size
    matrix = ppmi_svd(sequences, size, cfg.model.embedding_dim, window=cfg.model.embedding_window,
                      seed=cfg.training.seed, skip=(0,) if oov is None else (0, oov), max_tokens=None)
    words = {i: w for w, i in tokenizer.word_index_.items() if i < size and i != oov}
    keep = [i for i in sorted(words) if matrix[i].any()]  # words with co-occurrences
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.tmp-", dir=out.parent)
    os.close(fd)
    artifacts.chmod_as_created(Path(tmp), 0o666)  # mkstemp's 0600 would keep the vectors from other users
    try:
        with _write_errors(out, out.parent, "run it again"):
            write_glove(Path(tmp), [words[i] for i in keep], matrix[keep])
            os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    report = {"out": str(out), "texts": tokenizer.document_count_, "tokens": len(sequences.ids),
              "words": len(keep), "dim": int(matrix.shape[1]), "window": cfg.model.embedding_window}
    log.info("wrote %d word vectors of %d dimensions from %d texts (%d tokens) to '%s'", report["words"],
             report["dim"], report["texts"], report["tokens"], out)
    return report


# -- evaluate --------------------------------------------------------------------------------------
def model_config(model_dir: str | Path) -> Config:
    """The resolved config a model directory was trained with, verified against its manifest.

    A damaged or tampered config.yaml is an ArtifactError (the model's fault, exit 1), not a
    ConfigError telling the user to fix a file they never wrote.
    """
    from sentiment_cli.config import Config, build_config, safe_load
    from sentiment_cli.errors import ConfigError

    path = Path(model_dir) / artifacts.CONFIG

    def load(files: artifacts.ModelFiles) -> Config:
        import yaml

        if not files.exists(artifacts.CONFIG):
            return Config()
        try:
            return build_config([(safe_load(files.read(artifacts.CONFIG).decode("utf-8")), str(path))])
        except (ConfigError, UnicodeDecodeError, yaml.YAMLError) as exc:
            why = exc.message if isinstance(exc, ConfigError) else "not valid YAML"
            raise ArtifactError(f"model file '{path}' is damaged ({why})",
                                "Restore config.yaml or re-train the model") from None

    return artifacts.load_model_dir(model_dir, load)


def input_columns(model_dir: str | Path) -> tuple[str, str]:
    """The (text, label) column names a model was trained with: from labels.json, else config.yaml.

    labels.json records them so that `predict --input file.csv` does not import and run a YAML
    parser on every call; directories written before that fall back to the config.
    """
    labels = artifacts.load_model_dir(model_dir, lambda files: files.read_json(artifacts.LABELS))
    names = (labels.get("text_column"), labels.get("label_column")) if isinstance(labels, dict) else (None, None)
    if all(isinstance(v, str) and v for v in names):
        return names  # type: ignore[return-value]
    dc = model_config(model_dir).data
    return dc.text_column, dc.label_column


def evaluate(model_dir: str | Path, data_path: str | Path, *, text_column: str | None = None,
             label_column: str | None = None, threshold: float | None = None, backend: str = "auto",
             batch_size: int = DEFAULT_BATCH_SIZE, sweep: bool = False, slices: bool = False,
             plots_dir: str | Path | None = None, unknown_labels: str = "error") -> dict[str, Any]:
    """Score a labelled file with a trained model and return its metrics (quiet: prints nothing).

    A K >= 3 model's report is metrics.multiclass_report's (its class is the most probable one):
    a `threshold` or `sweep` there is a ConfigError (usage, exit 2). With `unknown_labels="wrong"`,
    rows whose label the model never saw count as wrong in `accuracy` (and are counted in
    `unknown_labels`); every other metric covers the rows of the model's classes.
    """
    predictor = Predictor.from_dir(model_dir, backend=backend)
    if not predictor.binary and (threshold is not None or sweep):
        from sentiment_cli.errors import ConfigError

        flag = "--threshold" if threshold is not None else "--sweep-threshold"
        raise ConfigError(f"{flag} applies to two-class models; this model has {len(predictor.classes)} classes "
                          "and labels each text with its most probable class", f"Leave out {flag}")
    if plots_dir is not None:  # an unwritable --plots fails before the scoring, not after it
        from sentiment_cli.plots import prepare_dir

        prepare_dir(Path(plots_dir), "--plots")
    if text_column is None or label_column is None:  # the training columns, as `predict` uses them
        trained = predictor.columns or input_columns(model_dir)
        text_column, label_column = text_column or trained[0], label_column or trained[1]
    data = load_labeled(data_path, text_column, label_column, encoding=predictor.decision.encoding,
                        unknown=unknown_labels)
    scores, lengths = [], []
    for _, _, p, n in _scored_batches(predictor, data.texts, batch_size, overlap=True, skip_blank=False):
        scores.append(p)
        lengths.append(n)
    p = np.concatenate(scores)
    n_tokens = np.concatenate(lengths)
    t = predictor.decision.threshold if threshold is None else threshold
    known = data.y >= 0
    if not known.all():  # --unknown-labels wrong: rows of classes the model cannot answer
        if not known.any():
            from sentiment_cli.errors import DataError

            raise DataError(f"'{data.source}' has no row with a label the model was trained on",
                            "Use the same label values as the training data")
        data.y, p, n_tokens = data.y[known], p[known], n_tokens[known]
        data.texts = [t for t, k in zip(data.texts, known) if k]
    report = evaluation_report(data.y, p, predictor.decision.encoding, t)
    if not known.all():
        report["unknown_labels"] = int((~known).sum())
        report["accuracy"] = report["accuracy"] * report["n"] / len(known)  # the unknown rows are wrong
        report["n"] = len(known)
    report["truncated"] = int((n_tokens > predictor.maxlen).sum())
    report["skipped"] = data.skipped_empty + data.skipped_no_label
    report["backend"] = predictor.backend
    if sweep:
        from sentiment_cli.metrics import threshold_sweep

        report["sweep"] = threshold_sweep(data.y, p)
    if slices:
        from sentiment_cli.slices import slice_report

        report["slices"] = slice_report(data.texts, data.y, p, n_tokens, t, predictor.tokenizer)
    if plots_dir is not None:
        from sentiment_cli import plots as plotting

        report["plots"] = plotting.evaluation_plots(Path(plots_dir), data.y, p, t, list(predictor.classes))
    if report["truncated"]:
        log.info("%d of %d texts are longer than the %d tokens the model reads and were truncated",
                 report["truncated"], len(data), predictor.maxlen)
    return report


# -- predict ---------------------------------------------------------------------------------------
def predict_records(predictor: Predictor, texts: Iterable[str], *, batch_size: int = DEFAULT_BATCH_SIZE,
                    threshold: float | None = None, explain_k: int = 0,
                    overlap: bool = True) -> Iterator[dict[str, Any]]:
    """One record per input text, in order, scored in batches; empty texts get status 'empty'.

    `overlap` scores each batch on a second thread while the next one is read and tokenized (see
    _scored_batches); turn it off when every answer must leave before more input is read.
    """
    t = predictor.decision.threshold if threshold is None else threshold
    classes = predictor.decision.encoding.classes
    binary = predictor.decision.encoding.binary
    if not binary and threshold is not None:
        from sentiment_cli.errors import ConfigError

        raise ConfigError(f"--threshold applies to two-class models; this model has {len(classes)} classes and "
                          "labels each text with its most probable class", "Leave out --threshold")
    maxlen = predictor.maxlen
    stats = {"truncated": 0, "empty": 0}
    position = 0
    for batch, live, p, lengths in _scored_batches(predictor, texts, batch_size, overlap and not explain_k):
        scored = dict(zip(live, zip(p.tolist(), lengths.tolist())))
        for i, text in enumerate(batch):
            record: dict[str, Any] = {"id": position, "text": text}
            position += 1
            if i not in scored:
                stats["empty"] += 1
                if binary:
                    record.update(label=None, score=None, confidence=None, status="empty")
                else:
                    record.update(label=None, confidence=None, status="empty", scores=None)
            else:
                score, n_tokens = scored[i]
                if binary:
                    positive = score >= t
                    record.update(label=predictor.decision.encoding.name(positive), score=score,
                                  confidence=score if positive else 1.0 - score, status="ok")
                else:  # the most probable class (ties: the first), and every class's probability
                    top = max(range(len(classes)), key=score.__getitem__)
                    record.update(label=classes[top], confidence=score[top], status="ok",
                                  scores=dict(zip(classes, score)))
                if n_tokens > maxlen:
                    stats["truncated"] += 1
                    record["truncated"] = True
                if explain_k:
                    from sentiment_cli.explain import explain

                    record["explanation"] = explain(predictor, text, explain_k)
            yield record
    if stats["truncated"]:
        log.info("%d text(s) were longer than the %d tokens the model reads and were truncated", stats["truncated"],
                 maxlen)
    if stats["empty"]:
        log.info("%d empty line(s) got status 'empty'", stats["empty"])


def _scored_batches(predictor: Predictor, texts: Iterable[str], batch_size: int, overlap: bool,
                    skip_blank: bool = True) -> Iterator[tuple[list[str], list[int], np.ndarray, np.ndarray]]:
    """Per batch, in order: (texts, indices of the scored ones, their scores, their token counts).

    `skip_blank` leaves out empty and whitespace-only texts (predict reports them as 'empty').

    With `overlap`, up to `predictor.threads` batches are scored on worker threads while this
    thread writes earlier results and reads and tokenizes the next batch: ONNX Runtime (and
    TensorFlow) release the GIL while they compute, so the Python work stops waiting for the model
    and every core works. The price is latency (an answer leaves once later batches are read),
    which line-by-line streaming cannot pay.
    """

    def encoded() -> Iterator[tuple[list[str], list[int], np.ndarray, np.ndarray]]:
        for batch in iter_batches(texts, batch_size):
            live = [i for i, text in enumerate(batch) if text.strip()] if skip_blank else list(range(len(batch)))
            x, lengths = predictor.tokenizer.encode_with_lengths([batch[i] for i in live])
            yield batch, live, x, lengths

    if not overlap:
        for batch, live, x, lengths in encoded():
            yield batch, live, predictor.score_ids(x), lengths
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    workers = max(1, getattr(predictor, "threads", 1))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="sentiment-inference") as pool:
        pending: deque[tuple[list[str], list[int], Any, np.ndarray]] = deque()
        for batch, live, x, lengths in encoded():
            pending.append((batch, live, pool.submit(predictor.score_ids, x), lengths))
            if len(pending) > workers:  # all workers busy and one more batch ready: hand out the oldest
                batch, live, future, lengths = pending.popleft()
                yield batch, live, future.result(), lengths
        while pending:
            batch, live, future, lengths = pending.popleft()
            yield batch, live, future.result(), lengths
