"""The model builder and the length-bucketing shortcut it allows."""

from __future__ import annotations

import numpy as np
import pytest

from sentiment_cli.config import load_config
from sentiment_cli.training import bucketed_batches, bucketing_is_exact


pytestmark = pytest.mark.filterwarnings("ignore:.*does not support masking")


def build(overrides: list[str]):
    import keras

    from sentiment_cli.model import build_model

    keras.utils.set_random_seed(0)  # the same weights whatever ran before
    cfg = load_config(None, ["model.units=16", "model.embedding_dim=8", *overrides])
    return cfg, build_model(cfg.model, vocab_size=50, seed=1)


@pytest.mark.parametrize("cell", ["lstm", "gru", "simple_rnn"])
@pytest.mark.parametrize("bidirectional, layers, pooling", [(False, 1, "last"), (True, 2, "max_avg")])
def test_architectures_build_and_output_probabilities(cell, bidirectional, layers, pooling):
    _, model = build([f"model.cell={cell}", f"model.bidirectional={str(bidirectional).lower()}",
                      f"model.layers={layers}", f"model.pooling={pooling}"])
    p = np.asarray(model(np.random.default_rng(0).integers(0, 50, (4, 12)).astype("int32")))
    assert p.shape == (4, 1) and np.all((p > 0) & (p < 1))
    assert model.layers[-1].name == "predictions" and model.layers[-1].dtype_policy.compute_dtype == "float32"


def _ragged_rows(padding: str, maxlen: int = 20) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    lengths = np.array([3, 7, 12, 20])
    x = np.zeros((len(lengths), maxlen), dtype="int32")
    for i, n in enumerate(lengths):
        ids = rng.integers(1, 50, n)
        if padding == "post":
            x[i, :n] = ids
        else:
            x[i, maxlen - n:] = ids
    return x, lengths


@pytest.mark.parametrize("padding, pooling", [("post", "max"), ("post", "max_avg"), ("pre", "last"),
                                              ("pre", "avg"), ("post", "last")])
def test_bucketing_is_exact_where_claimed(padding, pooling):
    """Cutting a batch to its longest row must not change any score (the train/serve contract)."""
    cfg, model = build(["model.mask=true", f"tokenizer.padding={padding}", f"model.pooling={pooling}",
                        "model.dropout=0", "model.embedding_dropout=0"])
    assert bucketing_is_exact(cfg)
    x, lengths = _ragged_rows(padding)
    full = np.asarray(model(x))
    for i, n in enumerate(lengths):  # each row cut to its own length, as a bucket of one
        row = x[i:i + 1, -n:] if padding == "pre" else x[i:i + 1, :n]
        np.testing.assert_allclose(np.asarray(model(row)), full[i:i + 1], atol=1e-6)


def test_pre_padding_with_max_pooling_is_not_exact_so_bucketing_stays_off():
    cfg, model = build(["model.mask=true", "tokenizer.padding=pre", "model.pooling=max", "model.dropout=0",
                        "model.embedding_dropout=0"])
    assert not bucketing_is_exact(cfg)
    x, lengths = _ragged_rows("pre")
    full = np.asarray(model(x))
    cut = np.concatenate([np.asarray(model(x[i:i + 1, -n:])) for i, n in enumerate(lengths)])
    assert np.abs(cut - full).max() > 1e-5  # the zeros emitted at masked leading steps reach the max
    assert not bucketing_is_exact(load_config(None, ["model.mask=false", "tokenizer.padding=post"]))


def test_bucketed_batches_cover_every_row_once_sorted_within_windows():
    lengths = np.random.default_rng(1).integers(1, 300, 1000)
    batches = list(bucketed_batches(lengths, 32, np.random.default_rng(2), window=4))
    rows = np.concatenate([b for b, _ in batches])
    assert sorted(rows.tolist()) == list(range(1000))
    assert all(w == lengths[b].max() for b, w in batches)
    # Sorting within windows makes batches much tighter than random batching.
    waste = sum(w * len(b) - lengths[b].sum() for b, w in batches)
    random_waste = sum(lengths[c].max() * len(c) - lengths[c].sum() for c in np.array_split(np.arange(1000), 32))
    assert waste < 0.5 * random_waste
