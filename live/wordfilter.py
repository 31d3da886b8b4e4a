"""The operator's word filter for room chat: `SPACES_CHAT_BLOCKED_WORDS`.

The setting is either the path of a file (one word or phrase per line; blank lines and lines starting with
`#` are skipped; the file is read again when it changes) or a comma-separated list. A message that holds a
blocked word or phrase as a whole word is refused, not masked: its author sees why and keeps the text, and
nobody else reads a half-hidden insult. Matching ignores case and compatibility forms (NFKC: fullwidth
letters, ligatures), so "ＢＡＤ" is "bad".
"""

from __future__ import annotations

import logging
import os
import re
import unicodedata
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)

_cache: dict[str, tuple[float | None, re.Pattern[str] | None]] = {}


def _normal(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _words(value: str) -> tuple[float | None, list[str]]:
    """The words a setting names, and the file's mtime when it names a file."""
    path = Path(value).expanduser()
    if os.sep in value and path.is_file():
        mtime = path.stat().st_mtime
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        return mtime, [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return None, [word.strip() for word in value.split(",") if word.strip()]


def _pattern(value: str) -> re.Pattern[str] | None:
    cached = _cache.get(value)
    if cached is not None:
        mtime, pattern = cached
        if mtime is None:
            return pattern
        try:
            if Path(value).expanduser().stat().st_mtime == mtime:
                return pattern
        except OSError:
            return pattern  # the file went away: keep the words we had rather than allow everything
    try:
        mtime, words = _words(value)
    except OSError:
        logger.warning("SPACES_CHAT_BLOCKED_WORDS: can't read %s", value, exc_info=True)
        return cached[1] if cached else None
    alternatives = sorted({re.escape(_normal(word)) for word in words}, key=len, reverse=True)
    pattern = re.compile(rf"(?<!\w)(?:{'|'.join(alternatives)})(?!\w)") if alternatives else None
    _cache[value] = (mtime, pattern)
    return pattern


def blocked(text: str) -> bool:
    """Whether `text` holds a word or phrase the operator blocked."""
    value = settings.SPACES_CHAT_BLOCKED_WORDS
    if not value:
        return False
    pattern = _pattern(value)
    return bool(pattern and pattern.search(_normal(text)))
