"""Sealed prescriptions (SPEC section 8.2) through the Python API.

``PycaSeal`` below is a second implementation of section 8.2 written from the
specification alone on pyca/cryptography (ECDH, HKDF, AESGCM), sharing no
code with the library: records the library seals open with it, records it
seals open (and verify) with the library, and it rebuilds the vectors'
envelopes byte for byte from their construction data.
"""

import base64
import hashlib
import os
import random

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

import cryptoemr
from conftest import load_vectors
from helpers import emr_from_json, pyca_record, spki

SEALED = load_vectors("sealed.json")
RECIPIENTS = {r["name"]: r for r in SEALED["recipients"]}
CASES = SEALED["records"]
VALID = [c for c in CASES if c["expected"] == "valid"]
INVALID = [c for c in CASES if c["expected"] != "valid"]


def library_key(name):
    return cryptoemr.SigningKey.from_der(bytes.fromhex(RECIPIENTS[name]["private_key_pkcs8"]))


def pyca_key(name):
    return serialization.load_der_private_key(bytes.fromhex(RECIPIENTS[name]["private_key_pkcs8"]), None)


# --- the independent implementation ---------------------------------------------


class PycaNotRecipient(Exception):
    pass


class PycaDecryptFailed(Exception):
    pass


class PycaMalformed(Exception):
    pass


class PycaSeal:
    """SPEC 8.2 on pyca/cryptography alone."""

    PREFIX = "sealed1:"
    CURVE_BYTE = {"secp256k1": 1, "secp256r1": 2}
    CURVES = {1: ec.SECP256K1, 2: ec.SECP256R1}
    SLOT = 20 + 1 + 33 + 48
    ZERO_NONCE = bytes(12)

    @staticmethod
    def b64(data):
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")

    @classmethod
    def unb64(cls, text):
        alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
        if not set(text) <= alphabet or len(text) % 4 == 1:
            raise PycaMalformed("not base64url")
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        if cls.b64(data) != text:
            raise PycaMalformed("not canonical")
        return data

    @staticmethod
    def text_aad(dr_hash, patient_hash, nonce):
        return b"cryptoemr/sealed/v1" + dr_hash + patient_hash + nonce.to_bytes(8, "little")

    @staticmethod
    def kek(shared_x, key_hash, point):
        return HKDF(hashes.SHA256(), 32, salt=None, info=b"cryptoemr/seal-kek/v1" + key_hash + point).derive(shared_x)

    @classmethod
    def seal(cls, plaintext, dr_hash, patient_hash, nonce, recipients, *, content_key=None, ephemeral_scalars=None):
        """``recipients``: pyca EC public keys. Fresh randomness unless the
        content key and the ephemeral scalars (ints) are given."""
        content_key = content_key if content_key is not None else os.urandom(32)
        slots = []
        for i, public in enumerate(recipients):
            der = public.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            key_hash = hashlib.sha1(der).digest()
            curve = public.curve
            if ephemeral_scalars is None:
                ephemeral = ec.generate_private_key(curve)
            else:
                ephemeral = ec.derive_private_key(ephemeral_scalars[i], curve)
            point = ephemeral.public_key().public_bytes(
                serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
            )
            kek = cls.kek(ephemeral.exchange(ec.ECDH(), public), key_hash, point)
            wrapped = AESGCM(kek).encrypt(cls.ZERO_NONCE, content_key, key_hash + point)
            slots.append(key_hash + bytes([cls.CURVE_BYTE[curve.name]]) + point + wrapped)
        ciphertext = AESGCM(content_key).encrypt(
            cls.ZERO_NONCE, plaintext.encode("utf-8"), cls.text_aad(dr_hash, patient_hash, nonce)
        )
        envelope = bytes([1, len(slots)]) + b"".join(slots) + ciphertext
        return cls.PREFIX + cls.b64(envelope)

    @classmethod
    def parse(cls, text):
        if not text.startswith(cls.PREFIX) or len(text.encode()) > 1024:
            raise PycaMalformed("not a sealed text")
        envelope = cls.unb64(text[len(cls.PREFIX):])
        if len(envelope) < 2 or envelope[0] != 1 or not 1 <= envelope[1] <= 4:
            raise PycaMalformed("header")
        count = envelope[1]
        body = envelope[2:]
        slots = []
        for i in range(count):
            slot = body[i * cls.SLOT:(i + 1) * cls.SLOT]
            if len(slot) != cls.SLOT or slot[20] not in cls.CURVES:
                raise PycaMalformed("slot")
            curve = cls.CURVES[slot[20]]()
            point = slot[21:54]
            if point[0] not in (2, 3):
                raise PycaMalformed("point form")
            try:
                ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            except ValueError:
                raise PycaMalformed("point not on curve") from None
            slots.append((slot[:20], curve, point, slot[54:]))
        ciphertext = body[count * cls.SLOT:]
        if not 16 <= len(ciphertext) <= 216:
            raise PycaMalformed("ciphertext length")
        return slots, ciphertext

    @classmethod
    def open(cls, text, dr_hash, patient_hash, nonce, private_key):
        slots, ciphertext = cls.parse(text)
        own = hashlib.sha1(spki(private_key)).digest()
        for key_hash, curve, point, wrapped in slots:
            if key_hash != own:
                continue
            if curve.name != private_key.curve.name:
                raise PycaDecryptFailed("curve")
            ephemeral = ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
            kek = cls.kek(private_key.exchange(ec.ECDH(), ephemeral), key_hash, point)
            try:
                content_key = AESGCM(kek).decrypt(cls.ZERO_NONCE, wrapped, key_hash + point)
                data = AESGCM(content_key).decrypt(cls.ZERO_NONCE, ciphertext, cls.text_aad(dr_hash, patient_hash, nonce))
                return data.decode("utf-8")
            except (InvalidTag, UnicodeDecodeError):
                raise PycaDecryptFailed("decrypt") from None
        raise PycaNotRecipient()


def pyca_open_emr(emr, private_key):
    return PycaSeal.open(emr.prescription, emr.dr_hash, emr.patient_hash, emr.nonce, private_key)


ERRORS = {"not_recipient": cryptoemr.NotRecipientError, "decrypt_failed": cryptoemr.DecryptFailedError}
PYCA_ERRORS = {"not_recipient": PycaNotRecipient, "decrypt_failed": PycaDecryptFailed}


# --- the vectors ------------------------------------------------------------------


def test_vector_file_is_the_expected_one():
    assert SEALED["spec"] == "SPEC.md section 8.2"
    assert len(VALID) >= 8 and len(INVALID) >= 14
    assert {c["expected"]["error"] for c in INVALID} == {"invalid_prescription"}
    for r in SEALED["recipients"]:
        key = library_key(r["name"])
        assert key.public_key_der.hex() == r["spki"] and key.public_key_hash.hex() == r["key_hash"]


@pytest.mark.parametrize("case", VALID, ids=[c["name"] for c in VALID])
def test_valid_vector_verifies_and_opens_as_listed(case):
    emr = emr_from_json(case["record"])
    assert emr.is_sealed
    assert emr.verify(case["previous_nonce"]) is None
    assert emr.patient_hash in emr.sealed_recipients()
    assert len(emr.sealed_recipients()) == len(case["construction"]["recipients"])
    assert emr.sealed_recipients() == [bytes.fromhex(RECIPIENTS[n]["key_hash"]) for n in case["construction"]["recipients"]]
    assert case["opens"]
    for opening in case["opens"]:
        who = opening["recipient"]
        for key in (library_key(who), pyca_key(who), bytes.fromhex(RECIPIENTS[who]["private_key_pkcs8"])):
            if "plaintext" in opening:
                assert emr.open(key) == opening["plaintext"]
            else:
                with pytest.raises(ERRORS[opening["error"]]) as info:
                    emr.open(key)
                assert type(info.value) is ERRORS[opening["error"]]
        # The independent implementation reads the vectors alike.
        if "plaintext" in opening:
            assert pyca_open_emr(emr, pyca_key(who)) == opening["plaintext"]
        else:
            with pytest.raises(PYCA_ERRORS[opening["error"]]):
                pyca_open_emr(emr, pyca_key(who))
    # The encoding keeps the sealed text as it is.
    assert cryptoemr.EMR.from_bytes(emr.to_bytes()) == emr


@pytest.mark.parametrize("case", INVALID, ids=[c["name"] for c in INVALID])
def test_invalid_vector_fails_with_exactly_invalid_prescription(case):
    emr = emr_from_json(case["record"])
    with pytest.raises(cryptoemr.InvalidPrescriptionError) as info:
        emr.verify(case["previous_nonce"])
    assert type(info.value) is cryptoemr.InvalidPrescriptionError
    # A text that fails check 3 does not open either, for anyone.
    for name in RECIPIENTS:
        with pytest.raises(cryptoemr.EMRError) as info:
            emr.open(library_key(name))
        assert type(info.value) in (cryptoemr.InvalidPrescriptionError, cryptoemr.InvalidArgumentError), name
    # Whether it is sealed at all is only the prefix.
    assert emr.is_sealed == emr.prescription.startswith("sealed1:")


def test_the_pyca_implementation_rebuilds_the_vectors_envelopes():
    rebuilt = 0
    for case in VALID:
        c = case["construction"]
        rec = case["record"]
        if c["plaintext"] in ("unused", "zz"):
            continue  # built by hand (moved envelope, non-UTF-8 text)
        text = PycaSeal.seal(
            c["plaintext"],
            bytes.fromhex(rec["dr_hash"]),
            bytes.fromhex(rec["patient_hash"]),
            rec["nonce"],
            [pyca_key(n).public_key() for n in c["recipients"]],
            content_key=bytes.fromhex(c["content_key"]),
            ephemeral_scalars=[int(s, 16) for s in c["ephemeral_scalars"]],
        )
        if case["name"] in ("ciphertext_tampered", "patient_wrapped_key_tampered"):
            assert text != rec["prescription"]
            assert len(text) == len(rec["prescription"])
        else:
            assert text == rec["prescription"], case["name"]
            rebuilt += 1
    assert rebuilt >= 4


# --- sealed here, opened there, and back -------------------------------------------


@pytest.fixture(scope="module")
def people():
    return {
        "doctor_k1": cryptoemr.SigningKey.generate("secp256k1"),
        "doctor_p256": cryptoemr.SigningKey.generate("P-256"),
        "patient_k1": ec.generate_private_key(ec.SECP256K1()),
        "patient_p256": ec.generate_private_key(ec.SECP256R1()),
        "pharmacy": ec.generate_private_key(ec.SECP256R1()),
        "stranger": ec.generate_private_key(ec.SECP256K1()),
    }


def pyca_of(key):
    """A pyca private key for a SigningKey (or the pyca key itself)."""
    if isinstance(key, cryptoemr.SigningKey):
        return serialization.load_der_private_key(key.to_der(), None)
    return key


def key_hash(key):
    return hashlib.sha1(spki(pyca_of(key))).digest()


@pytest.mark.parametrize("doctor_name", ["doctor_k1", "doctor_p256"])
@pytest.mark.parametrize("patient_name", ["patient_k1", "patient_p256"])
@pytest.mark.parametrize("seal_to_self", [True, False])
def test_sealed_here_opens_with_pyca(people, doctor_name, patient_name, seal_to_self):
    doctor, patient, pharmacy = people[doctor_name], people[patient_name], people["pharmacy"]
    text = "Amoxicillin 500mg, 3x daily — 7 days ✓"
    emr = cryptoemr.create_signed_record(
        doctor,
        key_hash(patient),
        text,
        3,
        seal_to=[patient.public_key(), spki(pharmacy)],
        seal_to_self=seal_to_self,
    )
    assert emr.is_sealed and emr.verify(2) is None
    readers = [patient, pharmacy] + ([doctor] if seal_to_self else [])
    assert emr.sealed_recipients() == [key_hash(k) for k in readers]
    for reader in readers:
        assert pyca_open_emr(emr, pyca_of(reader)) == text
        assert emr.open(reader) == text
    if not seal_to_self:
        with pytest.raises(cryptoemr.NotRecipientError):
            emr.open(doctor)
        with pytest.raises(PycaNotRecipient):
            pyca_open_emr(emr, pyca_of(doctor))
    with pytest.raises(cryptoemr.NotRecipientError):
        emr.open(people["stranger"])
    with pytest.raises(PycaNotRecipient):
        pyca_open_emr(emr, people["stranger"])


@pytest.mark.parametrize("patient_name", ["patient_k1", "patient_p256"])
def test_sealed_by_pyca_opens_and_verifies_here(people, patient_name):
    doctor = ec.generate_private_key(ec.SECP256K1())
    patient, pharmacy = people[patient_name], people["pharmacy"]
    dr_hash = hashlib.sha1(spki(doctor)).digest()
    for text in ["", "x", "Ibuprofen 400mg — ½ tablet", "é" * 100]:
        sealed = PycaSeal.seal(text, dr_hash, key_hash(patient), 1, [patient.public_key(), pharmacy.public_key(), doctor.public_key()])
        emr = pyca_record(doctor, key_hash(patient), sealed, 1)
        assert emr.verify(0) is None
        assert emr.is_sealed
        for reader in (patient, pharmacy, doctor):
            assert emr.open(reader) == text
            assert emr.open(cryptoemr.SigningKey.from_der(pyca_of(reader).private_bytes(
                serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ))) == text
        with pytest.raises(cryptoemr.NotRecipientError):
            emr.open(people["stranger"])


def test_a_pyca_sealed_text_over_the_limits_is_refused_here(people):
    doctor = ec.generate_private_key(ec.SECP256K1())
    patient = people["patient_k1"]
    dr_hash = hashlib.sha1(spki(doctor)).digest()
    ok = PycaSeal.seal("x" * 200, dr_hash, key_hash(patient), 1, [patient.public_key()])
    assert pyca_record(doctor, key_hash(patient), ok, 1).verify(0) is None
    too_long = PycaSeal.seal("x" * 201, dr_hash, key_hash(patient), 1, [patient.public_key()])
    with pytest.raises(cryptoemr.InvalidPrescriptionError):
        pyca_record(doctor, key_hash(patient), too_long, 1).verify(0)
    five = PycaSeal.seal("x", dr_hash, key_hash(patient), 1, [patient.public_key()] + [
        ec.generate_private_key(ec.SECP256R1()).public_key() for _ in range(4)
    ])
    with pytest.raises(cryptoemr.InvalidPrescriptionError):
        pyca_record(doctor, key_hash(patient), five, 1).verify(0)
    no_patient = PycaSeal.seal("x", dr_hash, key_hash(patient), 1, [people["pharmacy"].public_key()])
    with pytest.raises(cryptoemr.InvalidPrescriptionError):
        pyca_record(doctor, key_hash(patient), no_patient, 1).verify(0)


# --- tampering -----------------------------------------------------------------------


def sealed_sample(people):
    doctor = people["doctor_k1"]
    patient = people["patient_p256"]
    text = "Metformin 500mg twice daily"
    emr = cryptoemr.create_signed_record(doctor, key_hash(patient), text, 1, seal_to=[patient, people["pharmacy"]])
    return emr, text, [doctor, patient, people["pharmacy"]]


def test_every_envelope_byte_tampered_never_opens_to_another_text(people):
    emr, text, readers = sealed_sample(people)
    envelope = PycaSeal.unb64(emr.prescription[len("sealed1:"):])
    rng = random.Random(8_2)
    outcomes = {"refused": 0, "same_text": 0}
    for position in range(len(envelope)):
        for flip in {1 << rng.randrange(8), rng.randrange(1, 256)}:
            tampered = bytearray(envelope)
            tampered[position] ^= flip
            emr.prescription = "sealed1:" + PycaSeal.b64(bytes(tampered))
            # The doctor signed the original text: the tampered record never verifies.
            with pytest.raises(cryptoemr.RecordError):
                emr.verify(0)
            for reader in readers:
                try:
                    got = emr.open(reader)
                except (cryptoemr.SealError, cryptoemr.InvalidPrescriptionError):
                    outcomes["refused"] += 1
                else:
                    # Only a byte of another reader's slot leaves this one intact.
                    assert got == text, (position, flip)
                    outcomes["same_text"] += 1
    assert outcomes["refused"] > outcomes["same_text"] > 0


def test_every_sealed_text_character_changed_never_opens_to_another_text(people):
    emr, text, readers = sealed_sample(people)
    original = emr.prescription
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_=+/ "
    rng = random.Random(42)
    for position in range(len(original)):
        replacement = rng.choice([c for c in alphabet if c != original[position]])
        emr.prescription = original[:position] + replacement + original[position + 1:]
        for reader in readers:
            try:
                got = emr.open(reader)
            except (cryptoemr.SealError, cryptoemr.InvalidPrescriptionError, cryptoemr.InvalidArgumentError):
                continue
            assert got == text, position


def test_the_text_is_bound_to_doctor_patient_and_nonce(people):
    emr, text, readers = sealed_sample(people)
    patient = readers[1]
    assert emr.open(patient) == text
    # Another patient hash that is still a reader's (the pharmacy's), so that
    # the text stays well-formed and only the binding is wrong.
    for field, value in [("nonce", 2), ("Dr_hash", bytes(20)), ("Patient_hash", key_hash(readers[2]))]:
        moved = cryptoemr.EMR.from_bytes(emr.to_bytes())
        setattr(moved, field, value)
        with pytest.raises(cryptoemr.DecryptFailedError):
            moved.open(patient)
    moved.Patient_hash = bytes(20)  # no reader's: the text fails check 3
    with pytest.raises(cryptoemr.InvalidPrescriptionError):
        moved.open(patient)
    # The same envelope signed into another record by the same doctor does not open.
    copied = cryptoemr.create_signed_record(readers[0], emr.patient_hash, emr.prescription, 2)
    assert copied.verify(1) is None
    with pytest.raises(cryptoemr.DecryptFailedError):
        copied.open(patient)


# --- the API -----------------------------------------------------------------------


def test_seal_to_takes_every_key_form(people):
    doctor = people["doctor_p256"]
    patient = cryptoemr.SigningKey.generate("secp256k1")
    pyca_patient = serialization.load_der_private_key(patient.to_der(), None)
    forms = [
        patient,
        patient.public_key_der,
        bytearray(patient.public_key_der),
        memoryview(patient.public_key_der),
        pyca_patient,
        pyca_patient.public_key(),
    ]
    for form in forms:
        emr = cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=(form,))
        assert emr.open(patient) == "x" and emr.open(doctor) == "x"
    # A patient's address works as patient_hash, as everywhere.
    address = cryptoemr.encode_address("patient", patient.public_key_hash)
    emr = cryptoemr.create_signed_record(doctor, address, "x", 1, seal_to=iter([patient]))
    assert emr.patient_hash == patient.public_key_hash and emr.open(patient) == "x"


def test_sealing_refuses_what_could_never_verify(people):
    doctor = people["doctor_k1"]
    patient = cryptoemr.SigningKey.generate("P-256")
    others = [cryptoemr.SigningKey.generate() for _ in range(4)]
    with pytest.raises(cryptoemr.InvalidPrescriptionError):  # the patient is not a reader
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[others[0]])
    with pytest.raises(cryptoemr.InvalidPrescriptionError):  # nobody at all
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[], seal_to_self=False)
    with pytest.raises(cryptoemr.InvalidPrescriptionError):  # 5 with the doctor
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[patient] + others[:3])
    emr = cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[patient] + others[:3], seal_to_self=False)
    assert len(emr.sealed_recipients()) == 4
    # A key listed twice (or the doctor listed too) is sealed to once.
    emr = cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[patient, patient.public_key_der, doctor])
    assert emr.sealed_recipients() == [patient.public_key_hash, doctor.public_key_hash]
    with pytest.raises(cryptoemr.InvalidPrescriptionError):  # 201 bytes
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x" * 201, 1, seal_to=[patient])
    assert cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x" * 200, 1, seal_to=[patient]).open(patient) == "x" * 200
    with pytest.raises(cryptoemr.InvalidNonceError):
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 0, seal_to=[patient])
    with pytest.raises(cryptoemr.HashLengthError):
        cryptoemr.create_signed_record(doctor, patient.public_key_hash[:19], "x", 1, seal_to=[patient])
    # Keys that are not keys.
    compressed = ec.generate_private_key(ec.SECP256R1()).public_key()
    compressed_der = compressed.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)
    for bad in [b"", b"\x30\x00", patient.public_key_der[:-1], compressed_der]:
        with pytest.raises(cryptoemr.InvalidKeyError):
            cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[patient, bad])
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519").Ed25519PrivateKey.generate()
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[patient, ed.public_key()])
    for bad in [patient, patient.public_key_der, "emrp1...", 5]:
        with pytest.raises(TypeError):
            cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=bad)
    with pytest.raises(TypeError):
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, seal_to=[patient, 5])
    with pytest.raises(TypeError):
        cryptoemr.create_signed_record(doctor, patient.public_key_hash, "x", 1, [patient])  # keyword-only


def test_open_errors(people):
    doctor = people["doctor_k1"]
    patient = cryptoemr.SigningKey.generate()
    plain = cryptoemr.create_signed_record(doctor, patient.public_key_hash, "sealed? no", 1)
    assert not plain.is_sealed
    with pytest.raises(cryptoemr.InvalidArgumentError) as info:
        plain.open(patient)
    assert isinstance(info.value, ValueError)
    with pytest.raises(cryptoemr.InvalidArgumentError):
        plain.sealed_recipients()
    emr = cryptoemr.create_signed_record(doctor, patient.public_key_hash, "secret", 1, seal_to=[patient])
    with pytest.raises(cryptoemr.InvalidKeyError):
        emr.open(b"not a key")
    with pytest.raises(TypeError, match="private_key"):
        emr.open(5)
    with pytest.raises(TypeError):
        emr.open(None)
    emr.prescription = 5
    assert not emr.is_sealed
    with pytest.raises(cryptoemr.InvalidArgumentError):
        emr.open(patient)
    emr.prescription = "sealed1:"
    assert emr.is_sealed
    with pytest.raises(cryptoemr.InvalidPrescriptionError):
        emr.open(patient)
    with pytest.raises(cryptoemr.InvalidPrescriptionError):
        emr.sealed_recipients()


def test_exception_tree():
    assert issubclass(cryptoemr.SealError, cryptoemr.EMRError)
    assert not issubclass(cryptoemr.SealError, (cryptoemr.RecordError, cryptoemr.EntryError))
    for cls, kind in [(cryptoemr.NotRecipientError, "not_recipient"), (cryptoemr.DecryptFailedError, "decrypt_failed")]:
        assert issubclass(cls, cryptoemr.SealError) and cls.kind == kind
        assert cls.__module__ == "cryptoemr.errors"
        assert cls.__name__ in cryptoemr.errors.__all__
    assert cryptoemr.MAX_RECIPIENTS == 4


def test_sealed_records_travel_through_a_chain(people):
    doctor = people["doctor_k1"]
    patient = cryptoemr.SigningKey.generate("P-256")
    miner = hashlib.sha1(b"miner").digest()
    with cryptoemr.Chain(initial_difficulty=1) as chain:
        emr = cryptoemr.create_signed_record(doctor, patient.public_key_hash, "Warfarin 5mg", 1, seal_to=[patient])
        assert chain.pool.submit(emr) == "ready"
        block = chain.mine_next(miner, threads=1)
        assert block.records == [emr]
        [(height, block_id, stored)] = chain.patient_history(patient.public_key_hash)
        assert (height, block_id) == (0, block.block_id)
        assert stored.is_sealed and stored.open(patient) == "Warfarin 5mg"
        assert "Warfarin" not in repr(stored) and "Warfarin" not in repr(block)
