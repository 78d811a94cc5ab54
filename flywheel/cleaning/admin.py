"""Read-mostly admin views of cleaning rows; rules are edited on the cleaning pages, where
they are validated and audited."""

from django.contrib import admin

from flywheel.cleaning.models import MessageScrub, RuleResult, RuleSetConfig, SessionCleaning


@admin.register(RuleSetConfig)
class RuleSetConfigAdmin(admin.ModelAdmin):
    list_display = ("app", "updated_at", "updated_by")
    readonly_fields = ("app", "overrides", "updated_at", "updated_by")


@admin.register(SessionCleaning)
class SessionCleaningAdmin(admin.ModelAdmin):
    list_display = ("session", "app", "status", "duplicate_of", "language", "cleaned_at")
    list_filter = ("status", "app")
    raw_id_fields = ("session", "duplicate_of")
    readonly_fields = [f.name for f in SessionCleaning._meta.fields]
    show_full_result_count = False


@admin.register(RuleResult)
class RuleResultAdmin(admin.ModelAdmin):
    list_display = ("id", "rule", "rule_version", "action", "reason", "session", "message")
    list_filter = ("rule", "action")
    raw_id_fields = ("session", "message")
    readonly_fields = [f.name for f in RuleResult._meta.fields]
    show_full_result_count = False


@admin.register(MessageScrub)
class MessageScrubAdmin(admin.ModelAdmin):
    list_display = ("message", "ok", "has_findings", "scrubber_version", "scrubbed_at")
    list_filter = ("ok", "has_findings")
    raw_id_fields = ("message",)
    readonly_fields = [f.name for f in MessageScrub._meta.fields]
    show_full_result_count = False
