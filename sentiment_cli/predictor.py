"""The light inference path: tokenizer + numpy padding + ONNX Runtime, never TensorFlow.

`Predictor.from_dir(model_dir)` is all a Spark, Ray or Dask worker needs: it loads three small
files and an ONNX session in well under a second and scores batches of raw strings. A directory
without `model.onnx` (older, or imported) falls back to Keras, with a note on stderr.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from sentiment_cli import artifacts
from sentiment_cli.data import LabelEncoding
from sentiment_cli.errors import ArtifactError
from sentiment_cli.metrics import apply_temperature
from sentiment_cli.ngrams import NgramFeatures, model_inputs
from sentiment_cli.tokenizer import Tokenizer

log = logging.getLogger("sentiment")
# Inference calls that may run at once, each on one core (see Predictor.threads). On 2 cores
# bench/bench_predict.py found one ONNX Runtime thread per call, two calls at once, fastest: whole
# batches in parallel need no per-step synchronisation and overlap with the Python thread's work.
DEFAULT_THREADS = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4)


@dataclass
class Decision:
    """How a probability becomes a label: stored at train time in labels.json."""

    encoding: LabelEncoding
    threshold: float = 0.5
    temperature: float = 1.0

    @classmethod
    def load(cls, path: Path, data: dict[str, Any] | None = None) -> "Decision":
        """From labels.json at `path` (or its already-read contents, `data`)."""
        data = artifacts.read_json(path) if data is None else data
        if isinstance(data, dict):
            check_labels(path, data)  # first: its messages name the bad key
        try:
            decision = cls(LabelEncoding.from_dict(data), float(data.get("threshold", 0.5)),
                           float(data.get("temperature", 1.0)))
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"'{path}' has an unexpected layout ({exc})", "Re-train the model") from None
        check_labels(path, data)
        return decision

    def to_dict(self) -> dict[str, Any]:
        """labels.json's decision entries; a K >= 3 model has no threshold (the top class wins)."""
        if not self.encoding.binary:
            return {**self.encoding.to_dict(), "temperature": self.temperature}
        return {**self.encoding.to_dict(), "threshold": self.threshold, "temperature": self.temperature}


def check_labels(path: Path, data: dict[str, Any]) -> None:
    """Refuse a labels.json whose values would flip labels, print NaN or fail mid-stream."""
    import math

    def bad(key: str, why: str) -> ArtifactError:
        return ArtifactError(f"'{path}' has {key}={data.get(key)!r}, {why}", "Restore labels.json or re-train the model")

    if "classes" in data:
        classes = data["classes"]
        if (not isinstance(classes, list) or len(classes) < 3
                or not all(isinstance(c, str) and c for c in classes)):
            raise bad("classes", "not a list of three or more label values")
        if len(set(classes)) != len(classes):
            raise bad("classes", "listing a label value twice")
        if "ordinal" in data and not isinstance(data["ordinal"], bool):
            raise bad("ordinal", "not true or false")
    else:
        for key in ("negative", "positive"):
            if not isinstance(data.get(key), str) or not data[key]:
                raise bad(key, "not a label value (a non-empty string)")
        if data["negative"] == data["positive"]:
            raise bad("positive", "the same as the negative label")
    for key, default in (("threshold", 0.5), ("temperature", 1.0)):
        value = data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise bad(key, "not a finite number")
    if not 0.0 <= data.get("threshold", 0.5) <= 1.0:
        raise bad("threshold", "outside [0, 1]")
    if not data.get("temperature", 1.0) > 0:
        raise bad("temperature", "not > 0")
    if "trim_padding" in data and not isinstance(data["trim_padding"], bool):
        raise bad("trim_padding", "not true or false")
    for key in ("text_column", "label_column"):
        if key in data and not (isinstance(data[key], str) and data[key]):
            raise bad(key, "not a column name")


def trim_padding(x: np.ndarray, padding: str) -> np.ndarray:
    """`x` without the columns that are padding (0) in every row, keeping at least one column.

    For a model that masks padding (model.mask with post-padding: see training.bucketing_is_exact)
    the scores are unchanged, and a batch of short texts costs its own length instead of maxlen
    steps: one review from stdin, `--explain`'s variants of one review, short texts in general.
    """
    width = max(int(row_lengths(x, padding).max(initial=0)), 1)
    return x[:, :width] if padding == "post" else x[:, x.shape[1] - width:]


def row_lengths(x: np.ndarray, padding: str) -> np.ndarray:
    """Each row's width without its padding (0 for an all-padding row)."""
    nonzero = x != 0
    edge = nonzero[:, ::-1] if padding == "post" else nonzero
    return np.where(nonzero.any(axis=1), x.shape[1] - np.argmax(edge, axis=1), 0)


def trimming_is_exact(score: Callable[[np.ndarray], np.ndarray], x: np.ndarray, padding: str,
                      tolerance: float, group: int = 16) -> bool:
    """Whether scoring `x` in small groups, each trimmed, gives `score(x)`'s scores within `tolerance`.

    Train time proves it on real rows, for the exported runtime, before labels.json allows it.
    """
    if len(x) == 0:
        return False
    full = np.asarray(score(x)).reshape(-1)  # K scores per row are compared row-major, group by group
    parts = [np.asarray(score(np.ascontiguousarray(trim_padding(x[i:i + group], padding)))).reshape(-1)
             for i in range(0, len(x), group)]
    return bool(np.max(np.abs(np.concatenate(parts) - full)) <= tolerance)


def onnx_runner(path: Path, threads: int, features: NgramFeatures | None = None,
                data: bytes | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Id rows -> scores on an ONNX Runtime session; `features` computes a wide & deep model's n-gram
    inputs from the same rows (ngrams.model_inputs). `data`: the file's bytes, already read and
    verified (the session is built from them, not from whatever is at `path` by now)."""
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = threads
    opts.inter_op_num_threads = 1
    opts.log_severity_level = 3
    try:
        session = ort.InferenceSession(str(path) if data is None else data, sess_options=opts,
                                       providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for a bad file
        raise ArtifactError(f"cannot load '{path}' ({str(exc).splitlines()[0]})",
                            "Restore model.onnx or re-train the model") from None
    names = [i.name for i in session.get_inputs()]
    if (len(names) > 1) != (features is not None):
        raise ArtifactError(f"'{path}' takes inputs {', '.join(names)}, which do not match the model "
                            f"directory's {artifacts.FEATURES}", "Restore the model directory or re-train the model")
    if features is None:
        name = names[0]
        return lambda x: as_scores(session.run(None, {name: x})[0], len(x))

    def run(x: np.ndarray) -> np.ndarray:
        inputs = model_inputs(x, features)
        return as_scores(session.run(None, {n: inputs[n] for n in names})[0], len(x))

    return run


def check_output_width(runner: Callable[[np.ndarray], np.ndarray], encoding: LabelEncoding, path: Path) -> None:
    """Refuse a model whose outputs do not match labels.json's classes (one score for two classes,
    K for K): one 1-token row scored, well under a millisecond on ONNX Runtime."""
    scores = np.asarray(runner(np.ones((1, 1), dtype=np.int32)))
    width = 1 if scores.ndim == 1 else scores.shape[1]
    if width != (1 if encoding.binary else encoding.n_classes):
        raise ArtifactError(f"'{path}' gives {width} score(s) per text, but labels.json names {encoding.n_classes} "
                            "classes", "Restore the model directory or re-train the model")


def keras_runner(path: Path, features: NgramFeatures | None = None,
                 data: bytes | None = None) -> Callable[[np.ndarray], np.ndarray]:
    """Id rows -> scores with the .keras model at `path` (or its verified bytes, `data`)."""
    from sentiment_cli.training import quiet_tensorflow

    quiet_tensorflow()
    if data is None:
        model = load_keras_model(path)
    else:  # Keras loads from a path: a private copy of exactly the bytes that were verified
        import shutil
        import tempfile

        tmp = Path(tempfile.mkdtemp(prefix="sentiment-load-"))
        try:
            (tmp / path.name).write_bytes(data)
            model = load_keras_model(tmp / path.name)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return lambda x: as_scores(model.predict(model_inputs(x, features), batch_size=len(x) or 1, verbose=0),
                               len(x))


def as_scores(out: Any, n: int) -> np.ndarray:
    """A model's output for `n` rows: (n,) positive-class scores from the sigmoid head, (n, K)
    class probabilities from the softmax one."""
    out = np.asarray(out)
    width = out.shape[-1] if out.ndim == 2 else 1
    out = out.reshape(n, width)
    return out.reshape(-1) if width == 1 else out


def _features(files: artifacts.ModelFiles) -> NgramFeatures | None:
    """The wide branch's n-gram features (features.json), from one verified read, if the model has
    them (the manifest says)."""
    path = files.directory / artifacts.FEATURES
    if artifacts.FEATURES not in files.recorded:
        return None
    if not files.exists(artifacts.FEATURES):
        raise ArtifactError(f"'{path}' is missing", "Restore the model directory or re-train the model")
    try:
        return NgramFeatures.from_dict(files.read_json(artifacts.FEATURES))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ArtifactError(f"'{path}' has an unexpected layout ({exc})", "Re-train the model") from None


# Keras layers whose config carries code or points outside the file (pickled torch modules, a
# SavedModel path, JAX functions): refused by name before Keras reads anything.
CODE_LAYERS = ("Lambda", "TorchModuleWrapper", "TFSMLayer", "JaxLayer", "FlaxLayer")
# Structural markers Keras writes with module None; '__lambda__' (Python bytecode) is not among them.
_MARKERS = ("__keras_tensor__", "__tuple__", "__numpy__", "__bytes__", "__tensor__", "__typespec__",
            "__ellipsis__", "__slice__", "__ragged_tensor__", "__sparse_tensor__")


def code_objects(config: Any, found: list[str] | None = None) -> list[str]:
    """Names of the objects in a Keras model config that would run code: Lambda layers, serialized
    lambdas, and classes or functions from modules other than Keras' own."""
    found = [] if found is None else found
    if isinstance(config, dict):
        cls, module = config.get("class_name"), config.get("module")
        if isinstance(cls, str):
            name = (config.get("config") or {}).get("name") if isinstance(config.get("config"), dict) else None
            label = f"{cls} layer {name!r}" if name else cls
            if cls in CODE_LAYERS or cls == "__lambda__":
                found.append(label if cls != "__lambda__" else "a serialized Python lambda")
            elif module is None and cls.startswith("__") and cls not in _MARKERS:
                found.append(cls)
            elif isinstance(module, str) and not (module == "keras" or module.startswith("keras.")):
                found.append(f"{cls} from module {module!r}")
        for value in config.values():
            code_objects(value, found)
    elif isinstance(config, list):
        for value in config:
            code_objects(value, found)
    return found


def _refuse_code(path: Path) -> None:
    """Read config.json out of the .keras zip (no Keras) and refuse anything that runs code."""
    import json
    import zipfile

    try:
        with zipfile.ZipFile(path) as zf:
            config = json.loads(zf.read("config.json"))
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        reason = "not a .keras zip archive" if isinstance(exc, zipfile.BadZipFile) else str(exc)[:200]
        raise ArtifactError(f"cannot load '{path}' ({reason})", "Restore model.keras or re-train the model") from None
    found = code_objects(config)
    if found:
        raise ArtifactError(f"'{path}' contains code ({found[0]}) and will not be loaded",
                            "Only load models you trust; this tool never runs code from a model file")


def load_keras_model(path: Path) -> Any:
    """Load a .keras file with safe_mode on: a Lambda layer or other custom code is refused.

    Two locks: our own scan of the archive's config (which names the offending layer), then
    Keras' safe_mode, which refuses Python bytecode should anything get past the scan.
    """
    _refuse_code(Path(path))
    import keras

    try:
        return keras.saving.load_model(path, safe_mode=True, compile=False)
    except ValueError as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text or "lambda" in text:
            raise ArtifactError(f"'{path}' contains code (a Lambda layer or custom object) and will not be "
                                "loaded", "Only load models you trust; this tool never runs code from a model file") from None
        raise ArtifactError(f"cannot load '{path}' ({text.splitlines()[0][:200]})",
                            "Restore model.keras or re-train the model") from None
    except (OSError, KeyError, TypeError) as exc:
        raise ArtifactError(f"cannot load '{path}' ({str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__})",
                            "Restore model.keras or re-train the model") from None
    except Exception as exc:  # zipfile.BadZipFile and friends from a damaged archive
        raise ArtifactError(f"cannot load '{path}' ({type(exc).__name__}: {str(exc)[:200]})",
                            "Restore model.keras or re-train the model") from None


# Texts per batch that predict/evaluate tokenize and hand to one scoring thread, and rows per ONNX
# call when such a batch is scored by length (Predictor._run_by_length). The exported LSTM is an
# ONNX Loop that pays a fixed cost per time step and call, so fewer, length-sorted calls win: on the
# default model, 6,000 test reviews scored in 1.83 s as 128-row full-width batches, 1.13 s as
# 512-row batches in length-sorted calls of 128, 1.08 s with 1,024-row batches (one thread).
DEFAULT_BATCH_SIZE = 512
LENGTH_GROUP = 128


class Predictor:
    """Raw strings -> positive-class probabilities -> labels, for one model directory.

    `threads` is how many `score_ids` calls may run at once (api.predict_records keeps that many
    batches in flight). The ONNX session runs each call on a single thread and is safe to call
    concurrently; the Keras fallback allows one call at a time and parallelises inside TensorFlow.
    """

    def __init__(self, tokenizer: Tokenizer, decision: Decision, runner: Callable[[np.ndarray], np.ndarray],
                 backend: str, model_dir: Path | None = None, threads: int = 1,
                 trim_padding: bool = False, features: NgramFeatures | None = None) -> None:
        self.tokenizer = tokenizer
        self.decision = decision
        self._run = runner
        self.backend = backend
        self.model_dir = model_dir
        self.threads = max(1, int(threads))
        # labels.json's "trim_padding": train time proved that dropping all-padding columns leaves
        # the scores unchanged (trimming_is_exact), so score_ids skips them.
        self.trim_padding = trim_padding
        self.features = features  # the wide branch's n-gram features (the runner computes them from ids)
        self.columns: tuple[str, str] | None = None  # (text, label) columns of training, from labels.json

    @classmethod
    def from_dir(cls, model_dir: str | Path, *, backend: str = "auto",
                 threads: int = DEFAULT_THREADS) -> "Predictor":
        """Verify and load a model directory; `backend` is auto, onnx or keras.

        Every file is read once, from one generation of the directory (artifacts.load_model_dir):
        a `train --force` replacing it meanwhile gives the old model or the new one, never a mix.
        """
        model_dir = Path(model_dir)
        return artifacts.load_model_dir(model_dir, lambda files: cls._load(files, backend, threads))

    @classmethod
    def _load(cls, files: artifacts.ModelFiles, backend: str, threads: int) -> "Predictor":
        model_dir = files.directory
        onnx_path = model_dir / artifacts.MODEL_ONNX
        use_onnx = backend == "onnx" or (backend == "auto" and files.exists(artifacts.MODEL_ONNX))
        tok_path = model_dir / artifacts.TOKENIZER
        try:
            tokenizer = Tokenizer.from_json(files.read(artifacts.TOKENIZER).decode("utf-8"))
        except UnicodeDecodeError as exc:
            raise ArtifactError(f"cannot read tokenizer file '{tok_path}' ({exc})",
                                "Re-train or restore tokenizer.json") from None
        except ArtifactError as exc:
            if str(tok_path) in exc.message:
                raise
            raise ArtifactError(f"'{tok_path}': {exc.message}", exc.hint) from None
        features = _features(files)
        labels = files.read_json(artifacts.LABELS)
        decision = Decision.load(model_dir / artifacts.LABELS, labels)
        trim = labels.get("trim_padding") is True
        if use_onnx:
            if not files.exists(artifacts.MODEL_ONNX):
                raise ArtifactError(f"'{onnx_path}' is missing", "Use --backend keras or re-train the model")
            runner = onnx_runner(onnx_path, 1, features, data=files.read(artifacts.MODEL_ONNX))
        else:
            if backend == "auto":
                log.warning("no %s in '%s'; using Keras (slower start)", artifacts.MODEL_ONNX, model_dir)
            runner = keras_runner(model_dir / artifacts.MODEL_KERAS, features, data=files.read(artifacts.MODEL_KERAS))
        check_output_width(runner, decision.encoding, model_dir / (artifacts.MODEL_ONNX if use_onnx
                                                                   else artifacts.MODEL_KERAS))
        predictor = cls(tokenizer, decision, runner, "onnx" if use_onnx else "keras", model_dir,
                        threads=threads if use_onnx else 1, trim_padding=trim, features=features)
        # The input columns, from the same labels.json (api.input_columns reads them for old directories).
        columns = labels.get("text_column"), labels.get("label_column")
        predictor.columns = columns if all(isinstance(v, str) and v for v in columns) else None
        return predictor

    @property
    def maxlen(self) -> int:
        return int(self.tokenizer.maxlen or 0)

    @property
    def classes(self) -> tuple[str, ...]:
        return self.decision.encoding.classes

    @property
    def binary(self) -> bool:
        return self.decision.encoding.binary

    def _empty(self) -> np.ndarray:
        return np.zeros(0 if self.binary else (0, len(self.classes)), dtype=np.float64)

    def score_ids(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities for already-encoded rows, clipped to [0, 1]: the positive
        class's (n,) for a binary model, (n, K) in `classes` order for K >= 3."""
        if len(x) == 0:
            return self._empty()
        if not self.trim_padding:
            p = self._run(np.ascontiguousarray(x, dtype=np.int32)).astype(np.float64)
        elif self.backend != "onnx" or len(x) <= LENGTH_GROUP:
            p = self._run(np.ascontiguousarray(trim_padding(x, self.tokenizer.padding), dtype=np.int32))
        else:
            p = self._run_by_length(x)
        return np.clip(apply_temperature(p.astype(np.float64), self.decision.temperature), 0.0, 1.0)

    def _run_by_length(self, x: np.ndarray) -> np.ndarray:
        """Rows sorted by length and scored LENGTH_GROUP at a time, each group cut to its longest row.

        One long review no longer makes a whole batch pay maxlen steps per row: a batch costs
        about its rows' own lengths. Exact wherever trim_padding is (rows never interact).
        """
        padding = self.tokenizer.padding
        order = np.argsort(row_lengths(x, padding), kind="stable")
        p = np.empty(len(x) if self.binary else (len(x), len(self.classes)), dtype=np.float64)
        for i in range(0, len(x), LENGTH_GROUP):
            rows = order[i:i + LENGTH_GROUP]
            p[rows] = self._run(np.ascontiguousarray(trim_padding(x[rows], padding), dtype=np.int32))
        return p

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return self.score_ids(self.tokenizer.encode(texts))

    def score(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """(probabilities, token counts before truncation) for a batch of texts."""
        x, lengths = self.tokenizer.encode_with_lengths(texts)
        return self.score_ids(x), lengths

    def label(self, p: Any, threshold: float | None = None) -> str:
        """The label of one text's score (binary) or class probabilities (K >= 3: the most probable)."""
        if not self.binary:
            return self.classes[int(np.argmax(p))]
        t = self.decision.threshold if threshold is None else threshold
        return self.decision.encoding.name(p >= t)

    def predict(self, texts: Sequence[str], threshold: float | None = None) -> list[dict[str, Any]]:
        """One {'text', 'label', 'score'} record per text, in order; K >= 3: {'text', 'label',
        'scores': {class: probability}}."""
        p = self.predict_proba(texts)
        if not self.binary:
            return [{"text": t, "label": self.label(row), "scores": dict(zip(self.classes, map(float, row)))}
                    for t, row in zip(texts, p)]
        return [{"text": t, "label": self.label(s, threshold), "score": float(s)} for t, s in zip(texts, p)]


def iter_batches(items: Iterable[Any], size: int) -> Iterable[list[Any]]:
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch
