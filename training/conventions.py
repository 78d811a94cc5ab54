"""Constants both sides of the trainer contract use, in a module with no imports of its own so
that every other module (torch-free or not) can take them from one place."""

IGNORE_INDEX = -100
"""Label value of a position that carries no loss (Hugging Face convention)."""

NO_TURN = -1
"""Turn id of a position that belongs to no supervised turn."""

LOSS_MODES = ("per_turn", "per_token", "naive")
"""`per_turn` is the loss we train on (DESIGN.md); the others exist to compare against."""

CONFIG_FILE = "config.json"
TRAIN_FILE = "train.jsonl"
EVAL_FILE = "eval.jsonl"
METRICS_FILE = "metrics.jsonl"
RESULT_FILE = "result.json"
CHECKPOINTS_DIR = "checkpoints"
FINAL_DIR = "final"
STATE_FILE = "trainer_state.json"
"""Written last into a checkpoint: its presence is what makes a directory a checkpoint."""
RUN_OUTPUTS = (METRICS_FILE, RESULT_FILE, CHECKPOINTS_DIR, FINAL_DIR)
