from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    # allauth's app is "Accounts" (e-mail addresses) in the admin too: this one holds users, follows, blocks.
    verbose_name = "People"
    default_auto_field = "django.db.models.BigAutoField"
