"""The upload cap, applied while an upload arrives (the first of FILE_UPLOAD_HANDLERS).

Django parses a multipart body before any view runs (the CSRF check reads the form), writing
each file to a temporary file. This handler counts each file's bytes as they arrive and, past
FLYWHEEL_UPLOAD_MAX_BYTES, drops the file: the bytes written so far are deleted, the rest is
read and discarded, and the request remembers the refusal so the view can say why the file is
missing. DATA_UPLOAD_MAX_MEMORY_SIZE and FILE_UPLOAD_MAX_MEMORY_SIZE do not do this: the first
ignores files, the second only decides between memory and a temporary file.
"""

from __future__ import annotations

from django.conf import settings
from django.core.files.uploadhandler import FileUploadHandler, SkipFile
from django.template.defaultfilters import filesizeformat


def upload_limit_message() -> str:
    limit = settings.FLYWHEEL_UPLOAD_MAX_BYTES
    return f"larger than the upload limit of {filesizeformat(limit)} ({limit} bytes, FLYWHEEL_UPLOAD_MAX_BYTES)"


def uploads_refused(request) -> list[str]:
    """Names of the files this request's upload cap dropped."""
    return getattr(request, "flywheel_uploads_refused", [])


class CappedUploadHandler(FileUploadHandler):
    def new_file(self, field_name, file_name, content_type, content_length, charset=None, content_type_extra=None):
        super().new_file(field_name, file_name, content_type, content_length, charset, content_type_extra)
        self.received = 0
        if content_length is not None and content_length > settings.FLYWHEEL_UPLOAD_MAX_BYTES:
            self._refuse()

    def receive_data_chunk(self, raw_data, start):
        self.received += len(raw_data)
        if self.received > settings.FLYWHEEL_UPLOAD_MAX_BYTES:
            self._refuse()
        return raw_data

    def file_complete(self, file_size):
        return None  # the next handlers keep the file

    def _refuse(self):
        self.request.flywheel_uploads_refused = [*uploads_refused(self.request), self.file_name or "upload"]
        raise SkipFile()
