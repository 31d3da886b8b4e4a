"""A push service on loopback for the tests, and browsers that subscribe to it.

`LocalPushService` is an HTTP server in a thread that takes what the site posts (as FCM or Mozilla's
autopush would), answers 201 (or what a test asks for an endpoint: 404, 410, 500) and keeps every request.
`Browser` holds what a real browser keeps for one subscription (a P-256 key pair and a 16-byte auth
secret), hands the site the same fields PushSubscription.toJSON() does, and decrypts what arrives
(RFC 8291, aes128gcm) with http_ece, the library pywebpush encrypts with.
"""

from __future__ import annotations

import base64
import json
import os
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import http_ece
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass
class Delivery:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class LocalPushService:
    server: ThreadingHTTPServer
    deliveries: list[Delivery] = field(default_factory=list)
    answers: dict[str, int] = field(default_factory=dict)  # path -> status to answer instead of 201

    @classmethod
    def start(cls) -> LocalPushService:
        service: LocalPushService

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the http.server API
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                service.deliveries.append(Delivery(self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(service.answers.get(self.path, 201))
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        service = cls(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return service

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def endpoint(self, name: str) -> str:
        return f"{self.origin}/push/{name}"

    def to(self, browser: Browser) -> list[Delivery]:
        return [delivery for delivery in self.deliveries if self.origin + delivery.path == browser.endpoint]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Browser:
    """One browser's push subscription, as the browser keeps it."""

    def __init__(self, endpoint: str) -> None:
        self.endpoint = endpoint
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.auth_secret = os.urandom(16)

    def subscription(self) -> dict[str, str]:
        """The fields static/js/push.js posts (PushSubscription.toJSON(), flattened)."""
        point = self.key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return {"endpoint": self.endpoint, "p256dh": b64url(point), "auth": b64url(self.auth_secret)}

    def read(self, delivery: Delivery) -> dict:
        """Decrypt a push message as the browser would, and parse what the service worker gets."""
        assert delivery.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(delivery.body, private_key=self.key, auth_secret=self.auth_secret, version="aes128gcm")
        return json.loads(plain)


def vapid_claims(authorization: str, public_key: str) -> dict:
    """The claims of a VAPID Authorization header ("vapid t=<JWT>, k=<key>", RFC 8292), after checking that
    `k` is `public_key` and that the JWT's ES256 signature verifies with it. Raises when it doesn't."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    scheme, _, params = authorization.partition(" ")
    assert scheme == "vapid", authorization
    fields = dict(part.strip().split("=", 1) for part in params.split(","))
    assert fields["k"] == public_key
    header, claims, signature = fields["t"].split(".")
    raw = b64url_decode(signature)
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    key = ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b64url_decode(public_key))
    key.verify(der, f"{header}.{claims}".encode(), ec.ECDSA(hashes.SHA256()))
    assert json.loads(b64url_decode(header)) == {"typ": "JWT", "alg": "ES256"}
    return json.loads(b64url_decode(claims))
