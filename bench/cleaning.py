"""Cleaning and deduplication against their peers, side by side, on the same data, in one run.

Three workloads, each run by Flywheel and its peers in alternating rounds (Flywheel, peer 1,
peer 2, Flywheel, ...), timed in CPU seconds of the process doing the work (plus any children
it forks), never counting interpreter start-up, imports or loading the data. Each figure is a
median over the rounds; each ratio is Flywheel's throughput over the peer's, with the spread
of the per-round ratios beside it.

1. Rule set, per message: Flywheel's default rule set (fixes, checks, language ID, PII
   scrubbing) against Data-Juicer's nearest operators (ftfy repair, PII redaction, HTML
   cleaning, length, character repetition, special characters), both through Data-Juicer's
   executor `run()` (load JSONL, HF datasets, export) and with its operators called directly
   on in-memory batches. `run()` with np=1 still forks a pool worker per operator (HF
   datasets): its CPU time is counted. Data-Juicer has no offline language ID (fastText
   downloads its model), so Flywheel is also timed without its language rule.
2. Message dedup (user prompts) and 3. session dedup (whole transcripts): Flywheel's MinHash +
   LSH, datasketch done the fast way (`MinHash.bulk`, `LeanMinHash`, `MinHashLSH`, candidates
   verified on the signatures as Flywheel does) and datatrove's four MinHash stages, all on
   the same texts and the same shingles (Flywheel's tokens; peers get them as a
   space-separated stream, and only Flywheel's timing includes tokenising raw text). Precision
   and recall against planted near-duplicates with known truth (see bench/cleaning_data.py).

Data-Juicer and datatrove live in their own pinned venv: `python bench/setup_peers.py` (or
`make bench-peers`) once; without it those columns say so and the rest runs.

Run: `python bench/cleaning.py [--rounds 5]`. No database needed. Needs ../shared/datasets.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "flywheel.settings")
REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))
DATASETS = Path(os.environ.get("FLYWHEEL_SHARED_DATASETS", REPO.parent / "shared" / "datasets"))
PEERS_PYTHON = REPO / "bench" / ".peers-venv" / "bin" / "python"
WORKER = REPO / "bench" / "peers" / "worker.py"


def cpu_seconds() -> float:
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class Peers:
    """The long-lived worker in bench/.peers-venv; `None` replies when it is not installed."""

    def __init__(self, workdir: Path):
        self.process = None
        self.reason = ""
        if not PEERS_PYTHON.exists():
            self.reason = "not installed (run `python bench/setup_peers.py`)"
            return
        self.log = (workdir / "peers.log").open("w")
        self.process = subprocess.Popen(
            [str(PEERS_PYTHON), str(WORKER)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.log,
            text=True,
            cwd=workdir,
        )
        self.versions = self.ask({"cmd": "versions"}) or {}

    def ask(self, message: dict) -> dict | None:
        if self.process is None:
            return None
        self.process.stdin.write(json.dumps(message) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            self.reason = f"worker exited (see {self.log.name})"
            self.process = None
            return None
        reply = json.loads(line)
        if "error" in reply:
            print(f"    ({message.get('peer', message['cmd'])}: {reply['error'][:300]})")
            return None
        return reply

    def close(self) -> None:
        if self.process is not None:
            self.process.stdin.write(json.dumps({"cmd": "quit"}) + "\n")
            self.process.stdin.close()
            self.process.wait(timeout=60)


def peer_runner(peers: Peers, peer: str, workload: str, **extra):
    def run():
        reply = peers.ask({"cmd": "run", "peer": peer, "workload": workload, **extra})
        return None if reply is None else (reply["seconds"], reply)

    return run


def alternate(participants: dict, rounds: int) -> tuple[dict, dict]:
    """One untimed warm-up each (its result is the one scored), then `rounds` rounds in turn.
    A participant that fails is dropped from the rest of the run."""
    results, times = {}, {name: [] for name in participants}
    for name, run in participants.items():
        outcome = run()
        if outcome is not None:
            results[name] = outcome[1]
    live = [name for name in participants if name in results]
    for _ in range(rounds):
        for name in live:
            outcome = participants[name]()
            if outcome is not None:
                times[name].append(outcome[0])
    return results, {name: seconds for name, seconds in times.items() if seconds}


def ratio_text(ours: list[float], theirs: list[float]) -> str:
    per_round = sorted(t / o for o, t in zip(ours, theirs))
    return (
        f"{statistics.median(theirs) / statistics.median(ours):5.2f}x  (rounds {per_round[0]:.2f}-{per_round[-1]:.2f})"
    )


# --- Flywheel's side -------------------------------------------------------------------------------


def flywheel_rules(sessions, overrides: dict):
    from flywheel.cleaning.ruleset import MessageInput, evaluate_session, ruleset_from_overrides

    ruleset = ruleset_from_overrides(overrides)
    inputs = [[MessageInput(i, role, text, alt) for i, (role, text, alt) in enumerate(s)] for s in sessions]

    def run():
        start = cpu_seconds()
        kept = sum(
            1 for session in inputs for m in evaluate_session(session, ruleset).messages if m.status != "dropped"
        )
        return cpu_seconds() - start, {"kept": kept}

    return run


def flywheel_dedup(workload, threshold: float):
    from flywheel.cleaning.dedup import NearDuplicateIndex, fingerprints, prepare_session, prepare_text

    prepare = prepare_text if workload.scope == "prompt" else prepare_session

    def run():
        start = cpu_seconds()
        prepared = [prepare(item) for item in workload.items]
        keep = [i for i, p in enumerate(prepared) if p is not None]
        prints = fingerprints([prepared[i] for i in keep], scope=workload.scope)
        index = NearDuplicateIndex(threshold)
        removed = [i for i, fp in zip(keep, prints) if index.match_or_add(i, fp) is not None]
        return cpu_seconds() - start, {"removed": removed}

    return run


def datasketch_dedup(workload, threshold: float):
    """datasketch the fast way: signatures for the whole batch with MinHash.bulk (LeanMinHash),
    then query-or-insert in order, verifying candidates on the signatures."""
    from datasketch import MinHash, MinHashLSH

    n = workload.n

    def run():
        start = cpu_seconds()
        shingle_sets = []
        for stream in workload.streams:
            toks = stream.split()
            grams = {" ".join(toks[i : i + n]) for i in range(len(toks) - n + 1)} if len(toks) > n else {" ".join(toks)}
            shingle_sets.append([g.encode("utf-8") for g in grams])
        signatures = MinHash.bulk(shingle_sets, num_perm=128)
        lsh = MinHashLSH(threshold=threshold, num_perm=128)
        removed = []
        for i, signature in enumerate(signatures):
            if any(signature.jaccard(signatures[c]) >= threshold for c in lsh.query(signature)):
                removed.append(i)
            else:
                lsh.insert(i, signature)
        return cpu_seconds() - start, {"removed": removed}

    return run


# --- the run ---------------------------------------------------------------------------------------


def bench_rules(sessions, peers: Peers, workdir: Path, rounds: int) -> list[str]:
    from cleaning_data import write_jsonl

    messages = [text for session in sessions for _, text, _ in session]
    path = workdir / "rules.jsonl"
    write_jsonl(path, ({"text": text} for text in messages))
    participants = {
        "Flywheel, full rule set": flywheel_rules(sessions, {}),
        "Flywheel, without language ID": flywheel_rules(sessions, {"rules": {"language": {"enabled": False}}}),
    }
    if peers.ask({"cmd": "load", "workload": "rules", "path": str(path), "workdir": str(workdir)}):
        peers.ask({"cmd": "warm", "peer": "dj-direct"})
        participants["Data-Juicer run()"] = peer_runner(peers, "dj-run", "rules")
        participants["Data-Juicer ops, direct"] = peer_runner(peers, "dj-direct", "rules")
    results, times = alternate(participants, rounds)
    mean_chars = sum(len(m) for m in messages) / len(messages)
    lines = [
        f"rule set: {len(messages)} messages ({mean_chars:.0f} chars avg) in {len(sessions)} sessions, "
        f"{rounds} rounds, messages/s per core (median):"
    ]
    ours = times["Flywheel, full rule set"]
    for name, seconds in times.items():
        rate = len(messages) / statistics.median(seconds)
        vs = "" if name.startswith("Flywheel") else "  Flywheel full / this: " + ratio_text(ours, seconds)
        if name == "Data-Juicer ops, direct" and "Flywheel, without language ID" in times:
            vs += ";  without language ID / this: " + ratio_text(times["Flywheel, without language ID"], seconds)
        lines.append(f"  {name:32s} {rate:9,.0f}/s  ({results[name]['kept']} kept){vs}")
    if not any(name.startswith("Data-Juicer") for name in times):
        lines.append(f"  Data-Juicer: {peers.reason or 'failed (see above)'}")
    return lines


def bench_dedup(workload, peers: Peers, workdir: Path, rounds: int, threshold: float) -> list[str]:
    from cleaning_data import score, write_jsonl

    path = workdir / f"{workload.name}.jsonl"
    write_jsonl(path, ({"id": i, "stream": s} for i, s in enumerate(workload.streams)))
    participants = {
        "Flywheel": flywheel_dedup(workload, threshold),
        "datasketch (bulk)": datasketch_dedup(workload, threshold),
    }
    if peers.ask({"cmd": "load", "workload": workload.name, "path": str(path), "workdir": str(workdir)}):
        participants["datatrove"] = peer_runner(peers, "datatrove", workload.name, n_grams=workload.n)
    results, times = alternate(participants, rounds)
    low = min(workload.planted_jaccard)
    lines = [
        f"{workload.name} dedup: {len(workload.items)} items, {workload.planted} planted near-duplicates "
        f"(reference Jaccard {low:.2f}-1.00), {workload.n}-gram shingles, threshold {threshold}, "
        f"{rounds} rounds, items/s per core (median):"
    ]
    for name, seconds in times.items():
        precision, recall = score(set(results[name]["removed"]), workload.groups)
        rate = len(workload.items) / statistics.median(seconds)
        vs = "" if name == "Flywheel" else "  Flywheel / this: " + ratio_text(times["Flywheel"], seconds)
        lines.append(
            f"  {name:20s} {rate:9,.0f}/s  precision {precision:.3f}  recall {recall:.3f}"
            f"  ({len(results[name]['removed'])} removed){vs}"
        )
    if "datatrove" not in times:
        lines.append(f"  datatrove: {peers.reason or 'failed (see above)'}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5, help="timed rounds per participant (after one warm-up)")
    parser.add_argument("--messages", type=int, default=20000, help="at most this many distinct prompts")
    parser.add_argument("--sessions", type=int, default=10000, help="at most this many sessions")
    parser.add_argument("--rule-messages", type=int, default=6000, help="about this many messages for the rule set")
    parser.add_argument(
        "--only",
        choices=["rules", "messages", "sessions"],
        action="append",
        help="run only these workloads (repeatable)",
    )
    args = parser.parse_args()
    import django

    django.setup()
    from cleaning_data import load_sources, message_workload, rule_messages, session_workload
    from django.conf import settings

    sources = load_sources(DATASETS)
    if not sources:
        print(f"{DATASETS} not found: this benchmark needs the public samples in ../shared/datasets. Skipped.")
        return
    only = set(args.only or ["rules", "messages", "sessions"])
    threshold = settings.FLYWHEEL_DEDUP_THRESHOLD
    with tempfile.TemporaryDirectory(prefix="flywheel-bench-") as tmp:
        workdir = Path(tmp)
        peers = Peers(workdir)
        print("sources: " + ", ".join(f"{name} {len(s)} sessions" for name, s in sources.items()))
        if peers.process is not None:
            print(
                "peers: "
                + ", ".join(f"{k} {v}" for k, v in peers.versions.items())
                + f" (bench/.peers-venv); datasketch {version('datasketch')} (project venv)"
            )
        else:
            print(f"peers Data-Juicer and datatrove: {peers.reason}")
        try:
            if "rules" in only:
                print("\n".join(bench_rules(rule_messages(sources, args.rule_messages), peers, workdir, args.rounds)))
            if "messages" in only:
                print(
                    "\n".join(
                        bench_dedup(message_workload(sources, args.messages), peers, workdir, args.rounds, threshold)
                    )
                )
            if "sessions" in only:
                print(
                    "\n".join(
                        bench_dedup(session_workload(sources, args.sessions), peers, workdir, args.rounds, threshold)
                    )
                )
        finally:
            peers.close()


if __name__ == "__main__":
    main()
