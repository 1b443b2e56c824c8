"""The schema is the single source of defaults; bad configs fail with the key's path."""

from __future__ import annotations

from pathlib import Path

import pytest

from conftest import ROOT
from sentiment_cli.config import Config, load_config, parse_override, render_yaml
from sentiment_cli.errors import ConfigError


def test_default_yaml_is_the_rendered_schema():
    from sentiment_cli.cli import DEFAULT_YAML_HEADER

    assert (ROOT / "configs" / "default.yaml").read_text() == render_yaml(Config(), DEFAULT_YAML_HEADER), \
        "regenerate with: sentiment config --defaults > configs/default.yaml"


def test_default_yaml_loads_to_the_defaults():
    assert load_config(ROOT / "configs" / "default.yaml") == Config()


@pytest.mark.parametrize("path", sorted((ROOT / "configs").glob("*.yaml")), ids=lambda p: p.name)
def test_every_bundled_config_loads(path):
    assert isinstance(load_config(path), Config)


def test_lecture_config_is_the_reference_recipe():
    cfg = load_config(ROOT / "configs" / "lecture.yaml")
    assert (cfg.tokenizer.num_words, cfg.tokenizer.maxlen, cfg.tokenizer.oov) == (15000, 150, None)
    # Keras' splitting; the schema's default (auto) keeps "!", "?", emoticons and emoji as words in short texts.
    assert cfg.tokenizer.symbols is False and load_config(None).tokenizer.symbols == "auto"
    assert (cfg.model.embedding_dim, cfg.model.cell, cfg.model.units, cfg.model.pooling) == (64, "lstm", 50, "last")
    assert not cfg.model.bidirectional and cfg.model.layers == 1 and cfg.model.dropout == 0
    assert (cfg.training.optimizer, cfg.training.learning_rate, cfg.training.epochs, cfg.training.batch_size) == \
        ("adam", 0.001, 3, 32)


@pytest.mark.parametrize("item, expected", [
    ("training.epochs=1", {"training": {"epochs": 1}}),
    ("training.learning_rate=1e-4", {"training": {"learning_rate": 1e-4}}),
    ("model.bidirectional=true", {"model": {"bidirectional": True}}),
    ("tokenizer.oov=null", {"tokenizer": {"oov": None}}),
    ("data.text_column=review body", {"data": {"text_column": "review body"}}),
    ("data.positive_label=1", {"data": {"positive_label": 1}}),
])
def test_parse_override(item, expected):
    assert parse_override(item) == expected


def test_overrides_apply_in_order_and_coerce_ints_to_floats():
    cfg = load_config(None, ["training.epochs=1", "training.epochs=2", "training.learning_rate=1"])
    assert cfg.training.epochs == 2
    assert cfg.training.learning_rate == 1.0 and isinstance(cfg.training.learning_rate, float)


@pytest.mark.parametrize("items, message", [
    (["training.epoch=1"], "unknown config key 'training.epoch'.*did you mean 'epochs'"),
    (["trainig.epochs=1"], "unknown config section 'trainig'.*did you mean 'training'"),
    (["training.epochs=two"], "'training.epochs' must be int"),
    (["training.epochs=true"], "'training.epochs' must be int"),
    (["training.epochs=-3"], "'training.epochs' is -3, must be >= 1"),
    (["training.learning_rate=0"], "must be > 0"),
    (["model.cell=lsmt"], "'model.cell' is 'lsmt' \\(did you mean 'lstm'\\?\\)"),
    (["training.threshold=1.5"], "training.threshold"),
    (["training.validation_split=0.9"], "must be <= 0.5"),
    (["model.units=null"], "may not be null"),
    (["epochs=1"], "not of the form section.key=value"),
])
def test_bad_values_name_the_key(items, message):
    with pytest.raises(ConfigError, match=message):
        load_config(None, items)


def test_data_positive_label_must_be_a_string():
    # YAML reads `1` as an int; labels are compared as strings, so the schema says str.
    with pytest.raises(ConfigError, match="data.positive_label"):
        load_config(None, ["data.positive_label=1"])
    assert load_config(None, ['data.positive_label="1"']).data.positive_label == "1"


def test_yaml_file_errors(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("training:\n  epochs: [1\n")
    with pytest.raises(ConfigError, match="invalid YAML in .* at line"):
        load_config(bad)
    listy = tmp_path / "list.yaml"
    listy.write_text("- 1\n- 2\n")
    with pytest.raises(ConfigError, match="must be a mapping"):
        load_config(listy)
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(tmp_path / "missing.yaml")
    empty = tmp_path / "empty.yaml"
    empty.write_text("")
    assert load_config(empty) == Config()
