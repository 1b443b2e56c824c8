"""Time `predict --explain` on the light path: occlusion of every word in ONE batched ONNX call.

Picks >= 50 real reviews of about 150 tokens (140-160 under the model's tokenizer) from the
bundled test split, explains each one, and reports the median over repeats of the mean time per
review, beside plain scoring of the same reviews one at a time (what explaining costs on top).
Inference cost depends on the architecture and maxlen, not on how long the model was trained, so
without --model it trains a default-config model on 2,000 bundled reviews for one epoch.
PASS/FAIL is on wall time; CPU time is printed beside it because on a shared machine other jobs
inflate wall time but not the work done.

    python bench/bench_explain.py [--model DIR] [--reviews 50] [--repeats 5] [--threads N] [--target-ms 50]
"""

from __future__ import annotations

import argparse
import gzip
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def real_reviews(path: Path, limit: int) -> list[str]:
    import pandas as pd

    with gzip.open(path, "rt", encoding="utf-8") as fh:
        return pd.read_csv(fh, nrows=limit, dtype=str, keep_default_na=False)["text"].tolist()


def train_default(out: Path) -> None:
    """A default-config model (one epoch on 2,000 reviews: only the architecture matters here)."""
    import pandas as pd

    data = out.parent / "train2k.csv"
    with gzip.open(ROOT / "data" / "imdb_train.csv.gz", "rt", encoding="utf-8") as fh:
        pd.read_csv(fh, nrows=2000, dtype=str, keep_default_na=False).to_csv(data, index=False)
    subprocess.run([sys.executable, "-m", "sentiment_cli", "train", "--data", str(data), "--out", str(out),
                    "--quiet", "--no-plots", "--set", "training.epochs=1"], check=True,
                   stdout=subprocess.DEVNULL)


def timed(fn, items: list[str], repeats: int) -> tuple[float, float]:
    """Medians over `repeats` of the mean wall and CPU milliseconds per item.

    CPU time is printed beside wall time because this machine is shared: when other jobs load
    the cores, wall time grows while the work done (CPU time) does not.
    """
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        for item in items:
            fn(item)
        wall.append((time.perf_counter() - start) * 1000 / len(items))
        cpu.append((time.process_time() - start_cpu) * 1000 / len(items))
    return statistics.median(wall), statistics.median(cpu)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", help="model directory (default: train a default-config one)")
    ap.add_argument("--reviews", type=int, default=50)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--top-k", type=int, default=5)
    ap.add_argument("--target-ms", type=float, default=50.0)
    ap.add_argument("--threads", type=int, default=None, help="ONNX Runtime threads (default: predict's)")
    args = ap.parse_args()

    from sentiment_cli.explain import explain
    from sentiment_cli.predictor import DEFAULT_THREADS, Predictor

    with tempfile.TemporaryDirectory() as tmp:
        model = Path(args.model) if args.model else Path(tmp) / "model"
        if not args.model:
            train_default(model)
        predictor = Predictor.from_dir(model, backend="onnx", threads=args.threads or DEFAULT_THREADS)
        texts = real_reviews(ROOT / "data" / "imdb_test.csv.gz", 5000)
        _, lengths = predictor.tokenizer.encode_with_lengths(texts)
        picked = [t for t, n in zip(texts, lengths) if 140 <= n <= 160][: args.reviews]
        if len(picked) < args.reviews:
            print(f"only {len(picked)} reviews of 140-160 tokens found", file=sys.stderr)
            return 2
        explain(predictor, picked[0], args.top_k)  # warm-up: first ONNX run allocates
        rows = [len({w for w in predictor.tokenizer.words(t)}) for t in picked]
        load = os.getloadavg()[0]
        explain_ms, explain_cpu = timed(lambda t: explain(predictor, t, args.top_k), picked, args.repeats)
        score_ms, score_cpu = timed(lambda t: predictor.score([t]), picked, args.repeats)

    tok = predictor.tokenizer
    print(f"model: {'default config (trained here)' if not args.model else args.model}; backend "
          f"{predictor.backend}; maxlen {tok.maxlen}; {len(picked)} real reviews of 140-160 tokens "
          f"(median {statistics.median(rows):.0f} distinct words each); {args.repeats} repeats; "
          f"{args.threads or DEFAULT_THREADS} thread(s); load average {load:.1f} on {os.cpu_count()} cores")
    print(f"plain score     {score_ms:8.2f} ms/review wall, {score_cpu:8.2f} ms CPU (medians)")
    print(f"explain (top-{args.top_k}) {explain_ms:8.2f} ms/review wall, {explain_cpu:8.2f} ms CPU (medians)"
          f"   {explain_ms / score_ms:.1f}x plain")
    ok = explain_ms < args.target_ms
    print(f"{'PASS' if ok else 'FAIL'}: explain {explain_ms:.1f} ms/review, target < {args.target_ms:.0f} ms")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
