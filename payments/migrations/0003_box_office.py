# Tickets get a box office row per Space (moved from rooms.Space, copied in 0004), a recorded refund
# intent, and webhook events a claim instead of a lock held while Stripe is called.

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0002_ticket_lifecycle'),
        ('rooms', '0002_notification_emailed_at'),
    ]

    operations = [
        migrations.AddField(
            model_name='ticket',
            name='refund_requested_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='webhookevent',
            name='claimed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.CreateModel(
            name='BoxOffice',
            fields=[
                ('space', models.OneToOneField(on_delete=django.db.models.deletion.CASCADE, primary_key=True, related_name='box_office', serialize=False, to='rooms.space')),
                ('price', models.PositiveIntegerField(help_text='Per ticket, in minor units (cents).')),
                ('currency', models.CharField(help_text='ISO 4217, lower case.', max_length=3)),
                ('capacity', models.PositiveIntegerField(help_text='Tickets on sale in all.')),
            ],
            options={
                'verbose_name_plural': 'box offices',
                'constraints': [models.CheckConstraint(condition=models.Q(('price__gte', 1)), name='boxoffice_price_positive'), models.CheckConstraint(condition=models.Q(('capacity__gte', 1)), name='boxoffice_capacity_positive'), models.CheckConstraint(condition=models.Q(('currency', ''), _negated=True), name='boxoffice_has_currency')],
            },
        ),
    ]
