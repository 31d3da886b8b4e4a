from __future__ import annotations

from django import forms

from .models import AUTH_LENGTH, P256DH_LENGTH


class SubscriptionForm(forms.Form):
    """A browser's PushSubscription.toJSON(), flattened: what static/js/push.js posts."""

    endpoint = forms.CharField(max_length=1000)
    p256dh = forms.CharField(max_length=P256DH_LENGTH + 4)  # room for "=" padding, which is dropped
    auth = forms.CharField(max_length=AUTH_LENGTH + 4)


class RenewalForm(SubscriptionForm):
    old_endpoint = forms.CharField(max_length=1000)


class EndpointForm(forms.Form):
    endpoint = forms.CharField(max_length=1000)
