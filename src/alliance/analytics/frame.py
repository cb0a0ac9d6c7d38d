"""The long-format score frame every analysis reads, and the facts it needs about each measure.

One row per administration: `episode_id, client_id, therapist_id, session, date, instrument, total`,
optionally `stage`, `closed`, `dropout`, `risk` (or `flags`, from which `risk` is derived).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Literal, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from alliance.instruments import load_instrument

REQUIRED_COLUMNS = (
    "episode_id",
    "client_id",
    "therapist_id",
    "session",
    "instrument",
    "total",
)
OPTIONAL_COLUMNS = ("date", "stage", "closed", "dropout", "risk", "flags")

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_T = TypeVar("_T", bound=np.generic)


class FrameError(ValueError):
    """A score frame that cannot be analysed; the message names the column and what is expected."""


@dataclass(frozen=True)
class MeasureFacts:
    """What the analyses need from an instrument definition (never duplicated here)."""

    instrument: str
    kind: Literal["outcome", "alliance", "goals"]
    higher_is_better: bool
    cutoff: float | None
    clinical_below: bool
    reliable_change: float | None
    total_min: float
    total_max: float

    @property
    def sign(self) -> float:
        """+1 when a higher total is better, -1 when it is worse: `sign * (post - pre)` is gain."""
        return 1.0 if self.higher_is_better else -1.0

    def in_clinical_range(self, totals: FloatArray) -> BoolArray:
        """Caseness by the instrument's cutoff and its clinical side."""
        if self.cutoff is None:
            return np.zeros(totals.shape, dtype=np.bool_)
        if self.clinical_below:
            return np.asarray(totals < self.cutoff)
        return np.asarray(totals >= self.cutoff)


@lru_cache(maxsize=64)
def measure_facts(instrument_id: str) -> MeasureFacts:
    """Facts for one instrument, read from its definition file."""
    instrument = load_instrument(instrument_id)
    cutoff = instrument.cutoff
    return MeasureFacts(
        instrument=instrument.id,
        kind=instrument.kind,
        higher_is_better=instrument.direction == "higher_is_better",
        cutoff=cutoff.value if cutoff is not None else None,
        clinical_below=cutoff is not None and cutoff.clinical_side == "below",
        reliable_change=instrument.reliable_change,
        total_min=float(instrument.total_min),
        total_max=float(instrument.total_max),
    )


def normalise(frame: pl.DataFrame) -> pl.DataFrame:
    """Check the columns, cast the types, add missing optional columns, sort by series."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise FrameError(
            f"score frame: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}"
        )
    exprs: list[pl.Expr] = [
        pl.col("session").cast(pl.Int64),
        pl.col("total").cast(pl.Float64),
        pl.col("instrument").cast(pl.String),
    ]
    if "date" not in frame.columns:
        exprs.append(pl.lit(None, dtype=pl.Date).alias("date"))
    if "stage" not in frame.columns:
        exprs.append(pl.lit(None, dtype=pl.String).alias("stage"))
    for flag in ("closed", "dropout"):
        if flag not in frame.columns:
            exprs.append(pl.lit(False).alias(flag))
        else:
            exprs.append(pl.col(flag).cast(pl.Boolean).fill_null(False))
    if "risk" in frame.columns:
        exprs.append(pl.col("risk").cast(pl.Boolean).fill_null(False))
    elif "flags" in frame.columns:
        exprs.append(
            pl.col("flags")
            .list.eval(pl.element().str.starts_with("risk:"))
            .list.any()
            .fill_null(False)
            .alias("risk")
        )
    else:
        exprs.append(pl.lit(False).alias("risk"))
    out = frame.with_columns(exprs)
    if out["session"].null_count() or out["instrument"].null_count():
        raise FrameError("score frame: session and instrument must not be empty")
    keys = ["episode_id", "instrument", "session"]
    if not _is_sorted(out, keys):
        out = out.sort(keys)
    return out


def _is_sorted(frame: pl.DataFrame, keys: list[str]) -> bool:
    """True when rows are already in (episode, instrument, session) order; avoids a re-sort."""
    if frame.height < 2:
        return True
    same = [(pl.col(k) == pl.col(k).shift(1)) for k in keys[:-1]]
    checks = frame.select(
        episode_ok=(pl.col(keys[0]) >= pl.col(keys[0]).shift(1)).fill_null(True).all(),
        instrument_ok=(
            ~same[0] | (pl.col(keys[1]) >= pl.col(keys[1]).shift(1)).fill_null(True)
        ).all(),
        session_ok=(
            ~(same[0] & same[1]) | (pl.col(keys[2]) > pl.col(keys[2]).shift(1)).fill_null(True)
        ).all(),
    ).row(0)
    return bool(all(checks))


@dataclass(frozen=True)
class Series:
    """A normalised frame cut into series (one episode, one instrument), as numpy arrays."""

    frame: pl.DataFrame
    total: FloatArray
    session: IntArray
    series: IntArray  # series number of each row
    episode: IntArray  # episode ordinal of each row (0, 1, ... in frame order)
    position: IntArray  # 0 for the series' first row
    starts: IntArray  # row index where each series begins
    lengths: IntArray
    instrument_codes: IntArray  # index into `instruments` for each row
    instruments: tuple[str, ...]

    @property
    def n_series(self) -> int:
        return int(self.starts.size)

    def per_row(self, per_series: npt.NDArray[_T]) -> npt.NDArray[_T]:
        """Broadcast one value per series to its rows."""
        return per_series[self.series]

    def rows_of(self, instrument_ids: set[str]) -> BoolArray:
        wanted = np.array([i in instrument_ids for i in self.instruments], dtype=np.bool_)
        if wanted.size == 0:
            return np.zeros(self.total.shape, dtype=np.bool_)
        return np.asarray(wanted[self.instrument_codes])


def cut_series(frame: pl.DataFrame) -> Series:
    """Normalise `frame` and index its series."""
    norm = normalise(frame)
    n = norm.height
    if n == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        return Series(
            norm, np.zeros(0), empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, empty_i, ()
        )
    flags = norm.select(
        (pl.col("episode_id") != pl.col("episode_id").shift(1)).fill_null(True).alias("e"),
        (pl.col("instrument") != pl.col("instrument").shift(1)).fill_null(True).alias("i"),
    )
    new_episode = flags["e"].to_numpy()
    boundary = new_episode | flags["i"].to_numpy()
    starts = np.flatnonzero(boundary).astype(np.int64)
    series = np.cumsum(boundary, dtype=np.int64) - 1
    lengths = np.diff(np.append(starts, n)).astype(np.int64)
    position = np.arange(n, dtype=np.int64) - starts[series]
    names = tuple(sorted(str(x) for x in norm["instrument"].unique().to_list()))
    codes = (
        norm["instrument"]
        .replace_strict(list(names), list(range(len(names))), return_dtype=pl.Int64)
        .to_numpy()
    )
    return Series(
        frame=norm,
        total=norm["total"].to_numpy().astype(np.float64, copy=False),
        session=norm["session"].to_numpy().astype(np.int64, copy=False),
        series=series,
        episode=np.cumsum(new_episode, dtype=np.int64) - 1,
        position=position,
        starts=starts,
        lengths=lengths,
        instrument_codes=codes,
        instruments=names,
    )
