"""Training on one device, every local GPU, or several machines: one loop for every strategy.

`training.distribution` picks a tf.distribute strategy: `none` (TensorFlow's default strategy, one
device), `mirrored` (MirroredStrategy over all local GPUs, the devices in `training.devices`, or
the logical CPU devices of a CPU-only machine) or `multi_worker` (MultiWorkerMirroredStrategy; the
cluster comes from the TF_CONFIG environment variable).

Why a custom loop and not `model.fit`: under MultiWorkerMirroredStrategy Keras 3's `fit` fails with
"Attempt to convert a value (PerReplica:...) with an unsupported type" (keras-team/keras#20585).
`strategy.run` on a GradientTape step with the loss averaged over the *global* batch, and the Keras
optimizer's `apply_gradients` (which all-reduces the gradients), works under every strategy. So every
strategy runs the same loop below, driving the same Keras callbacks `fit` would (EarlyStopping with
restored weights, BackupAndRestore for --resume, the progress bar, History, TensorBoard): early
stopping, history keys, progress and resume behave alike whatever the strategy (bench/bench_distribute.py
compares its speed with `fit` for `none`).

Sharding: with the training rows shared out (multi_worker, training.tokenize_splits), each worker
batches its own rows and feeds its replicas (distribute_own), every worker taking the same number of
steps. Otherwise, and always for the validation rows (every worker holds them: the early-stopping
verdict must be the same everywhere), datasets are built in memory on every worker from the same
seeded inputs and sharded by DATA (each worker keeps its part of every global batch); FILE sharding has no files to
split. training.batch_size is per replica: the global batch is batch_size x replicas.

The model leaves the strategy as a plain float32 copy with the trained weights, so the caller saves,
exports and predicts with it exactly as after single-device training, even after mixed_float16
training. Only the chief's copy is written anywhere (api.train); other workers write nothing.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

from sentiment_cli import interrupts
from sentiment_cli.config import Config
from sentiment_cli.errors import ConfigError

log = logging.getLogger("sentiment")


# -- where training runs ---------------------------------------------------------------------------
@dataclass
class Placement:
    """A tf.distribute strategy with what the run records about it (metrics.json, manifest)."""

    strategy: Any
    distribution: str  # training.distribution: none, mirrored or multi_worker
    replicas: int
    devices: list[str]
    worker_index: int = 0
    worker_count: int = 1
    chief: bool = True
    mixed_precision: bool = False

    def describe(self) -> dict[str, Any]:
        return {"strategy": self.distribution, "tf_strategy": type(self.strategy).__name__,
                "replicas": self.replicas, "devices": self.devices, "worker_index": self.worker_index,
                "worker_count": self.worker_count, "chief": self.chief,
                "compute_dtype": "float16" if self.mixed_precision else "float32"}

    def distribute_own(self, make_dataset: Callable[[], Any]) -> Any:
        """Distribute this worker's own dataset (batched per replica, its own rows): no sharding,
        each local replica takes its batches (training rows shared out, training.tokenize_splits)."""
        return self.strategy.distribute_datasets_from_function(lambda context: make_dataset())

    def distribute(self, dataset: Any) -> Any:
        """Shard `dataset` (batched by the global batch size) over workers and replicas."""
        import tensorflow as tf

        options = tf.data.Options()
        # DATA, deliberately: our datasets are in-memory tensors or a generator, with no files for
        # FILE sharding; every worker builds the same seeded batches and keeps its slice of each.
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        return self.strategy.experimental_distribute_dataset(dataset.with_options(options))


def read_tf_config() -> dict[str, Any]:
    """TF_CONFIG as a dict ({} when unset); a malformed value is a ConfigError, not a hang."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    hint = ('Set it like TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
            '"task": {"type": "worker", "index": 0}}\'')
    try:
        tf_config = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"TF_CONFIG is not valid JSON ({exc})", hint) from None
    if not isinstance(tf_config, dict):
        raise ConfigError("TF_CONFIG must be a JSON object with 'cluster' and 'task'", hint)
    cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
    if not isinstance(cluster, dict) or not isinstance(task, dict):
        raise ConfigError("TF_CONFIG 'cluster' and 'task' must be JSON objects", hint)
    if cluster:
        kind, index = task.get("type"), task.get("index", 0)
        hosts = cluster.get(kind) if isinstance(kind, str) else None
        if not isinstance(hosts, list) or not isinstance(index, int) or not 0 <= index < len(hosts):
            raise ConfigError(f"TF_CONFIG task {task!r} is not in its cluster {cluster!r}", hint)
    return tf_config


def _role(tf_config: dict[str, Any]) -> tuple[int, int, bool]:
    """(worker index, worker count, is chief) the TensorFlow way: a 'chief' task if there is one,
    else worker 0. The chief comes first in the index."""
    cluster, task = tf_config.get("cluster", {}), tf_config.get("task", {})
    chiefs, workers = len(cluster.get("chief", [])), len(cluster.get("worker", []))
    if not chiefs + workers:
        return 0, 1, True
    kind, index = task.get("type", "worker"), int(task.get("index", 0))
    if kind == "chief":
        return index, chiefs + workers, True
    if kind == "worker":
        return chiefs + index, chiefs + workers, chiefs == 0 and index == 0
    # An evaluator or parameter server does not train in MultiWorkerMirroredStrategy.
    raise ConfigError(f"TF_CONFIG task type {kind!r} cannot train with training.distribution=multi_worker",
                      "Give every training process task type 'worker' (or one 'chief')")


def data_share(cfg: Config, n_train: int) -> tuple[int, int] | None:
    """(this worker's index, worker count) when training rows are shared out among multi_worker
    workers (each holds and batches only its share: training.training_share), else None."""
    if cfg.training.distribution != "multi_worker":
        return None
    index, count, _ = _role(read_tf_config())
    return (index, count) if 1 < count <= n_train else None


def worker_role(cfg: Config) -> tuple[int, int] | None:
    """(index, count) of this process if it is a multi_worker worker other than the chief, else None.

    Reads TF_CONFIG only (no TensorFlow import), so api.train can decide before any work that this
    process must not touch the model directory: the chief writes it, the other workers write nothing.
    """
    if cfg.training.distribution != "multi_worker":
        return None
    index, count, chief = _role(read_tf_config())
    return None if chief else (index, count)


def _mirrored_devices(cfg: Config) -> list[str]:
    """training.devices if given (checked), else every GPU, else every logical CPU device."""
    import tensorflow as tf

    available = [d.name for d in tf.config.list_logical_devices()]
    wanted = cfg.training.devices
    if wanted:
        chosen = []
        for item in wanted:  # "GPU:0", "/gpu:0" and "/device:GPU:0" all name the same device
            key = str(item).lower().lstrip("/").removeprefix("device:")
            match = [name for name in available if name.lower().endswith(f"device:{key}")]
            if not isinstance(item, str) or not match:
                raise ConfigError(f"config key 'training.devices' names {item!r}, which is not a device here",
                                  f"Use some of: {', '.join(n.rsplit('device:', 1)[-1] for n in available)}")
            chosen.append(match[0])
        return chosen
    gpus = [d.name for d in tf.config.list_logical_devices("GPU")]
    return gpus or [d.name for d in tf.config.list_logical_devices("CPU")]


def setup(cfg: Config) -> Placement:
    """Create the strategy `cfg.training.distribution` asks for and say on stderr where training runs.

    Call it before any other TensorFlow op: MultiWorkerMirroredStrategy configures collective ops,
    which TensorFlow only allows before its runtime has started.
    """
    import tensorflow as tf

    from sentiment_cli.model import cudnn_blockers

    tc = cfg.training
    index, count, chief = 0, 1, True
    if tc.distribution == "multi_worker":
        tf_config = read_tf_config()
        if not tf_config.get("cluster"):
            log.warning("training.distribution=multi_worker but TF_CONFIG names no cluster: "
                        "training as a single worker")
        index, count, chief = _role(tf_config)
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
        devices = list(strategy.extended.worker_devices)
    elif tc.distribution == "mirrored":
        devices = _mirrored_devices(cfg)
        strategy = tf.distribute.MirroredStrategy(devices)
    else:
        strategy = tf.distribute.get_strategy()
        gpus = tf.config.list_logical_devices("GPU")
        devices = [(gpus[0] if gpus else tf.config.list_logical_devices("CPU")[0]).name]
    if tc.devices and tc.distribution != "mirrored":
        log.warning("training.devices is only used with training.distribution=mirrored; ignoring it")
    placement = Placement(strategy=strategy, distribution=tc.distribution,
                          replicas=int(strategy.num_replicas_in_sync), devices=devices,
                          worker_index=index, worker_count=count, chief=chief,
                          mixed_precision=tc.mixed_precision)
    where = f"worker {index + 1} of {count}{' (chief)' if chief else ''}, " if count > 1 else ""
    log.info("training with distribution=%s: %s%d replica(s) on %s; global batch %d (%d per replica)",
             tc.distribution, where, placement.replicas, ", ".join(devices),
             tc.batch_size * placement.replicas, tc.batch_size)
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        for reason in cudnn_blockers(cfg.model, cfg.tokenizer.padding):
            log.warning("GPU present but the cuDNN kernel is ruled out: %s", reason)
    if tc.mixed_precision and not gpus:
        log.warning("training.mixed_precision=true without a GPU: float16 compute is slower on CPU")
    return placement


# -- the training loop -----------------------------------------------------------------------------
@contextlib.contextmanager
def dtype_policy(name: str | None) -> Iterator[None]:
    """Set Keras' global dtype policy for a block (None: leave it); always restore the old one."""
    import keras

    old = keras.mixed_precision.global_policy()
    try:
        if name is not None:
            keras.mixed_precision.set_global_policy(name)
        yield
    finally:
        keras.mixed_precision.set_global_policy(old)


@dataclass
class Fitted:
    """A trained plain (undistributed, float32) model and its per-epoch history."""

    model: Any
    history: dict[str, list[float]]


def _epoch_logs(totals: Any, prefix: str = "") -> dict[str, float]:
    """Mean loss and accuracy from summed (loss, correct, rows): the keys model.fit reports."""
    loss_sum, correct, rows = (float(v) for v in totals.numpy())
    rows = max(rows, 1.0)
    return {f"{prefix}accuracy": correct / rows, f"{prefix}loss": loss_sum / rows}


def _steps(placement: Placement, model: Any) -> tuple[Callable[[Any], Any], Callable[[Any], Any]]:
    """tf.functions running one train / validation step on every replica; each returns the
    (loss sum, correct, rows) of the global batch, summed over all replicas of all workers."""
    import keras
    import tensorflow as tf

    strategy, optimizer = placement.strategy, model.optimizer
    total = tf.distribute.ReduceOp.SUM

    softmax = model.outputs[0].shape[-1] > 1  # K >= 3 classes (model.head)

    def batch_stats(batch: tuple[Any, ...], training: bool) -> tuple[Any, Any, Any]:
        p = model(batch[0], training=training)
        if softmax:  # what compile(loss="sparse_categorical_crossentropy") uses
            y = tf.cast(tf.reshape(batch[1], (-1,)), tf.int32)
            per_row = keras.losses.sparse_categorical_crossentropy(y, p)
            hit = tf.equal(tf.argmax(p, axis=-1, output_type=tf.int32), y)
        else:
            y = tf.reshape(tf.cast(batch[1], tf.float32), (-1, 1))
            per_row = keras.losses.binary_crossentropy(y, p)  # what compile(loss="binary_crossentropy") uses
            hit = tf.equal(tf.cast(p > 0.5, tf.float32), y)
        if len(batch) > 2:
            per_row = per_row * tf.cast(batch[2], per_row.dtype)
        correct = tf.reduce_sum(tf.cast(hit, tf.float32))
        return per_row, correct, tf.cast(tf.shape(y)[0], tf.float32)

    def train_replica(batch: tuple[Any, ...]) -> Any:
        with tf.GradientTape() as tape:
            per_row, correct, rows = batch_stats(batch, True)
            # Average over the rows of the whole global batch (all replicas, all workers), counted
            # rather than assumed, so the last, smaller batch weighs its rows right; the optimizer
            # sums the replicas' gradients.
            global_rows = tf.distribute.get_replica_context().all_reduce(total, rows)
            loss = tf.nn.compute_average_loss(
                per_row, global_batch_size=tf.maximum(tf.cast(global_rows, tf.int64), 1))
            if model.losses:
                loss += tf.nn.scale_regularization_loss(tf.add_n(model.losses))
            scaled = optimizer.scale_loss(loss)  # loss scaling under mixed_float16, else unchanged
        grads = tape.gradient(scaled, model.trainable_variables)
        # Sums the replicas' gradients. Keras clips (training.clipnorm) each replica's share before
        # the sum, as under model.fit: with several replicas the clip acts on parts of the gradient.
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        return tf.stack([tf.reduce_sum(per_row), correct, rows])

    def val_replica(batch: tuple[Any, ...]) -> Any:
        per_row, correct, rows = batch_stats(batch, False)
        return tf.stack([tf.reduce_sum(per_row), correct, rows])

    @tf.function(reduce_retracing=True)
    def train_step(batch: Any) -> Any:
        return strategy.reduce(total, strategy.run(train_replica, args=(batch,)), axis=None)

    @tf.function(reduce_retracing=True)
    def val_step(batch: Any) -> Any:
        return strategy.reduce(total, strategy.run(val_replica, args=(batch,)), axis=None)

    return train_step, val_step


def _checkpointed_epochs(callbacks: list[Any]) -> int:
    """Epochs the BackupAndRestore callback among `callbacks` will restore (0: none)."""
    import keras

    for callback in callbacks:
        if isinstance(callback, keras.callbacks.BackupAndRestore):
            try:  # the file BackupAndRestore writes after each epoch and reads on restore
                meta = json.loads((Path(callback.backup_dir) / "training_metadata.json").read_text("utf-8"))
                return int(meta.get("epoch", 0))
            except (OSError, ValueError, TypeError, AttributeError):
                return 0
    return 0


def _check_same_start(placement: Placement, start: int) -> None:
    """Refuse to go on when the workers would resume from different epochs: their collective ops
    would no longer pair up and training would fail or hang. Every worker reaches the same verdict."""
    import tensorflow as tf

    strategy = placement.strategy

    @tf.function
    def gather() -> Any:
        e = tf.constant(float(start))
        per_replica = strategy.run(lambda: tf.stack([e, e * e, 1.0]))
        return strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None)

    s, squares, n = gather().numpy()
    if abs(squares * n - s * s) > 0.5:  # zero variance <=> every replica has the same start
        from sentiment_cli.errors import ArtifactError

        raise ArtifactError(f"the workers resumed from different epochs (this one from epoch {start}, "
                            f"the mean is {s / n:.1f})", "Pass --resume to every worker or to none; "
                            "without --resume training starts over")


def fit(placement: Placement, make_model: Callable[[], Any], train_ds: Any, val_ds: Any, *,
        epochs: int, steps: int, callbacks: list[Any], verbose: int) -> Fitted:
    """Build the model inside the strategy's scope, train it, return a plain float32 copy.

    `make_model` builds and compiles a model under the current dtype policy (Keras wraps the
    optimizer for loss scaling under mixed_float16). `train_ds` and `val_ds` are batched by the
    global batch size, or `train_ds` is a function making this worker's own dataset, batched per
    replica (multi_worker with the training rows shared out); `steps` is batches per epoch. `callbacks` are Keras callbacks, called as
    `model.fit` calls them; `verbose` is fit's (0 silent, 1 progress bar, 2 one line per epoch).
    """
    import keras

    with dtype_policy("mixed_float16" if placement.mixed_precision else None):
        with placement.strategy.scope(), _peer_failures(placement):
            model = make_model()
            model.optimizer.build(model.trainable_variables)  # its slots must be mirrored too
            cbs = keras.callbacks.CallbackList(callbacks, add_history=True, add_progbar=verbose != 0,
                                               model=model, verbose=verbose, epochs=epochs, steps=steps)
            dist_train = placement.distribute_own(train_ds) if callable(train_ds) else placement.distribute(train_ds)
            _loop(placement, model, dist_train, placement.distribute(val_ds), cbs,
                  epochs=epochs, verbose=verbose)
            history = {k: [float(v) for v in vals] for k, vals in model.history.history.items()}
            weights = model.get_weights()
    # A fresh float32 model outside any strategy: saving, ONNX export and predict then work the
    # same for every strategy, and a mixed_float16 run still serves in float32.
    with dtype_policy("float32"):
        plain = make_model()
    plain.set_weights(weights)
    return Fitted(model=plain, history=history)


def _loop(placement: Placement, model: Any, dist_train: Any, dist_val: Any, cbs: Any, *, epochs: int,
          verbose: int) -> None:
    """model.fit's epoch loop (keras/src/backend/tensorflow/trainer.py) around our own steps."""
    import tensorflow as tf

    train_step, val_step = _steps(placement, model)
    model.stop_training = False
    if placement.worker_count > 1:  # before on_train_begin: restoring a checkpoint is collective too
        _check_same_start(placement, _checkpointed_epochs(cbs.callbacks))
    cbs.on_train_begin()
    logs: dict[str, float] = {}
    # BackupAndRestore sets _initial_epoch on --resume, as it does for model.fit.
    for epoch in range(int(getattr(model, "_initial_epoch", None) or 0), epochs):
        cbs.on_epoch_begin(epoch)
        totals = tf.zeros(3)
        for step, batch in enumerate(dist_train):
            cbs.on_train_batch_begin(step)
            totals += train_step(batch)
            # Per-step numbers only for the interactive progress bar: each costs a sync.
            cbs.on_train_batch_end(step, _epoch_logs(totals) if verbose == 1 else {})
            if model.stop_training:  # as fit does; the logs are global, so every worker agrees
                break
        val_totals = tf.zeros(3)
        for batch in dist_val:
            val_totals += val_step(batch)
        logs = {**_epoch_logs(totals), **_epoch_logs(val_totals, "val_")}
        cbs.on_epoch_end(epoch, logs)  # writes the --resume backup
        interrupts.check()  # a Ctrl-C swallowed inside TensorFlow stops here, after the backup
        if model.stop_training:
            break
    model.optimizer.finalize_variable_values(model.trainable_weights)
    cbs.on_train_end(logs)  # EarlyStopping restores the best weights here


@contextlib.contextmanager
def _peer_failures(placement: Placement) -> Iterator[None]:
    """Under multi_worker, a crashed or unreachable peer surfaces as a TensorFlow error in the next
    collective op (within seconds, by the coordination service's heartbeats): say so in one line."""
    import tensorflow as tf

    lost = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.CancelledError,
            tf.errors.DeadlineExceededError)
    try:
        yield
    except lost as exc:
        if placement.worker_count < 2:
            raise
        from sentiment_cli.errors import SentimentError

        # The message is "Graph execution error:", the op's Python stack, then the cause.
        lines = [ln.strip() for ln in str(exc.message).splitlines()]
        causes = [ln for ln in lines if ln and not ln.startswith(("Graph execution", "Detected at", "File ",
                                                                  "[[", "Node:", "return ", "self."))]
        detail = next((ln for ln in causes if "unhealthy" in ln or "heartbeat" in ln), causes[-1] if causes else "")
        detail = detail.rstrip(":")[:200]
        raise SentimentError(f"training stopped: another worker of the cluster failed or is unreachable "
                             f"({type(exc).__name__}: {detail})", "Restart every worker with the same "
                             "command plus --resume to continue from the last completed epoch") from None
