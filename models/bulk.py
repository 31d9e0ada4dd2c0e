"""Bulk inserts for feed-sized batches.

SQLAlchemy's executemany runs every column's bind processor on every row. In a district feed
most values repeat (dates, enum values, the step template shared by every student who starts
the same day), so these helpers run each processor once per distinct value, or once per shared
template, and hand plain tuples to the driver. Same SQL, same stored format, on any dialect.
"""

from __future__ import annotations

from collections.abc import Sequence
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
        if self.order is not None:  # positional paramstyles (qmark, format, numeric)
            if self.order == list(range(len(self.order))):
                params: list[Any] = list(rows)
            else:
                params = list(map(itemgetter(*self.order), rows))
        else:  # named / pyformat
            params = [dict(zip(self.columns, row, strict=True)) for row in rows]
        self.connection.exec_driver_sql(self.compiled.string, params)


def insert_many(connection: sa.Connection, table: sa.Table, rows: Sequence[dict[str, Any]]) -> None:
    """INSERT every row (all rows have the same keys); each distinct value is processed once."""
    if not rows:
        return
    bulk = BulkInsert(connection, table, list(rows[0]))
    columns = []
    for name, processor in zip(bulk.columns, bulk.processors, strict=True):
        values = [row[name] for row in rows]
        if processor is not None:
            if isinstance(next((v for v in values if v is not None), None), list | dict):
                # most JSON values of a feed are empty: {} or [] is serialized once
                empty = (processor([]), processor({}))
                values = [
                    None if v is None else processor(v) if v else empty[isinstance(v, dict)]
                    for v in values
                ]
            else:  # hashable scalars: memoize the processor, looked up at C speed
                values = list(map(lru_cache(maxsize=None)(processor), values))
        columns.append(values)
    bulk.execute(list(zip(*columns, strict=True)))
