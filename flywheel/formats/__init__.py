"""Date and number formats per language, over Django's own (settings.FORMAT_MODULE_PATH).

Templates name a format (`|date:"SHORT_DATETIME_FORMAT"`), never a pattern, so each language
shows dates its own way: English keeps the ISO-like 2026-12-06 14:05 that engineers sort and
grep by; Simplified Chinese reads 2026年12月6日 14:05.
"""
