//! A patient's prescriptions as an HL7 FHIR R4 `Bundle` (type
//! `collection`), and the check that a consumer holding only the bundle
//! can make: every prescription rebuilt from the bundle's fields and
//! verified as a record (signature, txid, the doctor's key).
//!
//! The bundle holds one `Patient`, one `Practitioner` per doctor (with
//! the doctor's public key in an extension, and each grant's licence as a
//! qualification), and per record a `MedicationRequest` and a
//! `Provenance` whose `signature` carries the record's ECDSA signature.
//! The request's `status` follows the prescription (SPEC 10): `completed`
//! once dispensed, `cancelled` once cancelled (with the reason as its
//! `statusReason`), else `active`. Each dispensing is a
//! `MedicationDispense` performed by an `Organization` per pharmacy (its
//! key hash, public key and dispenser licences), authorized by the
//! request, handed over at its block's time.
//! Every reference is the `fullUrl` of an entry of the bundle
//! (`urn:uuid:`, derived from the hashes, so the same history gives the
//! same bundle). `docs/FHIR.md` maps each field.

use base64::Engine as _;
use serde_json::{json, Value};

use crate::address::{self, Role};
use crate::chain::{Chain, ChainError, PrescriptionState, PrescriptionStatus};
use crate::hash::{sha256, Hash160, Hash256};
use crate::keys::SigningKey;
use crate::record::{Record, RecordFields};

/// The identifier system of addresses (`emrp1…`, `emrd1…`).
pub const ADDRESS_SYSTEM: &str = "urn:cryptoemr:address";
/// The identifier system of a record's txid (64 hex digits).
pub const TXID_SYSTEM: &str = "urn:cryptoemr:txid";
/// The identifier system of a record's place in its doctor's sequence:
/// `<doctor address>#<nonce>`.
pub const NONCE_SYSTEM: &str = "urn:cryptoemr:doctor-nonce";
/// A `Practitioner` extension: the doctor's public key, SPKI DER.
pub const PUBLIC_KEY_EXTENSION: &str = "urn:cryptoemr:fhir:public-key";
/// A `MedicationRequest` extension: the text the doctor signed, when the
/// bundle shows another (a sealed prescription, opened or not).
pub const SIGNED_TEXT_EXTENSION: &str = "urn:cryptoemr:fhir:signed-text";
/// A `Provenance` extension: the id of the block holding the record.
pub const BLOCK_EXTENSION: &str = "urn:cryptoemr:fhir:block";
/// A `Provenance` extension: that block's height (decimal).
pub const HEIGHT_EXTENSION: &str = "urn:cryptoemr:fhir:height";
/// The identifier system of a pharmacy: `H160` of its key, 40 hex digits.
pub const PHARMACY_SYSTEM: &str = "urn:cryptoemr:pharmacy";
/// The identifier system of a dispensing: its entry id, 64 hex digits.
pub const DISPENSE_SYSTEM: &str = "urn:cryptoemr:dispense";
/// `Provenance.signature.targetFormat`: what was signed.
pub const TARGET_FORMAT: &str = "application/vnd.cryptoemr.record-signature-hash";
/// `Provenance.signature.sigFormat`: a DER ECDSA signature.
pub const SIG_FORMAT: &str = "application/vnd.cryptoemr.ecdsa-der";
/// The text shown for a sealed prescription no given key opens.
pub const SEALED_TEXT: &str = "sealed prescription: readable only by its recipients";

/// Why a bundle could not be made or does not verify.
#[derive(Debug, thiserror::Error)]
pub enum FhirError {
    /// Reading the chain failed.
    #[error("{0}")]
    Chain(#[from] ChainError),
    /// The bundle is not one this module writes, or a prescription in it
    /// does not verify: which entry, and why.
    #[error("entry {entry}: {reason}")]
    Invalid {
        /// The index in `Bundle.entry` (0 for the bundle itself).
        entry: usize,
        /// What is wrong.
        reason: String,
    },
}

impl FhirError {
    fn at(entry: usize, reason: impl Into<String>) -> FhirError {
        FhirError::Invalid { entry, reason: reason.into() }
    }
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A `urn:uuid:` from a hash: the same input, the same URN (RFC 9562's
/// version 8 layout, "custom").
fn urn(kind: &str, id: &[u8]) -> String {
    let mut h = sha256(&[b"cryptoemr/fhir/", kind.as_bytes(), id]).to_bytes();
    h[6] = (h[6] & 0x0f) | 0x80;
    h[8] = (h[8] & 0x3f) | 0x80;
    let x = hex::encode(&h[..16]);
    format!("urn:uuid:{}-{}-{}-{}-{}", &x[..8], &x[8..12], &x[12..16], &x[16..20], &x[20..32])
}

/// Unix seconds as a FHIR `dateTime` in UTC (`2026-01-01T08:00:00Z`).
pub fn date_time(t: u64) -> Option<String> {
    let days = i64::try_from(t / 86_400).ok()?;
    let secs = t % 86_400;
    // Howard Hinnant's civil-from-days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    if !(1..=9999).contains(&year) {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    ))
}

fn entry(full_url: &str, resource: Value) -> Value {
    json!({ "fullUrl": full_url, "resource": resource })
}

/// What the bundle says of one record's prescription.
fn medication_text(record: &Record, keys: &[&SigningKey]) -> (String, bool) {
    if !record.is_sealed() {
        return (record.prescription.clone(), false);
    }
    for key in keys {
        if let Ok(text) = record.open(key) {
            return (text, true);
        }
    }
    (SEALED_TEXT.to_owned(), false)
}

/// The licence texts of a doctor's grants, or of a pharmacy's dispenser
/// grants, by key hash.
pub type Licences<'a> = &'a dyn Fn(&Hash160) -> Result<Vec<String>, ChainError>;

/// The bundle of `prescriptions` (a patient's records with their states,
/// in chain order) for `patient`; `licences` and `pharmacy_licences` give
/// the licence texts of a doctor's and a pharmacy's grants, `keys` open
/// the sealed prescriptions they may read.
pub fn bundle(
    patient: &Hash160,
    prescriptions: &[PrescriptionStatus],
    licences: Licences<'_>,
    pharmacy_licences: Licences<'_>,
    keys: &[&SigningKey],
) -> Result<Value, FhirError> {
    let patient_url = urn("patient", patient.as_bytes());
    let mut out = vec![entry(
        &patient_url,
        json!({
            "resourceType": "Patient",
            "id": hex::encode(patient.as_bytes()),
            "identifier": [{ "system": ADDRESS_SYSTEM, "value": address::encode(Role::Patient, patient) }],
        }),
    )];
    let entries: Vec<_> = prescriptions.iter().map(|p| &p.record).collect();
    let mut doctors: Vec<Hash160> = Vec::new();
    for e in &entries {
        if !doctors.contains(&e.record.dr_hash) {
            doctors.push(e.record.dr_hash);
            let by = entries.iter().find(|x| x.record.dr_hash == e.record.dr_hash).map(|x| &x.record.dr_public_key);
            let mut practitioner = json!({
                "resourceType": "Practitioner",
                "id": hex::encode(e.record.dr_hash.as_bytes()),
                "extension": [{ "url": PUBLIC_KEY_EXTENSION, "valueBase64Binary": b64(by.map_or(&[][..], Vec::as_slice)) }],
                "identifier": [{ "system": ADDRESS_SYSTEM, "value": address::encode(Role::Doctor, &e.record.dr_hash) }],
            });
            let licences = licences(&e.record.dr_hash)?;
            if !licences.is_empty() {
                practitioner["qualification"] =
                    Value::Array(licences.into_iter().map(|l| json!({ "code": { "text": l } })).collect());
            }
            out.push(entry(&urn("practitioner", e.record.dr_hash.as_bytes()), practitioner));
        }
    }
    let mut pharmacies: Vec<Hash160> = Vec::new();
    for p in prescriptions {
        let PrescriptionState::Dispensed(d) = &p.state else { continue };
        let hash = d.dispense.pharmacy_hash();
        if pharmacies.contains(&hash) {
            continue;
        }
        pharmacies.push(hash);
        let mut organization = json!({
            "resourceType": "Organization",
            "id": hash.to_string(),
            "extension": [{ "url": PUBLIC_KEY_EXTENSION, "valueBase64Binary": b64(&d.dispense.pharmacy_public_key) }],
            "identifier": [{ "system": PHARMACY_SYSTEM, "value": hash.to_string() }],
            "type": [{ "coding": [{ "system": "http://terminology.hl7.org/CodeSystem/organization-type", "code": "prov" }], "text": "pharmacy" }],
        });
        if let Some(licence) = pharmacy_licences(&hash)?.into_iter().next() {
            organization["name"] = json!(licence);
        }
        out.push(entry(&urn("pharmacy", hash.as_bytes()), organization));
    }
    let mut latest = 0;
    for p in prescriptions {
        let e = &p.record;
        let r = &e.record;
        latest = latest.max(e.timestamp);
        let when = date_time(e.timestamp).ok_or_else(|| FhirError::at(0, format!("block time {} is past year 9999", e.timestamp)))?;
        let doctor_url = urn("practitioner", r.dr_hash.as_bytes());
        let request_url = urn("medication-request", r.txid.as_bytes());
        let (text, opened) = medication_text(r, keys);
        let mut request = json!({
            "resourceType": "MedicationRequest",
            "id": r.txid.to_string(),
            "identifier": [
                { "system": TXID_SYSTEM, "value": r.txid.to_string() },
                { "system": NONCE_SYSTEM, "value": format!("{}#{}", address::encode(Role::Doctor, &r.dr_hash), r.nonce) },
            ],
            "status": "active",
            "intent": "order",
            "medicationCodeableConcept": { "text": text },
            "subject": { "reference": patient_url },
            "requester": { "reference": doctor_url },
            "authoredOn": when,
        });
        if r.is_sealed() {
            request["extension"] = json!([{ "url": SIGNED_TEXT_EXTENSION, "valueString": r.prescription }]);
            request["meta"] = json!({ "security": [{
                "system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality",
                "code": "R",
                "display": "restricted",
            }] });
        }
        // The prescription's state (SPEC 10); a sealed one no key opened
        // and still open says no more than "unknown".
        match &p.state {
            PrescriptionState::Dispensed(_) => request["status"] = json!("completed"),
            PrescriptionState::Cancelled(c) => {
                request["status"] = json!("cancelled");
                if !c.cancellation.reason.is_empty() {
                    request["statusReason"] = json!({ "text": c.cancellation.reason });
                }
            }
            PrescriptionState::Open if r.is_sealed() && !opened => request["status"] = json!("unknown"),
            PrescriptionState::Open => {}
        }
        out.push(entry(&request_url, request));
        if let PrescriptionState::Dispensed(d) = &p.state {
            let handed_over = date_time(d.timestamp)
                .ok_or_else(|| FhirError::at(0, format!("block time {} is past year 9999", d.timestamp)))?;
            let id = d.dispense.dispense_id();
            let mut dispense = json!({
                "resourceType": "MedicationDispense",
                "id": id.to_string(),
                "identifier": [{ "system": DISPENSE_SYSTEM, "value": id.to_string() }],
                "extension": [
                    { "url": BLOCK_EXTENSION, "valueString": d.block_id.to_string() },
                    { "url": HEIGHT_EXTENSION, "valueString": d.height.to_string() },
                ],
                "status": "completed",
                "medicationCodeableConcept": { "text": text },
                "subject": { "reference": patient_url },
                "performer": [{ "actor": { "reference": urn("pharmacy", d.dispense.pharmacy_hash().as_bytes()) } }],
                "authorizingPrescription": [{ "reference": request_url }],
                "whenHandedOver": handed_over,
            });
            if !d.dispense.note.is_empty() {
                dispense["note"] = json!([{ "text": d.dispense.note }]);
            }
            out.push(entry(&urn("medication-dispense", id.as_bytes()), dispense));
        }
        out.push(entry(
            &urn("provenance", r.txid.as_bytes()),
            json!({
                "resourceType": "Provenance",
                "extension": [
                    { "url": BLOCK_EXTENSION, "valueString": e.block_id.to_string() },
                    { "url": HEIGHT_EXTENSION, "valueString": e.height.to_string() },
                ],
                "target": [{ "reference": request_url }],
                "recorded": when,
                "agent": [{ "who": { "reference": doctor_url } }],
                "signature": [{
                    "type": [{ "system": "urn:iso-astm:E1762-95:2013", "code": "1.2.840.10065.1.12.1.1", "display": "Author's Signature" }],
                    "when": when,
                    "who": { "reference": doctor_url },
                    "targetFormat": TARGET_FORMAT,
                    "sigFormat": SIG_FORMAT,
                    "data": b64(&r.signature),
                }],
            }),
        ));
    }
    let mut bundle = json!({ "resourceType": "Bundle", "type": "collection", "entry": out });
    if let Some(t) = date_time(latest.max(1)) {
        bundle["timestamp"] = json!(t);
    }
    Ok(bundle)
}

/// The bundle of `patient`'s prescriptions in the active chain, with the
/// licences of the doctors' grants; `keys` open the sealed ones they may.
pub fn patient_bundle(chain: &Chain, patient: &Hash160, keys: &[&SigningKey]) -> Result<Value, FhirError> {
    let prescriptions = chain.patient_prescriptions(patient)?;
    let licences = |dr: &Hash160| -> Result<Vec<String>, ChainError> {
        Ok(chain.grants(dr)?.into_iter().map(|g| g.grant.licence).collect())
    };
    let pharmacy_licences = |pharmacy: &Hash160| -> Result<Vec<String>, ChainError> {
        Ok(chain.dispenser_grants(pharmacy)?.into_iter().map(|g| g.grant.licence).collect())
    };
    bundle(patient, &prescriptions, &licences, &pharmacy_licences, keys)
}

/// What [`verify_bundle`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BundleReport {
    /// The prescriptions verified, by txid, in the bundle's order.
    pub records: Vec<Hash256>,
    /// The dispensings checked against their prescriptions, by entry id.
    pub dispensings: Vec<Hash256>,
}

fn text<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    path.iter().try_fold(v, |v, k| v.get(k)).and_then(Value::as_str)
}

fn extension<'a>(resource: &'a Value, url: &str) -> Option<&'a Value> {
    resource.get("extension")?.as_array()?.iter().find(|e| e.get("url").and_then(Value::as_str) == Some(url))
}

fn identifier<'a>(resource: &'a Value, system: &str) -> Option<&'a str> {
    resource
        .get("identifier")?
        .as_array()?
        .iter()
        .find(|i| i.get("system").and_then(Value::as_str) == Some(system))?
        .get("value")?
        .as_str()
}

/// Checks a bundle as [`bundle`] writes it, using nothing but the bundle:
/// each `MedicationRequest` is rebuilt into a record from its text (or the
/// signed text of a sealed one), its patient's and doctor's addresses, the
/// doctor's public key, its nonce and txid, and the signature of the
/// `Provenance` that targets it; the record must verify (SPEC 2: key and
/// address agree, txid, signature). A bundle edited anywhere that matters
/// fails, naming the entry. (The text of a sealed prescription shown
/// opened is not covered: the signature covers its sealed form.)
pub fn verify_bundle(bundle: &Value) -> Result<BundleReport, FhirError> {
    if text(bundle, &["resourceType"]) != Some("Bundle") || text(bundle, &["type"]) != Some("collection") {
        return Err(FhirError::at(0, "not a Bundle of type collection"));
    }
    let entries = bundle.get("entry").and_then(Value::as_array).ok_or_else(|| FhirError::at(0, "no entry list"))?;
    let find = |url: &str| entries.iter().position(|e| e.get("fullUrl").and_then(Value::as_str) == Some(url));
    let mut report = BundleReport { records: Vec::new(), dispensings: Vec::new() };
    for (i, e) in entries.iter().enumerate() {
        let resource = e.get("resource").ok_or_else(|| FhirError::at(i, "no resource"))?;
        if text(resource, &["resourceType"]) != Some("MedicationRequest") {
            continue;
        }
        let fail = |why: String| FhirError::at(i, format!("MedicationRequest: {why}"));
        let my_url = e.get("fullUrl").and_then(Value::as_str).ok_or_else(|| fail("no fullUrl".into()))?;
        let referenced = |field: &str, kind: &str| -> Result<&Value, FhirError> {
            let url = text(resource, &[field, "reference"]).ok_or_else(|| fail(format!("no {field}")))?;
            let at = find(url).ok_or_else(|| fail(format!("its {field} {url} is not in the bundle")))?;
            let r = &entries[at]["resource"];
            if text(r, &["resourceType"]) != Some(kind) {
                return Err(fail(format!("its {field} is not a {kind}")));
            }
            Ok(r)
        };
        let patient = referenced("subject", "Patient")?;
        let doctor = referenced("requester", "Practitioner")?;
        let patient_hash = identifier(patient, ADDRESS_SYSTEM)
            .and_then(|a| address::decode(a, Role::Patient).ok())
            .ok_or_else(|| fail("its patient has no valid address".into()))?;
        let doctor_address = identifier(doctor, ADDRESS_SYSTEM).ok_or_else(|| fail("its doctor has no address".into()))?;
        let dr_hash = address::decode(doctor_address, Role::Doctor).map_err(|e| fail(format!("its doctor's address: {e}")))?;
        let public_key = extension(doctor, PUBLIC_KEY_EXTENSION)
            .and_then(|x| x.get("valueBase64Binary")?.as_str())
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .ok_or_else(|| fail("its doctor has no public key".into()))?;
        let txid = identifier(resource, TXID_SYSTEM)
            .and_then(|t| hex::decode(t).ok())
            .ok_or_else(|| fail("no txid".into()))?;
        let nonce = identifier(resource, NONCE_SYSTEM)
            .and_then(|v| v.rsplit_once('#'))
            .filter(|(who, _)| *who == doctor_address)
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .ok_or_else(|| fail("no doctor-nonce identifier of its requester".into()))?;
        let signed_text = match extension(resource, SIGNED_TEXT_EXTENSION) {
            Some(x) => x.get("valueString").and_then(Value::as_str),
            None => text(resource, &["medicationCodeableConcept", "text"]),
        }
        .ok_or_else(|| fail("no prescription text".into()))?;
        let provenance = entries
            .iter()
            .map(|e| &e["resource"])
            .find(|r| {
                text(r, &["resourceType"]) == Some("Provenance")
                    && r.get("target").and_then(Value::as_array).is_some_and(|t| {
                        t.iter().any(|x| x.get("reference").and_then(Value::as_str) == Some(my_url))
                    })
            })
            .ok_or_else(|| fail("no Provenance targets it".into()))?;
        let signature = provenance
            .get("signature")
            .and_then(Value::as_array)
            .and_then(|s| s.first())
            .and_then(|s| s.get("data")?.as_str())
            .and_then(|t| base64::engine::general_purpose::STANDARD.decode(t).ok())
            .ok_or_else(|| fail("its Provenance has no signature".into()))?;
        let fields = RecordFields {
            dr_hash: dr_hash.as_bytes(),
            patient_hash: patient_hash.as_bytes(),
            dr_public_key: &public_key,
            prescription: Some(signed_text),
            nonce,
            signature: &signature,
            txid: &txid,
        };
        let record = Record::from_fields(&fields).map_err(|e| fail(e.to_string()))?;
        record.verify(nonce.saturating_sub(1)).map_err(|e| fail(e.to_string()))?;
        if text(resource, &["id"]).is_some_and(|id| id != record.txid.to_string()) {
            return Err(fail("its id is not its txid".into()));
        }
        report.records.push(record.txid);
    }
    check_dispenses(entries, &mut report)?;
    Ok(report)
}

/// Each `MedicationDispense` names a verified `MedicationRequest` of the
/// bundle, for the same patient, marked `completed`, and a pharmacy of the
/// bundle; each `completed` request has its dispensing (SPEC 10: one).
fn check_dispenses(entries: &[Value], report: &mut BundleReport) -> Result<(), FhirError> {
    let find = |url: &str| entries.iter().position(|e| e.get("fullUrl").and_then(Value::as_str) == Some(url));
    let mut dispensed: Vec<usize> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let resource = &e["resource"];
        if text(resource, &["resourceType"]) != Some("MedicationDispense") {
            continue;
        }
        let fail = |why: &str| FhirError::at(i, format!("MedicationDispense: {why}"));
        let id = identifier(resource, DISPENSE_SYSTEM)
            .and_then(|t| hex::decode(t).ok())
            .and_then(|b| Hash256::from_slice(&b))
            .ok_or_else(|| fail("no dispense id"))?;
        let prescriptions = resource.get("authorizingPrescription").and_then(Value::as_array).map_or(&[][..], Vec::as_slice);
        let [prescription] = prescriptions else {
            return Err(fail("it names no single authorizing prescription"));
        };
        let at = prescription
            .get("reference")
            .and_then(Value::as_str)
            .and_then(find)
            .filter(|&at| text(&entries[at]["resource"], &["resourceType"]) == Some("MedicationRequest"))
            .ok_or_else(|| fail("its authorizing prescription is not a MedicationRequest of the bundle"))?;
        let request = &entries[at]["resource"];
        if text(request, &["status"]) != Some("completed") {
            return Err(fail("its prescription is not marked completed"));
        }
        if text(request, &["subject", "reference"]) != text(resource, &["subject", "reference"]) {
            return Err(fail("its patient is not its prescription's"));
        }
        if dispensed.contains(&at) {
            return Err(fail("its prescription is dispensed twice"));
        }
        let pharmacy = resource.get("performer").and_then(Value::as_array).and_then(|p| p.first()).and_then(|p| text(p, &["actor", "reference"]));
        if pharmacy.and_then(find).is_none_or(|p| text(&entries[p]["resource"], &["resourceType"]) != Some("Organization")) {
            return Err(fail("its performer is not a pharmacy of the bundle"));
        }
        dispensed.push(at);
        report.dispensings.push(id);
    }
    for (i, e) in entries.iter().enumerate() {
        let resource = &e["resource"];
        if text(resource, &["resourceType"]) == Some("MedicationRequest")
            && text(resource, &["status"]) == Some("completed")
            && !dispensed.contains(&i)
        {
            return Err(FhirError::at(i, "MedicationRequest: completed, but no MedicationDispense of it"));
        }
    }
    Ok(())
}
