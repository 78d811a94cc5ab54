"""Raw statements for the ingest path, for PostgreSQL and SQLite alike.

The ingest path writes a hundred rows per request; the ORM's bulk_create spends most of its
time building model instances and cannot say which rows a conflict skipped, and its `__in`
lookups prepare every value through the field. One multi-row INSERT ... ON CONFLICT DO
NOTHING RETURNING per table does both jobs several times faster and tells exactly which rows
were new, so a concurrent duplicate is reported, never silently dropped.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateTimeField, JSONField

# SQLite allows 32766 parameters per statement; stay well below for any backend.
_MAX_PARAMS = 30_000


def insert_returning(model, rows: Sequence[dict[str, Any]], *, conflict: Sequence[str],
                     returning: Sequence[str]) -> list[tuple]:
    """Insert `rows` (dicts of field attnames) into `model`'s table, skipping rows that hit
    the unique `conflict` columns; return `returning` columns of the rows inserted."""
    if not rows:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    fields = [model._meta.get_field(name) for name in rows[0]]
    names = [field.attname for field in fields]
    adapters = [(field.attname, adapt) for field in fields if (adapt := _adapter(field, connection))]
    quote = connection.ops.quote_name
    per_row = len(fields)
    row_placeholder = "(" + ", ".join(["%s"] * per_row) + ")"
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    tail = (f" ON CONFLICT ({', '.join(map(quote, conflict))}) DO NOTHING "
            f"RETURNING {', '.join(quote(model._meta.get_field(name).column) for name in returning)}")
    inserted: list[tuple] = []
    step = max(1, _MAX_PARAMS // per_row)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            params: list[Any] = []
            for row in chunk:
                if adapters:
                    row = {**row, **{name: adapt(row[name]) for name, adapt in adapters}}
                params.extend([row[name] for name in names])
            cursor.execute(head + ", ".join([row_placeholder] * len(chunk)) + tail, params)
            inserted.extend(cursor.fetchall())
    return inserted


def select_in(model, columns: Sequence[str], key: str, values: Iterable[Any], *, lock: bool = False,
              order_by: str | None = None) -> list[tuple]:
    """`columns` of the rows whose `key` is one of `values`; with `lock`, the rows are locked
    FOR UPDATE (where the backend can) in `order_by` order. Chunked below the parameter limit."""
    values = list(values)
    if not values:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    column = {name: quote(model._meta.get_field(name).column) for name in (*columns, key)}
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), _MAX_PARAMS):
            chunk = values[start:start + _MAX_PARAMS]
            sql = (f"SELECT {', '.join(column[name] for name in columns)} FROM {quote(model._meta.db_table)} "
                   f"WHERE {column[key]} IN ({', '.join(['%s'] * len(chunk))})")
            if order_by:
                sql += f" ORDER BY {quote(model._meta.get_field(order_by).column)}"
            if lock and connection.features.has_select_for_update:
                sql += " FOR UPDATE"
            cursor.execute(sql, chunk)
            rows.extend(cursor.fetchall())
    return rows


def _adapter(field, connection):
    """How a value of this field becomes a query parameter. Strings and numbers go as they are;
    times and JSON take the backend's own adapter, without the field's per-value preparation
    (the values here are already validated, timezone-aware datetimes and plain JSON)."""
    if isinstance(field, DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, JSONField):
        return lambda value: connection.ops.adapt_json_value(value, field.encoder)
    return None
