"""Model directories from someone else, and model directories that must survive us.

Loading: no pickle anywhere, Keras files with code (a Lambda layer) refused before any of it runs,
every artifact checked against the manifest's sha256. Writing: `train --out` never replaces what
it did not write, needs --force to replace a model, and is atomic under SIGKILL and under a
concurrent `train` into the same directory.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest

from conftest import TINY, invoke

ROOT = Path(__file__).resolve().parent.parent


def tree_hashes(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def rehash(model: Path, name: str) -> None:
    manifest = json.loads((model / "manifest.json").read_text())
    manifest["artifacts"][name] = hashlib.sha256((model / name).read_bytes()).hexdigest()
    (model / "manifest.json").write_text(json.dumps(manifest))


def one_error_line(stderr: str) -> str:
    errors = [line for line in stderr.splitlines() if line.startswith("sentiment: error:")]
    assert len(errors) == 1 and "Traceback" not in stderr, stderr
    return errors[0]


# -- no pickle -------------------------------------------------------------------------------------
UNSAFE = [r"^\s*(import|from)\s+(pickle|cPickle|_pickle|joblib|dill|cloudpickle|shelve|marshal)\b",
          r"allow_pickle\s*=\s*True", r"safe_mode\s*=\s*False", r"weights_only\s*=\s*False",
          r"yaml\.(unsafe_)?load\(", r"(?<![\w.])(eval|exec)\(", r"enable_unsafe_deserialization"]


def test_no_pickle_or_code_loading_in_the_package(trained_model: Path) -> None:
    """grep, as a test: nothing in the package unpickles or evaluates; every Keras load is safe."""
    for path in (ROOT / "sentiment_cli").glob("*.py"):
        source = path.read_text()
        for pattern in UNSAFE:
            assert not re.search(pattern, source, re.MULTILINE), (path.name, pattern)
        for call in re.findall(r"load_model\([^)]*\)", source):
            assert "safe_mode=True" in call, (path.name, call)
    assert {p.suffix for p in trained_model.rglob("*") if p.is_file()} <= {".json", ".keras", ".onnx", ".yaml",
                                                                          ".csv", ".png"}


# -- a .keras file with code in it -----------------------------------------------------------------
def _model_with_lambda(model_dir: Path, marker: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A model with the tiny model's embedding, then a Lambda that writes `marker` when run."""
    import keras

    monkeypatch.setenv("SENTIMENT_TEST_LAMBDA_MARKER", str(marker))  # read by the payload when it runs
    payload = lambda t: (open(__import__("os").environ["SENTIMENT_TEST_LAMBDA_MARKER"], "w").close(), t)[1]  # noqa: E731

    original = keras.saving.load_model(model_dir / "model.keras", compile=False)
    inputs = keras.Input(shape=(None,), dtype="int32")
    x = original.get_layer("embedding")(inputs)
    x = keras.layers.Lambda(payload, name="payload")(x)
    x = keras.layers.GlobalAveragePooling1D()(x)
    outputs = keras.layers.Dense(1, activation="sigmoid", name="predictions")(x)
    keras.Model(inputs, outputs).save(model_dir / "model.keras")
    rehash(model_dir, "model.keras")  # only the Lambda is wrong with this directory
    marker.unlink(missing_ok=True)  # building the model called the Lambda once


def test_keras_lambda_is_refused_and_never_runs(model_copy: Path, tmp_path: Path, reviews_test: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    import keras

    marker = tmp_path / "lambda-ran"
    _model_with_lambda(model_copy, marker, monkeypatch)
    # The payload is real: loading without safe_mode and predicting runs it.
    unsafe = keras.saving.load_model(model_copy / "model.keras", compile=False, safe_mode=False)
    unsafe.predict(np.ones((1, 5), dtype="int32"), verbose=0)
    assert marker.exists()
    marker.unlink()

    r1 = invoke(["predict", "--model", str(model_copy), "--backend", "keras"], exit_code=1,
                input="A moving, beautifully acted film.\n")
    r2 = invoke(["evaluate", "--model", str(model_copy), "--backend", "keras", "--data", str(reviews_test)],
                exit_code=1)
    for result in (r1, r2):
        line = one_error_line(result.stderr)
        assert "model.keras' contains code (Lambda layer 'payload') and will not be loaded" in line
    assert not marker.exists()


def test_keras_safe_mode_backs_up_the_scan(model_copy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Should our config scan miss a Lambda, Keras' safe_mode still refuses the bytecode."""
    from sentiment_cli import predictor
    from sentiment_cli.errors import ArtifactError

    marker = tmp_path / "lambda-ran"
    _model_with_lambda(model_copy, marker, monkeypatch)
    monkeypatch.setattr(predictor, "_refuse_code", lambda path: None)
    with pytest.raises(ArtifactError, match="contains code"):
        predictor.load_keras_model(model_copy / "model.keras")
    assert not marker.exists()


def test_code_objects_flags_custom_modules_and_lambdas() -> None:
    from sentiment_cli.predictor import code_objects

    clean = {"module": "keras.layers", "class_name": "Dense", "config": {"name": "d"}}
    assert code_objects(clean) == []
    custom = {"module": "evil.layers", "class_name": "Backdoor", "config": {"name": "x"}}
    fn = {"module": "builtins", "class_name": "function", "config": "exec"}
    nested = {"config": {"layers": [clean, custom, {"activation": fn}]}}
    assert code_objects(nested) == ["Backdoor from module 'evil.layers'", "function from module 'builtins'"]
    assert code_objects({"class_name": "__lambda__", "module": None}) == ["a serialized Python lambda"]


# -- tampering -------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,backend", [("tokenizer.json", "auto"), ("labels.json", "auto"),
                                          ("model.onnx", "onnx"), ("model.keras", "keras")])
def test_tampered_artifact_is_detected(model_copy: Path, name: str, backend: str) -> None:
    path = model_copy / name
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # one bit: the smallest change
    path.write_bytes(bytes(data))
    result = invoke(["predict", "--model", str(model_copy), "--backend", backend], exit_code=1,
                    input="A moving, beautifully acted film.\n")
    line = one_error_line(result.stderr)
    assert f"{name}' does not match the sha256 in manifest.json" in line
    assert result.stdout == ""


def test_artifact_missing_from_manifest_is_refused(model_copy: Path) -> None:
    manifest = json.loads((model_copy / "manifest.json").read_text())
    del manifest["artifacts"]["tokenizer.json"]
    (model_copy / "manifest.json").write_text(json.dumps(manifest))
    result = invoke(["predict", "--model", str(model_copy)], exit_code=1, input="fine film\n")
    assert "tokenizer.json' is not listed in manifest.json" in one_error_line(result.stderr)


# -- never destroy user data -----------------------------------------------------------------------
def test_train_refuses_a_users_directory(tmp_path: Path, reviews_train: Path) -> None:
    mine = tmp_path / "thesis"
    mine.mkdir()
    (mine / "chapter1.tex").write_text("\\section{Results}\n")
    before = tree_hashes(tmp_path)
    for extra in ([], ["--force"]):
        result = invoke(["train", "--data", str(reviews_train), "--out", str(mine), *extra], exit_code=1)
        assert "is not a model directory written by sentiment" in one_error_line(result.stderr)
    assert tree_hashes(mine.parent) == before


def test_train_refuses_cwd(tmp_path: Path, reviews_train: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "keep.txt").write_text("x")
    result = invoke(["train", "--data", str(reviews_train), "--out", ".", "--force"], exit_code=1)
    assert "is the current directory" in one_error_line(result.stderr)


def test_replacing_a_model_needs_force(model_copy: Path, reviews_train: Path) -> None:
    before = tree_hashes(model_copy)
    result = invoke(["train", "--data", str(reviews_train), "--out", str(model_copy)], exit_code=1)
    assert "already exists. Pass --force" in one_error_line(result.stderr)
    assert tree_hashes(model_copy) == before


def test_force_does_not_delete_user_files_inside_a_model(model_copy: Path, reviews_train: Path) -> None:
    (model_copy / "my-notes.md").write_text("threshold 0.6 worked better on our tickets\n")
    before = tree_hashes(model_copy)
    result = invoke(["train", "--data", str(reviews_train), "--out", str(model_copy), "--force"], exit_code=1)
    assert "holds files sentiment did not write (my-notes.md)" in one_error_line(result.stderr)
    assert tree_hashes(model_copy) == before


def test_staged_dir_failure_leaves_old_model(model_copy: Path) -> None:
    from sentiment_cli import artifacts

    before = tree_hashes(model_copy)
    with pytest.raises(RuntimeError):
        with artifacts.staged_dir(model_copy, force=True) as tmp:
            (tmp / "model.keras").write_bytes(b"half")
            raise RuntimeError("disk full")
    assert tree_hashes(model_copy) == before
    assert [p.name for p in model_copy.parent.iterdir() if p.name.startswith(".model.tmp")] == []


def test_killed_while_writing_leaves_no_model_and_is_cleaned_up(model_copy: Path) -> None:
    """SIGKILL inside staged_dir, half-way through writing: old model intact, the debris is not a
    model, and the next writer's lock sweeps it away."""
    from sentiment_cli import artifacts

    before = tree_hashes(model_copy)
    code = ("import os, signal, sys\nfrom pathlib import Path\nfrom sentiment_cli import artifacts\n"
            "with artifacts.staged_dir(Path(sys.argv[1]), force=True) as tmp:\n"
            "    (tmp / 'model.keras').write_bytes(b'half a model')\n"
            "    os.kill(os.getpid(), signal.SIGKILL)\n")
    proc = subprocess.run([sys.executable, "-c", code, str(model_copy)], timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert tree_hashes(model_copy) == before
    debris = [p for p in model_copy.parent.iterdir() if p.name.startswith(".model.tmp-")]
    assert len(debris) == 1 and artifacts.read_manifest(debris[0]) is None
    with artifacts.out_dir_lock(model_copy):
        assert not debris[0].exists()


# -- SIGKILL during training, and two trainings at once --------------------------------------------
def _start_train(reviews: Path, out: Path, *extra: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    env.pop("SENTIMENT_DEBUG", None)
    return subprocess.Popen([sys.executable, "-m", "sentiment_cli", "train", "--data", str(reviews), "--out", str(out),
                             "--no-plots", *TINY, *extra], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env=env, cwd=out.parent, start_new_session=True)


def _wait_for_training(proc: subprocess.Popen, timeout: float = 240) -> str:
    """Read stderr until Keras announces the first epoch; the process then holds the lock."""
    timer = threading.Timer(timeout, proc.kill)
    timer.start()
    seen = []
    try:
        for line in proc.stderr:
            seen.append(line)
            if line.startswith("Epoch 1/"):
                return "".join(seen)
    finally:
        timer.cancel()
    raise AssertionError("training never started:\n" + "".join(seen)[-3000:])


def _reap(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


@pytest.mark.slow
def test_sigkill_mid_training_leaves_previous_model(model_copy: Path, reviews_train: Path) -> None:
    from sentiment_cli import artifacts

    before = tree_hashes(model_copy)
    proc = _start_train(reviews_train, model_copy, "--force", "--set", "training.epochs=200",
                        "--set", "training.early_stopping_patience=null")
    try:
        _wait_for_training(proc)
        os.killpg(proc.pid, signal.SIGKILL)
        assert proc.wait(timeout=60) == -signal.SIGKILL
    finally:
        _reap(proc)
    assert tree_hashes(model_copy) == before
    artifacts.check_model_dir(model_copy)  # still a complete, verified model
    others = [p for p in model_copy.parent.iterdir() if p.is_dir() and p != model_copy]
    assert all(artifacts.read_manifest(p) is None for p in others), others


@pytest.mark.slow
def test_concurrent_trainings_one_wins_whole(tmp_path: Path, reviews_train: Path) -> None:
    """A is frozen (SIGSTOP) mid-training, holding the lock; B must fail at once, A then finishes."""
    from sentiment_cli import artifacts

    out = tmp_path / "shared-model"
    a = _start_train(reviews_train, out)  # TINY: 2 epochs (Keras announces epochs only when > 1)
    try:
        _wait_for_training(a)
        os.killpg(a.pid, signal.SIGSTOP)
        try:
            b = invoke(["train", "--data", str(reviews_train), "--out", str(out), *TINY], exit_code=1)
        finally:
            os.killpg(a.pid, signal.SIGCONT)
        assert f"another 'sentiment train' is writing '{out}'" in one_error_line(b.stderr)
        stdout, stderr = a.communicate(timeout=240)
        assert a.returncode == 0, stderr[-3000:]
    finally:
        _reap(a)
    assert json.loads(stdout)["model"] == str(out)
    manifest = artifacts.check_model_dir(out)  # complete, every sha256 matches
    assert set(manifest["artifacts"]) == {p.relative_to(out).as_posix() for p in out.rglob("*")
                                          if p.is_file() and p.name != "manifest.json"}
    assert [p.name for p in tmp_path.iterdir() if ".tmp-" in p.name or ".old-" in p.name] == []


def test_lock_held_by_another_writer_refuses(tmp_path: Path, reviews_train: Path) -> None:
    from sentiment_cli import artifacts

    out = tmp_path / "m"
    with artifacts.out_dir_lock(out):
        result = invoke(["train", "--data", str(reviews_train), "--out", str(out)], exit_code=1)
    assert "another 'sentiment train' is writing" in one_error_line(result.stderr)
    assert not out.exists()
