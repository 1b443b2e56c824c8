"""The model directory: file names, the manifest, atomic replacement and verified loading.

A model directory describes itself (weights, tokenizer, resolved config, label mapping, metrics,
manifest with versions and sha256 of every artifact), holds no pickle, and is only ever replaced
whole: it is built in a hidden sibling and swapped in with one atomic rename, so a crash, Ctrl-C or
`kill -9` at any moment leaves the old model or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import os
import platform
import shutil
import tempfile
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar

from sentiment_cli.errors import ArtifactError

MODEL_KERAS = "model.keras"
MODEL_ONNX = "model.onnx"
TOKENIZER = "tokenizer.json"
CONFIG = "config.yaml"
FEATURES = "features.json"  # the wide branch's n-gram vocabulary and idf (ngrams.py), when the model has one
LABELS = "labels.json"  # label values, threshold, temperature, text column: what inference needs
METRICS = "metrics.json"
HISTORY = "history.csv"
MANIFEST = "manifest.json"
PLOTS = "plots"
TOOL = "sentiment"
FORMAT_VERSION = 1
# Without these a directory cannot predict; the ONNX file is optional (Keras is the fallback).
REQUIRED = (MODEL_KERAS, TOKENIZER, LABELS, MANIFEST)


def sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def library_versions() -> dict[str, str]:
    """Versions of what produced the artifacts (read from package metadata: imports nothing)."""
    from importlib import metadata

    versions = {"python": platform.python_version()}
    for name in ("sentiment-cli", "tensorflow", "keras", "numpy", "pandas", "scikit-learn",
                 "onnxruntime", "tf2onnx", "onnx"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return versions


def write_manifest(directory: Path, extra: dict[str, Any]) -> dict[str, Any]:
    """Hash every file in `directory` (plots included) and write manifest.json last."""
    files = sorted(p for p in directory.rglob("*") if p.is_file() and p.name != MANIFEST)
    manifest = {
        "tool": TOOL,
        "format_version": FORMAT_VERSION,
        "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
        "versions": library_versions(),
        **extra,
        "artifacts": {p.relative_to(directory).as_posix(): sha256(p) for p in files},
    }
    (directory / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """The manifest if `directory` is a model directory written by this tool, else None."""
    try:
        data = json.loads((directory / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and data.get("tool") == TOOL else None


def check_model_dir(directory: str | Path, *, verify: bool = True,
                    files: tuple[str, ...] | None = None) -> dict[str, Any]:
    """Refuse a missing, foreign, incomplete or tampered directory; return its manifest.

    `files` limits the sha256 check to the artifacts a caller will actually read.
    """
    directory = Path(directory)
    hint = "Train one with 'sentiment train --out DIR' or point --model at one"
    if not directory.exists():
        raise ArtifactError(f"model directory '{directory}' does not exist", hint)
    if not directory.is_dir():
        raise ArtifactError(f"model path '{directory}' is not a directory", hint)
    manifest = read_manifest(directory)
    if manifest is None:
        raise ArtifactError(f"'{directory}' is not a model directory (no valid {MANIFEST})", hint)
    missing = [name for name in REQUIRED if not (directory / name).is_file()]
    if missing:
        raise ArtifactError(f"model directory '{directory}' is incomplete: {', '.join(missing)} missing",
                            "Re-train it, or restore the missing files")
    if verify:
        recorded = manifest.get("artifacts", {})
        if not isinstance(recorded, dict):
            raise ArtifactError(f"'{directory / MANIFEST}' has no 'artifacts' table of sha256 hashes",
                                "Restore the original model directory or re-train the model")
        for name in files or tuple(recorded):
            path = directory / name
            if not path.is_file():
                continue
            if name not in recorded:  # a file the caller will read, with no hash to check it against
                raise ArtifactError(f"'{path}' is not listed in {MANIFEST}, so it cannot be verified",
                                    "Restore the original model directory or re-train the model")
            if sha256(path) != recorded[name]:
                raise ArtifactError(f"'{path}' does not match the sha256 in {MANIFEST} (modified or corrupted)",
                                    "Restore the original file or re-train the model")
    return manifest


# -- loading one directory generation ----------------------------------------------------------
T = TypeVar("T")
# Times a load starts over when `train --force` swapped a new model in while it read: each swap
# takes milliseconds, so more than a few in a row means something else is wrong.
LOAD_ATTEMPTS = 5


class ModelFiles:
    """The files of one model directory, read through one open directory descriptor.

    Every file comes from the same directory (inode), however often the path is swapped to a new
    model meanwhile, and is read once: its sha256 is computed over the very bytes returned, so a
    file is never checked in one version and parsed in another.
    """

    def __init__(self, directory: Path, fd: int) -> None:
        self.directory = directory
        self.fd = fd
        hint = "Train one with 'sentiment train --out DIR' or point --model at one"
        try:
            raw = self._read(MANIFEST)
        except FileNotFoundError:
            raw = None
        try:
            data = json.loads(raw) if raw is not None else None
        except ValueError:
            data = None
        if not (isinstance(data, dict) and data.get("tool") == TOOL):
            raise ArtifactError(f"'{directory}' is not a model directory (no valid {MANIFEST})", hint)
        self.manifest: dict[str, Any] = data
        recorded = data.get("artifacts", {})
        if not isinstance(recorded, dict):
            raise ArtifactError(f"'{directory / MANIFEST}' has no 'artifacts' table of sha256 hashes",
                                "Restore the original model directory or re-train the model")
        self.recorded: dict[str, Any] = recorded

    def _read(self, name: str) -> bytes:
        fd = os.open(name, os.O_RDONLY, dir_fd=self.fd)
        with os.fdopen(fd, "rb") as fh:
            return fh.read()

    def exists(self, name: str) -> bool:
        try:
            os.stat(name, dir_fd=self.fd)
            return True
        except FileNotFoundError:
            return False

    def read(self, name: str) -> bytes:
        """`name`'s bytes, verified against the manifest (FileNotFoundError if it is not there)."""
        path = self.directory / name
        data = self._read(name)
        if name not in self.recorded:  # a file the caller will read, with no hash to check it against
            raise ArtifactError(f"'{path}' is not listed in {MANIFEST}, so it cannot be verified",
                                "Restore the original model directory or re-train the model")
        if hashlib.sha256(data).hexdigest() != self.recorded[name]:
            raise ArtifactError(f"'{path}' does not match the sha256 in {MANIFEST} (modified or corrupted)",
                                "Restore the original file or re-train the model")
        return data

    def read_json(self, name: str) -> Any:
        try:
            return json.loads(self.read(name).decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as exc:
            raise ArtifactError(f"cannot read '{self.directory / name}' ({exc})", "Re-train or restore the file") from None

    def require(self, names: tuple[str, ...] = REQUIRED) -> None:
        missing = [name for name in names if not self.exists(name)]
        if missing:
            raise ArtifactError(f"model directory '{self.directory}' is incomplete: {', '.join(missing)} missing",
                                "Re-train it, or restore the missing files")


def _same_dir(directory: Path, fd: int) -> bool:
    try:
        now, then = os.stat(directory), os.fstat(fd)
    except OSError:
        return False
    return (now.st_dev, now.st_ino) == (then.st_dev, then.st_ino)


def load_model_dir(directory: str | Path, load: Callable[[ModelFiles], T]) -> T:
    """Run `load` on one generation of the model directory at `directory` and return its result.

    If the directory at that path was replaced while `load` read it (a `train --force` swapped a
    new model in, and the old one's files went away or stopped matching), start over on the new
    one: a load sees the old model or the new one, never a mix, and no false corruption error.
    """
    import time

    directory = Path(directory)
    hint = "Train one with 'sentiment train --out DIR' or point --model at one"
    for attempt in range(LOAD_ATTEMPTS):
        last = attempt == LOAD_ATTEMPTS - 1
        try:
            fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except FileNotFoundError:
            if not last and restorable(directory):  # between the two renames of a swap without renameat2
                time.sleep(0.05)
                continue
            raise ArtifactError(f"model directory '{directory}' does not exist", hint) from None
        except NotADirectoryError:
            raise ArtifactError(f"model path '{directory}' is not a directory", hint) from None
        except OSError as exc:
            raise ArtifactError(f"cannot open model directory '{directory}' ({exc.strerror or exc})",
                                "Check its permissions") from None
        try:
            try:
                files = ModelFiles(directory, fd)
                files.require()
                return load(files)
            except (ArtifactError, FileNotFoundError) as exc:
                if not last and not _same_dir(directory, fd):
                    continue  # replaced mid-load: load the new generation instead
                if isinstance(exc, FileNotFoundError):
                    raise ArtifactError(f"model directory '{directory}' is incomplete: "
                                        f"{Path(exc.filename or '?').name} missing",
                                        "Re-train it, or restore the missing files") from None
                raise
        finally:
            os.close(fd)
    raise AssertionError("unreachable")


def restorable(out: Path) -> bool:
    """Whether a model for `out` survives in a staging sibling (a swap cut short between renames)."""
    import glob

    return any(out.parent.glob(glob.escape(f".{out.name}") + ".old-*/m"))


def read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ArtifactError(f"cannot read '{path}' ({exc})", "Re-train or restore the file") from None


def write_json(path: Path, data: Any) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# -- atomic replacement ----------------------------------------------------------------------------
def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with Linux renameat2(RENAME_EXCHANGE); False where unsupported."""
    import ctypes  # here, not at the top: ctypes.util imports subprocess, a cost `predict` need not pay
    import ctypes.util

    libc_name = ctypes.util.find_library("c")
    if not libc_name or platform.system() != "Linux":
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    at_fdcwd, rename_exchange = -100, 2
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange)
    return rc == 0


def check_out_dir(out: Path, force: bool) -> None:
    """Fail before any work if writing `out` would destroy something.

    Only a model directory this tool wrote, holding nothing but what its manifest lists, may be
    replaced (with --force): a user's files, inside or instead of it, are never swapped away.
    """
    cwd = Path.cwd()
    if out.resolve() in (cwd, *cwd.parents):
        raise ArtifactError(f"--out '{out}' is the current directory or one of its parents",
                            "Choose a new directory path for --out, e.g. --out sentiment-model")
    if out.exists() and not out.is_dir():
        raise ArtifactError(f"--out '{out}' is a file", "Choose a directory path for --out")
    parent = next((p for p in out.parents if p.exists()), None)
    if parent is not None and not parent.is_dir():
        raise ArtifactError(f"--out '{out}' is inside '{parent}', which is a file",
                            "Choose a directory path for --out")
    if out.is_dir() and any(out.iterdir()):
        manifest = read_manifest(out)
        if manifest is None:
            raise ArtifactError(f"--out '{out}' exists and is not a model directory written by sentiment",
                                "Choose another --out; nothing was changed")
        if not force:
            raise ArtifactError(f"model directory '{out}' already exists",
                                "Pass --force to replace it, or choose another --out")
        recorded = manifest.get("artifacts")
        listed = set(recorded) if isinstance(recorded, dict) else set()
        extra = sorted(p.relative_to(out).as_posix() for p in out.rglob("*")
                       if p.is_file() and p.name != MANIFEST and p.relative_to(out).as_posix() not in listed)
        if extra:
            shown = ", ".join(extra[:3]) + (f" and {len(extra) - 3} more" if len(extra) > 3 else "")
            raise ArtifactError(f"model directory '{out}' holds files sentiment did not write ({shown})",
                                "Move them elsewhere before replacing it with --force; nothing was changed")


def _complete(directory: Path) -> bool:
    """Whether `directory` holds a whole model: a manifest (written last) whose every hash matches."""
    try:
        check_model_dir(directory)
    except ArtifactError:
        return False
    return True


def _remove_stale(out: Path) -> None:
    """Clean up after a killed run (only called while holding the lock for `out`).

    Without renameat2 the swap is two renames, `out` -> `.NAME.old-*/m` then the new model ->
    `out`; a kill between them leaves no model at `out`. The old model is then put back first,
    so that no later run, even one that fails, deletes the only copy. Then staging is deleted.
    """
    import glob

    prefix = glob.escape(f".{out.name}")
    if not out.exists() and not out.is_symlink():
        for old in sorted(out.parent.glob(prefix + ".old-*")):
            if old.is_dir() and not old.is_symlink() and _complete(old / "m"):
                os.rename(old / "m", out)
                import logging

                logging.getLogger("sentiment").warning(
                    "restored the model at %s that an interrupted 'sentiment train' had moved to %s", out, old)
                break
    for pattern in (".tmp-*", ".old-*"):
        for stale in out.parent.glob(prefix + pattern):
            if stale.is_dir() and not stale.is_symlink():
                if out.exists() or not _complete(stale / "m" if pattern == ".old-*" else stale):
                    shutil.rmtree(stale, ignore_errors=True)


@contextlib.contextmanager
def out_dir_lock(out: Path) -> Iterator[None]:
    """Hold an exclusive lock for `out` so two trainings into it cannot interleave.

    The lock is flock(2) on a hidden sibling file: the kernel drops it when the process dies,
    even by SIGKILL, so a crashed run never blocks the next one. The file is deleted when the run
    ends (one killed by SIGKILL leaves it, empty and harmless, until the next run into `out`).
    """
    import fcntl

    lock = out.parent / f".{out.name}.lock"
    while True:
        try:
            out.parent.mkdir(parents=True, exist_ok=True)
            fh = open(lock, "a+")
        except OSError as exc:
            raise ArtifactError(f"cannot create '{out}' ({exc.strerror or exc})",
                                "Choose an --out inside a directory you can write to") from None
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.close()
            raise ArtifactError(f"another 'sentiment train' is writing '{out}'",
                                "Wait for it to finish, or choose another --out") from None
        # The holder before us deletes the file when it is done: a lock on a file no longer at
        # `lock` excludes nobody, so take the lock again on the file that is there now.
        try:
            current = os.stat(lock)
        except FileNotFoundError:
            current = None
        mine = os.fstat(fh.fileno())
        if current is not None and (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino):
            break
        fh.close()
    try:
        _remove_stale(out)
        yield
    finally:
        # Deleted while still held, so no other run can be holding it: nothing stays beside --out.
        with contextlib.suppress(OSError):
            os.unlink(lock)
        fh.close()


def chmod_as_created(path: Path, mode: int) -> None:
    """Give `path` the mode a plain mkdir/open would have (`mode` less the umask), not the private
    0700/0600 of tempfile's mkdtemp/mkstemp."""
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(path, mode & ~umask)


@contextlib.contextmanager
def staged_dir(out: Path, force: bool) -> Iterator[Path]:
    """Yield a fresh hidden sibling of `out`; on success swap it in atomically, else delete it."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    chmod_as_created(tmp, 0o777)  # mkdtemp's 0700 would make the model unreadable to a service user
    try:
        yield tmp
        check_out_dir(out, force)  # again: something may have appeared while we trained
        if out.exists():
            if _exchange(tmp, out):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp now holds the old model
                return
            old = Path(tempfile.mkdtemp(prefix=f".{out.name}.old-", dir=out.parent))
            os.rename(out, old / "m")
            os.rename(tmp, out)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, out)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
