from django.contrib import admin

from flywheel.ingest.models import ChatSession, Feedback, ImportFile, Message, PreferencePair


@admin.register(ChatSession)
class ChatSessionAdmin(admin.ModelAdmin):
    list_display = ["external_id", "app", "channel", "model_version", "started_at", "source"]
    search_fields = ["external_id"]
    show_full_result_count = False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = ["external_id", "session", "seq", "role", "created_at"]
    search_fields = ["external_id"]
    raw_id_fields = ["session", "alternative_to"]
    show_full_result_count = False


@admin.register(Feedback)
class FeedbackAdmin(admin.ModelAdmin):
    list_display = ["external_id", "message", "rating", "created_at"]
    raw_id_fields = ["message"]
    show_full_result_count = False


admin.site.register(PreferencePair, raw_id_fields=["session", "chosen", "rejected"])
admin.site.register(ImportFile)
