"""repr, equality, pickling, copying and packaging of the Python objects."""

import copy
import pathlib
import pickle

import pytest
from cryptography.hazmat.primitives import serialization

import cryptoemr
from helpers import MINER, PATIENT, make_block


@pytest.fixture(params=["secp256k1", "P-256"])
def key(request):
    return cryptoemr.SigningKey.generate(request.param)


def secret_hex(key):
    loaded = serialization.load_der_private_key(key.to_der(), password=None)
    return format(loaded.private_numbers().private_value, "064x")


def test_signing_key_repr_never_shows_the_secret(key):
    secret = secret_hex(key)
    for text in (repr(key), str(key), f"{key!r}", repr([key]), repr({"k": key})):
        assert secret not in text.lower()
        assert key.to_der().hex() not in text.lower()
    assert repr(key) == f"SigningKey(curve='{key.curve}', address='{key.address}')"
    emr = cryptoemr.create_signed_record(key, PATIENT, "x", 1)
    assert secret not in repr(emr).lower()


def test_signing_key_refuses_pickling_but_copies(key):
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        with pytest.raises(TypeError, match="to_der"):
            pickle.dumps(key, protocol=protocol)
    assert copy.copy(key) is key and copy.deepcopy(key) is key
    assert copy.deepcopy({"k": [key]})["k"][0] is key


def test_signing_key_equality_and_hash(key):
    same = cryptoemr.SigningKey.from_der(key.to_der())
    other = cryptoemr.SigningKey.generate(key.curve)
    assert same == key and hash(same) == hash(key) and len({key, same, other}) == 2
    assert key != other and key != key.to_der() and key != None  # noqa: E711
    with pytest.raises(AttributeError):
        key.curve = "P-256"


def test_signing_key_forms(key):
    pem = key.to_pem()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----\n") and pem.endswith(b"-----END PRIVATE KEY-----\n")
    assert cryptoemr.SigningKey.from_pem(pem.decode()) == key
    assert cryptoemr.SigningKey.from_pem(bytearray(pem)) == key
    assert cryptoemr.SigningKey.from_der(memoryview(key.to_der())) == key
    assert key.curve in ("secp256k1", "P-256")
    assert len(key.public_key_hash) == 20
    for name, canonical in [("secp256r1", "P-256"), ("prime256v1", "P-256"), ("p-256", "P-256"), ("SECP256K1", "secp256k1")]:
        assert cryptoemr.SigningKey.generate(name).curve == canonical
    assert cryptoemr.SigningKey.generate().curve == "secp256k1"
    for bad in (b"", b"\x30\x00", b"-----BEGIN PRIVATE KEY-----\n!!\n-----END PRIVATE KEY-----\n", pem[:-30]):
        with pytest.raises(cryptoemr.InvalidKeyError):
            cryptoemr.SigningKey.from_pem(bad) if bad.startswith(b"-----") else cryptoemr.SigningKey.from_der(bad)
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.SigningKey.from_pem(key.to_der())
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.SigningKey.from_der(pem)
    with pytest.raises(TypeError):
        cryptoemr.SigningKey.from_der(12)
    with pytest.raises(TypeError):
        cryptoemr.SigningKey.generate(256)


def test_emr_equality_repr_pickle_copy(key):
    emr = cryptoemr.create_signed_record(key, PATIENT, "Paracetamol 1g, " * 5, 1)
    same = cryptoemr.EMR.from_bytes(emr.to_bytes())
    assert emr == same and not (emr != same)
    same.nonce = 2
    assert emr != same
    assert emr != emr.to_bytes() and emr != None  # noqa: E711
    with pytest.raises(TypeError):
        hash(emr)
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(emr, protocol=protocol))
        assert back == emr and back is not emr
        back.verify(0)
    assert copy.copy(emr) == emr and copy.deepcopy(emr) == emr
    text = repr(emr)
    # 20-byte hashes are shown as the addresses a person would compare.
    assert text.startswith(f"EMR(dr_hash={key.address}, patient_hash={cryptoemr.encode_address('patient', PATIENT)},")
    assert "txid=" + emr.txid[:4].hex() + "..." in text
    assert f"dr_public_key=<{len(emr.dr_public_key)} bytes>" in text and "nonce=1" in text
    assert "'Paracetamol 1g, Paracetamol 1g, Paraceta'..." in text
    # Odd values are shown as their repr; a pickled odd record stays odd.
    emr.Dr_hash = None
    emr.prescription = 42
    assert "dr_hash=None" in repr(emr) and "prescription=42" in repr(emr)
    back = pickle.loads(pickle.dumps(emr))
    assert back.Dr_hash is None and back.prescription == 42


def test_block_equality_repr_pickle(key):
    records = [cryptoemr.create_signed_record(key, PATIENT, "x%d" % n, n) for n in (1, 2)]
    block = make_block(records, difficulty=16, height=3)
    assert block.records is not records and block.records == records
    given = [records[0]]
    assert cryptoemr.Block(bytes(32), 0, MINER, given, 0, 1, b"", 0).records is given
    back = pickle.loads(pickle.dumps(block))
    assert back == block and back is not block
    assert back.verify_and_get_changes(16, {}) == block.verify_and_get_changes(16, {})
    assert copy.deepcopy(block) == block
    other = pickle.loads(pickle.dumps(block))
    other.records[1].prescription = "changed"
    assert other != block
    with pytest.raises(TypeError):
        hash(block)
    text = repr(block)
    assert text.startswith("Block(height=3, block_id=" + block.block_id[:4].hex() + "...")
    assert "records=[2 records]" in text and "difficulty=16" in text
    assert f"miner={cryptoemr.encode_address('miner', MINER)}," in text
    assert "records=[1 record]" in repr(make_block(records[:1]))


def test_user_state_pickle_and_copy():
    state = cryptoemr.UserState(2**64 - 1, 3)
    assert pickle.loads(pickle.dumps(state)) == state
    assert copy.copy(state) == state and copy.copy(state) is not state
    assert state != (2**64 - 1, 3)


def test_package_ships_stubs_and_marker():
    root = pathlib.Path(cryptoemr.__file__).parent
    assert (root / "py.typed").is_file()
    stub = (root / "_native.pyi").read_text()
    for name in ("class EMR", "class SigningKey", "class Block", "class UserState", "def create_signed_record",
                 "def verify_records", "def calculate_txid", "def calculate_signature_hash", "def calculate_sha1_hash",
                 "def mine_block", "def mining_engines", "def encode_address", "def decode_address",
                 "class Chain", "class Grant", "class Revocation", "def create_grant", "def create_revocation",
                 "class Conflict", "class DispenserGrant", "class Dispense", "class Cancellation",
                 "def create_dispenser_grant", "def create_dispense", "def prepare_dispense", "def create_cancellation",
                 "class PrescriptionStatus", "class EntryConflict"):
        assert name in stub
    assert isinstance(cryptoemr.__version__, str)
    assert cryptoemr.MAX_RECORDS == 25 and cryptoemr.DEFAULT_BLOCK_REWARD == 10_000
    assert cryptoemr.MAX_PRESCRIPTION_BYTES == 200
    for name in cryptoemr.__all__:
        assert hasattr(cryptoemr, name), name
    for cls in (cryptoemr.EMR, cryptoemr.Block, cryptoemr.UserState, cryptoemr.SigningKey, cryptoemr.Grant,
                cryptoemr.Revocation, cryptoemr.Conflict, cryptoemr.DispenserGrant, cryptoemr.Dispense,
                cryptoemr.Cancellation, cryptoemr.PrescriptionStatus, cryptoemr.EntryConflict):
        assert cls.__doc__ and cls.__module__ == "cryptoemr"
    for fn in (cryptoemr.create_signed_record, cryptoemr.create_grant, cryptoemr.create_revocation, cryptoemr.verify_records, cryptoemr.calculate_txid,
               cryptoemr.create_dispenser_grant, cryptoemr.create_dispense, cryptoemr.prepare_dispense,
               cryptoemr.create_cancellation,
               cryptoemr.mine_block, cryptoemr.mining_engines, cryptoemr.encode_address, cryptoemr.decode_address):
        assert fn.__doc__ and fn.__module__.startswith("cryptoemr")


def test_stubs_declare_exactly_the_native_names():
    """Every public class member and function of the extension is in
    _native.pyi, and the stubs declare nothing the extension lacks."""
    import ast

    from cryptoemr import _native

    tree = ast.parse((pathlib.Path(cryptoemr.__file__).parent / "_native.pyi").read_text())
    classes = {n.name: n for n in tree.body if isinstance(n, ast.ClassDef)}
    functions = {n.name for n in tree.body if isinstance(n, ast.FunctionDef)}
    native_classes = {n for n in dir(_native) if isinstance(getattr(_native, n), type)}
    native_functions = {n for n in dir(_native) if callable(getattr(_native, n)) and n not in native_classes}
    assert set(classes) == native_classes
    assert functions == native_functions
    for name, node in classes.items():
        declared = {m.name for m in node.body if isinstance(m, ast.FunctionDef)}
        declared |= {m.target.id for m in node.body if isinstance(m, ast.AnnAssign)}
        public = {a for a in dir(getattr(_native, name)) if not a.startswith("_")}
        assert {a for a in declared if not a.startswith("_")} == public, name


def test_entries_repr_equality_pickle_and_copy():
    authority = cryptoemr.SigningKey.generate("P-256")
    doctor = cryptoemr.SigningKey.generate()
    chain = cryptoemr.Chain()
    grant = cryptoemr.create_grant(authority, doctor, "GMC 1", 5, 9, chain_id=chain)
    revocation = cryptoemr.create_revocation(authority, grant, 7, chain_id=chain)
    for entry in (grant, revocation):
        assert pickle.loads(pickle.dumps(entry)) == entry
        assert copy.copy(entry) == entry and copy.deepcopy(entry) == entry and copy.copy(entry) is not entry
        with pytest.raises(TypeError):
            hash(entry)
        assert entry != entry.to_bytes()
    assert grant != revocation
    text = repr(grant)
    assert text.startswith(f"Grant(chain_id={chain.chain_id[:4].hex()}...,") and doctor.address in text
    assert "licence='GMC 1'" in text
    assert "not_before=5" in text and "not_after=9" in text and "signature=<" in text
    assert repr(revocation).startswith(
        f"Revocation(chain_id={chain.chain_id[:4].hex()}..., grant_id={grant.entry_id[:4].hex()}..."
    ) and "effective=7" in repr(revocation)
    odd = cryptoemr.Grant(0, 1, 2, 3, 4, 5, 6)
    assert pickle.loads(pickle.dumps(odd)) == odd and "Grant(" in repr(odd)
