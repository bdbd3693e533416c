"""Alembic environment: runs on the connection handed over by :mod:`arraylake.server.db.migrate`."""

from alembic import context

from arraylake.server.db.schema import metadata

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    # Lets a caller follow progress (e.g. the CLI's progress bar), one call per applied revision.
    on_version_apply=context.config.attributes.get("on_version_apply"),
)
with context.begin_transaction():
    context.run_migrations()
