//! The files commands read: keys, public keys, records and entries, each
//! refused past a size no such file reaches before it is read whole.

use std::fs;
use std::path::Path;

use emr_core::{Entry, KeyError, PublicKey, Record, SigningKey};
use zeroize::Zeroizing;

use crate::error::{file_error, CliError};
use crate::password;

/// The most a key file or a record file may hold: a PEM key is about 250
/// bytes and the longest record that can verify about 470, so anything past
/// 1 MiB is refused unread rather than loaded whole.
pub const MAX_SMALL_FILE_BYTES: u64 = 1 << 20;

/// Reads a file of at most `limit` bytes; a longer one is `kind` with a
/// message that says so, after reading no more than `limit + 1` bytes.
pub fn read_file(path: &Path, limit: u64, kind: &'static str) -> Result<Vec<u8>, CliError> {
    let mut bytes = Vec::new();
    read_file_into(path, limit, kind, &mut bytes)?;
    Ok(bytes)
}

/// [`read_file`] into `bytes`, sized from the file's length first so that a
/// key file is read without reallocating: no copy of it is left behind in
/// freed memory, and the caller's `Zeroizing` buffer wipes the one there is.
pub fn read_file_into(path: &Path, limit: u64, kind: &'static str, bytes: &mut Vec<u8>) -> Result<(), CliError> {
    use std::io::Read as _;
    let file = fs::File::open(path).map_err(|e| file_error(path, e))?;
    let expected = file.metadata().map(|m| m.len()).unwrap_or(0).min(limit);
    bytes.reserve_exact(usize::try_from(expected).unwrap_or(0) + 1);
    file.take(limit + 1)
        .read_to_end(bytes)
        .map_err(|e| file_error(path, e))?;
    if bytes.len() as u64 > limit {
        return Err(CliError::new(
            kind,
            format!("{}: longer than {limit} bytes, too long to be one", path.display()),
        ));
    }
    Ok(())
}

/// A private key file, PEM or DER; an encrypted one (`ENCRYPTED PRIVATE
/// KEY`) with its password (`password.rs`).
pub fn read_key(path: &Path) -> Result<SigningKey, CliError> {
    let mut bytes = Zeroizing::new(Vec::new());
    read_file_into(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::InvalidKey.as_str(), &mut bytes)?;
    let key = match SigningKey::from_pem_or_der(&bytes) {
        Err(KeyError::Encrypted) => {
            let password = password::for_reading(path)?;
            SigningKey::from_pem_or_der_with_password(&bytes, &password)
        }
        other => other,
    };
    key.map_err(|e| CliError::from(e).context(path.display()))
}

pub fn read_record(path: &Path) -> Result<Record, CliError> {
    let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::Decode.as_str())?;
    not_pem(path, &bytes, "a record")?;
    Record::from_bytes(&bytes).map_err(|e| CliError::from(e).context(path.display()))
}

/// Refuses a PEM file where a file in a binary encoding (`wanted`) belongs,
/// saying so, rather than as the decoder sees it: a wrong type tag, 0x2d,
/// the first `-` of `-----BEGIN`.
pub fn not_pem(path: &Path, bytes: &[u8], wanted: &str) -> Result<(), CliError> {
    let Some(rest) = bytes.strip_prefix(b"-----BEGIN ") else {
        return Ok(());
    };
    let label = rest
        .split(|&b| b == b'-' || b == b'\n')
        .next()
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    let what = if label.ends_with("KEY") { "a PEM key" } else { "a PEM file" };
    Err(CliError::new(
        emr_core::ErrorKind::Decode.as_str(),
        format!("{}: this is {what} ({label}), not {wanted}", path.display()),
    ))
}

/// A public key from a file: SPKI DER (what `emr authority new` writes as
/// the `.pub` file) or PEM (`emr key public`, `openssl pkey -pubout`), or a
/// private key file (PKCS#8 or SEC1, PEM or DER, encrypted or not), whose
/// public key is taken: a patient's or pharmacy's key file works where only
/// their public key is needed.
pub fn read_public_key(path: &Path) -> Result<PublicKey, CliError> {
    // An address is a hash of a key: no key can be had from it.
    let is_address = path.to_str().is_some_and(|text| {
        emr_core::address::Role::ALL.into_iter().any(|role| emr_core::address::decode(text, role).is_ok())
    });
    if is_address && !path.exists() {
        return Err(CliError::new(
            "invalid_public_key",
            format!(
                "{}: an address, not a key file; an address is a hash of a key and cannot become one: \
                 give the public key file (`emr key public KEY --out FILE`) or the key file",
                path.display()
            ),
        ));
    }
    let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::InvalidPublicKey.as_str())?;
    if let Ok(key) = PublicKey::from_pem_or_der(&bytes) {
        return Ok(key);
    }
    match SigningKey::from_pem_or_der(&bytes) {
        Ok(key) => Ok(*key.public_key()),
        Err(KeyError::Encrypted) => read_key(path).map(|key| *key.public_key()),
        Err(_) => Err(CliError::new(
            "invalid_public_key",
            format!(
                "{}: neither a public key (SPKI, PEM or DER) nor a private key file on secp256k1 or P-256",
                path.display()
            ),
        )),
    }
}

pub fn read_entry(path: &Path) -> Result<Entry, CliError> {
    let bytes = read_file(path, MAX_SMALL_FILE_BYTES, emr_core::ErrorKind::Decode.as_str())?;
    not_pem(path, &bytes, "an entry")?;
    Entry::from_bytes(&bytes).map_err(|e| CliError::from(e).context(path.display()))
}
