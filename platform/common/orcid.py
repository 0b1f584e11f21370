"""ORCID iDs: the canonical 0000-0000-0000-000X form with its ISO 7064 mod 11-2 checksum."""

import re

ORCID_FORM = re.compile(r"\d{4}-\d{4}-\d{4}-\d{3}[\dX]")


ORCID_URL = re.compile(r"^(?:https?://)?(?:www\.)?orcid\.org/", re.IGNORECASE)


def normalise_orcid(orcid: str) -> str:
    """``orcid`` (bare, or as its https://orcid.org/ URL) in canonical bare form ("" stays "");
    ValueError says what is wrong with it."""
    given = orcid.strip()
    orcid = ORCID_URL.sub("", given).upper()
    if not orcid:
        return ""
    if not ORCID_FORM.fullmatch(orcid):
        raise ValueError(f"'{given}' is not an ORCID iD; write it as 0000-0002-1825-0097.")
    digits = orcid.replace("-", "")
    total = 0
    for digit in digits[:-1]:
        total = (total + int(digit)) * 2
    check = (12 - total % 11) % 11
    if digits[-1] != ("X" if check == 10 else str(check)):
        raise ValueError(
            f"'{orcid}' is not a valid ORCID iD: its last character (checksum) is wrong."
        )
    return orcid
