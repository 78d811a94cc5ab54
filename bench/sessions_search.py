"""The sessions list's full-text search at scale: the trigram GIN index against the same query
without it (a sequential scan), with a primary-key lookup as the baseline, all in one run.

    python bench/sessions_search.py [--sessions 20000] [--samples 15] [--choices-only]

A throwaway PostgreSQL database (on DATABASE_URL's server) is created, filled with
generate_series (sessions x 10 messages, English and Chinese text), measured through the same
selector the page calls (`sessions_page`, first page of 50), and dropped. Each search is timed
with the index (migration ingest.0003), then again after the index is dropped; the ratio is
the speed-up the index brings. Rare terms (in 1 session of 2,000) are where an index matters:
without it every message is read to find a page of matches.

The app and model filters' choices (`session_filter_choices`, a loose index scan) are timed too,
against the plain first page (no filter) and against a plain DISTINCT over the sessions, which
reads every row. `--choices-only` times just those (run it with --sessions 200000).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SEARCHES = [
    ("rare English word", {"q": "photosynthesis"}),
    ("rare Chinese term (4 characters)", {"q": "光合作用"}),
    ("rare term + app filter", {"q": "photosynthesis", "app": "shop"}),
    ("common English phrase", {"q": "reset my password"}),
    ("common Chinese word (2 characters)", {"q": "订单"}),
]


def median_ms(func, samples: int) -> float:
    for _ in range(2):  # warm caches and the connection
        func()
    times = []
    for _ in range(samples):
        start = time.perf_counter()
        func()
        times.append(time.perf_counter() - start)
    return sorted(times)[len(times) // 2] * 1000


def fill(cursor, sessions: int) -> None:
    cursor.execute(
        """
        INSERT INTO ingest_chatsession (external_id, app, channel, anon_user_id, model_version, started_at,
                                        metadata, source, ingested_at)
        SELECT 'bench-' || i, CASE WHEN i %% 2 = 0 THEN 'shop' ELSE 'help-' || (i %% 23) END, 'web', '',
               'model-' || (i %% 61),
               now() - (i || ' seconds')::interval, '{}', 'bench', now()
        FROM generate_series(1, %s) AS i""",
        [sessions],
    )
    cursor.execute("""
        INSERT INTO ingest_message (session_id, external_id, seq, role, content, model_version, created_at)
        SELECT s.id, s.external_id || ':' || k, k, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
               (ARRAY['How do I reset my password?', '北京明天的天气怎么样？', 'Write a poem about the sea.',
                      '我的订单什么时候到？', 'Explain recursion to a child.', '上海有什么好吃的？'])[1 + (s.id * 7 + k) % 6]
               || CASE WHEN k = 1 AND s.id % 2000 = 0 THEN ' photosynthesis 光合作用' ELSE '' END
               || ' ' || md5(s.id::text || ':' || k::text),
               'm1', s.started_at
        FROM ingest_chatsession s CROSS JOIN generate_series(1, 10) AS k""")
    cursor.execute("ANALYZE")


def choices(args, page) -> None:
    """The filters' choices against the page they are added to, and against a plain DISTINCT."""
    from django.db import connection

    from flywheel.ingest.selectors import session_filter_choices

    plain = median_ms(lambda: page({}), args.samples)
    print(f"{'plain first page (no filter)':<38} {plain:9.2f} ms")
    for column in ("app", "model_version"):
        listed = len(session_filter_choices(column))
        ms = median_ms(lambda c=column: session_filter_choices(c), args.samples)

        def distinct(c=column):
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT DISTINCT {c} FROM ingest_chatsession WHERE {c} > '' ORDER BY 1 LIMIT 100")
                return cursor.fetchall()

        scan = median_ms(distinct, args.samples)
        print(
            f"{column + ' choices (' + str(listed) + ' values)':<38} {ms:9.2f} ms  {ms / plain:5.2f}x the plain page;"
            f" a plain DISTINCT: {scan:.2f} ms ({scan / ms:.0f}x slower)"
        )
    print()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=20_000, help="sessions of 10 messages each")
    parser.add_argument("--samples", type=int, default=15, help="timed runs per query and variant")
    parser.add_argument("--choices-only", action="store_true", help="time only the filters' choices")
    args = parser.parse_args()

    base = urllib.parse.urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    name = f"bench_search_{os.getpid()}"
    admin = psycopg2.connect(
        host=base.hostname, port=base.port or 5432, user=base.username or "postgres", password=base.password,
        dbname="postgres",
    )  # fmt: skip
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    auth = f"{base.username or 'postgres'}{':' + base.password if base.password else ''}"
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://{auth}@{base.hostname}:{base.port or 5432}/{name}",
            "DJANGO_SETTINGS_MODULE": "flywheel.settings",
            "FLYWHEEL_TASK_MODE": "sync",
            "FLYWHEEL_VAR_DIR": tempfile.mkdtemp(prefix="bench-search-"),
            "REDIS_URL": "",
            "HF_HUB_OFFLINE": "1",
        }
    )
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(args) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from flywheel.ingest.models import Message
    from flywheel.ingest.selectors import SessionFilters, sessions_page

    print(f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work skews timings)")
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        fill(cursor, args.sessions)
    messages = Message.objects.count()
    print(f"{args.sessions:,} sessions, {messages:,} messages; first page of 50 through sessions_page()\n")

    last_id = Message.objects.order_by("-id").values_list("id", flat=True).first()
    baseline = median_ms(lambda: Message.objects.filter(pk=last_id // 2).first(), args.samples * 4)

    def page(params):
        return len(sessions_page(filters=SessionFilters(**params)))

    choices(args, page)
    if args.choices_only:
        return 0

    with_index = {
        label: (median_ms(lambda p=params: page(p), args.samples), page(params)) for label, params in SEARCHES
    }
    with connection.cursor() as cursor:
        cursor.execute("DROP INDEX message_content_trgm_idx")
    without = {label: median_ms(lambda p=params: page(p), args.samples) for label, params in SEARCHES}

    print(f"{'primary-key lookup (baseline)':<38} {baseline:9.2f} ms")
    print(f"{'search':<38} {'rows':>5} {'index':>10} {'no index':>11} {'speed-up':>9} {'index/baseline':>15}")
    for label, _params in SEARCHES:
        ms, rows = with_index[label]
        print(
            f"{label:<38} {rows:>5} {ms:8.2f} ms {without[label]:8.2f} ms {without[label] / ms:8.1f}x"
            f" {ms / baseline:14.1f}x"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
