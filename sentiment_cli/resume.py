"""`sentiment train --resume`: continue an interrupted training from its last completed epoch.

Keras' BackupAndRestore checkpoints the weights, the optimizer state and the epoch number at every
epoch end, and restores them when training starts again. On its own that is not a resumable run:

- the History it returns holds only the epochs run after the restart (history.csv, best_epoch and
  epochs_run would start again at 1);
- EarlyStopping starts from scratch (best loss, patience count and the best weights to restore
  are lost, so a model that peaked before the interruption is not the one saved);
- with delete_checkpoint=True it deletes the whole backup directory (our run.json stamp included)
  as soon as the loop ends, before the model directory is written: a kill during the ONNX export
  would leave nothing to resume.

`ResumableBackup` is a BackupAndRestore that also writes the per-epoch logs, EarlyStopping's state
and the training seconds spent (state.json, best.weights.npz) before each checkpoint, puts them back
after restoring one, and keeps the directory until api.train has written the model directory.

Not restored: the position of the data shuffle and dropout random streams (they restart from the
seed), so a resumed run is as good as an uninterrupted one but not bit-identical to it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger("sentiment")
STATE = "state.json"
BEST_WEIGHTS = "best.weights.npz"
CHECKPOINT_METADATA = "training_metadata.json"  # written by keras.callbacks.BackupAndRestore


def completed_epochs(backup_dir: str | Path) -> int:
    """Epochs a backup directory holds a checkpoint for (0: none)."""
    try:
        meta = json.loads((Path(backup_dir) / CHECKPOINT_METADATA).read_text(encoding="utf-8"))
        return int(meta.get("epoch", 0))
    except (OSError, ValueError, TypeError, AttributeError):
        return 0


def _write_atomic(path: Path, write: Any) -> None:
    """Write via a temporary sibling and rename: a kill mid-write leaves the previous file."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    os.replace(tmp, path)


def _savez(path: Path, **arrays: Any) -> None:
    with open(path, "wb") as fh:  # a file object: np.savez would append ".npz" to a path
        np.savez(fh, **arrays)


def _number(value: Any) -> float | None:
    return None if value is None else float(value)


def resumable_backup(backup_dir: str | Path, early_stopping: Any | None = None) -> Any:
    """A keras.callbacks.BackupAndRestore that also keeps history, early stopping and time.

    Put it after `early_stopping` in the callback list: EarlyStopping resets itself when training
    begins and decides about an epoch at its end; this callback restores after the reset and saves
    after the decision.
    """
    import keras

    class ResumableBackup(keras.callbacks.BackupAndRestore):
        def __init__(self) -> None:
            super().__init__(str(backup_dir), delete_checkpoint=False, double_checkpoint=True)
            self.dir = Path(backup_dir)
            self.early_stopping = early_stopping
            self.history: dict[str, list[float]] = {}
            self.stopping: list[dict[str, Any]] = []
            self.seconds: list[float] = []
            self.resumed_from = 0
            self._start = time.perf_counter()

        # -- restore ---------------------------------------------------------------------------
        def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
            super().on_train_begin(logs)  # weights + optimizer state, model._initial_epoch
            self._start = time.perf_counter()
            start = int(getattr(self.model, "_initial_epoch", None) or 0)
            if not start:
                return
            state = self._read_state()
            # The checkpoint defines where we are; state.json is written first and may be one
            # epoch ahead of it (a kill between the two writes), never behind.
            if state is None or len(state["seconds"]) < start:
                log.warning("the backup in %s has no training history; history.csv will start at "
                            "epoch %d", self.dir, start + 1)
                return
            self.history = {k: v[:start] for k, v in state["history"].items()}
            self.stopping = state["early_stopping"][:start]
            self.seconds = state["seconds"][:start]
            self.resumed_from = start
            log.info("resuming from the end of epoch %d of %d (%.1fs of training already done)",
                     start, self.params.get("epochs", start), self.seconds[-1])
            self._restore_early_stopping()
            if self.stopping and self.stopping[-1].get("stopped"):
                # Early stopping had ended the run before the interruption: train no further.
                self.model._initial_epoch = max(start, int(self.params.get("epochs", start)))

        def _read_state(self) -> dict[str, Any] | None:
            try:
                state = json.loads((self.dir / STATE).read_text(encoding="utf-8"))
                return state if isinstance(state, dict) and isinstance(state.get("seconds"), list) else None
            except (OSError, ValueError):
                return None

        def _restore_early_stopping(self) -> None:
            es = self.early_stopping
            if es is None or not self.stopping:
                return
            last = self.stopping[-1]
            es.wait, es.best, es.best_epoch = int(last["wait"]), _number(last["best"]), int(last["best_epoch"])
            if not getattr(es, "restore_best_weights", False):
                return
            try:
                with np.load(self.dir / BEST_WEIGHTS) as saved:
                    epoch = int(saved["epoch"])
                    weights = [saved[f"w{i}"] for i in range(len(saved.files) - 1)]
            except (OSError, KeyError, ValueError):
                epoch, weights = -1, []
            if epoch == es.best_epoch:
                es.best_weights = weights
            else:  # the best weights belong to an epoch that was not checkpointed: start over
                log.warning("the backup's best weights do not match its checkpoint; early stopping "
                            "restarts its comparison at epoch %d", len(self.stopping) + 1)
                es.best, es.best_weights, es.wait = None, None, 0

        # -- save ------------------------------------------------------------------------------
        def on_epoch_end(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
            for key, value in (logs or {}).items():
                self.history.setdefault(key, []).append(float(value))
            done_before = self.seconds[-1] if self.seconds else 0.0
            self.seconds.append(done_before + time.perf_counter() - self._start)
            self._start = time.perf_counter()
            es = self.early_stopping
            entry: dict[str, Any] = {"stopped": bool(getattr(self.model, "stop_training", False))}
            if es is not None:
                entry.update(wait=int(es.wait), best=_number(es.best), best_epoch=int(es.best_epoch))
                if getattr(es, "restore_best_weights", False) and es.best_epoch == epoch and es.best_weights:
                    arrays = {f"w{i}": w for i, w in enumerate(es.best_weights)}
                    _write_atomic(self.dir / BEST_WEIGHTS, lambda p: _savez(p, epoch=np.int64(epoch), **arrays))
            self.stopping.append(entry)
            state = {"history": self.history, "early_stopping": self.stopping, "seconds": self.seconds}
            _write_atomic(self.dir / STATE, lambda p: p.write_text(json.dumps(state), encoding="utf-8"))
            super().on_epoch_end(epoch, logs)  # the checkpoint last: it decides where a resume starts

        @property
        def previous_seconds(self) -> float:
            """Training seconds spent before this process resumed the run."""
            return self.seconds[self.resumed_from - 1] if self.resumed_from else 0.0

    return ResumableBackup()
