# The ticket fields move to payments.BoxOffice. Their constraint goes first, in its own migration, so that
# going backwards re-adds it only after payments has copied the values back (see 0004).

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('rooms', '0002_notification_emailed_at'),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='space',
            name='space_ticketed_has_price_and_capacity',
        ),
    ]
