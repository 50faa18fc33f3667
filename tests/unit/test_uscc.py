import pytest

from dataspace.errors import InvalidInput
from dataspace.identity.uscc import ALPHABET, check_character, make_uscc, validate_uscc

# Codes printed on published business licences (large public companies).
PUBLISHED = [
    "914403001922038216",
    "91110108551385082Q",
    "91350100M000100Y43",
    "91110000802100433B",
    "91310000132149237G",
]


@pytest.mark.parametrize("code", PUBLISHED)
def test_published_codes_are_valid(code):
    assert validate_uscc(code) == code


def test_input_is_stripped_and_uppercased():
    assert validate_uscc("  91110108551385082q ") == "91110108551385082Q"


def test_check_character_arithmetic():
    # "1" then zeros: sum 1*1 = 1 -> (31 - 1) % 31 = 30 -> ALPHABET[30] == 'Y'
    assert check_character("10000000000000000") == "Y"
    # all zeros: sum 0 -> (31 - 0) % 31 = 0 -> '0'
    assert check_character("0" * 17) == "0"
    # "A" (value 10) in position 2 (weight 3): sum 30 -> (31 - 30) % 31 = 1 -> '1'
    assert check_character("0A" + "0" * 15) == "1"


@pytest.mark.parametrize("code", PUBLISHED)
def test_every_single_character_substitution_is_detected(code):
    for position in range(18):
        for char in ALPHABET:
            if char == code[position]:
                continue
            mutated = code[:position] + char + code[position + 1 :]
            with pytest.raises(InvalidInput):
                validate_uscc(mutated)


@pytest.mark.parametrize("code", PUBLISHED)
def test_adjacent_transpositions_are_detected(code):
    for position in range(17):
        swapped = code[:position] + code[position + 1] + code[position] + code[position + 2 :]
        if swapped != code:
            with pytest.raises(InvalidInput):
                validate_uscc(swapped)


def test_wrong_check_character_names_the_expected_one():
    with pytest.raises(InvalidInput, match="check character must be '6'"):
        validate_uscc("91320000134761011Q")


@pytest.mark.parametrize("length", [0, 17, 19])
def test_wrong_length(length):
    with pytest.raises(InvalidInput, match=f"has {length} characters but must have exactly 18"):
        validate_uscc(("9" * 19)[:length])


@pytest.mark.parametrize("bad", ["I", "O", "Z", "S", "V", "-", "中"])
def test_illegal_characters_are_named_with_position(bad):
    code = "91110108551385082Q"
    with pytest.raises(InvalidInput, match=rf"illegal character '{bad}' at position 10"):
        validate_uscc(code[:9] + bad + code[10:])


def test_unknown_registration_authority_is_rejected():
    with pytest.raises(InvalidInput, match="registration-authority"):
        validate_uscc(make_uscc("91110108551385082").replace("9", "B", 1))


def test_division_code_must_be_digits():
    with pytest.raises(InvalidInput, match="administrative division"):
        make_uscc("9132A000MA1XYW0TQ")


def test_non_text_is_rejected():
    with pytest.raises(InvalidInput, match="not text"):
        validate_uscc(914403001922038216)


def test_make_uscc_builds_valid_synthetic_codes():
    codes = [make_uscc(f"91320000MA{n:06d}X") for n in range(20)]
    assert len(set(codes)) == 20
    for code in codes:
        assert validate_uscc(code) == code
    assert make_uscc("91110108551385082") == "91110108551385082Q"


def test_make_uscc_rejects_a_bad_prefix():
    with pytest.raises(InvalidInput, match="exactly 17"):
        make_uscc("9132")
    with pytest.raises(InvalidInput, match="illegal character 'O'"):
        make_uscc("91320000OA1XYZ0TQ")
