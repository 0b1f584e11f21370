from django.urls import path

from . import apis

urlpatterns = [
    path("auth/login", apis.LoginApi.as_view(), name="auth-login"),
    path("auth/logout", apis.LogoutApi.as_view(), name="auth-logout"),
    path("auth/register", apis.RegisterApi.as_view(), name="auth-register"),
    path("auth/me", apis.MeApi.as_view(), name="auth-me"),
    path("tokens/", apis.TokenListApi.as_view(), name="token-list"),
    path("tokens/<uuid:token_id>/", apis.TokenDetailApi.as_view(), name="token-detail"),
    path("labs/", apis.LabListApi.as_view(), name="lab-list"),
    path("labs/<uuid:lab_id>/", apis.LabDetailApi.as_view(), name="lab-detail"),
    path("labs/<uuid:lab_id>/members/", apis.MemberListApi.as_view(), name="member-list"),
    path(
        "labs/<uuid:lab_id>/members/<uuid:user_id>/",
        apis.MemberDetailApi.as_view(),
        name="member-detail",
    ),
    path("labs/<uuid:lab_id>/leave", apis.LabLeaveApi.as_view(), name="lab-leave"),
    path(
        "labs/<uuid:lab_id>/invitations/",
        apis.InvitationListApi.as_view(),
        name="invitation-list",
    ),
    path(
        "invitations/<uuid:invitation_id>/",
        apis.InvitationDetailApi.as_view(),
        name="invitation-detail",
    ),
    path("invitations/preview", apis.InvitationPreviewApi.as_view(), name="invitation-preview"),
    path("invitations/accept", apis.InvitationAcceptApi.as_view(), name="invitation-accept"),
    path("auth/password-reset", apis.PasswordResetApi.as_view(), name="password-reset"),
    path(
        "auth/password-reset/confirm",
        apis.PasswordResetConfirmApi.as_view(),
        name="password-reset-confirm",
    ),
]
