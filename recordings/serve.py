"""Serving recording files: from the site itself with HTTP Range on a filesystem storage (the embedded
default: players seek with `206 Partial Content`), or by redirect to a short-lived presigned URL on an
S3-compatible store, which answers Range itself."""

from __future__ import annotations

import re
from typing import Literal

from django.http import FileResponse, HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.utils.http import content_disposition_header

from .storage import is_local, recordings_storage

RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")
BLOCK = 64 * 1024

OGG = "audio/ogg; codecs=opus"
M4A = "audio/mp4"


def serve_file(request: HttpRequest, name: str, content_type: str, *, filename: str) -> HttpResponseBase:
    storage = recordings_storage()
    if not is_local(storage):
        return HttpResponseRedirect(storage.url(name))
    size = storage.size(name)
    requested = _range(request.headers.get("Range", ""), size)
    if requested is False:
        refused = HttpResponse(status=416)
        refused["Content-Range"] = f"bytes */{size}"
        return refused
    stored = storage.open(name, "rb")
    response: HttpResponseBase
    if requested is None:
        response = FileResponse(stored, content_type=content_type)
        response["Content-Length"] = str(size)
    else:
        start, end = requested
        stored.seek(start)
        response = StreamingHttpResponse(_slice(stored, end - start + 1), status=206, content_type=content_type)
        response["Content-Range"] = f"bytes {start}-{end}/{size}"
        response["Content-Length"] = str(end - start + 1)
    response["Accept-Ranges"] = "bytes"
    response["Content-Disposition"] = content_disposition_header(False, filename) or "inline"
    response["Cache-Control"] = "private, max-age=3600"
    return response


def _range(header: str, size: int) -> tuple[int, int] | Literal[False] | None:
    """(first, last) byte asked for; None for the whole file; False when it can't be satisfied. A header
    this does not understand (several ranges, another unit) gets the whole file, as RFC 9110 allows."""
    match = RANGE.match(header.strip())
    if not match or not (match.group(1) or match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:  # the last N bytes
        length = int(last)
        if length == 0:
            return False
        return max(size - length, 0), size - 1
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or end < start:
        return False
    return start, end


def _slice(stored, length: int):  # noqa: ANN001, ANN202  (a file; a generator of bytes)
    try:
        while length > 0:
            block = stored.read(min(BLOCK, length))
            if not block:
                return
            length -= len(block)
            yield block
    finally:
        stored.close()
