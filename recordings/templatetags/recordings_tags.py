from __future__ import annotations

import re

from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe

register = template.Library()


@register.filter
def clock(seconds: float | int | None) -> str:
    """Seconds as a player shows them: 4:05, or 1:02:03."""
    whole = max(int(seconds or 0), 0)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


@register.filter
def seconds(milliseconds: int | None) -> int:
    return int((milliseconds or 0) // 1000)


# Links in chat text, as the room draws them (static/rooms/chat.js): http(s) only, trailing punctuation left
# to the sentence, everything escaped.
CHAT_URL = re.compile(r"\bhttps?://[^\s<>\"']+", re.IGNORECASE)
SENTENCE_END = ".,;:!?)]"


@register.filter
def chat_links(text: str) -> SafeString:
    """Escaped chat text with its web addresses made links (rel="nofollow ugc noopener")."""
    parts, last = [], 0
    for match in CHAT_URL.finditer(text):
        url = match.group(0).rstrip(SENTENCE_END)
        parts.append(escape(text[last : match.start()]))
        parts.append(format_html('<a href="{}" rel="nofollow ugc noopener" target="_blank">{}</a>', url, url))
        last = match.start() + len(url)
    parts.append(escape(text[last:]))
    return mark_safe("".join(parts))  # noqa: S308 - every part is escaped above
