from django.utils import timezone
from rest_framework import serializers

from .models import ApiToken, Invitation, Lab, Membership, Role, TokenScope, User


class UserSerializer(serializers.ModelSerializer):
    """Another user as lab members see them: no e-mail address."""

    class Meta:
        model = User
        fields = ["id", "username", "first_name", "last_name", "orcid"]


class MeSerializer(serializers.ModelSerializer):
    """The signed-in user's own account, with their e-mail address."""

    class Meta:
        model = User
        fields = ["id", "username", "email", "first_name", "last_name", "orcid"]


class MeUpdateSerializer(serializers.Serializer):
    """What users change about themselves; FAIR exports credit them by these."""

    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    orcid = serializers.CharField(
        max_length=64,
        required=False,
        allow_blank=True,
        help_text="ORCID iD as 0000-0002-1825-0097 or its https://orcid.org/ URL (checksum "
        "verified, stored bare); blank removes it.",
    )

    def validate(self, attrs):
        # Say so rather than silently ignore an attempt to change e.g. the e-mail here.
        others = sorted(set(self.initial_data) - set(self.fields))
        if others:
            raise serializers.ValidationError(
                {name: ["This field cannot be changed here."] for name in others}
            )
        return attrs


class LabSerializer(serializers.ModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Lab
        fields = ["id", "slug", "name", "description", "created", "role"]

    def get_role(self, lab) -> str | None:
        return getattr(lab, "my_role", None)


class LabCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    slug = serializers.SlugField(max_length=64, required=False, allow_blank=True)
    description = serializers.CharField(required=False, allow_blank=True)


class LabUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200, required=False)
    description = serializers.CharField(required=False, allow_blank=True)


class MembershipSerializer(serializers.ModelSerializer):
    user = UserSerializer(read_only=True)

    class Meta:
        model = Membership
        fields = ["user", "role", "created"]


class InviteSerializer(serializers.Serializer):
    user = serializers.CharField(
        max_length=254,
        help_text="Username of an existing user. To add someone by e-mail address, send an "
        "invitation (POST /api/labs/{lab_id}/invitations/).",
    )
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TokenSerializer(serializers.ModelSerializer):
    scopes = serializers.ListField(child=serializers.ChoiceField(choices=TokenScope.choices))

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created", "last_used", "expires_at", "scopes"]
        extra_kwargs = {"expires_at": {"help_text": "null: never (tokens made before expiry)."}}


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)
    expires_in_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=3650,
        help_text="Days until the token stops working (default CHIPLAB_TOKEN_DAYS, 90; at most "
        "CHIPLAB_TOKEN_MAX_DAYS, 365).",
    )
    scopes = serializers.ListField(
        child=serializers.ChoiceField(choices=TokenScope.choices),
        required=False,
        max_length=len(TokenScope.values),
        help_text="read: GET requests; write: all others; tokens: create and revoke tokens. "
        "Default: read and write.",
    )


class TokenCreatedSerializer(TokenSerializer):
    key = serializers.CharField(help_text="Shown once; store it now.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "key"]


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField()
    password = serializers.CharField(style={"input_type": "password"})


class RegisterSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150, validators=[User.username_validator])
    email = serializers.EmailField(required=False, allow_blank=True)
    password = serializers.CharField(style={"input_type": "password"})


class InvitationSerializer(serializers.ModelSerializer):
    """An invitation as the lab's owners see it (the link's secret is never shown again)."""

    state = serializers.SerializerMethodField()
    invited_by = UserSerializer(read_only=True)

    class Meta:
        model = Invitation
        fields = ["id", "email", "role", "created", "expires_at", "state", "invited_by"]

    def get_state(self, invitation) -> str:
        return invitation.state(timezone.now())


class InvitationCreateSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)
    expires_in_days = serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=365,
        help_text="Days the link works (default CHIPLAB_INVITATION_DAYS, 7; at most "
        "CHIPLAB_INVITATION_MAX_DAYS, 30).",
    )


class InvitationKeySerializer(serializers.Serializer):
    key = serializers.CharField(max_length=200, help_text="The secret from the invitation link.")


class InvitationPreviewSerializer(serializers.Serializer):
    """What the invitee sees before accepting."""

    lab_name = serializers.CharField(source="lab.name")
    role = serializers.ChoiceField(choices=Role.choices)
    email = serializers.EmailField()
    expires_at = serializers.DateTimeField()
    invited_by = serializers.SerializerMethodField()

    def get_invited_by(self, invitation) -> str:
        inviter = invitation.invited_by
        return (inviter.get_full_name() or inviter.username) if inviter else ""


class InvitationAcceptSerializer(InvitationKeySerializer):
    username = serializers.CharField(
        max_length=150,
        required=False,
        allow_blank=True,
        help_text="Only without a session: the new account's username.",
    )
    password = serializers.CharField(
        max_length=4096, required=False, allow_blank=True, style={"input_type": "password"}
    )
    first_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)


class InvitationAcceptedSerializer(serializers.Serializer):
    lab = serializers.UUIDField(source="membership.lab_id")
    role = serializers.CharField(source="membership.role")
    account_created = serializers.BooleanField()
    user = MeSerializer()


class PasswordResetSerializer(serializers.Serializer):
    email = serializers.EmailField(max_length=254)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = serializers.CharField(max_length=100)
    token = serializers.CharField(max_length=200)
    password = serializers.CharField(max_length=4096, style={"input_type": "password"})
