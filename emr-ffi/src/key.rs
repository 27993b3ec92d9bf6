//! Doctors' private keys: `emr_key`.

use emr_core::keys::{Curve, SigningKey};

use crate::ptr::{self, Out, OutBuf, OutHandle};
use crate::status::{emr_status, Error};

/// A doctor's private signing key (secp256k1 or P-256). Opaque.
///
/// The secret scalar is wiped from memory when the key is freed. Keys are
/// immutable: one key may be used by several threads at once.
pub struct emr_key {
    pub(crate) inner: SigningKey,
}

/// An elliptic curve: one of the `EMR_CURVE_*` values.
pub type emr_curve = u32;

/// secp256k1 (OID 1.3.132.0.10).
pub const EMR_CURVE_SECP256K1: emr_curve = 1;
/// NIST P-256 / secp256r1 / prime256v1 (OID 1.2.840.10045.3.1.7).
pub const EMR_CURVE_P256: emr_curve = 2;

fn curve_from_c(curve: emr_curve) -> Result<Curve, Error> {
    match curve {
        EMR_CURVE_SECP256K1 => Ok(Curve::Secp256k1),
        EMR_CURVE_P256 => Ok(Curve::P256),
        other => Err(Error::invalid_argument(format_args!("unknown curve {other}"))),
    }
}

fn curve_to_c(curve: Curve) -> emr_curve {
    match curve {
        Curve::Secp256k1 => EMR_CURVE_SECP256K1,
        Curve::P256 => EMR_CURVE_P256,
    }
}

/// Generates a fresh private key from the operating system's random source.
///
/// Returns: EMR_OK; EMR_INVALID_ARGUMENT for an unknown curve;
///          EMR_INVALID_KEY if the system random generator failed;
///          EMR_NULL_ARGUMENT if out is NULL.
/// In:      curve: EMR_CURVE_SECP256K1 or EMR_CURVE_P256.
/// Out:     out:   a new key, freed by the caller with emr_key_free; NULL on
///                 failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_key_generate(curve: emr_curve, out: *mut *mut emr_key) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contract of `out`.
        let out = unsafe { OutHandle::new(out, "out") }?;
        let inner = SigningKey::generate(curve_from_c(curve)?)?;
        out.set(emr_key { inner });
        Ok(())
    })
}

/// Imports a private key from DER: PKCS#8 `PrivateKeyInfo` (what
/// pyca/cryptography and OpenSSL write by default) or SEC1 `ECPrivateKey`.
///
/// Returns: EMR_OK; EMR_INVALID_KEY if the bytes are not such a key on
///          secp256k1 or P-256 (malformed, encrypted, other curve, scalar out
///          of range, stored public key not matching); EMR_NULL_ARGUMENT if
///          out is NULL, or der is NULL while len > 0.
/// In:      der: the DER bytes (NULL allowed when len is 0).
///          len: their length.
/// Out:     out: a new key, freed by the caller with emr_key_free; NULL on
///               failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_key_from_der(der: *const u8, len: usize, out: *mut *mut emr_key) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and (`der`, `len`).
        let out = unsafe { OutHandle::new(out, "out") }?;
        let der = unsafe { ptr::slice(der, len, "der") }?;
        out.set(emr_key { inner: SigningKey::from_der(der)? });
        Ok(())
    })
}

/// Imports a private key from PEM text: `-----BEGIN PRIVATE KEY-----`
/// (PKCS#8) or `-----BEGIN EC PRIVATE KEY-----` (SEC1). The text need not be
/// NUL-terminated; a terminating NUL counted in len is refused.
///
/// Returns: EMR_OK; EMR_INVALID_KEY if the text is not such a key (including
///          encrypted PEM: emr_key_decrypt reads it); EMR_NULL_ARGUMENT if out is NULL, or pem is NULL
///          while len > 0.
/// In:      pem: the PEM text (NULL allowed when len is 0).
///          len: its length in bytes.
/// Out:     out: a new key, freed by the caller with emr_key_free; NULL on
///               failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_key_from_pem(pem: *const u8, len: usize, out: *mut *mut emr_key) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out` and (`pem`, `len`).
        let out = unsafe { OutHandle::new(out, "out") }?;
        let pem = unsafe { ptr::slice(pem, len, "pem") }?;
        out.set(emr_key { inner: SigningKey::from_pem(pem)? });
        Ok(())
    })
}

/// Imports an encrypted private key: PEM `-----BEGIN ENCRYPTED PRIVATE
/// KEY-----` or its DER (PKCS#8 EncryptedPrivateKeyInfo with PBES2: PBKDF2
/// or scrypt, AES-CBC), as `openssl pkey -aes256`, pyca/cryptography and
/// emr_key_to_pem_encrypted write it, decrypted with password. A key file
/// asking for more than 10,000,000 PBKDF2 iterations or 256 MiB of scrypt
/// memory is refused before any work.
///
/// Returns: EMR_OK; EMR_WRONG_PASSWORD if the password does not decrypt the
///          key (or the encrypted key is damaged); EMR_INVALID_KEY if data
///          is not an encrypted key (an unencrypted key included: use
///          emr_key_from_pem) or uses an encryption not read;
///          EMR_NULL_ARGUMENT if out is NULL, or data or password is NULL
///          while its length is > 0.
/// In:      data:         the PEM text or DER bytes (NULL allowed when
///                        len is 0).
///          len:          its length in bytes.
///          password:     the password's bytes, not NUL-terminated (NULL
///                        allowed when password_len is 0).
///          password_len: its length in bytes.
/// Out:     out:          a new key, freed by the caller with emr_key_free;
///                        NULL on failure.
/// Thread-safety: safe to call from any thread.
#[no_mangle]
pub unsafe extern "C" fn emr_key_decrypt(
    data: *const u8,
    len: usize,
    password: *const u8,
    password_len: usize,
    out: *mut *mut emr_key,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `out`, (`data`, `len`) and
        // (`password`, `password_len`).
        let out = unsafe { OutHandle::new(out, "out") }?;
        let data = unsafe { ptr::slice(data, len, "data") }?;
        let password = unsafe { ptr::slice(password, password_len, "password") }?;
        out.set(emr_key { inner: SigningKey::from_pem_or_der_with_password(data, password)? });
        Ok(())
    })
}

/// Exports the private key as encrypted PKCS#8 PEM text (`-----BEGIN
/// ENCRYPTED PRIVATE KEY-----`): PBES2 with PBKDF2-HMAC-SHA256 (600,000
/// iterations, a random salt) and AES-256-CBC (a random IV), which OpenSSL,
/// pyca/cryptography and emr_key_decrypt read. The text is NOT
/// NUL-terminated: *len is its length. Every call encrypts anew (another
/// salt and IV, the same length for a key), a size query included: pass a
/// buffer of 1024 bytes to encrypt once. The library's own copies are
/// wiped.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len; nothing else written);
///          EMR_INVALID_ARGUMENT if password_len is 0; EMR_NULL_ARGUMENT if
///          key or len is NULL, buf is NULL while *len > 0, or password is
///          NULL while password_len > 0.
/// Args:    key:          the key.
/// In:      password:     the password's bytes, not NUL-terminated.
///          password_len: its length in bytes, at least 1.
/// Out:     buf:          receives the PEM text (NULL allowed when *len is 0).
/// In/Out:  len:          in: the capacity of buf; out: the size written or
///                        needed.
/// Thread-safety: safe to call concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_key_to_pem_encrypted(
    key: *const emr_key,
    password: *const u8,
    password_len: usize,
    buf: *mut u8,
    len: *mut usize,
) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `key`, (`password`,
        // `password_len`) and (`buf`, `len`).
        let key = unsafe { ptr::handle(key, "key") }?;
        let password = unsafe { ptr::slice(password, password_len, "password") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(key.inner.to_pkcs8_pem_encrypted(password)?.as_bytes())
    })
}

/// Exports the private key as PKCS#8 DER, byte for byte what
/// pyca/cryptography writes for the same key. The library's own copies are
/// wiped; the caller's buffer holds the secret afterwards.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len; nothing else written);
///          EMR_NULL_ARGUMENT if key or len is NULL, or buf is NULL while
///          *len > 0.
/// Args:    key: the key.
/// Out:     buf: receives the DER bytes (NULL allowed when *len is 0, to ask
///               for the size).
/// In/Out:  len: in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_key_to_der(key: *const emr_key, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `key` and (`buf`, `len`).
        let key = unsafe { ptr::handle(key, "key") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(&key.inner.to_pkcs8_der())
    })
}

/// Exports the private key as PKCS#8 PEM text (`-----BEGIN PRIVATE
/// KEY-----`, 64-character lines, final newline), as pyca/cryptography
/// writes it. The text is NOT NUL-terminated: *len is its length. The
/// library's own copies are wiped.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len; nothing else written);
///          EMR_NULL_ARGUMENT if key or len is NULL, or buf is NULL while
///          *len > 0.
/// Args:    key: the key.
/// Out:     buf: receives the PEM text (NULL allowed when *len is 0).
/// In/Out:  len: in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_key_to_pem(key: *const emr_key, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `key` and (`buf`, `len`).
        let key = unsafe { ptr::handle(key, "key") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(key.inner.to_pkcs8_pem().as_bytes())
    })
}

/// The public key as uncompressed DER SubjectPublicKeyInfo (88 bytes for
/// secp256k1, 91 for P-256): a record's dr_public_key.
///
/// Returns: EMR_OK; EMR_BUFFER_TOO_SMALL if *len is less than the size
///          needed (written to *len); EMR_NULL_ARGUMENT if key or len is
///          NULL, or buf is NULL while *len > 0.
/// Args:    key: the key.
/// Out:     buf: receives the DER bytes (NULL allowed when *len is 0).
/// In/Out:  len: in: the capacity of buf; out: the size written or needed.
/// Thread-safety: safe to call concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_key_public_key_der(key: *const emr_key, buf: *mut u8, len: *mut usize) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `key` and (`buf`, `len`).
        let key = unsafe { ptr::handle(key, "key") }?;
        let out = unsafe { OutBuf::new(buf, len, "buf", "len") }?;
        out.write(key.inner.public_key_der())
    })
}

/// SHA-1 of the public key's DER: a record's dr_hash.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if key or out20 is NULL.
/// Args:    key:   the key.
/// Out:     out20: receives 20 bytes.
/// Thread-safety: safe to call concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_key_public_key_hash(key: *const emr_key, out20: *mut u8) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `key` and `out20`.
        let key = unsafe { ptr::handle(key, "key") }?;
        let out = unsafe { ptr::out_array::<20>(out20, "out20") }?;
        out.write(key.inner.public_key_hash().to_bytes());
        Ok(())
    })
}

/// The key's curve.
///
/// Returns: EMR_OK; EMR_NULL_ARGUMENT if key or curve is NULL.
/// Args:    key:   the key.
/// Out:     curve: EMR_CURVE_SECP256K1 or EMR_CURVE_P256.
/// Thread-safety: safe to call concurrently on the same key.
#[no_mangle]
pub unsafe extern "C" fn emr_key_curve(key: *const emr_key, curve: *mut emr_curve) -> emr_status {
    ffi_boundary!({
        // SAFETY: documented contracts of `key` and `curve`.
        let key = unsafe { ptr::handle(key, "key") }?;
        let out = unsafe { Out::new(curve, "curve") }?;
        out.write(curve_to_c(key.inner.curve()));
        Ok(())
    })
}

/// Frees a key and wipes its secret. NULL is a no-op.
///
/// Args:    key: a key from this library, or NULL. Not usable afterwards.
/// Thread-safety: no other thread may use the key during or after the call.
#[no_mangle]
pub unsafe extern "C" fn emr_key_free(key: *mut emr_key) {
    ffi_boundary!(default: (); {
        // SAFETY: documented contract: a live key or NULL, freed once.
        unsafe { ptr::free(key) }
    })
}
