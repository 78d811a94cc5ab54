"""Ingest throughput: events per second through the real HTTP endpoint (gunicorn on loopback,
batches of 100 events) against a raw COPY of the same rows into the same tables, in one run.

An event is a message or a feedback item. Run: `python bench/ingest.py [--events 40000] [--live]`
(PostgreSQL from DATABASE_URL's server; a throwaway database is created and dropped).
Prints both rates and the ratio HTTP / COPY.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import multiprocessing
import os
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from http.client import HTTPConnection
from pathlib import Path

import psycopg2

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_sessions(total_events: int) -> list[tuple[dict, list[dict]]]:
    """Sessions of 1-3 exchanges, each with the thumbs on its last answer (30% of sessions)."""
    import random

    rng = random.Random(1)
    sessions, n = [], 0
    while n < total_events:
        sid = f"bench-{n}"
        messages = []
        for turn in range(rng.randint(1, 3)):
            messages.append(
                {
                    "id": f"{sid}-u{turn}",
                    "role": "user",
                    "content": f"question {n} {turn} " + "x" * rng.randint(20, 200),
                }
            )
            messages.append(
                {"id": f"{sid}-a{turn}", "role": "assistant", "content": "answer " + "y" * rng.randint(50, 600)}
            )
        session = {"id": sid, "app": "bench", "model_version": "m1", "user_id": f"u{n % 97}", "messages": messages}
        feedback = []
        if rng.random() < 0.3:
            feedback.append({"id": f"{sid}-fb", "message_id": messages[-1]["id"], "rating": rng.choice([1, -1])})
        sessions.append((session, feedback))
        n += len(messages) + len(feedback)
    return sessions


def make_batches(total_events: int, per_batch: int = 100, *, live: bool = False) -> list[bytes]:
    """Batches of ~`per_batch` events. Whole sessions by default; with `live`, each session
    arrives turn by turn (one exchange per item, 100 sessions in flight), so most items are
    appends to sessions that exist, as a chat product logs them."""
    items = []  # (session item, feedback items)
    if not live:
        items = make_sessions(total_events)
    else:
        sessions = make_sessions(total_events)
        for start in range(0, len(sessions), 100):
            group = sessions[start : start + 100]
            for turn in range(3):
                for session, feedback in group:
                    exchange = session["messages"][2 * turn : 2 * turn + 2]
                    if exchange:
                        last = 2 * turn + 2 >= len(session["messages"])
                        items.append(({**session, "messages": exchange}, feedback if last else []))
    batches, sessions, feedback, events = [], [], [], 0
    for session, session_feedback in items:
        if events >= per_batch or any(s["id"] == session["id"] for s in sessions):
            batches.append(json.dumps({"sessions": sessions, "feedback": feedback}).encode())
            sessions, feedback, events = [], [], 0
        sessions.append(session)
        feedback.extend(session_feedback)
        events += len(session["messages"]) + len(session_feedback)
    if sessions:
        batches.append(json.dumps({"sessions": sessions, "feedback": feedback}).encode())
    return batches


def count_events(batches: list[bytes]) -> int:
    return sum(sum(len(s["messages"]) for s in b["sessions"]) + len(b["feedback"]) for b in map(json.loads, batches))


def _send_all(args) -> int:
    port, key, bodies = args
    connection = HTTPConnection("127.0.0.1", port, timeout=60)
    for body in bodies:
        connection.request(
            "POST",
            "/api/v1/ingest/",
            body=body,
            headers={"Content-Type": "application/json", "Authorization": f"Bearer {key}"},
        )
        response = connection.getresponse()
        payload = response.read()
        if response.status != 200 or json.loads(payload)["counts"]["errors"]:
            raise SystemExit(f"ingest failed: {response.status} {payload[:300]!r}")
    return len(bodies)


def truncate(dsn: str) -> None:
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        cursor.execute("TRUNCATE ingest_feedback, ingest_preferencepair, ingest_message, ingest_chatsession CASCADE")


def run_rounds(
    env: dict, dsn: str, batches: list[bytes], *, clients: int, workers: int, threads: int, rounds: int
) -> list[tuple[float, float]]:
    """(HTTP seconds, COPY seconds) per round, alternating so both see the same machine."""
    port = free_port()
    key = (
        subprocess.run(
            [sys.executable, "manage.py", "create_api_key", "--name", "bench"],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "flywheel.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--threads",
            str(threads),
            "--log-level",
            "warning",
        ],
        cwd=REPO,
        env=env,
    )
    try:
        for _ in range(100):
            try:
                HTTPConnection("127.0.0.1", port, timeout=1).request("GET", "/healthz")
                break
            except OSError:
                time.sleep(0.2)
        # Warm-up, not timed: a few small batches so every worker has served a request.
        warm = [
            json.dumps(
                {
                    "sessions": [
                        {"id": f"warm-{i}", "messages": [{"id": f"warm-{i}-m", "role": "user", "content": "warm-up"}]}
                    ]
                }
            ).encode()
            for i in range(workers * 4)
        ]
        _send_all((port, key, warm))
        shares = [batches[i::clients] for i in range(clients)]
        timings = []
        with multiprocessing.Pool(clients) as pool:
            for _ in range(rounds):
                truncate(dsn)
                started = time.perf_counter()
                pool.map(_send_all, [(port, key, share) for share in shares])
                http_s = time.perf_counter() - started
                timings.append((http_s, run_copy(dsn, batches)))
        return timings
    finally:
        server.terminate()
        server.wait()


def run_copy(dsn: str, batches: list[bytes]) -> float:
    """The same rows, written with COPY into the same (emptied) tables; returns seconds."""
    sessions, messages, feedback = io.StringIO(), io.StringIO(), io.StringIO()
    # Everything quoted, so empty strings stay empty strings (unquoted empties are NULL in CSV).
    ws, wm, wf = (csv.writer(b, quoting=csv.QUOTE_ALL) for b in (sessions, messages, feedback))
    now = "2026-01-01T00:00:00+00:00"
    message_id = feedback_id = 0
    session_rows, message_ids = {}, {}  # external id -> [row id, last seq]
    for batch in map(json.loads, batches):
        for s in batch["sessions"]:
            if s["id"] not in session_rows:
                session_rows[s["id"]] = [len(session_rows) + 1, 0]
                ws.writerow([len(session_rows), s["id"], s["app"], "", "", s["model_version"], now, "{}", "bench", now])
            session = session_rows[s["id"]]
            for m in s["messages"]:
                message_id += 1
                session[1] += 1
                message_ids[m["id"]] = message_id
                wm.writerow([message_id, session[0], m["id"], session[1], m["role"], m["content"], "", now, ""])
        for f in batch["feedback"]:
            feedback_id += 1
            wf.writerow([feedback_id, f["id"], message_ids[f["message_id"]], f["rating"], "", "[]", now])
    truncate(dsn)
    with psycopg2.connect(dsn) as connection, connection.cursor() as cursor:
        started = time.perf_counter()
        for table, columns, buffer, options in (
            (
                "ingest_chatsession",
                "id, external_id, app, channel, anon_user_id, model_version, started_at, metadata, source, ingested_at",
                sessions,
                "",
            ),
            (
                "ingest_message",
                "id, session_id, external_id, seq, role, content, model_version, created_at, alternative_to_id",
                messages,
                ", FORCE_NULL (alternative_to_id)",
            ),
            ("ingest_feedback", "id, external_id, message_id, rating, comment, reasons, created_at", feedback, ""),
        ):
            buffer.seek(0)
            cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN WITH (FORMAT csv{options})", buffer)
        connection.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=40_000)
    parser.add_argument("--batch-events", type=int, default=100, help="events per HTTP request")
    parser.add_argument("--clients", type=int, default=4, help="concurrent HTTP clients")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes")
    parser.add_argument("--threads", type=int, default=1, help="threads per gunicorn worker")
    parser.add_argument("--rounds", type=int, default=3, help="HTTP and COPY passes, alternating; medians reported")
    parser.add_argument(
        "--live",
        action="store_true",
        help="send each session turn by turn, so most items append to a session that exists",
    )
    args = parser.parse_args()

    base = urllib.parse.urlparse(os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres"))
    admin_dsn = base._replace(path="/postgres").geturl()
    name = f"flywheel_bench_ingest_{os.getpid()}"
    dsn = base._replace(path=f"/{name}").geturl()
    admin = psycopg2.connect(admin_dsn)
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "DJANGO_SETTINGS_MODULE": "flywheel.settings",
        "REDIS_URL": os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0"),
        "FLYWHEEL_REDIS_PREFIX": f"{name}:",
        "FLYWHEEL_LOG_LEVEL": "WARNING",
    }
    try:
        subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], cwd=REPO, env=env, check=True)
        batches = make_batches(args.events, args.batch_events, live=args.live)
        events = count_events(batches)
        timings = run_rounds(
            env, dsn, batches, clients=args.clients, workers=args.workers, threads=args.threads, rounds=args.rounds
        )
        http_rate = statistics.median(events / h for h, _ in timings)
        copy_rate = statistics.median(events / c for _, c in timings)
        ratio = statistics.median(c / h for h, c in timings)
        print(
            f"events: {events} in {len(batches)} batches of ~{args.batch_events} (messages + feedback), "
            f"{'sessions sent turn by turn' if args.live else 'whole sessions'}, {args.rounds} rounds, medians"
        )
        print(
            f"HTTP ingest (gunicorn {args.workers}x{args.threads}, {args.clients} clients, loopback): "
            f"{http_rate:,.0f} events/s"
        )
        print(f"raw COPY of the same rows into the same tables:       {copy_rate:,.0f} events/s")
        print(
            f"ratio HTTP / COPY: {ratio:.3f} (per round: {', '.join(f'{c / h:.3f}' for h, c in timings)})"
            f"   goal: >= 0.25 and >= 1,000 events/s"
        )
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


if __name__ == "__main__":
    main()
