"""Alembic environment: runs on the engine handed in by alliance.store.migrate."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Engine

from alliance.store.engine import make_engine
from alliance.store.tables import metadata

config = context.config


def _engine() -> Engine:
    engine = config.attributes.get("engine")
    if isinstance(engine, Engine):
        return engine
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("migrations: no engine given and no sqlalchemy.url set")
    return make_engine(url)


def run_migrations_online() -> None:
    with _engine().connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=metadata,
            # SQLite cannot ALTER most things in place; batch mode rebuilds the table.
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


if context.is_offline_mode():
    raise RuntimeError("migrations: offline (SQL script) mode is not supported")
run_migrations_online()
