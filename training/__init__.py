"""Flywheel's trainer: SFT with the multi-turn per-turn loss, runnable without Django.

The contract with the web side is a run directory (config.json + train.jsonl [+ eval.jsonl] in;
metrics.jsonl, checkpoints/, final/, result.json out) and `python -m training sft`.
`training.contract` is the part the web side imports: it loads no torch. This package's own
`__init__` imports nothing, so importing the contract does not pull in the trainer.
"""
