"""Soak: the whole stack under steady load while its parts fail, then a check that nothing
was lost or doubled.

    python bench/soak.py --duration 300

It starts everything it breaks itself, on free loopback ports in one temporary directory: a
PostgreSQL cluster (initdb), a redis-server without persistence, gunicorn, a Celery worker per
queue (default, llm), beat, and the OpenAI-compatible test LLM server. Clients send live
sessions turn by turn, with feedback, through the ingest API, retrying on errors. Meanwhile a
fault schedule, one fault every --fault-interval seconds in rotation: SIGKILL a Celery worker
or beat (and start it again), restart Redis (the broker loses its queues), restart PostgreSQL
(immediate shutdown: connections drop mid-transaction), SIGKILL a gunicorn worker while
requests are in flight, and a burst of 429s with Retry-After and 500s from the LLM server.

When the clients are done and the faults stop, it waits for the system to settle and checks,
against the clients' own log, that every acknowledged event is stored exactly once, no job is
stuck, every session went through every pipeline stage exactly once, and no process's memory
grew past --rss-limit-mb. The last line printed is JSON: events_per_s held (and the ratio to
the rate the clients offered), faults {type: count}, lost, duplicated, stuck. It exits 1 when
any of those is not 0.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "bench")]

from soak_clients import Client, ClientLog  # noqa: E402
from soak_services import (  # noqa: E402
    Postgres,
    Redis,
    Service,
    celery_command,
    free_port,
    gunicorn_command,
    gunicorn_workers,
    gunicorn_workers_serving,
    port_open,
    wait_until,
)

from tests.support.openai_server import FakeOpenAIServer, RateLimited, ServerError  # noqa: E402

FAULTS = ("worker_kill", "redis_restart", "postgres_restart", "gunicorn_worker_kill", "llm_errors")


def say(message: str) -> None:
    print(f"[soak {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def label_answer(request: dict) -> str:
    """The labeler's answer: valid JSON, low quality for about a quarter of the sessions (so the
    label review route carries traffic too), chosen from the conversation so a retry agrees."""
    text = json.dumps(request.get("messages", []), sort_keys=True)
    low = hashlib.sha256(text.encode()).digest()[0] < 64
    score = 1 if low else 4
    return json.dumps(
        {
            "task_type": "qa",
            "task_subtype": "advice",
            "language": "en",
            "difficulty": "medium",
            "scores": {"helpfulness": score, "honesty": score, "harmlessness": 5, "instruction_following": score},
            "hallucination": False,
            "safety_flag": False,
            "usable": not low,
            "steering_attempt": False,
            "reason": "soak label",
        }
    )


def _template_dir() -> Path:
    """Where a migrated cluster is kept between runs: migrating takes a minute on a busy
    machine. Keyed by the migrations and the PostgreSQL binaries, so a new migration or
    server version makes a new one."""
    digest = hashlib.sha256()
    for path in sorted(REPO.glob("flywheel/*/migrations/*.py")):
        digest.update(path.relative_to(REPO).as_posix().encode() + path.read_bytes())
    digest.update(str(Postgres.binaries()).encode())
    return Path(tempfile.gettempdir()) / f"flywheel-soak-template-{digest.hexdigest()[:16]}"


class Stack:
    """The services and the environment they share."""

    def __init__(self, root: Path, llm_url: str, web_workers: int):
        self.root = root
        self.postgres = Postgres(root)
        self.redis = Redis(root)
        self.web_port = free_port()
        self.env = self._environment(llm_url)
        self.web = Service("gunicorn", gunicorn_command(self.web_port, web_workers), workdir=root, env=self.env)
        # As deployed (docker-compose.yml): a prefork worker for `default`, threads for `llm`.
        self.workers = {
            "worker-default": Service(
                "worker-default",
                celery_command("worker", "-Q", "default", "-n", "default@soak", "--concurrency", "2", "-l", "INFO"),
                workdir=root,
                env=self.env,
            ),
            "worker-llm": Service(
                "worker-llm",
                celery_command(
                    "worker", "-Q", "llm", "-n", "llm@soak", "--pool", "threads", "--concurrency", "4", "-l", "INFO"
                ),
                workdir=root,
                env=self.env,
            ),
            "beat": Service(
                "beat",
                celery_command("beat", "-s", str(root / "celerybeat-schedule"), "-l", "INFO"),
                workdir=root,
                env=self.env,
            ),
        }

    def _environment(self, llm_url: str) -> dict:
        # Nothing of the caller's configuration (a test run's database, Redis prefix) leaks in.
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("FLYWHEEL_", "DJANGO_", "OPENAI_", "CELERY_"))
            and k not in ("DATABASE_URL", "REDIS_URL")
        }
        (self.root / "var").mkdir()
        env.update(
            {
                "DJANGO_SETTINGS_MODULE": "flywheel.settings",
                "DJANGO_SECRET_KEY": uuid.uuid4().hex,
                "DJANGO_ALLOWED_HOSTS": "127.0.0.1,localhost",
                "DATABASE_URL": self.postgres.url,
                "REDIS_URL": self.redis.url,
                "FLYWHEEL_TASK_MODE": "celery",
                "FLYWHEEL_VAR_DIR": str(self.root / "var"),
                "OPENAI_BASE_URL": llm_url,
                "OPENAI_API_KEY": "soak",
                "FLYWHEEL_LABEL_MODEL": "soak-labeler",
                # Recovery in seconds, not the production minutes, so a short run settles.
                "FLYWHEEL_JOB_LEASE_S": "10",
                "FLYWHEEL_JOB_REQUEUE_AFTER_S": "10",
                "FLYWHEEL_SWEEP_INTERVAL_S": "2",
                "FLYWHEEL_LLM_BACKOFF_BASE_S": "0.2",
                "FLYWHEEL_LLM_BACKOFF_MAX_S": "2",
                "HF_HUB_OFFLINE": "1",
                "TRANSFORMERS_OFFLINE": "1",
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def start(self) -> str:
        """Start everything; returns the clients' API key. Django is set up in this process too
        (migrations, the key, and the final checks run here)."""
        template = _template_dir()
        self.postgres.init(template if template.is_dir() else None)
        self.postgres.start()
        if not template.is_dir():
            self.postgres.create_database()
        self.redis.start()
        os.environ.clear()  # this process runs Django on the private services too, nothing else
        os.environ.update(self.env)
        import django
        from django.core.management import call_command
        from django.db import connections

        django.setup()
        if not template.is_dir():
            say("migrating the private database (kept as a template for the next run)")
            call_command("migrate", "--noinput", verbosity=0)
            connections.close_all()
            self.postgres.save_template(template)
        from flywheel.accounts.services import api_key_create
        from flywheel.continuity.services import continuity_model_active

        continuity_model_active()  # fail now, not after the run, if no classifier is packaged
        api_key = api_key_create(name="soak clients").raw_key
        connections.close_all()
        self.web.start()
        for worker in self.workers.values():
            worker.start()
        wait_until(lambda: port_open(self.web_port), timeout=120, what="gunicorn to listen")
        for name in ("worker-default", "worker-llm"):
            wait_until(lambda n=name: self.ready(n), timeout=180, what=f"{name} to be ready")
        return api_key

    def ready(self, name: str) -> bool:
        service = self.workers[name]
        if not service.alive():
            raise RuntimeError(f"{name} exited:\n{service.tail()}")
        return b" ready." in service.log_path.read_bytes().rsplit(b"--- start", 1)[-1]

    def services(self) -> dict[str, Service]:
        return {"postgres": self.postgres.service, "redis": self.redis.service, "gunicorn": self.web, **self.workers}

    def stop(self) -> None:
        # The checks are done: no need to wait for a warm shutdown of the workers.
        for service in [self.web, *self.workers.values(), self.redis.service]:
            service.kill()
        self.postgres.stop()


class Faults(threading.Thread):
    """One fault every `interval` seconds, in a shuffled rotation, until calmed; and, until
    stopped, a supervisor: a service that exits on its own is started again, as a deployment's
    supervisor would (docker-compose.yml: restart: unless-stopped), and counted."""

    def __init__(self, stack: Stack, llm: FakeOpenAIServer, interval: float, rng: random.Random):
        super().__init__(name="soak-faults", daemon=True)
        self.stack, self.llm, self.interval, self.rng = stack, llm, interval, rng
        self.counts = {name: 0 for name in FAULTS}
        self.crashes: dict[str, int] = {}  # services that exited without being killed
        self.errors: list[str] = []
        self.mid_request = 0  # gunicorn workers killed while serving a request
        self.calm = threading.Event()
        self.stopped = threading.Event()

    def run(self) -> None:
        order: list[str] = []
        next_fault = time.monotonic() + self.interval
        while not self.stopped.wait(0.5):
            self.supervise()
            if self.calm.is_set() or time.monotonic() < next_fault:
                continue
            next_fault += self.interval
            if not order:
                order = list(FAULTS)
                self.rng.shuffle(order)
            fault = order.pop()
            try:
                getattr(self, fault)()
                self.counts[fault] += 1
            except Exception as exc:  # a fault that could not be applied is reported, not hidden
                self.errors.append(f"{fault}: {exc!r}")
                say(f"fault {fault} failed: {exc!r}")

    def supervise(self) -> None:
        stack = self.stack
        for name, service in stack.services().items():
            if service.alive():
                continue
            say(f"{name} exited on its own (code {service.process.returncode}); starting it again")
            self.crashes[name] = self.crashes.get(name, 0) + 1
            {"postgres": stack.postgres.start, "redis": stack.redis.start}.get(name, service.start)()

    def worker_kill(self) -> None:
        name = self.rng.choice(sorted(self.stack.workers))
        say(f"fault: SIGKILL {name}")
        service = self.stack.workers[name]
        service.kill()
        service.start()

    def redis_restart(self) -> None:
        say("fault: restart Redis (its queues are lost)")
        self.stack.redis.restart()

    def postgres_restart(self) -> None:
        say("fault: restart PostgreSQL (immediate shutdown)")
        self.stack.postgres.restart()

    def gunicorn_worker_kill(self) -> None:
        """SIGKILL a gunicorn worker that holds a client's connection, i.e. is mid-request (any
        worker if none does within a few seconds)."""
        pid, deadline = None, time.monotonic() + 5
        while pid is None and time.monotonic() < deadline:
            busy = gunicorn_workers_serving(self.stack.web, self.stack.web_port)
            pid = self.rng.choice(busy) if busy else None
            time.sleep(0 if pid else 0.01)
        if pid is None:
            pids = gunicorn_workers(self.stack.web)
            if not pids:
                raise RuntimeError("no gunicorn worker to kill")
            pid = self.rng.choice(pids)
        else:
            self.mid_request += 1
        say(f"fault: SIGKILL gunicorn worker {pid}")
        os.kill(pid, signal.SIGKILL)

    def llm_errors(self) -> None:
        say("fault: the LLM server answers 429 with Retry-After, then 500s")
        self.llm.script(*[RateLimited(retry_after=1)] * 6, *[ServerError()] * 6)


class MemorySampler(threading.Thread):
    """Samples the resident memory of every process of every service."""

    def __init__(self, stack: Stack, every: float = 2.0):
        super().__init__(name="soak-memory", daemon=True)
        self.stack, self.every = stack, every
        self.peak_mb: dict[str, float] = {}
        self.first_mb: dict[str, float] = {}
        self.stopped = threading.Event()

    def run(self) -> None:
        import psutil

        while not self.stopped.wait(self.every):
            for name, service in self.stack.services().items():
                for pid in service.pids():
                    try:
                        rss = psutil.Process(pid).memory_info().rss / 2**20
                    except psutil.Error:
                        continue
                    self.first_mb.setdefault(name, rss)
                    self.peak_mb[name] = max(self.peak_mb.get(name, 0.0), rss)


def settle(stack: Stack, events, timeout: float) -> dict:
    """Wait until no job is active and every stage has caught up; then the final report."""
    from django.db import connections
    from soak_checks import events_check, jobs_check, pipeline_check

    sessions = {e.session for e in events.values()}
    deadline = time.monotonic() + timeout
    next_note = time.monotonic() + 10
    while True:
        connections.close_all()  # the cluster restarted under any connection kept from before
        try:
            jobs, pipeline = jobs_check(), pipeline_check(sessions)
        except Exception as exc:
            jobs, pipeline = None, {"error": repr(exc)}
        settled = jobs is not None and not jobs["stuck"] and not pipeline["gaps"]
        if time.monotonic() > next_note:
            waiting = {k: len(v) for k, v in pipeline.get("gaps", {}).items()} or pipeline.get("error")
            say(f"settling: jobs active {len(jobs['stuck']) if jobs else '?'}, stage gaps {waiting}")
            next_note = time.monotonic() + 10
        if settled or time.monotonic() > deadline:
            return {"settled": settled, "jobs": jobs, "pipeline": pipeline, "events": events_check(events)}
        time.sleep(2)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60, help="seconds of client load")
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--turn-interval", type=float, default=1.0, help="seconds between a client's turns")
    parser.add_argument(
        "--fault-interval", type=float, default=None, help="seconds between faults (default: duration/12, 4..30)"
    )
    parser.add_argument("--settle-timeout", type=float, default=240, help="seconds the system gets to settle")
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--rss-limit-mb", type=float, default=2048, help="no process of a service may exceed this")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--keep", action="store_true", help="keep the temporary directory (logs, data)")
    args = parser.parse_args()
    fault_interval = args.fault_interval or min(30.0, max(4.0, args.duration / 12))
    rng = random.Random(args.seed)

    root = Path(tempfile.mkdtemp(prefix="flywheel-soak-"))
    llm = FakeOpenAIServer().start()
    llm.responder = label_answer
    stack = Stack(root, llm.url, args.web_workers)
    say(f"seed {args.seed}; working in {root}")
    try:
        api_key = stack.start()
        memory = MemorySampler(stack)
        memory.start()
        log = ClientLog()
        run = f"soak-{uuid.uuid4().hex[:6]}"
        started = time.monotonic()
        stop_at = started + args.duration
        clients = [
            Client(
                index=i,
                run=run,
                port=stack.web_port,
                api_key=api_key,
                log=log,
                stop_at=stop_at,
                give_up_at=stop_at + args.settle_timeout,
                turn_interval=args.turn_interval,
                seed=args.seed,
            )
            for i in range(args.clients)
        ]
        faults = Faults(stack, llm, fault_interval, rng)
        say(f"{args.clients} clients for {args.duration:.0f}s, a fault every {fault_interval:.0f}s")
        for client in clients:
            client.start()
        faults.start()
        while any(c.is_alive() for c in clients) and time.monotonic() < stop_at:
            time.sleep(0.5)
        faults.calm.set()
        for client in clients:
            client.join()
        load_s = time.monotonic() - started
        llm.reset()
        llm.responder = label_answer
        say(f"clients done after {load_s:.0f}s ({log.requests} requests); settling")
        report = settle(stack, log.events, args.settle_timeout)
        faults.stopped.set()
        faults.join()
        memory.stopped.set()
        memory.join()
        return finish(args, report, log, faults, memory, load_s)
    finally:
        stack.stop()
        llm.stop()
        if args.keep:
            say(f"kept {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


def finish(args, report: dict, log: ClientLog, faults: Faults, memory: MemorySampler, load_s: float) -> int:
    events, pipeline, jobs = report["events"], report["pipeline"], report["jobs"] or {"stuck": ["unreadable"]}
    acked = events["acked"]
    offered = args.clients * 2.6 / args.turn_interval  # ~2 messages a turn plus feedback on 60% of turns
    gaps = pipeline.get("gaps", {"unreadable": [pipeline.get("error")]})
    dups = pipeline.get("duplicates", {})
    lost = len(events["lost"]) + len(events["unacked"]) + sum(len(v) for v in gaps.values())
    duplicated = len(events["duplicated"]) + len(events["unknown"]) + sum(len(v) for v in dups.values())
    over = {name: round(mb) for name, mb in memory.peak_mb.items() if mb > args.rss_limit_mb}
    details = {
        "settled": report["settled"],
        "sessions": pipeline.get("sessions"),
        "sessions_ready": pipeline.get("ready"),
        "retried_events": events["retried"],
        "retried_stored_once": events["retried_stored_once"],
        "requests": log.requests,
        "failed_requests": log.failed_requests,
        "responses": log.statuses,
        "rejected": events["rejected"][:10],
        "misordered": events["misordered"][:10],
        "gaps": {k: v[:10] for k, v in gaps.items()},
        "duplicates": {k: v[:10] for k, v in dups.items()},
        "jobs": jobs.get("by_status"),
        "failed_without_reason": jobs.get("failed_without_reason"),
        "fault_errors": faults.errors,
        "gunicorn_workers_killed_mid_request": faults.mid_request,
        "crashed_and_restarted": faults.crashes,
        "rss_peak_mb": {k: round(v) for k, v in sorted(memory.peak_mb.items())},
        "rss_first_mb": {k: round(v) for k, v in sorted(memory.first_mb.items())},
        "rss_over_limit": over,
    }
    print(json.dumps(details, indent=1), file=sys.stderr)
    result = {
        "events_per_s": round(acked / load_s, 2),
        "offered_events_per_s": round(offered, 2),
        "held_ratio": round(acked / load_s / offered, 2),
        "events": acked,
        "duration_s": round(load_s),
        "faults": faults.counts,
        "crashed_and_restarted": faults.crashes,
        "lost": lost,
        "duplicated": duplicated,
        "stuck": len(jobs["stuck"]),
        "rejected": len(events["rejected"]),
        "misordered": len(events["misordered"]),
        "memory_bounded": not over,
    }
    print(json.dumps(result), flush=True)
    ok = (
        not lost
        and not duplicated
        and not result["stuck"]
        and not result["rejected"]
        and not result["misordered"]
        and not over
        and not faults.errors
        and not jobs.get("failed_without_reason")
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
