from django import forms
from django.contrib import admin
from django.contrib.auth import admin as auth_admin
from django.contrib.auth import forms as auth_forms

from .models import ApiToken, Lab, Membership, User
from .selectors import email_in_use


class UserChangeForm(auth_forms.UserChangeForm):
    """Refuses an e-mail address that another account uses (as sign-up does)."""

    def clean_email(self):
        email = (self.cleaned_data.get("email") or "").strip()
        # an unchanged address is left alone: old databases may hold duplicates
        changed = email.lower() != (self.initial.get("email") or "").lower()
        if changed and email_in_use(email=email, excluding=self.instance):
            raise forms.ValidationError("Another account already uses this e-mail address.")
        return email


@admin.register(User)
class UserAdmin(auth_admin.UserAdmin):
    form = UserChangeForm


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0


@admin.register(Lab)
class LabAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created"]
    inlines = [MembershipInline]


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ["name", "user", "prefix", "created", "revoked_at"]
    readonly_fields = ["key_hash"]
