# Price, currency and capacity now live on payments.BoxOffice; payments.0004 copied them there.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ('rooms', '0003_space_ticket_constraint_dropped'),
        ('payments', '0004_box_office_from_space'),
    ]

    operations = [
        migrations.RemoveField(
            model_name='space',
            name='ticket_capacity',
        ),
        migrations.RemoveField(
            model_name='space',
            name='ticket_currency',
        ),
        migrations.RemoveField(
            model_name='space',
            name='ticket_price',
        ),
    ]
