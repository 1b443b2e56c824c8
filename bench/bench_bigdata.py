"""Training on large files: peak memory as the rows grow, and the speed of reading + tokenizing.

    python bench/bench_bigdata.py                          # 100k, 500k (full epoch), 2M rows
    python bench/bench_bigdata.py --sizes 100000 500000    # some sizes only
    python bench/bench_bigdata.py --quick                  # 20k rows: a smoke run

The files are made here from ../shared/datasets/imdb50k.csv.gz (else the bundled split in data/):
the reviews repeated, every copy made unique (copy k swaps two neighbouring words of each review, at
a position set by k and the row), so no text repeats and the vocabulary stays the IMDB one.

1. memory: peak RSS of `sentiment train --data FILE --set training.epochs=1` per size, run in a
   child process (RUSAGE_CHILDREN: the largest process of the tree, i.e. the trainer; the
   tokenizing workers are much smaller). GB here are 10^9 bytes. Sizes above --full-epoch (default 500,000) stop the epoch
   after --steps batches: the peak is set by preparing the data, not by the steps. Targets: 500k
   rows <= 2.5 GB, 2M rows <= 4 GB, and the peak growing much slower than the rows (from 500k to
   2M: peak ratio <= half the row ratio). The 2M file (2.5 GB) is above
   large_table.STREAM_MIN_BYTES (1 GiB), so training reads it a chunk at a time; the smaller ones
   are read whole, as any file below that size is.
2. reading + tokenizing --speed-rows rows (default 500,000) the way training did before
   corpus.py (load_labeled, Tokenizer.fit on the training rows, transform of every row) and the
   way it does now (load_labeled, corpus.tokenize on every core, fit_vocabulary, lookup), the two
   alternating in one process, medians of --repeats; the vocabularies and ids are checked equal.
   Target: >= 1.8x.

Results go to bench/out/bench_bigdata.json (bench/out is gitignored).
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
SOURCES = [ROOT.parent / "shared" / "datasets" / "imdb50k.csv.gz", ROOT / "data" / "imdb_train.csv.gz"]
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
ENV.pop("SENTIMENT_DEBUG", None)
GB = 1e9 / 2**20  # MiB per GB: targets are read in decimal gigabytes, the stricter reading

# The trainer, in a child whose peak RSS is measured. With a step limit, a callback stops the one
# epoch after that many batches (training.train's extra_callbacks, as bench_datasets uses it).
CHILD = r"""
import json, logging, resource, sys, time
logging.basicConfig(level=logging.INFO, format="sentiment: %(message)s")
steps = int(sys.argv[3])
if steps:
    import keras
    import sentiment_cli.training as training

    class StopAfter(keras.callbacks.Callback):
        def on_train_batch_end(self, batch, logs=None):
            if batch + 1 >= steps:
                self.model.stop_training = True

    plain = training.train
    def train(*args, **kwargs):
        kwargs["extra_callbacks"] = lambda tokenizer: [StopAfter()]
        return plain(*args, **kwargs)
    training.train = train
from sentiment_cli import api
from sentiment_cli.config import load_config
start = time.perf_counter()
metrics = api.train(load_config(None, ["training.epochs=1"]), sys.argv[1], sys.argv[2], force=True, plots=False, verbose=2)
wall = time.perf_counter() - start
print(json.dumps({"wall": wall, "validation_accuracy": metrics["validation"]["accuracy"],
                  "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""
MEASURE = r"""
import json, resource, subprocess, sys
code = subprocess.call(sys.argv[2:])
u = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as fh:
    json.dump({"rss_mb": u.ru_maxrss / 1024}, fh)
sys.exit(code)
"""


def source_rows() -> list[tuple[str, str]]:
    src = next(p for p in SOURCES if p.exists())
    with gzip.open(src, "rt", encoding="utf-8", newline="") as fh:
        return [(r["text"], r["label"]) for r in csv.DictReader(fh)]


def unique_copy(text: str, k: int, row: int) -> str:
    """Copy k of a review: two neighbouring words swapped (copy 0 is the review itself)."""
    if k == 0:
        return text
    words = text.split(" ")
    if len(words) < 3:
        return text + " " * k  # a trailing space per copy: unique, and the same tokens
    i = (k * 7919 + row * 104729) % (len(words) - 1)
    words[i], words[i + 1] = words[i + 1], words[i]
    return " ".join(words)


def make_file(path: Path, n: int, rows: list[tuple[str, str]]) -> Path:
    if path.exists():
        return path
    tmp = path.with_suffix(".tmp")
    start = time.perf_counter()
    with open(tmp, "w", encoding="utf-8", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["text", "label"])
        for j in range(n):
            text, label = rows[j % len(rows)]
            out.writerow([unique_copy(text, j // len(rows), j % len(rows)), label])
    tmp.rename(path)
    print(f"made {path.name}: {n:,} rows, {path.stat().st_size / 2**20:,.0f} MB in "
          f"{time.perf_counter() - start:.0f}s", flush=True)
    return path


def bench_memory(path: Path, n: int, steps: int) -> dict[str, Any]:
    report = Path(tempfile.mkstemp(prefix="bench-bigdata-")[1])
    model = OUT / f"bigdata-model-{n}"
    cmd = [sys.executable, "-c", MEASURE, str(report), sys.executable, "-c", CHILD, str(path), str(model), str(steps)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=ENV, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wall = time.perf_counter() - start
    if proc.returncode:
        report.unlink(missing_ok=True)
        tail = proc.stderr.strip().splitlines()[-3:]
        return {"rows": n, "steps": steps, "error": f"exit {proc.returncode}: {' | '.join(tail)}"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    tree = json.loads(report.read_text())["rss_mb"]
    report.unlink()
    logged = [ln.split("sentiment: ", 1)[-1] for ln in proc.stderr.splitlines() if "tokenized " in ln]
    return {"rows": n, "steps": steps, "peak_rss_mb": tree, "trainer_rss_mb": result["rss_mb"],
            "train_wall": result["wall"], "wall": wall, "validation_accuracy": result["validation_accuracy"],
            "tokenize_log": logged[:1]}


def bench_speed(path: Path, repeats: int) -> dict[str, Any]:
    """Old and new reading + tokenizing of `path`, alternating, in this process."""
    import numpy as np

    from sentiment_cli import corpus
    from sentiment_cli.config import load_config
    from sentiment_cli.data import load_labeled
    from sentiment_cli.training import split_validation, tokenizer_from_config

    cfg = load_config(None, ["tokenizer.num_words=50000"])

    def read():
        return load_labeled(path, "text", "label")

    def before():
        data = read()
        tr, _ = split_validation(data, cfg.training.validation_split, cfg.training.seed)
        tok = tokenizer_from_config(cfg).fit([data.texts[i] for i in tr])
        return tok, tok.transform(data.texts)

    def after():
        data = read()
        tr, _ = split_validation(data, cfg.training.validation_split, cfg.training.seed)
        tok, space = tokenizer_from_config(cfg), corpus.WordSpace()
        ids = corpus.tokenize(tok, data.texts, space)
        corpus.fit_vocabulary(tok, space.words, ids.take(tr))
        return tok, ids.map(corpus.lookup_table(tok, space.words))

    times: dict[str, list[float]] = {"before": [], "after": []}
    same = None
    for r in range(repeats):
        for name, fn in (("before", before), ("after", after)) if r % 2 == 0 else (("after", after), ("before", before)):
            start = time.perf_counter()
            out = fn()
            times[name].append(time.perf_counter() - start)
            if same is None and name == "after":
                tok_new, ids_new = out
            elif same is None:
                tok_old, seqs_old = out
            if same is None and times["before"] and times["after"]:
                flat = np.fromiter((i for s in seqs_old for i in s), dtype=np.int32)
                same = bool(tok_old.word_index_ == tok_new.word_index_ and np.array_equal(flat, ids_new.ids)
                            and np.array_equal(np.fromiter(map(len, seqs_old), np.int64), ids_new.lengths))
                del tok_old, seqs_old, tok_new, ids_new, flat
            del out
        print(f"  speed repeat {r + 1}: before {times['before'][-1]:.1f}s, after {times['after'][-1]:.1f}s", flush=True)
    b, a = statistics.median(times["before"]), statistics.median(times["after"])
    return {"before_s": b, "after_s": a, "speedup": b / a, "identical": same, "repeats": repeats,
            "cores": corpus.available_cores()}


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def report(res: dict[str, Any]) -> str:
    lines = [f"{'rows':>10}  {'steps':>7}  {'peak RSS':>10}  {'train wall':>10}  {'val acc':>7}",]
    by_rows = {}
    for m in res["memory"]:
        if "error" in m:
            lines.append(f"{m['rows']:>10,}  {m['steps'] or 'epoch':>7}  {'failed':>10}  {m['error'][:80]}")
            continue
        by_rows[m["rows"]] = m["peak_rss_mb"]
        acc = f"{m['validation_accuracy']:.4f}" if m["validation_accuracy"] is not None else "-"
        lines.append(f"{m['rows']:>10,}  {m['steps'] or 'epoch':>7}  {m['peak_rss_mb'] / GB:>8.2f}GB  "
                     f"{m['train_wall']:>9.0f}s  {acc:>7}")
    lines.append("")
    for rows, limit in ((500_000, 2.5), (2_000_000, 4.0)):
        if rows in by_rows:
            lines.append(f"{verdict(by_rows[rows] / GB <= limit)}  peak RSS at {rows:,} rows <= {limit} GB: "
                         f"{by_rows[rows] / GB:.2f} GB")
    if 500_000 in by_rows and 2_000_000 in by_rows:
        ratio = by_rows[2_000_000] / by_rows[500_000]
        lines.append(f"{verdict(ratio <= 2.0)}  peak grows much slower than rows: x{ratio:.2f} for x4 rows (<= x2)")
    s = res.get("speed")
    if s:
        lines.append(f"{verdict(s['speedup'] >= 1.8 and bool(s['identical']))}  reading + tokenizing "
                     f"{s['rows']:,} rows >= 1.8x faster: {s['before_s']:.1f}s -> {s['after_s']:.1f}s "
                     f"(x{s['speedup']:.2f}, medians of {s['repeats']}, {s['cores']} cores; identical ids: "
                     f"{s['identical']})")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 500_000, 2_000_000])
    parser.add_argument("--full-epoch", type=int, default=500_000, help="largest size trained a full epoch")
    parser.add_argument("--steps", type=int, default=20, help="batches trained at larger sizes")
    parser.add_argument("--speed-rows", type=int, default=500_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-speed", action="store_true")
    parser.add_argument("--keep-files", action="store_true", help="keep the generated CSVs in bench/out")
    parser.add_argument("--quick", action="store_true", help="20,000 rows, one speed repeat")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.speed_rows, args.repeats = [20_000], 20_000, 1
    OUT.mkdir(parents=True, exist_ok=True)
    rows = source_rows()
    res: dict[str, Any] = {"memory": []}
    made = []
    for n in sorted(set(args.sizes)):
        path = make_file(OUT / f"bigdata-{n}.csv", n, rows)
        made.append(path)
        steps = 0 if n <= args.full_epoch else args.steps
        print(f"training on {n:,} rows ({'one epoch' if not steps else f'{steps} steps'})...", flush=True)
        m = bench_memory(path, n, steps)
        print(f"  {json.dumps(m)}", flush=True)
        res["memory"].append(m)
    if not args.no_speed:
        path = make_file(OUT / f"bigdata-{args.speed_rows}.csv", args.speed_rows, rows)
        made.append(path)
        print(f"reading + tokenizing {args.speed_rows:,} rows, before and after...", flush=True)
        res["speed"] = {"rows": args.speed_rows, **bench_speed(path, args.repeats)}
    text = report(res)
    print("\n" + text)
    (OUT / "bench_bigdata.json").write_text(json.dumps(res, indent=1))
    if not args.keep_files:
        for path in set(made):
            path.unlink(missing_ok=True)


if __name__ == "__main__":
    main()
