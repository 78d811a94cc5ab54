"""The duplicate index in the database: incremental matching of new items against stored ones.

For a batch, only the stored representatives that can matter are loaded: those with the same
exact hash, and those sharing at least one LSH band key. Everything else stays on disk, so a
run over new data costs the same whether a thousand or ten million items are stored. Callers
hold the cleaning lock (see services), so two jobs never elect two representatives for one text.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import connection

from flywheel.cleaning.dedup import Fingerprint, Match, NearDuplicateIndex, Prepared, fingerprints, signature_from_bytes
from flywheel.cleaning.models import DedupBand, DedupEntry

_IN_CHUNK = 5000


@dataclass(frozen=True)
class DedupItem:
    item_id: int  # session id (scope "session") or message id (scope "prompt")
    prepared: Prepared


@dataclass(frozen=True)
class DedupVerdict:
    representative_id: int | None  # session or message id of the kept item; None: this is kept
    similarity: float | None
    exact: bool = False


def _owner_field(scope: str) -> str:
    return "session_id" if scope == DedupEntry.Scope.SESSION else "message_id"


def _chunks(values: list, size: int = _IN_CHUNK):
    for start in range(0, len(values), size):
        yield values[start : start + size]


def dedup_assign(*, scope: str, items: list[DedupItem], threshold: float) -> dict[int, DedupVerdict]:
    """Match items against the stored index (and each other, in id order), store the new
    entries, and say for each item which item it duplicates. Items already indexed with the
    same content keep their earlier verdict, so a re-run changes nothing."""
    owner = _owner_field(scope)
    verdicts: dict[int, DedupVerdict] = {}
    items = sorted(items, key=lambda item: item.item_id)
    existing = {
        getattr(entry, owner): entry
        for entry in DedupEntry.objects.filter(
            scope=scope, **{f"{owner}__in": [i.item_id for i in items]}
        ).select_related("representative")
    }
    prints = dict(zip((i.item_id for i in items), fingerprints([i.prepared for i in items], scope=scope)))
    changed, todo = [], []
    for item in items:
        entry = existing.get(item.item_id)
        if entry is not None and entry.content_hash == prints[item.item_id].content_hash:
            rep = entry.representative
            verdicts[item.item_id] = DedupVerdict(
                getattr(rep, owner) if rep else None, entry.similarity, exact=entry.similarity == 1.0
            )
            continue
        if entry is not None:
            changed.append(entry.id)  # the session grew: index its new content afresh
        todo.append(item)
    if changed:
        DedupEntry.objects.filter(id__in=changed).delete()
    if not todo:
        return verdicts
    index, owner_of_entry = _candidate_index(scope, [prints[i.item_id] for i in todo], threshold)
    decisions: list[tuple[DedupItem, Match | None]] = []
    for item in todo:
        match = index.match_or_add(item.item_id, prints[item.item_id])
        decisions.append((item, match))
    _store(scope, decisions, prints, owner_of_entry)
    for item, match in decisions:
        if match is None:
            verdicts[item.item_id] = DedupVerdict(None, None)
        else:
            verdicts[item.item_id] = DedupVerdict(match.representative, match.similarity, match.exact)
    return verdicts


def _candidate_index(scope: str, prints: list[Fingerprint], threshold: float):
    """An in-memory index holding just the stored representatives these prints could match."""
    owner = _owner_field(scope)
    hashes = sorted({p.content_hash for p in prints})
    keys = sorted({key for p in prints for key in p.bands})
    keys_of_entry: dict[int, list[int]] = {}
    for chunk in _chunks(keys):
        for key, entry_id in DedupBand.objects.filter(key__in=chunk).values_list("key", "entry_id"):
            keys_of_entry.setdefault(entry_id, []).append(key)
    index = NearDuplicateIndex(threshold)
    owner_of_entry: dict[int, int] = {}
    representatives = DedupEntry.objects.filter(scope=scope, representative__isnull=True)
    rows = []
    for chunk in _chunks(hashes):
        rows.extend(
            representatives.filter(content_hash__in=chunk).values_list("id", owner, "content_hash", "signature")
        )
    for chunk in _chunks(sorted(keys_of_entry)):
        rows.extend(representatives.filter(id__in=chunk).values_list("id", owner, "content_hash", "signature"))
    for entry_id, owner_id, content_hash, signature in sorted(set(rows), key=lambda row: row[0]):
        owner_of_entry[owner_id] = entry_id
        sig = signature_from_bytes(signature)
        # Registered under the band keys this batch asks for; its other keys cannot match anyway.
        bands = tuple(keys_of_entry.get(entry_id, ())) if sig is not None else ()
        index.add(owner_id, Fingerprint(content_hash=content_hash, signature=sig, bands=bands))
    return index, owner_of_entry


def _store(scope: str, decisions, prints: dict[int, Fingerprint], owner_of_entry: dict[int, int]) -> None:
    owner = "session" if scope == DedupEntry.Scope.SESSION else "message"
    kept = [item for item, match in decisions if match is None]
    created = DedupEntry.objects.bulk_create(
        [
            DedupEntry(
                scope=scope,
                content_hash=prints[i.item_id].content_hash,
                signature=prints[i.item_id].signature_bytes(),
                **{f"{owner}_id": i.item_id},
            )
            for i in kept
        ]
    )
    for item, entry in zip(kept, created):
        owner_of_entry[item.item_id] = entry.id
    _insert_bands([(key, owner_of_entry[i.item_id]) for i in kept for key in prints[i.item_id].bands])
    DedupEntry.objects.bulk_create(
        [
            DedupEntry(
                scope=scope,
                content_hash=prints[item.item_id].content_hash,
                signature=None,
                representative_id=owner_of_entry[match.representative],
                similarity=match.similarity,
                **{f"{owner}_id": item.item_id},
            )
            for item, match in decisions
            if match is not None
        ]
    )


def _insert_bands(rows: list[tuple[int, int]], chunk: int = 5000) -> None:
    """Multi-row INSERTs: sixteen band rows per representative make this the biggest write of
    a cleaning batch, and building a model instance per row costs more than the insert."""
    table = DedupBand._meta.db_table
    with connection.cursor() as cursor:
        for start in range(0, len(rows), chunk):
            part = rows[start : start + chunk]
            values = ", ".join(["(%s, %s)"] * len(part))
            cursor.execute(f"INSERT INTO {table} (key, entry_id) VALUES {values}", [v for row in part for v in row])
