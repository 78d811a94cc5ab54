from django.contrib import admin

from flywheel.construction.models import (
    BadCase,
    BadCaseReason,
    Candidate,
    ConstructedPair,
    ConstructionRun,
    Judgement,
    LLMCall,
    SeedPrompt,
    SftAnswer,
    SyntheticSample,
)


class ReasonInline(admin.TabularInline):
    model = BadCaseReason
    extra = 0
    readonly_fields = ("source", "detail", "created_at")


@admin.register(BadCase)
class BadCaseAdmin(admin.ModelAdmin):
    list_display = ("id", "message", "status", "sft_refusal", "pair_refusal", "mined_at")
    list_filter = ("status",)
    raw_id_fields = ("message", "session", "run")
    inlines = [ReasonInline]


@admin.register(ConstructionRun)
class ConstructionRunAdmin(admin.ModelAdmin):
    list_display = ("id", "kind", "status", "job", "created_by", "created_at", "finished_at")
    list_filter = ("kind", "status")
    raw_id_fields = ("job",)


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "purpose", "model", "prompt_version", "requests", "ok", "cost_usd", "created_at")
    list_filter = ("purpose", "ok")
    raw_id_fields = ("run", "bad_case", "synthetic")


@admin.register(Candidate)
class CandidateAdmin(admin.ModelAdmin):
    list_display = ("id", "bad_case", "index", "source", "score", "length_chars")
    raw_id_fields = ("bad_case", "duplicate_of", "llm_call")


@admin.register(Judgement)
class JudgementAdmin(admin.ModelAdmin):
    list_display = ("id", "bad_case", "key", "ok", "score", "winner", "model", "prompt_version")
    raw_id_fields = ("bad_case", "candidate", "other", "llm_call", "run")


@admin.register(SftAnswer)
class SftAnswerAdmin(admin.ModelAdmin):
    list_display = ("id", "bad_case", "score", "status", "edited", "reviewer")
    list_filter = ("status",)
    raw_id_fields = ("bad_case", "candidate", "run")


@admin.register(ConstructedPair)
class ConstructedPairAdmin(admin.ModelAdmin):
    list_display = ("id", "bad_case", "margin", "status", "swapped", "reviewer")
    list_filter = ("status",)
    raw_id_fields = ("bad_case", "chosen", "rejected", "run")


@admin.register(SeedPrompt)
class SeedPromptAdmin(admin.ModelAdmin):
    list_display = ("id", "task_type", "text", "active")
    list_filter = ("task_type", "active")


@admin.register(SyntheticSample)
class SyntheticSampleAdmin(admin.ModelAdmin):
    list_display = ("id", "run", "slot", "method", "variant", "status", "similarity")
    list_filter = ("method", "status")
    exclude = ("embedding",)
    raw_id_fields = ("run", "seed")
