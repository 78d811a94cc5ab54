"""A configured rule set, and the pure evaluation of one session against it.

Engineers configure rules per app (the session's `app`): on/off, action (drop or flag; fix
rules only fix) and parameters. What is stored in the database is only the overrides; they
are merged over each rule's defaults here and validated, so a bad value is refused with a
clear message instead of breaking a run later.

`evaluate_session` does no I/O: the pipeline, the benchmark and the tests all call it.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field

from flywheel.cleaning.pii import SCRUBBER_VERSION, ScrubResult, scrub_text
from flywheel.cleaning.rules import DROP, FIX, FLAG, RULES, Hit, MessageView, Rule

PII_RULE = "pii"
DUPLICATE_RULE = "duplicate"
KEPT, FLAGGED, DROPPED = "kept", "flagged", "dropped"
_MAX_REASONS = 20


class RuleConfigError(ValueError):
    """A rule configuration that cannot be used; the message says which value and why."""


def _digest(value) -> str:
    return hashlib.sha1(json.dumps(value, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:12]


@dataclass(frozen=True)
class ConfiguredRule:
    rule: Rule
    action: str
    params: dict
    # Results are unique per (target, rule, version, config_hash): a re-run with other
    # parameters or another action adds results instead of overwriting the old ones.
    config_hash: str


@dataclass(frozen=True)
class RuleSet:
    rules: tuple[ConfiguredRule, ...]
    dedup_sessions: bool = True
    dedup_prompts: bool = True
    fingerprint: str = ""

    def get(self, name: str) -> ConfiguredRule | None:
        return next((c for c in self.rules if c.rule.name == name), None)


def _check_param(rule: Rule, name: str, value, default):
    where = f"{rule.name}.{name}"
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RuleConfigError(f"{where} must be true or false")
    elif isinstance(default, int):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise RuleConfigError(f"{where} must be a whole number of 0 or more")
    elif isinstance(default, float):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RuleConfigError(f"{where} must be a number")
        value = float(value)
        if "ratio" in name and not 0.0 <= value <= 1.0:
            raise RuleConfigError(f"{where} must be between 0 and 1")
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise RuleConfigError(f"{where} must be a list of strings")
        value = [item.strip() for item in value if item.strip()]
        if len(value) > 5000:
            raise RuleConfigError(f"{where} has more than 5000 entries")
        if name.endswith("patterns"):
            for pattern in value:
                try:
                    re.compile(pattern)
                except re.error as exc:
                    raise RuleConfigError(f"{where}: {pattern!r} is not a valid regular expression ({exc})") from None
    elif not isinstance(value, type(default)):
        raise RuleConfigError(f"{where} must be a {type(default).__name__}")
    return value


def validate_overrides(raw) -> dict:
    """Normalise stored or submitted overrides; raise RuleConfigError on anything unusable."""
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise RuleConfigError("the configuration must be an object")
    unknown_keys = set(raw) - {"rules", "dedup_sessions", "dedup_prompts"}
    if unknown_keys:
        raise RuleConfigError(f"unknown configuration keys: {', '.join(sorted(unknown_keys))}")
    rules = raw.get("rules") or {}
    if not isinstance(rules, dict):
        raise RuleConfigError('"rules" must be an object keyed by rule name')
    clean: dict = {"rules": {}}
    for name, override in rules.items():
        rule = RULES.get(name)
        if rule is None:
            raise RuleConfigError(f"unknown rule {name!r}; known rules: {', '.join(RULES)}")
        if not isinstance(override, dict):
            raise RuleConfigError(f"the settings of rule {name!r} must be an object")
        unknown = set(override) - {"enabled", "action", "params"}
        if unknown:
            raise RuleConfigError(f"rule {name!r}: unknown settings {', '.join(sorted(unknown))}")
        entry = {}
        if "enabled" in override:
            if not isinstance(override["enabled"], bool):
                raise RuleConfigError(f"rule {name!r}: enabled must be true or false")
            entry["enabled"] = override["enabled"]
        if "action" in override:
            if override["action"] not in rule.allowed_actions:
                raise RuleConfigError(f"rule {name!r}: action must be one of {', '.join(rule.allowed_actions)}")
            entry["action"] = override["action"]
        params = override.get("params") or {}
        if not isinstance(params, dict):
            raise RuleConfigError(f"rule {name!r}: params must be an object")
        bad = set(params) - set(rule.params)
        if bad:
            raise RuleConfigError(f"rule {name!r}: unknown parameters {', '.join(sorted(bad))}")
        if params:
            entry["params"] = {key: _check_param(rule, key, value, rule.params[key]) for key, value in params.items()}
        clean["rules"][name] = entry
    for key in ("dedup_sessions", "dedup_prompts"):
        if key in raw:
            if not isinstance(raw[key], bool):
                raise RuleConfigError(f"{key} must be true or false")
            clean[key] = raw[key]
    return clean


def ruleset_from_overrides(raw: dict | None) -> RuleSet:
    overrides = validate_overrides(raw)
    configured = []
    for name, rule in RULES.items():
        override = overrides["rules"].get(name, {})
        if not override.get("enabled", rule.enabled):
            continue
        action = override.get("action", rule.action)
        params = {**rule.params, **override.get("params", {})}
        configured.append(
            ConfiguredRule(
                rule=rule,
                action=action,
                params=params,
                config_hash=_digest({"v": rule.version, "action": action, "params": params}),
            )
        )
    dedup_sessions = overrides.get("dedup_sessions", True)
    dedup_prompts = overrides.get("dedup_prompts", True)
    fingerprint = _digest(
        {
            "rules": [(c.rule.name, c.config_hash) for c in configured],
            "pii": SCRUBBER_VERSION,
            "dedup": [dedup_sessions, dedup_prompts],
        }
    )
    return RuleSet(
        rules=tuple(configured), dedup_sessions=dedup_sessions, dedup_prompts=dedup_prompts, fingerprint=fingerprint
    )


# --- evaluation -------------------------------------------------------------------------------


@dataclass(frozen=True)
class MessageInput:
    id: int
    role: str
    content: str
    alternative: bool = False  # a competing answer, not part of the transcript


@dataclass(frozen=True)
class Result:
    """One stored verdict of one rule on one message (or on the session: message_id None)."""

    message_id: int | None
    rule: str
    version: int
    config_hash: str
    action: str
    reason: str
    detail: dict = field(default_factory=dict)


@dataclass
class MessageOutcome:
    id: int
    role: str
    text: str  # after fix rules
    changed: bool
    language: str
    status: str
    scrub: ScrubResult
    alternative: bool


@dataclass
class SessionOutcome:
    messages: list[MessageOutcome]
    results: list[Result]
    status: str
    reasons: list[str]


def _status(actions) -> str:
    actions = set(actions)
    return DROPPED if DROP in actions else FLAGGED if FLAG in actions else KEPT


def _result(configured: ConfiguredRule, message_id: int | None, hit: Hit) -> Result:
    return Result(
        message_id=message_id,
        rule=configured.rule.name,
        version=configured.rule.version,
        config_hash=configured.config_hash,
        action=configured.action,
        reason=hit.reason[:500],
        detail=hit.detail,
    )


def _pii_result(message_id: int, scrub: ScrubResult, *, alternative: bool) -> Result | None:
    if not scrub.ok:
        # Fail closed: the turn cannot go to an LLM, so the session cannot be labelled either.
        action = FLAG if alternative else DROP
        return Result(message_id, PII_RULE, SCRUBBER_VERSION, "", action, scrub.error[:500])
    if not scrub.findings:
        return None
    counts: dict[str, int] = {}
    for finding in scrub.findings:
        counts[finding["type"]] = counts.get(finding["type"], 0) + 1
    reason = "replaced " + ", ".join(f"{n} {kind}" for kind, n in sorted(counts.items()))
    return Result(message_id, PII_RULE, SCRUBBER_VERSION, "", FIX, reason, {"types": counts})


def evaluate_session(
    messages: list[MessageInput], ruleset: RuleSet, *, pii_max_chars: int | None = None
) -> SessionOutcome:
    """Run the rule set over one session's messages (transcript order, alternatives included)."""
    fixes = [c for c in ruleset.rules if c.rule.target == "message" and c.rule.is_fix]
    checks = [c for c in ruleset.rules if c.rule.target == "message" and not c.rule.is_fix]
    session_rules = [c for c in ruleset.rules if c.rule.target == "session"]
    results: list[Result] = []
    outcomes: list[MessageOutcome] = []
    views: list[MessageView] = []
    for message in messages:
        view = MessageView(role=message.role, text=message.content or "")
        own: list[Result] = []
        for configured in fixes:
            hit = configured.rule.func(view, configured.params)
            if hit is not None:
                own.append(_result(configured, message.id, hit))
                view.replace_text(hit.text)
        if not message.alternative:
            for configured in checks:
                if configured.rule.roles is not None and message.role not in configured.rule.roles:
                    continue
                hit = configured.rule.func(view, configured.params)
                if hit is not None:
                    own.append(_result(configured, message.id, hit))
            views.append(view)
        scrub = scrub_text(view.text, max_chars=pii_max_chars)
        pii = _pii_result(message.id, scrub, alternative=message.alternative)
        if pii is not None:
            own.append(pii)
        results.extend(own)
        outcomes.append(
            MessageOutcome(
                id=message.id,
                role=message.role,
                text=view.text,
                changed=view.text != (message.content or ""),
                language=view.language,
                status=_status(r.action for r in own),
                scrub=scrub,
                alternative=message.alternative,
            )
        )
    for configured in session_rules:
        hit = configured.rule.func(views, configured.params)
        if hit is not None:
            results.append(_result(configured, None, hit))
    alternatives = {o.id for o in outcomes if o.alternative}
    counted = [r for r in results if r.message_id not in alternatives]
    reasons: list[str] = []
    for r in counted:
        line = f"{r.rule}: {r.reason}"
        if r.action in (DROP, FLAG) and line not in reasons and len(reasons) < _MAX_REASONS:
            reasons.append(line)
    return SessionOutcome(
        messages=outcomes, results=results, status=_status(r.action for r in counted), reasons=reasons
    )
