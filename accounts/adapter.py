from allauth.account.adapter import DefaultAccountAdapter


class AccountAdapter(DefaultAccountAdapter):
    def save_user(self, request, user, form, commit: bool = True):
        # Set the handle before the first save: it is unique and never empty.
        user = super().save_user(request, user, form, commit=False)
        user.handle = form.cleaned_data["handle"]
        user.display_name = form.cleaned_data.get("display_name", "")
        if commit:
            user.save()
        return user
