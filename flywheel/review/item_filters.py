"""The engineers' item filter: parsed once from the query string, applied on the server both to
the list and to bulk actions, so "select all" means exactly the filtered set and never a list
of ids that happened to be on the page."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from django.db.models import QuerySet

from flywheel.review.models import ReviewItem

CLAIMED_CHOICES = ("", "yes", "no")


def _int_or_none(value) -> int | None:
    value = (str(value) if value is not None else "").strip()
    if value.lstrip("-").isdigit() and len(value) < 12:
        return int(value)
    return None


@dataclass(frozen=True)
class ItemFilter:
    queue_id: int
    status: str = ReviewItem.Status.OPEN
    subject_type: str = ""
    subject_id: str = ""
    session: str = ""
    claimed: str = ""
    priority_min: int | None = None
    priority_max: int | None = None
    upto_id: int | None = None
    """Items added after the engineer looked are not part of "all matching"."""
    ids: tuple[int, ...] = field(default=())
    """When set, only these (still within the filter)."""

    @classmethod
    def from_params(cls, queue_id: int, params) -> ItemFilter:
        status = params.get("status", ReviewItem.Status.OPEN)
        if status not in set(ReviewItem.Status.values) | {"all"}:
            status = ReviewItem.Status.OPEN
        claimed = params.get("claimed", "")
        return cls(
            queue_id=queue_id,
            status=status,
            subject_type=(params.get("subject_type") or "").strip()[:32],
            subject_id=(params.get("subject_id") or "").strip()[:128],
            session=(params.get("session") or "").strip()[:128],
            claimed=claimed if claimed in CLAIMED_CHOICES else "",
            priority_min=_int_or_none(params.get("priority_min")),
            priority_max=_int_or_none(params.get("priority_max")),
            upto_id=_int_or_none(params.get("upto_id")),
        )

    def with_ids(self, ids) -> ItemFilter:
        return ItemFilter(**{**asdict(self), "ids": tuple(sorted({int(i) for i in ids if str(i).isdigit()}))})

    def as_dict(self) -> dict:
        data = asdict(self)
        data["ids"] = list(self.ids)
        return data

    @classmethod
    def from_dict(cls, data: dict) -> ItemFilter:
        return cls(**{**data, "ids": tuple(data.get("ids") or ())})

    def query_params(self) -> dict:
        """The filter as it appears in the list's URL (for links and hidden form fields)."""
        params = {
            "status": self.status,
            "subject_type": self.subject_type,
            "subject_id": self.subject_id,
            "session": self.session,
            "claimed": self.claimed,
            "priority_min": "" if self.priority_min is None else self.priority_min,
            "priority_max": "" if self.priority_max is None else self.priority_max,
        }
        return {k: v for k, v in params.items() if v != ""}

    def apply(self, queryset: QuerySet | None = None) -> QuerySet:
        qs = (queryset if queryset is not None else ReviewItem.objects.all()).filter(queue_id=self.queue_id)
        if self.status != "all":
            qs = qs.filter(status=self.status)
        if self.subject_type:
            qs = qs.filter(subject_type=self.subject_type)
        if self.subject_id:
            qs = qs.filter(subject_id=self.subject_id)
        if self.session:
            qs = qs.filter(session__external_id=self.session)
        if self.claimed == "yes":
            qs = qs.filter(active_claims__gt=0)
        elif self.claimed == "no":
            qs = qs.filter(active_claims=0)
        if self.priority_min is not None:
            qs = qs.filter(priority__gte=self.priority_min)
        if self.priority_max is not None:
            qs = qs.filter(priority__lte=self.priority_max)
        if self.upto_id is not None:
            qs = qs.filter(id__lte=self.upto_id)
        if self.ids:
            qs = qs.filter(id__in=self.ids)
        return qs
