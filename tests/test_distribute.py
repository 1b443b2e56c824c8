"""tf.distribute: mirrored over two logical CPUs, two multi_worker processes, mixed precision, cuDNN.

Strategies that need TensorFlow configured before it starts (logical devices, collective ops) run in
subprocesses through the real `sentiment train` CLI; each subprocess is bounded by a timeout and
killed, with its process group, whatever happens.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conftest import ROOT, TINY, invoke

TIMEOUT = 420  # seconds per training subprocess: generous, the machine is shared
# Both trainings of the mirrored comparison: about 0.7 test accuracy from 540 reviews. No dropout
# (each replica would draw its own masks) and no clipnorm (Keras clips each replica's share of the
# gradient before summing them): what is left is the same math on one device or on two replicas.
LEARN = [*TINY, "--set", "training.epochs=3", "--set", "training.learning_rate=0.01",
         "--set", "training.early_stopping_patience=null", "--set", "training.clipnorm=null",
         "--set", "model.embedding_dropout=0", "--set", "model.dropout=0", "--set", "training.batch_size=32"]
TWO_CPUS = """
import sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from sentiment_cli.cli import main
sys.argv = ["sentiment", *sys.argv[1:]]
main()
"""


def child_env(**extra: str) -> dict[str, str]:
    """The test's environment minus proxies (gRPC would route 127.0.0.1 through them) and GPUs."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy",
                                                                      "all_proxy", "grpc_proxy")}
    env.update(NO_PROXY="127.0.0.1,localhost", no_proxy="127.0.0.1,localhost", CUDA_VISIBLE_DEVICES="",
               TF_CPP_MIN_LOG_LEVEL="2", KERAS_BACKEND="tensorflow", PYTHONUNBUFFERED="1", **extra)
    return env


def run_all(commands: list[tuple[list[str], dict[str, str]]], cwd: Path) -> list[tuple[int, str, str]]:
    """Start every command at once (a cluster needs all its workers), wait at most TIMEOUT in all;
    on a timeout or any error kill every process group still alive. Returns (rc, stdout, stderr)."""
    procs = [subprocess.Popen(cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True) for cmd, env in commands]
    results = []
    try:
        for p in procs:
            out, err = p.communicate(timeout=TIMEOUT)
            results.append((p.returncode, out, err))
        return results
    except subprocess.TimeoutExpired:
        pytest.fail(f"training subprocesses did not finish within {TIMEOUT}s")
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
                p.communicate()


def free_ports(n: int) -> list[int]:
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def scores(model_dir: Path, data: Path) -> tuple[np.ndarray, float]:
    """(probabilities, accuracy) of a model directory on a labelled CSV, via the predictor API."""
    import pandas as pd

    from sentiment_cli.predictor import Predictor

    df = pd.read_csv(data, dtype=str, keep_default_na=False)
    predictor = Predictor.from_dir(model_dir)
    p = predictor.predict_proba(df["text"].tolist())
    positive = p >= predictor.decision.threshold
    return p, float(np.mean(positive == (df["label"] == predictor.decision.encoding.positive).to_numpy()))


def tail(text: str) -> str:
    return "\n".join(text.splitlines()[-25:])


# -- mirrored --------------------------------------------------------------------------------------
@pytest.mark.slow
def test_mirrored_on_two_cpus_predicts_like_one_device(tmp_path: Path, reviews_train: Path,
                                                       reviews_test: Path) -> None:
    single, mirrored = tmp_path / "single", tmp_path / "mirrored"
    # Same global batch: 32 on one device, 16 per replica on two.
    cmd = [sys.executable, "-c", TWO_CPUS, "train", "--data", str(reviews_train), "--out", str(mirrored),
           "--no-plots", "--quiet", *LEARN, "--set", "training.batch_size=16",
           "--set", "training.distribution=mirrored"]
    [(rc, out, err)] = run_all([(cmd, child_env())], ROOT)
    assert rc == 0, tail(err)
    assert json.loads(out)["model"] == str(mirrored)
    invoke(["train", "--data", str(reviews_train), "--out", str(single), "--no-plots", "--quiet", *LEARN])

    devices = json.loads((mirrored / "metrics.json").read_text())["devices"]
    assert devices["strategy"] == "mirrored" and devices["replicas"] == 2
    assert [d.rsplit("device:", 1)[-1] for d in devices["devices"]] == ["CPU:0", "CPU:1"]
    assert json.loads((mirrored / "manifest.json").read_text())["devices"] == devices
    assert json.loads((single / "metrics.json").read_text())["devices"]["replicas"] == 1

    (p_single, acc_single), (p_mirrored, acc_mirrored) = scores(single, reviews_test), scores(mirrored, reviews_test)
    assert acc_single > 0.62, acc_single  # it learned: the comparison means something
    assert abs(acc_mirrored - acc_single) <= 0.03, (acc_single, acc_mirrored)
    assert np.abs(p_mirrored - p_single).mean() < 0.02


# -- multi_worker ----------------------------------------------------------------------------------
@pytest.mark.slow
def test_multi_worker_chief_writes_the_model_and_the_worker_nothing(tmp_path: Path,
                                                                   reviews_train: Path) -> None:
    ports = free_ports(2)
    cluster = {"worker": [f"127.0.0.1:{port}" for port in ports]}
    outs = [tmp_path / "chief" / "model", tmp_path / "worker" / "model"]
    commands = []
    for index, out in enumerate(outs):
        tf_config = json.dumps({"cluster": cluster, "task": {"type": "worker", "index": index}})
        commands.append(([sys.executable, "-m", "sentiment_cli", "train", "--data", str(reviews_train),
                          "--out", str(out), "--no-plots", *TINY, "--set", "training.epochs=1",
                          "--set", "training.batch_size=32",
                          "--set", "training.distribution=multi_worker"], child_env(TF_CONFIG=tf_config)))
    (rc0, out0, err0), (rc1, out1, err1) = run_all(commands, ROOT)
    assert rc0 == 0, tail(err0)
    assert rc1 == 0, tail(err1)

    chief, worker = outs
    assert json.loads(out0)["model"] == str(chief)
    assert json.loads(out1)["model"] is None
    assert "distribution=multi_worker: worker 1 of 2 (chief), 2 replica(s)" in err0
    assert "worker 2 of 2, 2 replica(s)" in err1
    assert "9/9 - " in err0 and "9/9 - " in err1  # the epoch line: 540 rows / (32 x 2 replicas)
    # Each worker holds its half of the training rows (tests/test_distribute's share test checks
    # that the vocabulary is still counted on all of them).
    assert "this worker holds 270 of the 540 training rows (worker 1 of 2's share)" in err0
    assert "this worker holds 270 of the 540 training rows (worker 2 of 2's share)" in err1

    # The chief's directory is complete, verified and holds exactly what its manifest lists.
    from sentiment_cli import artifacts
    from sentiment_cli.predictor import Predictor

    manifest = artifacts.check_model_dir(chief)
    on_disk = {p.relative_to(chief).as_posix() for p in chief.rglob("*") if p.is_file()}
    assert on_disk == set(manifest["artifacts"]) | {"manifest.json"}
    devices = json.loads((chief / "metrics.json").read_text())["devices"]
    assert devices == manifest["devices"]
    assert (devices["strategy"], devices["replicas"], devices["worker_count"], devices["chief"]) == \
        ("multi_worker", 2, 2, True)
    history = (chief / "history.csv").read_text().splitlines()
    assert history[0] == "epoch,accuracy,loss,val_accuracy,val_loss" and len(history) == 2
    records = Predictor.from_dir(chief).predict(["A moving, beautifully acted film.", "Dull and far too long."])
    assert all(0.0 <= r["score"] <= 1.0 for r in records)

    # The worker left nothing at or beside its --out (no model, lock, resume state or temp dir).
    assert not worker.exists()
    assert not worker.parent.exists() or list(worker.parent.iterdir()) == []


def test_worker_role_follows_tf_config(monkeypatch: pytest.MonkeyPatch) -> None:
    from sentiment_cli.config import load_config
    from sentiment_cli.distribute import worker_role
    from sentiment_cli.errors import ConfigError

    multi = load_config(None, ["training.distribution=multi_worker"])
    two = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}

    def role(tf_config: Any, cfg: Any = multi) -> Any:
        monkeypatch.setenv("TF_CONFIG", tf_config if isinstance(tf_config, str) else json.dumps(tf_config))
        return worker_role(cfg)

    assert role({"cluster": two, "task": {"type": "worker", "index": 0}}) is None  # worker 0 is chief
    assert role({"cluster": two, "task": {"type": "worker", "index": 1}}) == (1, 2)
    with_chief = {"chief": ["127.0.0.1:3"], **two}
    assert role({"cluster": with_chief, "task": {"type": "chief", "index": 0}}) is None
    assert role({"cluster": with_chief, "task": {"type": "worker", "index": 0}}) == (1, 3)
    # Without multi_worker TF_CONFIG is not consulted: every process writes its own model.
    assert role({"cluster": two, "task": {"type": "worker", "index": 1}}, load_config()) is None
    monkeypatch.delenv("TF_CONFIG")
    assert worker_role(multi) is None
    for bad in ("{not json", {"cluster": two, "task": {"type": "worker", "index": 2}}):
        with pytest.raises(ConfigError, match="TF_CONFIG"):
            role(bad)


def test_unknown_mirrored_device_is_a_config_error(tmp_path: Path, reviews_train: Path) -> None:
    out = tmp_path / "model"
    result = invoke(["train", "--data", str(reviews_train), "--out", str(out), *TINY,
                     "--set", "training.distribution=mirrored", "--set", "training.devices=[GPU:7]"], exit_code=2)
    assert "training.devices" in result.output and "GPU:7" in result.output and "CPU:0" in result.output
    assert not out.exists()


# -- mixed precision -------------------------------------------------------------------------------
def mixed_precision_probe() -> Any:
    import keras

    class Probe(keras.callbacks.Callback):
        """Records, as training starts, the policy and dtypes the model trains with."""

        seen: dict[str, Any] = {}

        def on_train_begin(self, logs: Any = None) -> None:
            lstm = next(layer for layer in self.model.layers if "lstm" in layer.name)
            Probe.seen = {"policy": keras.mixed_precision.global_policy().name,
                          "lstm_compute": lstm.compute_dtype, "lstm_variables": lstm.variable_dtype,
                          "output": self.model.outputs[0].dtype,
                          "optimizer": type(self.model.optimizer).__name__}

    return Probe


def small_data(path: Path, rows: int) -> Any:
    from sentiment_cli.data import load_labeled

    data = load_labeled(path, "text", "label")
    data.texts, data.y = data.texts[:rows], data.y[:rows]
    return data


@pytest.mark.slow
def test_mixed_precision_trains_in_float16_and_serves_float32(reviews_train: Path) -> None:
    import keras

    from sentiment_cli import training
    from sentiment_cli.config import load_config

    cfg = load_config(None, ["training.mixed_precision=true", "training.epochs=1", "tokenizer.num_words=2000",
                             "tokenizer.maxlen=60", "model.units=8", "model.embedding_dim=8"])
    probe = mixed_precision_probe()
    before = keras.mixed_precision.global_policy().name
    result = training.train(cfg, small_data(reviews_train, 200), verbose=0, extra_callbacks=lambda tok: [probe()])

    assert probe.seen == {"policy": "mixed_float16", "lstm_compute": "float16", "lstm_variables": "float32",
                          "output": "float32", "optimizer": "LossScaleOptimizer"}
    assert keras.mixed_precision.global_policy().name == before == "float32"  # restored
    assert result.devices["compute_dtype"] == "float16"
    assert np.isfinite(result.history["loss"]).all()
    # The returned model (saved, exported) computes in float32 throughout.
    assert {layer.compute_dtype for layer in result.model.layers if layer.weights} == {"float32"}
    assert result.model.outputs[0].dtype == "float32"
    assert np.isfinite(result.val_p).all()


def test_global_policy_is_restored_when_training_fails(reviews_train: Path) -> None:
    import keras

    from sentiment_cli import training
    from sentiment_cli.config import load_config

    class Boom(keras.callbacks.Callback):
        def on_train_begin(self, logs: Any = None) -> None:
            raise RuntimeError("boom")

    cfg = load_config(None, ["training.mixed_precision=true", "tokenizer.num_words=500", "tokenizer.maxlen=20",
                             "model.units=4", "model.embedding_dim=4"])
    with pytest.raises(RuntimeError, match="boom"):
        training.train(cfg, small_data(reviews_train, 100), verbose=0, extra_callbacks=lambda tok: [Boom()])
    assert keras.mixed_precision.global_policy().name == "float32"


# -- cuDNN -----------------------------------------------------------------------------------------
def recurrent_layers(model: Any) -> list[Any]:
    import keras

    found = []
    for layer in model.layers:
        if isinstance(layer, keras.layers.Bidirectional):
            found += [layer.forward_layer, layer.backward_layer]
        elif isinstance(layer, keras.layers.RNN):
            found.append(layer)
    return found


@pytest.mark.parametrize("cell", ["lstm", "gru"])
@pytest.mark.parametrize("bidirectional", [False, True])
def test_recurrent_layers_keep_keras_cudnn_conditions(cell: str, bidirectional: bool) -> None:
    """Checked with Keras 3's own predicates (keras/src/backend/tensorflow/rnn.py), minus the GPU."""
    rnn = pytest.importorskip("keras.src.backend.tensorflow.rnn")
    from sentiment_cli.config import ModelConfig
    from sentiment_cli.model import build_model, cudnn_blockers

    cfg = ModelConfig(cell=cell, bidirectional=bidirectional, layers=2, units=4, embedding_dim=4, mask=True)
    assert cudnn_blockers(cfg, "post") == []
    layers = recurrent_layers(build_model(cfg, vocab_size=20, seed=1, padding="post"))
    assert len(layers) == (4 if bidirectional else 2)
    for layer in layers:
        c = layer.cell
        if cell == "lstm":
            ok = rnn._do_lstm_arguments_support_cudnn(c.activation, c.recurrent_activation, layer.unroll, c.use_bias)
        else:
            ok = rnn._do_gru_arguments_support_cudnn(c.activation, c.recurrent_activation, layer.unroll,
                                                     c.use_bias, c.reset_after)
        assert ok and layer.use_cudnn == "auto" and not c.recurrent_dropout, layer.name


def test_cudnn_blockers_name_each_setting_that_rules_it_out() -> None:
    from sentiment_cli.config import ModelConfig
    from sentiment_cli.model import build_model, cudnn_blockers

    left = ModelConfig(mask=True, units=4, embedding_dim=4)
    [reason] = cudnn_blockers(left, "pre")
    assert "tokenizer.padding=pre" in reason and "padding=post" in reason
    # Keras would try cuDNN on a GPU and fail its right-padding assertion: the layer must not try.
    assert [layer.use_cudnn for layer in recurrent_layers(build_model(left, vocab_size=20, seed=1,
                                                                      padding="pre"))] == [False]
    assert cudnn_blockers(ModelConfig(mask=False), "pre") == []
    assert any("recurrent_dropout" in r for r in cudnn_blockers(ModelConfig(recurrent_dropout=0.2), "post"))
    assert any("simple_rnn" in r for r in cudnn_blockers(ModelConfig(cell="simple_rnn", mask=True), "pre"))


def test_worker_shares_hold_their_rows_and_count_every_row(reviews_train: Path) -> None:
    """tokenize_splits with a multi_worker share: the same vocabulary and auto-setting lengths as
    one process, the share's training rows only (every second row each), all validation rows."""
    from sentiment_cli.config import load_config
    from sentiment_cli.data import load_labeled
    from sentiment_cli.training import split_validation, tokenize_splits, training_share

    cfg = load_config(None)
    data = load_labeled(reviews_train, "text", "label")
    tr, va = split_validation(data, 0.1, 0)
    whole = tokenize_splits(cfg, list(data.texts), tr, va)
    held = []
    for index in (0, 1):
        part = tokenize_splits(cfg, list(data.texts), tr, va, share=(index, 2))
        assert part.tokenizer.word_index_ == whole.tokenizer.word_index_
        assert part.tokenizer.word_docs_ == whole.tokenizer.word_docs_
        assert np.array_equal(part.train_lengths, whole.train_lengths) and part.config == whole.config
        assert len(part.train) == len(training_share(tr, (index, 2))) < len(tr)
        expected = whole.train.take(np.arange(index, len(tr), 2))
        assert np.array_equal(part.train.ids, expected.ids) and np.array_equal(part.train.offsets, expected.offsets)
        assert np.array_equal(part.validation.ids, whole.validation.ids)
        held.append(len(part.train))
    assert sum(held) == len(tr)
