"""Client frames in: one msgspec pass against the action specs, and errors a person can read.

The websocket and the HTTP fallback both come through here, so both refuse unknown actions, unknown
fields, wrong types and values outside their limits in the same words.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import msgspec

from .actions import Action, ClientAction
from .limits import MAX_FRAME, MAX_NESTING

_decoder = msgspec.json.Decoder(ClientAction)


class BadMessage(ValueError):
    """A frame that does not fit the protocol. str() is the reason sent back; `action` names the action
    when the frame had a usable one."""

    def __init__(self, reason: str, action: str | None = None) -> None:
        super().__init__(reason)
        self.action = action


class TooBig(BadMessage):
    """Over MAX_FRAME: the socket is closed after the error."""


# What a constraint failure means, per argument (a type mismatch always reads "must be a string").
_INVALID = {
    "user": "“user” must be a handle.",
    "emoji": "“emoji” is too long.",
    "sdp": "“sdp” is too long.",
    "text": "“text” is too long.",
    "slow_seconds": "“slow_seconds” is out of range.",
    "url": "“url” is too long.",
}
_AT = re.compile(r" - at `\$\.(\w+)`")
_STRINGS_AND_BRACKETS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def decode_frame(text: str) -> Action:
    """A websocket text frame -> the action it asks for. Raises BadMessage."""
    if len(text) > MAX_FRAME or len(text.encode()) > MAX_FRAME:
        raise TooBig(f"The message is larger than {MAX_FRAME // 1024} KiB.")
    if _nesting(text) > MAX_NESTING:
        raise BadMessage("The message is nested too deeply.")
    try:
        return _decoder.decode(text)
    except msgspec.ValidationError as exc:  # a subclass of DecodeError: first
        raise BadMessage(_explain(str(exc)), _action_of(text)) from None
    except msgspec.DecodeError:
        raise BadMessage("The message isn't valid JSON.") from None


def decode_fields(action: str, fields: Mapping[str, str]) -> Action:
    """The HTTP fallback: the action named in the URL, its arguments from form fields or a JSON object.
    An empty field counts as not given. Raises BadMessage, with the same reasons as the websocket."""
    data: dict[str, object] = {name: value for name, value in fields.items() if value != ""}
    data["action"] = action
    try:
        # Not strict: a form field's "true"/"false" reads as a boolean (`on`); every other argument is a string.
        return msgspec.convert(data, ClientAction, strict=False)
    except msgspec.ValidationError as exc:
        raise BadMessage(_explain(str(exc)), action[:40]) from None


def _explain(problem: str) -> str:
    """msgspec's validation message -> the protocol's words."""
    at = _AT.search(problem)
    field = at.group(1) if at else None
    if problem.startswith("Object missing required field `action`") or field == "action" and "Expected" in problem:
        return "A message needs an “action”."
    if field == "action":  # "Invalid value 'x'": the tag names no action
        name = re.search(r"Invalid value '(.*)'", problem)
        return f"Unknown action “{(name.group(1) if name else '?')[:40]}”."
    if problem.startswith("Expected `object`"):
        return "A message is a JSON object."
    missing = re.match(r"Object missing required field `(\w+)`", problem)
    if missing:
        return f"“{missing.group(1)}” is missing."
    unknown = re.match(r"Object contains unknown field `(.*)`", problem)
    if unknown:
        return f"Unexpected field “{unknown.group(1)[:40]}”."
    if problem.startswith("“"):  # an action's own check (__post_init__) says what is wrong in its words
        return problem
    if field is not None and "Expected `int" in problem and ", got `" in problem:
        return f"“{field}” must be a whole number."
    if field is not None and "Expected `bool`" in problem:
        return f"“{field}” must be true or false."
    if field is not None and ", got `" in problem:
        return f"“{field}” must be a string."
    if field is not None:
        return _INVALID.get(field, f"“{field}” isn't valid.")
    return "The message doesn't fit the protocol."


def _action_of(text: str) -> str | None:
    # Name the action in the error when the frame had one, trusting nothing else in it.
    try:
        found = msgspec.json.decode(text, type=_ActionName)
    except (msgspec.DecodeError, RecursionError):
        return None
    return found.action[:40] if isinstance(found.action, str) else None


class _ActionName(msgspec.Struct):
    action: object = None


def _nesting(text: str) -> int:
    """How deep brackets go outside strings. Cheap for real frames: only counted when brackets abound."""
    if text.count("[") + text.count("{") <= MAX_NESTING:
        return 1
    depth = deepest = 0
    for token in _STRINGS_AND_BRACKETS.finditer(text):
        mark = token.group()
        if mark in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif mark in "]}":
            depth -= 1
    return deepest
