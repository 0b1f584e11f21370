from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # ready(): the signal receivers need the loaded app registry
        from django.contrib.auth.signals import user_logged_in, user_login_failed

        from . import login_guard

        def failed(sender, credentials, request=None, **kwargs):
            login_guard.login_failed(username=credentials.get("username", ""))

        def succeeded(sender, request, user, **kwargs):
            login_guard.login_succeeded(username=user.get_username())

        # every password check (API sign-in, admin login) goes through authenticate()
        user_login_failed.connect(failed, dispatch_uid="accounts.login_failed", weak=False)
        user_logged_in.connect(succeeded, dispatch_uid="accounts.logged_in", weak=False)
