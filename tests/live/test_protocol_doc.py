"""docs/protocol.md and live.protocol agree: the reference tables are the specs', every action and event
has an example, and every example is valid under the specs (so nothing documented is missing)."""

from __future__ import annotations

import json
import re

import msgspec
import pytest

from live import protocol
from live.protocol import reference

DOC = reference.protocol_doc_path().read_text()


def _examples() -> list[str]:
    """Every JSON object in the document's ```json blocks, as written (the envelope's `<name>` aside)."""
    found = []
    decoder = json.JSONDecoder()
    for block in re.findall(r"```json\n(.*?)```", DOC, re.S):
        position = 0
        while True:
            while position < len(block) and block[position].isspace():
                position += 1
            if position >= len(block):
                break
            _, end = decoder.raw_decode(block, position)
            text = block[position:end]
            if "<name>" not in text:
                found.append(text)
            position = end
    return found


JSON_LINES = _examples()


def test_the_reference_tables_are_written_from_the_specs():
    assert reference.render(DOC) == DOC, "run `python manage.py protocol_doc --write`"
    for name in ("actions", "events", "limits"):
        assert f"<!-- reference:{name} -->" in DOC


def test_every_action_and_event_has_an_example():
    actions = {json.loads(line).get("action") for line in JSON_LINES if '"action"' in line and '"event"' not in line}
    events = {json.loads(line).get("event") for line in JSON_LINES if '"event"' in line}
    assert set(protocol.ACTIONS) <= actions, set(protocol.ACTIONS) - actions
    assert set(protocol.EVENTS) <= events, set(protocol.EVENTS) - events


@pytest.mark.parametrize("line", [line for line in JSON_LINES if '"action"' in line and '"event"' not in line])
def test_every_action_example_decodes(line):
    protocol.decode_frame(line)


@pytest.mark.parametrize("line", [line for line in JSON_LINES if '"event"' in line])
def test_every_event_example_fits_its_spec(line):
    message = json.loads(line)
    if "seq" not in message:
        message["seq"] = 0  # the audio section's short examples leave it out
    event = msgspec.convert(message, protocol.events.ServerEvent)
    assert type(event) is protocol.EVENTS[message["event"]]


def test_the_limits_in_the_prose_are_the_code_s():
    assert f"at most {protocol.MAX_FRAME // 1024} KiB" in DOC
    assert re.search(rf"\b{protocol.MAX_REQUESTS_IN_SNAPSHOT}\b", DOC)
    assert f"{protocol.MAX_SDP // 1024} KiB" in DOC
