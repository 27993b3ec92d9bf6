"""Test helpers: building objects from the JSON vectors, and records signed
by pyca/cryptography exactly as the original Python design does."""

import hashlib

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

import cryptoemr

PYCA_CURVES = {"secp256k1": ec.SECP256K1, "P-256": ec.SECP256R1}
ORDER = {
    "secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
    "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551,
}
PATIENT = hashlib.sha1(b"patient public key").digest()
MINER = hashlib.sha1(b"miner public key").digest()


def emr_from_json(rec):
    return cryptoemr.EMR(
        bytes.fromhex(rec["dr_hash"]),
        bytes.fromhex(rec["patient_hash"]),
        bytes.fromhex(rec["dr_public_key"]),
        rec["prescription"],
        rec["nonce"],
        bytes.fromhex(rec["signature"]),
        bytes.fromhex(rec["txid"]),
    )


def block_from_json(b):
    return cryptoemr.Block(
        bytes.fromhex(b["previous"]),
        b["height"],
        bytes.fromhex(b["miner"]),
        [emr_from_json(r) for r in b["records"]],
        b["timestamp"],
        b["difficulty"],
        bytes.fromhex(b["block_id"]),
        b["nonce"],
    )


def states_from_json(d):
    return {bytes.fromhex(h): cryptoemr.UserState(s["balance"], s["nonce"]) for h, s in d.items()}


def states_to_json(states):
    return {h.hex(): {"balance": s.balance, "nonce": s.nonce} for h, s in states.items()}


def spki(pyca_key):
    return pyca_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def sha256(*parts):
    h = hashlib.sha256()
    for p in parts:
        h.update(p)
    return h.digest()


def pyca_record(pyca_key, patient, text, nonce, *, high_s=None):
    """A record signed by pyca/cryptography as python_baseline.py does.

    ``high_s=True`` / ``False`` forces the signature's S into the upper /
    lower half of the group order (by replacing s with n - s, the other
    valid form of the same signature); ``None`` keeps what OpenSSL made."""
    pub = spki(pyca_key)
    dr = hashlib.sha1(pub).digest()
    le = nonce.to_bytes(8, "little")
    digest = sha256(patient, text.encode(), le)
    sig = pyca_key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    curve = curve_name(pyca_key)
    if high_s is not None and (signature_s(sig) > ORDER[curve] // 2) != high_s:
        sig = other_form(sig, curve)
    txid = sha256(dr, patient, pub, text.encode(), le, sig)
    return cryptoemr.EMR(dr, patient, pub, text, nonce, sig, txid)


def curve_name(pyca_key):
    return {"secp256k1": "secp256k1", "secp256r1": "P-256"}[pyca_key.curve.name]


def signature_s(signature):
    return utils.decode_dss_signature(signature)[1]


def other_form(signature, curve):
    """``(r, n - s)``: the other valid form of a DER ECDSA signature on
    ``curve`` ("secp256k1" or "P-256"), which anyone can make without the key."""
    r, s = utils.decode_dss_signature(signature)
    return utils.encode_dss_signature(r, ORDER[curve] - s)


def make_block(records, *, difficulty=1, miner=MINER, previous=bytes(32), height=0, timestamp=1_700_000_000):
    """A block whose id is right; with difficulty 1 every id meets the target,
    otherwise nonces are tried from 0 in Python, independently of the
    library's mine_block (which test_mining.py covers)."""
    block = cryptoemr.Block(previous, height, miner, list(records), timestamp, difficulty, b"", 0)
    target = 2**256 // difficulty
    while True:
        block.block_id = block.calculate_block_id()
        if int.from_bytes(block.block_id, "big") <= target:
            return block
        block.nonce += 1


def reid(block):
    """Recomputes block_id after a header change (difficulty-1 blocks stay valid)."""
    block.block_id = block.calculate_block_id()
    return block
