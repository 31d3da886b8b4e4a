"""Template helpers for Spaces pages."""

from __future__ import annotations

import re

from django import template
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from ..models import Space

register = template.Library()

# http(s) URLs up to whitespace or an angle bracket; trailing punctuation is left outside the link.
URL_RE = re.compile(r"https?://[^\s<>\"']+", re.IGNORECASE)
TRAILING = ".,;:!?)]}'\""


def _link(match: re.Match) -> str:
    url = match.group(0)
    tail = ""
    while url and url[-1] in TRAILING:
        # Keep a closing parenthesis that belongs to the URL, as in Wikipedia links.
        if url[-1] == ")" and url.count("(") >= url.count(")"):
            break
        url, tail = url[:-1], url[-1] + tail
    # The text was escaped before matching, so the URL holds &amp; etc. and is safe inside the attribute.
    return f'<a href="{url}" rel="nofollow noopener noreferrer" target="_blank">{url}</a>{tail}'


@register.filter(is_safe=True)
def linkify(text: str | None) -> SafeString:
    """Escape `text`, then turn http(s) URLs into links. Nothing the author typed becomes markup."""
    return mark_safe(URL_RE.sub(_link, escape(text or "")))  # noqa: S308 - escaped first


@register.inclusion_tag("rooms/_hosted_spaces.html", takes_context=True)
def hosted_spaces(context: template.Context, person) -> dict:
    """A profile's Spaces: live, upcoming and the last 20 past ones, as the viewer may see them."""
    request = context["request"]
    # visible_to() hides the Spaces of a host who blocked the viewer; for_cards() prefetches the stage.
    spaces = Space.objects.filter(host=person).visible_to(request.user).for_cards()
    return {
        "request": request,
        "user": context.get("user"),
        "blocks_me": context.get("blocks_me", False),
        "live_spaces": list(spaces.filter(state=Space.State.LIVE)),
        "upcoming_spaces": list(spaces.filter(state=Space.State.SCHEDULED).order_by("scheduled_for")),
        "past_spaces": list(spaces.filter(state=Space.State.ENDED).order_by("-ended_at")[:20]),
    }
