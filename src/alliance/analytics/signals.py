"""Signals: alerts on the alliance and the outcome, each with its evidence and next steps.

A signal is a run of consecutive ratings of one measure on which a rule holds (a risk item is
one signal per form). Its stable key is `kind:rule:episode:instrument:session`, `session` being
where the run began, so an acknowledgement still matches when later sessions are added and the
condition goes on; `last_session` is where it last held and `open` says whether it still holds
at the measure's latest rating (the alert clears itself when it does not). Every rule reads only
the client's own ratings, so a client's signals are the same alone and inside any file.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import polars as pl

from alliance.analytics.etr import MIN_EPISODES, EtrModel, default_models, usable_models
from alliance.analytics.frame import (
    BoolArray,
    FloatArray,
    IntArray,
    Series,
    Subset,
    cut_series,
    measure_facts,
)
from alliance.analytics.outcome import OutcomeRows, outcome_rows
from alliance.analytics.ruptures import PRESETS, RuptureConfig, detect_ruptures
from alliance.instruments import load_instrument

SEVERITY_ORDER = ("critical", "high", "medium", "low", "info")
# "No change": no reliable improvement by this many ratings after intake (the 7th rating).
NO_CHANGE_AFTER = 6
# A fall in the alliance that counts as a drop at all (OpenFIT's SRS red flag: 1 point).
DROP_POINTS = 1.0

# DOMAIN §4: alerts carry what to do next; the evidence favours support tools over bare alarms.
_TALK = "Talk about the alliance with the client: ask what fits and what does not"
_GOALS = "Revisit goals and tasks together"
_LIFE = "Check motivation, social support and life events"
_CHANGE = "Consider a change of approach, a referral or a medication review"
_SUPERVISION = "Bring it to supervision"
NEXT_STEPS: dict[str, tuple[str, ...]] = {
    "risk_item": (
        "Review risk with the client now, following the clinic's safety protocol",
        _SUPERVISION,
    ),
    "reliable_deterioration": (_TALK, _GOALS, _LIFE, _CHANGE, _SUPERVISION),
    "not_on_track": (_TALK, _GOALS, _LIFE, _CHANGE, _SUPERVISION),
    "no_change": (_TALK, _GOALS, _LIFE, _CHANGE, _SUPERVISION),
    "rupture": (_TALK, _GOALS, _SUPERVISION),
    "alliance_low": (_TALK, _GOALS, _SUPERVISION),
    "alliance_drop": (_TALK, _GOALS),
    "alliance_decline": (_TALK, _GOALS, _SUPERVISION),
    "repair": (_TALK,),
}
KINDS = tuple(NEXT_STEPS)

SIGNAL_SCHEMA: dict[str, Any] = {
    "episode_id": pl.String,
    "client_id": pl.String,
    "therapist_id": pl.String,
    "kind": pl.String,
    "rule": pl.String,
    "severity": pl.String,
    "instrument": pl.String,
    "session": pl.Int64,
    "last_session": pl.Int64,
    "open": pl.Boolean,
    "value": pl.Float64,
    "reference": pl.Float64,
    "detail": pl.String,
    "source": pl.String,
    "_ep": pl.Int64,
}


@dataclass(frozen=True)
class Signal:
    """One alert: what, how serious, the evidence, what to do next, and whether it was seen."""

    key: str
    episode_id: str
    kind: str
    severity: str
    instrument: str
    session: int
    evidence: dict[str, Any]
    next_steps: tuple[str, ...]
    acknowledged: bool = False
    client_id: str | None = None
    therapist_id: str | None = None
    last_session: int | None = None
    open: bool = True
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "episode_id": self.episode_id,
            "client_id": self.client_id,
            "therapist_id": self.therapist_id,
            "kind": self.kind,
            "severity": self.severity,
            "instrument": self.instrument,
            "session": self.session,
            "last_session": self.last_session,
            "open": self.open,
            "evidence": self.evidence,
            "next_steps": list(self.next_steps),
            "acknowledged": self.acknowledged,
        }


def signals_frame(
    frame: pl.DataFrame | Series,
    *,
    models: Mapping[str, EtrModel] | None = None,
    rupture_config: RuptureConfig | None = None,
    acknowledged: Collection[str] = (),
    latest_only: bool = False,
    outcomes: OutcomeRows | None = None,
    ruptures: pl.DataFrame | None = None,
    unscored_risk: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """All signals as one columnar frame (most severe first), with `key` and `acknowledged`.

    Only models fitted on enough of a clinic's own closed episodes decide alerts (see
    `EtrModel.usable`); the others are ignored. `latest_only` keeps the signals still open.
    `unscored_risk` lists forms that could not be scored but had a risk item endorsed.
    """
    series = frame if isinstance(frame, Series) else cut_series(frame)
    models = usable_models(default_models() if models is None else models)
    config = rupture_config or PRESETS["stiles-like"]
    outcomes = outcomes if outcomes is not None else outcome_rows(series, models)
    ruptures = ruptures if ruptures is not None else detect_ruptures(series, config)
    parts = [
        _risk(series),
        _deterioration(series, outcomes),
        _not_on_track(series, outcomes, models),
        _no_change(series, outcomes, models),
        *_alliance(series, config),
    ]
    parts = [_as_runs(series, p) for p in parts]
    if latest_only:
        parts = [p.keep(p.open) for p in parts]
    from_ruptures = _ruptures(ruptures, config, series)
    if unscored_risk is not None and unscored_risk.height:
        from_ruptures.append(_unscored_risk(unscored_risk, series))
    if latest_only:
        from_ruptures = [b.filter(pl.col("open")) for b in from_ruptures]
    # Most severe first, then episode (its ordinal, not the id string) and session; ties keep
    # the order of the parts above. The row-based block is built already in that order, the
    # few rupture rows are sorted on their own, and the two sorted blocks are merged.
    rupture_rows = pl.concat(from_ruptures, how="vertical")
    rupture_rows = rupture_rows.with_columns(_key(rupture_rows))[
        pl.Series(_stable_order(*_sort_keys(rupture_rows)), dtype=pl.Int64)
    ]
    row_block = _block(series, parts)
    out = pl.concat([row_block, rupture_rows], how="vertical")
    if rupture_rows.height and row_block.height:
        out = out[pl.Series(_merge_order(_sort_keys(row_block), _sort_keys(rupture_rows)))]
    keys = pl.Series(list(acknowledged), dtype=pl.String)
    return out.with_columns(pl.col("key").is_in(keys.implode()).alias("acknowledged")).drop(
        "_rank", "_ep"
    )


def _key(block: pl.DataFrame) -> pl.Expr:
    """The stable key `kind:rule:episode:instrument:session`."""
    return pl.concat_str(
        ["kind", "rule", "episode_id", "instrument", pl.col("session").cast(pl.String)],
        separator=":",
    ).alias("key")


def signals(
    frame: pl.DataFrame | Series,
    *,
    models: Mapping[str, EtrModel] | None = None,
    rupture_config: RuptureConfig | None = None,
    acknowledged: Collection[str] = (),
    latest_only: bool = False,
    unscored_risk: pl.DataFrame | None = None,
) -> list[Signal]:
    """All signals as objects, most severe first."""
    table = signals_frame(
        frame,
        models=models,
        rupture_config=rupture_config,
        acknowledged=acknowledged,
        latest_only=latest_only,
        unscored_risk=unscored_risk,
    )
    return to_signals(table)


def to_signals(table: pl.DataFrame) -> list[Signal]:
    """Turn rows of `signals_frame` into `Signal` objects."""
    result: list[Signal] = []
    for row in table.iter_rows(named=True):
        evidence = {
            "rule": row["rule"],
            "detail": row["detail"],
            "source": row["source"],
            "score": _number(row["value"]),
            "reference": _number(row["reference"]),
            "instrument": row["instrument"],
            "session": row["session"],
            "last_session": row["last_session"],
        }
        result.append(
            Signal(
                key=row["key"],
                episode_id=row["episode_id"],
                kind=row["kind"],
                severity=row["severity"],
                instrument=row["instrument"],
                session=row["session"],
                evidence=evidence,
                next_steps=NEXT_STEPS[row["kind"]],
                acknowledged=row["acknowledged"],
                client_id=row["client_id"],
                therapist_id=row["therapist_id"],
                last_session=row["last_session"],
                open=bool(row["open"]),
            )
        )
    return result


def _number(value: float | None) -> float | None:
    return None if value is None or np.isnan(value) else float(value)


def _short(instrument: str) -> str:
    """The measure's name for people ("PHQ-9", never "phq9")."""
    return load_instrument(instrument).short_name


# Few distinct values, many rows: categorical columns keep a large signal table small.
_LOW_CARDINALITY = ("kind", "rule", "severity", "instrument", "detail", "source")
_RANK = {s: i for i, s in enumerate(SEVERITY_ORDER)}
_BLOCK_SCHEMA: dict[str, Any] = {
    **SIGNAL_SCHEMA,
    **dict.fromkeys(_LOW_CARDINALITY, pl.Categorical),
    "_rank": pl.Int64,
}


def _empty() -> pl.DataFrame:
    return pl.DataFrame(schema=_BLOCK_SCHEMA)


@dataclass(frozen=True)
class _Part:
    """Signals of one kind and rule raised on rows of the frame (before any frame is built).

    `rows` are where each signal begins and `last` where it last holds (the same row for a
    signal that is one rating long); `labels[i]` is the detail of rows whose `label_codes` is i.
    `runs`: consecutive flagged ratings of one measure are one signal (False: one per rating).
    """

    kind: str
    rule: str
    severity: str
    source: str
    rows: IntArray
    reference: FloatArray
    label_codes: IntArray
    labels: tuple[str, ...]
    runs: bool = True
    last: IntArray = field(default_factory=lambda: np.zeros(0, dtype=np.int64))
    open: BoolArray = field(default_factory=lambda: np.zeros(0, dtype=np.bool_))

    def keep(self, mask: BoolArray) -> _Part:
        return replace(
            self,
            rows=self.rows[mask],
            reference=self.reference[mask],
            label_codes=self.label_codes[mask],
            last=self.last[mask],
            open=self.open[mask],
        )


def _part(
    series: Series,
    rows: IntArray,
    *,
    kind: str,
    rule: str,
    severity: str,
    reference: FloatArray,
    detail: str | Callable[[int], str],
    source: str,
    label_by: IntArray | None = None,
    runs: bool = True,
) -> _Part:
    """Signals on frame `rows` (`reference` is given at those rows).

    `detail` is one text, or a text per value of `label_by` (default: the instrument) at the row.
    """
    if isinstance(detail, str) or rows.size == 0:
        labels: tuple[str, ...] = (detail,) if isinstance(detail, str) else ()
        codes = np.zeros(rows.size, np.int64)
        return _Part(kind, rule, severity, source, rows, reference, codes, labels, runs)
    by = series.instrument_codes[rows] if label_by is None else label_by[rows]
    if bool((by == by[0]).all()):
        values, codes = by[:1], np.zeros(rows.size, dtype=np.int64)
    else:
        values, inverse = np.unique(by, return_inverse=True)
        codes = inverse.reshape(-1).astype(np.int64)
    labels = tuple(detail(int(v)) for v in values)
    return _Part(kind, rule, severity, source, rows, reference, codes, labels, runs)


def _as_runs(series: Series, part: _Part) -> _Part:
    """Collapse consecutive flagged ratings of one series into one signal each."""
    rows = part.rows
    series_end = series.ends[series.series[rows]] if rows.size else rows
    if not part.runs or rows.size == 0:
        # One signal per rating (a risk item): open until it is acknowledged.
        return replace(part, last=rows, open=np.ones(rows.size, dtype=np.bool_))
    same = np.zeros(rows.size, dtype=np.bool_)
    same[1:] = (rows[1:] == rows[:-1] + 1) & (series.series[rows[1:]] == series.series[rows[:-1]])
    begins = np.flatnonzero(~same)
    ends = np.append(begins[1:], rows.size) - 1
    last = rows[ends]
    return replace(
        part,
        rows=rows[begins],
        # The reference and the quoted score are those of the latest rating of the run.
        reference=part.reference[ends],
        label_codes=part.label_codes[begins],
        last=last,
        open=last == series_end[ends],
    )


def _block(series: Series, parts: list[_Part]) -> pl.DataFrame:
    """Every row-based signal in one frame, sorted by (rank, episode, session), ties in part order.

    Everything but the identifiers is assembled from numpy arrays already in that order; the
    identifiers take one gather from the score frame.
    """
    sizes = [p.rows.size for p in parts]
    if not sum(sizes):
        return _empty().with_columns(pl.lit(None, dtype=pl.String).alias("key"))
    part_of = np.repeat(np.arange(len(parts)), sizes)
    rows = np.concatenate([p.rows for p in parts])
    rank = np.array([_RANK[p.severity] for p in parts])[part_of]
    order = _stable_order(rank, series.episode[rows], series.session[rows])
    rows, part_of, rank = rows[order], part_of[order], rank[order]
    last = np.concatenate([p.last for p in parts])[order]
    is_open = np.concatenate([p.open for p in parts])[order]
    label_base = np.cumsum([0] + [len(p.labels) for p in parts[:-1]])
    label_codes = np.concatenate(
        [p.label_codes + b for p, b in zip(parts, label_base, strict=True)]
    )[order]
    reference = np.concatenate([p.reference for p in parts])[order]
    codes = series.instrument_codes[rows]
    session = series.session[rows]

    def constant(values: list[str], at: IntArray, dtype: Any = pl.Categorical) -> pl.Series:
        return pl.Series(values, dtype=dtype).gather(at)

    out = pl.DataFrame(_identifiers(series, rows)).select(
        "episode_id",
        "client_id",
        "therapist_id",
        constant([p.kind for p in parts], part_of).alias("kind"),
        constant([p.rule for p in parts], part_of).alias("rule"),
        constant([p.severity for p in parts], part_of).alias("severity"),
        constant(list(series.instruments), codes).alias("instrument"),
        pl.Series("session", session, dtype=pl.Int64),
        pl.Series("last_session", series.session[last], dtype=pl.Int64),
        pl.Series("open", is_open, dtype=pl.Boolean),
        pl.Series("value", series.total[last], dtype=pl.Float64),
        pl.Series("reference", reference, dtype=pl.Float64),
        constant([label for p in parts for label in p.labels], label_codes).alias("detail"),
        constant([p.source for p in parts], part_of).alias("source"),
        pl.Series("_ep", series.episode[rows], dtype=pl.Int64),
        pl.Series("_rank", rank, dtype=pl.Int64),
        # The key from plain-text pieces: "kind:rule:", the episode, ":instrument:", session.
        constant([f"{p.kind}:{p.rule}:" for p in parts], part_of, pl.String).alias("_head"),
        constant([f":{i}:" for i in series.instruments], codes, pl.String).alias("_mid"),
    )
    key = pl.concat_str(["_head", "episode_id", "_mid", pl.col("session").cast(pl.String)])
    return out.with_columns(key.alias("key")).drop("_head", "_mid")


def _identifiers(series: Series, rows: IntArray) -> list[pl.Series]:
    """Episode, client and therapist ids of `rows`, as text.

    An id that never changes within an episode is cast once per episode and looked up by the
    episode's ordinal, which is much cheaper than casting it on every signal row.
    """
    frame = series.frame
    episode = series.episode[rows]
    columns = ("episode_id", "client_id", "therapist_id")
    others = columns[1:]
    changes = frame.select(
        [(pl.col(c) != pl.col(c).shift(1)).fill_null(True).alias(c) for c in others]
    )
    inside = np.ones(frame.height, dtype=np.bool_)
    inside[series.episode_starts] = False
    out: list[pl.Series] = []
    for column in columns:
        # Episode ids are constant within an episode by construction.
        constant = column == "episode_id" or not bool((changes[column].to_numpy() & inside).any())
        if constant:
            per_episode = frame[column].gather(series.episode_starts).cast(pl.String)
            out.append(per_episode.gather(episode).alias(column))
        else:
            out.append(frame[column].gather(rows).cast(pl.String).alias(column))
    return out


_Keys = tuple[IntArray, IntArray, IntArray]


def _sort_keys(block: pl.DataFrame) -> _Keys:
    """(rank, episode ordinal, session) of each row; an unknown episode sorts first."""
    return (
        block["_rank"].to_numpy(),
        block["_ep"].fill_null(-1).to_numpy(),
        block["session"].to_numpy(),
    )


def _composite(keys: _Keys, low: int, high: int, n_ep: int) -> IntArray | None:
    """One integer per row ordered as (rank, episode, session); None if it would overflow."""
    rank, episode, session = keys
    span = high - low + 1
    if len(SEVERITY_ORDER) * (n_ep + 1) * span >= 2**62:
        return None
    return (rank * (n_ep + 1) + (episode + 1)) * span + (session - low)


def _bounds(*all_keys: _Keys) -> tuple[int, int, int]:
    sessions = [k[2] for k in all_keys if k[2].size]
    episodes = [k[1] for k in all_keys if k[1].size]
    return (
        min(int(s.min()) for s in sessions),
        max(int(s.max()) for s in sessions),
        max(int(e.max()) for e in episodes) + 1,
    )


def _stable_order(rank: IntArray, episode: IntArray, session: IntArray) -> IntArray:
    """Row order by (rank, episode, session), ties in their current order."""
    keys = (rank, episode, session)
    if rank.size == 0:
        return np.zeros(0, dtype=np.int64)
    composite = _composite(keys, *_bounds(keys))
    if composite is not None:
        # One integer key: a single stable sort instead of three.
        return np.argsort(composite, kind="stable")
    return np.lexsort((session, episode, rank))


def _merge_order(first: _Keys, second: _Keys) -> IntArray:
    """Order of the rows of two blocks, each already sorted, placed one after the other.

    On equal keys rows of the first block come first, as a stable sort of the two would give.
    """
    n, m = first[0].size, second[0].size
    bounds = _bounds(first, second)
    a, b = _composite(first, *bounds), _composite(second, *bounds)
    if a is None or b is None:
        return np.lexsort(
            tuple(np.concatenate([x, y]) for x, y in zip(first, second, strict=True))[::-1]
        )
    # Each row of the second block goes after every row of the first with a key not above its.
    at = np.searchsorted(a, b, side="right") + np.arange(m)
    order = np.empty(n + m, dtype=np.int64)
    taken = np.zeros(n + m, dtype=np.bool_)
    taken[at] = True
    order[at] = np.arange(n, n + m)
    order[~taken] = np.arange(n)
    return order


def _risk_words(instrument: str) -> str:
    """Which item is the risk item, in words: "PHQ-9 item 9 (Thoughts of self-harm)"."""
    definition = load_instrument(instrument)
    items = [f"item {r.item} ({definition.item(r.item).label})" for r in definition.risk_items]
    return f"{definition.short_name} {' or '.join(items) or 'risk item'}"


_RISK_SOURCE = (
    "The measure's risk item (PHQ-9 item 9 at 1 or more; CORE-10 item 6 above 'Not at all'): "
    "reviewed whatever the total or the rest of the form (DOMAIN §3)"
)


def _risk(series: Series) -> _Part:
    rows = np.flatnonzero(series.frame["risk"].to_numpy())
    return _part(
        series,
        rows,
        kind="risk_item",
        rule="risk_item",
        severity="critical",
        reference=np.full(rows.size, np.nan),
        detail=lambda code: (
            f"{_risk_words(series.instruments[code])} endorsed: review risk now, whatever the total"
        ),
        source=_RISK_SOURCE,
        runs=False,
    )


def _unscored_risk(table: pl.DataFrame, series: Series) -> pl.DataFrame:
    """Risk items endorsed on forms that could not be scored: still the most urgent signal."""
    ordinals = pl.DataFrame(
        {
            "episode_id": series.frame["episode_id"].gather(series.episode_starts).cast(pl.String),
            "_ep": np.arange(series.n_episodes, dtype=np.int64),
        }
    )
    base = table.select(
        *[pl.col(c).cast(pl.String) for c in ("episode_id", "client_id", "therapist_id")],
        pl.col("session").cast(pl.Int64),
        pl.col("instrument").cast(pl.String),
    ).join(ordinals, on="episode_id", how="left", maintain_order="left")
    words = {i: _risk_words(i) for i in base["instrument"].unique().to_list()}
    out = base.select(
        "episode_id",
        "client_id",
        "therapist_id",
        pl.lit("risk_item").alias("kind"),
        pl.lit("risk_item_unscored").alias("rule"),
        pl.lit("critical").alias("severity"),
        "instrument",
        "session",
        pl.col("session").alias("last_session"),
        pl.lit(True).alias("open"),
        pl.lit(None, dtype=pl.Float64).alias("value"),
        pl.lit(None, dtype=pl.Float64).alias("reference"),
        (
            pl.col("instrument").replace_strict(words, return_dtype=pl.String)
            + pl.lit(
                " endorsed on a form that could not be scored (items missing or invalid): "
                "review risk now"
            )
        ).alias("detail"),
        pl.lit(_RISK_SOURCE).alias("source"),
        "_ep",
        pl.lit(_RANK["critical"]).alias("_rank"),
    )
    return out.cast(_BLOCK_SCHEMA)  # type: ignore[arg-type]


def _deterioration(series: Series, outcomes: OutcomeRows) -> _Part:
    rows = np.flatnonzero(outcomes.deteriorated)

    def detail(code: int) -> str:
        instrument = series.instruments[code]
        rc = measure_facts(instrument).reliable_change or 0.0
        return (
            f"{_short(instrument)} worse than at intake by {rc:g} points or more (reliable change)"
        )

    return _part(
        series,
        rows,
        kind="reliable_deterioration",
        rule="reliable_change",
        severity="high",
        reference=outcomes.intake[rows],
        detail=detail,
        source="Jacobson & Truax 1991 (the measure's minimum reliable difference)",
    )


def _not_on_track(series: Series, outcomes: OutcomeRows, models: Mapping[str, EtrModel]) -> _Part:
    """Outside the expected-response band of a model fitted on the clinic's own episodes."""
    rows = np.flatnonzero(outcomes.not_on_track & outcomes.by_model)

    def detail(code: int) -> str:
        instrument = series.instruments[code]
        model = models[instrument]
        return (
            f"{_short(instrument)} outside the expected-response band (model {model.description})"
        )

    return _part(
        series,
        rows,
        kind="not_on_track",
        rule="etr",
        severity="high",
        reference=outcomes.expected[rows],
        detail=detail,
        source="Finch, Lambert & Schaalje 2001 (expected treatment response)",
    )


def _no_change(series: Series, outcomes: OutcomeRows, models: Mapping[str, EtrModel]) -> _Part:
    """No reliable improvement by the 7th rating, whatever the model (DOMAIN §4)."""
    n = series.total.size
    facts = [measure_facts(i) for i in series.instruments]
    clinical_at_intake = np.zeros(n, dtype=np.bool_)
    for code, f in enumerate(facts):
        if f.kind != "outcome":
            continue
        at = series.instrument_codes == code
        # A client who starts outside the clinical range has little room to improve reliably.
        clinical_at_intake[at] = f.cutoff is None or f.in_clinical_range(outcomes.intake[at])
    late = outcomes.outcome & (series.position >= NO_CHANGE_AFTER) & clinical_at_intake
    rows = np.flatnonzero(late & ~outcomes.improved)

    def detail(code: int) -> str:
        instrument = series.instruments[code]
        rc = measure_facts(instrument).reliable_change or 0.0
        text = (
            f"No reliable improvement on the {_short(instrument)} (a change of {rc:g} points) "
            f"by rating {NO_CHANGE_AFTER + 1}"
        )
        if instrument in models:
            return text
        # Say which the alerts rest on: this rule, until the clinic has its own model.
        return (
            f"{text}; rule-based, as no expected-response model has been fitted on "
            f"{MIN_EPISODES} or more of your clinic's closed episodes yet"
        )

    return _part(
        series,
        rows,
        kind="no_change",
        rule="no_reliable_improvement",
        severity="medium",
        reference=outcomes.intake[rows],
        detail=detail,
        source=(
            f"House rule, not a published one: no reliable improvement (Jacobson & Truax 1991) "
            f"by rating {NO_CHANGE_AFTER + 1}, for a client in the clinical range at intake; "
            "about half of clients improve within 8 sessions (Howard et al. 1986)"
        ),
    )


# Long by design: the four alliance signals are declared side by side, each with its rule and
# its source, so a reader checks them against DOMAIN §4 in one place.
def _alliance(series: Series, config: RuptureConfig) -> list[_Part]:
    facts = [measure_facts(i) for i in series.instruments]
    alliance = np.array([f.kind == "alliance" for f in facts], dtype=np.bool_)
    # Only alliance series are read, as compact arrays.
    sub = series.subset(alliance[series.series_codes] if series.n_series else alliance[:0])
    x = sub.total
    n = x.size
    cutoff = np.array(
        [(f.cutoff if f.cutoff is not None and f.clinical_below else np.nan) for f in facts]
        + [np.nan]
    )[sub.codes]
    rc = np.array([f.reliable_change or np.nan for f in facts] + [np.nan])[sub.codes]
    previous = sub.previous()
    position = sub.position()
    # The lowest rating before each session: the running minimum, shifted by one row.
    prior_min = np.full(n, np.nan)
    if n:
        prior_min[1:] = _running_min(x, position)[:-1]
        prior_min[sub.starts] = np.nan
    floor = config.min_drop - 1e-9
    with np.errstate(invalid="ignore"):
        fall = previous - x
        low = x < cutoff
        # A new low that is also a real fall from the client's established level.
        lowest = ~low & (position >= 2) & (x < prior_min)
        at = np.flatnonzero(lowest)
        lowest[at] = _prior_mean(sub, at) - x[at] >= floor
        # OpenFIT flags any fall of 1 point, which fires on noise; a drop counts only when it
        # takes the client below the cutoff or is at least the measure's reliable change.
        drop = (fall >= DROP_POINTS) & (low | (fall >= rc - 1e-9))
    established = _established(sub)
    decline_at = _slow_decline(x, established, floor)
    low_at, lowest_at, drop_at = np.flatnonzero(low), np.flatnonzero(lowest), np.flatnonzero(drop)
    return [
        _part(
            series,
            sub.rows[low_at],
            kind="alliance_low",
            rule="below_cutoff",
            severity="medium",
            reference=cutoff[low_at],
            detail=lambda code: (
                f"{_short(series.instruments[code])} below "
                f"{measure_facts(series.instruments[code]).cutoff:g}: the client signals "
                "dissatisfaction; discuss it now"
            ),
            source="OpenFIT; Duncan et al. 2003 (SRS below 36: discuss now)",
        ),
        _part(
            series,
            sub.rows[lowest_at],
            kind="alliance_low",
            rule="lowest_so_far",
            severity="low",
            reference=prior_min[lowest_at],
            detail=lambda code: (
                f"The client's lowest {_short(series.instruments[code])} rating so far, "
                f"{config.min_drop:g} points or more below their usual level"
            ),
            source=(
                "Alert rule: an alliance measure at the client's lowest so far (DOMAIN §4); the "
                f"{config.min_drop:g}-point floor is a house rule"
            ),
        ),
        _part(
            series,
            sub.rows[drop_at],
            kind="alliance_drop",
            rule="drop_that_matters",
            severity="medium",
            reference=previous[drop_at],
            detail=lambda code: (
                f"{_short(series.instruments[code])} fell {DROP_POINTS:g} point or more from "
                "the previous session, to below its cutoff or by its reliable change"
            ),
            source=(
                "OpenFIT red flag (a fall of 1 point or more), counted only below the cutoff or "
                "at the measure's reliable change (DOMAIN §4)"
            ),
        ),
        _part(
            series,
            sub.rows[decline_at],
            kind="alliance_decline",
            rule="slow_decline",
            severity="medium",
            reference=established[decline_at],
            detail=lambda code: (
                f"{_short(series.instruments[code])} sliding: {config.min_drop:g} points or more "
                "below the client's first three ratings, falling over the last four, with no "
                "single sudden drop"
            ),
            source=(
                "House rule, not a published one: a slow decline is its own signal; ruptures "
                "can unfold over several sessions (Eubanks, Muran & Safran 2015, 3RS)"
            ),
        ),
    ]


def _prior_mean(sub: Subset, at: IntArray) -> FloatArray:
    """The mean of the earlier ratings in the series of each row `at` (a few rows)."""
    x = sub.total
    if at.size == 0:
        return np.zeros(0)
    running = np.cumsum(x)
    first = sub.starts[np.searchsorted(sub.starts, at, side="right") - 1]
    before_series = np.where(first > 0, running[np.maximum(first - 1, 0)], 0.0)
    earlier = running[at] - x[at] - before_series
    return np.asarray(earlier / (at - first), dtype=np.float64)


def _established(sub: Subset) -> FloatArray:
    """The mean of each series' first three ratings, on every row (NaN before the third)."""
    x = sub.total
    out = np.full(x.size, np.nan)
    if x.size == 0:
        return out
    ok = sub.lengths >= 3
    s = sub.starts[ok]
    per_series = np.full(sub.lengths.size, np.nan)
    per_series[ok] = (x[s] + x[s + 1] + x[s + 2]) / 3.0
    out = sub.per_row(per_series)
    out[sub.position() < 3] = np.nan
    return np.asarray(out, dtype=np.float64)


def _slow_decline(x: FloatArray, established: FloatArray, floor: float) -> IntArray:
    """Rows in a slow slide: far enough below the first three ratings, falling, no sudden drop.

    `established` is NaN before a series' fourth rating, so the three ratings before a chosen
    row are of its own series. The trend is the least-squares slope of the last four ratings,
    (−1.5·x₋₃ − 0.5·x₋₂ + 0.5·x₋₁ + 1.5·x₀) / 5.
    """
    with np.errstate(invalid="ignore"):
        at = np.flatnonzero(established - x >= floor)
    x0, x1, x2, x3 = x[at], x[at - 1], x[at - 2], x[at - 3]
    slope = (-1.5 * x3 - 0.5 * x2 + 0.5 * x1 + 1.5 * x0) / 5.0
    biggest_fall = np.maximum(np.maximum(x3 - x2, x2 - x1), x1 - x0)
    return np.asarray(at[(slope < 0) & (biggest_fall < floor)], dtype=np.int64)


def _running_min(x: FloatArray, position: IntArray) -> FloatArray:
    """Minimum of each series up to and including each row, exactly.

    A doubling scan: after the pass with step d every row holds the minimum of the last 2·d rows
    of its series, so log2(longest series) passes suffice.
    """
    out = x.copy()
    step = 1
    longest = int(position.max()) + 1 if position.size else 0
    while step < longest:
        shifted = out.copy()
        np.minimum(out[step:], out[:-step], out=shifted[step:], where=position[step:] >= step)
        out = shifted
        step *= 2
    return out


# Long by design: one columnar select per signal (rupture, repair) whose columns must line up
# with every other signal block; splitting it would scatter one frame's columns.
def _ruptures(ruptures: pl.DataFrame, config: RuptureConfig, series: Series) -> list[pl.DataFrame]:
    if ruptures.height == 0:
        return [_empty()]
    # Episodes are contiguous and distinct once the frame is sorted: one row per episode.
    ordinals = pl.DataFrame(
        {
            "episode_id": series.frame["episode_id"].gather(series.episode_starts),
            "_ep": np.arange(series.n_episodes, dtype=np.int64),
        }
    )
    names = {i: _short(i) for i in ruptures["instrument"].unique().to_list()}
    base = ruptures.join(ordinals, on="episode_id", how="left", maintain_order="left")
    base = base.with_columns(
        pl.col("episode_id").cast(pl.String),
        pl.col("client_id").cast(pl.String),
        pl.col("therapist_id").cast(pl.String),
        pl.lit(config.name).alias("rule"),
        pl.lit(_rupture_source(config)).alias("source"),
        pl.col("instrument").replace_strict(names, return_dtype=pl.String).alias("_name"),
    )
    outcome = (
        pl.when(pl.col("repaired"))
        .then(pl.format("repaired at session {}", "repair_session"))
        .when(pl.col("returned_session").is_not_null())
        .then(
            pl.format(
                "not repaired within {} sessions; back at session {}",
                pl.lit(config.repair_window),
                "returned_session",
            )
        )
        .otherwise(pl.lit("not repaired"))
    )
    rupture = base.select(
        "episode_id",
        "client_id",
        "therapist_id",
        pl.lit("rupture").alias("kind"),
        "rule",
        pl.when(pl.col("repaired"))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("high"))
        .alias("severity"),
        "instrument",
        pl.col("start_session").alias("session"),
        pl.col("end_session").alias("last_session"),
        "open",
        pl.col("lowest").alias("value"),
        pl.col("pre_level").alias("reference"),
        pl.format(
            "{} rupture from session {}: {} points below the client's usual level of {}; "
            "ratings {}; {}",
            "_name",
            "start_session",
            pl.col("depth").round(1),
            pl.col("pre_level").round(1),
            "ratings",
            outcome,
        ).alias("detail"),
        "source",
        "_ep",
        pl.when(pl.col("repaired"))
        .then(pl.lit(_RANK["medium"]))
        .otherwise(pl.lit(_RANK["high"]))
        .alias("_rank"),
    )
    repair = base.filter(pl.col("repaired")).select(
        "episode_id",
        "client_id",
        "therapist_id",
        pl.lit("repair").alias("kind"),
        "rule",
        pl.lit("info").alias("severity"),
        "instrument",
        pl.col("repair_session").alias("session"),
        pl.col("repair_session").alias("last_session"),
        pl.lit(False).alias("open"),
        pl.col("pre_level").alias("value"),
        pl.col("pre_level").alias("reference"),
        pl.format(
            "{} back within {} points of the client's usual level after the rupture at session {}",
            "_name",
            pl.col("tolerance").round(1),
            "start_session",
        ).alias("detail"),
        "source",
        "_ep",
        pl.lit(_RANK["info"]).alias("_rank"),
    )
    return [rupture.cast(_BLOCK_SCHEMA), repair.cast(_BLOCK_SCHEMA)]  # type: ignore[arg-type]


def _rupture_source(config: RuptureConfig) -> str:
    if config.rule == "sd":
        cited = "an approximation of Stiles et al. 2004 / Strauss et al. 2006"
    else:
        cited = "OpenFIT"
    return (
        f"{config.describe()} ({cited}); no rupture before an established alliance (Safran & "
        "Muran 2000); a repair is a return to within reach of the usual level within "
        f"{config.repair_window} sessions"
    )
