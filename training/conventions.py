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
STAGES_DIR = "stages"
"""A plan's completed stages: stages/<number>-<name>/ with the stage's model and stage.json."""
STAGE_FILE = "stage.json"
"""Written last into a completed stage's directory (see training/stages.py)."""
RUN_OUTPUTS = (METRICS_FILE, RESULT_FILE, CHECKPOINTS_DIR, FINAL_DIR, STAGES_DIR)

SPECIAL_TOKENS_CHANNEL = "<special tokens>"
"""Loss channel of the tokens a run adds (add_special_tokens): the mean loss of the supervised
positions whose target is one of them. Angle brackets keep it apart from any task type."""
