"""PNG plots in the model directory and from `evaluate --plots`; TensorBoard logs on request."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, invoke

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TRAIN_PLOTS = ("learning_curves.png", "confusion_matrix.png", "roc.png", "precision_recall.png")
EVAL_PLOTS = ("confusion_matrix.png", "roc.png", "precision_recall.png", "reliability.png")


def assert_real_png(path: Path, min_width: int = 300, min_height: int = 300) -> None:
    """A valid PNG with the expected size and something drawn on it (not one flat colour)."""
    import matplotlib.image

    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE, f"{path.name} is not a PNG"
    assert len(data) > 5000, f"{path.name} is suspiciously small ({len(data)} bytes)"
    pixels = matplotlib.image.imread(path)
    height, width = pixels.shape[:2]
    assert width >= min_width and height >= min_height, (path.name, width, height)
    rgb = pixels[..., :3].reshape(-1, 3)
    assert len(np.unique(rgb, axis=0)) > 10, f"{path.name} is blank"


@pytest.fixture(scope="module")
def trained_with_plots(tmp_path_factory: pytest.TempPathFactory, reviews_train: Path) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("plots")
    out, logs = root / "model", root / "tb"
    invoke(["train", "--data", str(reviews_train), "--out", str(out), "--tensorboard", str(logs), "--quiet", *TINY])
    return out, logs


@pytest.mark.parametrize("name", TRAIN_PLOTS)
def test_model_directory_has_training_plots(trained_with_plots: tuple[Path, Path], name: str):
    out, _ = trained_with_plots
    assert_real_png(out / "plots" / name)
    # Plots are artifacts like any other: hashed in the manifest.
    assert f"plots/{name}" in json.loads((out / "manifest.json").read_text())["artifacts"]


def test_learning_curves_are_wide(trained_with_plots: tuple[Path, Path]):
    import matplotlib.image

    height, width = matplotlib.image.imread(trained_with_plots[0] / "plots" / "learning_curves.png").shape[:2]
    assert width > 2 * height  # loss and accuracy side by side


def test_no_plots_flag(trained_model: Path):
    assert not (trained_model / "plots").exists()  # conftest trains with --no-plots


def test_evaluate_writes_its_plots(trained_model: Path, reviews_test: Path, tmp_path: Path):
    plots = tmp_path / "eval-plots"
    result = invoke(["evaluate", "--model", str(trained_model), "--data", str(reviews_test), "--plots", str(plots),
                     "--format", "json"])
    report = json.loads(result.stdout)
    assert sorted(Path(p).name for p in report["plots"]) == sorted(EVAL_PLOTS)
    for name in EVAL_PLOTS:
        assert_real_png(plots / name)
    table = invoke(["evaluate", "--model", str(trained_model), "--data", str(reviews_test), "--plots",
                    str(tmp_path / "again")]).stdout
    assert "plots: " in table and str(tmp_path / "again" / "roc.png") in table


def test_tensorboard_event_files(trained_with_plots: tuple[Path, Path]):
    _, logs = trained_with_plots
    events = {p.parent.name: p for p in logs.rglob("events.out.tfevents.*")}
    assert set(events) >= {"train", "validation"}, sorted(logs.rglob("*"))
    assert all(p.stat().st_size > 100 for p in events.values())
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(events["validation"].parent)).Reload()
    tags = acc.Tags()
    recorded = set(tags.get("scalars", [])) | set(tags.get("tensors", []))
    assert any("loss" in t for t in recorded), tags


def test_tensorboard_without_the_package_fails_before_training(tmp_path: Path, reviews_train: Path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "tensorboard" else find_spec(name, *a))
    result = invoke(["train", "--data", str(reviews_train), "--out", str(tmp_path / "m"), "--tensorboard",
                     str(tmp_path / "tb"), *TINY], exit_code=2)
    assert "tensorboard package" in result.stderr and "pip install" in result.stderr
    assert not (tmp_path / "m").exists() and not (tmp_path / "tb").exists()
