"""Stripe-shaped building blocks of the fake: errors, ids, parameter checks, webhook endpoints."""

from __future__ import annotations

import secrets
import string
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

API_VERSION = "2026-10-28.endive"
_ALPHABET = string.ascii_letters + string.digits


class ApiError(Exception):
    """A Stripe-shaped error: becomes ``{"error": {...}}`` with ``status``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.body: dict[str, Any] = {"message": message, "type": type}
        if param:
            self.body["param"] = param
        if code:
            self.body["code"] = code


def new_id(prefix: str) -> str:
    return prefix + "_test_" + "".join(secrets.choice(_ALPHABET) for _ in range(24))


def missing(kind: str, object_id: str, param: str = "id") -> ApiError:
    return ApiError(f"No such {kind}: '{object_id}'", status=404, param=param, code="resource_missing")


def _check_unknown(params: dict[str, Any], allowed: set[str]) -> None:
    for key in params:
        if key not in allowed:
            raise ApiError(f"Received unknown parameter: {key}", param=key)


def _metadata(value: Any, param: str) -> dict[str, str]:
    if value in (None, ""):
        return {}
    if not isinstance(value, dict):
        raise ApiError("Invalid object", param=param)
    if len(value) > 50:
        raise ApiError("Metadata can have at most 50 keys.", param=param)
    for key, item in value.items():
        if len(key) > 40 or not isinstance(item, str) or len(item) > 500:
            raise ApiError(f"Invalid metadata entry: {key}", param=f"{param}[{key}]")
    return dict(value)


def _url(value: Any, param: str) -> str:
    if not isinstance(value, str) or urlparse(value).scheme not in ("http", "https"):
        raise ApiError("Not a valid URL", param=param, code="url_invalid")
    return value


@dataclass
class Endpoint:
    id: str
    url: str
    secret: str
    enabled_events: list[str] = field(default_factory=lambda: ["*"])

    def wants(self, event_type: str) -> bool:
        return "*" in self.enabled_events or event_type in self.enabled_events

    def as_dict(self, with_secret: bool = False) -> dict[str, Any]:
        data = {
            "id": self.id,
            "object": "webhook_endpoint",
            "url": self.url,
            "enabled_events": self.enabled_events,
            "livemode": False,
            "status": "enabled",
        }
        if with_secret:
            data["secret"] = self.secret
        return data
