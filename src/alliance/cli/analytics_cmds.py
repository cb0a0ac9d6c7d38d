"""Analytics commands: analyze a CSV, import and export scores, fit and evaluate ETR models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

# The rupture presets name the choices of --rupture-rule, so they are needed to declare it;
# every command here reads or writes score frames, so the analytics package loads anyway.
from alliance.analytics import PRESETS
from alliance.cli.core_cmds import db_option, opened, shown
from alliance.cli.errors import BadInput

if TYPE_CHECKING:
    import polars as pl
    from rich.console import Console
    from rich.table import Table

    from alliance.analytics import RejectedRow
    from alliance.analytics.etr import EtrModel

# A file that must exist: the score CSVs and ETR model JSON the commands read.
INPUT_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


def _report_rejected(rejected: list[RejectedRow], console: Console) -> None:
    from rich.table import Table

    table = Table(title=f"{len(rejected)} row problem(s)")
    for column in ("line", "field", "reason"):
        table.add_column(column)
    for problem in rejected:
        table.add_row(str(problem.line), problem.field, problem.reason)
    console.print(table)


def _models_from(path: Path | None) -> dict[str, EtrModel]:
    from alliance.analytics import EtrError, default_models, read_models

    if path is None:
        return default_models()
    try:
        return read_models(path.read_text(encoding="utf-8"))
    except EtrError as error:
        raise BadInput(f"--models: {error}") from None


@click.command(
    "analyze",
    epilog="Example: alliance analyze scores.csv --rupture-rule strauss-like --json",
)
@click.argument("csv_file", type=INPUT_FILE)
@click.option("--json", "as_json", is_flag=True, help="Print the whole analysis as JSON.")
@click.option(
    "--rupture-rule",
    type=click.Choice(sorted(PRESETS)),
    default="stiles-like",
    show_default=True,
    help="Rupture detector preset (approximations of published rules; see docs/analytics.md).",
)
@click.option(
    "--models",
    "models_path",
    type=INPUT_FILE,
    default=None,
    help="ETR models JSON (from `alliance etr fit --out`); default: the shipped models.",
)
def analyze_cmd(csv_file: Path, as_json: bool, rupture_rule: str, models_path: Path | None) -> None:
    """Run the whole analysis on a score CSV, with no database.

    Rows that cannot be read are listed (line, field, reason) and left out; the rest is analysed.
    """
    from rich.console import Console

    from alliance.analytics import RuptureConfig, analyze, read_scores_csv
    from alliance.analytics.etr import MIN_EPISODES
    from alliance.analytics.signals import NO_CHANGE_AFTER

    console = Console(stderr=True)
    scores = read_scores_csv(csv_file)
    if scores.rejected:
        _report_rejected(scores.rejected, console)
    if not scores.rows and scores.unscored_risk().height == 0:
        raise BadInput(f"{csv_file.name}: no row could be read; nothing to analyse")
    result = analyze(
        scores.frame(),
        models=_models_from(models_path),
        rupture_config=RuptureConfig.preset(rupture_rule),
        # Risk first: a refused row with a risk item endorsed still raises the risk signal.
        unscored_risk=scores.unscored_risk(),
    )
    if as_json:
        payload = result.to_dict()
        payload["rejected"] = [r.to_dict() for r in scores.rejected]
        click.echo(json.dumps(payload, indent=2, default=str, allow_nan=False))
        return
    out = Console()
    out.print(
        f"{result.n_rows} scores, {result.n_episodes} episodes; "
        f"{result.signals.height} signals, {result.ruptures.height} ruptures "
        f"({result.rupture_config.name})"
    )
    for name, model in sorted(result.models.items()):
        used = "decides alerts" if model.usable else "not used: rule-based no-change alerts"
        out.print(f"Expected-response model for {_measure(name)}: {model.description} ({used})")
    if not any(m.usable for m in result.models.values()):
        out.print(
            f"No model fitted on {MIN_EPISODES} or more of your closed episodes: outcome alerts "
            f"are rule-based (no reliable improvement by rating {NO_CHANGE_AFTER + 1})."
        )
    out.print(_signals_table(result.signals))
    out.print(_figures_table(result.figures))


def _signals_table(signals: pl.DataFrame) -> Table:
    """The 50 most severe signals, one row each."""
    from rich.table import Table

    table = Table(title="Signals (most severe first)")
    for column in ("severity", "episode", "sessions", "open", "kind", "measure", "evidence"):
        table.add_column(column)
    for row in signals.head(50).iter_rows(named=True):
        sessions = str(row["session"])
        if row["last_session"] is not None and row["last_session"] != row["session"]:
            sessions += f"-{row['last_session']}"
        table.add_row(
            row["severity"],
            row["episode_id"],
            sessions,
            "yes" if row["open"] else "no",
            row["kind"],
            _measure(row["instrument"]),
            row["detail"],
        )
    return table


def _figures_table(figures_frame: pl.DataFrame) -> Table:
    """The clinic figures per therapist, each measure named in its column."""
    from rich.table import Table

    figures = Table(title="Clinic figures")
    first = figures_frame.row(0, named=True) if figures_frame.height else {}
    for column in (
        "group",
        "episodes",
        f"effect size ({first.get('effect_size_measure') or '-'})",
        f"% reliable improvement ({first.get('rates_measure') or '-'})",
        f"% recovery ({first.get('rates_measure') or '-'})",
        f"mean alliance ({first.get('alliance_measure') or '-'})",
    ):
        figures.add_column(column)
    for row in figures_frame.iter_rows(named=True):
        figures.add_row(
            str(row["therapist_id"]),
            str(row["n_episodes"]),
            _figure(row, "effect_size", "effect_size"),
            _figure(row, "reliable_improvement", "pct_reliable_improvement"),
            _figure(row, "recovery", "pct_recovery"),
            _figure(row, "mean_alliance", "mean_alliance"),
        )
    return figures


def _measure(instrument: str) -> str:
    from alliance.instruments import load_instrument

    return load_instrument(instrument).short_name


def _figure(row: dict[str, Any], figure: str, column: str) -> str:
    """A figure with its interval, or "too few (n = 3)" below its minimum."""
    from alliance.analytics.clinic import too_few

    n = too_few(row, figure)
    if n is not None:
        return f"too few (n = {n})"
    return _fmt(row[column], row[f"{column}_low"], row[f"{column}_high"])


def _fmt(value: float | None, low: float | None, high: float | None) -> str:
    if value is None:
        return "-"
    if low is None or high is None:
        return f"{value:.2f}"
    return f"{value:.2f} [{low:.2f}, {high:.2f}]"


@click.command(
    "import",
    epilog="Example: alliance import scores.csv --db sqlite:///clinic.db --therapist ana",
)
@click.argument("csv_file", type=INPUT_FILE)
@db_option
@click.option(
    "--therapist",
    default=None,
    help="User name of the treating therapist for rows without a therapist column.",
)
def import_cmd(csv_file: Path, database_url: str | None, therapist: str | None) -> None:
    """Import a score CSV: every row or none (problems are listed by line, field and reason)."""
    from rich.console import Console

    from alliance.analytics import read_scores_csv
    from alliance.store.imports import ImportRejectedError, import_scores

    scores = read_scores_csv(csv_file)
    with opened(database_url) as engine:
        try:
            summary = import_scores(engine, scores, default_therapist=therapist)
        except ImportRejectedError as error:
            _report_rejected(error.rejected, Console(stderr=True))
            raise BadInput(f"{csv_file.name}: {error}") from None
    click.echo(
        f"Imported {summary.administrations} scores: {summary.clients} clients, "
        f"{summary.episodes} episodes, {summary.sessions} sessions into {shown(engine)}."
    )


@click.command("export", epilog="Example: alliance export --format parquet scores.parquet")
@db_option
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["csv", "parquet"]),
    required=True,
    help="File format.",
)
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def export_cmd(database_url: str | None, fmt: str, out: Path) -> None:
    """Export every scored administration in the long shape `alliance import` reads."""
    from alliance.store.exports import export_scores

    with opened(database_url) as engine:
        n = export_scores(engine, out, "csv" if fmt == "csv" else "parquet")
    click.echo(f"Wrote {n} rows to {out.name}.")


@click.group("etr", epilog="Example: alliance etr fit --db sqlite:///clinic.db")
def etr_group() -> None:
    """Expected treatment response models (not-on-track alerts)."""


@etr_group.command(
    "fit",
    epilog="Example: alliance etr fit --synthetic 2000 --out etr_default.json",
)
@db_option
@click.option(
    "--csv",
    "csv_file",
    type=INPUT_FILE,
    default=None,
    help="Fit on a score CSV instead of the database.",
)
@click.option(
    "--synthetic",
    type=click.IntRange(min=30),
    default=None,
    help="Fit on this many synthetic closed episodes per outcome measure (the demo's model).",
)
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --synthetic.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Write the models to this JSON file instead of the database's etr_models table.",
)
def etr_fit(
    database_url: str | None,
    csv_file: Path | None,
    synthetic: int | None,
    seed: int,
    out: Path | None,
) -> None:
    """Fit one model per outcome measure on closed episodes and store it (or write JSON)."""
    from rich.console import Console

    from alliance.analytics import fit_all, read_scores_csv, save_models, synthetic_caseload
    from alliance.analytics.etr import MIN_EPISODES

    if csv_file is not None and synthetic is not None:
        raise BadInput("--csv and --synthetic: choose one source")
    if csv_file is not None:
        scores = read_scores_csv(csv_file)
        if scores.rejected:
            _report_rejected(scores.rejected, Console(stderr=True))
            raise BadInput(f"{csv_file.name}: fix the rows listed above first")
        models = fit_all(scores.frame(), source=f"CSV {csv_file.name}")
    elif synthetic is not None:
        models = {}
        for offset, outcome in enumerate(("core10", "gad7", "ors", "phq9")):
            caseload = synthetic_caseload(
                synthetic, seed=seed + offset, outcome=outcome, alliance=None, closed_share=1.0
            )
            models.update(
                fit_all(
                    caseload.frame, source=f"synthetic: {synthetic} episodes, seed {seed + offset}"
                )
            )
    else:
        from alliance.store.exports import load_score_frame

        with opened(database_url) as engine:
            models = fit_all(load_score_frame(engine), source="database")
    if not models:
        raise BadInput("no outcome measure had enough scored episodes (3 or more) to fit")
    for name, model in sorted(models.items()):
        note = "" if model.n_episodes >= MIN_EPISODES else f" (fewer than {MIN_EPISODES}: unused)"
        click.echo(f"{name}: learned from {model.n_episodes} episodes{note}")
    if out is not None:
        save_models(models, out)
        click.echo(f"Wrote {len(models)} model(s) to {out.name}.")
        return
    from alliance.store.imports import save_etr_models

    with opened(database_url) as engine:
        save_etr_models(engine, models)
    click.echo(f"Stored {len(models)} model(s) in {shown(engine)}.")


@etr_group.command(
    "evaluate",
    epilog="Example: alliance etr evaluate --db sqlite:///clinic.db  (or --csv scores.csv; "
    "--synthetic for the machinery check)",
)
@db_option
@click.option(
    "--csv",
    "csv_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Evaluate on the closed episodes of a score CSV instead of the database.",
)
@click.option(
    "--models",
    "models_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="ETR models JSON to judge with; default: the models stored in the database.",
)
@click.option(
    "--synthetic",
    is_flag=True,
    help="Check the expected-response machinery on synthetic episodes with known truth "
    "instead (not clinical accuracy).",
)
@click.option("--train", type=click.IntRange(min=100), default=2000, show_default=True)
@click.option("--test", "n_test", type=click.IntRange(min=100), default=2000, show_default=True)
@click.option("--horizon", type=click.IntRange(min=2), default=8, show_default=True)
@click.option("--seed", type=int, default=7, show_default=True)
def etr_evaluate(
    database_url: str | None,
    csv_file: Path | None,
    models_path: Path | None,
    synthetic: bool,
    train: int,
    n_test: int,
    horizon: int,
    seed: int,
) -> None:
    """How well the outcome alerts foretold no reliable improvement, on closed episodes.

    Sensitivity, specificity and positive predictive value of the not-on-track and no-change
    alerts, with 95% intervals; fewer than 10 episodes in a denominator reads "too few".
    """
    if synthetic:
        from alliance.analytics import evaluate_etr

        if csv_file is not None:
            raise BadInput("--csv and --synthetic: choose one source")
        result = evaluate_etr(n_train=train, n_test=n_test, horizon=horizon, seed=seed)
        click.echo(
            f"Synthetic check, not clinical accuracy. Trained on {result.model.n_episodes} "
            f"synthetic episodes; tested on {result.n_non_responders} non-responders and "
            f"{result.n_responders} responders (flag = any rating 2..{horizon} outside the band)."
        )
        click.echo(f"sensitivity {result.sensitivity:.3f}  specificity {result.specificity:.3f}")
        return
    from rich.console import Console
    from rich.table import Table

    from alliance.analytics.evaluation import HANNAN_2005, alert_accuracy

    frame, models = _closed_episodes(database_url, csv_file, models_path)
    table = alert_accuracy(frame, models=models)
    out = Console()
    overall = table.row(-1, named=True)
    out.print(
        f"{overall['n_episodes']} closed episodes; ended without reliable improvement by "
        f"{overall['measure']}; flagged = a not-on-track or no-change alert before the last rating."
    )
    shown_table = Table(title="Alert accuracy")
    for column in ("group", "episodes", "sensitivity", "specificity", "positive predictive value"):
        shown_table.add_column(column)
    for row in table.iter_rows(named=True):
        shown_table.add_row(
            str(row["therapist_id"]),
            str(row["n_episodes"]),
            *(_accuracy(row, k) for k in ("sensitivity", "specificity", "ppv")),
        )
    out.print(shown_table)
    for warning in overall["warnings"]:
        out.print(f"Note: {warning}")
    out.print(f"Published anchor: {HANNAN_2005}.")


def _closed_episodes(
    database_url: str | None, csv_file: Path | None, models_path: Path | None
) -> tuple[pl.DataFrame, dict[str, EtrModel]]:
    """The scores and the models to judge: from a CSV, or from the clinic's database."""
    if csv_file is not None:
        from rich.console import Console

        from alliance.analytics import read_scores_csv

        scores = read_scores_csv(csv_file)
        if scores.rejected:
            _report_rejected(scores.rejected, Console(stderr=True))
        return scores.frame(), _models_from(models_path) if models_path is not None else {}
    from alliance.store.exports import load_etr_models, load_score_frame

    with opened(database_url) as engine:
        frame = load_score_frame(engine)
        models = _models_from(models_path) if models_path is not None else load_etr_models(engine)
    return frame, models


def _accuracy(row: dict[str, Any], key: str) -> str:
    from alliance.analytics.clinic import MIN_EPISODES_RATE

    n = int(row[f"n_{key}"] or 0)
    value = row[key]
    if n < MIN_EPISODES_RATE or value is None:
        return f"too few (n = {n})"
    return (
        f"{100 * value:.0f}% [{100 * row[f'{key}_low']:.0f}, {100 * row[f'{key}_high']:.0f}]"
        f" ({round(value * n)} of {n})"
    )
