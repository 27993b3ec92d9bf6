"""Encrypted PKCS#8 (PBES2) private keys: SigningKey.from_pem(data,
password=...) and to_pem(password=...), interoperable both ways with
pyca/cryptography and, as a second reference, the `openssl pkey` command
(installed here; where it is missing pyca alone is the reference)."""

import shutil
import subprocess

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

import cryptoemr

CURVES = {"secp256k1": ec.SECP256K1(), "P-256": ec.SECP256R1()}
PASSWORD = b"correct horse battery staple"


def spki(pyca_key):
    return pyca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_ours_opens_in_pyca(curve):
    key = cryptoemr.SigningKey.generate(curve)
    pem = key.to_pem(password=PASSWORD)
    assert pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----\n")
    assert b"-----BEGIN PRIVATE KEY-----" not in pem
    pyca = serialization.load_pem_private_key(pem, password=PASSWORD)
    assert spki(pyca) == key.public_key_der
    # A fresh salt and IV each time: the same key never encrypts alike.
    assert key.to_pem(password=PASSWORD) != pem
    # The password may be text (UTF-8).
    again = cryptoemr.SigningKey.from_pem(key.to_pem(password="pässword"), password="pässword")
    assert again.public_key_der == key.public_key_der


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_pycas_opens_here(curve):
    pyca = ec.generate_private_key(CURVES[curve])
    pem = pyca.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD),
    )
    key = cryptoemr.SigningKey.from_pem(pem, password=PASSWORD)
    assert key.public_key_der == spki(pyca)
    assert key.curve == curve


def test_wrong_or_missing_password():
    key = cryptoemr.SigningKey.generate("P-256")
    pem = key.to_pem(password=PASSWORD)
    with pytest.raises(cryptoemr.WrongPasswordError) as info:
        cryptoemr.SigningKey.from_pem(pem, password=b"wrong")
    assert info.value.kind == "wrong_password"
    assert isinstance(info.value, cryptoemr.InvalidKeyError) and isinstance(info.value, ValueError)
    assert PASSWORD.decode() not in str(info.value)
    with pytest.raises(cryptoemr.InvalidKeyError, match="encrypted") as info:
        cryptoemr.SigningKey.from_pem(pem)
    assert not isinstance(info.value, cryptoemr.WrongPasswordError)
    # A password for a key that is not encrypted: said, not ignored.
    with pytest.raises(cryptoemr.InvalidKeyError, match="not encrypted"):
        cryptoemr.SigningKey.from_pem(key.to_pem(), password=PASSWORD)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        key.to_pem(password=b"")
    with pytest.raises(TypeError):
        key.to_pem(password=12)
    # Damage anywhere in the encrypted body: refused, never a wrong key.
    body = bytearray(pem)
    body[len(body) // 2] = ord("A") if body[len(body) // 2] != ord("A") else ord("B")
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.SigningKey.from_pem(bytes(body), password=PASSWORD)


def _openssl():
    return shutil.which("openssl")


@pytest.mark.parametrize("curve", sorted(CURVES))
def test_openssl_pkey_both_ways(curve, tmp_path):
    key = cryptoemr.SigningKey.generate(curve)
    openssl = _openssl()
    if openssl is None:
        # No openssl here: pyca is the reference (tests above).
        assert serialization.load_pem_private_key(key.to_pem(password=PASSWORD), password=PASSWORD)
        return
    ours = tmp_path / "ours.pem"
    ours.write_bytes(key.to_pem(password=PASSWORD))
    plain = subprocess.run(
        [openssl, "pkey", "-in", str(ours), "-passin", "pass:" + PASSWORD.decode(), "-pubout", "-outform", "DER"],
        check=True,
        capture_output=True,
    ).stdout
    assert plain == key.public_key_der
    wrong = subprocess.run(
        [openssl, "pkey", "-in", str(ours), "-passin", "pass:nope", "-noout"], capture_output=True
    )
    assert wrong.returncode != 0
    theirs = subprocess.run(
        [openssl, "pkey", "-in", "/dev/stdin", "-aes-256-cbc", "-passout", "pass:" + PASSWORD.decode()],
        input=key.to_pem(),
        check=True,
        capture_output=True,
    ).stdout
    assert theirs.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    back = cryptoemr.SigningKey.from_pem(theirs, password=PASSWORD)
    assert back.public_key_der == key.public_key_der
    with pytest.raises(cryptoemr.WrongPasswordError):
        cryptoemr.SigningKey.from_pem(theirs, password=b"nope")
