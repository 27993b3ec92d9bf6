"""cryptoemr.fhir: a patient's history as an HL7 FHIR R4 Bundle, valid for
fhir.resources' R4B models, verifiable from the bundle alone; with
pharmacies (SPEC 10), a MedicationDispense per dispensing and each
MedicationRequest's status following its prescription."""
import copy
import datetime

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.medicationdispense import MedicationDispense
from fhir.resources.R4B.medicationrequest import MedicationRequest
from fhir.resources.R4B.organization import Organization
from fhir.resources.R4B.provenance import Provenance

import cryptoemr
import cryptoemr.fhir as fhir

MINER = "emrm1r3qty3tw2dq3ju5je8fp56vchpq7n99eyksm3p"


@pytest.fixture
def scene():
    doctor = cryptoemr.SigningKey.generate("secp256k1")
    other = cryptoemr.SigningKey.generate("P-256")
    patient_key = cryptoemr.SigningKey.generate("P-256")
    patient = patient_key.public_key_hash
    chain = cryptoemr.Chain(initial_difficulty=1)
    chain.pool.submit(cryptoemr.create_signed_record(doctor, patient, "Amoxicillin 500mg", 1))
    chain.pool.submit(cryptoemr.create_signed_record(other, patient, '<script>alert("x")</script> & 10mg', 1))
    chain.mine_next(MINER)
    chain.pool.submit(cryptoemr.create_signed_record(doctor, patient, "Sertraline 50mg", 2, seal_to=[patient_key]))
    chain.mine_next(MINER)
    return chain, patient, patient_key


def resources(bundle, kind):
    return [e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == kind]


def test_every_bundle_validates_against_the_r4_models_with_their_cardinalities(scene):
    chain, patient, patient_key = scene
    for keys in ((), (patient_key,)):
        bundle = fhir.patient_bundle(chain, patient, keys=keys)
        parsed = Bundle.model_validate(bundle)
        assert parsed.type == "collection"
        assert len(parsed.entry) == 1 + 2 + 3 * 2
        for request in resources(bundle, "MedicationRequest"):
            r = MedicationRequest.model_validate(request)
            # R4: status, intent, medication[x] and subject are 1..1.
            assert r.status and r.intent == "order" and r.medicationCodeableConcept.text and r.subject.reference
            assert r.requester.reference and r.authoredOn
        for provenance in resources(bundle, "Provenance"):
            p = Provenance.model_validate(provenance)
            # R4: target 1..*, recorded 1..1, agent 1..*; a signature's type 1..*, when and who 1..1.
            assert p.target and p.recorded and p.agent
            assert p.signature[0].type and p.signature[0].when and p.signature[0].who and p.signature[0].data


def test_texts_stay_data_and_sealed_ones_are_marked_or_opened(scene):
    chain, patient, patient_key = scene
    bundle = fhir.patient_bundle(chain, cryptoemr.encode_address("patient", patient))
    texts = [r["medicationCodeableConcept"]["text"] for r in resources(bundle, "MedicationRequest")]
    assert texts[1] == '<script>alert("x")</script> & 10mg'
    assert texts[2] == "sealed prescription: readable only by its recipients"
    assert resources(bundle, "MedicationRequest")[2]["status"] == "unknown"
    opened = fhir.patient_bundle(chain, patient, keys=[patient_key])
    assert resources(opened, "MedicationRequest")[2]["medicationCodeableConcept"]["text"] == "Sertraline 50mg"


def test_a_consumer_verifies_the_bundle_alone_and_an_edit_is_located(scene):
    chain, patient, _ = scene
    bundle = fhir.patient_bundle(chain, patient)
    txids = fhir.verify_bundle(bundle)
    assert txids == [emr.txid for _, _, emr in chain.patient_history(patient)]
    edited = copy.deepcopy(bundle)
    edited["entry"][3]["resource"]["medicationCodeableConcept"]["text"] = "Amoxicillin 5000mg"
    with pytest.raises(fhir.BundleError) as caught:
        fhir.verify_bundle(edited)
    assert caught.value.entry == 3
    assert isinstance(caught.value, ValueError)
    with pytest.raises(fhir.BundleError):
        fhir.verify_bundle({"resourceType": "Bundle", "type": "searchset", "entry": []})
    with pytest.raises(cryptoemr.InvalidArgumentError):
        fhir.patient_bundle(chain, b"short")


def test_a_record_signed_with_pyca_cryptography_verifies_through_its_bundle():
    from cryptography.hazmat.primitives.asymmetric import ec

    pyca_key = ec.generate_private_key(ec.SECP256K1())
    patient = bytes(range(20))
    chain = cryptoemr.Chain(initial_difficulty=1)
    chain.pool.submit(cryptoemr.create_signed_record(pyca_key, patient, "Metformin 500mg", 1))
    chain.mine_next(MINER)
    assert len(fhir.verify_bundle(fhir.patient_bundle(chain, patient))) == 1


def test_the_nodes_fhir_endpoint_serves_the_same_valid_bundle(scene, tmp_path):
    import json
    import urllib.request

    import cryptoemr.node as node

    _, patient, patient_key = scene
    path = tmp_path / "chain.db"
    doctor = cryptoemr.SigningKey.generate()
    with cryptoemr.Chain(str(path), initial_difficulty=1) as chain:
        chain.pool.submit(cryptoemr.create_signed_record(doctor, patient, "Metformin 500mg", 1))
        chain.mine_next(MINER)
        expected = fhir.patient_bundle(chain, patient)
    address = cryptoemr.encode_address("patient", patient)
    with node.serve(str(path)) as served:
        with urllib.request.urlopen(f"{served.url}/v1/patients/{address}/fhir", timeout=30) as answer:
            assert answer.headers["Content-Type"] == "application/fhir+json"
            bundle = json.loads(answer.read())
    assert bundle == expected
    Bundle.model_validate(bundle)
    assert len(fhir.verify_bundle(bundle)) == 1


@pytest.fixture
def pharmacy_scene():
    """A chain with a board that admits a doctor and a pharmacy; of the
    patient's three prescriptions one is dispensed (with a note), one
    cancelled (with a reason), one left open."""
    board = cryptoemr.SigningKey.generate("P-256")
    doctor = cryptoemr.SigningKey.generate("secp256k1")
    pharmacy = cryptoemr.SigningKey.generate("P-256")
    patient_key = cryptoemr.SigningKey.generate("P-256")
    patient = patient_key.public_key_hash
    chain = cryptoemr.Chain(initial_difficulty=1, authorities=[board.public_key_der])
    chain.pool.submit_entry(cryptoemr.create_grant(board, doctor, "GMC 7012345", chain_id=chain))
    chain.pool.submit_entry(cryptoemr.create_dispenser_grant(board, pharmacy, "GPhC 1234567, High Street", chain_id=chain))
    records = [cryptoemr.create_signed_record(doctor, patient, text, n)
               for n, text in enumerate(["Amoxicillin 500mg", "Codeine 30mg", "Metformin 500mg"], 1)]
    for record in records:
        chain.pool.submit(record)
    chain.mine_next(MINER)
    chain.pool.submit_entry(cryptoemr.create_dispense(pharmacy, patient_key, records[0], "21 capsules", chain_id=chain))
    chain.pool.submit_entry(cryptoemr.create_cancellation(doctor, records[1], "wrong dose", chain_id=chain))
    block = chain.mine_next(MINER)
    return chain, patient, pharmacy, block


def test_a_dispensing_is_a_valid_medication_dispense_and_the_request_status_follows(pharmacy_scene):
    chain, patient, pharmacy, block = pharmacy_scene
    bundle = fhir.patient_bundle(chain, patient)
    Bundle.model_validate(bundle)
    requests = resources(bundle, "MedicationRequest")
    assert [r["status"] for r in requests] == ["completed", "cancelled", "active"]
    for request in requests:
        MedicationRequest.model_validate(request)
    assert MedicationRequest.model_validate(requests[1]).statusReason.text == "wrong dose"
    (dispense,) = resources(bundle, "MedicationDispense")
    d = MedicationDispense.model_validate(dispense)
    # R4: status and medication[x] are 1..1; a performer's actor 1..1.
    assert d.status == "completed" and d.medicationCodeableConcept.text == "Amoxicillin 500mg"
    assert d.note[0].text == "21 capsules"
    urls = {e["resource"]["resourceType"] + ":" + e["resource"].get("id", ""): e["fullUrl"] for e in bundle["entry"]}
    assert d.authorizingPrescription[0].reference == urls["MedicationRequest:" + requests[0]["id"]]
    (organization,) = resources(bundle, "Organization")
    o = Organization.model_validate(organization)
    assert o.name == "GPhC 1234567, High Street"
    assert o.identifier[0].value == pharmacy.public_key_hash.hex()
    assert d.performer[0].actor.reference == urls["Organization:" + organization["id"]]
    # Handed over at the time of the block that carries the dispensing.
    expected = datetime.datetime.fromtimestamp(block.timestamp, datetime.timezone.utc)
    assert d.whenHandedOver == expected
    assert len(fhir.verify_bundle(bundle)) == 3


def test_a_bundle_that_hides_or_moves_a_dispensing_fails(pharmacy_scene):
    chain, patient, _, _ = pharmacy_scene
    bundle = fhir.patient_bundle(chain, patient)
    kinds = [e["resource"]["resourceType"] for e in bundle["entry"]]
    dispense_at = kinds.index("MedicationDispense")
    request_at = kinds.index("MedicationRequest")
    reactivated = copy.deepcopy(bundle)
    reactivated["entry"][request_at]["resource"]["status"] = "active"
    with pytest.raises(fhir.BundleError) as caught:
        fhir.verify_bundle(reactivated)
    assert caught.value.entry == dispense_at
    hidden = copy.deepcopy(bundle)
    del hidden["entry"][dispense_at]
    with pytest.raises(fhir.BundleError) as caught:
        fhir.verify_bundle(hidden)
    assert caught.value.entry == request_at
