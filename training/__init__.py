"""Flywheel's trainer: SFT with the multi-turn per-turn loss, runnable without Django.

The contract with the web side is a run directory (config.json + train.jsonl [+ eval.jsonl] in;
metrics.jsonl, checkpoints/, final/, result.json out) and `python -m training sft`.
"""

from training.loss import IGNORE_INDEX, sft_loss

__all__ = ["IGNORE_INDEX", "sft_loss"]
