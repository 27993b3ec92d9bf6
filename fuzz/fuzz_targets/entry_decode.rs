//! Registry entries (grants, revocations; SPEC 8.1): no panic on any bytes;
//! every accepted input is the canonical encoding of what it decodes to
//! (decode → encode → decode is the identity); the entry id is SPEC 8.1's
//! `SHA-256(preimage ‖ signature)`, written out again here, and the same
//! from every view; and the stateless checks give the verdict SPEC 8.1's
//! text calls for (v1.2: a 32-byte `chain_id`, a low-S signature), the
//! signature judged by the reference implementations (libsecp256k1, ring
//! for P-256) and its S compared with n/2 here.
#![no_main]

use emr_core::{Entry, EntryError, PublicKey};
use libfuzzer_sys::fuzz_target;

fn le16_prefixed(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
    out.extend_from_slice(bytes);
}

/// `grant_preimage` or `revocation_preimage`; `None` when a field is too
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
    }
    Some(out)
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
    let (authority, signature) = match entry {
        // A chain id is 32 bytes in the typed entry: check 1 cannot fail on it.
        Entry::Grant(g) => {
            PublicKey::from_spki_der(&g.dr_public_key).map_err(|_| "invalid_entry")?;
            if g.licence.len() > 100 || g.not_before > g.not_after {
                return Err("invalid_entry");
            }
            (&g.authority, &g.signature)
        }
        Entry::Revocation(r) => (&r.authority, &r.signature),
    };
    let authority = PublicKey::from_spki_der(authority).map_err(|_| "invalid_entry")?;
    if reference_verifies(&authority, preimage, signature) && low_s(authority.curve(), signature) {
        Ok(())
    } else {
        Err("invalid_entry_signature")
    }
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
    }
    let verdict = entry.verify();
    assert_eq!(again.verify(), verdict);
    let kind = verdict.map_err(|e| match e {
        EntryError::InvalidEntry(_) => "invalid_entry",
        EntryError::InvalidEntrySignature => "invalid_entry_signature",
        other => panic!("a stateless check gave {other:?}"),
    });
    if let Some(preimage) = preimage(&entry) {
        let signature = match &entry {
            Entry::Grant(g) => &g.signature,
            Entry::Revocation(r) => &r.signature,
        };
        let spec_id = ring::digest::digest(&ring::digest::SHA256, &[preimage.as_slice(), signature].concat());
        assert_eq!(id.as_bytes()[..], *spec_id.as_ref(), "entry id");
        assert_eq!(kind, spec_verdict(&entry, &preimage), "{entry:?}");
    }
});
