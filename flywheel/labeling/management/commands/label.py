import json
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from flywheel.i18n import shown
from flywheel.labeling.classifier import offline_report, task_type_model, task_type_model_refit
from flywheel.labeling.services import labeling_foreground
from flywheel.labeling.taxonomy import taxonomy
from flywheel.llm.client import LLMError


class Command(BaseCommand):
    help = (
        "Label up to --limit sessions that cleaning made ready, in the foreground: with the LLM when "
        "OPENAI_BASE_URL is set, else (or with --offline) with the offline labeler. With --report, label "
        "nothing and print the offline labeler's accuracy per task type and language and its confusion "
        "matrix on its held-out split. Prints a JSON summary last."
    )

    def add_arguments(self, parser):
        parser.add_argument("--limit", type=int, default=100, help="Most sessions to label (default 100).")
        parser.add_argument("--offline", action="store_true", help="Use the offline labeler even if an LLM is set.")
        parser.add_argument(
            "--report",
            action="store_true",
            help="Label nothing: print the offline labeler's held-out accuracy and confusion matrix.",
        )
        parser.add_argument(
            "--refit",
            action="store_true",
            help="With --report: fit the offline classifier anew from its labelled data first (tens of seconds).",
        )
        parser.add_argument(
            "--save",
            metavar="PATH",
            help="With --refit: also write the weights to PATH (flywheel/labeling/data/task_types_model.npz "
            "updates the committed ones).",
        )

    def handle(self, *args, limit, offline, report, refit, save, **options):
        if (refit or save) and not report:
            raise CommandError("--refit and --save go with --report")
        if save and not refit:
            raise CommandError("--save writes freshly fitted weights: add --refit")
        if report:
            self._report(refit=refit, save=Path(save) if save else None)
            return
        if limit < 1:
            raise CommandError("--limit must be at least 1")
        try:
            summary = labeling_foreground(
                limit=limit, offline=offline, progress=lambda done, total, note: self.stderr.write(note)
            )
        except LLMError as exc:
            raise CommandError(f"labeling stopped: {exc}") from exc
        self.stdout.write(json.dumps(summary))

    def _report(self, *, refit: bool, save: Path | None) -> None:
        tax = taxonomy()
        if refit:
            self.stderr.write("fitting the offline task-type classifier from its labelled data...")
        model = task_type_model_refit(tax, save_to=save) if refit else task_type_model(tax)
        # Warnings are stored as message ids (flywheel.i18n); a terminal reads them as text.
        report = offline_report(model)
        report["warnings"] = [shown(w) for w in report["warnings"]]
        for line in report_lines(report):
            self.stdout.write(line)
        self.stdout.write(json.dumps(report, ensure_ascii=False))


def report_lines(report: dict) -> list[str]:
    """The report as tables a person reads in a terminal."""
    held = report["held_out"]
    lines = [
        f"Offline labeler ({report['classifier']}, {report['embedding_model']}, taxonomy {report['taxonomy_version']})",
        f"trained on {report['train'].get('n', 0)} requests; held out {held['n']} "
        f"({report['near_copies_dropped']} near copies of training requests dropped)",
    ]
    lines += [f"warning: {w}" for w in report["warnings"]]
    if not held["n"]:
        lines.append("no held-out examples: nothing is measured")
        return lines
    languages = list(held["by_language"])
    lines.append("")
    lines.append(
        f"accuracy {held['accuracy']:.3f}  "
        + "  ".join(f"{lang} {v['accuracy']:.3f} (n={v['n']})" for lang, v in held["by_language"].items())
    )
    lines.append("")
    lines.append(f"{'task type':<14}" + "".join(f"{name:>14}" for name in ["all", *languages]))
    for task_type, row in held["by_type"].items():
        cells = []
        for name in ["all", *languages]:
            cell = row.get(name, {})
            cells.append(f"{cell['accuracy']:.2f} ({cell['n']})" if cell.get("n") else "–")
        lines.append(f"{task_type:<14}" + "".join(f"{c:>14}" for c in cells))
    labels = held["confusion"]["labels"]
    lines.append("")
    lines.append("confusion (rows: true type, columns: predicted)")
    lines.append(" " * 14 + "".join(f"{label[:6]:>7}" for label in labels))
    for label, counts in zip(labels, held["confusion"]["all"]):
        lines.append(f"{label:<14}" + "".join(f"{c:>7}" for c in counts))
    calibration = held["calibration"]
    lines.append("")
    lines.append(
        f"calibration: expected calibration error {calibration['expected_calibration_error']:.3f}; "
        f"below {calibration['min_confidence']} confidence {calibration['uncertain_share']:.1%} are uncertain "
        f"(accuracy {calibration['accuracy_when_confident'] or 0:.3f} when confident)"
    )
    check = report.get("check")
    if check and check["n"]:
        lines.append("")
        lines.append(
            f"check set written apart, never trained on ({check['n']} requests, "
            f"{report['check_near_copies_dropped']} near copies of training requests dropped): accuracy "
            f"{check['accuracy']:.3f}  "
            + "  ".join(f"{lang} {v['accuracy']:.3f} (n={v['n']})" for lang, v in check["by_language"].items())
        )
        lines.append(
            "  by type: "
            + "  ".join(
                f"{t} {row['all']['accuracy']:.2f} ({row['all']['n']})"
                for t, row in check["by_type"].items()
                if row["all"]["n"]
            )
        )
    return lines
