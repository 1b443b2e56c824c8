"""The `sentiment` command line: parse arguments, call one api function, print the result.

No ML code here, and no heavy import at module level: `sentiment --help` and `predict` must start
fast. Errors raised by the library (SentimentError) are printed once, here, as one line on stderr
with the exit code they carry; `--debug` shows the traceback instead.

Exit codes: 0 success; 1 failure (bad data, bad model directory, a --min-accuracy gate not met);
2 usage or config error; 3 internal error (a bug: please report it); 130 interrupted.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from pathlib import Path
from typing import Any, Iterable

import click

from sentiment_cli import __version__
from sentiment_cli.errors import ConfigError, SentimentError

log = logging.getLogger("sentiment")
DEFAULT_MODEL = os.environ.get("SENTIMENT_MODEL", "sentiment-model")
BUNDLED_TRAIN = "data/imdb_train.csv.gz"
BUNDLED_TEST = "data/imdb_test.csv.gz"


# -- plumbing --------------------------------------------------------------------------------------
class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        prefix = "" if record.levelno < logging.WARNING else f"{record.levelname.lower()}: "
        return f"sentiment: {prefix}{record.getMessage()}"


def setup_logging(quiet: bool = False) -> None:
    logger = logging.getLogger("sentiment")
    logger.handlers[:] = []
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger.addHandler(handler)
    logger.setLevel(logging.WARNING if quiet else logging.INFO)
    logger.propagate = False


# Where an installed wheel keeps the repository's configs/ and data/ (pyproject.toml's package-dir).
BUNDLED_PACKAGES = {"configs": "sentiment_cli.bundled_configs", "data": "sentiment_cli.bundled_data"}


def project_file(relative: str) -> Path | None:
    """A file shipped with the tool (bundled data, configs): from the cwd, the checkout, or the
    installed package's data (importlib.resources), in that order."""
    for root in (Path.cwd(), Path(__file__).resolve().parent.parent):
        candidate = root / relative
        if candidate.exists():
            return candidate
    folder, _, name = relative.partition("/")
    if folder in BUNDLED_PACKAGES and name:
        from importlib import resources

        try:
            candidate = resources.files(BUNDLED_PACKAGES[folder]) / name
        except ModuleNotFoundError:  # an editable install or a checkout: found above, or not at all
            return None
        if isinstance(candidate, Path) and candidate.is_file():
            return candidate
    return None


def resolve_config_path(value: str | None) -> Path | None:
    """`--config lecture` means configs/lecture.yaml when no file of that name exists."""
    if value is None:
        return None
    path = Path(value)
    if path.exists() or path.suffix in (".yaml", ".yml"):
        return path
    bundled = project_file(f"configs/{value}.yaml")
    return bundled or path


class SentimentGroup(click.Group):
    """A click group that turns library errors into one-line messages and exit codes."""

    def invoke(self, ctx: click.Context) -> Any:
        debug = bool(ctx.params.get("debug")) or os.environ.get("SENTIMENT_DEBUG") == "1"
        try:
            return super().invoke(ctx)
        except SentimentError as exc:
            if debug:
                raise
            click.echo(f"sentiment: error: {exc}", err=True)
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            if debug:
                raise
            click.echo("sentiment: interrupted; nothing on disk was changed", err=True)
            ctx.exit(130)
        except BrokenPipeError:
            # The reader (head, less) went away: stop quietly, like other Unix filters.
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            ctx.exit(0)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except OSError as exc:
            import errno

            if debug or exc.errno not in {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO}:
                if debug:
                    raise
                self._internal(ctx, exc)
            from sentiment_cli.errors import os_reason

            filename, reason = os_reason(exc)
            where = f" '{filename}'" if filename else ""
            click.echo(f"sentiment: error: cannot write{where} ({reason}). Free disk space (or raise "
                       "the file size limit) and run again", err=True)
            ctx.exit(1)
        except MemoryError:
            if debug:
                raise
            click.echo("sentiment: error: out of memory. Use a smaller --batch-size or less data", err=True)
            ctx.exit(1)
        except Exception as exc:  # a bug: say so in one line, traceback behind --debug
            if debug:
                raise
            self._internal(ctx, exc)

    @staticmethod
    def _internal(ctx: click.Context, exc: BaseException) -> None:
        first = str(exc).splitlines()[0][:300] if str(exc) else ""
        click.echo(f"sentiment: internal error: {type(exc).__name__}: {first}. "
                   "Re-run with --debug for the traceback and report it", err=True)
        ctx.exit(3)


def _emit(text: str) -> None:
    sys.stdout.write(text)


# -- the group -------------------------------------------------------------------------------------
@click.group(cls=SentimentGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="sentiment")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
def cli(debug: bool) -> None:
    """Train, evaluate and serve Keras sentiment classifiers.

    \b
    Quick start:
      sentiment train                              # bundled IMDB data -> ./sentiment-model
      echo "A moving, beautifully acted film." | sentiment predict
      sentiment evaluate --data data/imdb_test.csv.gz --format json
    """
    setup_logging()
    _tolerant_stdout()


def _tolerant_stdout() -> None:
    """Write what stdout's encoding (LANG=C, a cp1252 console) cannot hold as \\xe9-style escapes.

    Otherwise the first such character would end the run half-written with an internal error;
    JSON output is escaped losslessly instead (report.RecordWriter, json.dumps's default).
    """
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    if reconfigure is not None:
        try:
            reconfigure(errors="backslashreplace")
        except (ValueError, OSError):  # a stream that cannot change its settings now
            pass


config_option = click.option("--config", "config_path", metavar="PATH",
                             help="YAML config (or a bundled name: lecture, gru, bilstm, ...).")
set_option = click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE",
                          help="Override a config value, e.g. --set training.epochs=1 (repeatable).")
text_col_option = click.option("--text-column", metavar="C", help="Column with the text.")
label_col_option = click.option("--label-column", metavar="C", help="Column with the label.")
model_option = click.option("--model", "model_dir", default=DEFAULT_MODEL, show_default=True,
                            metavar="DIR", help="Model directory written by 'sentiment train' ($SENTIMENT_MODEL).")
backend_option = click.option("--backend", type=click.Choice(["auto", "onnx", "keras"]), default="auto",
                              show_default=True, help="Inference engine (auto: ONNX if exported).")
data_option = click.option("--data", "data_path", metavar="PATH",
                           help=f"Training CSV/TSV (default: bundled {BUNDLED_TRAIN}).")
test_data_option = click.option("--test-data", metavar="PATH", help="Held-out CSV/TSV to report on "
                                f"(default with the bundled data: {BUNDLED_TEST}).")
quiet_option = click.option("-q", "--quiet", is_flag=True, help="Only warnings and errors on stderr.")


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (NaN compares false with both bounds)."""

    def convert(self, value: Any, param: Any, ctx: Any) -> Any:
        import math

        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


def _threshold(value: float | None) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise click.BadParameter("must be between 0 and 1", param_hint="--threshold")
    return value


def _gates(values: Iterable[str]) -> list[tuple[str, float]]:
    """--min METRIC=X items as (metric, bound); the metric is checked against the report later."""
    import math

    gates = []
    for item in values:
        name, sep, raw = item.partition("=")
        try:
            bound = float(raw)
        except ValueError:
            bound = math.nan
        if not sep or not name.strip() or not math.isfinite(bound):
            raise click.BadParameter(f"{item!r} is not METRIC=NUMBER, e.g. macro_f1=0.6", param_hint="--min")
        gates.append((name.strip(), bound))
    return gates


def load_cli_config(config_path: str | None, overrides: Iterable[str], text_column: str | None = None,
                    label_column: str | None = None) -> Any:
    from sentiment_cli.config import load_config

    extra = list(overrides)
    if text_column:
        extra.append(f"data.text_column={json.dumps(text_column)}")
    if label_column:
        extra.append(f"data.label_column={json.dumps(label_column)}")
    return load_config(resolve_config_path(config_path), extra)


# -- train -----------------------------------------------------------------------------------------
@cli.command()
@data_option
@test_data_option
@config_option
@click.option("--out", "out_dir", default=DEFAULT_MODEL, show_default=True, metavar="DIR",
              help="Model directory to write (atomically).")
@text_col_option
@label_col_option
@set_option
@click.option("--force", is_flag=True, help="Replace an existing model directory at --out.")
@click.option("--resume", is_flag=True, help="Continue an interrupted training of --out from its last epoch.")
@click.option("--tensorboard", metavar="DIR", help="Write TensorBoard logs to DIR.")
@click.option("--no-plots", is_flag=True, help="Skip the PNG plots in the model directory.")
@click.option("--baseline", is_flag=True, help="Also fit TF-IDF + logistic regression on the same split "
              "and report it beside the model (metrics.json 'baseline').")
@click.option("--unlabeled", multiple=True, metavar="PATH", help="Texts without labels (one per line, or a "
              "CSV/TSV's text column; gzip allowed) for the word vectors that start the embedding (repeatable).")
@quiet_option
def train(data_path: str | None, test_data: str | None, config_path: str | None, out_dir: str,
          text_column: str | None, label_column: str | None, overrides: tuple[str, ...], force: bool,
          resume: bool, tensorboard: str | None, no_plots: bool, baseline: bool, unlabeled: tuple[str, ...],
          quiet: bool) -> None:
    """Train a classifier on a labelled CSV and write a model directory."""
    from sentiment_cli import api

    setup_logging(quiet)
    cfg = load_cli_config(config_path, overrides, text_column, label_column)
    data_path, test_data = _data_or_bundled(data_path, test_data)
    metrics = api.train(cfg, data_path, out_dir, test_data=test_data, force=force, resume=resume,
                        tensorboard=tensorboard, plots=not no_plots, verbose=0 if quiet else None,
                        baseline=baseline, unlabeled=unlabeled)
    wrote = metrics.get("devices", {}).get("chief", True)  # a multi_worker worker writes no model
    summary = {"model": out_dir if wrote else None, "validation_accuracy": metrics["validation"]["accuracy"]}
    if "test" in metrics:
        summary["test_accuracy"] = metrics["test"]["accuracy"]
    summary["train_seconds"] = metrics["train_seconds"]
    if "baseline" in metrics:
        base = metrics["baseline"]
        summary["baseline"] = {"model": base["model"], "validation_accuracy": base["validation"]["accuracy"],
                               **({"test_accuracy": base["test"]["accuracy"]} if "test" in base else {}),
                               "train_seconds": base["train_seconds"]}
    _emit(json.dumps(summary) + "\n")


# -- evaluate --------------------------------------------------------------------------------------
@cli.command()
@model_option
@click.option("--data", "data_path", required=True, metavar="PATH", help="Labelled CSV/TSV to score.")
@text_col_option
@label_col_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--threshold", type=float, callback=lambda c, p, v: _threshold(v),
              help="Decision threshold (default: the one stored at train time).")
@click.option("--min-accuracy", type=FiniteFloatRange(0, 1), metavar="X",
              help="Exit 1 when accuracy is below X (a CI gate).")
@click.option("--min", "minimums", multiple=True, metavar="METRIC=X", callback=lambda c, p, v: _gates(v),
              help="Exit 1 when a reported metric is below X, e.g. --min macro_f1=0.6 (repeatable).")
@click.option("--unknown-labels", type=click.Choice(["error", "wrong"]), default="error", show_default=True,
              help="A label the model was not trained on: an error, or a row counted as wrong in accuracy.")
@click.option("--sweep-threshold", is_flag=True, help="Also report metrics at thresholds 0.05..0.95.")
@click.option("--slices", is_flag=True, help="Also report accuracy by length quartile and negation.")
@click.option("--plots", "plots_dir", metavar="DIR", help="Write ROC, PR, confusion and reliability plots.")
@backend_option
@quiet_option
def evaluate(model_dir: str, data_path: str, text_column: str | None, label_column: str | None, fmt: str,
             threshold: float | None, min_accuracy: float | None, minimums: list[tuple[str, float]],
             unknown_labels: str, sweep_threshold: bool, slices: bool, plots_dir: str | None, backend: str,
             quiet: bool) -> None:
    """Score a labelled file; print metrics as a table or one JSON object."""
    from sentiment_cli import api
    from sentiment_cli.report import format_evaluation

    setup_logging(quiet)
    report = api.evaluate(model_dir, data_path, text_column=text_column, label_column=label_column,
                          threshold=threshold, backend=backend, sweep=sweep_threshold, slices=slices,
                          plots_dir=plots_dir, unknown_labels=unknown_labels)
    unknown = [name for name, _ in minimums if not isinstance(report.get(name), (int, float, type(None)))
               or name not in report]
    if unknown:
        gateable = ", ".join(k for k, v in report.items() if isinstance(v, float))
        raise ConfigError(f"--min {unknown[0]}: this model's report has no such metric",
                          f"Gate on one of: {gateable}")
    _emit(json.dumps(report) + "\n" if fmt == "json" else format_evaluation(report))
    gates = ([("accuracy", min_accuracy)] if min_accuracy is not None else []) + list(minimums)
    failed = [(name, report[name], bound) for name, bound in gates if report[name] is None or report[name] < bound]
    for name, value, bound in failed:
        shown = "none" if value is None else f"{value:.4f}"
        flag = "--min-accuracy" if name == "accuracy" and bound == min_accuracy else f"--min {name}="
        click.echo(f"sentiment: {name} {shown} is below {flag}{'' if flag.endswith('=') else ' '}{bound}", err=True)
    if failed:
        sys.exit(1)


# -- predict ---------------------------------------------------------------------------------------
@cli.command()
@model_option
@click.option("--input", "input_path", metavar="PATH", help="Text file (one review per line) or CSV/TSV; "
              "default or '-': stdin.")
@text_col_option
@click.option("--label-column", metavar="C", help="With a CSV/TSV --input: copy this column into each "
              "record as true_label (default: the model's label column, when the file has it).")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "csv"]), default="text", show_default=True)
@click.option("--threshold", type=float, callback=lambda c, p, v: _threshold(v),
              help="Decision threshold (default: the one stored at train time).")
@click.option("--batch-size", type=click.IntRange(1, 65536), default=None,
              help="Texts tokenized and scored together; a masked model scores them in length-sorted "
              "groups (default: 512; memory grows with it).")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="Inference calls run at once, one core each (default: CPU cores, at most 4).")
@click.option("--line-buffered", is_flag=True, help="Answer each line as soon as it is read (for tail -f).")
@click.option("--explain", is_flag=True, help="Add the tokens that push the score most each way.")
@click.option("--top-k", type=click.IntRange(1, 50), default=5, show_default=True, help="Tokens per side with --explain.")
@backend_option
@quiet_option
def predict(model_dir: str, input_path: str | None, text_column: str | None, label_column: str | None,
            fmt: str, threshold: float | None, batch_size: int | None, threads: int | None, line_buffered: bool,
            explain: bool, top_k: int, backend: str, quiet: bool) -> None:
    """Label texts from stdin or --input: one result per input, in order."""
    from sentiment_cli import api, inputs
    from sentiment_cli.predictor import DEFAULT_BATCH_SIZE, DEFAULT_THREADS, Predictor
    from sentiment_cli.report import RecordWriter

    setup_logging(quiet)
    batch_size = batch_size or DEFAULT_BATCH_SIZE
    predictor = Predictor.from_dir(model_dir, backend=backend, threads=threads or DEFAULT_THREADS)
    if label_column is not None and not (text_column or inputs.is_table(input_path)):
        raise click.UsageError("--label-column needs a CSV/TSV --input (or --text-column)")
    if inputs.is_table(input_path):
        trained_text, trained_label = predictor.columns or api.input_columns(model_dir)
        text_column, label_column = text_column or trained_text, label_column or trained_label
    stats = inputs.InputStats(source=input_path or "<stdin>")
    texts = inputs.read_texts(input_path, text_column, stats, label_column)
    stdin_tty = input_path in (None, "-") and sys.stdin.isatty()  # asked now: reading closes stdin
    if stdin_tty and not quiet:
        click.echo("sentiment: reading reviews from stdin, one per line (Ctrl-D to end)", err=True)
    records = api.predict_records(predictor, texts, batch_size=1 if line_buffered else batch_size,
                                  threshold=threshold, explain_k=top_k if explain else 0,
                                  overlap=not line_buffered)
    if label_column is not None:
        # Each record's row was read (and its label queued) before the record is made.
        records = ({**r, "true_label": stats.labels.popleft()} if stats.labels is not None else r
                   for r in records)
    # A running count only for a person watching stderr, and only when the results go elsewhere:
    # on a shared terminal the count and the result lines would overwrite each other.
    progress = not (quiet or line_buffered) and sys.stderr.isatty() and not sys.stdout.isatty()
    writer = RecordWriter(sys.stdout, fmt, progress=progress, classes=predictor.classes)
    n = writer.write_all(records, flush_every=1 if line_buffered else batch_size)
    stats.report()
    if n == 0 and input_path not in (None, "-"):
        from sentiment_cli.errors import DataError

        raise DataError(f"no input texts in {stats.source}",
                        "Give a file with one review per line, or a CSV/TSV with rows below its header")
    if n == 0 and stdin_tty and not quiet:
        # Like other filters, no input is no output and exit 0 (`cat /dev/null | sentiment predict`).
        click.echo("sentiment: no input texts; nothing to score", err=True)


# -- baseline and compare --------------------------------------------------------------------------
def _data_or_bundled(data_path: str | None, test_data: str | None) -> tuple[str, str | None]:
    """--data, or the bundled split (with its test file unless --test-data is given)."""
    if data_path is not None:
        return data_path, test_data
    bundled = project_file(BUNDLED_TRAIN)
    if bundled is None:
        raise ConfigError("no --data given and the bundled data was not found",
                          "Pass --data PATH, or reinstall sentiment-cli (the wheel ships the data)")
    bundled_test = project_file(BUNDLED_TEST)
    return str(bundled), test_data if test_data is not None or bundled_test is None else str(bundled_test)


@cli.command()
@data_option
@test_data_option
@text_col_option
@label_col_option
@config_option
@set_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@quiet_option
def baseline(data_path: str | None, test_data: str | None, text_column: str | None, label_column: str | None,
             config_path: str | None, overrides: tuple[str, ...], fmt: str, quiet: bool) -> None:
    """Fit the TF-IDF + logistic regression baseline; print its metrics.

    \b
    Word 1-2 grams (split like the tokenizer, HTML tags removed), sublinear tf, C=4; the same
    validation split (training.validation_split, training.seed from --config/--set), threshold
    rule and metrics as 'sentiment train'. A neural model should beat it.
    """
    from sentiment_cli.baseline import format_baseline, train_baseline

    setup_logging(quiet)
    data_path, test_data = _data_or_bundled(data_path, test_data)
    cfg = load_cli_config(config_path, overrides, text_column, label_column)
    report = train_baseline(data_path, test_data, cfg=cfg)
    _emit(json.dumps(report) + "\n" if fmt == "json" else format_baseline(report))


@cli.command()
@click.argument("configs", nargs=-1, required=True, metavar="CONFIG...")
@data_option
@test_data_option
@text_col_option
@label_col_option
@set_option
@click.option("--out-dir", metavar="DIR", help="Keep one model directory per config in DIR "
              "(default: a temporary directory, deleted afterwards).")
@click.option("--force", is_flag=True, help="Replace existing model directories in --out-dir.")
@click.option("--baseline", is_flag=True, help="Add the TF-IDF + logistic regression baseline as a row.")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@quiet_option
def compare(configs: tuple[str, ...], data_path: str | None, test_data: str | None, text_column: str | None,
            label_column: str | None, overrides: tuple[str, ...], out_dir: str | None, force: bool,
            baseline: bool, fmt: str, quiet: bool) -> None:
    """Train each CONFIG on the same data and print one comparison table.

    \b
    CONFIG is a YAML path or a bundled name (simple_rnn, gru, lstm, bilstm, lecture, ...);
    --set applies to every config. Example, the lecture's comparison on real data:
      sentiment compare simple_rnn gru lstm --baseline
    """
    from sentiment_cli.compare import compare as run_compare
    from sentiment_cli.compare import format_comparison

    setup_logging(quiet)
    data_path, test_data = _data_or_bundled(data_path, test_data)
    extra = list(overrides)
    if text_column:
        extra.append(f"data.text_column={json.dumps(text_column)}")
    if label_column:
        extra.append(f"data.label_column={json.dumps(label_column)}")
    paths = [resolve_config_path(c) for c in configs]
    result = run_compare(paths, data_path, test_data, labels=list(configs), overrides=extra, out_dir=out_dir,
                         force=force, baseline=baseline, verbose=0 if quiet else None)
    _emit(json.dumps(result) + "\n" if fmt == "json" else format_comparison(result))


# -- check-data ------------------------------------------------------------------------------------
@cli.command("check-data")
@click.argument("path", metavar="PATH")
@click.option("--test-data", metavar="PATH", help="Held-out file: checked too, and for texts shared with PATH.")
@text_col_option
@label_col_option
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table", show_default=True)
@click.option("--strict", is_flag=True, help="Exit 1 when any problem is found (a CI gate).")
def check_data(path: str, test_data: str | None, text_column: str | None, label_column: str | None,
               fmt: str, strict: bool) -> None:
    """Report duplicates, conflicting labels, empty texts, leakage and more in a labelled file."""
    from sentiment_cli import checks

    report = checks.check_data(path, test_data, text_column or checks.DEFAULT_TEXT,
                               label_column or checks.DEFAULT_LABEL)
    _emit(checks.format_json(report) if fmt == "json" else checks.format_table(report))
    if strict and report["problems"]:
        click.echo(f"sentiment: check-data found {len(report['problems'])} problem(s): "
                   + "; ".join(report["problems"]), err=True)
        sys.exit(1)


# -- vectors ---------------------------------------------------------------------------------------
@cli.command("vectors")
@click.option("--data", "data_paths", multiple=True, required=True, metavar="PATH",
              help="Texts: one per line, or a CSV/TSV's text column; gzip allowed (repeatable).")
@click.option("--out", required=True, metavar="FILE", help="GloVe text file to write (atomically).")
@text_col_option
@config_option
@set_option
@click.option("--force", is_flag=True, help="Replace an existing file at --out.")
@quiet_option
def vectors_cmd(data_paths: tuple[str, ...], out: str, text_column: str | None, config_path: str | None,
                overrides: tuple[str, ...], force: bool, quiet: bool) -> None:
    """Compute word vectors from any texts (PPMI + SVD) and write them in GloVe format.

    Train from them with --set model.embedding_init=vectors --set model.vectors=FILE: a large
    unlabelled corpus is then read once for many trainings. Words are split by the config's
    tokenizer settings; the size is model.embedding_dim, the window model.embedding_window.
    """
    from sentiment_cli import api

    setup_logging(quiet)
    cfg = load_cli_config(config_path, overrides, text_column)
    _emit(json.dumps(api.vectors(cfg, data_paths, out, text_column=cfg.data.text_column, force=force)) + "\n")


# -- config ----------------------------------------------------------------------------------------
@cli.command("config")
@config_option
@set_option
@click.option("--defaults", is_flag=True, help="Print the schema defaults (this is configs/default.yaml).")
def config_cmd(config_path: str | None, overrides: tuple[str, ...], defaults: bool) -> None:
    """Print a resolved config as YAML (validates it on the way)."""
    from sentiment_cli.config import Config, render_yaml

    if defaults:
        _emit(render_yaml(Config(), DEFAULT_YAML_HEADER))
        return
    _emit(render_yaml(load_cli_config(config_path, overrides)))


DEFAULT_YAML_HEADER = """Every setting with its default. Generated from sentiment_cli/config.py by
`sentiment config --defaults > configs/default.yaml`; edit the schema, not this file."""


def main() -> None:
    cli(prog_name="sentiment")


if __name__ == "__main__":
    main()
