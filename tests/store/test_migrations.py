"""Migrations: `alliance init` and a step-by-step upgrade give the same schema as the tables."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from click.testing import CliRunner
from sqlalchemy import Engine, inspect

from alliance.cli import main
from alliance.store.engine import make_engine
from alliance.store.migrate import current_revision, downgrade, head, revisions, upgrade
from alliance.store.tables import metadata


def schema(engine: Engine) -> dict[str, Any]:
    """Tables with their columns, keys, indexes and unique constraints, as plain data."""
    found = inspect(engine)
    tables: dict[str, Any] = {}
    for name in sorted(found.get_table_names()):
        if name == "alembic_version":
            continue
        tables[name] = {
            "columns": [
                (c["name"], str(c["type"]), c["nullable"]) for c in found.get_columns(name)
            ],
            "pk": found.get_pk_constraint(name)["constrained_columns"],
            "fks": sorted(
                (tuple(f["constrained_columns"]), f["referred_table"])
                for f in found.get_foreign_keys(name)
            ),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"])) for i in found.get_indexes(name)
            ),
            "uniques": sorted(tuple(u["column_names"]) for u in found.get_unique_constraints(name)),
        }
    return tables


def test_it_has_a_single_head_starting_at_the_full_schema() -> None:
    assert revisions()[0] == "0001"
    assert revisions()[-1] == head()


def test_it_builds_the_same_schema_by_init_and_step_by_step(database_url: str) -> None:
    result = CliRunner().invoke(main, ["init", "--db", database_url])
    assert result.exit_code == 0, result.output
    engine = make_engine(database_url)
    try:
        assert current_revision(engine) == head()
        by_init = schema(engine)
        assert set(by_init) == set(metadata.tables)
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []

        downgrade(engine, "base")
        assert schema(engine) == {}
        assert current_revision(engine) is None
        for revision in revisions():
            upgrade(engine, revision)
            assert current_revision(engine) == revision
        assert schema(engine) == by_init

        upgrade(engine)  # idempotent at head
        assert schema(engine) == by_init
    finally:
        engine.dispose()
