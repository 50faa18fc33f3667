import os
import pickle
import stat

import pytest

from dataspace.errors import Conflict, InvalidInput, Unauthorized
from dataspace.identity.keys import (
    SigningKey,
    b64url_decode,
    load_private_key,
    load_public_key,
    save_private_key,
    verify,
)


@pytest.fixture
def key():
    return SigningKey.generate()


def test_sign_and_verify(key):
    signature = key.sign(b"hello")
    assert len(signature) == 64
    verify(key.public_key_b64, signature, b"hello")


def test_public_key_is_unpadded_base64url_of_32_bytes(key):
    text = key.public_key_b64
    assert "=" not in text
    assert "+" not in text
    assert "/" not in text
    assert len(b64url_decode(text)) == 32


def test_tampered_data_or_signature_or_other_key_is_unauthorized(key):
    signature = key.sign(b"hello")
    with pytest.raises(Unauthorized, match="does not match"):
        verify(key.public_key_b64, signature, b"hellO")
    flipped = bytes([signature[0] ^ 1]) + signature[1:]
    with pytest.raises(Unauthorized):
        verify(key.public_key_b64, flipped, b"hello")
    with pytest.raises(Unauthorized):
        verify(SigningKey.generate().public_key_b64, signature, b"hello")
    with pytest.raises(Unauthorized, match="has 63 bytes"):
        verify(key.public_key_b64, signature[:63], b"hello")
    with pytest.raises(Unauthorized, match="malformed"):
        verify("not-a-key", signature, b"hello")


def test_saved_key_has_mode_0600_and_round_trips(tmp_path, key):
    path = tmp_path / "participant.pem"
    old_umask = os.umask(0)  # even a permissive umask must not widen the mode
    try:
        save_private_key(key, path)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    loaded = load_private_key(path)
    assert loaded.public_key_b64 == key.public_key_b64
    verify(key.public_key_b64, loaded.sign(b"x"), b"x")


def test_existing_key_file_is_never_overwritten(tmp_path, key):
    path = tmp_path / "participant.pem"
    path.write_bytes(b"precious")
    with pytest.raises(Conflict, match="already exists"):
        save_private_key(key, path)
    assert path.read_bytes() == b"precious"


def test_repr_and_str_hide_the_private_key(key):
    pem = key.private_pem().decode()
    body = "".join(pem.strip().splitlines()[1:-1])
    for text in (repr(key), str(key), f"{key}", f"{[key]}"):
        assert "hidden" in text
        assert body not in text
        assert key.public_key_b64 in text


def test_signing_key_cannot_be_pickled(key):
    with pytest.raises(TypeError, match="not picklable"):
        pickle.dumps(key)


def test_loading_garbage_or_a_short_public_key_is_invalid_input(tmp_path):
    path = tmp_path / "bad.pem"
    path.write_bytes(b"not a key")
    with pytest.raises(InvalidInput, match="not an unencrypted PKCS#8"):
        load_private_key(path)
    with pytest.raises(InvalidInput, match="has 3 bytes"):
        load_public_key("AAAA")


def test_key_file_is_created_with_o_excl_and_mode_0600(tmp_path, key, monkeypatch):
    calls = []
    real_open = os.open

    def spy(path, flags, mode=0o777, *args, **kwargs):
        calls.append((flags, mode))
        return real_open(path, flags, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", spy)
    save_private_key(key, tmp_path / "k.pem")
    flags, mode = calls[0]
    assert flags & os.O_CREAT
    assert flags & os.O_EXCL
    assert mode == 0o600


def test_no_temporary_file_is_left_behind(tmp_path, key):
    save_private_key(key, tmp_path / "k.pem")
    with pytest.raises(Conflict):
        save_private_key(SigningKey.generate(), tmp_path / "k.pem")
    assert [p.name for p in tmp_path.iterdir()] == ["k.pem"]
