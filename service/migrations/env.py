"""Alembic environment: the connection comes from Store.migrate(), or, from the alembic
command line, from the service's settings (LENADEX_DATABASE_URL)."""

from __future__ import annotations

from alembic import context

from service.store.tables import metadata


def run_migrations(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=metadata,
        render_as_batch=True,  # SQLite alters tables by copying them
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = context.config.attributes.get("connection")
if connection is not None:
    run_migrations(connection)
else:
    from service.settings import Settings
    from service.store import Store

    store = Store(Settings().database_url)
    try:
        with store.engine.begin() as own_connection:
            run_migrations(own_connection)
    finally:
        store.close()
