"""Serializers of an image's annotations: its tags and key-value pairs."""

from rest_framework import serializers

from . import annotations


class KeyValueSerializer(serializers.Serializer):
    key = serializers.CharField(max_length=annotations.MAX_KEY_LENGTH)
    value = serializers.CharField(
        max_length=annotations.MAX_VALUE_LENGTH, allow_blank=True, required=False, default=""
    )


class AnnotationsSerializer(serializers.Serializer):
    tags = serializers.ListField(
        child=serializers.CharField(max_length=annotations.MAX_TAG_LENGTH),
        max_length=annotations.MAX_TAGS,
        required=False,
        help_text=f"At most {annotations.MAX_TAGS}, each of at most "
        f"{annotations.MAX_TAG_LENGTH} characters; duplicates (any case) are dropped.",
    )
    pairs = KeyValueSerializer(
        many=True,
        required=False,
        max_length=annotations.MAX_PAIRS,
        help_text=f"Key-value pairs in order, at most {annotations.MAX_PAIRS}, keys unique.",
    )
