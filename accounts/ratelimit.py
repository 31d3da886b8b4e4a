"""A small counter of actions per window, in the Django cache (Redis in production, so every process
shares it), for abuse limits that have no trail in the database: following, editing a live Space.

A fixed window: at most `limit` actions per `window` seconds, counted with SET NX and INCR so that two
processes never both take the last one. When the cache is down the action is allowed and a warning
logged: these limits stop a storm, they are not worth refusing every user for.
"""

from __future__ import annotations

import logging
import time

from django.core.cache import cache

logger = logging.getLogger(__name__)

KEY_PREFIX = "spaces:rl"


def allow(scope: str, key: object, *, limit: int, window: int) -> bool:
    """Count one action of `key` in `scope`; False when `limit` were already counted in this window.

    A limit of 0 or less counts nothing and allows everything.
    """
    if limit <= 0:
        return True
    bucket = int(time.time() // window)
    cache_key = f"{KEY_PREFIX}:{scope}:{key}:{bucket}"
    try:
        if cache.add(cache_key, 1, timeout=window + 1):
            return True
        try:
            return cache.incr(cache_key) <= limit
        except ValueError:  # the window ran out between add and incr
            cache.add(cache_key, 1, timeout=window + 1)
            return True
    except Exception:  # noqa: BLE001 - any cache failure: fail open, loudly
        logger.warning("rate limit %s not counted: the cache did not answer", scope, exc_info=True)
        return True
