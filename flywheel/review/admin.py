"""Read-only views of the review tables for admins; changes go through the review pages, whose
services keep the counters and the audit log right."""

from django.contrib import admin

from flywheel.review.models import ReviewAssignment, ReviewItem, ReviewQueue


class ReadOnly(admin.ModelAdmin):
    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(ReviewQueue)
class ReviewQueueAdmin(ReadOnly):
    list_display = [
        "slug",
        "name",
        "kind",
        "priority",
        "reviewers_per_item",
        "audience",
        "active",
        "items_total",
        "items_finished",
    ]


@admin.register(ReviewItem)
class ReviewItemAdmin(ReadOnly):
    list_display = [
        "id",
        "queue",
        "kind",
        "subject_type",
        "subject_id",
        "status",
        "priority",
        "submitted_count",
        "reviewers_required",
    ]
    list_filter = ["status", "kind"]
    show_full_result_count = False  # no COUNT(*) over millions of items


@admin.register(ReviewAssignment)
class ReviewAssignmentAdmin(ReadOnly):
    list_display = ["id", "item_id", "reviewer", "state", "claimed_at", "finished_at"]
    list_filter = ["state"]
    show_full_result_count = False
