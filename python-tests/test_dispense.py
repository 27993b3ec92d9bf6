"""Pharmacies (SPEC section 10) through the Python API: every vector of
dispense.json (each entry's stateless verdict; the whole scenario with
every prescription's state after each block; the open-chain scenario),
the richer queries, signing here (one step and the patient's two steps),
undo and reorganisation across dispensings and cancellations, and the
partition story: two sites, each pharmacy dispenses the same prescription,
the sites sync by adding the heavier branch: one dispensing stays, the
other is a conflict naming both pharmacies."""

import copy
import hashlib
import pickle

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

import cryptoemr
from conftest import load_vectors
from helpers import emr_from_json

RX = load_vectors("dispense.json")


def chain_keywords(params):
    keywords = {k: v for k, v in params.items() if k != "chain_id"}
    keywords["salt"] = bytes.fromhex(params["salt"])
    return keywords


PARAMS = chain_keywords(RX["params"])
OPEN_PARAMS = chain_keywords(RX["open_chain_params"])
CHAIN_ID = bytes.fromhex(RX["params"]["chain_id"])
BLOCK_TIME = PARAMS["block_time"]
AUTHORITY = RX["authority"]
KEYS = {k["name"]: k for k in RX["keys"]}
HASH = {name: bytes.fromhex(k["key_hash"]) for name, k in KEYS.items()}
MINER = hashlib.sha1(b"pharmacy miner").digest()

ENTRY_ERRORS = {
    "invalid_entry": cryptoemr.InvalidEntryError,
    "invalid_entry_signature": cryptoemr.InvalidEntrySignatureError,
    "wrong_chain": cryptoemr.WrongChainError,
    "duplicate_grant": cryptoemr.DuplicateGrantError,
    "unauthorized_dispenser": cryptoemr.UnauthorizedDispenserError,
    "unauthorized_canceller": cryptoemr.UnauthorizedCancellerError,
    "unknown_prescription": cryptoemr.UnknownPrescriptionError,
    "wrong_patient": cryptoemr.WrongPatientError,
    "prescriber_revoked": cryptoemr.PrescriberRevokedError,
    "public_text_on_sealed": cryptoemr.PublicTextOnSealedError,
    "already_dispensed": cryptoemr.AlreadyDispensedError,
    "prescription_cancelled": cryptoemr.PrescriptionCancelledError,
}
RECORD_ERRORS = {"unauthorized_doctor": cryptoemr.UnauthorizedDoctorError}
CLASSES = {
    "grant": cryptoemr.Grant,
    "revocation": cryptoemr.Revocation,
    "dispenser_grant": cryptoemr.DispenserGrant,
    "dispense": cryptoemr.Dispense,
    "cancel": cryptoemr.Cancellation,
}
FIELDS = {
    "grant": ["chain_id", "dr_public_key", "licence", "not_before", "not_after", "authority", "signature"],
    "revocation": ["chain_id", "grant_id", "effective", "authority", "signature"],
    "dispenser_grant": ["chain_id", "pharmacy_public_key", "licence", "not_before", "not_after", "authority",
                        "signature"],
    "dispense": ["chain_id", "dr_hash", "nonce", "record_hash", "pharmacy_public_key", "patient_public_key", "note",
                 "signature", "patient_signature"],
    "cancel": ["chain_id", "dr_hash", "nonce", "record_hash", "canceller", "reason", "signature"],
}
TEXT = {"licence", "note", "reason"}
INTS = {"not_before", "not_after", "effective", "nonce"}


def key(person):
    return cryptoemr.SigningKey.from_der(bytes.fromhex(person["private_key_pkcs8"]))


def entry_from_json(e):
    values = []
    for name in FIELDS[e["type"]]:
        value = e[name]
        values.append(value if name in TEXT or name in INTS else bytes.fromhex(value))
    return CLASSES[e["type"]](*values)


def block_from_json(b):
    return cryptoemr.Block(
        bytes.fromhex(b["previous"]), b["height"], bytes.fromhex(b["miner"]),
        [emr_from_json(r) for r in b["records"]], b["timestamp"], b["difficulty"],
        bytes.fromhex(b["block_id"]), b["nonce"], [entry_from_json(e) for e in b["entries"]],
    )


def prescription_key(name):
    doctor, nonce = name.split(":")
    return HASH[doctor], int(nonce)


def states(chain, names):
    return {name: chain.prescription_state(*prescription_key(name)) for name in names}


def assert_block_error(info, expected):
    where, index, kind = expected.split(":")
    error = info.value
    if where == "entry":
        assert type(error) is cryptoemr.BlockEntryError
        assert type(error.__cause__) is ENTRY_ERRORS[kind]
    else:
        assert type(error) is cryptoemr.BlockRecordError
        assert type(error.__cause__) is RECORD_ERRORS[kind]
    assert error.index == int(index)


def run_scenario(chain, cases):
    """Adds every block, checks its outcome and every prescription's state
    after it; returns the accepted blocks and the states after each."""
    accepted, after = [], []
    for case in cases:
        block = block_from_json(case["block"])
        if case["expected"] == "extended":
            assert chain.add_block(block) == "extended", case["name"]
            accepted.append(block)
        else:
            with pytest.raises(cryptoemr.BlockError) as info:
                chain.add_block(block)
            assert_block_error(info, case["expected"]["error"])
            assert info.value.height == case["block"]["height"]
        expected = case["prescriptions_after"]
        assert states(chain, expected) == expected, case["name"]
        if case["expected"] == "extended":
            after.append(expected)
    return accepted, after


def authority_chain(path=None):
    return cryptoemr.Chain(path, authorities=[bytes.fromhex(AUTHORITY["spki"])], **PARAMS)


def next_block(chain, entries=(), records=(), *, parent=None):
    """A mined block (difficulty 1 in these chains) on ``parent`` (default the
    tip), not added."""
    parent = parent or chain.tip
    return cryptoemr.mine_block(
        parent.block_id, parent.height + 1, MINER, list(records), parent.timestamp + BLOCK_TIME, 1,
        list(entries), threads=1,
    )


# --- exceptions, vectors ---------------------------------------------------------


def test_the_new_kinds_are_entry_errors():
    for kind, cls in ENTRY_ERRORS.items():
        assert issubclass(cls, cryptoemr.EntryError) and cls.kind == kind
        assert cryptoemr.errors.BY_KIND[kind] is cls
        assert cls.__module__ == "cryptoemr.errors" and cls.__name__ in cryptoemr.errors.__all__
        assert getattr(cryptoemr, cls.__name__) is cls
    assert cryptoemr.MAX_NOTE_BYTES == 100


def test_vector_file_is_the_expected_one():
    assert RX["spec"] == "SPEC.md section 10"
    assert len(RX["entries"]) == 14 and len(RX["scenario"]) == 32 and len(RX["open_chain_scenario"]) == 3
    for person in [AUTHORITY, *RX["keys"]]:
        k = key(person)
        assert k.public_key_der.hex() == person["spki"] and k.public_key_hash.hex() == person["key_hash"]


@pytest.mark.parametrize("case", RX["entries"], ids=[c["name"] for c in RX["entries"]])
def test_entry_vector(case):
    entry = entry_from_json(case["entry"])
    assert entry.entry_id.hex() == case["entry_id"]
    if case["stateless"] == "valid":
        assert entry.verify() is None
        encoded = entry.to_bytes()
        decoded = type(entry).from_bytes(encoded)
        assert decoded == entry and decoded.entry_id == entry.entry_id
        for other in CLASSES.values():
            if other is not type(entry):
                with pytest.raises(cryptoemr.DecodeError):
                    other.from_bytes(encoded)
        assert pickle.loads(pickle.dumps(entry)) == entry
        assert copy.deepcopy(entry) == entry
        with pytest.raises(TypeError):
            hash(entry)
        assert type(entry).__name__ in repr(entry)
    else:
        with pytest.raises(cryptoemr.EntryError) as info:
            entry.verify()
        assert type(info.value) is ENTRY_ERRORS[case["stateless"]["error"]]


def test_fields_are_judged_by_verify_not_by_assignment():
    dispense = entry_from_json(next(c for c in RX["entries"] if c["name"] == "dispense_valid")["entry"])
    dispense.note = 7
    with pytest.raises(cryptoemr.InvalidEntryError):
        dispense.verify()
    with pytest.raises(cryptoemr.InvalidEntryError):
        dispense.to_bytes()
    dispense.note = "x" * 101
    with pytest.raises(cryptoemr.InvalidEntryError):
        dispense.verify()
    dispense.nonce = "1"
    with pytest.raises(TypeError):
        dispense.verify()
    dispense.nonce = -1
    with pytest.raises(OverflowError):
        dispense.entry_id
    with pytest.raises(TypeError):
        cryptoemr.Block(bytes(32), 0, MINER, [], 0, 1, bytes(32), 0, ["entry"]).calculate_block_id()


def test_every_scenario_block_with_every_prescription_s_state_after_it(tmp_path):
    path = tmp_path / "rx.emr"
    with authority_chain(path) as chain:
        accepted, after = run_scenario(chain, RX["scenario"])
        assert len(accepted) == 12 and chain.check() == 12
        final = after[-1]
    # Reopened from the file, the states are those the blocks give.
    with cryptoemr.Chain(path) as chain:
        assert states(chain, final) == final
        # A refused prescription lookup.
        with pytest.raises(cryptoemr.NotFoundError):
            chain.prescription_state(HASH["D1"], 99)
        with pytest.raises(cryptoemr.NotFoundError):
            chain.prescription(HASH["P1"], 1)
        with pytest.raises(cryptoemr.WrongRoleError):
            chain.prescription_state(cryptoemr.encode_address("patient", HASH["D1"]), 1)


def test_the_batch_path_agrees():
    with authority_chain() as chain:
        accepted, after = run_scenario(chain, RX["scenario"])
    with authority_chain() as batch:
        assert batch.add_blocks(accepted) == ["extended"] * len(accepted)
        assert states(batch, after[-1]) == after[-1]


def test_the_open_chain_scenario():
    with cryptoemr.Chain(**OPEN_PARAMS) as chain:
        run_scenario(chain, RX["open_chain_scenario"])
        status = chain.prescription(HASH["D1"], 1)
        # In an open chain the prescriber cancels (no authority to ask).
        assert status.state == "cancelled" and status.by == HASH["D1"]
        assert not chain.is_dispenser_authorized(HASH["P1"], 0)


def test_who_when_and_which_block():
    with authority_chain() as chain:
        run_scenario(chain, RX["scenario"])
        d11 = chain.prescription(cryptoemr.encode_address("doctor", HASH["D1"]), 1)
        assert isinstance(d11, cryptoemr.PrescriptionStatus)
        assert d11.state == "dispensed" and d11.by == HASH["P1"]
        assert isinstance(d11.entry, cryptoemr.Dispense) and d11.entry.verify() is None
        assert d11.entry.pharmacy_hash == HASH["P1"] and d11.entry.note
        block = chain[d11.height]
        assert (d11.block_id, d11.timestamp) == (block.block_id, block.timestamp)
        assert d11.entry in block.entries
        assert d11.record.nonce == 1 and d11.record.dr_hash == HASH["D1"]
        assert chain[d11.record_height].block_id == d11.record_block_id
        assert d11.record_timestamp < d11.timestamp
        # A snapshot compared by value; its objects are new at each read.
        assert d11 == chain.prescription(HASH["D1"], 1) and d11 != chain.prescription(HASH["D1"], 2)
        assert d11.entry is not d11.entry and d11.entry == d11.entry
        d11.record.nonce = 5
        assert d11.record.nonce == 1
        with pytest.raises(AttributeError):
            d11.state = "open"
        # Cancelled by the prescriber, and by the authority.
        d12, d13 = chain.prescription(HASH["D1"], 2), chain.prescription(HASH["D1"], 3)
        assert (d12.state, d12.by) == ("cancelled", HASH["D1"])
        assert (d13.state, d13.by) == ("cancelled", bytes.fromhex(AUTHORITY["key_hash"]))
        assert isinstance(d13.entry, cryptoemr.Cancellation) and d13.entry.canceller_hash == d13.by
        d22 = chain.prescription(HASH["D2"], 2)
        assert d22.state == "dispensed" and d22.by == HASH["P2"]
        # An open one has no entry.
        with authority_chain() as short:
            run_scenario(short, RX["scenario"][:2])
            open_one = short.prescription(HASH["D1"], 1)
            assert (open_one.state, open_one.entry, open_one.by, open_one.height) == ("open", None, None, None)
            assert "open" in repr(open_one)
        # A patient's prescriptions carry their states, in chain order.
        for patient in ("PA", "PB"):
            listed = chain.patient_prescriptions(HASH[patient])
            assert [s.record for s in listed] == [e for _, _, e in chain.patient_history(HASH[patient])]
            for s in listed:
                assert s.state == chain.prescription_state(s.record.dr_hash, s.record.nonce)
        assert {s.state for s in chain.patient_prescriptions(HASH["PA"])} >= {"dispensed", "cancelled"}
        # A pharmacy's dispensings, by hash or by key.
        p1 = chain.dispensings(HASH["P1"])
        assert p1 == chain.dispensings(key(KEYS["P1"])) == chain.dispensings(bytes.fromhex(KEYS["P1"]["spki"]))
        assert [d.pharmacy_hash for _, _, _, d in p1] == [HASH["P1"]] * len(p1) and len(p1) == 3
        assert [h for h, _, _, _ in p1] == sorted(h for h, _, _, _ in p1)
        assert [(h, t) for h, _, t, _ in p1] == [(h, chain[h].timestamp) for h, _, _, _ in p1]
        assert len(chain.dispensings(HASH["P2"])) == 1 and chain.dispensings(HASH["stranger"]) == []
        with pytest.raises(cryptoemr.InvalidArgumentError):
            chain.dispensings(b"short")
        # Dispenser grants: P1's revoked, P2's active.
        [(g1, h1, revoked)] = chain.dispenser_grants(HASH["P1"])
        assert isinstance(g1, cryptoemr.DispenserGrant) and h1 == 0 and revoked is not None
        assert not chain.is_dispenser_authorized(HASH["P1"], chain.tip.timestamp)
        assert chain.is_dispenser_authorized(key(KEYS["P2"]), chain.tip.timestamp)
        # A doctor's grant is no dispenser grant.
        assert chain.dispenser_grants(HASH["D1"]) == []


def test_undo_walks_every_state_back_and_forward_again():
    with authority_chain() as chain:
        accepted, after = run_scenario(chain, RX["scenario"])
        names = after[-1]
        for i in range(len(accepted) - 1, 0, -1):
            assert chain.undo_last_block() == accepted[i]
            known = after[i - 1]
            assert states(chain, known) == known
            for name in set(names) - set(known):
                with pytest.raises(cryptoemr.NotFoundError):
                    chain.prescription_state(*prescription_key(name))
        chain.undo_last_block()
        assert chain.dispensings(HASH["P1"]) == []
        assert chain.add_blocks(accepted) == ["extended"] * len(accepted)
        assert states(chain, names) == names


# --- signing here ------------------------------------------------------------------


def prescriptions_chain():
    """The scenario's first two blocks: the grants (D1, D2, P1) and five
    prescriptions, all open."""
    chain = authority_chain()
    run_scenario(chain, RX["scenario"][:2])
    return chain


def record_of(chain, doctor, nonce):
    return chain.prescription(HASH[doctor], nonce).record


def patient_of(record):
    """The patient's key (PA or PB) of a vector prescription."""
    return key(next(KEYS[p] for p in ("PA", "PB") if HASH[p] == record.patient_hash))


def test_create_dispense_and_cancellation_on_a_chain():
    with prescriptions_chain() as chain:
        record = record_of(chain, "D1", 1)
        dispense = cryptoemr.create_dispense(key(KEYS["P1"]), key(KEYS["PA"]), record, "14 tablets", chain_id=chain)
        assert dispense.verify() is None and dispense.nonce == 1 and dispense.note == "14 tablets"
        assert dispense.record_hash == cryptoemr.calculate_signature_hash(
            record.patient_hash, record.prescription, record.nonce)
        assert chain.pool.submit_entry(dispense) == "ready"
        assert chain.pool.entries() == [dispense]
        block = chain.mine_next(MINER, threads=1)
        assert block.entries == [dispense]
        assert chain.prescription_state(HASH["D1"], 1) == "dispensed"
        # Refused on a second try, and before signing what can never be carried.
        again = cryptoemr.create_dispense(key(KEYS["P1"]), key(KEYS["PA"]), record, chain_id=chain)
        with pytest.raises(cryptoemr.AlreadyDispensedError):
            chain.pool.submit_entry(again)
        with pytest.raises(cryptoemr.WrongPatientError):
            cryptoemr.create_dispense(key(KEYS["P1"]), key(KEYS["PB"]), record, chain_id=chain)
        with pytest.raises(cryptoemr.InvalidEntryError):
            cryptoemr.create_dispense(key(KEYS["P1"]), key(KEYS["PA"]), record, "n" * 101, chain_id=chain)
        with pytest.raises(TypeError):
            cryptoemr.create_dispense(key(KEYS["P1"]), key(KEYS["PA"]), "record", chain_id=chain)
        # The prescriber cancels another; a stranger may not.
        other = record_of(chain, "D1", 2)
        stranger = cryptoemr.create_cancellation(key(KEYS["stranger"]), other, chain_id=chain)
        with pytest.raises(cryptoemr.UnauthorizedCancellerError):
            chain.pool.submit_entry(stranger)
        cancel = cryptoemr.create_cancellation(key(KEYS["D1"]), other, "sent in error", chain_id=chain)
        assert cancel.verify() is None and cancel.canceller_hash == HASH["D1"] and cancel.reason == "sent in error"
        assert chain.pool.submit_entry(cancel) == "ready"
        chain.mine_next(MINER, threads=1)
        assert chain.prescription_state(HASH["D1"], 2) == "cancelled"
        with pytest.raises(cryptoemr.PrescriptionCancelledError):
            chain.pool.submit_entry(cryptoemr.create_dispense(key(KEYS["P1"]), patient_of(other), other, chain_id=chain))
        # A dispenser grant signed here admits P2; a revocation names it.
        grant = cryptoemr.create_dispenser_grant(key(AUTHORITY), key(KEYS["P2"]), "GPhC 2", chain_id=chain)
        assert grant.verify() is None and grant.grant_id == grant.entry_id and grant.pharmacy_hash == HASH["P2"]
        revocation = cryptoemr.create_revocation(key(AUTHORITY), grant, 0, chain_id=chain)
        assert revocation.grant_id == grant.entry_id
        with pytest.raises(cryptoemr.InvalidEntryError):
            cryptoemr.create_dispenser_grant(key(AUTHORITY), key(KEYS["P2"]), "x", 2, 1, chain_id=chain)


def pyca_sign(person, digest):
    """What a patient's card or phone does: ECDSA over the 32-byte digest."""
    private = serialization.load_der_private_key(bytes.fromhex(person["private_key_pkcs8"]), None)
    return private.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))


def test_the_patient_signs_on_their_own_device():
    with prescriptions_chain() as chain:
        record = record_of(chain, "D1", 1)
        pharmacy, patient = KEYS["P1"], KEYS["PA"]
        dispense = cryptoemr.prepare_dispense(key(pharmacy), bytes.fromhex(patient["spki"]), record, chain_id=chain)
        assert dispense.signature == b"" and dispense.patient_signature == b""
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            dispense.verify()
        digest = dispense.digest
        assert len(digest) == 32
        # The patient's signature is no pharmacy signature; nothing changes then.
        patient_signature = pyca_sign(patient, digest)
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            dispense.add_signature(patient_signature)
        assert dispense.signature == b""
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            dispense.add_patient_signature(b"\x30\x00")
        dispense.add_signature(pyca_sign(pharmacy, digest))
        dispense.add_patient_signature(patient_signature)
        assert dispense.verify() is None and dispense.digest == digest
        # Whatever form OpenSSL made, the entry carries the low-S one.
        order = {"secp256k1": 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141,
                 "P-256": 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551}
        for signature, person in ((dispense.signature, pharmacy), (dispense.patient_signature, patient)):
            assert utils.decode_dss_signature(signature)[1] <= order[person["curve"]] // 2
        high = utils.decode_dss_signature(dispense.patient_signature)
        twin = copy.copy(dispense)
        twin.add_patient_signature(utils.encode_dss_signature(high[0], order[patient["curve"]] - high[1]))
        assert twin == dispense
        assert chain.pool.submit_entry(dispense) == "ready"
        chain.mine_next(MINER, threads=1)
        assert chain.prescription(HASH["D1"], 1).entry == dispense
        with pytest.raises(cryptoemr.WrongPatientError):
            cryptoemr.prepare_dispense(key(pharmacy), key(KEYS["PB"]), record, chain_id=chain)


def test_the_patient_signs_on_a_phone_running_this_library():
    """The pharmacy sends the unsigned dispense's encoding; the phone decodes
    it, shows what it says, signs as the patient; the pharmacy attaches."""
    with prescriptions_chain() as chain:
        record = record_of(chain, "D1", 1)
        at_pharmacy = cryptoemr.prepare_dispense(key(KEYS["P1"]), key(KEYS["PA"]), record, "7 tablets", chain_id=chain)
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            at_pharmacy.sign_pharmacy(key(KEYS["P2"]))
        at_pharmacy.sign_pharmacy(key(KEYS["P1"]))
        on_phone = cryptoemr.Dispense.from_bytes(at_pharmacy.to_bytes())
        assert (on_phone.note, on_phone.nonce, on_phone.pharmacy_hash) == ("7 tablets", 1, HASH["P1"])
        with pytest.raises(cryptoemr.InvalidEntrySignatureError):
            on_phone.sign_patient(key(KEYS["PB"]))
        on_phone.sign_patient(key(KEYS["PA"]))
        at_pharmacy.add_patient_signature(on_phone.patient_signature)
        assert at_pharmacy.verify() is None and at_pharmacy == on_phone
        assert chain.pool.submit_entry(at_pharmacy) == "ready"


# --- reorganisation, partition -------------------------------------------------------


def test_a_reorganisation_moves_a_dispensing_and_its_cancellation_returns():
    with prescriptions_chain() as chain:
        fork = chain.tip
        record = record_of(chain, "D1", 3)
        dispense = cryptoemr.create_dispense(key(KEYS["P1"]), patient_of(record), record, chain_id=chain)
        cancel = cryptoemr.create_cancellation(key(AUTHORITY), record, "withdrawn", chain_id=chain)
        main = next_block(chain, [cancel])
        assert chain.add_block(main) == "extended"
        assert chain.prescription_state(HASH["D1"], 3) == "cancelled"
        # A heavier branch from the fork dispenses it instead.
        side1 = next_block(chain, [dispense], parent=fork)
        side2 = next_block(chain, parent=side1)
        assert chain.add_block(side1) == "side_branch"
        assert chain.prescription_state(HASH["D1"], 3) == "cancelled"
        assert chain.add_block(side2) == "reorganized"
        status = chain.prescription(HASH["D1"], 3)
        assert status.state == "dispensed" and status.block_id == side1.block_id and status.by == HASH["P1"]
        # The cancellation cannot be carried now: a conflict naming the dispensing.
        [conflict] = chain.entry_conflicts()
        assert conflict.entry == cancel and conflict.replaced_by == dispense
        assert conflict.pharmacies == (bytes.fromhex(AUTHORITY["key_hash"]), HASH["P1"])
        # Undo returns the chain to the fork: open again.
        chain.undo_last_block()
        chain.undo_last_block()
        assert chain.prescription_state(HASH["D1"], 3) == "open"


def test_the_partition_story():
    """Two sites hold the same chain, with both pharmacies admitted; cut off
    from each other, each pharmacy dispenses D1's first prescription to the
    patient. When the sites sync (each adds the other's blocks; the heavier
    branch wins), one dispensing stays and the other is listed as a
    conflict naming both pharmacies."""
    site_a, site_b = prescriptions_chain(), prescriptions_chain()
    with site_a, site_b:
        p2_grant = cryptoemr.create_dispenser_grant(key(AUTHORITY), key(KEYS["P2"]), "GPhC 2", chain_id=CHAIN_ID)
        shared = next_block(site_a, [p2_grant])
        assert site_a.add_block(shared) == "extended" and site_b.add_block(shared) == "extended"
        record = record_of(site_a, "D1", 1)
        by_p1 = cryptoemr.create_dispense(key(KEYS["P1"]), key(KEYS["PA"]), record, "site A", chain_id=CHAIN_ID)
        by_p2 = cryptoemr.create_dispense(key(KEYS["P2"]), key(KEYS["PA"]), record, "site B", chain_id=CHAIN_ID)
        # Site A: P1 dispenses, in one block. Site B: P2 dispenses, and its
        # site mines one block more (its branch is heavier).
        assert site_a.pool.submit_entry(by_p1) == "ready"
        a1 = site_a.mine_next(MINER, threads=1)
        assert site_b.pool.submit_entry(by_p2) == "ready"
        b1 = site_b.mine_next(MINER, threads=1)
        b2 = site_b.mine_next(MINER, threads=1)
        assert site_a.prescription(HASH["D1"], 1).by == HASH["P1"]
        assert site_b.prescription(HASH["D1"], 1).by == HASH["P2"]
        # Sync: each site adds the other's blocks.
        assert site_b.add_block(a1) == "side_branch"
        assert site_a.add_blocks([b1, b2]) == ["side_branch", "reorganized"]
        for site in (site_a, site_b):
            assert site.tip == b2
            status = site.prescription(HASH["D1"], 1)
            assert status.state == "dispensed" and status.by == HASH["P2"] and status.entry == by_p2
            assert site.dispensings(HASH["P1"]) == []
            assert [d for _, _, _, d in site.dispensings(HASH["P2"])] == [by_p2]
        # Site A's dispensing fell out: a conflict naming both pharmacies.
        [conflict] = site_a.entry_conflicts()
        assert isinstance(conflict, cryptoemr.EntryConflict)
        assert conflict.entry == by_p1 and conflict.replaced_by == by_p2
        assert conflict == site_a.entry_conflicts()[0]
        assert conflict.pharmacies == (HASH["P1"], HASH["P2"])
        assert (conflict.block_id, conflict.height) == (b1.block_id, b1.height)
        assert HASH["P1"].hex() in repr(conflict) and HASH["P2"].hex() in repr(conflict)
        assert site_a.pool.entries() == []
        # It cannot be carried again; the pharmacies settle and dismiss it.
        with pytest.raises(cryptoemr.AlreadyDispensedError):
            site_a.pool.submit_entry(by_p1)
        assert site_a.dismiss_entry_conflict(by_p1.entry_id) is True
        assert site_a.entry_conflicts() == [] and site_a.dismiss_entry_conflict(by_p1.entry_id) is False
        with pytest.raises(cryptoemr.InvalidArgumentError):
            site_a.dismiss_entry_conflict(b"short")
