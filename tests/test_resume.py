"""`sentiment train --resume`: an interrupted training continues from its last completed epoch.

Keras' BackupAndRestore alone restores weights, optimizer state and the epoch number, but returns
a History of the resumed epochs only and restarts EarlyStopping; resume.ResumableBackup keeps both
(see its module doc). The end-to-end test kills a real `sentiment train` with SIGKILL.
"""

from __future__ import annotations

import csv
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, invoke
from sentiment_cli import artifacts
from sentiment_cli.resume import CHECKPOINT_METADATA, STATE, completed_epochs

# Long enough to be killed in the middle, no early stopping so every epoch runs.
RUN = [*TINY, "--set", "training.epochs=5", "--set", "training.early_stopping_patience=null"]


# -- the callback, on a toy model ------------------------------------------------------------------
class Interrupt(Exception):
    pass


def _toy_fit(backup_dir: Path, stop_at: int | None, epochs: int = 5) -> dict:
    """Fit a tiny Dense model with EarlyStopping + ResumableBackup; raise at epoch `stop_at`."""
    import keras

    from sentiment_cli.resume import resumable_backup
    from sentiment_cli.training import quiet_tensorflow

    quiet_tensorflow()
    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)).astype("float32"), rng.integers(0, 2, 64).astype("float32")
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, activation="sigmoid")])
    model.compile(keras.optimizers.Adam(0.01), "binary_crossentropy")
    es = keras.callbacks.EarlyStopping(patience=100, restore_best_weights=True)
    backup = resumable_backup(backup_dir, es)
    seen: dict = {}

    class Spy(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):  # after the restore
            seen["begin"] = (es.best, es.best_epoch, es.wait, es.best_weights)

        def on_epoch_begin(self, epoch, logs=None):
            if epoch == stop_at:
                seen["at_stop"] = (es.best, es.best_epoch, es.wait, [w.copy() for w in es.best_weights])
                raise Interrupt

    try:
        model.fit(x, y, batch_size=16, epochs=epochs, validation_split=0.25, verbose=0, shuffle=False,
                  callbacks=[es, backup, Spy()])
    except Interrupt:
        pass
    return {"backup": backup, "seen": seen, "iterations": int(model.optimizer.iterations.numpy())}


def test_backup_keeps_history_early_stopping_and_optimizer_state(tmp_path: Path):
    first = _toy_fit(tmp_path, stop_at=2)
    assert completed_epochs(tmp_path) == 2
    saved = json.loads((tmp_path / STATE).read_text())
    assert len(saved["history"]["val_loss"]) == 2 and len(saved["seconds"]) == 2

    second = _toy_fit(tmp_path, stop_at=None)
    backup = second["backup"]
    assert backup.resumed_from == 2
    assert {k: len(v) for k, v in backup.history.items()} == {"loss": 5, "val_loss": 5}
    assert backup.history["val_loss"][:2] == saved["history"]["val_loss"]  # not re-run
    # Optimizer state restored: 3 epochs of 3 steps ran on top of the 2 x 3 restored steps.
    assert second["iterations"] == 5 * 3
    best, best_epoch, wait, best_weights = first["seen"]["at_stop"]
    r_best, r_epoch, r_wait, r_weights = second["seen"]["begin"]
    assert (r_best, r_epoch, r_wait) == (pytest.approx(best), best_epoch, wait)
    assert all(np.array_equal(a, b) for a, b in zip(best_weights, r_weights))
    assert backup.previous_seconds == saved["seconds"][-1]
    assert (tmp_path / CHECKPOINT_METADATA).exists(), "kept until api.train has written the model"


def test_state_one_epoch_ahead_of_the_checkpoint_is_cut_back(tmp_path: Path):
    """A kill between state.json and the checkpoint: the checkpoint decides where to resume."""
    _toy_fit(tmp_path, stop_at=2)
    state = json.loads((tmp_path / STATE).read_text())
    state["history"] = {k: v + [99.0] for k, v in state["history"].items()}
    state["early_stopping"].append(dict(state["early_stopping"][-1], best_epoch=2))
    state["seconds"].append(123.0)
    (tmp_path / STATE).write_text(json.dumps(state))
    backup = _toy_fit(tmp_path, stop_at=None)["backup"]
    assert backup.resumed_from == 2
    assert len(backup.history["loss"]) == 5 and 99.0 not in backup.history["loss"]


def test_a_run_early_stopping_had_ended_trains_no_further(tmp_path: Path):
    """Killed after early stopping ended the loop but before the model was written."""
    _toy_fit(tmp_path, stop_at=2)
    state = json.loads((tmp_path / STATE).read_text())
    state["early_stopping"][-1]["stopped"] = True
    (tmp_path / STATE).write_text(json.dumps(state))
    result = _toy_fit(tmp_path, stop_at=None)
    assert len(result["backup"].history["loss"]) == 2
    assert result["iterations"] == 2 * 3  # the restored optimizer took no further step


# -- the command -----------------------------------------------------------------------------------
def _history_rows(model_dir: Path) -> list[dict[str, str]]:
    with open(model_dir / "history.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def test_killed_training_resumes_from_the_last_epoch(tmp_path: Path, reviews_train: Path, reviews_test: Path):
    out = tmp_path / "model"
    backup = tmp_path / ".model.resume"
    args = ["--data", str(reviews_train), "--test-data", str(reviews_test), "--out", str(out), "--no-plots", *RUN]
    proc = subprocess.Popen([sys.executable, "-m", "sentiment_cli", "train", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300  # bounded: TensorFlow start-up on a busy machine
        while completed_epochs(backup) < 1:
            assert proc.poll() is None, f"training ended before it could be killed:\n{proc.stderr.read().decode()}"
            assert time.monotonic() < deadline, "no epoch backup appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.kill()
        proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    done = completed_epochs(backup)
    assert 1 <= done < 5
    assert not out.exists(), "nothing is written before training ends"
    before = json.loads((backup / STATE).read_text())["history"]

    result = invoke(["train", *args, "--resume"])
    assert f"resuming from the end of epoch {done} of 5" in result.stderr
    assert f"Epoch {done + 1}/5" in result.stderr and "Epoch 1/5" not in result.stderr
    artifacts.check_model_dir(out)
    rows = _history_rows(out)
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3, 4, 5]
    for i in range(done):  # the epochs before the kill are kept as they were, not re-run
        assert float(rows[i]["val_loss"]) == pytest.approx(before["val_loss"][i], abs=1e-6)
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["epochs_run"] == 5 and metrics["resumed_from_epoch"] == done
    assert metrics["test"]["n"] == 300
    assert not backup.exists(), "the backup is removed once the model directory is written"

    from sentiment_cli.predictor import Predictor

    p, _ = Predictor.from_dir(out).score(["A wonderful, moving film.", "Dull and far too long."])
    assert p.shape == (2,) and np.all((p >= 0) & (p <= 1))


def test_ctrl_c_keeps_the_backup_and_says_how_to_resume(tmp_path: Path, reviews_train: Path):
    out = tmp_path / "model"
    backup = tmp_path / ".model.resume"
    proc = subprocess.Popen([sys.executable, "-m", "sentiment_cli", "train", "--data", str(reviews_train),
                             "--out", str(out), "--no-plots", *RUN],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 300
        while completed_epochs(backup) < 1:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "no epoch backup appeared"
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=120)
    finally:
        proc.kill()
    assert proc.returncode == 130, stderr
    assert "--resume" in stderr and "interrupted" in stderr and "Traceback" not in stderr
    assert stdout == "" and not out.exists()
    assert completed_epochs(backup) >= 1 and (backup / "run.json").is_file()


def test_a_swallowed_ctrl_c_is_raised_again_at_the_next_check():
    """What TensorFlow's finalizers do to a KeyboardInterrupt (print "Exception ignored", drop it)
    must not let train write a model: the epoch loop's and api.train's check raise it again."""
    from sentiment_cli import interrupts

    before = signal.getsignal(signal.SIGINT)
    with interrupts.recorded():
        try:
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)  # the handler runs between bytecodes: here
        except KeyboardInterrupt:
            pass  # swallowed, as inside a __del__
        with pytest.raises(KeyboardInterrupt):
            interrupts.check()
    interrupts.check()  # outside, and once handled: nothing pending
    assert signal.getsignal(signal.SIGINT) is before


def test_resume_with_nothing_to_resume(tmp_path: Path, reviews_train: Path):
    result = invoke(["train", "--data", str(reviews_train), "--out", str(tmp_path / "m"), "--resume", *TINY],
                    exit_code=1)
    assert "nothing to resume" in result.stderr and "without --resume" in result.stderr


def test_resume_with_another_config_or_data_is_refused(tmp_path: Path, reviews_train: Path, reviews_test: Path):
    from sentiment_cli import api
    from sentiment_cli.config import load_config

    out = tmp_path / "m"
    # What an interrupted `train --set training.epochs=5` leaves behind: the run's stamp.
    api._resume_dir(out, load_config(None, ["training.epochs=5"]), reviews_train, resume=False)
    base = ["train", "--out", str(out), "--resume"]
    result = invoke([*base, "--data", str(reviews_train), "--set", "training.epochs=6"], exit_code=1)
    assert "another config or data file" in result.stderr and "same --config" in result.stderr
    result = invoke([*base, "--data", str(reviews_test), "--set", "training.epochs=5"], exit_code=1)
    assert "another config or data file" in result.stderr
    assert not out.exists()


class _Collect(logging.Handler):
    """Collects messages: the 'sentiment' logger does not propagate to pytest's caplog."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_a_new_run_discards_an_old_backup_loudly(tmp_path: Path, reviews_train: Path):
    from sentiment_cli import api
    from sentiment_cli.config import load_config

    out = tmp_path / "m"
    backup = api._resume_dir(out, load_config(), reviews_train, resume=False)
    (backup / CHECKPOINT_METADATA).write_text('{"epoch": 2, "batch": 0}')
    collect = _Collect()
    logger = logging.getLogger("sentiment")
    logger.addHandler(collect)
    try:
        api._resume_dir(out, load_config(), reviews_train, resume=False)
    finally:
        logger.removeHandler(collect)
    assert any("discarding the backup" in m and "--resume" in m for m in collect.messages)
    assert completed_epochs(backup) == 0 and (backup / "run.json").is_file()
