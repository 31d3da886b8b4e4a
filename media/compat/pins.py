"""What the adapters share: the version verdict, attribute probes and a throw-away event loop."""

from __future__ import annotations

import asyncio
import importlib.metadata
from collections.abc import Callable, Coroutine, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from django.core.exceptions import ImproperlyConfigured

T = TypeVar("T")

SUBJECT = "the fast path"


class IncompatibleLibrary(ImproperlyConfigured):
    """A library the fast path reaches into is not the version its adapter was written against."""


def distribution_version(name: str) -> str:
    return importlib.metadata.version(name)


def is_supported(installed: str, supported: str) -> bool:
    """1.16.0 and 1.16.3 are 1.16; 1.17.0 and 1.160 are not."""
    return installed == supported or installed.startswith(supported + ".")


def verdict(library: str, installed: str, supported: str, changed: Iterable[str], adapter: str) -> list[str]:
    """The problems to report: what changed (if anything did), else a version that was never checked.
    adapter is the adapter module's __name__, named in the message as the file to read."""
    changed = list(changed)
    if changed:
        return [f"{library} {installed} changed {', '.join(changed)}; {SUBJECT} supports {supported}"]
    if not is_supported(installed, supported):
        path = adapter.replace(".", "/") + ".py"
        return [
            f"{library} {installed} is not a version {SUBJECT} was checked against; it supports {supported} "
            f"(read what {path} uses against {installed}, then change SUPPORTED there)"
        ]
    return []


def missing(obj: object, owner: str, names: Iterable[str]) -> list[str]:
    """ "Owner.name" for each of names that obj lacks. Name-mangled attributes are given as "__name"."""
    return [f"{owner}.{name}" for name in names if not hasattr(obj, mangled(owner, name))]


def mangled(owner: str, name: str) -> str:
    """The attribute Python stores a class-private "__name" under ("_Owner__name")."""
    return f"_{owner.lstrip('_')}{name}" if name.startswith("__") and not name.endswith("__") else name


def not_callable(obj: object, owner: str, names: Iterable[str]) -> list[str]:
    return [f"{owner}.{name}" for name in names if not callable(getattr(obj, mangled(owner, name), None))]


def run_probe(probe: Callable[[], Coroutine[Any, Any, T]]) -> T:
    """Run probe() on a new event loop in a new thread: the caller may be inside a running loop (or
    in a thread that has none), and nothing the probe creates must outlive it."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="compat-probe") as pool:
        return pool.submit(lambda: asyncio.run(probe())).result()
