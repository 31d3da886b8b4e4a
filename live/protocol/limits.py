"""The protocol's numbers: sizes, rates, close codes, the reaction set."""

from __future__ import annotations

from typing import Literal

# --- Limits ------------------------------------------------------------------------------------------

MAX_FRAME = 16 * 1024  # bytes in one client frame
MAX_SDP = 12 * 1024  # characters in an SDP offer
MAX_NESTING = 8  # brackets deep: no valid action nests at all
MAX_REQUESTS_IN_SNAPSHOT = 200  # a host's snapshot lists the oldest requests only
RATE_LIMIT, RATE_WINDOW = 20, 5.0  # messages a socket may send per window (seconds)
REACTION_BURST, REACTION_WINDOW = 5, 5  # reactions per user and Space per window (seconds)
MAX_NAMES_IN_PRESENCE = 20
MAX_CHAT_TEXT = 500  # characters in a chat message, after trimming
CHAT_IN_SNAPSHOT = 50  # the snapshot carries the room's latest chat messages; older ones come over HTTP
MAX_SLOW_SECONDS = 600  # slow mode: at most one message per this many seconds per person
MAX_URL = 2000  # characters in a pinned link
MAX_PIN_TITLE = 100

# Twitter Spaces' reaction set.
REACTIONS = ("😂", "😲", "😢", "💜", "💯", "👏", "✊", "👍", "👎", "👋")

# Close codes: the application's own range (Autobahn, under Daphne, refuses RFC 6455's 1009).
CLOSE_SPACE_ENDED = 4000
CLOSE_LOGGED_OUT = 4001
CLOSE_REFUSED = 4003  # refused at connect, or removed
CLOSE_NOT_FOUND = 4004
CLOSE_TOO_BIG = 4009
CLOSE_TOO_MANY = 4029  # too many sockets (or connections too fast) from one account or address


Role = Literal["host", "cohost", "speaker", "listener"]
MODERATOR_ROLES = frozenset({"host", "cohost"})
