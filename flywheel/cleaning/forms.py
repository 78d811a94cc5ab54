"""Turning the rule editor's form fields into rule overrides (and back).

Fields: `enabled:<rule>` (checkbox), `action:<rule>`, `param:<rule>:<name>`, plus
`dedup_sessions` / `dedup_prompts`. Each parameter is parsed by the type of its default;
list parameters are one entry per line. Only values that differ from the defaults are kept,
so a later change of a default reaches apps that never touched that value.
"""

from __future__ import annotations

from flywheel.cleaning.rules import RULES, Rule
from flywheel.cleaning.ruleset import RuleConfigError, validate_overrides


def _parse(rule: Rule, name: str, raw: str, default):
    where = f"{rule.name}.{name}"
    raw = raw.strip()
    if isinstance(default, list):
        return [line.strip() for line in raw.splitlines() if line.strip()]
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise RuleConfigError(f"{where} must be a whole number, not {raw!r}") from None
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise RuleConfigError(f"{where} must be a number, not {raw!r}") from None
    return raw


def overrides_from_form(data) -> dict:
    """Validated overrides from submitted form data; raises RuleConfigError with a message."""
    rules: dict = {}
    for name, rule in RULES.items():
        entry: dict = {}
        enabled = data.get(f"enabled:{name}") == "on"
        if enabled != rule.enabled:
            entry["enabled"] = enabled
        action = data.get(f"action:{name}", rule.action)
        if action != rule.action:
            entry["action"] = action
        params = {}
        for param, default in rule.params.items():
            if isinstance(default, bool):
                value = data.get(f"param:{name}:{param}") == "on"
            else:
                field = f"param:{name}:{param}"
                if field not in data:
                    continue
                value = _parse(rule, param, data.get(field, ""), default)
            if value != default:
                params[param] = value
        if params:
            entry["params"] = params
        if entry:
            rules[name] = entry
    overrides = {"rules": rules}
    for key in ("dedup_sessions", "dedup_prompts"):
        if data.get(key) != "on":
            overrides[key] = False
    return validate_overrides(overrides)


def rule_rows(overrides: dict, posted=None) -> list[dict]:
    """What the editor shows for each rule: its defaults with the overrides applied, or what
    was just submitted (so a refused form keeps the engineer's edits)."""
    configured = (overrides or {}).get("rules", {})
    rows = []
    for name, rule in RULES.items():
        own = configured.get(name, {})
        values = {**rule.params, **own.get("params", {})}
        shown = {param: "\n".join(value) if isinstance(value, list) else value for param, value in values.items()}
        enabled, action = own.get("enabled", rule.enabled), own.get("action", rule.action)
        if posted is not None:
            enabled, action = posted.get(f"enabled:{name}") == "on", posted.get(f"action:{name}", action)
            for param, default in rule.params.items():
                field = f"param:{name}:{param}"
                shown[param] = (
                    (posted.get(field) == "on") if isinstance(default, bool) else posted.get(field, shown[param])
                )
        rows.append(
            {
                "rule": rule,
                "enabled": enabled,
                "action": action,
                "params": [
                    {
                        "name": param,
                        "value": shown[param],
                        "kind": (
                            "list"
                            if isinstance(default, list)
                            else "bool"
                            if isinstance(default, bool)
                            else "int"
                            if isinstance(default, int)
                            else "float"
                            if isinstance(default, float)
                            else "text"
                        ),
                        "default": default,
                        "field": f"param:{name}:{param}",
                    }
                    for param, default in rule.params.items()
                ],
            }
        )
    return rows
