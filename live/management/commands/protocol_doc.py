"""`manage.py protocol_doc [--write]`: docs/protocol.md's reference tables, from live.protocol's specs."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from live.protocol import reference


class Command(BaseCommand):
    help = "Write docs/protocol.md's reference tables from the protocol specs (--write), or check them."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--write", action="store_true", help="rewrite the tables in place")

    def handle(self, *args, write: bool = False, **options) -> None:
        path = reference.protocol_doc_path()
        current = path.read_text()
        fresh = reference.render(current)
        if fresh == current:
            self.stdout.write("docs/protocol.md is up to date.")
        elif write:
            path.write_text(fresh)
            self.stdout.write(self.style.SUCCESS("docs/protocol.md rewritten from the specs."))
        else:
            raise CommandError("docs/protocol.md is out of date: run `manage.py protocol_doc --write`.")
