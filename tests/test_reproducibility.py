"""Same seed + same data -> same metrics and weights on CPU, run to run; another seed differs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from sentiment_cli.config import load_config

TINY = ["training.epochs=2", "tokenizer.num_words=3000", "tokenizer.maxlen=80", "model.units=16",
        "model.embedding_dim=16", "training.batch_size=32"]


def _train(tmp_path: Path, data: Path, name: str, seed: int, extra: list[str]) -> tuple[dict, list]:
    import keras

    from sentiment_cli import api

    out = tmp_path / name
    api.train(load_config(None, [*TINY, *extra, f"training.seed={seed}"]), data, out, plots=False, verbose=0)
    metrics = json.loads((out / "metrics.json").read_text())
    return metrics, keras.saving.load_model(out / "model.keras", compile=False).get_weights()


def _same(a: list, b: list) -> bool:
    return len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))


def test_same_seed_same_run_other_seed_other_run(tmp_path: Path, reviews_train: Path):
    m1, w1 = _train(tmp_path, reviews_train, "a", 7, [])
    m2, w2 = _train(tmp_path, reviews_train, "b", 7, [])
    assert m1["validation"] == m2["validation"]
    assert m1["threshold"] == m2["threshold"]
    assert _same(w1, w2)
    _, w3 = _train(tmp_path, reviews_train, "c", 8, [])
    assert not _same(w1, w3)


def test_length_bucketed_training_is_reproducible(reviews_train: Path, monkeypatch):
    """Bucketing draws batches from a numpy generator: it must be seeded from training.seed."""
    from sentiment_cli import training
    from sentiment_cli.data import load_labeled

    seen = []
    make_dataset = training.make_dataset

    def spy(*args, **kwargs):
        seen.append((kwargs["bucketing"], kwargs["seed"]))
        return make_dataset(*args, **kwargs)

    monkeypatch.setattr(training, "make_dataset", spy)
    data = load_labeled(reviews_train, "text", "label")
    cfg = load_config(None, [*TINY, "model.mask=true", "tokenizer.padding=post", "training.bucketing=true",
                             "training.seed=5"])
    a, b = (training.train(cfg, data, verbose=0) for _ in range(2))
    assert seen == [(True, 5), (True, 5)]  # bucketing really ran, seeded from the config
    assert a.history == b.history
    assert _same(a.model.get_weights(), b.model.get_weights())


def test_bucketing_order_comes_from_the_seed():
    """make_dataset's length buckets: the seed fixes the batch order, epoch after epoch."""
    from sentiment_cli.training import make_dataset

    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 50, size=300)
    x = np.arange(300 * 50, dtype=np.int32).reshape(300, 50)  # row i holds ids 50*i .. 50*i+49
    y = np.zeros(300, dtype=np.float32)

    def epochs(seed: int) -> list[list[int]]:
        ds = make_dataset(x, lengths, y, batch_size=32, seed=seed, bucketing=True, padding="post")
        # First id of each row identifies it: the row order of two consecutive epochs.
        return [[int(v) // 50 for xb, _ in ds for v in xb.numpy()[:, 0]] for _ in range(2)]

    first, second = epochs(1)
    assert sorted(first) == list(range(300))
    assert first != second  # reshuffled each epoch...
    assert epochs(1) == [first, second]  # ...the same way for the same seed
    assert epochs(2)[0] != first


def test_small_dataset_in_big_batches_gets_a_hint(tmp_path: Path, reviews_train: Path, caplog):
    """600 reviews in the default batches of 256 make 3 steps an epoch: train says what to change."""
    import logging

    from sentiment_cli import training
    from sentiment_cli.data import load_labeled

    data = load_labeled(reviews_train, "text", "label")
    tiny = ["training.epochs=1", "tokenizer.maxlen=40", "model.units=4", "model.embedding_dim=4", "model.wide=none"]
    with caplog.at_level(logging.WARNING, logger="sentiment"):
        training.train(load_config(None, [*tiny, "training.batch_size=256"]), data, verbose=0)
        training.train(load_config(None, tiny), data, verbose=0)  # auto: batches of 32, no hint
    hints = [r.getMessage() for r in caplog.records if "step(s) per epoch" in r.getMessage()]
    assert hints == ["only 3 step(s) per epoch: 540 training reviews in batches of 256. A small dataset "
                     "learns better in smaller batches, e.g. --set training.batch_size=auto"]
