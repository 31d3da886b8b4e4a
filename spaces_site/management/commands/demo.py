"""Load a small demo (people, follows, Spaces) into an empty database: `python manage.py demo`."""

from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User

DEMO_PASSWORD = "spaces-demo-2026"
PEOPLE = [
    ("ada", "Ada Lovelace", "Analytical engines and poetical science."),
    ("grace", "Grace Hopper", "Compilers, nanoseconds and a debugging moth."),
    ("alan", "Alan Turing", "Can machines think? Come and ask."),
    ("hedy", "Hedy Lamarr", "Frequency hopping and films."),
    ("linus", "Linus", "Just for fun."),
]
FOLLOWS = [("grace", "ada"), ("alan", "ada"), ("hedy", "ada"), ("ada", "grace"), ("linus", "grace"), ("ada", "alan")]


class Command(BaseCommand):
    help = "Load demo people, follows and Spaces when the database has no users yet."

    @transaction.atomic
    def handle(self, *args, **options) -> None:
        from allauth.account.models import EmailAddress

        from accounts import services
        from rooms.demo import create_demo_spaces

        if User.objects.exists():
            self.stdout.write("Database has users already: demo not loaded.")
            return
        users: dict[str, User] = {}
        for handle, name, bio in PEOPLE:
            email = f"{handle}@example.com"
            user = User.objects.create_user(handle=handle, email=email, password=DEMO_PASSWORD)
            user.display_name, user.bio = name, bio
            user.save()
            EmailAddress.objects.create(user=user, email=email, verified=True, primary=True)
            users[handle] = user
        admin = User.objects.create_superuser(handle="admin", email="admin@example.com", password=DEMO_PASSWORD)
        EmailAddress.objects.create(user=admin, email=admin.email, verified=True, primary=True)
        for follower, followee in FOLLOWS:
            services.follow(users[follower], users[followee])
        create_demo_spaces(users)
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo loaded. Log in as ada@example.com (or grace@, alan@, hedy@, linus@; staff: admin@) "
                f"with password {DEMO_PASSWORD}"
            )
        )
