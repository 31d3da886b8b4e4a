from django.http import HttpRequest


def site(request: HttpRequest) -> dict:
    """The header's unread-notification count, one cheap query for a logged-in user."""
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {"unread_notifications": 0}
    from rooms.notifications import unread

    return {"unread_notifications": unread(user).count()}
