"""The config schema: every setting's type, allowed values and default, in one place.

`configs/default.yaml` is this schema rendered (`sentiment config --defaults` writes it, and a test
checks the two agree), so a default is changed here and nowhere else. Other YAML files and
`--set section.key=value` overrides are merged on top and validated against the same schema:
unknown keys, wrong types and out-of-range values fail with the key's dotted path.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Iterable

from sentiment_cli.errors import ConfigError

# Keras' Tokenizer default filters: punctuation, tab and newline become separators.
KERAS_FILTERS = '!"#$%&()*+,-./:;<=>?@[\\]^_`{|}~\t\n'


def _opt(default: Any, doc: str, *, kind: type | tuple[type, ...] | None = None,
         choices: tuple[Any, ...] | None = None, low: float | None = None,
         high: float | None = None, low_open: bool = False, nullable: bool = False,
         auto: bool = False, nonempty: bool = False) -> Any:
    """A dataclass field that carries its own validation rules and documentation.

    `auto`: the value may also be the string "auto", resolved from the training data at train time
    (auto.py) and written resolved into the model directory's config.yaml. `nonempty`: a string
    that may not be empty.
    """
    kind = kind if kind is not None else type(default)
    meta = {"doc": doc, "kind": kind, "choices": choices, "low": low, "high": high,
            "low_open": low_open, "nullable": nullable, "auto": auto, "nonempty": nonempty}
    return field(default=default, metadata=meta)


@dataclass
class TokenizerConfig:
    """Text -> integer ids -> fixed-length rows, with Keras Tokenizer/pad_sequences semantics."""

    num_words: int | str = _opt("auto", "keep word ids below this (Keras semantics: num_words-1 words, "
                                "0 is padding); auto: every word in at least 2 training texts, at most 50,000",
                                kind=int, low=2, high=1_000_000, auto=True)
    oov: str | None = _opt("<OOV>", "out-of-vocabulary token (id 1); null drops unknown words, "
                           "as Keras does without oov_token", kind=str, nullable=True)
    vocabulary: str = _opt("training", "which texts the vocabulary is counted on: the training rows, or those "
                           "and the --unlabeled texts (training_and_unlabeled: words seen only there get ids "
                           "and word vectors, so they carry meaning at predict time; num_words: auto counts "
                           "documents of both)", choices=("training", "training_and_unlabeled"))
    lower: bool = _opt(True, "lower-case before splitting")
    filters: str = _opt(KERAS_FILTERS, "characters turned into separators")
    split: str = _opt(" ", "word separator", nonempty=True)
    strip_html: bool = _opt(True, "turn HTML tags such as <br /> into spaces before splitting")
    symbols: bool | str = _opt("auto", "keep '!', '?', emoticons (:) ;-( :D <3) and emoji as words of their own "
                               "instead of separators; false: Keras' splitting exactly; auto: on for short texts "
                               "(median training text at most 40 words, as model.wide_subwords: on SemEval tweets "
                               "validation +0.2 points binary, +1.1 3-class), off for reviews (mixed there)",
                               kind=bool, auto=True)
    maxlen: int | str = _opt("auto", "tokens per review after padding/truncation; auto: the 95th "
                             "percentile of training lengths, rounded up to 16, within 16..256",
                             kind=int, low=1, high=10_000, auto=True)
    padding: str = _opt("post", "where padding zeros go (post: after the words, which masking and "
                        "length bucketing need to be exact)", choices=("pre", "post"))
    truncating: str = _opt("pre", "which end of a long review is cut (pre keeps the ending)",
                           choices=("pre", "post"))


@dataclass
class ModelConfig:
    """Embedding -> recurrent layer(s) -> pooling -> Dense(1, sigmoid), beside an n-gram branch."""

    embedding_dim: int | str = _opt(32, "embedding vector size (32: on IMDB validation rows the recurrent branch "
                                    "scored 0.898 at 32 and 0.896 at 64, each epoch in half the time); auto: the "
                                    "dimension of model.vectors (embedding_init=vectors only)",
                                    kind=int, low=1, high=1024, auto=True)
    cell: str = _opt("lstm", "recurrent cell", choices=("lstm", "gru", "simple_rnn"))
    units: int = _opt(32, "units per recurrent layer (per direction)", low=1, high=1024)
    bidirectional: bool = _opt(False, "run each recurrent layer both ways")
    layers: int = _opt(1, "stacked recurrent layers", low=1, high=8)
    embedding_init: str = _opt("ppmi_svd", "how the embedding starts: random (Keras' uniform init), or "
                               "ppmi_svd: word vectors computed from the training texts' word "
                               "co-occurrences (PPMI + SVD, word_vectors.py), then fine-tuned; vectors: the "
                               "file model.vectors (GloVe, word2vec text or binary, fastText .vec; gzip allowed; "
                               "words without a vector start near the vectors' mean)",
                               choices=("random", "ppmi_svd", "vectors"))
    vectors: str | None = _opt(None, "pretrained word vector file for embedding_init=vectors (read streaming, only "
                               "the vocabulary's words kept; matched exactly, then lower-cased)", kind=str,
                               nullable=True, nonempty=True)
    embedding_trainable: bool = _opt(True, "fine-tune the embedding in training (false freezes the starting "
                                     "vectors)")
    embedding_window: int = _opt(10, "co-occurrence window, in tokens each side, for embedding_init=ppmi_svd",
                                 low=1, high=50)
    embedding_dropout: float = _opt(0.5, "drop whole embedding channels (SpatialDropout1D): the "
                                    "embedding is most of the parameters and overfits first",
                                    kind=(int, float), low=0.0, high=0.95)
    dropout: float = _opt(0.5, "dropout before the output layer", kind=(int, float), low=0.0, high=0.95)
    recurrent_dropout: float = _opt(0.0, "dropout on recurrent state; > 0 rules out cuDNN on GPU",
                                    kind=(int, float), low=0.0, high=0.95)
    pooling: str = _opt("max_avg", "how the sequence becomes one vector: last state, or max/avg over "
                        "time", choices=("last", "max", "avg", "max_avg"))
    mask: bool = _opt(True, "mask padding ids in the recurrent layers, so that padding is never read "
                      "and length bucketing is exact")
    wide: str = _opt("nb_tfidf+tfidf", "a linear branch beside the recurrent one (wide & deep): tfidf is logistic "
                     "regression over word 1-2 gram TF-IDF of the same tokens, nb_tfidf the same with each "
                     "n-gram scaled by its naive Bayes log-count ratio (NBSVM), nb_tfidf+tfidf the average "
                     "of those two models' logits (one linear model; 5-fold CV on the training rows of ten "
                     "dev datasets: at least nb_tfidf's accuracy on nine, mean 0.807 vs 0.803); "
                     "the two branches' logits are combined "
                     "by a Dense layer fitted on the validation split, which keeps either branch alone "
                     "when that scores better there (ngrams.py, training.fit_combiner); none: the "
                     "recurrent model alone", choices=("none", "tfidf", "nb_tfidf", "nb_tfidf+tfidf"))
    wide_ngrams: int = _opt(2, "longest word n-gram of the wide branch", low=1, high=2)
    wide_subwords: bool | str = _opt("auto", "add the character 2-5 grams of each vocabulary word (word boundaries "
                                     "marked, as scikit-learn's char_wb) to the wide branch, a second TF-IDF block "
                                     "with its own norm; auto: on for short texts (median training text at most 40 "
                                     "tokens: tweets, sentences, titles) while the block fits in wide_max_tokens "
                                     "without sampling rows, off for reviews (bench/bench_subword_cv.py: +0.4 to "
                                     "+1.6 points on tweets and sentences, mixed on reviews, at 6-9 times the "
                                     "branch's entries per row)", kind=bool, auto=True)
    wide_min_df: int = _opt(2, "n-grams in fewer training texts than this are left out", low=1)
    wide_max_features: int = _opt(200_000, "at most this many n-grams, the most frequent", low=1,
                                  high=10_000_000)
    wide_max_tokens: int = _opt(16_000_000, "the wide branch is fitted on a seeded random sample of whole training "
                                "texts of about this many tokens when they hold more (the recurrent branch "
                                "trains on all): liblinear holds the whole n-gram matrix, ~0.75 GB per 10 "
                                "million tokens, so memory stays bounded on large files (16 million: ~70,000 "
                                "IMDB reviews, ~800,000 tweets; with wide_subwords a tenth of it, as the block "
                                "holds up to ~10 times the entries)", low=100_000, high=10_000_000_000)
    wide_maxlen: int | str = _opt("auto", "tokens of each text the wide branch reads, when that is more than "
                                  "tokenizer.maxlen (the recurrent branch reads tokenizer.maxlen of them, cut as "
                                  "tokenizer.truncating says); auto: the longest training text, rounded up to 64, "
                                  "within tokenizer.maxlen..4,096 (on 1,600 IMDB reviews of 500+ words the n-gram "
                                  "branch scored 0.84 reading 400 tokens, 0.86 reading them all)",
                                  kind=int, low=1, high=100_000, auto=True)
    wide_c: float | str = _opt("auto", "inverse L2 strength of the wide branch's logistic regression; auto: "
                               "the best of 2, 4, 8, 16 by 5-fold cross-validation on the training rows; 4 above 20,000 rows", kind=(int, float),
                               low=0.0, low_open=True, auto=True)
    wide_refit: bool = _opt(True, "once its C is chosen, fit the wide branch again on the training and "
                            "validation rows together, for up to 20,000 training rows (10% more data; the "
                            "combiner, threshold and validation metrics come from the first fit, which never "
                            "saw the validation rows)")


@dataclass
class TrainingConfig:
    """Optimizer, schedule and the decisions made on the validation split."""

    optimizer: str = _opt("adam", "optimizer", choices=("adam", "adamw", "rmsprop", "sgd"))
    learning_rate: float = _opt(0.003, "optimizer step size", kind=(int, float), low=0.0, low_open=True)
    clipnorm: float | None = _opt(1.0, "clip each gradient's norm (against exploding gradients); "
                                  "null turns it off", kind=(int, float), low=0.0, low_open=True,
                                  nullable=True)
    batch_size: int | str = _opt("auto", "reviews per step (per replica under a distribution strategy); "
                                 "auto: a power of two near training rows / 40, within 32..256",
                                 kind=int, low=1, high=1_000_000, auto=True)
    epochs: int | str = _opt("auto", "maximum passes over the training data (early stopping ends most "
                             "runs sooner); auto: enough for about 1,500 steps, within 4..30",
                             kind=int, low=1, high=100_000, auto=True)
    validation_split: float = _opt(0.1, "stratified fraction of training rows held out",
                                   kind=(int, float), low=0.0, high=0.5, low_open=True)
    early_stopping_patience: int | str | None = _opt(
        "auto", "epochs without validation-loss improvement before stopping (best weights are "
        "restored); null turns early stopping off; auto: 1 with 1,000 validation rows or more, else 2",
        kind=int, low=0, nullable=True, auto=True)
    seed: int = _opt(1337, "seed for the split, shuffling and weight initialisation", low=0, high=2**32 - 1)
    bucketing: bool = _opt(True, "batch reviews of similar length together to cut padding work; "
                           "used only where exact (model.mask with post-padding, see README)")
    threshold: str | float = _opt(0.5, "decision threshold: a number, or 'f1' / 'youden' to "
                                  "choose it on the validation split", kind=(str, int, float))
    calibrate: str = _opt("none", "fit temperature scaling on the validation split",
                          choices=("none", "temperature"))
    class_weight: str = _opt("auto", "weight training rows by their class: balanced by 1 / class count "
                             "(scikit-learn's), sqrt_balanced by 1 / sqrt(class count), none; auto: none with two "
                             "classes, sqrt_balanced with more (on the three multi-class dev sets' validation "
                             "splits: mean accuracy 0.683 vs 0.680 unweighted, macro-F1 0.631 vs 0.608)",
                             choices=("none", "balanced", "sqrt_balanced"), auto=True)
    distribution: str = _opt("none", "tf.distribute strategy: none (one device), mirrored (all "
                             "local GPUs, training.devices, or the logical CPUs), multi_worker "
                             "(machines from TF_CONFIG)", choices=("none", "mirrored", "multi_worker"))
    devices: list | None = _opt(None, "devices for distribution=mirrored, e.g. [GPU:0, GPU:1]; "
                                "null means every local GPU", kind=list, nullable=True)
    mixed_precision: bool = _opt(False, "mixed_float16 compute on GPU (output layer stays float32)")


@dataclass
class DataConfig:
    """Which columns hold the text and label, and how label values become classes."""

    text_column: str = _opt("text", "column with the review text", nonempty=True)
    label_column: str = _opt("label", "column with the label (two or more distinct values)", nonempty=True)
    positive_label: str | None = _opt(None, "with two classes, the label value of the positive class; null "
                                      "guesses (positive/pos/1/true/yes), else the larger sorted value",
                                      kind=str, nullable=True)
    labels: list | None = _opt(None, "the classes in order, e.g. [negative, neutral, positive] (with two: "
                               "[negative, positive]); null: numeric labels in numeric order, others sorted",
                               kind=list, nullable=True)
    ordinal: bool | str = _opt("auto", "the classes are ranked (stars): evaluate adds mean absolute error, "
                               "macro MAE and off-by-one accuracy; auto: when every label is a number",
                               kind=bool, auto=True)

    def label_options(self) -> dict[str, Any]:
        """data.load_labeled's keyword arguments for a training file."""
        return {"positive_label": self.positive_label, "labels": self.labels,
                "ordinal": None if self.ordinal == "auto" else bool(self.ordinal)}


SECTIONS: dict[str, type] = {"tokenizer": TokenizerConfig, "model": ModelConfig,
                             "training": TrainingConfig, "data": DataConfig}


@dataclass
class Config:
    """A validated config; build it with `load_config`, not by hand, to get the checks."""

    tokenizer: TokenizerConfig = field(default_factory=TokenizerConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    training: TrainingConfig = field(default_factory=TrainingConfig)
    data: DataConfig = field(default_factory=DataConfig)

    def to_dict(self) -> dict[str, dict[str, Any]]:
        return asdict(self)


def _nearest(name: str, options: Iterable[str]) -> str:
    match = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


def _check_value(path: str, value: Any, meta: dict[str, Any]) -> Any:
    """Return `value` if it satisfies the field's rules, else raise ConfigError naming `path`."""
    if value is None:
        if meta["nullable"]:
            return None
        raise ConfigError(f"config key '{path}' may not be null", "Give it a value or delete the line")
    if meta.get("auto") and value == "auto":
        return value
    kind = meta["kind"]
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if float in kinds and str not in kinds and isinstance(value, str):
        # PyYAML follows YAML 1.1, where 1e-4 (no dot) is a string, not a number.
        try:
            value = float(value)
        except ValueError:
            pass
    # bool is an int in Python; "epochs: true" is still a mistake.
    if isinstance(value, bool) and bool not in kinds:
        ok = False
    else:
        ok = isinstance(value, kinds)
    if not ok:
        names = " or ".join("number" if k is float else k.__name__ for k in kinds if k is not int or float not in kinds)
        names += " or 'auto'" if meta.get("auto") else ""
        hint = "Fix the value in the YAML file or --set"
        if str in kinds and isinstance(value, (bool, int, float)):
            # YAML reads 1, 1.5 and yes as a number or a boolean; a label or a column name is text.
            shown = str(value).lower() if isinstance(value, bool) else str(value)
            hint = f"Quote it to make it text: {path.split('.')[1]}: \"{shown}\" in YAML, or --set '{path}=\"{shown}\"'"
        raise ConfigError(f"config key '{path}' must be {names}, got {type(value).__name__} {value!r}", hint)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
        value = float(value)
    if isinstance(value, float) and not math.isfinite(value):
        # NaN compares false with every bound, so without this it would pass every range check.
        raise ConfigError(f"config key '{path}' is {value}, must be a finite number", "Fix the value")
    if meta.get("nonempty") and isinstance(value, str) and not value:
        raise ConfigError(f"config key '{path}' is empty", "Give it a value or delete the line")
    if meta["choices"] is not None and value not in meta["choices"]:
        choices = ", ".join(map(str, meta["choices"]))
        raise ConfigError(f"config key '{path}' is {value!r}{_nearest(str(value), map(str, meta['choices']))}",
                          f"Choose one of: {choices}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        low, high = meta["low"], meta["high"]
        if low is not None and (value < low or (meta["low_open"] and value == low)):
            bound = f"> {low}" if meta["low_open"] else f">= {low}"
            raise ConfigError(f"config key '{path}' is {value}, must be {bound}", "Fix the value")
        if high is not None and value > high:
            raise ConfigError(f"config key '{path}' is {value}, must be <= {high}", "Fix the value")
    return value


def _check_threshold(value: Any) -> str | float:
    """training.threshold: a probability in (0, 1) or the name of a selection rule."""
    if isinstance(value, str):
        if value in ("f1", "youden"):
            return value
        try:
            value = float(value)
        except ValueError:
            raise ConfigError(f"config key 'training.threshold' is {value!r}",
                              "Use a number between 0 and 1, 'f1' or 'youden'") from None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"config key 'training.threshold' must be a number, 'f1' or 'youden', got "
                          f"{type(value).__name__}", "Use a number between 0 and 1, 'f1' or 'youden'")
    if not 0.0 < float(value) < 1.0:  # also refuses NaN
        raise ConfigError(f"config key 'training.threshold' is {value}, must be between 0 and 1",
                          "Use a number between 0 and 1, 'f1' or 'youden'")
    return float(value)


MAX_DEVICES = 1024


def _check_devices(value: Any) -> list[str] | None:
    """training.devices: null, or a flat list of device names such as GPU:0."""
    hint = "Write a list of device names, e.g. devices: [GPU:0, GPU:1]"
    if value is None:
        return None
    if not isinstance(value, list):
        raise ConfigError(f"config key 'training.devices' must be a list, got {type(value).__name__}", hint)
    if len(value) > MAX_DEVICES:
        raise ConfigError(f"config key 'training.devices' lists {len(value)} devices (at most {MAX_DEVICES})", hint)
    for item in value:
        if not isinstance(item, str) or not item.strip():
            raise ConfigError(f"config key 'training.devices' holds {type(item).__name__} {str(item)[:40]!r}, "
                              "not a device name", hint)
    return list(value)


def _check_labels(value: Any) -> list[str] | None:
    """data.labels: null, or two or more distinct label values (numbers are read as their text)."""
    hint = "Write the classes in order, e.g. labels: [negative, neutral, positive]"
    if value is None:
        return None
    if not isinstance(value, list):
        raise ConfigError(f"config key 'data.labels' must be a list, got {type(value).__name__}", hint)
    names = []
    for item in value:
        if isinstance(item, (dict, list)) or item is None or (isinstance(item, str) and not item.strip()):
            raise ConfigError(f"config key 'data.labels' holds {item!r}, not a label value", hint)
        names.append(str(item).lower() if isinstance(item, bool) else str(item).strip())
    if len(names) < 2 or len(set(names)) != len(names):
        raise ConfigError(f"config key 'data.labels' must list two or more distinct values, got {names}", hint)
    return names


# The embedding matrix is num_words x embedding_dim floats, and Adam keeps two more of the same size:
# beyond this the run would fail (or swap) only after the data is read and training has started.
MAX_EMBEDDING_PARAMS = 100_000_000


def _check_sizes(config: dict[str, dict[str, Any]]) -> None:
    """Limits that involve two keys, checked once every layer is merged."""
    num_words, dim = config["tokenizer"]["num_words"], config["model"]["embedding_dim"]
    if isinstance(num_words, int) and isinstance(dim, int) and num_words * dim > MAX_EMBEDDING_PARAMS:
        raise ConfigError(f"tokenizer.num_words={num_words:,} x model.embedding_dim={dim:,} makes an embedding of "
                          f"{num_words * dim:,} parameters (at most {MAX_EMBEDDING_PARAMS:,})",
                          "Lower num_words (or use num_words: auto) or embedding_dim")


def _merge(config: dict[str, dict[str, Any]], update: Any, source: str) -> None:
    """Validate `update` (a parsed YAML mapping) and merge it into `config` in place."""
    if update is None:
        return
    if not isinstance(update, dict):
        raise ConfigError(f"{source} must be a mapping of sections ({', '.join(SECTIONS)}), "
                          f"got {type(update).__name__}", "See configs/default.yaml for the layout")
    for section, values in update.items():
        if section not in SECTIONS:
            raise ConfigError(f"unknown config section '{section}' in {source}{_nearest(str(section), SECTIONS)}",
                              f"Sections are: {', '.join(SECTIONS)}")
        if values is None:
            continue
        if not isinstance(values, dict):
            raise ConfigError(f"config section '{section}' in {source} must be a mapping",
                              "Indent its keys under it, as in configs/default.yaml")
        known = {f.name: f for f in fields(SECTIONS[section])}
        for key, value in values.items():
            path = f"{section}.{key}"
            if key not in known:
                raise ConfigError(f"unknown config key '{path}' in {source}{_nearest(str(key), known)}",
                                  f"Keys of '{section}': {', '.join(known)}")
            if path == "training.threshold":
                config[section][key] = _check_threshold(value)
            elif path == "training.devices":
                config[section][key] = _check_devices(value)
            elif path == "data.labels":
                config[section][key] = _check_labels(value)
            else:
                config[section][key] = _check_value(path, value, dict(known[key].metadata))


def parse_override(item: str) -> dict[str, dict[str, Any]]:
    """Turn 'section.key=value' into {'section': {'key': value}}; the value is read as YAML."""
    import yaml

    key, sep, raw = item.partition("=")
    parts = key.strip().split(".")
    if not sep or len(parts) != 2 or not all(parts):
        raise ConfigError(f"override '{item}' is not of the form section.key=value",
                          "Write it like --set training.epochs=1")
    try:
        value = safe_load(raw) if raw.strip() else raw
    except yaml.YAMLError:
        value = raw
    if isinstance(value, str):
        try:  # YAML 1.1 reads 1e-4 as a string; on the command line it is clearly a number
            value = float(value) if any(c in value.lower() for c in ".e") else value
        except ValueError:
            pass
    return {parts[0]: {parts[1]: value}}


MAX_CONFIG_BYTES = 1_000_000  # a config is a few dozen lines; anything this big is not one


def safe_load(text: str) -> Any:
    """yaml.safe_load without anchors and aliases (ConfigError at the first one).

    A config needs neither, and ten lines of nested aliases expand to gigabytes (the YAML
    "billion laughs"): refusing them at parse time keeps the size of a config its size on disk.
    """
    import yaml

    class NoAliasLoader(yaml.SafeLoader):
        def compose_node(self, parent: Any, index: Any) -> Any:
            event = self.peek_event()
            if isinstance(event, yaml.AliasEvent) or getattr(event, "anchor", None) is not None:
                mark = event.start_mark
                raise ConfigError(f"YAML anchors and aliases (&{event.anchor}, *{event.anchor}) are not allowed in a "
                                  f"config (line {mark.line + 1}, column {mark.column + 1})",
                                  "Write each value out in full")
            return super().compose_node(parent, index)

    loader = NoAliasLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def read_yaml(path: str | Path) -> Any:
    """Parse a YAML file, turning I/O and syntax problems into ConfigError."""
    import yaml

    path = Path(path)
    if not path.exists():
        raise ConfigError(f"config file '{path}' does not exist", "Check the path given to --config")
    if path.is_dir():
        raise ConfigError(f"config path '{path}' is a directory", "Give a YAML file to --config")
    try:
        if path.stat().st_size > MAX_CONFIG_BYTES:
            raise ConfigError(f"config file '{path}' is {path.stat().st_size:,} bytes (at most "
                              f"{MAX_CONFIG_BYTES:,})", "Give a YAML config file to --config")
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read config file '{path}': {exc}", "Save it as UTF-8 text") from None
    try:
        return safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or "syntax error"
        raise ConfigError(f"invalid YAML in '{path}'{where}: {problem}",
                          "Fix the syntax (indentation, colons, quotes)") from None


def build_config(layers: Iterable[tuple[Any, str]] = ()) -> Config:
    """Defaults, then each (mapping, source-name) layer in order, each validated before merging."""
    merged = Config().to_dict()
    for update, source in layers:
        _merge(merged, update, source)
    _check_sizes(merged)
    return Config(**{name: SECTIONS[name](**values) for name, values in merged.items()})


def load_config(path: str | Path | None = None, overrides: Iterable[str] = ()) -> Config:
    """Defaults <- YAML file at `path` <- each `section.key=value` override, validated."""
    layers: list[tuple[Any, str]] = []
    if path is not None:
        layers.append((read_yaml(path), str(path)))
    layers += [(parse_override(item), f"--set {item}") for item in overrides]
    return build_config(layers)


def render_yaml(config: Config | None = None, header: str | None = None) -> str:
    """The config as commented YAML: each key with its doc, in schema order."""
    import yaml

    config = config or Config()
    lines = [f"# {line}" for line in (header or "").splitlines()]
    for name, cls in SECTIONS.items():
        lines.append(f"{name}:  # {cls.__doc__}")
        section = getattr(config, name)
        for f in fields(cls):
            value = yaml.safe_dump({f.name: getattr(section, f.name)}, default_flow_style=True,
                                   width=10_000, allow_unicode=True).strip()[1:-1]
            lines.append(f"  {value}  # {f.metadata['doc']}")
        lines.append("")
    return "\n".join(lines)
