"""The bundled configs: every YAML in configs/ loads, and every architecture builds and trains."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import ROOT
from sentiment_cli.config import Config, load_config, read_yaml
from sentiment_cli.data import load_labeled

CONFIGS = sorted((ROOT / "configs").glob("*.y*ml"))
# Architecture files: (name, cell, bidirectional, Keras layer class that must appear in the model).
ARCHITECTURES = [("simple_rnn", "simple_rnn", False, "SimpleRNN"), ("gru", "gru", False, "GRU"),
                 ("lstm", "lstm", False, "LSTM"), ("bilstm", "lstm", True, "Bidirectional")]
# Tiny and one epoch: this checks the wiring, not the accuracy.
TINY_ONE_EPOCH = ["training.epochs=1", "tokenizer.num_words=3000", "tokenizer.maxlen=80", "model.units=8",
                  "model.embedding_dim=8", "training.batch_size=64"]


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_every_config_loads(path: Path):
    assert isinstance(load_config(path), Config)


@pytest.mark.parametrize("name, cell, bidirectional, _layer", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_architecture_files_are_short_overrides(name: str, cell: str, bidirectional: bool, _layer: str):
    path = ROOT / "configs" / f"{name}.yaml"
    raw = read_yaml(path)
    assert list(raw) == ["model"], "only the model section differs from the defaults"
    assert path.read_text().lstrip().startswith("#"), "each file says what it is for"
    cfg = load_config(path)
    assert (cfg.model.cell, cfg.model.bidirectional) == (cell, bidirectional)
    # Everything else is the schema default, so a comparison differs only in the architecture.
    assert cfg.training == Config().training and cfg.tokenizer == Config().tokenizer


@pytest.fixture(scope="module")
def data(reviews_train: Path):
    return load_labeled(reviews_train, "text", "label")


@pytest.fixture(scope="module")
def trained(data) -> dict:
    """Each architecture trained for one tiny epoch (shared by the assertions below)."""
    from sentiment_cli import training

    results = {}
    for name, *_ in ARCHITECTURES:
        cfg = load_config(ROOT / "configs" / f"{name}.yaml", TINY_ONE_EPOCH)
        results[name] = training.train(cfg, data, verbose=0)
    return results


@pytest.mark.parametrize("name, cell, bidirectional, layer", ARCHITECTURES, ids=[a[0] for a in ARCHITECTURES])
def test_architecture_builds_and_trains_one_epoch(trained: dict, data, name: str, cell: str, bidirectional: bool,
                                                  layer: str):
    from sentiment_cli import training

    result = trained[name]
    assert layer in {type(x).__name__ for x in result.model.layers}
    assert result.epochs_run == 1 and len(result.history["loss"]) == 1
    assert np.isfinite(result.history["loss"][0])
    assert result.val_p.shape == (60,) and np.all((result.val_p >= 0) & (result.val_p <= 1))
    p = training.predict_texts(result, data.texts[:5])
    assert p.shape == (5,) and np.all((p >= 0) & (p <= 1))


def test_parameter_counts_follow_the_cells(trained: dict):
    params = {name: result.params for name, result in trained.items()}
    # Per unit: SimpleRNN one weight block, GRU three, LSTM four; bidirectional doubles the LSTM.
    assert params["simple_rnn"] < params["gru"] < params["lstm"] < params["bilstm"]
