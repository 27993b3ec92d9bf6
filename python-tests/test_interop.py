"""Interoperability with pyca/cryptography, both ways, both curves."""

import hashlib

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, utils

import cryptoemr
from helpers import ORDER, PATIENT, PYCA_CURVES, pyca_record, sha256, signature_s, spki

CURVES = ["secp256k1", "P-256"]
PRESCRIPTIONS = ["Amoxicillin 500mg", "", "Paracétamol 1 g — 3×/jour", "x" * 200, "é" * 100]


@pytest.fixture(params=CURVES)
def curve(request):
    return request.param


@pytest.fixture
def pyca_key(curve):
    return ec.generate_private_key(PYCA_CURVES[curve]())


def pyca_verify(emr):
    """Raises InvalidSignature unless pyca accepts the record's signature."""
    public = serialization.load_der_public_key(emr.dr_public_key)
    digest = sha256(emr.patient_hash, emr.prescription.encode(), emr.nonce.to_bytes(8, "little"))
    public.verify(emr.signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    # Equivalently: ECDSA-with-SHA-256 over the preimage.
    preimage = emr.patient_hash + emr.prescription.encode() + emr.nonce.to_bytes(8, "little")
    public.verify(emr.signature, preimage, ec.ECDSA(hashes.SHA256()))


def test_pyca_records_verify_here(curve, pyca_key):
    for nonce, text in enumerate(PRESCRIPTIONS, start=1):
        emr = pyca_record(pyca_key, PATIENT, text, nonce)
        emr.verify(nonce - 1)
    records = [pyca_record(pyca_key, PATIENT, "batch %d" % i, i + 1) for i in range(20)]
    cryptoemr.verify_records(records, list(range(20)))


@pytest.mark.parametrize("high_s", [True, False])
def test_pyca_high_and_low_s_signatures_verify_here(curve, pyca_key, high_s):
    n = ORDER[curve]
    for nonce in range(1, 6):
        emr = pyca_record(pyca_key, PATIENT, "Ibuprofen 200mg", nonce, high_s=high_s)
        assert (signature_s(emr.signature) > n // 2) is high_s
        pyca_verify(emr)  # pyca (OpenSSL) accepts both forms too
        emr.verify(nonce - 1)


def test_high_s_of_a_signature_made_here_verifies(curve):
    key = cryptoemr.SigningKey.generate(curve)
    emr = cryptoemr.create_signed_record(key, PATIENT, "Metformin", 3)
    n = ORDER[curve]
    r, s = utils.decode_dss_signature(emr.signature)
    emr.signature = utils.encode_dss_signature(r, n - s)
    emr.txid = emr.calculate_txid()
    emr.verify(2)
    pyca_verify(emr)


def test_records_made_here_verify_under_pyca_and_are_low_s(curve):
    key = cryptoemr.SigningKey.generate(curve)
    n = ORDER[curve]
    # ECDSA nonces make S uniformly high or low: 24 signatures leave a chance
    # of 2**-24 that normalization to low-S is never exercised.
    for nonce in range(1, 25):
        text = PRESCRIPTIONS[nonce % len(PRESCRIPTIONS)]
        emr = cryptoemr.create_signed_record(key, PATIENT, text, nonce)
        pyca_verify(emr)
        assert signature_s(emr.signature) <= n // 2
        assert emr.dr_public_key == key.public_key_der
        assert emr.dr_hash == hashlib.sha1(emr.dr_public_key).digest()
        assert emr.txid == sha256(
            emr.dr_hash, PATIENT, emr.dr_public_key, text.encode(), nonce.to_bytes(8, "little"), emr.signature
        )
        emr.verify(nonce - 1)


def test_tampered_record_fails_under_pyca_too(curve):
    emr = cryptoemr.create_signed_record(cryptoemr.SigningKey.generate(curve), PATIENT, "x", 1)
    emr.prescription = "y"
    with pytest.raises(InvalidSignature):
        pyca_verify(emr)
    emr.txid = emr.calculate_txid()
    with pytest.raises(cryptoemr.InvalidSignatureError):
        emr.verify(0)


def _all_private_forms(pyca_key):
    fmt = serialization.PrivateFormat
    enc = serialization.Encoding
    none = serialization.NoEncryption()
    return {
        "pyca object": pyca_key,
        "PKCS#8 DER": pyca_key.private_bytes(enc.DER, fmt.PKCS8, none),
        "PKCS#8 PEM": pyca_key.private_bytes(enc.PEM, fmt.PKCS8, none),
        "PKCS#8 PEM str": pyca_key.private_bytes(enc.PEM, fmt.PKCS8, none).decode(),
        "SEC1 PEM": pyca_key.private_bytes(enc.PEM, fmt.TraditionalOpenSSL, none),
        "SEC1 DER": pyca_key.private_bytes(enc.DER, fmt.TraditionalOpenSSL, none),
        "bytearray DER": bytearray(pyca_key.private_bytes(enc.DER, fmt.PKCS8, none)),
        "SigningKey": cryptoemr.SigningKey.from_der(pyca_key.private_bytes(enc.DER, fmt.PKCS8, none)),
    }


def test_create_signed_record_accepts_every_key_form(curve, pyca_key):
    for i, (form, key) in enumerate(_all_private_forms(pyca_key).items(), start=1):
        emr = cryptoemr.create_signed_record(key, PATIENT, "form " + form, i)
        assert emr.dr_public_key == spki(pyca_key), form
        assert emr.verify(i - 1) is None, form
        pyca_verify(emr)


def test_key_export_matches_pyca_byte_for_byte(curve, pyca_key):
    fmt = serialization.PrivateFormat
    enc = serialization.Encoding
    none = serialization.NoEncryption()
    der = pyca_key.private_bytes(enc.DER, fmt.PKCS8, none)
    pem = pyca_key.private_bytes(enc.PEM, fmt.PKCS8, none)
    for imported in (
        cryptoemr.SigningKey.from_der(der),
        cryptoemr.SigningKey.from_pem(pem),
        cryptoemr.SigningKey.from_pem(pyca_key.private_bytes(enc.PEM, fmt.TraditionalOpenSSL, none)),
        cryptoemr.SigningKey.from_der(pyca_key.private_bytes(enc.DER, fmt.TraditionalOpenSSL, none)),
    ):
        assert imported.to_der() == der
        assert imported.to_pem() == pem
        assert imported.public_key_der == spki(pyca_key)
        assert imported.public_key_hash == hashlib.sha1(spki(pyca_key)).digest()
        assert imported.curve == curve


def test_generated_keys_load_in_pyca_and_export_identically(curve):
    key = cryptoemr.SigningKey.generate(curve)
    assert key.curve == curve
    loaded = serialization.load_der_private_key(key.to_der(), password=None)
    assert isinstance(loaded.curve, PYCA_CURVES[curve])
    fmt = serialization.PrivateFormat
    enc = serialization.Encoding
    assert loaded.private_bytes(enc.DER, fmt.PKCS8, serialization.NoEncryption()) == key.to_der()
    assert loaded.private_bytes(enc.PEM, fmt.PKCS8, serialization.NoEncryption()) == key.to_pem()
    assert serialization.load_pem_private_key(key.to_pem(), password=None).private_numbers() == loaded.private_numbers()
    assert spki(loaded) == key.public_key_der


def test_unusable_pyca_keys_are_invalid_key_errors(curve, pyca_key):
    fmt = serialization.PrivateFormat
    enc = serialization.Encoding
    encrypted = serialization.BestAvailableEncryption(b"password")
    for data in (
        pyca_key.private_bytes(enc.PEM, fmt.PKCS8, encrypted),
        pyca_key.private_bytes(enc.DER, fmt.PKCS8, encrypted),
        pyca_key.private_bytes(enc.PEM, fmt.TraditionalOpenSSL, encrypted),
    ):
        with pytest.raises(cryptoemr.InvalidKeyError) as info:
            cryptoemr.create_signed_record(data, PATIENT, "x", 1)
        assert type(info.value) is cryptoemr.InvalidKeyError and info.value.kind == "invalid_key"
    for other in (ec.generate_private_key(ec.SECP384R1()), ed25519.Ed25519PrivateKey.generate()):
        with pytest.raises(cryptoemr.InvalidKeyError):
            cryptoemr.create_signed_record(other, PATIENT, "x", 1)
        with pytest.raises(cryptoemr.InvalidKeyError):
            cryptoemr.SigningKey.from_der(
                other.private_bytes(enc.DER, fmt.PKCS8, serialization.NoEncryption())
            )
