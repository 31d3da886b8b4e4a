"""Redirects that honour a POSTed `next` only when it points back into this site."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponseRedirect
from django.shortcuts import redirect
from django.utils.http import url_has_allowed_host_and_scheme


def redirect_to_next(request: HttpRequest, fallback: Any) -> HttpResponseRedirect:
    """Go to the form's `next` if it is a URL on this site, else to `fallback` (anything `redirect()` takes).

    A bare `redirect(request.POST["next"])` is an open redirect: a crafted form could send a logged-in
    user anywhere with this site's name on the way.
    """
    next_url = request.POST.get("next", "")
    if url_has_allowed_host_and_scheme(next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()):
        return redirect(next_url)
    return redirect(fallback)
