"""The .npz files the coding tiers keep their weights in: arrays plus a small text `meta`.

Read without pickles, so a weights file can hold numbers and strings but never code.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from numpy.lib.npyio import NpzFile
from numpy.typing import NDArray

from alliance.transcripts.errors import WeightsNotFoundError


def save_weights(
    path: Path, arrays: Mapping[str, NDArray[np.generic]], meta: Mapping[str, str]
) -> None:
    """Write `arrays` and `meta` to one compressed file, making its folder if need be."""
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        path,
        **arrays,  # type: ignore[arg-type]
        meta_keys=np.array(list(meta)),
        meta_values=np.array(list(meta.values())),
    )


@contextmanager
def open_weights(path: Path, what: str, make: str) -> Iterator[NpzFile]:
    """Open a weights file; a missing one is refused with the command that makes it."""
    if not path.is_file():
        raise WeightsNotFoundError(f"{what} not found at {path.name}; run `{make}`")
    with np.load(path, allow_pickle=False) as z:
        yield z


def read_meta(z: NpzFile) -> dict[str, str]:
    """The text `meta` saved beside the arrays (what it was trained on, when, how)."""
    return dict(zip(map(str, z["meta_keys"]), map(str, z["meta_values"]), strict=True))
