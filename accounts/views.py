from collections.abc import Callable

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from spaces_site.redirects import redirect_to_next

from . import services
from .forms import ProfileForm
from .http import AuthenticatedHttpRequest
from .models import Follow, User

PAGE_SIZE = 30


def _profile_user(handle: str) -> User:
    user = get_object_or_404(
        User.objects.annotate(
            follower_count=Count("follower_set", distinct=True),
            following_count=Count("following_set", distinct=True),
        ),
        handle__iexact=handle,
    )
    if not user.is_active:
        raise Http404("This account is not active.")
    return user


def profile(request: HttpRequest, handle: str) -> HttpResponse:
    person = _profile_user(handle)
    viewer = request.user
    context = {"person": person, "is_me": viewer.is_authenticated and viewer.pk == person.pk}
    if viewer.is_authenticated and viewer.pk != person.pk:
        context["i_follow"] = Follow.objects.filter(follower=viewer, followee=person).exists()
        context["i_block"] = services.is_blocked(viewer, person)
        context["blocks_me"] = services.is_blocked(person, viewer)
    return render(request, "accounts/profile.html", context)


def _people_page(request: HttpRequest, handle: str, which: str) -> HttpResponse:
    person = _profile_user(handle)
    if which == "followers":
        people = User.objects.filter(following_set__followee=person, is_active=True)
        title = f"People following @{person.handle}"
    else:
        people = User.objects.filter(follower_set__follower=person, is_active=True)
        title = f"People @{person.handle} follows"
    page = Paginator(people.order_by("handle"), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "accounts/people.html", {"person": person, "page": page, "title": title, "which": which})


def followers(request: HttpRequest, handle: str) -> HttpResponse:
    return _people_page(request, handle, "followers")


def following(request: HttpRequest, handle: str) -> HttpResponse:
    return _people_page(request, handle, "following")


def _act(
    request: AuthenticatedHttpRequest, handle: str, action: Callable[[User, User], object], done: str
) -> HttpResponse:
    person = _profile_user(handle)
    try:
        action(request.user, person)
    except services.AccountError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done.format(handle=person.handle))
    return redirect_to_next(request, person)


@require_POST
@login_required
def follow(request: AuthenticatedHttpRequest, handle: str) -> HttpResponse:
    return _act(request, handle, services.follow, "You follow @{handle}.")


@require_POST
@login_required
def unfollow(request: AuthenticatedHttpRequest, handle: str) -> HttpResponse:
    return _act(request, handle, services.unfollow, "You no longer follow @{handle}.")


@require_POST
@login_required
def block(request: AuthenticatedHttpRequest, handle: str) -> HttpResponse:
    return _act(request, handle, services.block, "You blocked @{handle}.")


@require_POST
@login_required
def unblock(request: AuthenticatedHttpRequest, handle: str) -> HttpResponse:
    return _act(request, handle, services.unblock, "You unblocked @{handle}.")


@login_required
def edit_profile(request: AuthenticatedHttpRequest) -> HttpResponse:
    form = ProfileForm(request.POST or None, instance=request.user)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Profile saved.")
        return redirect(request.user)
    return render(request, "accounts/edit_profile.html", {"form": form})
