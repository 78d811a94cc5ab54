"""The peers' side of bench/cleaning.py: Data-Juicer and datatrove, run in their own venv.

They cannot share the project's environment (their pins clash with ours), so
`python bench/setup_peers.py` installs them, pinned, into bench/.peers-venv, and the benchmark
starts this script there once, as a long-lived process. It speaks JSON lines on stdin/stdout:

  {"cmd": "load", "workload": "rules", "path": "rules.jsonl", "workdir": "..."}  -> {"ok": true}
  {"cmd": "run", "peer": "dj-run", "workload": "rules"}  -> {"seconds": 4.1, "kept": 5870}
  {"cmd": "run", "peer": "datatrove", "workload": "sessions", "n_grams": 3}  -> {"seconds": 1.6, "removed": [...]}
  {"cmd": "versions"}  -> {"py-data-juicer": "1.6.1", ...}

Loading data and building operators are not timed; each "run" times only the work, in CPU
seconds of this process and of the children it forks, so interpreter start-up and imports
never count. The harness
alternates rounds of Flywheel and of each peer and takes medians.

Nothing here imports the project: this file must run with only the peers' packages.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import sys
import time
from pathlib import Path

# Peers must never fetch anything while we time them (Data-Juicer installs missing packages
# at run time; datasets and huggingface_hub reach for the hub).
os.environ.update(
    {
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "PIP_NO_INDEX": "1",
        "UV_OFFLINE": "1",
        "TQDM_DISABLE": "1",
        "OMP_NUM_THREADS": "1",
    }
)
# The harness starts this in its scratch folder: HF datasets' caches go there, not into ~/.cache.
os.environ.setdefault("HF_HOME", str(Path.cwd() / "hf-home"))

# The Data-Juicer operators closest to Flywheel's default rule set that run offline
# (language ID needs a fastText model download; flagged words need a word-list download).
DJ_PROCESS = [
    {"fix_unicode_mapper": {}},  # Flywheel: mojibake (ftfy)
    {"pii_redaction_mapper": {}},  # Flywheel: PII scrubbing
    {"clean_html_mapper": {}},  # Flywheel: markup residue
    {"text_length_filter": {"min_len": 1, "max_len": 100000}},  # Flywheel: empty, length
    {"character_repetition_filter": {"rep_len": 10, "max_ratio": 0.5}},  # Flywheel: repetition
    {"special_characters_filter": {"max_ratio": 0.45}},  # Flywheel: special characters
]
DJ_BATCH = 1000


def whitespace_tokenizer():
    """For datatrove: the benchmark hands every detector the same token stream (Flywheel's
    tokens: one per CJK character, one per word, separated by spaces), so its word tokenizer
    is a split. datatrove's own Chinese tokenizers need spaCy or jieba models."""
    from datatrove.utils.word_tokenizers import WordTokenizer

    class WhitespaceTokenizer(WordTokenizer):
        def word_tokenize(self, text: str) -> list[str]:
            return text.split()

        def sent_tokenize(self, text: str) -> list[str]:
            return [text]

        def span_tokenize(self, text: str) -> list[tuple[int, int]]:
            return [(0, len(text))]

    return WhitespaceTokenizer("pretokenized")


def cpu_seconds() -> float:
    """CPU time of this process and of the children it waited for (a peer that forks is
    charged for its children too)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def forbid_runtime_installs() -> None:
    """Data-Juicer installs a package it misses the moment it is used (uv, then pip). Here that
    is an error: everything the benchmark needs is pinned in bench/peers/requirements.txt."""
    from data_juicer.utils.lazy_loader import LazyLoader

    def refuse(cls, package_spec, pip_args=None):
        raise ImportError(
            f"Data-Juicer tried to install {package_spec!r} at run time: pin it in "
            "bench/peers/requirements.txt and rerun bench/setup_peers.py"
        )

    LazyLoader._install_package = classmethod(refuse)


def check() -> None:
    """What bench/setup_peers.py runs once the venv is built: everything imports, nothing installs."""
    forbid_runtime_installs()
    from data_juicer.core import DefaultExecutor  # noqa: F401  (the run() path's imports)
    from data_juicer.ops import load_ops
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature  # noqa: F401

    load_ops(DJ_PROCESS)
    print("peers: imports and operators ok")


def _quiet_logs() -> None:
    """Errors only, to the real stderr. Data-Juicer's executor swaps sys.stdout and sys.stderr for
    streams that log through loguru and adds its own sinks; both are undone here after it runs
    (a loguru sink writing to a stream that logs to loguru recurses without end)."""
    from loguru import logger

    sys.stderr = sys.__stderr__
    sys.stdout = sys.__stderr__  # the protocol owns the real stdout
    logger.remove()
    logger.add(sys.__stderr__, level="ERROR")


class Worker:
    def __init__(self):
        self.data: dict[str, list[dict]] = {}
        self.paths: dict[str, str] = {}
        self.workdir = Path(".")
        self.dj_ops = None
        self.dj_rounds = 0

    # --- Data-Juicer -------------------------------------------------------------------------

    def _dj_ops(self):
        if self.dj_ops is None:
            from data_juicer.ops import load_ops

            self.dj_ops = load_ops(DJ_PROCESS)
        return self.dj_ops

    def dj_direct(self, workload: str):
        """The operators called directly on in-memory batches: Data-Juicer's fastest path."""
        from data_juicer.utils.constant import Fields

        ops = self._dj_ops()
        texts = [row["text"] for row in self.data[workload]]
        start = cpu_seconds()
        kept = []
        for begin in range(0, len(texts), DJ_BATCH):
            batch = {
                "text": texts[begin : begin + DJ_BATCH],
                Fields.stats: [{} for _ in texts[begin : begin + DJ_BATCH]],
            }
            index = list(range(begin, begin + len(batch["text"])))
            for op in ops:
                if not batch["text"]:
                    break
                if op.is_batched_op():
                    if hasattr(op, "compute_stats"):
                        batch = op.compute_stats(batch)
                        keep = list(op.process(batch))
                        batch = {k: [v for v, ok in zip(values, keep) if ok] for k, values in batch.items()}
                        index = [i for i, ok in zip(index, keep) if ok]
                    else:
                        batch = op.process(batch)
                else:
                    rows = [{k: batch[k][i] for k in batch} for i in range(len(batch["text"]))]
                    rows = [op.process(row) for row in rows]
                    batch = {k: [row[k] for row in rows] for k in batch}
            kept.extend(index)
        return cpu_seconds() - start, {"kept": len(kept)}

    def dj_run(self, workload: str):
        """Data-Juicer's own path: an executor built from a config, run() loading the JSONL,
        applying the operators through HF datasets, and exporting the result."""
        from data_juicer.config import init_configs
        from data_juicer.core import DefaultExecutor

        self.dj_rounds += 1
        out = self.workdir / f"dj-out-{self.dj_rounds}"
        out.mkdir(parents=True)
        config = out / "config.yaml"
        config.write_text(
            json.dumps(
                {
                    "project_name": "flywheel-bench",
                    "dataset_path": self.paths[workload],
                    # DJ appends a job id to work_dir; the placeholder keeps the export inside it.
                    "export_path": "{work_dir}/result.jsonl",
                    "work_dir": str(out),
                    "np": 1,
                    "use_cache": False,
                    # np=1 is the least Data-Juicer takes: it still hands each operator's map to HF datasets
                    # with num_proc=1, which forks one pool worker (and a manager) per map; their CPU time
                    # is counted (see cpu_seconds).
                    "open_tracer": False,
                    "op_fusion": False,
                    "open_monitor": False,
                    "process": DJ_PROCESS,
                }
            )
        )
        cfg = init_configs(args=["--config", str(config)])
        executor = DefaultExecutor(cfg)
        start = cpu_seconds()
        dataset = executor.run()
        seconds = cpu_seconds() - start
        _quiet_logs()  # DJ added its own log files; later peers must not write to them
        return seconds, {"kept": len(dataset)}

    # --- datatrove ---------------------------------------------------------------------------

    def datatrove(self, workload: str, n_grams: int):
        """datatrove's four MinHash stages (signatures, buckets, clusters, filter), in this
        process, on local folders. Default LSH (14 buckets x 8 hashes, threshold ~0.72)."""
        from datatrove.data import Document
        from datatrove.pipeline.dedup.minhash import (
            MinhashConfig,
            MinhashDedupBuckets,
            MinhashDedupCluster,
            MinhashDedupFilter,
            MinhashDedupSignature,
        )

        rows = self.data[workload]
        docs = [Document(text=row["stream"], id=str(row["id"])) for row in rows]
        base = self.workdir / "datatrove"
        shutil.rmtree(base, ignore_errors=True)
        config = MinhashConfig(n_grams=n_grams)
        start = cpu_seconds()
        MinhashDedupSignature(output_folder=str(base / "sigs"), config=config, language=whitespace_tokenizer()).run(
            iter(docs), rank=0, world_size=1
        )
        buckets = MinhashDedupBuckets(
            input_folder=str(base / "sigs"), output_folder=str(base / "buckets"), config=config
        )
        for bucket in range(config.num_buckets):
            buckets.run(None, rank=bucket, world_size=config.num_buckets)
        MinhashDedupCluster(input_folder=str(base / "buckets"), output_folder=str(base / "remove"), config=config).run(
            None
        )
        kept = [int(doc.id) for doc in MinhashDedupFilter(input_folder=str(base / "remove")).run(iter(docs), rank=0)]
        seconds = cpu_seconds() - start
        kept_set = set(kept)
        return seconds, {"removed": [row["id"] for row in rows if row["id"] not in kept_set]}

    # --- protocol ----------------------------------------------------------------------------

    def handle(self, message: dict) -> dict:
        cmd = message["cmd"]
        if cmd == "versions":
            from importlib.metadata import version

            return {name: version(name) for name in ("py-data-juicer", "datatrove", "datasets", "numpy", "xxhash")}
        if cmd == "load":
            self.workdir = Path(message["workdir"])
            self.paths[message["workload"]] = message["path"]
            with open(message["path"], encoding="utf-8") as handle:
                self.data[message["workload"]] = [json.loads(line) for line in handle]
            return {"ok": True, "rows": len(self.data[message["workload"]])}
        if cmd == "warm":
            if message["peer"].startswith("dj"):
                self._dj_ops()
            return {"ok": True}
        if cmd == "run":
            peer, workload = message["peer"], message["workload"]
            if peer == "dj-direct":
                seconds, result = self.dj_direct(workload)
            elif peer == "dj-run":
                seconds, result = self.dj_run(workload)
            elif peer == "datatrove":
                seconds, result = self.datatrove(workload, message["n_grams"])
            else:
                raise ValueError(f"unknown peer {peer!r}")
            return {"seconds": seconds, **result}
        raise ValueError(f"unknown command {cmd!r}")


def main() -> None:
    if sys.argv[1:] == ["--check"]:
        check()
        return
    forbid_runtime_installs()
    _quiet_logs()
    worker = Worker()
    out = sys.__stdout__  # libraries that print must not corrupt the protocol: see _quiet_logs
    for line in sys.stdin:
        if not line.strip():
            continue
        message = json.loads(line)
        if message.get("cmd") == "quit":
            break
        try:
            reply = worker.handle(message)
        except Exception as exc:  # reported to the harness, which prints it and carries on without this peer
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        out.write(json.dumps(reply) + "\n")
        out.flush()


if __name__ == "__main__":
    main()
