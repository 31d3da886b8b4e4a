"""Small pieces every page shares: icons, times, durations, avatar colours. `{% load ui %}`.

Times are rendered once on the server in UTC, in the one format the site uses, and static/js/site.js
rewrites them in the viewer's time zone (the fallback reads right without JavaScript).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django import template
from django.template.defaultfilters import date as format_date
from django.utils import timezone
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.timesince import timesince
from lucide.templatetags.lucide import lucide

register = template.Library()

# The site's one way to write a moment; static/js/site.js says the same in the viewer's zone and locale.
SERVER_FORMAT = "D j M Y, H:i"
HUE_STEP = 10  # avatar colours in 36 steps: a CSS class each (inline styles are refused by the CSP)


@register.simple_tag
def icon(name: str, size: int = 18, label: str = "") -> SafeString:
    """A lucide SVG icon. Decorative (hidden from screen readers) unless `label` names it."""
    attributes = {"class": "icon", "focusable": "false"}
    if label:
        attributes.update(role="img", **{"aria-label": label})
    else:
        attributes["aria-hidden"] = "true"
    return mark_safe(lucide(name, size=size, **attributes))  # noqa: S308 - lucide's own SVG markup


def ago_text(moment: datetime, now: datetime | None = None) -> str:
    """Say how long ago in one unit, as a person would: "just now", "5 minutes ago", "3 hours ago"."""
    now = now or timezone.now()
    if now - moment < timedelta(minutes=1):
        return "just now"
    return f"{timesince(moment, now, depth=1)} ago"


@register.simple_tag
def when(moment: datetime | None, style: str = "datetime") -> SafeString | str:
    """<time> for `moment`: "datetime" (weekday, date, time and zone) or "ago" (relative, the full
    moment on hover)."""
    if moment is None:
        return ""
    iso = moment.isoformat()
    full = f"{format_date(moment, SERVER_FORMAT)} UTC"
    if style == "ago":
        return format_html('<time datetime="{}" data-when="ago" title="{}">{}</time>', iso, full, ago_text(moment))
    return format_html('<time datetime="{}" data-when="datetime">{}</time>', iso, full)


@register.filter
def duration(start: datetime | None, end: datetime | None) -> str:
    """How long from `start` to `end`: "under a minute", "2 minutes", "1 hour, 5 minutes"."""
    if start is None or end is None:
        return ""
    if end - start < timedelta(minutes=1):
        return "under a minute"
    return timesince(start, end, depth=2)


@register.filter
def hue_class(hue: int | str | None) -> str:
    """The avatar colour class for a hue in degrees ("hue-27" for 270°), see static/css/app.css."""
    try:
        degrees = int(hue or 0)
    except (TypeError, ValueError):
        degrees = 0
    return f"hue-{round(degrees / HUE_STEP) % (360 // HUE_STEP)}"


@register.simple_tag(takes_context=True)
def absolute_url(context: template.Context, path: str) -> str:
    """`path` as a full URL on this site (for share links and Open Graph tags)."""
    return context["request"].build_absolute_uri(path)


# Reactions are emoji (they are the content); these words name them for screen readers and tooltips, and
# say what a button is where no emoji font draws it.
REACTION_NAMES = {
    "😂": "laughing",
    "😲": "astonished",
    "😢": "crying",
    "💜": "purple heart",
    "💯": "hundred points",
    "👏": "clapping",
    "✊": "raised fist",
    "👍": "thumbs up",
    "👎": "thumbs down",
    "👋": "waving",
}


@register.filter
def reaction_name(emoji: str) -> str:
    return REACTION_NAMES.get(emoji, emoji)
