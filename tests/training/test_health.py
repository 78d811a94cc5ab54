"""Health alerts: each fires on a crafted run and not on a healthy one, and --stop-on-alert ends
the run cleanly with the reason in result.json.

Crafted runs are loss curves fed to the monitor step by step (a trend needs dozens of steps),
plus two real runs of the trainer that go wrong the way buggy training code does."""

import json
import math
import random

import pytest
from safetensors.torch import load_file, save_file

from training.cli import main
from training.health import HealthMonitor

VOCAB = 2240
WINDOW = 50  # the default alert_window


def monitor_run(losses, grad_norms=None, channels=None, window=WINDOW):
    """Every alert a monitor raises over a whole crafted run."""
    monitor = HealthMonitor(window=window, vocab_size=VOCAB)
    alerts = []
    for index, loss in enumerate(losses):
        alerts += monitor.observe(
            step=index + 1,
            loss=loss,
            grad_norm=(grad_norms or [1.0] * len(losses))[index],
            channels=(channels or [{}] * len(losses))[index],
            first_step=index == 0,
        )
    return alerts


def healthy_run(steps=300, seed=0):
    """A falling, noisy loss (exponential decay to a floor, 15% noise), steady gradient norms,
    and two channels that both fall."""
    rng = random.Random(seed)
    losses, norms, channels = [], [], []
    for step in range(steps):
        level = 1.2 + 4.5 * math.exp(-step / 40)
        losses.append(level * (1 + rng.gauss(0, 0.15)))
        norms.append(2.0 * (1 + rng.gauss(0, 0.3)) + 0.1)
        channels.append({"code": level * (1 + rng.gauss(0, 0.2)), "chat": level * 0.8 * (1 + rng.gauss(0, 0.2))})
    return losses, norms, channels


@pytest.mark.parametrize("seed", range(5))
def test_a_healthy_run_raises_no_alert(seed):
    losses, norms, channels = healthy_run(seed=seed)

    assert monitor_run(losses, norms, channels) == []


def test_a_plateau_with_noise_raises_no_alert():
    rng = random.Random(7)
    losses = [2.0 * (1 + rng.gauss(0, 0.2)) for _ in range(500)]

    assert monitor_run(losses) == []


def test_a_loss_that_keeps_rising_raises_one_rising_loss_alert():
    losses, _, _ = healthy_run(steps=100)
    rng = random.Random(1)
    rising = losses + [losses[-1] * (1 + 0.02 * step) * (1 + rng.gauss(0, 0.05)) for step in range(60)]

    alerts = monitor_run(rising)

    assert [alert["alert"] for alert in alerts] == ["rising_loss"]
    assert "bug in the training code" in alerts[0]["message"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_a_nan_or_infinite_loss_raises_an_alert(bad):
    alerts = monitor_run([3.0, 2.9, bad, 2.8])

    assert [alert["alert"] for alert in alerts] == ["nan_loss"]


def test_a_nan_gradient_norm_raises_an_alert():
    alerts = monitor_run([3.0, 2.9, 2.8], grad_norms=[1.0, float("nan"), 1.0])

    assert [alert["alert"] for alert in alerts] == ["nan_loss"]


def test_a_gradient_norm_spike_raises_an_alert():
    losses, norms, _ = healthy_run(steps=60)
    norms[45] = 40 * norms[44]

    alerts = monitor_run(losses, norms)

    assert [(alert["alert"], alert["value"]) for alert in alerts] == [("grad_norm_spike", norms[45])]


def test_a_first_loss_far_above_a_uniform_guess_raises_an_alert():
    alerts = monitor_run([math.log(VOCAB) + 3.0, 5.0, 4.0])

    assert [alert["alert"] for alert in alerts] == ["first_loss_high"]
    assert alerts[0]["threshold"] == pytest.approx(math.log(VOCAB) + 1)


def test_a_first_loss_near_a_uniform_guess_raises_no_alert():
    assert monitor_run([math.log(VOCAB) + 0.5, 5.0, 4.0]) == []


def test_a_channel_rising_while_the_rest_falls_raises_a_channel_alert():
    losses, norms, channels = healthy_run(steps=120)
    for step in range(60, 120):
        channels[step]["code"] = 1.5 * (1 + 0.02 * (step - 60))  # "code" climbs while the total keeps falling

    alerts = monitor_run(losses, norms, channels)

    assert [(alert["alert"], alert["channel"]) for alert in alerts] == [("channel_diverging", "code")]


def test_the_monitor_resumes_from_its_saved_state_with_the_same_windows():
    losses, norms, _ = healthy_run(steps=40)
    first = HealthMonitor(window=WINDOW, vocab_size=VOCAB)
    for step in range(30):
        first.observe(step=step + 1, loss=losses[step], grad_norm=norms[step], channels={}, first_step=step == 0)
    second = HealthMonitor(window=WINDOW, vocab_size=VOCAB)
    second.load_state(json.loads(json.dumps(first.state())))

    assert second.state() == first.state()


# --- real runs that go wrong ----------------------------------------------------------------


@pytest.fixture(scope="module")
def train_file(tmp_path_factory, small_conversations):
    path = tmp_path_factory.mktemp("data") / "train.jsonl"
    path.write_text("".join(json.dumps(record, ensure_ascii=False) + "\n" for record in small_conversations))
    return path


@pytest.fixture(scope="module")
def overconfident_model(tiny_model_dir, tmp_path_factory):
    """The tiny model with its output matrix scaled up: confident wrong guesses from the first
    step, the loss far above ln(vocabulary), as when labels are misaligned with logits."""
    import shutil

    model = tmp_path_factory.mktemp("overconfident") / "model"
    shutil.copytree(tiny_model_dir, model)
    weights = load_file(model / "model.safetensors")
    weights["lm_head.weight"] = weights["lm_head.weight"] * 300
    save_file(weights, model / "model.safetensors", metadata={"format": "pt"})
    return model


def alert_lines(output):
    return [
        line for line in map(json.loads, (output / "metrics.jsonl").read_text().splitlines()) if line["kind"] == "alert"
    ]


def test_a_run_with_a_first_loss_above_a_uniform_guess_writes_an_alert_and_stops_when_asked(
    overconfident_model, train_file, tmp_path
):
    output = tmp_path / "run"

    assert (
        main(
            [
                "sft",
                "--model",
                str(overconfident_model),
                "--data",
                str(train_file),
                "--output",
                str(output),
                "--max-steps",
                "5",
                "--max-len",
                "256",
                "--stop-on-alert",
            ]
        )
        == 0
    )

    (alert,) = alert_lines(output)
    result = json.loads((output / "result.json").read_text())
    assert (alert["alert"], alert["step"]) == ("first_loss_high", 1)
    assert (result["status"], result["steps"], result["final_model"]) == ("stopped", 1, None)
    assert result["stop_reason"] == alert["message"] and result["alerts"][0]["alert"] == "first_loss_high"
    assert not (output / "final").exists()


def test_a_diverging_run_writes_a_nan_alert_and_runs_on_unless_asked_to_stop(train_file, tiny_model_dir, tmp_path):
    diverging = [
        "--data",
        str(train_file),
        "--model",
        str(tiny_model_dir),
        "--max-steps",
        "4",
        "--max-len",
        "256",
        "--optimizer",
        "sgd",
        "--lr",
        "1e4",
        "--max-grad-norm",
        "0",
        "--warmup-ratio",
        "0",
    ]

    assert main(["sft", *diverging, "--output", str(tmp_path / "runs-on")]) == 0
    assert main(["sft", *diverging, "--output", str(tmp_path / "stops"), "--stop-on-alert"]) == 0

    runs_on = json.loads((tmp_path / "runs-on" / "result.json").read_text())
    stops = json.loads((tmp_path / "stops" / "result.json").read_text())
    assert "nan_loss" in [alert["alert"] for alert in alert_lines(tmp_path / "runs-on")]
    assert (runs_on["status"], runs_on["steps"]) == ("completed", 4)
    assert stops["status"] == "stopped" and stops["steps"] < 4 and "diverged" in stops["stop_reason"]
