"""Review queue latency at scale: the engineers' item list (first page and pages deep in the
list) and claim-next with 20 concurrent annotators, against a plain primary-key lookup measured
on the same machine in the same run.

    python bench/review_pages.py [--sessions 100000] [--samples 300] [--claims 40]

A throwaway PostgreSQL database (on DATABASE_URL's server) is created, filled with
generate_series (sessions x 10 messages = 1M messages by default; one bad-case review item per
assistant answer = 500k items in one queue, five priorities), measured, and dropped.
Goals: list pages within 10x of the primary-key lookup at any depth; claim-next p95 < 50 ms with
20 concurrent annotators.

The 20 annotators are 20 processes (as web workers would serve them), each claiming, looking at
the item for `--think` seconds on average (uniform 0..2x; people take 10-60 s, so 5 s is a very
fast team), submitting, and claiming again; the same processes then do primary-key lookups at
the same pace, the baseline under the same load. A last phase drops the pause (a stress test:
every annotator claims and submits back to back) and reports what the machine sustains.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
ANNOTATORS = 20


def p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def summary(name: str, seconds: list[float], baseline_p95: float | None = None) -> str:
    ms = [s * 1000 for s in seconds]
    line = f"{name:<44} n={len(ms):>5}  p50 {p(ms, 0.5):7.2f} ms  p95 {p(ms, 0.95):7.2f} ms"
    if baseline_p95:
        line += f"  p95 ratio {p(ms, 0.95) / baseline_p95:6.1f}x"
    return line


def timed(func, samples: int) -> list[float]:
    for _ in range(5):  # warm caches and the connection
        func()
    out = []
    for _ in range(samples):
        start = time.perf_counter()
        func()
        out.append(time.perf_counter() - start)
    return out


def fill(cursor, sessions: int) -> None:
    started = time.perf_counter()
    cursor.execute(
        """
        INSERT INTO ingest_chatsession (external_id, app, channel, anon_user_id, model_version, started_at,
                                        metadata, source, ingested_at)
        SELECT 'bench-' || i, 'bench', 'web', '', 'm1', now() - (i || ' seconds')::interval, '{}', 'bench', now()
        FROM generate_series(1, %s) AS i""",
        [sessions],
    )
    cursor.execute("""
        INSERT INTO ingest_message (session_id, external_id, seq, role, content, model_version, created_at)
        SELECT s.id, s.external_id || ':' || k, k, CASE WHEN k % 2 = 1 THEN 'user' ELSE 'assistant' END,
               'message ' || k || ' ' || md5(s.id::text || k::text), 'm1', s.started_at
        FROM ingest_chatsession s CROSS JOIN generate_series(1, 10) AS k""")
    cursor.execute(
        "INSERT INTO review_reviewqueue (slug, name, kind, description, filters, priority, "
        "reviewers_per_item, lease_seconds, audience, is_default, active, items_total, items_finished, "
        "created_at) VALUES ('badcase-answer', 'Bad-case answers', 'badcase_answer', '', '{}', 0, 1, 900, "
        "'reviewers', true, true, 0, 0, now()) RETURNING id"
    )
    queue_id = cursor.fetchone()[0]
    cursor.execute(
        """
        INSERT INTO review_reviewitem (queue_id, kind, subject_type, subject_id, payload, session_id, message_id,
                                       priority, status, reviewers_required, submitted_count, active_claims, created_at)
        SELECT %s, 'badcase_answer', 'message', m.id::text, '{}', m.session_id, m.id, m.id %% 5, 'open', 1, 0, 0, now()
        FROM ingest_message m WHERE m.role = 'assistant'""",
        [queue_id],
    )
    cursor.execute(
        "UPDATE review_reviewqueue SET items_total = (SELECT count(*) FROM review_reviewitem) WHERE id = %s", [queue_id]
    )
    cursor.execute("ANALYZE")
    cursor.execute("SELECT count(*) FROM ingest_message")
    messages = cursor.fetchone()[0]
    cursor.execute("SELECT count(*) FROM review_reviewitem")
    items = cursor.fetchone()[0]
    print(f"filled {messages:,} messages and {items:,} review items in {time.perf_counter() - started:.0f} s")


def claim_phase(user_ids: list[int], queue_id: int, claims: int, think: float, op: str = "claim") -> list[float]:
    """Every annotator in its own process at once; the claim latencies of all of them."""
    from django.db import connections

    connections.close_all()  # a forked child must not inherit the parent's connection
    context = multiprocessing.get_context("fork")
    barrier, results = context.Barrier(len(user_ids)), context.Queue()
    workers = [
        context.Process(target=annotate, args=(user_id, queue_id, claims, think, op, barrier, results))
        for user_id in user_ids
    ]
    for worker in workers:
        worker.start()
    times: list[float] = []
    for _ in workers:
        times += results.get(timeout=900)
    for worker in workers:
        worker.join()
    return times


def annotate(user_id: int, queue_id: int, claims: int, think: float, op: str, barrier, results) -> None:
    """One annotator: claim the next item, look at it for about `think` seconds (uniform in
    0..2x, so the annotators drift apart as people do), submit, again. With op="pk", a
    primary-key lookup instead of the claim, at the same pace: the baseline under the same load."""
    from django.contrib.auth import get_user_model
    from django.db import connections

    from flywheel.ingest.models import Message
    from flywheel.review.models import ReviewQueue
    from flywheel.review.services import review_item_claim_next, review_item_submit

    connections.close_all()  # never share the parent's connection
    user, queue = get_user_model().objects.get(id=user_id), ReviewQueue.objects.get(id=queue_id)
    decision = {"verdict": "bad", "task_type": "qa", "quality": "3"}
    times = []
    pause = random.Random(user_id)
    barrier.wait()
    if think:  # people do not all press "next" in the same millisecond of the first minute
        time.sleep(pause.uniform(0, 2 * think))
    last_message = Message.objects.order_by("-id").values_list("id", flat=True).first()
    for _ in range(claims):
        if op == "pk":
            start = time.perf_counter()
            Message.objects.get(pk=pause.randint(1, last_message))
            times.append(time.perf_counter() - start)
            if think:
                time.sleep(pause.uniform(0, 2 * think))
            continue
        start = time.perf_counter()
        claim = review_item_claim_next(queue=queue, user=user)
        times.append(time.perf_counter() - start)
        if think:
            time.sleep(pause.uniform(0, 2 * think))
        review_item_submit(item_id=claim.item.id, user=user, decision=decision)
    results.put(times)
    connections.close_all()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=100_000, help="sessions of 10 messages each")
    parser.add_argument("--samples", type=int, default=300, help="timed requests per list measurement")
    parser.add_argument("--claims", type=int, default=12, help="claims per annotator and phase")
    parser.add_argument(
        "--think", type=float, default=5.0, help="mean seconds an annotator spends on an item (people take 10-60 s)"
    )
    parser.add_argument("--keep", action="store_true", help="keep the database (to EXPLAIN queries); drop it yourself")

    base = urllib.parse.urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    name = f"bench_review_{os.getpid()}"
    admin = psycopg2.connect(
        host=base.hostname,
        port=base.port or 5432,
        user=base.username or "postgres",
        password=base.password,
        dbname="postgres",
    )
    admin.autocommit = True
    args = parser.parse_args()
    admin.cursor().execute(f"CREATE DATABASE {name}")
    auth = f"{base.username or 'postgres'}{':' + base.password if base.password else ''}"
    os.environ.update(
        {
            "DATABASE_URL": f"postgres://{auth}@{base.hostname}:{base.port or 5432}/{name}",
            "DJANGO_SETTINGS_MODULE": "flywheel.settings",
            "FLYWHEEL_TASK_MODE": "sync",
            "FLYWHEEL_VAR_DIR": tempfile.mkdtemp(prefix="bench-review-"),
            "REDIS_URL": "",
            "HF_HUB_OFFLINE": "1",
        }
    )
    try:
        return run(args)
    finally:
        from django.db import connections

        connections.close_all()
        if args.keep:
            print(f"kept database {name}")
        else:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def run(args) -> int:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from flywheel.accounts.roles import Role
    from flywheel.accounts.services import user_create_with_role
    from flywheel.ingest.models import Message
    from flywheel.review.item_filters import ItemFilter
    from flywheel.review.models import ReviewItem, ReviewQueue
    from flywheel.review.selectors import review_items_page

    print(
        f"load average before: {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (other work on the machine skews latencies)"
    )
    call_command("migrate", verbosity=0)
    with connection.cursor() as cursor:
        fill(cursor, args.sessions)
    queue = ReviewQueue.objects.get()
    rng = random.Random(7)
    max_message = Message.objects.order_by("-id").values_list("id", flat=True).first()
    total_items = queue.items_total

    pk = timed(lambda: Message.objects.get(pk=rng.randint(1, max_message)), args.samples)
    baseline = p([s * 1000 for s in pk], 0.95)
    print()
    print(summary("primary-key lookup (baseline)", pk))

    item_filter = ItemFilter(queue_id=queue.id)
    first = timed(lambda: review_items_page(item_filter=item_filter), args.samples)
    print(summary("queue list, first page (selector)", first, baseline))
    cursors = {}
    with connection.cursor() as cursor:
        for fraction in (0.1, 0.5, 0.9, 0.999):
            cursor.execute(
                "SELECT priority, id FROM review_reviewitem WHERE queue_id = %s AND status = 'open' "
                "ORDER BY priority DESC, id OFFSET %s LIMIT 1",
                [queue.id, int(total_items * fraction)],
            )
            cursors[fraction] = cursor.fetchone()
    deep_results = {}
    for fraction, after in cursors.items():
        deep_results[fraction] = timed(
            lambda a=after: review_items_page(item_filter=item_filter, after=a), args.samples
        )
        print(summary(f"queue list, page at {fraction:.1%} depth (selector)", deep_results[fraction], baseline))
    filtered = ItemFilter(queue_id=queue.id, priority_min=2, priority_max=3)
    deep_filtered = timed(lambda: review_items_page(item_filter=filtered, after=cursors[0.5]), args.samples)
    print(summary("queue list, priority 2-3 filter, mid-depth", deep_filtered, baseline))

    engineer = user_create_with_role(username="bench-engineer", password="x-bench-pass-1", role=Role.ENGINEER)
    client = Client(HTTP_HOST="localhost")
    client.force_login(engineer)
    url = f"/review/queues/{queue.slug}/"
    html_first = timed(lambda: client.get(url), max(50, args.samples // 3))
    mid = cursors[0.5]
    html_deep = timed(lambda: client.get(f"{url}?after={mid[0]}:{mid[1]}"), max(50, args.samples // 3))
    print(summary("queue list, first page (whole HTML response)", html_first, baseline))
    print(summary("queue list, 50% depth (whole HTML response)", html_deep, baseline))

    annotators = [
        user_create_with_role(username=f"bench-annotator-{i}", password="x-bench-pass-1", role=Role.ANNOTATOR).id
        for i in range(ANNOTATORS)
    ]
    # One process per annotator, as web workers serve them (threads would measure the GIL).
    alone = claim_phase(annotators[:1], queue.id, args.claims * 5, 0.0)
    print(summary("claim-next, 1 annotator alone", alone, baseline))
    paced = claim_phase(annotators, queue.id, args.claims, args.think)
    paced_pk = claim_phase(annotators, queue.id, args.claims, args.think, op="pk")
    paced_baseline = p([s * 1000 for s in paced_pk], 0.95)
    print(summary(f"pk lookup, {ANNOTATORS} processes at the same pace", paced_pk, baseline))
    print(summary(f"claim-next, {ANNOTATORS} annotators, ~{args.think:g} s per item", paced, baseline))
    print(
        f"  claim-next p95 / primary-key p95 under the same concurrency: {p([s * 1000 for s in paced], 0.95) / paced_baseline:.1f}x"
    )
    stress = claim_phase(annotators, queue.id, args.claims, 0.0)
    print(summary(f"claim-next, {ANNOTATORS} annotators, no pause (stress)", stress, baseline))
    done = ReviewItem.objects.filter(status="done").count()
    print(
        f"  every claimed item was handed out once: {done == len(alone) + len(paced) + len(stress)} ({done} items reviewed)"
    )

    print(f"load average after: {os.getloadavg()[0]:.1f}")
    worst_list = max(p([s * 1000 for s in v], 0.95) for v in [first, *deep_results.values()])
    claim_p95 = p([s * 1000 for s in paced], 0.95)
    print()
    print(
        f"list pages: worst p95 {worst_list:.2f} ms = {worst_list / baseline:.1f}x the primary-key lookup "
        f"(goal <= 10x): {'met' if worst_list / baseline <= 10 else 'NOT met'}"
    )
    print(
        f"claim-next: p95 {claim_p95:.1f} ms with {ANNOTATORS} concurrent annotators taking ~{args.think:g} s "
        f"per item (goal < 50 ms): "
        f"{'met' if claim_p95 < 50 else 'NOT met'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
