"""Alembic environment: always run with a connection handed in by crossreg's Database."""

from alembic import context

from crossreg.metadata.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:  # e.g. `alembic revision --autogenerate` run by a developer
    from crossreg.config import Settings
    from crossreg.metadata.db import Database

    connection = Database(Settings().resolved_database_url).engine.connect()

context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
if connection.in_transaction():
    connection.commit()
