"""aioice internals the media engine uses, checked at startup against SUPPORTED.

Private attribute used (aioice 0.13): Connection._nominated, the selected candidate pair per
component. The fan-out sends from that pair's socket and a speaker's packets are read from it. The
rest it touches is public: CandidatePair.protocol and .remote_addr, StunProtocol.transport and its
datagram_received / error_received methods.
"""

from __future__ import annotations

import asyncio

from aioice import Candidate, Connection
from aioice.ice import CandidatePair, StunProtocol

from .pins import distribution_version as _version
from .pins import missing, not_callable, run_probe, verdict

SUPPORTED = "0.13"
RTP_COMPONENT = 1  # aiortc multiplexes RTP and RTCP on component 1


def installed_version() -> str:
    return _version("aioice")


def nominated_pair(connection: Connection) -> CandidatePair | None:
    """The pair ICE selected for RTP, or None while it has not selected one."""
    return connection._nominated.get(RTP_COMPONENT)


def check() -> list[str]:
    """What changed in the installed aioice that the fast path relies on (empty when nothing did)."""
    return verdict("aioice", installed_version(), SUPPORTED, run_probe(_changed), __name__)


async def _changed() -> list[str]:
    connection = Connection(ice_controlling=True)
    changed = missing(connection, "Connection", ["_nominated"])
    if not changed and not isinstance(connection._nominated, dict):
        changed.append("Connection._nominated")  # no longer a dict of pairs by component
    # The public parts, as the fast path uses them: a pair's protocol, its transport and address.
    protocol = StunProtocol(connection)
    transport = asyncio.DatagramTransport()
    protocol.connection_made(transport)
    if getattr(protocol, "transport", None) is not transport:
        changed.append("StunProtocol.transport")
    changed += not_callable(protocol, "StunProtocol", ["datagram_received", "error_received"])
    remote = Candidate(foundation="1", component=RTP_COMPONENT, transport="udp", priority=1, host="127.0.0.1",
                       port=9, type="host")  # fmt: skip
    pair = CandidatePair(protocol, remote)
    if getattr(pair, "protocol", None) is not protocol:
        changed.append("CandidatePair.protocol")
    if getattr(pair, "remote_addr", None) != ("127.0.0.1", 9):
        changed.append("CandidatePair.remote_addr")
    return changed
