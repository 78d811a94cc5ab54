"""Install the benchmark's peers (Data-Juicer, datatrove) into their own venv, bench/.peers-venv.

They cannot share the project's environment: their own pins (datasets, fsspec, dill, pandas...)
clash with ours, and Data-Juicer installs whatever it misses at run time. So they get a venv of
their own, built from bench/peers/requirements.txt, where every package is pinned and installed
with --no-deps (no resolver, nothing unpinned; torch is the project's own CPU pin). The project's
.venv is never touched. bench/cleaning.py finds the venv and runs bench/peers/worker.py in it.

Run: `python bench/setup_peers.py [--force]` (or `make bench-peers`). Needs PyPI (and, for
torch, the CPU wheel the project installs).
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import venv
from pathlib import Path

BENCH = Path(__file__).resolve().parent
VENV = BENCH / ".peers-venv"
REQUIREMENTS = BENCH / "peers" / "requirements.txt"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--force", action="store_true", help="delete and rebuild an existing venv")
    args = parser.parse_args()
    if sys.version_info[:2] != (3, 11):
        sys.exit(f"run this with Python 3.11 (the pins are for it), not {sys.version.split()[0]}")
    python = VENV / "bin" / "python"
    if VENV.exists() and args.force:
        shutil.rmtree(VENV)
    if not python.exists():
        venv.EnvBuilder(with_pip=True, clear=True).create(VENV)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--no-deps", "-r", str(REQUIREMENTS)], check=True)
    subprocess.run([str(python), "-m", "pip", "check"], check=True)
    subprocess.run([str(python), str(BENCH / "peers" / "worker.py"), "--check"], check=True)
    print(f"peers ready in {VENV.relative_to(BENCH.parent)}: now `python bench/cleaning.py`")


if __name__ == "__main__":
    main()
