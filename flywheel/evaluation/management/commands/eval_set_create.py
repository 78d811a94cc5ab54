import json

from django.core.management.base import BaseCommand, CommandError

from flywheel.evaluation.services import EvalSetError, eval_items_read, eval_set_create, eval_set_from_dataset_version


class Command(BaseCommand):
    help = (
        "Create an immutable evaluation set from a JSONL file in the trainer's format "
        '({"messages": [...], "task_type"?}; a final assistant message is the reference), or from a dataset '
        'version\'s eval split. Prints {"id": ...} as JSON last; the same content gives the same set.'
    )

    def add_arguments(self, parser):
        parser.add_argument("--name", required=True)
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--file", help="JSONL items")
        source.add_argument("--dataset-version", type=int, help="take the eval split of this dataset version")
        parser.add_argument("--weights", default="", help='JSON {task_type or "*": {dimension: weight}} for usability')

    def handle(self, *args, name, file, dataset_version, weights, **options):
        try:
            parsed_weights = json.loads(weights) if weights else None
            if parsed_weights is not None and not isinstance(parsed_weights, dict):
                raise EvalSetError("--weights must be a JSON object")
            if file:
                eval_set, created = eval_set_create(
                    name=name, items=eval_items_read(file), source="upload", weights=parsed_weights
                )
            else:
                eval_set, created = eval_set_from_dataset_version(version_id=dataset_version, name=name)
        except json.JSONDecodeError as exc:
            raise CommandError(f"--weights is not JSON: {exc}") from exc
        except EvalSetError as exc:
            raise CommandError(f"{file or 'dataset version'}: {exc}") from exc
        self.stdout.write(
            json.dumps(
                {
                    "id": eval_set.id,
                    "created": created,
                    "items": eval_set.item_count,
                    "task_types": eval_set.task_types,
                    "content_hash": eval_set.content_hash,
                }
            )
        )
