"""The API's JSON parser: DRF's, refusing data nested too deeply to handle safely."""

from rest_framework import parsers
from rest_framework.exceptions import ParseError

# No request of this API nests anywhere near this; deeper data would only risk a
# RecursionError (a 500) in whatever code walks it after parsing.
MAX_JSON_DEPTH = 64

TOO_DEEP = (
    f"JSON parse error - the data is nested too deeply "
    f"(at most {MAX_JSON_DEPTH} levels of arrays and objects)."
)


class JSONParser(parsers.JSONParser):
    """DRF's JSON parser; nesting beyond ``MAX_JSON_DEPTH`` is a 400, not a RecursionError.

    DRF's parser turns only ``ValueError`` into a parse error, and ``json`` raises
    ``RecursionError`` for input like ``[[[[…]]]]`` a few thousand levels deep.
    """

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError as err:
            raise ParseError(TOO_DEEP) from err
        if _depth_exceeds(data, MAX_JSON_DEPTH):
            raise ParseError(TOO_DEEP)
        return data


def _depth_exceeds(data, limit: int) -> bool:
    """Whether arrays and objects nest more than ``limit`` levels (without recursion)."""
    stack = [(data, 1)] if isinstance(data, dict | list) else []
    while stack:
        value, depth = stack.pop()
        if depth > limit:
            return True
        children = value.values() if isinstance(value, dict) else value
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False
