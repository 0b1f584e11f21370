from rest_framework import serializers

from .models import ApiToken, Lab, Membership, Role, User


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
    user = serializers.CharField(help_text="Username or e-mail of an existing user.")
    role = serializers.ChoiceField(choices=Role.choices, default=Role.VIEWER)


class RoleSerializer(serializers.Serializer):
    role = serializers.ChoiceField(choices=Role.choices)


class TokenSerializer(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created", "last_used"]


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100)


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
