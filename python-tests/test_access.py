"""Authorities, grants and revocations (SPEC section 8.1) through the Python
API: every vector of registry.json, the registry as chain state through undo,
reorganisation and reopening, the pool with entries, and the rules of SPEC
v1.2 (entries name their chain, low-S entry signatures, duplicates by
content, revocations carried once in force)."""

import hashlib
import pickle
import sys

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

import cryptoemr
from conftest import load_vectors
from helpers import ORDER, emr_from_json, other_form, signature_s

REGISTRY = load_vectors("registry.json")


def chain_keywords(params):
    """The vectors' chain parameters as keyword arguments of Chain (the
    chain_id beside them is what they hash to, not a parameter)."""
    keywords = {k: v for k, v in params.items() if k != "chain_id"}
    keywords["salt"] = bytes.fromhex(params["salt"])
    return keywords


PARAMS = chain_keywords(REGISTRY["params"])
OPEN_PARAMS = chain_keywords(REGISTRY["open_chain_params"])
CHAIN_ID = bytes.fromhex(REGISTRY["params"]["chain_id"])
BLOCK_TIME = PARAMS["block_time"]
AUTHORITIES = {a["name"]: a for a in REGISTRY["authorities"]}
DOCTORS = {d["name"]: d for d in REGISTRY["doctors"]}
DR_HASH = {name: bytes.fromhex(d["dr_hash"]) for name, d in DOCTORS.items()}
ENTRY_CASES = REGISTRY["entries"]
SCENARIO = REGISTRY["scenario"]
OPEN_SCENARIO = REGISTRY["open_chain_scenario"]
MINER = hashlib.sha1(b"access miner").digest()

ENTRY_ERRORS = {
    "invalid_entry": cryptoemr.InvalidEntryError,
    "invalid_entry_signature": cryptoemr.InvalidEntrySignatureError,
    "wrong_chain": cryptoemr.WrongChainError,
    "unknown_authority": cryptoemr.UnknownAuthorityError,
    "duplicate_grant": cryptoemr.DuplicateGrantError,
    "unknown_grant": cryptoemr.UnknownGrantError,
    "already_revoked": cryptoemr.AlreadyRevokedError,
    "revocation_not_yet_effective": cryptoemr.RevocationNotYetEffectiveError,
}
RECORD_ERRORS = {"unauthorized_doctor": cryptoemr.UnauthorizedDoctorError}
BLOCK_ERRORS = {"too_many_entries": cryptoemr.TooManyEntriesError}


def key(person):
    return cryptoemr.SigningKey.from_der(bytes.fromhex(person["private_key_pkcs8"]))


def authority_keys():
    return [key(a) for a in REGISTRY["authorities"]]


def spkis():
    return [bytes.fromhex(a["spki"]) for a in REGISTRY["authorities"]]


def entry_from_json(e):
    if e["type"] == "grant":
        return cryptoemr.Grant(
            bytes.fromhex(e["chain_id"]),
            bytes.fromhex(e["dr_public_key"]),
            e["licence"],
            e["not_before"],
            e["not_after"],
            bytes.fromhex(e["authority"]),
            bytes.fromhex(e["signature"]),
        )
    assert e["type"] == "revocation"
    return cryptoemr.Revocation(
        bytes.fromhex(e["chain_id"]),
        bytes.fromhex(e["grant_id"]),
        e["effective"],
        bytes.fromhex(e["authority"]),
        bytes.fromhex(e["signature"]),
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
        [entry_from_json(e) for e in b["entries"]],
    )


def assert_block_error(info, expected):
    """``expected`` in the vectors' spelling: ``record:0:unauthorized_doctor``,
    ``entry:1:invalid_entry_signature``, ``too_many_entries``."""
    error = info.value
    parts = expected.split(":")
    if parts[0] == "record":
        assert type(error) is cryptoemr.BlockRecordError
        assert error.index == int(parts[1])
        assert type(error.__cause__) is RECORD_ERRORS[parts[2]]
    elif parts[0] == "entry":
        assert type(error) is cryptoemr.BlockEntryError
        assert error.index == int(parts[1])
        assert type(error.__cause__) is ENTRY_ERRORS[parts[2]]
    else:
        assert type(error) is BLOCK_ERRORS[expected]


def registry_view(chain):
    """Everything the registry answers, for every doctor of the vectors."""
    view = {}
    for name, dr_hash in DR_HASH.items():
        view[name] = [(g.entry_id, g.licence, h, r) for g, h, r in chain.grants(dr_hash)]
    return view


def authorizations(chain, t):
    return {name: chain.is_authorized(h, t) for name, h in DR_HASH.items()}


def next_time(chain):
    return chain.tip.timestamp + BLOCK_TIME


def run_scenario(chain, cases):
    """Adds every block, checks its outcome and the authorizations after it;
    returns the accepted blocks and the registry view after each."""
    accepted, views = [], []
    for case in cases:
        block = block_from_json(case["block"])
        before = registry_view(chain)
        if case["expected"] == "extended":
            assert chain.add_block(block) == "extended", case["name"]
            accepted.append(block)
            views.append(registry_view(chain))
        else:
            with pytest.raises(cryptoemr.BlockError) as info:
                chain.add_block(block)
            assert_block_error(info, case["expected"]["error"])
            assert info.value.height == case["block"]["height"]
            assert registry_view(chain) == before, case["name"]
        expected = case["authorized_at_next_block"]
        assert authorizations(chain, next_time(chain)) == expected, case["name"]
    return accepted, views


def authority_chain(path=None, authorities=None):
    return cryptoemr.Chain(path, authorities=spkis() if authorities is None else authorities, **PARAMS)


# --- exceptions and vectors ------------------------------------------------------


def test_exception_tree():
    assert issubclass(cryptoemr.TooManyEntriesError, cryptoemr.BlockError)
    assert issubclass(cryptoemr.BlockEntryError, cryptoemr.BlockError)
    assert issubclass(cryptoemr.UnauthorizedDoctorError, cryptoemr.RecordError)
    assert issubclass(cryptoemr.EntryError, cryptoemr.EMRError)
    assert not issubclass(cryptoemr.EntryError, (cryptoemr.RecordError, cryptoemr.BlockError, cryptoemr.ChainError))
    for kind, cls in ENTRY_ERRORS.items():
        assert issubclass(cls, cryptoemr.EntryError) and cls.kind == kind
    for cls, kind in [
        (cryptoemr.TooManyEntriesError, "too_many_entries"),
        (cryptoemr.BlockEntryError, "entry"),
        (cryptoemr.UnauthorizedDoctorError, "unauthorized_doctor"),
    ]:
        assert cls.kind == kind
    for cls in [*ENTRY_ERRORS.values(), cryptoemr.EntryError, cryptoemr.TooManyEntriesError, cryptoemr.BlockEntryError,
                cryptoemr.UnauthorizedDoctorError]:
        assert cls.__module__ == "cryptoemr.errors" and cls.__name__ in cryptoemr.errors.__all__
        assert getattr(cryptoemr, cls.__name__) is cls
    assert cryptoemr.MAX_ENTRIES == 25 and cryptoemr.MAX_LICENCE_BYTES == 100


def test_vector_file_is_the_expected_one():
    assert REGISTRY["spec"] == "SPEC.md section 8.1"
    assert len(ENTRY_CASES) >= 8 and len(SCENARIO) >= 18 and len(OPEN_SCENARIO) >= 2
    errors = {c["stateless"]["error"] for c in ENTRY_CASES if c["stateless"] != "valid"}
    assert errors == {"invalid_entry", "invalid_entry_signature"}
    assert {c["entry"]["chain_id"] for c in ENTRY_CASES} == {CHAIN_ID.hex()}
    for person in [*REGISTRY["authorities"], REGISTRY["outsider"], *REGISTRY["doctors"]]:
        k = key(person)
        assert k.public_key_der.hex() == person["spki"] and k.public_key_hash.hex() == person["key_hash"]
        assert k.curve == person["curve"]


def spec_chain_id(params, authorities):
    """SPEC 5's chain id, computed here from the parameters as given."""
    preimage = b"cryptoemr/chain/v1" + params["initial_difficulty"].to_bytes(16, "little")
    for name in ("window", "block_time", "max_adjust", "block_reward", "max_future"):
        preimage += params[name].to_bytes(8, "little")
    preimage += len(authorities).to_bytes(2, "little")
    for spki in authorities:
        preimage += len(spki).to_bytes(2, "little") + spki
    return hashlib.sha256(preimage + params["salt"]).digest()


def test_the_vectors_parameters_give_their_chain_ids(tmp_path):
    """Chain(..., max_future=, salt=) names the chain as SPEC 5 says, for the
    chain with authorities and for the open chain of the vectors."""
    open_id = bytes.fromhex(REGISTRY["open_chain_params"]["chain_id"])
    assert (PARAMS["max_future"], OPEN_PARAMS["max_future"]) == (60, 60)
    assert len(PARAMS["salt"]) == 16 and PARAMS["salt"] != OPEN_PARAMS["salt"]
    assert spec_chain_id(PARAMS, spkis()) == CHAIN_ID and spec_chain_id(OPEN_PARAMS, []) == open_id
    with authority_chain() as chain:
        assert chain.chain_id == CHAIN_ID
        assert chain.params == {**PARAMS, "authorities": spkis()}
    with cryptoemr.Chain(**OPEN_PARAMS) as chain:
        assert chain.chain_id == open_id and chain.params == {**OPEN_PARAMS, "authorities": []}
    # Stored with the chain: a reopen, with or without the salt, keeps the id.
    path = tmp_path / "named.emr"
    authority_chain(path).close()
    for again in (lambda: cryptoemr.Chain(path), lambda: authority_chain(path),
                  lambda: cryptoemr.Chain(path, authorities=spkis(), **{**PARAMS, "salt": None}),
                  lambda: cryptoemr.Chain.open_readonly(path)):
        with again() as chain:
            assert chain.chain_id == CHAIN_ID and chain.params["salt"] == PARAMS["salt"]
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.Chain(path, authorities=spkis(), **{**PARAMS, "salt": OPEN_PARAMS["salt"]})
    # Any change of a parameter is another chain.
    for change in ({"max_future": 61}, {"salt": bytes(16)}, {"block_reward": 1}):
        with cryptoemr.Chain(authorities=spkis(), **{**PARAMS, **change}) as other:
            assert other.chain_id == spec_chain_id({**PARAMS, **change}, spkis()) != CHAIN_ID


@pytest.mark.parametrize("case", ENTRY_CASES, ids=[c["name"] for c in ENTRY_CASES])
def test_entry_vector(case):
    entry = entry_from_json(case["entry"])
    assert entry.entry_id.hex() == case["entry_id"]
    if case["stateless"] == "valid":
        assert entry.verify() is None
        encoded = entry.to_bytes()
        decoded = type(entry).from_bytes(encoded)
        assert decoded == entry and decoded.entry_id == entry.entry_id
        other = cryptoemr.Revocation if isinstance(entry, cryptoemr.Grant) else cryptoemr.Grant
        with pytest.raises(cryptoemr.DecodeError):
            other.from_bytes(encoded)
        assert pickle.loads(pickle.dumps(entry)) == entry
    else:
        cls = ENTRY_ERRORS[case["stateless"]["error"]]
        with pytest.raises(cryptoemr.EntryError) as info:
            entry.verify()
        assert type(info.value) is cls


def test_entries_signed_here_verify_and_match_the_vectors_doctors():
    auth1 = key(AUTHORITIES["auth1"])
    d1 = DOCTORS["D1"]
    grant = cryptoemr.create_grant(auth1, bytes.fromhex(d1["spki"]), "GMC 7012345, Dr Ada Lovelace", chain_id=CHAIN_ID)
    assert grant.verify() is None and grant.chain_id == CHAIN_ID
    assert (grant.not_before, grant.not_after) == (0, 2**64 - 1)
    assert grant.dr_hash.hex() == d1["dr_hash"]
    assert grant.authority == auth1.public_key_der
    assert grant.grant_id == grant.entry_id
    # The valid grant vector differs only by its (random) signature.
    vector = entry_from_json(ENTRY_CASES[0]["entry"])
    fields = ("chain_id", "dr_public_key", "licence", "not_before", "not_after", "authority")
    assert [getattr(vector, f) for f in fields] == [getattr(grant, f) for f in fields]
    for grant_id in (grant, grant.entry_id, bytearray(grant.entry_id)):
        for chain_id in (CHAIN_ID, bytearray(CHAIN_ID), memoryview(CHAIN_ID)):
            revocation = cryptoemr.create_revocation(key(AUTHORITIES["auth2"]), grant_id, 1_700_000_100,
                                                     chain_id=chain_id)
            assert revocation.verify() is None and revocation.grant_id == grant.entry_id
            assert revocation.chain_id == CHAIN_ID
    # Every key form for the doctor and the authority.
    pyca_auth = serialization.load_der_private_key(auth1.to_der(), None)
    doctor = key(d1)
    for authority in (auth1, auth1.to_der(), auth1.to_pem(), auth1.to_pem().decode(), pyca_auth):
        for dr in (doctor, doctor.public_key_der, serialization.load_der_private_key(doctor.to_der(), None).public_key()):
            g = cryptoemr.create_grant(authority, dr, "x", not_before=5, not_after=9, chain_id=CHAIN_ID)
            assert g.verify() is None and g.dr_hash == doctor.public_key_hash and g.authority == auth1.public_key_der
    # Entries are made low-S, on P-256 too, where half the raw signatures are high-S.
    p256 = key(REGISTRY["outsider"])
    for _ in range(16):
        g = cryptoemr.create_grant(p256, doctor, "x", chain_id=CHAIN_ID)
        assert signature_s(g.signature) <= ORDER["P-256"] // 2 and g.verify() is None


def test_entry_fields_are_judged_by_verify():
    auth = key(AUTHORITIES["auth1"])
    grant = cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "GMC 2", 10, 20, chain_id=CHAIN_ID)
    original_id = grant.entry_id
    grant.licence = "GMC 3"
    assert grant.entry_id != original_id
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        grant.verify()
    grant.licence = 5
    with pytest.raises(cryptoemr.InvalidEntryError):
        grant.verify()
    with pytest.raises(cryptoemr.InvalidEntryError):
        grant.to_bytes()
    grant.licence = "x" * 101
    with pytest.raises(cryptoemr.InvalidEntryError):
        grant.verify()
    grant.licence, grant.not_before = "GMC 2", 21
    with pytest.raises(cryptoemr.InvalidEntryError):
        grant.verify()
    grant.not_before = -1
    with pytest.raises(OverflowError):
        grant.verify()
    grant.not_before = "10"
    with pytest.raises(TypeError):
        grant.verify()
    grant.not_before = 10
    assert grant.verify() is None and grant.entry_id == original_id
    # The chain id is a field like the others: assigned freely, judged by
    # verify (its length first, then the signature, which covers it).
    grant.chain_id = CHAIN_ID[:31]
    with pytest.raises(cryptoemr.InvalidEntryError, match="chain_id"):
        grant.verify()
    with pytest.raises(cryptoemr.InvalidEntryError):
        grant.to_bytes()
    grant.chain_id = CHAIN_ID.hex()
    with pytest.raises(TypeError, match="chain_id"):
        grant.verify()
    grant.chain_id = bytes(32)
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        grant.verify()
    grant.chain_id = bytearray(CHAIN_ID)
    assert grant.verify() is None and grant.entry_id == original_id
    grant.authority = key(AUTHORITIES["auth2"]).public_key_der
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        grant.verify()
    revocation = cryptoemr.create_revocation(auth, original_id, 15, chain_id=CHAIN_ID)
    revocation.grant_id = original_id[:31]
    with pytest.raises(cryptoemr.InvalidEntryError):
        revocation.verify()
    with pytest.raises(cryptoemr.InvalidEntryError):
        revocation.to_bytes()
    revocation.grant_id = original_id
    revocation.chain_id = CHAIN_ID + b"\x00"
    with pytest.raises(cryptoemr.InvalidEntryError, match="chain_id"):
        revocation.verify()
    revocation.chain_id = bytes(32)
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        revocation.verify()
    revocation.chain_id = CHAIN_ID
    assert revocation.verify() is None
    revocation.signature = revocation.signature[:-1]
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        revocation.verify()
    # Signing refuses what could never verify.
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x" * 101, chain_id=CHAIN_ID)
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", not_before=2, not_after=1, chain_id=CHAIN_ID)
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_grant(auth, b"\x30\x00", "x", chain_id=CHAIN_ID)
    with pytest.raises(cryptoemr.InvalidEntryError, match="grant_id"):
        cryptoemr.create_revocation(auth, original_id[:31], 1, chain_id=CHAIN_ID)
    with pytest.raises(cryptoemr.InvalidEntryError, match="chain_id"):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", chain_id=CHAIN_ID[:31])
    with pytest.raises(cryptoemr.InvalidEntryError, match="chain_id"):
        cryptoemr.create_revocation(auth, original_id, 1, chain_id=bytes(33))
    for not_an_id in (CHAIN_ID.hex(), 5, None):
        with pytest.raises(TypeError, match="chain_id"):
            cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", chain_id=not_an_id)
    # chain_id is required and keyword-only.
    with pytest.raises(TypeError, match="chain_id"):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x")
    with pytest.raises(TypeError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", 0, 1, CHAIN_ID)
    with pytest.raises(TypeError, match="chain_id"):
        cryptoemr.create_revocation(auth, original_id, 1)
    closed = cryptoemr.Chain()
    closed.close()
    with pytest.raises(cryptoemr.InvalidArgumentError, match="closed"):
        cryptoemr.create_revocation(auth, original_id, 1, chain_id=closed)
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.create_grant(b"garbage", key(DOCTORS["D2"]), "x", chain_id=CHAIN_ID)
    with pytest.raises(OverflowError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", not_after=2**64, chain_id=CHAIN_ID)
    with pytest.raises(TypeError):
        cryptoemr.create_grant(auth, "emrd1...", "x", chain_id=CHAIN_ID)
    with pytest.raises(TypeError, match="authority_key"):
        cryptoemr.create_grant(5, auth, "x", chain_id=CHAIN_ID)
    with pytest.raises(TypeError, match="authority_key"):
        cryptoemr.create_revocation(None, bytes(32), 0, chain_id=CHAIN_ID)
    with pytest.raises(cryptoemr.DecodeError):
        cryptoemr.Grant.from_bytes(b"G\x01")
    # Version 1 entries (before SPEC v1.2) named no chain: refused.
    old = bytearray(revocation.to_bytes())
    old[1] = 1
    with pytest.raises(cryptoemr.DecodeError):
        cryptoemr.Revocation.from_bytes(bytes(old))
    assert "licence='GMC 2'" in repr(grant) and "emrd1" in repr(grant)
    again = cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "GMC 2", 10, 20, chain_id=CHAIN_ID)
    assert grant != cryptoemr.Grant.from_bytes(again.to_bytes())


# --- blocks with entries ---------------------------------------------------------


@pytest.mark.parametrize("case", SCENARIO + OPEN_SCENARIO, ids=[c["name"] for c in SCENARIO + OPEN_SCENARIO])
def test_scenario_block_id_encoding_and_own_checks(case):
    block = block_from_json(case["block"])
    assert block.calculate_block_id().hex() == case["block"]["block_id"]
    assert len(block.entries) == len(case["block"]["entries"])
    encoded = block.to_bytes()
    assert encoded[1] == (2 if block.entries else 1)
    decoded = cryptoemr.Block.from_bytes(encoded)
    assert decoded == block and decoded.entries == block.entries
    assert all(type(a) is type(b) for a, b in zip(decoded.entries, block.entries))
    assert pickle.loads(pickle.dumps(block)) == block
    # The block's own checks run the entries' stateless checks only.
    states = {bytes.fromhex(r["dr_hash"]): cryptoemr.UserState(0, r["nonce"] - 1) for r in case["block"]["records"]}
    expected = case["expected"] if case["expected"] == "extended" else case["expected"]["error"]
    # The replayed grant's signature is the high-S form: refused alone too.
    if expected in ("too_many_entries", "entry:1:invalid_entry_signature", "entry:0:invalid_entry_signature"):
        with pytest.raises(cryptoemr.BlockError) as info:
            block.verify_and_get_changes(1, states)
        assert_block_error(info, expected)
    else:
        block.verify_and_get_changes(1, states)
    # The id covers every entry.
    if block.entries:
        block.entries[-1].signature = block.entries[-1].signature[:-1] + b"\x00"
        assert block.calculate_block_id() != bytes.fromhex(case["block"]["block_id"])


def test_block_entries_default_and_types():
    block = cryptoemr.Block(bytes(32), 0, MINER, [], 0, 1, bytes(32), 0)
    assert block.entries == [] and "entries" not in repr(block)
    block.entries.append(cryptoemr.create_grant(key(AUTHORITIES["auth1"]), key(DOCTORS["D1"]), "x", chain_id=CHAIN_ID))
    assert "entries=[1 entry]" in repr(block)
    block.block_id = block.calculate_block_id()
    assert block.verify_and_get_changes(1, {})  # the miner's reward
    assert cryptoemr.Block.from_bytes(block.to_bytes()) == block
    block.entries = [5]
    with pytest.raises(TypeError):
        block.calculate_block_id()
    block.entries = 5
    with pytest.raises(TypeError):
        block.verify_and_get_changes(1, {})
    # CPython 3.9 does not expose a class's text signature (the method's it does).
    if sys.version_info >= (3, 10):
        assert "entries=()" in cryptoemr.Block.__text_signature__
    assert "entries=()" in cryptoemr.mine_block.__text_signature__


def test_mine_block_carries_entries():
    grant = cryptoemr.create_grant(key(AUTHORITIES["auth1"]), key(DOCTORS["D1"]), "GMC", chain_id=CHAIN_ID)
    revocation = cryptoemr.create_revocation(key(AUTHORITIES["auth2"]), grant, 5, chain_id=CHAIN_ID)
    block = cryptoemr.mine_block(bytes(32), 0, MINER, [], 1_700_000_000, 50, [grant, revocation], threads=1)
    assert block.entries == [grant, revocation]
    assert block.calculate_block_id() == block.block_id
    assert int.from_bytes(block.block_id, "big") <= 2**256 // 50
    block.verify_and_get_changes(50, {})
    same = cryptoemr.mine_block(bytes(32), 0, MINER, [], 1_700_000_000, 50, entries=(grant, revocation), threads=1)
    assert same == block
    without = cryptoemr.mine_block(bytes(32), 0, MINER, [], 1_700_000_000, 50, threads=1)
    assert without.entries == [] and without.calculate_block_id() != block.calculate_block_id()
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.mine_block(bytes(32), 0, MINER, [], 0, 1, [grant] * 26, threads=1)
    bad = cryptoemr.Revocation(CHAIN_ID, bytes(31), 1, b"", b"")
    with pytest.raises(cryptoemr.BlockEntryError) as info:
        cryptoemr.mine_block(bytes(32), 0, MINER, [], 0, 1, [grant, bad], threads=1)
    assert info.value.index == 1 and type(info.value.__cause__) is cryptoemr.InvalidEntryError
    with pytest.raises(TypeError):
        cryptoemr.mine_block(bytes(32), 0, MINER, [], 0, 1, [b"entry"], threads=1)


# --- the registry as chain state ----------------------------------------------------


def test_every_scenario_block_with_its_outcome_and_the_authorizations_after_it():
    with authority_chain() as chain:
        assert chain.authorities == spkis()
        assert chain.params["authorities"] == spkis()
        assert "2 authorities" in repr(chain)
        assert chain.chain_id == CHAIN_ID
        accepted, views = run_scenario(chain, SCENARIO)
        assert len(chain) == len(accepted)
        assert chain.check() == len(accepted)
        # The grants as the chain holds them at the end.
        d1 = chain.grants(DR_HASH["D1"])
        assert [(h, r) for _, h, r in d1] == [(0, 1_699_999_936), (4, None)]
        assert all(isinstance(g, cryptoemr.Grant) and g.verify() is None for g, _, _ in d1)
        assert d1[0][0].entry_id.hex() == ENTRY_CASES[0]["entry_id"]
        assert chain.grants(cryptoemr.encode_address("doctor", DR_HASH["D1"])) == d1
        assert [(h, r) for _, h, r in chain.grants(DR_HASH["D3"])] == [(5, None)]
        assert chain.grants(hashlib.sha1(b"nobody").digest()) == []
        assert chain.is_authorized(cryptoemr.encode_address("doctor", DR_HASH["D3"]), 1_700_000_084)
        assert not chain.is_authorized(DR_HASH["D3"], 1_700_000_085)
        # D1's first grant is revoked from 1_699_999_936; the renewal has no window.
        assert chain.is_authorized(DR_HASH["D1"], 0) and chain.is_authorized(DR_HASH["D1"], 2**64 - 1)
        assert not chain.is_authorized(DR_HASH["D2"], 0) or chain.grants(DR_HASH["D2"])[0][0].not_before == 0
        with pytest.raises(cryptoemr.WrongRoleError):
            chain.grants(cryptoemr.encode_address("patient", DR_HASH["D1"]))
        with pytest.raises(cryptoemr.InvalidArgumentError):
            chain.grants(DR_HASH["D1"][:19])
        with pytest.raises(OverflowError):
            chain.is_authorized(DR_HASH["D1"], -1)

        # Undo walks the registry back block by block, and forward again.
        for i in range(len(accepted) - 1, 0, -1):
            assert chain.undo_last_block() == accepted[i]
            assert registry_view(chain) == views[i - 1]
        assert chain.undo_last_block() == accepted[0]
        assert registry_view(chain) == {name: [] for name in DR_HASH}
        assert chain.add_blocks(accepted) == ["extended"] * len(accepted)
        assert registry_view(chain) == views[-1]


def test_the_batch_path_agrees_with_block_by_block():
    with authority_chain() as chain:
        accepted, views = run_scenario(chain, SCENARIO)
    with authority_chain() as batch:
        assert batch.add_blocks(accepted) == ["extended"] * len(accepted)
        assert registry_view(batch) == views[-1]
        # A refused block in a batch raises as add_block does, keeping those before.
        refused = next(c for c in SCENARIO if c["name"] == "D3_after_window")
        batch.undo_last_block()
        with pytest.raises(cryptoemr.BlockRecordError) as info:
            batch.add_blocks([accepted[-1], block_from_json(refused["block"])])
        assert info.value.batch_index == 1 and info.value.added == ["extended"]
        assert type(info.value.__cause__) is cryptoemr.UnauthorizedDoctorError


def test_the_open_chain_scenario():
    with cryptoemr.Chain(**OPEN_PARAMS) as chain:
        assert chain.authorities == [] and chain.params["authorities"] == []
        run_scenario(chain, OPEN_SCENARIO)
        # Anyone writes; nobody is "authorized": there are no grants.
        assert chain.grants(DR_HASH["D1"]) == []
        assert chain.pool.entries() == []
        # An entry made for another chain is that chain's; one made for this
        # chain names no authority of it.
        for chain_id, error in ((CHAIN_ID, cryptoemr.WrongChainError), (chain, cryptoemr.UnknownAuthorityError)):
            grant = cryptoemr.create_grant(key(AUTHORITIES["auth1"]), key(DOCTORS["D1"]), "x", chain_id=chain_id)
            with pytest.raises(error):
                chain.pool.submit_entry(grant)
        # The scenario's first block carries a grant for the chain with authorities.
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            cryptoemr.Chain(**OPEN_PARAMS).add_block(block_from_json(SCENARIO[0]["block"]))
        assert type(info.value.__cause__) is cryptoemr.WrongChainError


def side_block(chain_or_parent, entries=(), records=(), *, timestamp=None):
    """A difficulty-1 block on ``parent`` (a Block), mined by mine_block."""
    parent = chain_or_parent
    return cryptoemr.mine_block(
        parent.block_id, parent.height + 1, MINER, list(records),
        timestamp if timestamp is not None else parent.timestamp + BLOCK_TIME, 1, list(entries), threads=1,
    )


def test_reorganisation_moves_the_registry_and_a_failed_one_leaves_it_untouched():
    auth1, auth2 = authority_keys()
    with authority_chain() as chain:
        accepted, views = run_scenario(chain, SCENARIO)
        main_tip = chain.tip
        assert main_tip.height == 6
        fork = accepted[2]  # height 2: D1 and D2 granted, nothing revoked
        d2_grant = chain.grants(DR_HASH["D2"])[0][0]
        # A side branch from height 2 that revokes D2 instead of D1 and is one
        # block heavier than the active chain (heights 3..7 against 0..6).
        revoke_d2 = cryptoemr.create_revocation(auth2, d2_grant, fork.timestamp, chain_id=chain)
        branch = [side_block(fork, [revoke_d2])]
        outcomes = [chain.add_block(branch[0])]
        while len(branch) < 5:
            branch.append(side_block(branch[-1]))
            outcomes.append(chain.add_block(branch[-1]))
        assert outcomes == ["side_branch"] * 4 + ["reorganized"]
        assert chain.tip == branch[-1]
        assert [(h, r) for _, h, r in chain.grants(DR_HASH["D1"])] == [(0, None)]
        assert [(h, r) for _, h, r in chain.grants(DR_HASH["D2"])] == [(2, fork.timestamp)]
        assert chain.grants(DR_HASH["D3"]) == []
        assert authorizations(chain, next_time(chain)) == {"D1": True, "D2": False, "D3": False}
        side_view = registry_view(chain)

        # A heavier branch whose connecting block fails a registry check:
        # the chain, the registry and the queries stay exactly as they were.
        bad = [side_block(main_tip)]
        assert chain.add_block(bad[0]) == "side_branch"
        unknown = cryptoemr.create_revocation(auth1, hashlib.sha256(b"no such grant").digest(), 0, chain_id=chain)
        bad.append(side_block(bad[0], [unknown]))
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            chain.add_block(bad[1])
        assert type(info.value.__cause__) is cryptoemr.UnknownGrantError
        assert info.value.height == 8
        assert chain.tip == branch[-1] and registry_view(chain) == side_view

        # Back to the original branch, made heavier by a good block beside the
        # failed one: its registry returns.
        good = side_block(bad[0], timestamp=bad[0].timestamp + 1)
        assert chain.add_block(good) == "reorganized"
        assert chain.tip == good
        assert registry_view(chain) == views[-1]
        assert chain.check() == 9


def test_reopen_with_other_authorities_is_refused(tmp_path):
    path = tmp_path / "access.emr"
    with authority_chain(path) as chain:
        accepted, views = run_scenario(chain, SCENARIO[:5])
    for others in ([spkis()[0]], spkis()[::-1], [], spkis() + [key(REGISTRY["outsider"]).public_key_der]):
        with pytest.raises(cryptoemr.InvalidArgumentError):
            cryptoemr.Chain(path, authorities=others, **PARAMS)
    # The same list, in any key form, or none at all, reopens the chain.
    auth1, auth2 = authority_keys()
    pyca = serialization.load_der_private_key(auth2.to_der(), None).public_key()
    for same in (spkis(), [auth1, pyca], (k for k in (auth1, auth2))):
        with cryptoemr.Chain(path, authorities=same, **PARAMS) as chain:
            assert chain.authorities == spkis() and registry_view(chain) == views[-1]
    with cryptoemr.Chain(path) as chain:
        assert chain.authorities == spkis() and chain.params == {**PARAMS, "authorities": spkis()}
        assert registry_view(chain) == views[-1]
        assert chain.check() == len(accepted)
    with cryptoemr.Chain.open_readonly(path) as reader:
        assert reader.authorities == spkis() and registry_view(reader) == views[-1]
    # An open chain cannot be reopened with authorities either.
    open_path = tmp_path / "open.emr"
    cryptoemr.Chain(open_path, **PARAMS).close()
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.Chain(open_path, authorities=spkis(), **PARAMS)


def test_authorities_argument_is_checked():
    with pytest.raises(cryptoemr.InvalidArgumentError):
        cryptoemr.Chain(authorities=spkis() + spkis()[:1], **PARAMS)
    for bad in (b"\x30\x00", spkis()[0][:-1]):
        with pytest.raises(cryptoemr.InvalidKeyError):
            cryptoemr.Chain(authorities=[bad], **PARAMS)
    for bare in (spkis()[0], authority_keys()[0], 5):
        with pytest.raises(TypeError):
            cryptoemr.Chain(authorities=bare)
    if sys.version_info >= (3, 10):  # no class text signatures on CPython 3.9
        assert "authorities=()" in cryptoemr.Chain.__text_signature__


# --- the pool --------------------------------------------------------------------


def test_the_pool_refuses_unauthorized_doctors_and_carries_entries():
    auth1, auth2 = authority_keys()
    d1, d2 = key(DOCTORS["D1"]), key(DOCTORS["D2"])
    patient = hashlib.sha1(b"pool patient").digest()
    t0 = 1_700_000_000
    with authority_chain() as chain:
        first = cryptoemr.create_signed_record(d1, patient, "Paracetamol 1g", 1)
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(first, now=t0)
        grant = cryptoemr.create_grant(auth1, d1, "GMC D1", not_before=t0, not_after=t0 + 1000, chain_id=chain)
        assert chain.pool.submit_entry(grant) == "ready"
        assert chain.pool.submit_entry(grant) == "already_pending"
        # The pending grant admits D1 within its window only.
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(first, now=t0 + 1001)
        assert chain.pool.submit(first, now=t0) == "ready"
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(cryptoemr.create_signed_record(d2, patient, "x", 1), now=t0)
        # Entries are checked as a block would check them.
        outsider = cryptoemr.create_grant(key(REGISTRY["outsider"]), d2, "GMC D2", chain_id=chain)
        with pytest.raises(cryptoemr.UnknownAuthorityError):
            chain.pool.submit_entry(outsider)
        with pytest.raises(cryptoemr.UnknownGrantError):
            chain.pool.submit_entry(cryptoemr.create_revocation(auth2, bytes(32), t0, chain_id=chain))
        broken = cryptoemr.create_grant(auth1, d2, "GMC D2", chain_id=chain)
        broken.licence = "GMC D3"
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            chain.pool.submit_entry(broken)
        with pytest.raises(TypeError):
            chain.pool.submit_entry(first)
        with pytest.raises(OverflowError):
            chain.pool.submit_entry(grant, now=-1)
        # A revocation may name a grant still pending; until its effective
        # time comes, the pool holds it.
        revocation = cryptoemr.create_revocation(auth2, grant, t0 + 500, chain_id=chain)
        assert chain.pool.submit_entry(revocation, now=t0 + 10) == "held"
        assert chain.pool.entries() == [grant, revocation]
        assert "2 entries" in repr(chain.pool)

        template = chain.template(MINER, timestamp=t0 + 10)
        assert template.entries == [grant] and template.records == [first]
        # From the revocation's time, the template carries it and leaves
        # D1's records out (a revocation binds the records of its own block).
        late = chain.template(MINER, timestamp=t0 + 500)
        assert late.entries == [grant, revocation] and late.records == []
        block = chain.mine_next(MINER, timestamp=t0 + 10, threads=1)
        assert block.entries == [grant] and block.records == [first]
        assert chain.pool.entries() == [revocation] and len(chain.pool) == 0
        assert chain.template(MINER, timestamp=t0 + 499).entries == []
        block = chain.mine_next(MINER, timestamp=t0 + 500, threads=1)
        assert block.entries == [revocation] and chain.pool.entries() == []
        assert chain.grants(d1.address) == [(grant, 0, t0 + 500)]
        assert chain.is_authorized(d1.public_key_hash, t0 + 499)
        assert not chain.is_authorized(d1.public_key_hash, t0 + 500)
        with pytest.raises(cryptoemr.DuplicateGrantError):
            chain.pool.submit_entry(grant)
        with pytest.raises(cryptoemr.AlreadyRevokedError):
            chain.pool.submit_entry(cryptoemr.create_revocation(auth1, grant, t0 + 600, chain_id=chain))
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(cryptoemr.create_signed_record(d1, patient, "y", 2), now=t0 + 500)


# --- SPEC v1.2: entries name their chain, and a revoked grant stays revoked ----------


T0 = 1_700_000_000


def grant_preimage(grant):
    """SPEC 8.1's grant_preimage, built here from the fields."""
    def prefixed(data):
        return len(data).to_bytes(2, "little") + data

    return (b"cryptoemr/grant/v2" + grant.chain_id + prefixed(grant.dr_public_key) + prefixed(grant.licence.encode())
            + grant.not_before.to_bytes(8, "little") + grant.not_after.to_bytes(8, "little")
            + prefixed(grant.authority))


def next_block(chain, entries=(), records=(), *, timestamp=None):
    """The next block on the tip with these entries and records, mined (the
    vectors' difficulty is 1), not added."""
    tip = chain.tip
    return cryptoemr.mine_block(
        tip.block_id, tip.height + 1, MINER, list(records),
        timestamp if timestamp is not None else tip.timestamp + BLOCK_TIME,
        chain.next_difficulty(), list(entries), threads=1,
    )


def revoked_grant(chain, authority, doctor):
    """D's grant by ``authority``, carried at T0 and revoked from T0 + 12 by
    the next block: the doctor is out."""
    grant = cryptoemr.create_grant(authority, doctor, "GMC revoked", chain_id=chain)
    assert chain.pool.submit_entry(grant) == "ready"
    assert chain.mine_next(MINER, timestamp=T0, threads=1).entries == [grant]
    revocation = cryptoemr.create_revocation(authority, grant, T0 + BLOCK_TIME, chain_id=chain)
    assert chain.pool.submit_entry(revocation) == "ready"
    assert chain.mine_next(MINER, timestamp=T0 + BLOCK_TIME, threads=1).entries == [revocation]
    assert chain.grants(doctor.address) == [(grant, 0, T0 + BLOCK_TIME)]
    assert not chain.is_authorized(doctor.address, T0 + 2 * BLOCK_TIME)
    return grant


@pytest.mark.parametrize("authority", ["auth1", "auth2"], ids=["P-256", "secp256k1"])
def test_the_other_form_of_a_revoked_grant_s_signature_is_refused(authority):
    """The grant-malleability attack: anyone holding a revoked grant could
    turn its signature (r, s) into (r, n - s), which ECDSA accepts, and so
    make a grant of the same content under a new, unrevoked id."""
    auth, doctor = key(AUTHORITIES[authority]), key(DOCTORS["D1"])
    with authority_chain() as chain:
        grant = revoked_grant(chain, auth, doctor)
        flipped = cryptoemr.Grant.from_bytes(grant.to_bytes())
        flipped.signature = other_form(grant.signature, AUTHORITIES[authority]["curve"])
        assert flipped.entry_id != grant.entry_id
        # The premise: ECDSA (pyca/cryptography here) accepts the other form.
        pyca_key = serialization.load_der_public_key(grant.authority)
        digest = hashlib.sha256(grant_preimage(grant)).digest()
        for signature in (grant.signature, flipped.signature):
            pyca_key.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        # Entries must be low-S: refused alone, by the pool, and in a block.
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            flipped.verify()
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            chain.pool.submit_entry(flipped)
        record = cryptoemr.create_signed_record(doctor, hashlib.sha1(b"p").digest(), "back in?", 1)
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            chain.add_block(next_block(chain, [flipped], [record]))
        assert info.value.index == 0 and type(info.value.__cause__) is cryptoemr.InvalidEntrySignatureError
        assert len(chain) == 2 and chain.grants(doctor.address) == [(grant, 0, T0 + BLOCK_TIME)]
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(record)


def test_an_authority_s_second_signature_of_a_grant_is_a_duplicate():
    auth1, doctor = key(AUTHORITIES["auth1"]), key(DOCTORS["D2"])
    with authority_chain() as chain:
        grant = revoked_grant(chain, auth1, doctor)
        # P-256 signatures are randomized: the same content, another id.
        again = cryptoemr.create_grant(auth1, doctor, grant.licence, grant.not_before, grant.not_after, chain_id=chain)
        assert again.signature != grant.signature and again.entry_id != grant.entry_id
        assert again.verify() is None
        with pytest.raises(cryptoemr.DuplicateGrantError):
            chain.pool.submit_entry(again)
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            chain.add_block(next_block(chain, [again]))
        assert info.value.index == 0 and type(info.value.__cause__) is cryptoemr.DuplicateGrantError
        # Other content (a new licence) is a new grant: the way back in.
        renewed = cryptoemr.create_grant(auth1, doctor, "GMC renewed", chain_id=chain)
        assert chain.add_block(next_block(chain, [renewed])) == "extended"
        assert chain.is_authorized(doctor.address, chain.tip.timestamp)
    # Pending counts too: a second signature of a pending grant is refused.
    with authority_chain() as chain:
        grant = cryptoemr.create_grant(auth1, doctor, "GMC", chain_id=chain)
        assert chain.pool.submit_entry(grant) == "ready"
        with pytest.raises(cryptoemr.DuplicateGrantError):
            chain.pool.submit_entry(cryptoemr.create_grant(auth1, doctor, "GMC", chain_id=chain))


def test_an_entry_made_for_another_chain_is_refused():
    auth1, auth2 = authority_keys()
    doctor = key(DOCTORS["D1"])
    # The same settings and authorities, another salt: another chain (a test one, say).
    with authority_chain() as chain, cryptoemr.Chain(authorities=spkis(), **{**PARAMS, "salt": None}) as test_chain:
        assert test_chain.chain_id != chain.chain_id
        foreign = cryptoemr.create_grant(auth1, doctor, "GMC", chain_id=test_chain)
        assert foreign.chain_id == test_chain.chain_id and foreign.verify() is None
        assert test_chain.pool.submit_entry(foreign) == "ready"
        with pytest.raises(cryptoemr.WrongChainError):
            chain.pool.submit_entry(foreign)
        # Checked before the authority: an outsider's entry for another chain is the other chain's.
        with pytest.raises(cryptoemr.WrongChainError):
            chain.pool.submit_entry(cryptoemr.create_grant(key(REGISTRY["outsider"]), doctor, "x", chain_id=test_chain))
        genesis = cryptoemr.mine_block(bytes(32), 0, MINER, [], T0, 1, [foreign], threads=1)
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            chain.add_block(genesis)
        assert info.value.index == 0 and type(info.value.__cause__) is cryptoemr.WrongChainError
        assert test_chain.add_block(genesis) == "extended"
        # Re-pointing the entry at this chain breaks its signature: the id is signed.
        moved = cryptoemr.Grant.from_bytes(foreign.to_bytes())
        moved.chain_id = chain.chain_id
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            chain.pool.submit_entry(moved)
        # A revocation names its chain too.
        grant = cryptoemr.create_grant(auth1, doctor, "GMC", chain_id=chain)
        chain.pool.submit_entry(grant)
        with pytest.raises(cryptoemr.WrongChainError):
            chain.pool.submit_entry(cryptoemr.create_revocation(auth2, grant, 0, chain_id=test_chain))
        assert chain.pool.entries() == [grant] and len(chain) == 0


def test_a_revocation_is_carried_only_once_in_force():
    auth1, auth2 = authority_keys()
    doctor = key(DOCTORS["D3"])
    with authority_chain() as chain:
        grant = cryptoemr.create_grant(auth1, doctor, "GMC", chain_id=chain)
        chain.pool.submit_entry(grant)
        chain.mine_next(MINER, timestamp=T0, threads=1)
        revocation = cryptoemr.create_revocation(auth2, grant, T0 + 100, chain_id=chain)
        assert chain.pool.submit_entry(revocation, now=T0 + 50) == "held"
        assert chain.pool.submit_entry(revocation, now=T0 + 50) == "already_pending"
        assert chain.pool.entries() == [revocation]
        assert chain.template(MINER, T0 + 99).entries == []
        assert chain.template(MINER, T0 + 100).entries == [revocation]
        # A block carrying it before its time is refused, whatever the pool says.
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            chain.add_block(next_block(chain, [revocation], timestamp=T0 + 99))
        assert info.value.index == 0 and type(info.value.__cause__) is cryptoemr.RevocationNotYetEffectiveError
        assert info.value.height == 1 and len(chain) == 1
        assert chain.is_authorized(doctor.address, T0 + 100) and chain.grants(doctor.address) == [(grant, 0, None)]
        # At its time it goes in, and binds the records of its own block.
        record = cryptoemr.create_signed_record(doctor, hashlib.sha1(b"p").digest(), "late", 1)
        with pytest.raises(cryptoemr.BlockRecordError) as info:
            chain.add_block(next_block(chain, [revocation], [record], timestamp=T0 + 100))
        assert type(info.value.__cause__) is cryptoemr.UnauthorizedDoctorError
        assert chain.mine_next(MINER, timestamp=T0 + 100, threads=1).entries == [revocation]
        assert chain.grants(doctor.address) == [(grant, 0, T0 + 100)]
        # A backdated revocation (effective before the tip's time) is ready at once:
        # the pool judges at the later of `now` and the tip's time.
        other = cryptoemr.create_grant(auth1, key(DOCTORS["D1"]), "GMC", chain_id=chain)
        chain.pool.submit_entry(other)
        assert chain.pool.submit_entry(cryptoemr.create_revocation(auth1, other, T0, chain_id=chain), now=0) == "ready"
