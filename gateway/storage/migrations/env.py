"""Alembic environment: migrations run on a connection handed in by gateway.storage.schema."""

from alembic import context

from gateway.storage.models import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=connection.dialect.name == "sqlite",
)
with context.begin_transaction():
    context.run_migrations()
