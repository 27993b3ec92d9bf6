//! `emr node ca new` and `emr node cert new`: the consortium's certificate
//! authority and the certificates its nodes speak mutual TLS with (SPEC
//! 9.4, `docs/NODES.md`). The certificates are made by `emr_node::pki`;
//! here they are written as keys are, through `outfile`.

use std::path::{Path, PathBuf};

use emr_node::pki::{self, Authority, Issued, PkiError};
use serde_json::json;
use zeroize::Zeroizing;

use crate::error::CliError;
use crate::outfile::{Access, OutFile};
use crate::infile::{read_file, read_file_into, MAX_SMALL_FILE_BYTES};
use crate::output::Output;

impl From<PkiError> for CliError {
    fn from(e: PkiError) -> CliError {
        let kind = match e {
            PkiError::InvalidArgument(_) => "invalid_argument",
            PkiError::InvalidKey(_) => "invalid_key",
            PkiError::InvalidCertificate(_)
            | PkiError::Generate(_)
            | PkiError::Tls(_)
            | PkiError::Verifier(_) => "invalid_certificate",
        };
        CliError::new(kind, e.to_string())
    }
}

/// The key and certificate files, checked before any key is made: each
/// writable, and not one file under two names (the certificate would
/// replace the key).
fn outputs(key: PathBuf, cert: PathBuf, force: bool) -> Result<(OutFile, OutFile), CliError> {
    let key = OutFile::new(key, Access::Private, force)?;
    let cert = OutFile::new(cert, Access::Public, force)?;
    if key.same_file(&cert) {
        return Err(CliError::invalid_argument(format!(
            "--out-key {} and --out-cert {} are the same file: the certificate would replace the key",
            key.path().display(),
            cert.path().display()
        )));
    }
    Ok((key, cert))
}

/// Writes the key (mode 0600) and then the certificate, and says what the
/// certificate is; the key itself is never printed.
fn write(
    key: OutFile,
    cert: OutFile,
    issued: &Issued,
    what: &str,
    issuer: Option<&str>,
) -> Result<Output, CliError> {
    let written = key.write(issued.key_pem.as_bytes(), None)?;
    // Two names that looked different may still be one file (a
    // case-insensitive file system, a link made meanwhile): the key stays.
    cert.write(issued.cert_pem.as_bytes(), Some(written))?;
    let info = &issued.info;
    let (key, cert) = (key.path(), cert.path());
    let mut text = format!(
        "wrote {} (the {what}'s private key, mode 0600) and its certificate {}\nsubject  {}",
        key.display(),
        cert.display(),
        info.subject
    );
    if !info.names.is_empty() {
        text.push_str(&format!("\nnames    {}", info.names.join(", ")));
    }
    if let Some(issuer) = issuer {
        text.push_str(&format!("\nissuer   {issuer}"));
    }
    text.push_str(&format!(
        "\nexpires  {}\nsha256   {}",
        info.not_after_text(),
        info.sha256
    ));
    Ok(Output::new(
        text,
        json!({
            "key_file": key.display().to_string(),
            "cert_file": cert.display().to_string(),
            "subject": info.subject,
            "names": info.names,
            "issuer": issuer.unwrap_or(&info.subject),
            "not_after": info.not_after,
            "sha256": info.sha256,
        }),
    ))
}

/// `emr node ca new`: a consortium's certificate authority.
pub fn ca_new(
    name: &str,
    out_key: PathBuf,
    out_cert: PathBuf,
    days: u32,
    force: bool,
) -> Result<Output, CliError> {
    let (key, cert) = outputs(out_key, out_cert, force)?;
    let ca = pki::new_authority(name, days)?;
    write(key, cert, &ca, "authority", None)
}

/// `emr node cert new`: a node's certificate, signed by the authority.
pub fn cert_new(
    ca_cert: &Path,
    ca_key: &Path,
    names: &[String],
    out_key: PathBuf,
    out_cert: PathBuf,
    days: u32,
    force: bool,
) -> Result<Output, CliError> {
    let (key, cert) = outputs(out_key, out_cert, force)?;
    let cert_pem = read_file(ca_cert, MAX_SMALL_FILE_BYTES, "invalid_certificate")?;
    let mut key_pem = Zeroizing::new(Vec::new());
    read_file_into(ca_key, MAX_SMALL_FILE_BYTES, "invalid_key", &mut key_pem)?;
    let authority = Authority::from_pem(&cert_pem, &key_pem).map_err(|e| {
        let file = match e {
            PkiError::InvalidKey(_) => ca_key,
            _ => ca_cert,
        };
        CliError::from(e).context(file.display())
    })?;
    let node = authority.issue(names, days)?;
    write(key, cert, &node, "node", Some(authority.subject()))
}
