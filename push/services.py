"""Web Push: keeping each device's subscription, and sending to them (docs/phones.md).

A subscription is the browser's push service endpoint plus two keys; what is sent is encrypted for that
browser (RFC 8291, aes128gcm) and signed with the site's VAPID key (RFC 8292), by pywebpush. A push
service answering 404 or 410 says the subscription is gone for good (the app was uninstalled, permission
revoked): it is deleted. Other failures are logged and left alone: the notification is also in the app
and, for those who want it, in their e-mail.

Endpoints are accepted only on the push services' hosts (SPACES_PUSH_SERVICES) and over https: the server
posts to whatever address a browser hands it, so an open list would let anyone aim it at the intranet.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from functools import lru_cache
from typing import Any
from urllib.parse import urlsplit

import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.db import transaction
from django.utils import timezone
from py_vapid import Vapid
from pywebpush import WebPushException, webpush

import jobs
from accounts.models import User

from .models import AUTH_LENGTH, P256DH_LENGTH, PushSubscription

logger = logging.getLogger(__name__)

SEND_TASK = "push.tasks.send_push"
USERS_PER_JOB = 200  # one job's devices are sent in well under a task's time limit
SENDERS = 8  # pushes in flight at once within a job (each is one HTTPS request to a push service)
TIMEOUT_SECONDS = 10
LOOPBACK = {"127.0.0.1", "::1", "localhost"}
GONE = {404, 410}  # the push service's word that this subscription will never work again
MAX_TITLE, MAX_BODY = 80, 240  # a phone shows little more, and the encrypted payload must stay under 4 KB


class PushError(ValueError):
    """A subscription the server won't keep; the message says why, for the person's browser to show."""


# --- Configuration ------------------------------------------------------------------------------------


def enabled() -> bool:
    """Push is on when the operator set both VAPID keys."""
    return bool(settings.VAPID_PUBLIC_KEY and settings.VAPID_PRIVATE_KEY)


@lru_cache(maxsize=4)
def _vapid(private_key: str) -> Vapid:
    return Vapid.from_string(private_key=private_key)


def vapid_key() -> Vapid:
    return _vapid(settings.VAPID_PRIVATE_KEY)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_key_of(vapid: Vapid) -> str:
    """The applicationServerKey a browser subscribes with: the uncompressed public point, base64url."""
    point = vapid.public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return b64url(point)


def new_key_pair() -> tuple[str, str]:
    """A fresh (public, private) VAPID pair, base64url: the private key is the raw 32-byte scalar."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = b64url(key.private_numbers().private_value.to_bytes(32, "big"))
    return public_key_of(Vapid(key)), private


# --- Subscriptions -----------------------------------------------------------------------------------


def endpoint_refusal(endpoint: str) -> str | None:
    """Why the server won't push to `endpoint`, or None."""
    parts = urlsplit(endpoint)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("https", "http") or not host:
        return "That isn't a push service's address."
    services = [service.lower() for service in settings.SPACES_PUSH_SERVICES]
    if not any(host == service or host.endswith(f".{service}") for service in services):
        return "This browser's push service isn't one this server sends to."
    if parts.scheme != "https" and host not in LOOPBACK:  # plain http only to a listed loopback (tests)
        return "A push service must be reached over https."
    return None


def clean_key(text: str, *, length: int, what: str) -> str:
    """A browser key, checked and written the one way the database keeps it (base64url, no padding)."""
    text = (text or "").strip().rstrip("=")
    try:
        raw = b64url_decode(text)
    except (binascii.Error, ValueError):
        raise PushError(f"The {what} key isn't base64url.") from None
    text = b64url(raw)
    if len(text) != length:
        raise PushError(f"The {what} key has the wrong length.")
    if what == "p256dh":
        try:
            ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), raw)
        except ValueError:
            raise PushError("The p256dh key isn't a P-256 public key.") from None
    return text


def subscribe(user: User, *, endpoint: str, p256dh: str, auth: str, device: str = "") -> PushSubscription:
    """Keep this browser's subscription for `user` (the same browser again updates it; a browser that
    changed hands moves to its new user). At most SPACES_PUSH_MAX_DEVICES each: the oldest goes."""
    if not enabled():
        raise PushError("Push notifications are off on this server.")
    refusal = endpoint_refusal(endpoint)
    if refusal:
        raise PushError(refusal)
    p256dh = clean_key(p256dh, length=P256DH_LENGTH, what="p256dh")
    auth = clean_key(auth, length=AUTH_LENGTH, what="auth")
    with transaction.atomic():
        subscription, _ = PushSubscription.objects.update_or_create(
            endpoint=endpoint,
            defaults={
                "user": user,
                "p256dh": p256dh,
                "auth": auth,
                "device": device[:120],
                "created_at": timezone.now(),
            },
        )
        keep = settings.SPACES_PUSH_MAX_DEVICES
        oldest = PushSubscription.objects.filter(user=user).order_by("-created_at", "-pk").values_list("pk", flat=True)
        PushSubscription.objects.filter(pk__in=list(oldest[keep:])).delete()
    return subscription


def unsubscribe(user: User, endpoint: str) -> int:
    """Forget this browser for `user`. Returns how many subscriptions went (0 or 1)."""
    deleted, _ = PushSubscription.objects.filter(user=user, endpoint=endpoint).delete()
    return deleted


def renew(old_endpoint: str, *, endpoint: str, p256dh: str, auth: str) -> PushSubscription | None:
    """The browser replaced its subscription: the old endpoint (which only it and we know) names the device.
    None when no device had that endpoint."""
    old = PushSubscription.objects.select_related("user").filter(endpoint=old_endpoint).first()
    if old is None:
        return None
    with transaction.atomic():
        subscription = subscribe(old.user, endpoint=endpoint, p256dh=p256dh, auth=auth, device=old.device)
        if old.endpoint != endpoint:
            PushSubscription.objects.filter(pk=old.pk).delete()
    return subscription


# --- Sending -----------------------------------------------------------------------------------------


def enqueue(user_ids: list[int], message: dict[str, Any]) -> None:
    """One outbox job per USERS_PER_JOB users who have a device, recorded in the caller's transaction."""
    if not enabled() or not user_ids:
        return
    with_devices = sorted(set(PushSubscription.objects.filter(user_id__in=user_ids).values_list("user_id", flat=True)))
    for start in range(0, len(with_devices), USERS_PER_JOB):
        jobs.enqueue(SEND_TASK, with_devices[start : start + USERS_PER_JOB], message)


def payload(message: dict[str, Any]) -> str:
    """What the service worker receives: short texts and an absolute https (or site) URL."""

    def short(text: str, limit: int) -> str:
        text = " ".join(str(text or "").split())
        return text if len(text) <= limit else text[: limit - 1] + "…"

    url = str(message.get("url") or "/")
    if url.startswith("/"):
        url = settings.SITE_URL.rstrip("/") + url
    return json.dumps(
        {
            "title": short(message.get("title") or settings.SITE_NAME, MAX_TITLE),
            "body": short(message.get("body", ""), MAX_BODY),
            "url": url,
            "tag": short(message.get("tag", ""), 64),
        },
        ensure_ascii=False,
    )


def _topic(tag: str) -> str:
    # A push service keeps one pending message per Topic (≤ 32 URL-safe characters): a repeat replaces it.
    return b64url(hashlib.sha256(tag.encode()).digest())[:32]


_sessions = threading.local()


def _session() -> requests.Session:
    if not hasattr(_sessions, "session"):
        _sessions.session = requests.Session()
    return _sessions.session


def _push_one(subscription: PushSubscription, data: str, headers: dict[str, str]) -> str:
    """Send to one device (on a sender thread: no database here): "sent", "gone" or "failed"."""
    if endpoint_refusal(subscription.endpoint):  # the operator narrowed SPACES_PUSH_SERVICES since
        return "failed"
    try:
        webpush(
            subscription.subscription_info(),
            data,
            vapid_private_key=vapid_key(),
            vapid_claims={"sub": settings.VAPID_SUBJECT},  # a fresh dict: pywebpush adds this endpoint's "aud"
            ttl=settings.SPACES_PUSH_TTL_SECONDS,
            timeout=TIMEOUT_SECONDS,
            headers=dict(headers),
            requests_session=_session(),
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        if status in GONE:
            return "gone"
        logger.warning("push to subscription %s failed: %s", subscription.pk, status or exc)
        return "failed"
    except requests.RequestException as exc:
        logger.warning("push to subscription %s failed: %r", subscription.pk, exc)
        return "failed"
    return "sent"


def send(user_ids: list[int], message: dict[str, Any]) -> Counter[str]:
    """Push `message` to every device of these (active) users. Safe to run twice: the same `tag` replaces
    itself on the device and in the push service's queue. Returns counts of "sent", "gone" and "failed"."""
    if not enabled():
        return Counter()
    data = payload(message)
    headers = {"Urgency": "high"}
    if message.get("tag"):
        headers["Topic"] = _topic(str(message["tag"]))
    devices = list(PushSubscription.objects.filter(user_id__in=user_ids, user__is_active=True))
    if not devices:
        return Counter()
    with ThreadPoolExecutor(max_workers=min(SENDERS, len(devices))) as pool:
        results = list(pool.map(lambda device: _push_one(device, data, headers), devices))
    by_outcome: dict[str, list[int]] = {"sent": [], "gone": [], "failed": []}
    for device, outcome in zip(devices, results, strict=True):
        by_outcome[outcome].append(device.pk)
    PushSubscription.objects.filter(pk__in=by_outcome["gone"]).delete()
    PushSubscription.objects.filter(pk__in=by_outcome["sent"]).update(last_pushed_at=timezone.now())
    if by_outcome["gone"]:
        logger.info("push: %s expired subscription(s) removed", len(by_outcome["gone"]))
    return Counter({outcome: len(pks) for outcome, pks in by_outcome.items() if pks})
