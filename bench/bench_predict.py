"""Benchmark the light predict path (ONNX Runtime, no TensorFlow) against Keras, side by side.

    python bench/bench_predict.py                  # train a default-config model, then measure
    python bench/bench_predict.py --model DIR      # reuse a model directory
    python bench/bench_predict.py --quick          # small model, small data: a smoke run
    python bench/bench_predict.py --set model.units=64 --set tokenizer.maxlen=200

Without --model, a model is trained with the default config (plus any --set) on the bundled train
split into bench/out/predict-model. Everything is measured in one run, the two paths alternating
repeat by repeat so that load from other jobs on this shared machine hits both alike; medians over
--repeats (>= 5). Wall time decides the targets; CPU time is printed beside it because a loaded
machine stretches wall time but not the work done.

1. cold start: `echo "one review" | sentiment predict --model DIR` against a fresh `python -c`
   that imports keras, loads DIR/model.keras and predicts one padded text.
   Targets: >= 8x faster, median <= 0.5 s.
2. throughput: rows/s of `sentiment predict --input data/imdb_test.csv.gz --format csv` (process
   start, CSV parsing, tokenization and output included) against Keras `model.predict` on the
   already-padded rows of the same file (model loaded once, padding done beforehand).
   Target: >= 1x.
3. settings: the same throughput on the first --sweep-rows test rows for a few --batch-size and
   --threads values (what the defaults were chosen from).
4. memory: peak RSS (of the command alone, see MEASURED) of predicting a --memory-rows CSV made by repeating
   the test split, with every output row checked (id, text, count, order). Target: <= 300 MB.
   The Keras path (`sentiment predict --backend keras`) on the same file is printed for
   comparison. Peak RSS hardly varies run to run, so this runs --memory-repeats times (default 1).

Results go to bench/out/bench_predict.json (bench/out is gitignored).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
TRAIN = ROOT / "data" / "imdb_train.csv.gz"
TEST = ROOT / "data" / "imdb_test.csv.gz"
QUICK_SETS = ["training.epochs=1", "tokenizer.num_words=3000", "tokenizer.maxlen=80", "model.units=16",
              "model.embedding_dim=16"]
SETTINGS = [(128, 1), (512, 1), (128, 2), (256, 2), (512, 2), (1024, 2)]  # (--batch-size, --threads)
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
ENV.pop("SENTIMENT_DEBUG", None)

# A wide & deep model (features.json beside model.keras) also takes the n-gram inputs of the rows;
# the Keras side computes them with the same numpy code (ngrams.model_inputs), inside its timing.
KERAS_COLD = """
import json, sys
from pathlib import Path
import numpy as np
import keras
from sentiment_cli.ngrams import NgramFeatures, model_inputs
model = keras.saving.load_model(sys.argv[1], compile=False)
path = Path(sys.argv[1]).with_name("features.json")
features = NgramFeatures.from_dict(json.loads(path.read_text())) if path.exists() else None
x = np.array([[int(i) for i in sys.argv[2].split(",")]], dtype="int32")
print(float(np.asarray(model.predict(model_inputs(x, features), verbose=0)).reshape(-1)[0]))
"""

# A Keras process that loads the model and the padded rows once, then times one model.predict per
# "run" line on stdin: the bench alternates these with the CLI runs.
KERAS_WORKER = """
import json, sys, time
from pathlib import Path
import numpy as np
import keras
from sentiment_cli.ngrams import NgramFeatures
from sentiment_cli.training import predict_proba
model = keras.saving.load_model(sys.argv[1], compile=False)
path = Path(sys.argv[1]).with_name("features.json")
features = NgramFeatures.from_dict(json.loads(path.read_text())) if path.exists() else None
x = np.load(sys.argv[2])
batch = int(sys.argv[3])
predict_proba(model, x[: 2 * batch], features, batch_size=batch)  # trace and warm up
print("ready", flush=True)
for line in sys.stdin:
    start, cpu = time.perf_counter(), time.process_time()
    p = predict_proba(model, x, features, batch_size=batch)
    print(time.perf_counter() - start, time.process_time() - cpu, len(p), flush=True)
"""


def sentiment_cmd() -> list[str]:
    """The installed console script (what users run), else `python -m sentiment_cli`."""
    script = Path(sys.executable).with_name("sentiment")
    if script.exists():
        return [str(script)]
    found = shutil.which("sentiment")
    return [found] if found else [sys.executable, "-m", "sentiment_cli"]


def read_rows(path: Path, limit: int | None = None) -> list[list[str]]:
    """(text, label) rows of a bundled split, header dropped, read without pandas."""
    with gzip.open(path, "rt", encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        assert header[:2] == ["text", "label"], header
        rows = []
        for row in reader:
            rows.append(row[:2])
            if limit is not None and len(rows) >= limit:
                break
    return rows


def write_csv(path: Path, rows: list[list[str]], n: int | None = None) -> Path:
    """`rows` as a CSV with a header; with `n`, cycle through them until n rows are written."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["text", "label"])
        total = len(rows) if n is None else n
        for i in range(total):
            writer.writerow(rows[i % len(rows)])
    return path


# Peak RSS of a command, not of this process: Linux carries the parent's resident size into a child's
# ru_maxrss at exec (a vfork'd child execs from the parent's memory), so a child of this benchmark,
# which holds the test texts and more, would report at least the benchmark's own size. A small
# Python in between runs the command and writes the command's own peak RSS, wall and CPU seconds
# (from its start to its exit, without the go-between's start-up) to a file.
MEASURED = """
import json, resource, subprocess, sys, time
start = time.perf_counter()
code = subprocess.call(sys.argv[2:])
wall = time.perf_counter() - start
u = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as fh:
    json.dump({"rss_kb": u.ru_maxrss, "wall": wall, "cpu": u.ru_utime + u.ru_stime}, fh)
sys.exit(code)
"""


def measured(cmd: list[str], report: Path) -> list[str]:
    """`cmd` run through MEASURED, which writes the command's figures to `report`."""
    return [sys.executable, "-c", MEASURED, str(report), *map(str, cmd)]


def read_measured(report: Path) -> dict[str, float]:
    """{"rss_mb", "wall", "cpu"} of a command run through MEASURED (the file is removed)."""
    data = json.loads(report.read_text())
    report.unlink()
    return {"rss_mb": data["rss_kb"] / 1024, "wall": data["wall"], "cpu": data["cpu"]}


def _child_result(proc: subprocess.Popen, out: Any, err: bytes, report: Path) -> dict[str, Any]:
    if proc.returncode:
        report.unlink(missing_ok=True)
        raise SystemExit(f"command failed ({proc.returncode}): {' '.join(map(str, proc.args))}\n"
                         f"{err.decode(errors='replace')[-2000:]}")
    return {"stdout": out, "stderr": err, **read_measured(report)}


def timed_child(cmd: list[str], *, stdin: bytes | None = None, stdout: Any = subprocess.DEVNULL) -> dict[str, Any]:
    """Run a command; its wall seconds, CPU seconds and peak RSS (see MEASURED)."""
    report = Path(tempfile.mkstemp(prefix="bench-measured-")[1])
    proc = subprocess.Popen(measured(cmd, report), stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                            stdout=stdout, stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    if stdin is not None:
        proc.stdin.write(stdin)
        proc.stdin.close()
    out = proc.stdout.read() if stdout is subprocess.PIPE else None
    err = proc.stderr.read()
    proc.wait()
    return _child_result(proc, out, err, report)


def median(values: list[float]) -> float:
    return float(statistics.median(values))


# -- model -----------------------------------------------------------------------------------------
def prepare_model(args: argparse.Namespace, tmp: Path) -> Path:
    if args.model:
        model = Path(args.model)
        if not (model / "model.onnx").is_file():
            raise SystemExit(f"{model} has no model.onnx: train it with this version of sentiment")
        return model
    model = OUT / ("predict-model-quick" if args.quick else "predict-model")
    cmd = sentiment_cmd() + ["train", "--out", str(model), "--force", "--no-plots", "--quiet"]
    if args.quick:
        cmd += ["--data", str(write_csv(tmp / "train.csv", read_rows(TRAIN, 2000))),
                "--test-data", str(write_csv(tmp / "test.csv", read_rows(TEST, 500)))]
    for item in (QUICK_SETS if args.quick else []) + list(args.set):
        cmd += ["--set", item]
    print(f"training {model} ({' '.join(cmd[1:])}) ...", file=sys.stderr, flush=True)
    start = time.perf_counter()
    subprocess.run(cmd, check=True, env=ENV, cwd=ROOT, stdout=subprocess.DEVNULL)
    print(f"trained in {time.perf_counter() - start:.0f} s", file=sys.stderr, flush=True)
    return model


def padded(model: Path, texts: list[str]) -> Any:
    from sentiment_cli.tokenizer import Tokenizer

    return Tokenizer.load(model / "tokenizer.json").encode(texts)


# -- 1. cold start ---------------------------------------------------------------------------------
def bench_cold_start(model: Path, repeats: int) -> dict[str, Any]:
    row = ",".join(str(i) for i in padded(model, ["one review"])[0])
    ours_cmd = sentiment_cmd() + ["predict", "--model", str(model)]
    keras_cmd = [sys.executable, "-c", KERAS_COLD, str(model / "model.keras"), row]
    ours, keras = [], []
    for i in range(repeats + 1):  # the first round warms the page cache and is not counted
        a = timed_child(ours_cmd, stdin=b"one review\n", stdout=subprocess.PIPE)
        b = timed_child(keras_cmd, stdout=subprocess.PIPE)
        if i:
            ours.append(a)
            keras.append(b)
    ours_score = float(ours[-1]["stdout"].decode().split("\t")[1])
    keras_score = float(keras[-1]["stdout"].decode().strip())
    return {
        "ours_wall": [r["wall"] for r in ours], "ours_cpu": [r["cpu"] for r in ours],
        "keras_wall": [r["wall"] for r in keras], "keras_cpu": [r["cpu"] for r in keras],
        "ours_score": ours_score, "keras_score": keras_score,
    }


# -- 2/3. throughput -------------------------------------------------------------------------------
def check_output(path: Path, texts: list[str]) -> int:
    """Count the CSV output rows, checking that row i is input text i with id i."""
    with open(path, encoding="utf-8", newline="") as fh:
        reader = csv.reader(fh)
        assert next(reader)[:2] == ["id", "text"]
        n = 0
        for n, row in enumerate(reader, start=1):
            if int(row[0]) != n - 1 or row[1] != texts[(n - 1) % len(texts)]:
                raise SystemExit(f"output row {n} is out of order or altered: {row[:2]}")
    return n


def predict_cmd(model: Path, path: Path, batch: int | None = None, threads: int | None = None,
                backend: str | None = None) -> list[str]:
    cmd = sentiment_cmd() + ["predict", "--model", str(model), "--input", str(path), "--format", "csv"]
    if batch is not None:
        cmd += ["--batch-size", str(batch)]
    if threads is not None:
        cmd += ["--threads", str(threads)]
    if backend is not None:
        cmd += ["--backend", backend]
    return cmd


def bench_throughput(model: Path, csv_path: Path, texts: list[str], repeats: int, keras_batch: int,
                     tmp: Path) -> dict[str, Any]:
    import numpy as np

    x_path = tmp / "padded.npy"
    np.save(x_path, padded(model, texts))
    worker = subprocess.Popen([sys.executable, "-c", KERAS_WORKER, str(model / "model.keras"), str(x_path),
                               str(keras_batch)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, env=ENV, text=True, cwd=ROOT)
    if worker.stdout.readline().strip() != "ready":
        raise SystemExit("the Keras worker did not start")
    out = tmp / "predictions.csv"
    ours, keras = [], []
    try:
        for _ in range(repeats):
            with open(out, "wb") as fh:
                ours.append(timed_child(predict_cmd(model, csv_path), stdout=fh))
            if check_output(out, texts) != len(texts):
                raise SystemExit("predict wrote a different number of rows than it read")
            worker.stdin.write("run\n")
            worker.stdin.flush()
            wall, cpu, n = worker.stdout.readline().split()
            assert int(n) == len(texts)
            keras.append({"wall": float(wall), "cpu": float(cpu)})
    finally:
        worker.stdin.close()
        worker.wait()
    return {"rows": len(texts), "keras_batch_size": keras_batch,
            "ours_wall": [r["wall"] for r in ours], "ours_cpu": [r["cpu"] for r in ours],
            "keras_wall": [r["wall"] for r in keras], "keras_cpu": [r["cpu"] for r in keras]}


def bench_settings(model: Path, csv_path: Path, repeats: int) -> list[dict[str, Any]]:
    runs: dict[tuple[int, int], list[dict[str, Any]]] = {s: [] for s in SETTINGS}
    n = sum(1 for _ in csv.reader(open(csv_path, encoding="utf-8", newline=""))) - 1
    for _ in range(repeats):  # settings interleaved within each repeat, like the two paths above
        for batch, threads in SETTINGS:
            runs[(batch, threads)].append(timed_child(predict_cmd(model, csv_path, batch, threads)))
    return [{"batch_size": b, "threads": t, "wall": [r["wall"] for r in runs[(b, t)]],
             "rss_mb": [r["rss_mb"] for r in runs[(b, t)]],
             "rows_per_s": n / median([r["wall"] for r in runs[(b, t)]])} for b, t in SETTINGS]


# -- 4. memory -------------------------------------------------------------------------------------
def bench_memory(model: Path, big: Path, texts: list[str], rows: int, backend: str | None) -> dict[str, Any]:
    """Stream the output through a row-by-row check while the child runs; peak RSS per MEASURED."""
    report = Path(tempfile.mkstemp(prefix="bench-measured-")[1])
    proc = subprocess.Popen(measured(predict_cmd(model, big, backend=backend), report), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env=ENV, cwd=ROOT)
    reader = csv.reader(io.TextIOWrapper(proc.stdout, encoding="utf-8", newline=""))
    assert next(reader)[:2] == ["id", "text"]
    n = 0
    for row in reader:
        if int(row[0]) != n or row[1] != texts[n % len(texts)]:
            proc.kill()
            raise SystemExit(f"output row {n} is out of order or altered: {row[:2]}")
        n += 1
    err = proc.stderr.read()
    if proc.wait() != 0:
        raise SystemExit(f"predict failed on {big}: {err.decode(errors='replace')[-2000:]}")
    if n != rows:
        raise SystemExit(f"predict wrote {n} rows for {rows} input rows")
    return {"rows": n, **read_measured(report)}


# -- report ----------------------------------------------------------------------------------------
def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(res: dict[str, Any]) -> str:
    lines = [f"sentiment predict benchmark: model {res['model']} ({res['model_summary']})",
             f"{res['cpus']} CPUs, load average {res['load_before'][0]:.1f} before / "
             f"{res.get('load_after', res['load_before'])[0]:.1f} after; medians over {res['repeats']} repeats; "
             f"CLI defaults --batch-size {res['defaults']['batch_size']} --threads {res['defaults']['threads']}", ""]
    head = f"{'measure':<34} {'light path (ONNX)':>19} {'Keras':>14} {'ratio':>8}  {'target':<10} result"
    lines += [head, "-" * len(head)]
    if "cold_start" in res:
        c = res["cold_start"]
        ow, kw = median(c["ours_wall"]), median(c["keras_wall"])
        lines.append(f"{'cold start, wall':<34} {ow:>17.3f} s {kw:>12.3f} s {kw / ow:>7.1f}x  {'>= 8x':<10} "
                     f"{verdict(kw / ow >= 8)}")
        lines.append(f"{'':<34} {'':>19} {'':>14} {'':>8}  {'<= 0.5 s':<10} {verdict(ow <= 0.5)}")
        oc, kc = median(c["ours_cpu"]), median(c["keras_cpu"])
        lines.append(f"{'cold start, CPU (user+sys)':<34} {oc:>17.3f} s {kc:>12.3f} s {kc / oc:>7.1f}x  (info)")
        spread = [f"{min(c[k]):.2f}-{max(c[k]):.2f} s" for k in ("ours_wall", "keras_wall")]
        lines.append(f"{'  wall per run, min-max':<34} {spread[0]:>19} {spread[1]:>14}")
    if "throughput" in res:
        t = res["throughput"]
        ours, keras = t["rows"] / median(t["ours_wall"]), t["rows"] / median(t["keras_wall"])
        lines.append(f"{'throughput, rows/s (wall)':<34} {ours:>19,.0f} {keras:>14,.0f} {ours / keras:>7.2f}x  "
                     f"{'>= 1x':<10} {verdict(ours >= keras)}")
        ours, keras = t["rows"] / median(t["ours_cpu"]), t["rows"] / median(t["keras_cpu"])
        lines.append(f"{'throughput, rows per CPU-second':<34} {ours:>19,.0f} {keras:>14,.0f} {ours / keras:>7.2f}x  (info)")
        # The spread shows when another job took a core during some runs of one side.
        spread = [f"{min(t[k]):.1f}-{max(t[k]):.1f} s" for k in ("ours_wall", "keras_wall")]
        lines.append(f"{'  wall per run, min-max':<34} {spread[0]:>19} {spread[1]:>14}")
    if "memory" in res:
        m, km = res["memory"], res.get("memory_keras")
        kcol = f"{km['rss_mb']:>11.0f} MB {m['rss_mb'] / km['rss_mb']:>7.2f}x" if km else f"{'-':>14} {'-':>8}"
        lines.append(f"{'peak RSS, ' + format(m['rows'], ',') + '-row CSV':<34} {m['rss_mb']:>16.0f} MB {kcol}  "
                     f"{'<= 300 MB':<10} {verdict(m['rss_mb'] <= 300)}")
        lines.append(f"{'  light path: rows in order, wall':<34} {format(m['rows'], ',') + ' ok':>19} "
                     f"{m['wall']:>12.0f} s  ({m['rows'] / m['wall']:,.0f} rows/s)")
        if km:
            lines.append(f"{'  Keras path (--backend keras)':<34} {format(km['rows'], ',') + ' ok':>19} "
                         f"{km['wall']:>12.0f} s  ({km['rows'] / km['wall']:,.0f} rows/s)")
    if "settings" in res:
        lines += ["", f"CLI throughput on the first {res['settings_rows']:,} test rows by setting:",
                  f"{'--batch-size':>12} {'--threads':>10} {'rows/s':>10} {'median s':>10} {'peak RSS':>10}"]
        for row in res["settings"]:
            lines.append(f"{row['batch_size']:>12} {row['threads']:>10} {row['rows_per_s']:>10,.0f} "
                         f"{median(row['wall']):>10.2f} {median(row['rss_mb']):>7.0f} MB")
    if "throughput" in res:
        t = res["throughput"]
        lines += ["", f"Keras: model.predict(batch_size={t['keras_batch_size']}) on the {t['rows']:,} rows padded "
                  "beforehand, model loaded once; light path: the whole CLI run (start, CSV, tokenizing, output)."]
    if "cold_start" in res:
        c = res["cold_start"]
        lines.append(f"Cold-start check: both scored 'one review' {c['ours_score']:.4f} (ours, 4 decimals) / "
                     f"{c['keras_score']:.4f} (Keras).")
    return "\n".join(lines) + "\n"


def save(res: dict[str, Any], final: bool = False) -> None:
    """Write the results so far (a long memory run can be interrupted without losing the rest)."""
    text = json.dumps(res, indent=2, default=str) + "\n"
    (OUT / "bench_predict.partial.json").write_text(text, encoding="utf-8")
    if final:
        (OUT / "bench_predict.json").write_text(text, encoding="utf-8")
        (OUT / f"bench_predict-{time.strftime('%Y%m%d-%H%M%S')}.json").write_text(text, encoding="utf-8")


STAGES = ("cold", "throughput", "settings", "memory")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="Reuse this model directory instead of training one.")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="Config override for the trained model (repeatable).")
    parser.add_argument("--quick", action="store_true", help="Small model and data: a smoke run.")
    parser.add_argument("--repeats", type=int, default=5, help="Repeats per timing (>= 5 for real figures).")
    parser.add_argument("--stages", default=",".join(STAGES), help=f"Comma-separated subset of {','.join(STAGES)}.")
    parser.add_argument("--memory-rows", type=int, help="Rows of the memory test CSV (default 1,000,000; "
                        "--quick: 20,000).")
    parser.add_argument("--memory-repeats", type=int, default=1)
    parser.add_argument("--keras-memory-rows", type=int, help="Rows for the Keras-path memory run "
                        "(default: the same file; 0 skips it).")
    parser.add_argument("--sweep-rows", type=int, default=5000, help="Test rows for the settings sweep.")
    parser.add_argument("--keras-batch-size", type=int, default=256, help="batch_size of Keras model.predict "
                        "(256: its fastest of 32/256/1024 on the default model here).")
    args = parser.parse_args()
    stages = set(args.stages.split(","))
    if stages - set(STAGES):
        parser.error(f"unknown stage(s): {', '.join(sorted(stages - set(STAGES)))}")
    if args.repeats < 5 and not args.quick:
        print("warning: fewer than 5 repeats; figures are not comparable", file=sys.stderr)

    from sentiment_cli.predictor import DEFAULT_BATCH_SIZE, DEFAULT_THREADS

    default_batch = DEFAULT_BATCH_SIZE
    OUT.mkdir(parents=True, exist_ok=True)
    res: dict[str, Any] = {"repeats": args.repeats, "cpus": os.cpu_count(), "load_before": os.getloadavg(),
                           "defaults": {"batch_size": default_batch, "threads": DEFAULT_THREADS},
                           "command": " ".join(["python", Path(sys.argv[0]).as_posix(), *sys.argv[1:]])}
    with tempfile.TemporaryDirectory(prefix="bench-predict-") as tmp_name:
        tmp = Path(tmp_name)
        model = prepare_model(args, tmp)
        metrics = json.loads((model / "metrics.json").read_text()) if (model / "metrics.json").exists() else {}
        res["model"] = str(model)
        res["model_summary"] = f"{metrics['params']:,} params" if isinstance(metrics.get("params"), int) else "?"
        if "test" in metrics:
            res["model_summary"] += f", test accuracy {metrics['test']['accuracy']:.3f}"
        rows = read_rows(TEST, 2000 if args.quick else None)
        texts = [r[0] for r in rows]
        test_csv = TEST if not args.quick else write_csv(tmp / "test.csv", rows)

        if "cold" in stages:
            print("cold start ...", file=sys.stderr, flush=True)
            res["cold_start"] = bench_cold_start(model, args.repeats)
            save(res)
        if "throughput" in stages:
            print("throughput ...", file=sys.stderr, flush=True)
            res["throughput"] = bench_throughput(model, test_csv, texts, args.repeats, args.keras_batch_size, tmp)
            save(res)
        if "settings" in stages:
            print("settings ...", file=sys.stderr, flush=True)
            sweep = rows[: args.sweep_rows]
            res["settings_rows"] = len(sweep)
            res["settings"] = bench_settings(model, write_csv(tmp / "sweep.csv", sweep), args.repeats)
            save(res)
        n_big = args.memory_rows if args.memory_rows is not None else 20_000 if args.quick else 1_000_000
        if "memory" in stages and n_big:
            print(f"memory: writing a {n_big:,}-row CSV ...", file=sys.stderr, flush=True)
            big = write_csv(tmp / "big.csv", rows, n_big)
            runs = []
            for _ in range(args.memory_repeats):
                runs.append(bench_memory(model, big, texts, n_big, None))
                print(f"  light path: {runs[-1]['rss_mb']:.0f} MB, {runs[-1]['wall']:.0f} s", file=sys.stderr, flush=True)
            res["memory"] = {**runs[-1], "rss_mb": median([r["rss_mb"] for r in runs]),
                             "runs": [r["rss_mb"] for r in runs]}
            save(res)
            n_keras = n_big if args.keras_memory_rows is None else args.keras_memory_rows
            if n_keras:
                keras_big = big if n_keras == n_big else write_csv(tmp / "big-keras.csv", rows, n_keras)
                res["memory_keras"] = bench_memory(model, keras_big, texts, n_keras, "keras")
                print(f"  Keras path: {res['memory_keras']['rss_mb']:.0f} MB, {res['memory_keras']['wall']:.0f} s",
                      file=sys.stderr, flush=True)
    res["load_after"] = os.getloadavg()
    res["table"] = report(res)
    print(res["table"], end="")
    save(res, final=True)


if __name__ == "__main__":
    main()
