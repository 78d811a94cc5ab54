from django.contrib import admin

from flywheel.llm.models import LLMCacheEntry, LLMUsage


@admin.register(LLMUsage)
class LLMUsageAdmin(admin.ModelAdmin):
    list_display = (
        "job",
        "role",
        "model",
        "calls",
        "failed_calls",
        "cache_hits",
        "reasks",
        "prompt_tokens",
        "completion_tokens",
        "cost_usd",
    )
    list_filter = ("role", "model")


@admin.register(LLMCacheEntry)
class LLMCacheEntryAdmin(admin.ModelAdmin):
    list_display = ("key", "role", "model", "prompt_version", "created_at")
    list_filter = ("role", "model", "prompt_version")
    search_fields = ("key",)
