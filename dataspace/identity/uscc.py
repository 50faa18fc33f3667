"""Unified social credit codes (统一社会信用代码) as defined by GB 32100-2015.

A code has 18 characters from a 31-character alphabet (digits and uppercase letters except
I, O, Z, S and V):

=========  ==========================================================================
position   meaning
=========  ==========================================================================
1          registration authority (登记管理部门代码): 1-9, A, N or Y
2          organisation type under that authority (机构类别代码)
3-8        administrative division of the registering office (登记管理机关行政区划码)
9-17       organisation code (主体标识码, GB 11714)
18         check character
=========  ==========================================================================

Only the rules every real code obeys are enforced: length, alphabet, position 1, six digits
in positions 3-8 and the check character. Position 2 is left alone on purpose: its allowed
values differ per authority and have grown over time, and rejecting a real enterprise is
worse than admitting a code whose type digit is unusual.
"""

from __future__ import annotations

from dataspace.errors import InvalidInput

ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
AUTHORITY_CODES = frozenset("123456789ANY")
LENGTH = 18
_VALUE = {char: index for index, char in enumerate(ALPHABET)}
_FIX = "check it against the business licence or registration certificate"


def check_character(first17: str) -> str:
    """Return the GB 32100-2015 check character for the first 17 characters of a code.

    ``first17`` must already be 17 characters from :data:`ALPHABET`.
    """
    total = sum(_VALUE[char] * weight for char, weight in zip(first17, WEIGHTS, strict=True))
    return ALPHABET[(31 - total % 31) % 31]


def validate_uscc(code: object) -> str:
    """Return the normalised code (stripped, uppercase) if it is valid, else raise InvalidInput.

    The error names the rule that failed: length, an illegal character (and its position),
    the registration-authority code, the division code, or the expected check character.
    """
    if not isinstance(code, str):
        raise InvalidInput(f"The unified social credit code {code!r} is not text; {_FIX}.")
    normalised = code.strip().upper()
    if len(normalised) != LENGTH:
        raise InvalidInput(
            f"The unified social credit code {normalised!r} has {len(normalised)} characters "
            f"but must have exactly {LENGTH}; {_FIX}."
        )
    _check_body(normalised)
    expected = check_character(normalised[:17])
    if normalised[17] != expected:
        raise InvalidInput(
            f"The unified social credit code {normalised!r} ends in {normalised[17]!r} but its "
            f"check character must be {expected!r}; {_FIX}."
        )
    return normalised


def make_uscc(prefix17: str) -> str:
    """Return a valid code made of ``prefix17`` plus its check character.

    Meant for synthetic participants in demos and tests; the prefix must obey the same rules
    as a real code's first 17 characters.
    """
    prefix = prefix17.strip().upper()
    if len(prefix) != LENGTH - 1:
        raise InvalidInput(
            f"The prefix {prefix!r} has {len(prefix)} characters but must have exactly 17 "
            "to make a unified social credit code."
        )
    _check_body(prefix)
    return prefix + check_character(prefix)


def _check_body(code: str) -> None:
    """Check the alphabet and the positional rules of the first 17 characters."""
    for position, char in enumerate(code, start=1):
        if char not in _VALUE:
            raise InvalidInput(
                f"The unified social credit code {code!r} has the illegal character {char!r} "
                f"at position {position} (I, O, S, V, Z and punctuation never occur); {_FIX}."
            )
    if code[0] not in AUTHORITY_CODES:
        raise InvalidInput(
            f"The unified social credit code {code!r} starts with {code[0]!r}, which is not "
            f"a registration-authority code (1-9, A, N or Y); {_FIX}."
        )
    if not code[2:8].isdigit():
        raise InvalidInput(
            f"The unified social credit code {code!r} has {code[2:8]!r} in positions 3-8, "
            f"which must be a six-digit administrative division code; {_FIX}."
        )
