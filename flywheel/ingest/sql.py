"""Raw statements for the ingest path, for PostgreSQL and SQLite alike.

The ingest path writes a hundred rows per request; the ORM's bulk_create spends most of its
time building model instances and cannot say which rows a conflict skipped, and its `__in`
lookups prepare every value through the field. One multi-row INSERT ... ON CONFLICT DO
NOTHING RETURNING per table does both jobs several times faster and tells exactly which rows
were new, so a concurrent duplicate is reported, never silently dropped.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import DateTimeField, JSONField

# SQLite allows 32766 parameters per statement; stay well below for any backend.
_MAX_PARAMS = 30_000


def insert_returning(
    model,
    rows: Sequence[dict[str, Any]],
    *,
    conflict: Sequence[str],
    returning: Sequence[str],
    lock_existing: bool = False,
) -> list[tuple]:
    """Insert `rows` (dicts of field attnames) into `model`'s table, skipping rows that hit
    the unique `conflict` columns; return `returning` columns of the rows inserted.

    Rows are written in the order of their conflict key, the same order in every request: a
    request that meets a row another one has not committed yet waits for it, and waits taken
    in one global order never form a cycle (a deadlock).

    With `lock_existing`, the rows that were skipped are row-locked until the transaction
    ends, by the same statement: an ON CONFLICT DO UPDATE whose WHERE is false updates nothing
    but locks every conflicting row (PostgreSQL documents this; SQLite has one writer anyway)."""
    if not rows:
        return []
    rows = sorted(rows, key=lambda row: tuple(row[name] for name in conflict))
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in rows[0]]
    columns = ", ".join(quote(field.column) for field in fields)
    table = quote(model._meta.db_table)
    action = "DO NOTHING"
    if lock_existing:
        action = f"DO UPDATE SET {quote(conflict[0])} = EXCLUDED.{quote(conflict[0])} WHERE false"
    tail = (
        f" ON CONFLICT ({', '.join(map(quote, conflict))}) {action} "
        f"RETURNING {', '.join(quote(model._meta.get_field(name).column) for name in returning)}"
    )
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # All rows as one JSON parameter, which the server expands into rows shaped like the
            # table, because quoting hundreds of separate parameters costs the driver more CPU
            # than the database spends inserting them.
            if any(field.attname != field.column for field in fields):
                raise ValueError(f"{model.__name__}: rows are matched to columns by name")
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT {columns} "
                f"FROM json_populate_recordset(NULL::{table}, %s){tail}",
                [_json_rows(rows)],
            )
            return cursor.fetchall()
        return _insert_values(cursor, fields, rows, f"INSERT INTO {table} ({columns}) VALUES ", tail, connection)


def _json_rows(rows: Sequence[dict[str, Any]]) -> str:
    """The rows as a JSON array; datetimes as ISO 8601 with their offset. Most rows of a batch
    share one `now`, so each datetime object is formatted once."""
    formatted: dict[int, str] = {}  # id() is stable here: `rows` keeps every value alive

    def datetimes(value):
        if isinstance(value, datetime):
            text = formatted.get(id(value))
            if text is None:
                text = formatted[id(value)] = value.isoformat()
            return text
        raise TypeError(f"{type(value).__name__} is not JSON serializable")

    return json.dumps(rows, default=datetimes, ensure_ascii=False)


def _insert_values(cursor, fields, rows, head: str, tail: str, connection) -> list[tuple]:
    """The portable form: a multi-row VALUES list, chunked below the parameter limit."""
    adapters = [(field.attname, _adapter(field, connection)) for field in fields]
    row_placeholder = "(" + ", ".join(["%s"] * len(fields)) + ")"
    inserted: list[tuple] = []
    step = max(1, _MAX_PARAMS // len(fields))
    for start in range(0, len(rows), step):
        chunk = rows[start : start + step]
        params = [adapt(row[name]) if adapt else row[name] for row in chunk for name, adapt in adapters]
        cursor.execute(head + ", ".join([row_placeholder] * len(chunk)) + tail, params)
        inserted.extend(cursor.fetchall())
    return inserted


def select_in(model, columns: Sequence[str], key: str, values: Iterable[Any]) -> list[tuple]:
    """`columns` of the rows whose `key` is one of `values`, chunked below the parameter limit."""
    values = list(values)
    if not values:
        return []
    connection = connections[DEFAULT_DB_ALIAS]
    quote = connection.ops.quote_name
    column = {name: quote(model._meta.get_field(name).column) for name in (*columns, key)}
    rows: list[tuple] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), _MAX_PARAMS):
            chunk = values[start : start + _MAX_PARAMS]
            cursor.execute(
                f"SELECT {', '.join(column[name] for name in columns)} FROM {quote(model._meta.db_table)} "
                f"WHERE {column[key]} IN ({', '.join(['%s'] * len(chunk))})",
                chunk,
            )
            rows.extend(cursor.fetchall())
    return rows


def _adapter(field, connection):
    """How a value of this field becomes a query parameter in the VALUES form: strings and
    numbers go as they are; times and JSON take the backend's own adapter, without the field's
    per-value preparation (the values here are validated, timezone-aware and plain JSON)."""
    if isinstance(field, DateTimeField):
        return connection.ops.adapt_datetimefield_value
    if isinstance(field, JSONField):
        return lambda value: json.dumps(value, cls=field.encoder)
    return None
