"""The long-format score frame every analysis reads, and the facts it needs about each measure.

One row per administration: `episode_id, client_id, therapist_id, session, date, instrument, total`,
optionally `stage`, `closed`, `dropout`, `risk` (or `flags`, from which `risk` is derived).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Literal, TypeVar

import numpy as np
import numpy.typing as npt
import polars as pl

from alliance.errors import AllianceError
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
# The polars type of each column a score frame may be built with.
COLUMN_TYPES: dict[str, Any] = {
    "episode_id": pl.String,
    "client_id": pl.String,
    "therapist_id": pl.String,
    "session": pl.Int64,
    "date": pl.Date,
    "instrument": pl.String,
    "total": pl.Float64,
    "stage": pl.String,
    "closed": pl.Boolean,
    "dropout": pl.Boolean,
    "risk": pl.Boolean,
    "flags": pl.List(pl.String),
}
# The rows of an incomplete or otherwise unscorable form with a risk item endorsed: left out of
# the score frame (no total), passed beside it (`unscored_risk` in alliance.analytics.signals).
UNSCORED_RISK_SCHEMA: dict[str, Any] = {
    name: COLUMN_TYPES[name]
    for name in ("episode_id", "client_id", "therapist_id", "session", "instrument")
}

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
_T = TypeVar("_T", bound=np.generic)


def score_frame(columns: dict[str, list[Any]]) -> pl.DataFrame:
    """A score frame from its columns, each with its type from COLUMN_TYPES, in the order given."""
    return pl.DataFrame(columns, schema={name: COLUMN_TYPES[name] for name in columns})


class FrameError(AllianceError, ValueError):
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
    out = _checked(frame)
    keys = ["episode_id", "instrument", "session"]
    if not bool(out.select(_in_order().alias("ok"))["ok"][0]):
        out = out.sort(keys)
    return out


def _checked(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with the required columns checked and the optional ones added; not yet sorted."""
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        raise FrameError(
            f"score frame: missing column(s) {', '.join(missing)}; "
            f"required: {', '.join(REQUIRED_COLUMNS)}"
        )
    schema = frame.schema
    exprs: list[pl.Expr] = [
        pl.col(name).cast(dtype)
        for name, dtype in (
            ("session", pl.Int64),
            ("total", pl.Float64),
            ("instrument", pl.String),
        )
        # Casting a column to its own type still copies it; skip that on large frames.
        if schema[name] != dtype
    ]
    if "date" not in frame.columns:
        exprs.append(pl.lit(None, dtype=pl.Date).alias("date"))
    if "stage" not in frame.columns:
        exprs.append(pl.lit(None, dtype=pl.String).alias("stage"))
    for flag in ("closed", "dropout"):
        if flag not in frame.columns:
            exprs.append(pl.lit(False).alias(flag))
        elif schema[flag] != pl.Boolean or frame[flag].null_count():
            exprs.append(pl.col(flag).cast(pl.Boolean).fill_null(False))
    if "risk" in frame.columns:
        if schema["risk"] != pl.Boolean or frame["risk"].null_count():
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
    out = frame.with_columns(exprs) if exprs else frame
    if out["session"].null_count() or out["instrument"].null_count():
        raise FrameError("score frame: session and instrument must not be empty")
    if out["episode_id"].null_count():
        raise FrameError("score frame: episode_id must not be empty")
    return out


def _in_order() -> pl.Expr:
    """True when rows are in strict (episode, instrument, session) order; avoids a re-sort."""
    ep, ins, ses = pl.col("episode_id"), pl.col("instrument"), pl.col("session")
    same_ep = ep == ep.shift(1)
    after = (ep > ep.shift(1)) | (
        same_ep & ((ins > ins.shift(1)) | ((ins == ins.shift(1)) & (ses > ses.shift(1))))
    )
    return after.fill_null(True).all()


def _boundaries() -> list[pl.Expr]:
    """Per row: does a new episode begin here, and a new series (episode or instrument)?"""
    ep, ins = pl.col("episode_id"), pl.col("instrument")
    new_episode = (ep != ep.shift(1)).fill_null(True)
    return [
        new_episode.alias("_e"),
        (new_episode | (ins != ins.shift(1)).fill_null(True)).alias("_s"),
    ]


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
    series_codes: IntArray  # index into `instruments` for each series
    episode_starts: IntArray  # row index where each episode begins

    @property
    def n_series(self) -> int:
        return int(self.starts.size)

    @property
    def n_episodes(self) -> int:
        return int(self.episode_starts.size)

    @property
    def ends(self) -> IntArray:
        """Row index of each series' last row."""
        return self.starts + self.lengths - 1

    def per_row(self, per_series: npt.NDArray[_T]) -> npt.NDArray[_T]:
        """Broadcast one value per series to its rows."""
        return np.repeat(per_series, self.lengths)

    def series_of(self, instrument_ids: set[str]) -> BoolArray:
        """Which series are of one of `instrument_ids`."""
        wanted = np.array([i in instrument_ids for i in self.instruments], dtype=np.bool_)
        if wanted.size == 0:
            return np.zeros(self.starts.shape, dtype=np.bool_)
        return np.asarray(wanted[self.series_codes])

    def rows_of(self, instrument_ids: set[str]) -> BoolArray:
        return self.per_row(self.series_of(instrument_ids))

    def subset(self, keep: BoolArray) -> Subset:
        """The series where `keep` (one flag per series) holds, as compact arrays."""
        lengths = self.lengths[keep]
        starts = np.cumsum(lengths) - lengths
        if bool(keep.all()):
            rows = np.arange(self.total.size, dtype=np.int64)
            total = self.total
        else:
            rows = np.repeat(self.starts[keep] - starts, lengths)
            rows += np.arange(rows.size, dtype=np.int64)
            total = self.total[rows]
        return Subset(
            rows=rows,
            total=total,
            starts=starts.astype(np.int64),
            lengths=lengths,
            codes=np.repeat(self.series_codes[keep], lengths),
        )


@dataclass(frozen=True)
class Subset:
    """Whole series taken out of a `Series`: compact arrays, `rows` maps back to frame rows.

    Analyses of one kind of measure (the alliance, say) work on these so they touch only the
    rows they need.
    """

    rows: IntArray
    total: FloatArray
    starts: IntArray  # compact index where each series begins
    lengths: IntArray
    codes: IntArray  # instrument code of each compact row

    @property
    def ends(self) -> IntArray:
        return self.starts + self.lengths - 1

    def per_row(self, per_series: npt.NDArray[_T]) -> npt.NDArray[_T]:
        return np.repeat(per_series, self.lengths)

    def position(self) -> IntArray:
        """0 for each series' first row, 1 for the next, ..."""
        return np.arange(self.total.size, dtype=np.int64) - self.per_row(self.starts)

    def previous(self) -> FloatArray:
        """The series' previous score (NaN on its first row)."""
        previous = np.empty_like(self.total)
        if previous.size:
            previous[1:] = self.total[:-1]
            previous[self.starts] = np.nan
        return previous


def cut_series(frame: pl.DataFrame) -> Series:
    """Normalise `frame` and index its series."""
    norm = _checked(frame)
    n = norm.height
    if n == 0:
        empty_i = np.zeros(0, dtype=np.int64)
        return Series(
            norm,
            np.zeros(0),
            empty_i,
            empty_i,
            empty_i,
            empty_i,
            empty_i,
            empty_i,
            empty_i,
            (),
            empty_i,
            empty_i,
        )
    # One pass finds the boundaries and checks the order; only unsorted input pays for a sort.
    flags = norm.select(*_boundaries(), _in_order().alias("_ok"))
    if not bool(flags["_ok"][0]):
        norm = norm.sort(["episode_id", "instrument", "session"])
        flags = norm.select(*_boundaries())
    new_episode = flags["_e"].to_numpy()
    starts = np.flatnonzero(flags["_s"].to_numpy()).astype(np.int64)
    lengths = np.diff(np.append(starts, n)).astype(np.int64)
    n_series = starts.size
    episode_starts = np.flatnonzero(new_episode).astype(np.int64)
    episode_lengths = np.diff(np.append(episode_starts, n))
    # Instruments are named once per series, not once per row.
    names_at_starts = norm["instrument"].gather(starts)
    names = tuple(sorted(str(x) for x in names_at_starts.unique().to_list()))
    series_codes = names_at_starts.replace_strict(
        list(names), list(range(len(names))), return_dtype=pl.Int64
    ).to_numpy()
    return Series(
        frame=norm,
        total=norm["total"].to_numpy().astype(np.float64, copy=False),
        session=norm["session"].to_numpy().astype(np.int64, copy=False),
        series=np.repeat(np.arange(n_series, dtype=np.int64), lengths),
        episode=np.repeat(np.arange(episode_starts.size, dtype=np.int64), episode_lengths),
        position=np.arange(n, dtype=np.int64) - np.repeat(starts, lengths),
        starts=starts,
        lengths=lengths,
        instrument_codes=np.repeat(series_codes, lengths),
        instruments=names,
        series_codes=series_codes,
        episode_starts=episode_starts,
    )
