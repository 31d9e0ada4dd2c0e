"""Alembic environment: SQLModel.metadata, the URL the Config carries, batch mode on SQLite.

The URL comes from, in order: ``config.attributes["connection"]`` (an open connection),
``config.attributes["url"]`` (set by models.db.alembic_config), the ini's ``sqlalchemy.url``,
and finally ``config.settings.get_settings().sqlalchemy_url`` (the operator's environment).
"""

from __future__ import annotations

from logging.config import fileConfig
from typing import Any

from alembic import context
from sqlalchemy import create_engine, pool
from sqlmodel import SQLModel
from sqlmodel.sql.sqltypes import AutoString, UTCDateTime

import models.documents  # noqa: F401  (EL ILP versions, parent copies, export cursor)
import models.tables  # noqa: F401  (registers every table on SQLModel.metadata)
from models.tables import StrEnumType

config = context.config
if config.config_file_name is not None and config.attributes.get("configure_logger", True):
    fileConfig(config.config_file_name, disable_existing_loggers=False)

target_metadata = SQLModel.metadata


def _url() -> str:
    url = config.attributes.get("url") or config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    from config.settings import get_settings

    return get_settings().sqlalchemy_url


def render_item(type_: str, obj: Any, autogen_context: Any) -> str | bool:
    """Render the application's column types as plain SQLAlchemy types, so revisions do not
    import application code."""
    if type_ == "type":
        if isinstance(obj, UTCDateTime):
            return "sa.DateTime(timezone=True)"
        if isinstance(obj, StrEnumType):
            return f"sa.String(length={obj.length})"
        if isinstance(obj, AutoString):
            return f"sa.String(length={obj.length})" if obj.length else "sa.String()"
    return False


def _configure(**kwargs: Any) -> None:
    context.configure(
        target_metadata=target_metadata,
        render_item=render_item,
        compare_type=True,
        **kwargs,
    )


def run_migrations_offline() -> None:
    url = _url()
    _configure(
        url=url,
        literal_binds=True,
        dialect_opts={"paramstyle": "named"},
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()


def _run_with(connection: Any) -> None:
    _configure(connection=connection, render_as_batch=connection.dialect.name == "sqlite")
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run_with(connection)
        return
    engine = create_engine(_url(), poolclass=pool.NullPool)
    try:
        with engine.connect() as connection:
            _run_with(connection)
    finally:
        engine.dispose()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
