# Copy each ticketed Space's price, currency and capacity into its new box office row (and back).

from django.db import migrations


def space_to_box_office(apps, schema_editor):
    Space = apps.get_model("rooms", "Space")
    BoxOffice = apps.get_model("payments", "BoxOffice")
    ticketed = Space.objects.filter(is_ticketed=True).values("pk", "ticket_price", "ticket_currency", "ticket_capacity")
    BoxOffice.objects.bulk_create(
        [
            BoxOffice(
                space_id=row["pk"],
                # The old constraint promised both; 0 was never a price the services accepted.
                price=max(1, row["ticket_price"] or 0),
                currency=(row["ticket_currency"] or "usd").lower(),
                capacity=max(1, row["ticket_capacity"] or 0),
            )
            for row in ticketed
        ],
        batch_size=1000,
    )


def box_office_to_space(apps, schema_editor):
    Space = apps.get_model("rooms", "Space")
    BoxOffice = apps.get_model("payments", "BoxOffice")
    for office in BoxOffice.objects.all().iterator():
        Space.objects.filter(pk=office.space_id).update(
            ticket_price=office.price, ticket_currency=office.currency, ticket_capacity=office.capacity
        )


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0003_box_office'),
        ('rooms', '0003_space_ticket_constraint_dropped'),
    ]

    operations = [
        migrations.RunPython(space_to_box_office, box_office_to_space),
    ]
