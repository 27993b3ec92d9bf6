"""Authorities, grants and revocations (SPEC section 8.1) through the Python
API: every vector of registry.json, the registry as chain state through undo,
reorganisation and reopening, the pool with entries."""

import hashlib
import pickle
import sys

import pytest
from cryptography.hazmat.primitives import serialization

import cryptoemr
from conftest import load_vectors
from helpers import emr_from_json

REGISTRY = load_vectors("registry.json")
PARAMS = REGISTRY["params"]
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
    "unknown_authority": cryptoemr.UnknownAuthorityError,
    "duplicate_grant": cryptoemr.DuplicateGrantError,
    "unknown_grant": cryptoemr.UnknownGrantError,
    "already_revoked": cryptoemr.AlreadyRevokedError,
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
            bytes.fromhex(e["dr_public_key"]),
            e["licence"],
            e["not_before"],
            e["not_after"],
            bytes.fromhex(e["authority"]),
            bytes.fromhex(e["signature"]),
        )
    assert e["type"] == "revocation"
    return cryptoemr.Revocation(
        bytes.fromhex(e["grant_id"]), e["effective"], bytes.fromhex(e["authority"]), bytes.fromhex(e["signature"])
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
        assert cls.__module__ == "cryptoemr" and cls.__name__ in cryptoemr.__all__
    assert cryptoemr.MAX_ENTRIES == 25 and cryptoemr.MAX_LICENCE_BYTES == 100


def test_vector_file_is_the_expected_one():
    assert REGISTRY["spec"] == "SPEC.md section 8.1"
    assert len(ENTRY_CASES) >= 8 and len(SCENARIO) >= 18 and len(OPEN_SCENARIO) >= 2
    errors = {c["stateless"]["error"] for c in ENTRY_CASES if c["stateless"] != "valid"}
    assert errors == {"invalid_entry", "invalid_entry_signature"}
    for person in [*REGISTRY["authorities"], REGISTRY["outsider"], *REGISTRY["doctors"]]:
        k = key(person)
        assert k.public_key_der.hex() == person["spki"] and k.public_key_hash.hex() == person["key_hash"]
        assert k.curve == person["curve"]


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
    grant = cryptoemr.create_grant(auth1, bytes.fromhex(d1["spki"]), "GMC 7012345, Dr Ada Lovelace")
    assert grant.verify() is None
    assert (grant.not_before, grant.not_after) == (0, 2**64 - 1)
    assert grant.dr_hash.hex() == d1["dr_hash"]
    assert grant.authority == auth1.public_key_der
    assert grant.grant_id == grant.entry_id
    # The valid grant vector differs only by its (random) signature.
    vector = entry_from_json(ENTRY_CASES[0]["entry"])
    assert (vector.dr_public_key, vector.licence, vector.not_before, vector.not_after, vector.authority) == (
        grant.dr_public_key, grant.licence, grant.not_before, grant.not_after, grant.authority)
    for grant_id in (grant, grant.entry_id, bytearray(grant.entry_id)):
        revocation = cryptoemr.create_revocation(key(AUTHORITIES["auth2"]), grant_id, 1_700_000_100)
        assert revocation.verify() is None and revocation.grant_id == grant.entry_id
    # Every key form for the doctor and the authority.
    pyca_auth = serialization.load_der_private_key(auth1.to_der(), None)
    doctor = key(d1)
    for authority in (auth1, auth1.to_der(), auth1.to_pem(), auth1.to_pem().decode(), pyca_auth):
        for dr in (doctor, doctor.public_key_der, serialization.load_der_private_key(doctor.to_der(), None).public_key()):
            g = cryptoemr.create_grant(authority, dr, "x", not_before=5, not_after=9)
            assert g.verify() is None and g.dr_hash == doctor.public_key_hash and g.authority == auth1.public_key_der


def test_entry_fields_are_judged_by_verify():
    auth = key(AUTHORITIES["auth1"])
    grant = cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "GMC 2", 10, 20)
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
    grant.authority = key(AUTHORITIES["auth2"]).public_key_der
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        grant.verify()
    revocation = cryptoemr.create_revocation(auth, original_id, 15)
    revocation.grant_id = original_id[:31]
    with pytest.raises(cryptoemr.InvalidEntryError):
        revocation.verify()
    with pytest.raises(cryptoemr.InvalidEntryError):
        revocation.to_bytes()
    revocation.grant_id = original_id
    revocation.signature = revocation.signature[:-1]
    with pytest.raises(cryptoemr.InvalidEntrySignatureError):
        revocation.verify()
    # Signing refuses what could never verify.
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x" * 101)
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", not_before=2, not_after=1)
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_grant(auth, b"\x30\x00", "x")
    with pytest.raises(cryptoemr.InvalidEntryError):
        cryptoemr.create_revocation(auth, original_id[:31], 1)
    with pytest.raises(cryptoemr.InvalidKeyError):
        cryptoemr.create_grant(b"garbage", key(DOCTORS["D2"]), "x")
    with pytest.raises(OverflowError):
        cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "x", not_after=2**64)
    with pytest.raises(TypeError):
        cryptoemr.create_grant(auth, "emrd1...", "x")
    with pytest.raises(TypeError, match="authority_key"):
        cryptoemr.create_grant(5, auth, "x")
    with pytest.raises(TypeError, match="authority_key"):
        cryptoemr.create_revocation(None, bytes(32), 0)
    with pytest.raises(cryptoemr.DecodeError):
        cryptoemr.Grant.from_bytes(b"G\x01")
    assert "licence='GMC 2'" in repr(grant) and "emrd1" in repr(grant)
    assert grant != cryptoemr.Grant.from_bytes(cryptoemr.create_grant(auth, key(DOCTORS["D2"]), "GMC 2", 10, 20).to_bytes())


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
    if expected in ("too_many_entries", "entry:1:invalid_entry_signature"):
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
    block.entries.append(cryptoemr.create_grant(key(AUTHORITIES["auth1"]), key(DOCTORS["D1"]), "x"))
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
    grant = cryptoemr.create_grant(key(AUTHORITIES["auth1"]), key(DOCTORS["D1"]), "GMC")
    revocation = cryptoemr.create_revocation(key(AUTHORITIES["auth2"]), grant, 5)
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
    bad = cryptoemr.Revocation(bytes(31), 1, b"", b"")
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
        accepted, views = run_scenario(chain, SCENARIO)
        assert len(chain) == len(accepted)
        assert chain.check() == len(accepted)
        # The grants as the chain holds them at the end.
        d1 = chain.grants(DR_HASH["D1"])
        assert [(h, r) for _, h, r in d1] == [(0, 1_700_000_072), (5, None)]
        assert all(isinstance(g, cryptoemr.Grant) and g.verify() is None for g, _, _ in d1)
        assert d1[0][0].entry_id.hex() == ENTRY_CASES[0]["entry_id"]
        assert chain.grants(cryptoemr.encode_address("doctor", DR_HASH["D1"])) == d1
        assert [(h, r) for _, h, r in chain.grants(DR_HASH["D3"])] == [(6, None)]
        assert chain.grants(hashlib.sha1(b"nobody").digest()) == []
        assert chain.is_authorized(cryptoemr.encode_address("doctor", DR_HASH["D3"]), 1_700_000_096)
        assert not chain.is_authorized(DR_HASH["D3"], 1_700_000_097)
        # D1's first grant is revoked from 1_700_000_072; the renewal has no window.
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
    with cryptoemr.Chain(**PARAMS) as chain:
        assert chain.authorities == [] and chain.params["authorities"] == []
        run_scenario(chain, OPEN_SCENARIO)
        # Anyone writes; nobody is "authorized": there are no grants.
        assert chain.grants(DR_HASH["D1"]) == []
        assert chain.pool.entries() == []
        grant = cryptoemr.create_grant(key(AUTHORITIES["auth1"]), key(DOCTORS["D1"]), "x")
        with pytest.raises(cryptoemr.UnknownAuthorityError):
            chain.pool.submit_entry(grant)


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
        assert main_tip.height == 7
        fork = accepted[2]  # height 2: D1 and D2 granted, nothing revoked
        d2_grant = chain.grants(DR_HASH["D2"])[0][0]
        # A side branch from height 2 that revokes D2 instead of D1 and is one
        # block heavier than the active chain (heights 3..8 against 0..7).
        branch = [side_block(fork, [cryptoemr.create_revocation(auth2, d2_grant, fork.timestamp)])]
        outcomes = [chain.add_block(branch[0])]
        while len(branch) < 6:
            branch.append(side_block(branch[-1]))
            outcomes.append(chain.add_block(branch[-1]))
        assert outcomes == ["side_branch"] * 5 + ["reorganized"]
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
        unknown = cryptoemr.create_revocation(auth1, hashlib.sha256(b"no such grant").digest(), 0)
        bad.append(side_block(bad[0], [unknown]))
        with pytest.raises(cryptoemr.BlockEntryError) as info:
            chain.add_block(bad[1])
        assert type(info.value.__cause__) is cryptoemr.UnknownGrantError
        assert info.value.height == 9
        assert chain.tip == branch[-1] and registry_view(chain) == side_view

        # Back to the original branch, made heavier by a good block beside the
        # failed one: its registry returns.
        good = side_block(bad[0], timestamp=bad[0].timestamp + 1)
        assert chain.add_block(good) == "reorganized"
        assert chain.tip == good
        assert registry_view(chain) == views[-1]
        assert chain.check() == 10


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
        grant = cryptoemr.create_grant(auth1, d1, "GMC D1", not_before=t0, not_after=t0 + 1000)
        assert chain.pool.submit_entry(grant) == "ready"
        assert chain.pool.submit_entry(grant) == "already_pending"
        # The pending grant admits D1 within its window only.
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(first, now=t0 + 1001)
        assert chain.pool.submit(first, now=t0) == "ready"
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(cryptoemr.create_signed_record(d2, patient, "x", 1), now=t0)
        # Entries are checked as a block would check them.
        outsider = cryptoemr.create_grant(key(REGISTRY["outsider"]), d2, "GMC D2")
        with pytest.raises(cryptoemr.UnknownAuthorityError):
            chain.pool.submit_entry(outsider)
        with pytest.raises(cryptoemr.UnknownGrantError):
            chain.pool.submit_entry(cryptoemr.create_revocation(auth2, bytes(32), t0))
        broken = cryptoemr.create_grant(auth1, d2, "GMC D2")
        broken.licence = "GMC D3"
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            chain.pool.submit_entry(broken)
        with pytest.raises(TypeError):
            chain.pool.submit_entry(first)
        # A revocation may name a grant still pending.
        revocation = cryptoemr.create_revocation(auth2, grant, t0 + 500)
        assert chain.pool.submit_entry(revocation) == "ready"
        assert chain.pool.entries() == [grant, revocation]
        assert "2 entries" in repr(chain.pool)

        template = chain.template(MINER, timestamp=t0 + 10)
        assert template.entries == [grant, revocation] and template.records == [first]
        # After the revocation's time, the template leaves D1's records out.
        assert chain.template(MINER, timestamp=t0 + 500).records == []
        block = chain.mine_next(MINER, timestamp=t0 + 10, threads=1)
        assert block.entries == [grant, revocation] and block.records == [first]
        assert chain.pool.entries() == [] and len(chain.pool) == 0
        assert chain.grants(d1.address) == [(grant, 0, t0 + 500)]
        assert chain.is_authorized(d1.public_key_hash, t0 + 499)
        assert not chain.is_authorized(d1.public_key_hash, t0 + 500)
        with pytest.raises(cryptoemr.DuplicateGrantError):
            chain.pool.submit_entry(grant)
        with pytest.raises(cryptoemr.AlreadyRevokedError):
            chain.pool.submit_entry(cryptoemr.create_revocation(auth1, grant, t0 + 600))
        with pytest.raises(cryptoemr.UnauthorizedDoctorError):
            chain.pool.submit(cryptoemr.create_signed_record(d1, patient, "y", 2), now=t0 + 500)

