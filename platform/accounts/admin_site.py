"""Django's admin, with a login form guarded like the API's sign-in.

Installed as ``accounts.admin_site.ChiplabAdminConfig`` in place of ``django.contrib.admin``
(Django's documented way to replace the default admin site).
"""

from django.contrib import admin
from django.contrib.admin.apps import AdminConfig
from django.http import HttpResponse


class ChiplabAdminSite(admin.AdminSite):
    def login(self, request, extra_context=None):
        """The admin login, after the per-address rate and the per-account backoff."""
        # loaded with the app registry (INSTALLED_APPS); login_guard needs DRF's settings: late
        from . import login_guard

        if request.method == "POST":
            wait = login_guard.login_wait(
                request=request, username=request.POST.get("username", "")
            )
            if wait:
                return HttpResponse(
                    f"Too many sign-in attempts. Try again in {wait} seconds.",
                    status=429,
                    content_type="text/plain; charset=utf-8",
                    headers={"Retry-After": str(wait)},
                )
        return super().login(request, extra_context)


class ChiplabAdminConfig(AdminConfig):
    default_site = "accounts.admin_site.ChiplabAdminSite"
