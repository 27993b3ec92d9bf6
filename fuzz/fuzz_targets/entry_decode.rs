//! Entries (grants, revocations; SPEC 8.1; dispenser grants, dispenses,
//! cancellations; SPEC 10): no panic on any bytes; every accepted input is
//! the canonical encoding of what it decodes to (decode → encode → decode
//! is the identity); the entry id is the SPEC's `SHA-256(preimage ‖
//! signature)` (a dispense's with its patient signature too), written out
//! again here, and the same from every view; and the stateless checks give
//! the verdict the SPEC's text calls for (v1.2: a 32-byte `chain_id`, low-S
//! signatures), each signature judged by the reference implementations (libsecp256k1, ring
//! for P-256) and its S compared with n/2 here. The
//! signature judged by the reference implementations (libsecp256k1, ring
//! for P-256) and its S compared with n/2 here.
#![no_main]

use emr_core::{Entry, EntryError, PublicKey};
use libfuzzer_sys::fuzz_target;

fn le16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

fn too_long(fields: &[usize]) -> bool {
    fields.iter().any(|&n| n > usize::from(u16::MAX))
}

/// The entry's preimage from the SPEC's text; `None` when a field is too
/// long for its 16-bit length (never a valid entry; the id is then only
/// required to be stable).
fn preimage(entry: &Entry) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    match entry {
        Entry::Grant(g) => {
            if [g.dr_public_key.len(), g.licence.len(), g.authority.len()].iter().any(|&n| n > usize::from(u16::MAX)) {
                return None;
            }
            out.extend_from_slice(b"cryptoemr/grant/v2");
            out.extend_from_slice(g.chain_id.as_bytes());
            le16_prefixed(&mut out, &g.dr_public_key);
            le16_prefixed(&mut out, g.licence.as_bytes());
            out.extend_from_slice(&g.not_before.to_le_bytes());
            out.extend_from_slice(&g.not_after.to_le_bytes());
            le16_prefixed(&mut out, &g.authority);
        }
        Entry::Revocation(r) => {
            if r.authority.len() > usize::from(u16::MAX) {
                return None;
            }
            out.extend_from_slice(b"cryptoemr/revoke/v2");
            out.extend_from_slice(r.chain_id.as_bytes());
            out.extend_from_slice(r.grant_id.as_bytes());
            out.extend_from_slice(&r.effective.to_le_bytes());
            le16_prefixed(&mut out, &r.authority);
        }
        Entry::DispenserGrant(g) => {
            if too_long(&[g.pharmacy_public_key.len(), g.licence.len(), g.authority.len()]) {
                return None;
            }
            out.extend_from_slice(b"cryptoemr/dispenser-grant/v1");
            out.extend_from_slice(g.chain_id.as_bytes());
            le16_prefixed(&mut out, &g.pharmacy_public_key);
            le16_prefixed(&mut out, g.licence.as_bytes());
            out.extend_from_slice(&g.not_before.to_le_bytes());
            out.extend_from_slice(&g.not_after.to_le_bytes());
            le16_prefixed(&mut out, &g.authority);
        }
        Entry::Dispense(d) => {
            if too_long(&[d.pharmacy_public_key.len(), d.patient_public_key.len(), d.note.len()]) {
                return None;
            }
            out.extend_from_slice(b"cryptoemr/dispense/v1");
            out.extend_from_slice(d.chain_id.as_bytes());
            out.extend_from_slice(d.dr_hash.as_bytes());
            out.extend_from_slice(&d.nonce.to_le_bytes());
            out.extend_from_slice(d.record_hash.as_bytes());
            le16_prefixed(&mut out, &d.pharmacy_public_key);
            le16_prefixed(&mut out, &d.patient_public_key);
            le16_prefixed(&mut out, d.note.as_bytes());
        }
        Entry::Cancellation(c) => {
            if too_long(&[c.canceller.len(), c.reason.len()]) {
                return None;
            }
            out.extend_from_slice(b"cryptoemr/cancel/v1");
            out.extend_from_slice(c.chain_id.as_bytes());
            out.extend_from_slice(c.dr_hash.as_bytes());
            out.extend_from_slice(&c.nonce.to_le_bytes());
            out.extend_from_slice(c.record_hash.as_bytes());
            le16_prefixed(&mut out, &c.canceller);
            le16_prefixed(&mut out, c.reason.as_bytes());
        }
    }
    Some(out)
}

/// What the id hashes after the preimage: the signature, and a dispense's
/// patient signature.
fn signatures(entry: &Entry) -> Vec<u8> {
    match entry {
        Entry::Dispense(d) => [d.signature.as_slice(), &d.patient_signature].concat(),
        other => other.signature().to_vec(),
    }
}

/// floor(n / 2) of each curve, big-endian.
const SECP256K1_HALF_ORDER: &str = "7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0";
const P256_HALF_ORDER: &str = "7fffffff800000007fffffffffffffffde737d56d38bcf4279dce5617e3192a8";

/// Whether S of a DER ECDSA-Sig-Value (one the reference accepted, so
/// well formed) is at most n/2.
fn low_s(curve: emr_core::Curve, sig: &[u8]) -> bool {
    let r_len = usize::from(sig[3]);
    let s = &sig[6 + r_len..];
    let s = &s[s.iter().position(|&b| b != 0).unwrap_or(s.len())..];
    let mut padded = [0u8; 32];
    padded[32 - s.len()..].copy_from_slice(s);
    let half = match curve {
        emr_core::Curve::Secp256k1 => SECP256K1_HALF_ORDER,
        emr_core::Curve::P256 => P256_HALF_ORDER,
    };
    padded[..] <= hex::decode(half).unwrap()[..]
}

fn reference_verifies(authority: &PublicKey, message: &[u8], sig: &[u8]) -> bool {
    match authority.curve() {
        emr_core::Curve::Secp256k1 => {
            let Ok(mut signature) = secp256k1::ecdsa::Signature::from_der(sig) else { return false };
            signature.normalize_s();
            let point = secp256k1::PublicKey::from_slice(&authority.uncompressed_point()).unwrap();
            let digest = ring::digest::digest(&ring::digest::SHA256, message);
            let message = secp256k1::Message::from_digest(digest.as_ref().try_into().unwrap());
            secp256k1::SECP256K1.verify_ecdsa(&message, &signature, &point).is_ok()
        }
        emr_core::Curve::P256 => {
            ring::signature::UnparsedPublicKey::new(&ring::signature::ECDSA_P256_SHA256_ASN1, authority.uncompressed_point())
                .verify(message, sig)
                .is_ok()
        }
    }
}

/// Checks 1-2 of SPEC 8.1, from the text (kinds only: the reason texts are
/// the library's).
fn spec_verdict(entry: &Entry, preimage: &[u8]) -> Result<(), &'static str> {
    let key = |der: &[u8]| PublicKey::from_spki_der(der).map_err(|_| "invalid_entry");
    // Hashes and the chain id have their lengths in the typed entry: check
    // 1 cannot fail on them. Every key and text is checked before any
    // signature.
    let signed: Vec<(PublicKey, &[u8])> = match entry {
        Entry::Grant(g) => {
            key(&g.dr_public_key)?;
            if g.licence.len() > 100 || g.not_before > g.not_after {
                return Err("invalid_entry");
            }
            vec![(key(&g.authority)?, &g.signature)]
        }
        Entry::Revocation(r) => vec![(key(&r.authority)?, &r.signature)],
        Entry::DispenserGrant(g) => {
            key(&g.pharmacy_public_key)?;
            if g.licence.len() > 100 || g.not_before > g.not_after {
                return Err("invalid_entry");
            }
            vec![(key(&g.authority)?, &g.signature)]
        }
        Entry::Dispense(d) => {
            let (pharmacy, patient) = (key(&d.pharmacy_public_key)?, key(&d.patient_public_key)?);
            if d.note.len() > 100 {
                return Err("invalid_entry");
            }
            vec![(pharmacy, &d.signature), (patient, &d.patient_signature)]
        }
        Entry::Cancellation(c) => {
            let canceller = key(&c.canceller)?;
            if c.reason.len() > 100 {
                return Err("invalid_entry");
            }
            vec![(canceller, &c.signature)]
        }
    };
    for (key, signature) in signed {
        if !(reference_verifies(&key, preimage, signature) && low_s(key.curve(), signature)) {
            return Err("invalid_entry_signature");
        }
    }
    Ok(())
}

fuzz_target!(|data: &[u8]| {
    let Ok(entry) = Entry::from_bytes(data) else { return };
    let encoded = entry.to_bytes();
    assert_eq!(encoded, data, "decode → encode changed the bytes");
    let again = Entry::from_bytes(&encoded).expect("a canonical encoding decodes");
    assert_eq!(again, entry);
    assert_eq!(Entry::from_fields(&entry.fields()).as_ref(), Ok(&entry));

    let id = entry.entry_id();
    assert_eq!(again.entry_id(), id);
    assert_eq!(entry.fields().entry_id(), id);
    match &entry {
        Entry::Grant(g) => assert_eq!(g.grant_id(), id),
        Entry::Revocation(r) => assert_eq!(r.revocation_id(), id),
        Entry::DispenserGrant(g) => assert_eq!(g.grant_id(), id),
        Entry::Dispense(d) => assert_eq!(d.dispense_id(), id),
        Entry::Cancellation(c) => assert_eq!(c.cancellation_id(), id),
    }
    let verdict = entry.verify();
    assert_eq!(again.verify(), verdict);
    let kind = verdict.map_err(|e| match e {
        EntryError::InvalidEntry(_) => "invalid_entry",
        EntryError::InvalidEntrySignature => "invalid_entry_signature",
        other => panic!("a stateless check gave {other:?}"),
    });
    if let Some(preimage) = preimage(&entry) {
        let spec_id = ring::digest::digest(&ring::digest::SHA256, &[preimage.as_slice(), &signatures(&entry)].concat());
        assert_eq!(id.as_bytes()[..], *spec_id.as_ref(), "entry id");
        assert_eq!(kind, spec_verdict(&entry, &preimage), "{entry:?}");
    }
});
