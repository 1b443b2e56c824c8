"""Domain errors, raised deep in the library and turned into one-line messages once, in cli.py.

Each error carries a `hint` (the fix) so the CLI can print "problem. fix" without knowing where
the error came from. Library callers get ordinary exceptions with the same text.
"""

from __future__ import annotations


class SentimentError(Exception):
    """Base class: a problem the user can fix. `exit_code` follows click (1 failure, 2 usage)."""

    exit_code = 1

    def __init__(self, message: str, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return f"{self.message}. {self.hint}" if self.hint else self.message


class ConfigError(SentimentError):
    """An invalid config file, key, type or value."""

    exit_code = 2


class DataError(SentimentError):
    """An input table or text stream that cannot be used as given."""


class ArtifactError(SentimentError):
    """A model directory that is missing, incomplete, tampered with or unsafe to load."""


class NotFittedError(SentimentError, ValueError):
    """A tokenizer used before `fit` (scikit-learn's name for the same mistake)."""


class TrainingError(SentimentError):
    """Training that cannot go on as configured (a NaN loss, for one); nothing was written."""


class WriteError(SentimentError):
    """An output that cannot be written (disk full, file too large, no permission); nothing was replaced."""


def os_reason(exc: OSError) -> tuple[str | None, str]:
    """(file name, reason) of an OSError, on one line.

    h5py (Keras' weight files) packs its whole diagnostic into strerror, file name and errno text
    included, over several lines: take those two out of it.
    """
    import re

    text = str(exc.strerror or exc)
    filename = exc.filename
    found = re.search(r"filename = '([^']*)'", text)
    if found and not filename:
        filename = found.group(1)
    found = re.search(r"error message = '([^']*)'", text)
    if found:
        text = found.group(1)
    return filename, " ".join(text.split())[:200]
