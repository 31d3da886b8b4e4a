"""Signals other apps listen to, so that payments never imports them (the live room)."""

from django.dispatch import Signal

# Sent inside the transaction that decided to refund a paid ticket (or recorded a refund made in Stripe):
# the ticket no longer lets its buyer in, and the live room ejects them from the Space if it is live.
ticket_refunded = Signal()  # sender=Ticket, ticket=...
