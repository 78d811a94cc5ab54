"""Log filters for the web tier."""

from __future__ import annotations

import logging


class OneLineRefusals(logging.Filter):
    """A refused request (403) is expected traffic, not a fault: Django logs it with the
    PermissionDenied's traceback, which buries real errors. Keep one line, with the reason."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "status_code", None) == 403 and record.exc_info:
            reason = record.exc_info[1]
            record.msg = f"{record.msg} ({reason})" if reason and str(reason) else record.msg
            record.exc_info = None
            record.exc_text = None
        return True
