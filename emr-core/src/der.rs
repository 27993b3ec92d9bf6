//! The small, strict subset of DER the protocol needs: EC SubjectPublicKeyInfo,
//! PKCS#8 and SEC1 EC private keys, and ECDSA-Sig-Value.
//!
//! Parsing is strict (definite, minimal lengths; minimal INTEGERs; no trailing
//! bytes) because a signature has exactly one valid encoding here, and every
//! length is checked against the input before it is used, so no input can
//! cause an out-of-bounds read or a large allocation.

use zeroize::Zeroizing;

use crate::keys::Curve;

const TAG_INTEGER: u8 = 0x02;
const TAG_BIT_STRING: u8 = 0x03;
const TAG_OCTET_STRING: u8 = 0x04;
const TAG_OID: u8 = 0x06;
const TAG_SEQUENCE: u8 = 0x30;
const TAG_CONTEXT_0: u8 = 0xa0;
const TAG_CONTEXT_1: u8 = 0xa1;

/// id-ecPublicKey, 1.2.840.10045.2.1.
const OID_EC_PUBLIC_KEY: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
const OID_SECP256K1: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x0a];
const OID_P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// The input is not the DER structure that was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct DerError;

struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(input: &'a [u8]) -> Self {
        Reader { rest: input }
    }

    fn peek_tag(&self) -> Option<u8> {
        self.rest.first().copied()
    }

    /// Reads one TLV with the given tag and returns its contents.
    fn read(&mut self, tag: u8) -> Result<&'a [u8], DerError> {
        let (&actual, rest) = self.rest.split_first().ok_or(DerError)?;
        if actual != tag {
            return Err(DerError);
        }
        let (&first, mut rest) = rest.split_first().ok_or(DerError)?;
        let len = if first < 0x80 {
            usize::from(first)
        } else {
            let count = usize::from(first & 0x7f);
            // Two length bytes cover every structure we accept.
            if count == 0 || count > 2 || rest.len() < count {
                return Err(DerError);
            }
            let mut len = 0usize;
            for &b in &rest[..count] {
                len = (len << 8) | usize::from(b);
            }
            rest = &rest[count..];
            // Minimal length encoding: long form only for 128 and up,
            // and no leading zero byte.
            if len < 0x80 || (count == 2 && len < 0x100) {
                return Err(DerError);
            }
            len
        };
        if rest.len() < len {
            return Err(DerError);
        }
        let (contents, rest) = rest.split_at(len);
        self.rest = rest;
        Ok(contents)
    }

    fn finish(self) -> Result<(), DerError> {
        if self.rest.is_empty() {
            Ok(())
        } else {
            Err(DerError)
        }
    }
}

fn write_tlv(out: &mut Vec<u8>, tag: u8, contents: &[u8]) {
    out.push(tag);
    let len = contents.len();
    if len < 0x80 {
        out.push(len as u8);
    } else if len < 0x100 {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        debug_assert!(len <= 0xffff, "no structure here exceeds 64 KiB");
        out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]);
    }
    out.extend_from_slice(contents);
}

pub(crate) fn curve_oid(curve: Curve) -> &'static [u8] {
    match curve {
        Curve::Secp256k1 => OID_SECP256K1,
        Curve::P256 => OID_P256,
    }
}

fn curve_from_oid(oid: &[u8]) -> Result<Curve, DerError> {
    match oid {
        OID_SECP256K1 => Ok(Curve::Secp256k1),
        OID_P256 => Ok(Curve::P256),
        _ => Err(DerError),
    }
}

/// Parses `AlgorithmIdentifier { id-ecPublicKey, namedCurve }`.
fn parse_ec_algorithm(contents: &[u8]) -> Result<Curve, DerError> {
    let mut alg = Reader::new(contents);
    if alg.read(TAG_OID)? != OID_EC_PUBLIC_KEY {
        return Err(DerError);
    }
    let curve = curve_from_oid(alg.read(TAG_OID)?)?;
    alg.finish()?;
    Ok(curve)
}

fn ec_algorithm(curve: Curve) -> Vec<u8> {
    let mut alg = Vec::with_capacity(24);
    write_tlv(&mut alg, TAG_OID, OID_EC_PUBLIC_KEY);
    write_tlv(&mut alg, TAG_OID, curve_oid(curve));
    let mut out = Vec::with_capacity(26);
    write_tlv(&mut out, TAG_SEQUENCE, &alg);
    out
}

/// A BIT STRING holding whole bytes (no unused bits).
fn parse_octet_aligned_bits(contents: &[u8]) -> Result<&[u8], DerError> {
    match contents.split_first() {
        Some((0, bits)) => Ok(bits),
        _ => Err(DerError),
    }
}

/// Splits an EC SubjectPublicKeyInfo into its curve and SEC1 point bytes.
/// The point itself is not validated here.
pub(crate) fn parse_spki(der: &[u8]) -> Result<(Curve, &[u8]), DerError> {
    let mut outer = Reader::new(der);
    let spki = outer.read(TAG_SEQUENCE)?;
    outer.finish()?;
    let mut spki = Reader::new(spki);
    let curve = parse_ec_algorithm(spki.read(TAG_SEQUENCE)?)?;
    let point = parse_octet_aligned_bits(spki.read(TAG_BIT_STRING)?)?;
    spki.finish()?;
    Ok((curve, point))
}

/// Encodes a SubjectPublicKeyInfo for a SEC1 point.
pub(crate) fn encode_spki(curve: Curve, point: &[u8]) -> Vec<u8> {
    let mut bits = Vec::with_capacity(point.len() + 1);
    bits.push(0);
    bits.extend_from_slice(point);
    let mut body = ec_algorithm(curve);
    write_tlv(&mut body, TAG_BIT_STRING, &bits);
    let mut out = Vec::with_capacity(body.len() + 2);
    write_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

/// The parts of an EC private key file that matter.
pub(crate) struct EcPrivateKey {
    pub curve: Curve,
    pub scalar: Zeroizing<[u8; 32]>,
    /// The public point stored beside the scalar in SEC1's `[1]`, if any.
    pub public_point: Option<Vec<u8>>,
    /// The public point in PKCS#8 v2's own `[1]`, if any.
    pub outer_public_point: Option<Vec<u8>>,
}

/// Parses the SEC1 `ECPrivateKey` structure. `outer_curve` is the curve named
/// by an enclosing PKCS#8 header, if any.
fn parse_ec_private_key(der: &[u8], outer_curve: Option<Curve>) -> Result<EcPrivateKey, DerError> {
    let mut outer = Reader::new(der);
    let body = outer.read(TAG_SEQUENCE)?;
    outer.finish()?;
    let mut body = Reader::new(body);
    if body.read(TAG_INTEGER)? != [1] {
        return Err(DerError);
    }
    let private = body.read(TAG_OCTET_STRING)?;
    let mut scalar = Zeroizing::new([0u8; 32]);
    // SEC1 fixes the length to the order's byte size; tolerate a shorter
    // string with its leading zeros dropped, as some encoders write.
    if private.is_empty() || private.len() > 32 {
        return Err(DerError);
    }
    scalar[32 - private.len()..].copy_from_slice(private);

    let mut inner_curve = None;
    if body.peek_tag() == Some(TAG_CONTEXT_0) {
        let mut params = Reader::new(body.read(TAG_CONTEXT_0)?);
        inner_curve = Some(curve_from_oid(params.read(TAG_OID)?)?);
        params.finish()?;
    }
    let mut public_point = None;
    if body.peek_tag() == Some(TAG_CONTEXT_1) {
        let mut public = Reader::new(body.read(TAG_CONTEXT_1)?);
        public_point = Some(parse_octet_aligned_bits(public.read(TAG_BIT_STRING)?)?.to_vec());
        public.finish()?;
    }
    body.finish()?;

    let curve = match (outer_curve, inner_curve) {
        (Some(a), Some(b)) if a != b => return Err(DerError),
        (Some(c), _) | (None, Some(c)) => c,
        (None, None) => return Err(DerError),
    };
    Ok(EcPrivateKey {
        curve,
        scalar,
        public_point,
        outer_public_point: None,
    })
}

/// Parses a PKCS#8 `PrivateKeyInfo` (v1) or `OneAsymmetricKey` (v2, RFC 5958).
///
/// After the key come, in this order and each at most once, `[0]` attributes
/// (ignored) and, in v2 only, `[1]` the public key, which is returned so the
/// caller can check it belongs to the scalar like the inner SEC1 copy.
pub(crate) fn parse_pkcs8(der: &[u8]) -> Result<EcPrivateKey, DerError> {
    const TAG_PKCS8_PUBLIC_KEY: u8 = 0x81; // [1] IMPLICIT BIT STRING
    let mut outer = Reader::new(der);
    let info = outer.read(TAG_SEQUENCE)?;
    outer.finish()?;
    let mut info = Reader::new(info);
    let is_v2 = match info.read(TAG_INTEGER)? {
        [0] => false,
        [1] => true,
        _ => return Err(DerError),
    };
    let curve = parse_ec_algorithm(info.read(TAG_SEQUENCE)?)?;
    let mut key = parse_ec_private_key(info.read(TAG_OCTET_STRING)?, Some(curve))?;
    if info.peek_tag() == Some(TAG_CONTEXT_0) {
        info.read(TAG_CONTEXT_0)?;
    }
    if is_v2 && info.peek_tag() == Some(TAG_PKCS8_PUBLIC_KEY) {
        key.outer_public_point =
            Some(parse_octet_aligned_bits(info.read(TAG_PKCS8_PUBLIC_KEY)?)?.to_vec());
    }
    info.finish()?;
    Ok(key)
}

/// Parses a SEC1 `ECPrivateKey` on its own (the body of `EC PRIVATE KEY` PEM).
pub(crate) fn parse_sec1(der: &[u8]) -> Result<EcPrivateKey, DerError> {
    parse_ec_private_key(der, None)
}

/// Encodes PKCS#8 v1 exactly as OpenSSL (and so pyca/cryptography) writes it:
/// the inner `ECPrivateKey` has no parameters and carries the public key.
pub(crate) fn encode_pkcs8(
    curve: Curve,
    scalar: &[u8; 32],
    public_point: &[u8],
) -> Zeroizing<Vec<u8>> {
    let mut ec = Zeroizing::new(Vec::with_capacity(120));
    write_tlv(&mut ec, TAG_INTEGER, &[1]);
    write_tlv(&mut ec, TAG_OCTET_STRING, scalar);
    let mut bits = Vec::with_capacity(public_point.len() + 3);
    let mut point_bits = Vec::with_capacity(public_point.len() + 1);
    point_bits.push(0);
    point_bits.extend_from_slice(public_point);
    write_tlv(&mut bits, TAG_BIT_STRING, &point_bits);
    write_tlv(&mut ec, TAG_CONTEXT_1, &bits);

    let mut ec_seq = Zeroizing::new(Vec::with_capacity(ec.len() + 3));
    write_tlv(&mut ec_seq, TAG_SEQUENCE, &ec);
    let mut info = Zeroizing::new(Vec::with_capacity(ec_seq.len() + 32));
    write_tlv(&mut info, TAG_INTEGER, &[0]);
    info.extend_from_slice(&ec_algorithm(curve));
    write_tlv(&mut info, TAG_OCTET_STRING, &ec_seq);
    let mut out = Zeroizing::new(Vec::with_capacity(info.len() + 3));
    write_tlv(&mut out, TAG_SEQUENCE, &info);
    out
}

/// Parses one strict-DER INTEGER into a 32-byte big-endian value.
/// Rejects negative values, non-minimal encodings and values over 256 bits.
fn parse_unsigned_32(contents: &[u8]) -> Result<[u8; 32], DerError> {
    let magnitude = match contents {
        [] => return Err(DerError),
        [first, ..] if first & 0x80 != 0 => return Err(DerError),
        [0, second, ..] if second & 0x80 == 0 => return Err(DerError),
        [0, rest @ ..] if !rest.is_empty() => rest,
        all => all,
    };
    if magnitude.len() > 32 {
        return Err(DerError);
    }
    let mut out = [0u8; 32];
    out[32 - magnitude.len()..].copy_from_slice(magnitude);
    Ok(out)
}

/// Parses a strict-DER `ECDSA-Sig-Value` into `r ‖ s`, 32 bytes each.
pub(crate) fn parse_ecdsa_signature(der: &[u8]) -> Result<[u8; 64], DerError> {
    let mut outer = Reader::new(der);
    let body = outer.read(TAG_SEQUENCE)?;
    outer.finish()?;
    let mut body = Reader::new(body);
    let r = parse_unsigned_32(body.read(TAG_INTEGER)?)?;
    let s = parse_unsigned_32(body.read(TAG_INTEGER)?)?;
    body.finish()?;
    let mut out = [0u8; 64];
    out[..32].copy_from_slice(&r);
    out[32..].copy_from_slice(&s);
    Ok(out)
}

fn write_unsigned(out: &mut Vec<u8>, value: &[u8]) {
    let first_nonzero = value
        .iter()
        .position(|&b| b != 0)
        .unwrap_or(value.len() - 1);
    let magnitude = &value[first_nonzero..];
    let mut contents = Vec::with_capacity(33);
    if magnitude[0] & 0x80 != 0 {
        contents.push(0);
    }
    contents.extend_from_slice(magnitude);
    write_tlv(out, TAG_INTEGER, &contents);
}

/// Encodes `r ‖ s` (32 bytes each) as a strict-DER `ECDSA-Sig-Value`.
pub(crate) fn encode_ecdsa_signature(compact: &[u8; 64]) -> Vec<u8> {
    let mut body = Vec::with_capacity(70);
    write_unsigned(&mut body, &compact[..32]);
    write_unsigned(&mut body, &compact[32..]);
    let mut out = Vec::with_capacity(72);
    write_tlv(&mut out, TAG_SEQUENCE, &body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_round_trip_and_strictness() {
        let mut compact = [0u8; 64];
        compact[0] = 0x80; // r needs a sign byte
        compact[63] = 1; // s is 1
        let der = encode_ecdsa_signature(&compact);
        assert_eq!(parse_ecdsa_signature(&der), Ok(compact));
        // trailing byte
        let mut longer = der.clone();
        longer.push(0);
        assert!(parse_ecdsa_signature(&longer).is_err());
        // non-minimal integer: 02 02 00 01 instead of 02 01 01
        let padded = [0x30, 0x07, 0x02, 0x01, 0x01, 0x02, 0x02, 0x00, 0x01];
        assert!(parse_ecdsa_signature(&padded).is_err());
        // negative integer
        let negative = [0x30, 0x06, 0x02, 0x01, 0x81, 0x02, 0x01, 0x01];
        assert!(parse_ecdsa_signature(&negative).is_err());
        // long-form length where short form fits
        let long_len = [0x30, 0x81, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01];
        assert!(parse_ecdsa_signature(&long_len).is_err());
        assert!(parse_ecdsa_signature(&[]).is_err());
    }

    #[test]
    fn spki_round_trip() {
        let point = [4u8; 65];
        let der = encode_spki(Curve::P256, &point);
        assert_eq!(der.len(), 91);
        assert_eq!(parse_spki(&der), Ok((Curve::P256, &point[..])));
        assert_eq!(encode_spki(Curve::Secp256k1, &point).len(), 88);
    }
}
