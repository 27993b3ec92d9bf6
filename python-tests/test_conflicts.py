"""SPEC 9.3, "no record lost silently", through Python: Chain.conflicts(),
Chain.dismiss_conflict() and the Conflict objects they list.

The story is the two-site one: a doctor signs a record at site C and, before
the sites sync, another at site D with the same nonce. Each site is a
`Chain` in this process; both have the same parameters (salt included) and
the same genesis, and "syncing" is handing one site's blocks to the other's
add_blocks, as a node does (SPEC 9.2)."""

import copy
import pickle

import pytest

import cryptoemr
from helpers import MINER, PATIENT, make_block

SALT = bytes(range(16))
MINER_C = MINER
MINER_D = bytes(range(20))


def block_on(parent, records=(), *, miner=MINER_D):
    """A difficulty-1 block on `parent` (None: the genesis); 12 s after it,
    which keeps the retarget at 1."""
    if parent is None:
        return make_block(records, miner=miner)
    return make_block(
        records, miner=miner, previous=parent.block_id, height=parent.height + 1, timestamp=parent.timestamp + 12
    )


def site(path=None):
    return cryptoemr.Chain(path, initial_difficulty=1, salt=SALT)


GENESIS = block_on(None, miner=MINER_C)


@pytest.fixture(scope="module")
def doctor():
    return cryptoemr.SigningKey.generate("secp256k1")


@pytest.fixture
def signed(doctor):
    """The doctor's two records with nonce 1: at site C, then at site D."""
    at_c = cryptoemr.create_signed_record(doctor, PATIENT, "Amoxicillin 500mg (site C)", 1)
    at_d = cryptoemr.create_signed_record(doctor, PATIENT, "Ibuprofen 400mg (site D)", 1)
    return at_c, at_d


def two_sites(signed, c_path=None):
    """Sites C and D, each of which has mined the doctor's record signed
    there; D's branch is one block heavier. Returns (c, d, c1, d_branch)."""
    at_c, at_d = signed
    c, d = site(c_path), site()
    assert c.chain_id == d.chain_id
    for chain in (c, d):
        assert chain.add_block(GENESIS) == "extended"
    assert c.pool.submit(at_c) == "ready"
    c1 = block_on(GENESIS, [at_c], miner=MINER_C)
    assert c.add_block(c1) == "extended"
    assert d.pool.submit(at_d) == "ready"
    d1 = block_on(GENESIS, [at_d])
    d2 = block_on(d1)
    assert d.add_blocks([d1, d2]) == ["extended", "extended"]
    return c, d, c1, [d1, d2]


def test_a_record_that_loses_a_reorganisation_is_a_conflict(signed):
    at_c, at_d = signed
    c, d, c1, (d1, d2) = two_sites(signed)
    assert c.conflicts() == [] and d.conflicts() == []
    # The sites sync: C takes D's heavier branch.
    assert c.add_blocks([d1, d2]) == ["side_branch", "reorganized"]
    assert c.tip == d2 and c.find_record(at_d.txid) == (1, d1.block_id, at_d)
    assert c.find_record(at_c.txid) is None
    # C's record left the active chain and cannot come back to the pool
    # (its nonce is D's record's now): it is kept, not dropped.
    (conflict,) = c.conflicts()
    assert type(conflict) is cryptoemr.Conflict
    assert conflict.record == at_c
    assert conflict.replaced_by == at_d.txid
    assert conflict.block_id == d1.block_id
    assert conflict.height == 1
    assert conflict == cryptoemr.Conflict(at_c, at_d.txid, d1.block_id, 1)
    assert c.pool.pending() == [] and len(c.pool) == 0
    with pytest.raises(cryptoemr.InvalidNonceError):
        c.pool.submit(at_c)
    assert c.conflicts() == [conflict]  # a refused resubmission changes nothing
    # D never held C's record: nothing of C's reaches it that it could lose.
    assert d.add_block(c1) == "side_branch"
    assert d.conflicts() == []


def test_a_reorganisation_back_swaps_the_conflict_and_dismissing_ends_it(signed):
    at_c, at_d = signed
    c, _, c1, d_branch = two_sites(signed)
    c.add_blocks(d_branch)
    assert [x.record for x in c.conflicts()] == [at_c]
    # C's own branch grows heavier: C's record is in the active chain again,
    # so it is no conflict any more; D's record is.
    c2 = block_on(c1, miner=MINER_C)
    c3 = block_on(c2, miner=MINER_C)
    assert c.add_blocks([c2, c3]) == ["side_branch", "reorganized"]
    assert c.tip == c3 and c.find_record(at_c.txid) == (1, c1.block_id, at_c)
    assert c.conflicts() == [cryptoemr.Conflict(at_d, at_c.txid, c1.block_id, 1)]
    assert c.pool.pending() == []
    # Dismissed once (the doctor re-signed it, say): gone, and for good.
    assert c.dismiss_conflict(at_d.txid) is True
    assert c.dismiss_conflict(at_d.txid) is False
    assert c.conflicts() == []
    assert c.dismiss_conflict(bytes(32)) is False


def test_a_pending_record_overtaken_by_a_block_from_elsewhere_is_a_conflict(doctor, signed):
    at_c, at_d = signed
    other_doctor = cryptoemr.SigningKey.generate("P-256")
    other_at_c = cryptoemr.create_signed_record(other_doctor, PATIENT, "Paracetamol 1g (site C)", 1)
    other_at_d = cryptoemr.create_signed_record(other_doctor, PATIENT, "Codeine 30mg (site D)", 1)
    with site() as c:
        c.add_block(GENESIS)
        # Both records wait in C's pool when blocks mined at D arrive.
        assert c.pool.submit(at_c) == "ready" and c.pool.submit(other_at_c) == "ready"
        d1 = block_on(GENESIS, [at_d])
        d2 = block_on(d1, [other_at_d])
        assert c.add_block(d1) == "extended"
        assert c.conflicts() == [cryptoemr.Conflict(at_c, at_d.txid, d1.block_id, 1)]
        assert c.pool.pending() == [other_at_c]
        assert c.add_block(d2) == "extended"
        # Oldest first.
        assert c.conflicts() == [
            cryptoemr.Conflict(at_c, at_d.txid, d1.block_id, 1),
            cryptoemr.Conflict(other_at_c, other_at_d.txid, d2.block_id, 2),
        ]
        assert c.pool.pending() == [] and c.template(MINER_C).records == []
        for record in (at_c, other_at_c):
            with pytest.raises(cryptoemr.InvalidNonceError):
                c.pool.submit(record)
    # A block carrying the very record that is pending leaves no conflict.
    with site() as c:
        c.add_block(GENESIS)
        assert c.pool.submit(at_c) == "ready"
        d1 = block_on(GENESIS, [at_c])  # the same record, mined elsewhere
        assert c.add_block(d1) == "extended"
        assert c.conflicts() == [] and c.pool.pending() == []


def test_conflicts_are_stored_and_a_read_only_chain_lists_them(tmp_path, signed):
    at_c, at_d = signed
    path = tmp_path / "site-c.db"
    c, _, _, (d1, d2) = two_sites(signed, path)
    with c:
        c.add_blocks([d1, d2])
        expected = [cryptoemr.Conflict(at_c, at_d.txid, d1.block_id, 1)]
        assert c.conflicts() == expected
        # A reader beside the writer sees them.
        with cryptoemr.Chain.open_readonly(path) as reader:
            assert reader.conflicts() == expected
    # Reopened read-only after the writer closed: still listed; it cannot
    # dismiss them.
    with cryptoemr.Chain.open_readonly(path) as reader:
        assert reader.conflicts() == expected
        with pytest.raises(cryptoemr.InvalidArgumentError):
            reader.dismiss_conflict(at_c.txid)
        assert reader.conflicts() == expected
    # Reopened for writing: still listed; a dismissal is stored too.
    with cryptoemr.Chain(path) as c:
        assert c.conflicts() == expected
        assert c.dismiss_conflict(bytearray(at_c.txid)) is True
    with cryptoemr.Chain.open_readonly(path) as reader:
        assert reader.conflicts() == []


def test_dismiss_conflict_takes_a_32_byte_txid():
    with site() as chain:
        for good in (bytes(32), bytearray(32), memoryview(bytes(32))):
            assert chain.dismiss_conflict(good) is False
        for bad in (b"", bytes(31), bytes(33)):
            with pytest.raises(cryptoemr.InvalidArgumentError, match="txid must be 32 bytes") as info:
                chain.dismiss_conflict(bad)
            assert isinstance(info.value, ValueError)
        for wrong in ("00" * 32, 0, None):
            with pytest.raises(TypeError):
                chain.dismiss_conflict(wrong)
    with pytest.raises(cryptoemr.InvalidArgumentError, match="closed"):
        chain.conflicts()
    with pytest.raises(cryptoemr.InvalidArgumentError, match="closed"):
        chain.dismiss_conflict(bytes(32))


def test_conflict_objects_compare_hash_pickle_and_copy(signed):
    at_c, at_d = signed
    block_id = bytes(range(32))
    conflict = cryptoemr.Conflict(at_c, at_d.txid, block_id, 7)
    assert conflict.record == at_c and conflict.replaced_by == at_d.txid
    assert conflict.block_id == block_id and conflict.height == 7
    # Immutable: the fields cannot be set, and the record is a new EMR at
    # each read, so changing it changes no conflict.
    for name, value in (("record", at_d), ("replaced_by", bytes(32)), ("block_id", bytes(32)), ("height", 8)):
        with pytest.raises(AttributeError):
            setattr(conflict, name, value)
    record = conflict.record
    assert record is not conflict.record
    record.prescription = "changed"
    assert conflict.record == at_c
    # Equality is all four fields; equal conflicts hash alike.
    same = cryptoemr.Conflict(cryptoemr.EMR.from_bytes(at_c.to_bytes()), bytearray(at_d.txid), memoryview(block_id), 7)
    assert same == conflict and not (same != conflict) and hash(same) == hash(conflict)
    assert len({conflict, same}) == 1
    for other in (
        cryptoemr.Conflict(at_d, at_d.txid, block_id, 7),
        cryptoemr.Conflict(at_c, at_c.txid, block_id, 7),
        cryptoemr.Conflict(at_c, at_d.txid, bytes(32), 7),
        cryptoemr.Conflict(at_c, at_d.txid, block_id, 8),
    ):
        assert other != conflict
    assert conflict != (at_c, at_d.txid, block_id, 7) and conflict != None  # noqa: E711
    for protocol in range(pickle.HIGHEST_PROTOCOL + 1):
        back = pickle.loads(pickle.dumps(conflict, protocol=protocol))
        assert back == conflict and back is not conflict and type(back) is cryptoemr.Conflict
    assert copy.copy(conflict) == conflict and copy.deepcopy(conflict) == conflict
    text = repr(conflict)
    assert text.startswith("Conflict(record=" + repr(at_c) + ", ")
    assert text.endswith(f", replaced_by={at_d.txid[:4].hex()}..., block_id=00010203..., height=7)")
    assert cryptoemr.Conflict.__module__ == "cryptoemr" and cryptoemr.Conflict.__doc__
    assert "Conflict" in cryptoemr.__all__


def test_conflict_constructor_checks_its_arguments(signed):
    at_c, at_d = signed
    with pytest.raises(TypeError, match="record must be an EMR"):
        cryptoemr.Conflict(at_c.to_bytes(), at_d.txid, bytes(32), 1)
    bad = cryptoemr.EMR.from_bytes(at_c.to_bytes())
    bad.Dr_hash = bytes(19)
    with pytest.raises(cryptoemr.HashLengthError):
        cryptoemr.Conflict(bad, at_d.txid, bytes(32), 1)
    for name, args in (("replaced_by", (at_c, bytes(31), bytes(32), 1)), ("block_id", (at_c, bytes(32), bytes(33), 1))):
        with pytest.raises(cryptoemr.InvalidArgumentError, match=f"{name} must be 32 bytes"):
            cryptoemr.Conflict(*args)
    with pytest.raises(TypeError):
        cryptoemr.Conflict(at_c, at_d.txid.hex(), bytes(32), 1)
    with pytest.raises(OverflowError):
        cryptoemr.Conflict(at_c, at_d.txid, bytes(32), -1)
    with pytest.raises(TypeError):
        cryptoemr.Conflict(at_c, at_d.txid, bytes(32), 1.0)
