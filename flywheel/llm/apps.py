from django.apps import AppConfig


class LlmConfig(AppConfig):
    name = "flywheel.llm"
    label = "llm"
    verbose_name = "LLM calls"
