"""Bulk inserts for feed-sized batches.

SQLAlchemy's executemany runs every column's bind processor on every row. In a district feed
most values repeat (dates, enum values, the step template shared by every student who starts
the same day), so these helpers run each processor once per distinct value, or once per shared
template, and hand plain tuples to the driver. Same SQL, same stored format, on any dialect.

On psycopg2 the rows go through COPY: its `executemany` is one round trip per row, which made a
PostgreSQL import 4x slower than SQLite's (and `execute_values` still quotes every value in
Python and parses one big INSERT).
"""

from __future__ import annotations

import io
from collections.abc import Collection, Sequence
from functools import lru_cache
from operator import itemgetter
from typing import Any

import sqlalchemy as sa


class BulkInsert:
    """One compiled INSERT for `columns`; rows are tuples in that order, already processed."""

    def __init__(self, connection: sa.Connection, table: sa.Table, columns: Sequence[str]):
        self.connection = connection
        self.columns = list(columns)
        dialect = connection.dialect
        self.compiled = sa.insert(table).compile(dialect=dialect, column_keys=self.columns)
        # The dialect-level processor: a TypeDecorator's own step plus the dialect's formatting.
        self.processors = [
            table.c[name].type._cached_bind_processor(dialect) for name in self.columns
        ]
        positions = self.compiled.positiontup
        self.order = None if positions is None else [self.columns.index(p) for p in positions]
        self.copy_sql: str | None = None
        if dialect.driver == "psycopg2":
            quote = dialect.identifier_preparer
            names = ", ".join(quote.quote(c) for c in self.columns)
            self.copy_sql = f"COPY {quote.format_table(table)} ({names}) FROM STDIN"

    def process(self, values: Sequence[Any], start: int = 0) -> tuple[Any, ...]:
        """Driver values for `values`, which fill the columns from index `start` on."""
        return tuple(
            value
            if value is None or self.processors[start + i] is None
            else self.processors[start + i](value)  # type: ignore[misc]
            for i, value in enumerate(values)
        )

    def execute(self, rows: Sequence[tuple[Any, ...]]) -> None:
        if not rows:
            return
        if self.copy_sql is not None:
            text = "".join("\t".join(map(_copy_text, row)) + "\n" for row in rows)
            cursor = self.connection.connection.cursor()
            try:
                cursor.copy_expert(self.copy_sql, io.StringIO(text))
            finally:
                cursor.close()
            return
        if self.order is not None:  # positional paramstyles (qmark, format, numeric)
            if self.order == list(range(len(self.order))):
                params: list[Any] = list(rows)
            else:
                params = list(map(itemgetter(*self.order), rows))
        else:  # named / pyformat
            params = [dict(zip(self.columns, row, strict=True)) for row in rows]
        self.connection.exec_driver_sql(self.compiled.string, params)


@lru_cache(maxsize=100_000, typed=True)
def _copy_text(value: Any) -> str:
    """A driver value in COPY's text format (values repeat: each is formatted once)."""
    if value is None:
        return "\\N"
    if value is True or value is False:
        return "t" if value else "f"
    text = str(value)
    if isinstance(value, str) and any(c in text for c in "\\\t\n\r"):
        text = (
            text.replace("\\", "\\\\")
            .replace("\t", "\\t")
            .replace("\n", "\\n")
            .replace("\r", "\\r")
        )
    return text


def insert_many(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all rows have the same keys); each distinct value is processed once."""
    if not rows:
        return
    names = list(rows[0])
    insert_columns(connection, table, names, [[row[name] for row in rows] for name in names])


def insert_rows(
    connection: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
) -> None:
    """`insert_many` for rows given as tuples in the order of `columns` (no dict per row)."""
    if rows:
        insert_columns(connection, table, columns, [list(c) for c in zip(*rows, strict=True)])


def insert_columns(
    connection: sa.Connection,
    table: sa.Table,
    columns: Sequence[str],
    values: Sequence[list[Any]],
) -> None:
    """INSERT rows given column by column (`values[i]` holds every row's `columns[i]`)."""
    if not values or not values[0]:
        return
    bulk = BulkInsert(connection, table, columns)
    processed = []
    for column, processor in zip(values, bulk.processors, strict=True):
        if processor is not None:
            if isinstance(next((v for v in column if v is not None), None), list | dict):
                # most JSON values of a feed are empty: {} or [] is serialized once
                empty = (processor([]), processor({}))
                column = [
                    None if v is None else processor(v) if v else empty[isinstance(v, dict)]
                    for v in column
                ]
            else:  # hashable scalars: memoize the processor, looked up at C speed
                column = list(map(lru_cache(maxsize=None)(processor), column))
        processed.append(column)
    bulk.execute(list(zip(*processed, strict=True)))


def id_filters(column: Any, ids: Collection[int], size: int = 900) -> list[Any]:
    """WHERE clauses that together select at least the rows whose `column` is in `ids` (the
    caller drops the others). A dense run of ids, like the enrollments a feed just created, is
    one BETWEEN (no long IN list for the database and SQLAlchemy to expand); otherwise IN lists
    of `size` ids."""
    if not ids:
        return []
    low, high = min(ids), max(ids)
    if high - low < 2 * len(ids):
        return [column.between(low, high)]
    ordered = sorted(ids)
    return [column.in_(ordered[i : i + size]) for i in range(0, len(ordered), size)]


def exact_id_filters(column: Any, ids: Collection[int], size: int = 900) -> list[Any]:
    """WHERE clauses that together select exactly the rows whose `column` is in `ids` (for an
    UPDATE): one BETWEEN when the ids are a contiguous run, else IN lists of `size` ids."""
    unique = set(ids)
    if not unique:
        return []
    low, high = min(unique), max(unique)
    if high - low + 1 == len(unique):
        return [column.between(low, high)]
    ordered = sorted(unique)
    return [column.in_(ordered[i : i + size]) for i in range(0, len(ordered), size)]
