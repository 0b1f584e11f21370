"""Accounts API: session login, tokens, labs and memberships."""

from django.conf import settings
from django.contrib.auth import authenticate, login, logout
from django.middleware.csrf import get_token
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from common.apis import valid
from common.errors import Forbidden, Invalid

from . import login_guard, selectors, services
from .models import ApiToken
from .serializers import (
    InvitationAcceptedSerializer,
    InvitationAcceptSerializer,
    InvitationCreateSerializer,
    InvitationKeySerializer,
    InvitationPreviewSerializer,
    InvitationSerializer,
    InviteSerializer,
    LabCreateSerializer,
    LabSerializer,
    LabUpdateSerializer,
    LoginSerializer,
    MembershipSerializer,
    MeSerializer,
    MeUpdateSerializer,
    PasswordResetConfirmSerializer,
    PasswordResetSerializer,
    RegisterSerializer,
    RoleSerializer,
    TokenCreatedSerializer,
    TokenCreateSerializer,
    TokenSerializer,
)


class LoginApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "login"  # per client address: CHIPLAB_LOGIN_RATE

    @extend_schema(request=LoginSerializer, responses=MeSerializer)
    def post(self, request):
        data = valid(LoginSerializer, request.data)
        if wait := login_guard.account_wait(username=data["username"]):
            raise Throttled(
                wait=wait, detail="Too many failed sign-ins for this account; it is paused."
            )
        user = authenticate(request, username=data["username"], password=data["password"])
        if user is None:
            raise Invalid("Wrong username or password.", code="bad_credentials")
        login(request, user)
        get_token(request)
        return Response(MeSerializer(user).data)


class LogoutApi(APIView):
    permission_classes = [AllowAny]

    @extend_schema(request=None, responses={204: None})
    def post(self, request):
        logout(request)
        return Response(status=status.HTTP_204_NO_CONTENT)


class RegisterApi(APIView):
    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "register"  # per client address: CHIPLAB_REGISTER_RATE

    @extend_schema(request=RegisterSerializer, responses={201: MeSerializer})
    def post(self, request):
        if not settings.CHIPLAB_OPEN_SIGNUP:
            raise Forbidden("Sign-up is closed on this server; ask a lab owner for an account.")
        data = valid(RegisterSerializer, request.data)
        user = services.user_create(**data)
        return Response(MeSerializer(user).data, status=status.HTTP_201_CREATED)


class MeApi(APIView):
    @extend_schema(responses=MeSerializer)
    def get(self, request):
        get_token(request)  # sets the CSRF cookie for the browser client
        return Response(MeSerializer(request.user).data)

    @extend_schema(request=MeUpdateSerializer, responses=MeSerializer)
    def patch(self, request):
        data = valid(MeUpdateSerializer, request.data)
        return Response(MeSerializer(services.user_update(user=request.user, **data)).data)


class TokenListApi(APIView):
    @extend_schema(responses=TokenSerializer(many=True))
    def get(self, request):
        return Response(TokenSerializer(selectors.tokens_of(user=request.user), many=True).data)

    @extend_schema(request=TokenCreateSerializer, responses={201: TokenCreatedSerializer})
    def post(self, request):
        data = valid(TokenCreateSerializer, request.data)
        token, key = services.token_create(
            user=request.user, acting_token=_acting_token(request), **data
        )
        body = TokenSerializer(token).data | {"key": key}
        return Response(body, status=status.HTTP_201_CREATED)


class TokenDetailApi(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, token_id):
        services.token_revoke(
            user=request.user, token_id=token_id, acting_token=_acting_token(request)
        )
        return Response(status=status.HTTP_204_NO_CONTENT)


def _acting_token(request) -> ApiToken | None:
    """The token a request authenticated with (None for a browser session)."""
    return request.auth if isinstance(request.auth, ApiToken) else None


def _base_url(request) -> str:
    return request.build_absolute_uri("/")


def _with_role(labs, user):
    roles = dict(
        user.memberships.filter(lab__in=[lab.pk for lab in labs]).values_list("lab_id", "role")
    )
    for lab in labs:
        lab.my_role = roles.get(lab.pk)
    return labs


class LabListApi(APIView):
    permission_classes = [IsAuthenticated]

    @extend_schema(responses=LabSerializer(many=True))
    def get(self, request):
        labs = _with_role(list(selectors.labs_of(user=request.user)), request.user)
        return Response(LabSerializer(labs, many=True).data)

    @extend_schema(request=LabCreateSerializer, responses={201: LabSerializer})
    def post(self, request):
        lab = services.lab_create(user=request.user, **valid(LabCreateSerializer, request.data))
        lab.my_role = "owner"
        return Response(LabSerializer(lab).data, status=status.HTTP_201_CREATED)


class LabDetailApi(APIView):
    @extend_schema(responses=LabSerializer)
    def get(self, request, lab_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        return Response(LabSerializer(_with_role([lab], request.user)[0]).data)

    @extend_schema(request=LabUpdateSerializer, responses=LabSerializer)
    def patch(self, request, lab_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        lab = services.lab_update(
            user=request.user, lab=lab, **valid(LabUpdateSerializer, request.data)
        )
        return Response(LabSerializer(_with_role([lab], request.user)[0]).data)


class MemberListApi(APIView):
    @extend_schema(responses=MembershipSerializer(many=True))
    def get(self, request, lab_id):
        members = selectors.lab_members(user=request.user, lab_id=lab_id)
        return Response(MembershipSerializer(members, many=True).data)

    @extend_schema(request=InviteSerializer, responses={201: MembershipSerializer})
    def post(self, request, lab_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        data = valid(InviteSerializer, request.data)
        membership = services.member_invite(
            user=request.user, lab=lab, who=data["user"], role=data["role"]
        )
        return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)


class MemberDetailApi(APIView):
    @extend_schema(request=RoleSerializer, responses=MembershipSerializer)
    def patch(self, request, lab_id, user_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        data = valid(RoleSerializer, request.data, partial=True)
        membership = services.member_set_role(
            user=request.user, lab=lab, member_id=user_id, role=data.get("role")
        )
        return Response(MembershipSerializer(membership).data)

    @extend_schema(responses={204: None})
    def delete(self, request, lab_id, user_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        services.member_remove(user=request.user, lab=lab, member_id=user_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class LabLeaveApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def post(self, request, lab_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        services.lab_leave(user=request.user, lab=lab)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationListApi(APIView):
    """A lab's pending invitations; owners invite an e-mail address with a role."""

    @extend_schema(responses=InvitationSerializer(many=True))
    def get(self, request, lab_id):
        invitations = selectors.invitations_of(user=request.user, lab_id=lab_id)[:500]
        return Response(InvitationSerializer(invitations, many=True).data)

    @extend_schema(request=InvitationCreateSerializer, responses={201: InvitationSerializer})
    def post(self, request, lab_id):
        lab = selectors.lab_get(user=request.user, lab_id=lab_id)
        data = valid(InvitationCreateSerializer, request.data)
        invitation = services.invitation_create(
            user=request.user, lab=lab, base_url=_base_url(request), **data
        )
        return Response(InvitationSerializer(invitation).data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(APIView):
    @extend_schema(request=None, responses={204: None})
    def delete(self, request, invitation_id):
        services.invitation_revoke(user=request.user, invitation_id=invitation_id)
        return Response(status=status.HTTP_204_NO_CONTENT)


class InvitationPreviewApi(APIView):
    """What an invitation link offers (lab, role, address), for the page that accepts it."""

    permission_classes = [AllowAny]
    throttle_scope = "invitations"  # per client address: CHIPLAB_INVITATION_RATE

    @extend_schema(request=InvitationKeySerializer, responses=InvitationPreviewSerializer)
    def post(self, request):
        data = valid(InvitationKeySerializer, request.data)
        invitation = selectors.invitation_by_key(key=data["key"])
        return Response(InvitationPreviewSerializer(invitation).data)


class InvitationAcceptApi(APIView):
    """Accept an invitation: signed in, as that account; else by creating one (and signing in).

    Works where public sign-up is closed: the invitation is the permission.
    """

    permission_classes = [AllowAny]
    throttle_scope = "invitations"

    @extend_schema(request=InvitationAcceptSerializer, responses=InvitationAcceptedSerializer)
    def post(self, request):
        data = valid(InvitationAcceptSerializer, request.data)
        membership, user, created = services.invitation_accept(user=request.user, **data)
        if created:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            get_token(request)
        body = {"membership": membership, "account_created": created, "user": user}
        return Response(InvitationAcceptedSerializer(body).data)


class PasswordResetApi(APIView):
    """Mail a password reset link to an address; the answer never tells if it has an account."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"  # per client address: CHIPLAB_PASSWORD_RESET_RATE

    @extend_schema(request=PasswordResetSerializer, responses={202: None})
    def post(self, request):
        data = valid(PasswordResetSerializer, request.data)
        services.password_reset_request(email=data["email"], base_url=_base_url(request))
        return Response(status=status.HTTP_202_ACCEPTED)


class PasswordResetConfirmApi(APIView):
    """Choose a new password with the link's uid and token; other sessions end."""

    permission_classes = [AllowAny]
    authentication_classes = []
    throttle_scope = "password_reset"

    @extend_schema(request=PasswordResetConfirmSerializer, responses={204: None})
    def post(self, request):
        data = valid(PasswordResetConfirmSerializer, request.data)
        services.password_reset_confirm(**data)
        return Response(status=status.HTTP_204_NO_CONTENT)
