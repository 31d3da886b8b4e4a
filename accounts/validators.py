"""Text that people type and others read: names, handles, titles, descriptions.

Control and format characters (Unicode categories Cc and Cf) are invisible or rewrite what surrounds
them: a newline in a display name broke every notification e-mail of its host (a header cannot hold
one), and bidi overrides or zero-width characters make one name look like another. Single-line text
refuses them all, and line and paragraph separators too; text that may span lines (a bio, a Space's
description) keeps newlines and tabs.

Kept: the zero-width joiner and non-joiner, which some scripts and emoji sequences (woman + ZWJ +
laptop) need, and the tag characters of subdivision flags (Scotland, Wales).

Existing rows are never rewritten: the rule applies when text is entered or edited.
"""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError
from django.utils.deconstruct import deconstructible

_REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp"})
_ALLOWED_FORMAT = frozenset({"\u200c", "\u200d"})  # zero-width non-joiner and joiner
_TAGS = range(0xE0020, 0xE0080)  # emoji tag sequences (subdivision flags)
_MULTILINE_WHITESPACE = frozenset({"\n", "\r", "\t"})


def describe(char: str) -> str:
    """How an error message names a refused character."""
    names = {"\n": "a line break", "\r": "a line break", "\t": "a tab", "\x00": "a null character"}
    if char in names:
        return names[char]
    name = unicodedata.name(char, "")
    return f"an invisible character (U+{ord(char):04X}{' ' + name if name else ''})"


def first_refused_character(value: str, *, multiline: bool = False) -> str | None:
    """The first control or format character `value` may not hold, or None when it is clean."""
    for char in value:
        if unicodedata.category(char) not in _REFUSED_CATEGORIES:
            continue
        if char in _ALLOWED_FORMAT or ord(char) in _TAGS:
            continue
        if multiline and char in _MULTILINE_WHITESPACE:
            continue
        return char
    return None


@deconstructible
class PrintableTextValidator:
    """Refuses control and format characters; `multiline` keeps newlines and tabs."""

    code = "control_characters"

    def __init__(self, multiline: bool = False) -> None:
        self.multiline = multiline

    def __call__(self, value: str) -> None:
        char = first_refused_character(str(value), multiline=self.multiline)
        if char is not None:
            raise ValidationError(
                "This can't contain %(what)s. Type it again without it.",
                code=self.code,
                params={"what": describe(char)},
            )

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PrintableTextValidator) and other.multiline == self.multiline

    def __hash__(self) -> int:
        return hash((type(self), self.multiline))


single_line_text = PrintableTextValidator()
multiline_text = PrintableTextValidator(multiline=True)
