"""Alembic environment for promptops.

At run time ``promptops.store.db.migrate`` passes an open connection, already inside the
transaction that holds the migration lock, as ``config.attributes["connection"]``. Developers
adding a migration run ``alembic -c promptops/store/alembic.ini revision --autogenerate -m ...``,
which connects to ``sqlalchemy.url`` instead.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import context

from sqlmodel.sql.sqltypes import AutoString

from promptops.store.models import UTCDateTime, metadata

config = context.config


def _render_item(kind: str, obj: object, autogen_context: object) -> str | bool:
    """Write our column types as plain SQLAlchemy ones, so migrations import nothing of ours."""
    if kind == "type" and isinstance(obj, AutoString):
        return f"sa.String({obj.length or ''})"
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def _configure(connection: sa.Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # ALTER on SQLite means table copies
        render_item=_render_item,
        compare_type=True,
    )


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
        with context.begin_transaction():  # a no-op when the caller's transaction is open
            context.run_migrations()
        return
    engine = sa.create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as conn:
        _configure(conn)
        with context.begin_transaction():
            context.run_migrations()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
