"""Is distribute.fit's custom loop as fast as model.fit on one device? Side by side, one process.

    python bench/bench_distribute.py                 # 2,000 bundled reviews, 2 epochs, 5 repeats
    python bench/bench_distribute.py --rows 5000 --repeats 7 --set model.units=64

training.train runs every strategy (none included) through distribute.fit, a hand-written copy of
model.fit's loop, because model.fit cannot train under MultiWorkerMirroredStrategy in Keras 3
(keras-team/keras#20585). This checks the price for the common single-device case: the same model
(same config, seed and initial weights), the same tf.data pipeline, trained by `model.fit` and by
`distribute.fit` with distribution=none, alternating repeat by repeat so load from other jobs on this
shared machine hits both alike. Reported: medians over --repeats of the whole call (model build,
tracing, all epochs) and of the last epoch alone (steady state), CPU seconds beside wall seconds,
the ratio loop/fit, and the final validation loss of each (they should agree closely: same math).

Results go to bench/out/bench_distribute.json (bench/out is gitignored).
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import resource
import statistics
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=2000, help="bundled training reviews to use")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args()
    if args.repeats < 5:
        parser.error("--repeats must be >= 5 (medians over at least five runs)")

    import pandas as pd

    from sentiment_cli import distribute, training
    from sentiment_cli.config import load_config
    from sentiment_cli.data import LabelEncoding, LabeledData
    from sentiment_cli.model import build_model, compile_model

    cfg = load_config(None, [f"training.epochs={args.epochs}", "training.early_stopping_patience=null",
                             *args.overrides])
    tc = cfg.training
    with gzip.open(ROOT / "data" / "imdb_train.csv.gz", "rt", encoding="utf-8") as fh:
        df = pd.read_csv(fh, nrows=args.rows, dtype=str, keep_default_na=False)
    data = LabeledData(df["text"].tolist(), (df["label"] == "positive").to_numpy(np.int32),
                       LabelEncoding("negative", "positive"), "bundled")

    training.quiet_tensorflow()
    import keras
    import tensorflow as tf

    training.seed_everything(tc.seed)
    placement = distribute.setup(cfg)  # distribution=none: TensorFlow's default strategy
    tr, va = training.split_validation(data, tc.validation_split, tc.seed)
    tok = training.tokenizer_from_config(cfg).fit([data.texts[i] for i in tr])
    x_tr, len_tr = tok.encode_with_lengths([data.texts[i] for i in tr])
    x_va = tok.encode([data.texts[i] for i in va])
    y_tr, y_va = data.y[tr].astype(np.float32), data.y[va].astype(np.float32)
    bucketing = tc.bucketing and training.bucketing_is_exact(cfg)

    def datasets() -> tuple[object, object]:
        train_ds = training.make_dataset(x_tr, np.minimum(len_tr, cfg.tokenizer.maxlen), y_tr,
                                         batch_size=tc.batch_size, seed=tc.seed, bucketing=bucketing,
                                         padding=cfg.tokenizer.padding)
        return train_ds, tf.data.Dataset.from_tensor_slices((x_va, y_va)).batch(512)

    def make_model() -> object:
        keras.utils.set_random_seed(tc.seed)
        return compile_model(build_model(cfg.model, vocab_size=tok.vocabulary_size, seed=tc.seed,
                                         padding=cfg.tokenizer.padding), tc)

    class EpochClock(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            self.ends = []

        def on_epoch_begin(self, epoch, logs=None):
            self.start = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            self.ends.append(time.perf_counter() - self.start)

    def run_fit() -> tuple[float, float, float, float]:
        clock = EpochClock()
        train_ds, val_ds = datasets()
        wall, cpu = time.perf_counter(), cpu_seconds()
        model = make_model()
        hist = model.fit(train_ds, validation_data=val_ds, epochs=tc.epochs, callbacks=[clock], verbose=0,
                         shuffle=False)
        return time.perf_counter() - wall, cpu_seconds() - cpu, clock.ends[-1], hist.history["val_loss"][-1]

    def run_loop() -> tuple[float, float, float, float]:
        clock = EpochClock()
        train_ds, val_ds = datasets()
        wall, cpu = time.perf_counter(), cpu_seconds()
        fitted = distribute.fit(placement, make_model, train_ds, val_ds, epochs=tc.epochs,
                                steps=math.ceil(len(y_tr) / tc.batch_size), callbacks=[clock], verbose=0)
        return time.perf_counter() - wall, cpu_seconds() - cpu, clock.ends[-1], fitted.history["val_loss"][-1]

    results: dict[str, list[tuple[float, float, float, float]]] = {"fit": [], "loop": []}
    for r in range(args.repeats):
        order = (("fit", run_fit), ("loop", run_loop)) if r % 2 == 0 else (("loop", run_loop), ("fit", run_fit))
        for name, run in order:
            results[name].append(run())
            wall, cpu, last, vloss = results[name][-1]
            print(f"repeat {r + 1} {name:4s}: {wall:6.2f}s wall, {cpu:6.2f}s cpu, last epoch {last:5.2f}s, "
                  f"val_loss {vloss:.4f}", file=sys.stderr)

    med = {name: [statistics.median(col) for col in zip(*runs)] for name, runs in results.items()}
    summary = {
        "rows": args.rows, "train_rows": len(y_tr), "epochs": tc.epochs, "repeats": args.repeats,
        "batch_size": tc.batch_size, "maxlen": cfg.tokenizer.maxlen, "units": cfg.model.units,
        "bucketing": bucketing, "overrides": args.overrides,
        **{f"{name}_median": {"wall_s": round(m[0], 3), "cpu_s": round(m[1], 3), "last_epoch_s": round(m[2], 3),
                              "val_loss": round(m[3], 5)} for name, m in med.items()},
        "ratio_loop_over_fit": {"wall": round(med["loop"][0] / med["fit"][0], 3),
                                "cpu": round(med["loop"][1] / med["fit"][1], 3),
                                "last_epoch": round(med["loop"][2] / med["fit"][2], 3)},
    }
    out = ROOT / "bench" / "out"
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench_distribute.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    print(f"\n{'':8s}{'wall s':>9s}{'cpu s':>9s}{'last epoch s':>14s}{'val_loss':>10s}")
    for name, m in med.items():
        print(f"{name:8s}{m[0]:9.2f}{m[1]:9.2f}{m[2]:14.2f}{m[3]:10.4f}")
    ratio = summary["ratio_loop_over_fit"]
    print(f"loop/fit: wall {ratio['wall']:.3f}x, cpu {ratio['cpu']:.3f}x, last epoch {ratio['last_epoch']:.3f}x "
          f"(medians of {args.repeats})")


if __name__ == "__main__":
    main()
