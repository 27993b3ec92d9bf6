//! The consortium's certificates (SPEC 9.4): one certificate authority per
//! consortium, whose key signs each node's certificate, and the TLS 1.3
//! settings with which nodes accept and reach one another: a node accepts
//! only clients whose certificate the authority signed, and checks a
//! server's certificate against the peer's host name.
//!
//! Keys are ECDSA P-256, written as PKCS#8 PEM; certificates are PEM. The
//! signatures and the handshake use ring, as the rest of the workspace.

use std::net::IpAddr;
use std::sync::Arc;

use pki_types::pem::PemObject as _;
use pki_types::{CertificateDer, DnsName, PrivateKeyDer, ServerName, UnixTime};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};
use rustls::client::danger::ServerCertVerifier as _;
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{ClientConfig, RootCertStore, ServerConfig};
use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer as _, X509Certificate};
use zeroize::Zeroizing;

/// A consortium authority's validity when the operator gives none: long,
/// since replacing it means issuing every node's certificate again.
pub const DEFAULT_CA_DAYS: u32 = 3650;
/// A node certificate's validity when the operator gives none: short
/// enough that a lost node key stops working on its own within two years.
pub const DEFAULT_NODE_DAYS: u32 = 730;
/// The longest validity accepted: a century, far past any sensible use,
/// and well inside what an X.509 time can say.
pub const MAX_DAYS: u32 = 36_525;
/// RFC 5280's upper bound for a common name.
const MAX_NAME_CHARS: usize = 64;
/// A new certificate is valid from this long before it was made, so that a
/// peer whose clock is somewhat behind does not refuse it as not yet valid.
const CLOCK_SKEW: Duration = Duration::hours(1);

/// Why a certificate could not be made, read or used.
#[derive(Debug, thiserror::Error)]
pub enum PkiError {
    /// A name, a validity or another argument the operator gave.
    #[error("{0}")]
    InvalidArgument(String),
    /// A certificate that does not parse, or is not what it should be.
    #[error("{0}")]
    InvalidCertificate(String),
    /// A private key that does not parse, or is not the certificate's.
    #[error("{0}")]
    InvalidKey(String),
    /// rcgen refused to build a certificate.
    #[error("building a certificate: {0}")]
    Generate(#[from] rcgen::Error),
    /// rustls refused the settings.
    #[error("TLS settings: {0}")]
    Tls(#[from] rustls::Error),
    /// rustls refused the authority as a root to verify with.
    #[error("the authority's certificate as a root: {0}")]
    Verifier(#[from] rustls::server::VerifierBuilderError),
}

/// What a certificate says, for people and scripts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertInfo {
    /// The subject, as `CN=...`.
    pub subject: String,
    /// The DNS names and IP addresses it is valid for (none for an authority).
    pub names: Vec<String>,
    /// Valid up to and including this Unix second.
    pub not_after: i64,
    /// SHA-256 of the certificate's DER, lowercase hex: how an operator
    /// checks, out of band, that a file is the certificate meant.
    pub sha256: String,
}

impl CertInfo {
    /// `not_after` as RFC 3339 (UTC), for people.
    pub fn not_after_text(&self) -> String {
        OffsetDateTime::from_unix_timestamp(self.not_after)
            .ok()
            .and_then(|t| t.format(&Rfc3339).ok())
            .unwrap_or_else(|| format!("Unix time {}", self.not_after))
    }
}

/// A new certificate and its new private key, both PEM.
pub struct Issued {
    pub cert_pem: String,
    /// PKCS#8; wiped from memory when dropped.
    pub key_pem: Zeroizing<String>,
    pub info: CertInfo,
}

/// The crypto every certificate check and handshake here uses: ring, the
/// provider the workspace already builds. rustls 0.23.48 deprecates it for
/// its lack of post-quantum key exchange, which only its aws-lc-rs provider
/// has; docs/DECISIONS.md weighs that ("Node certificates and TLS").
#[allow(deprecated)]
fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn validity(days: u32) -> Result<(OffsetDateTime, OffsetDateTime), PkiError> {
    if days == 0 || days > MAX_DAYS {
        return Err(PkiError::InvalidArgument(format!(
            "the validity must be 1 to {MAX_DAYS} days, not {days}"
        )));
    }
    let now = OffsetDateTime::now_utc();
    Ok((now - CLOCK_SKEW, now + Duration::days(i64::from(days))))
}

fn new_key() -> Result<KeyPair, PkiError> {
    Ok(KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256)?)
}

/// A new consortium authority named `name`, valid for `days`: a
/// self-signed certificate that may sign node certificates and nothing
/// below them (path length 0), and its key.
pub fn new_authority(name: &str, days: u32) -> Result<Issued, PkiError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(PkiError::InvalidArgument(format!(
            "an authority's name is 1 to {MAX_NAME_CHARS} characters, not {:?}",
            name
        )));
    }
    let (not_before, not_after) = validity(days)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, name);
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    params.not_before = not_before;
    params.not_after = not_after;
    let key = new_key()?;
    let cert = params.self_signed(&key)?;
    Ok(Issued {
        info: describe(cert.der())?,
        cert_pem: cert.pem(),
        key_pem: Zeroizing::new(key.serialize_pem()),
    })
}

/// A name a node certificate is for: an IP address, or else a DNS name.
fn san(name: &str) -> Result<SanType, PkiError> {
    if let Ok(ip) = name.parse::<IpAddr>() {
        return Ok(SanType::IpAddress(ip));
    }
    // A wildcard would let one node's key answer for every name under a
    // domain; each node is named one by one instead.
    let valid = !name.contains('*') && DnsName::try_from(name).is_ok();
    if !valid {
        return Err(PkiError::InvalidArgument(format!(
            "{name:?} is neither a DNS name (without wildcards) nor an IP address"
        )));
    }
    Ok(SanType::DnsName(name.try_into()?))
}

/// A consortium authority read back from its files, to issue node
/// certificates with.
pub struct Authority {
    cert: CertificateDer<'static>,
    issuer: Issuer<'static, KeyPair>,
    not_after: i64,
    subject: String,
}

impl Authority {
    /// Reads an authority's certificate and key; refuses a certificate that
    /// is not a CA's, an expired one, and a key that is not the certificate's.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> Result<Authority, PkiError> {
        let der = CertificateDer::from_pem_slice(cert_pem)
            .map_err(|e| PkiError::InvalidCertificate(format!("not a PEM certificate ({e})")))?;
        let cert = parse(&der)?;
        let is_ca = cert
            .basic_constraints()
            .ok()
            .flatten()
            .is_some_and(|bc| bc.value.ca);
        let signs = cert
            .key_usage()
            .ok()
            .flatten()
            .is_some_and(|ku| ku.value.key_cert_sign());
        if !is_ca || !signs {
            return Err(PkiError::InvalidCertificate(format!(
                "{} is not a certificate authority's certificate (no CA:true with certificate signing)",
                cert.subject()
            )));
        }
        let not_after = cert.validity().not_after.timestamp();
        if not_after < OffsetDateTime::now_utc().unix_timestamp() {
            return Err(PkiError::InvalidCertificate(format!(
                "the authority {} expired at Unix time {not_after}",
                cert.subject()
            )));
        }
        let key_pem = std::str::from_utf8(key_pem)
            .map_err(|_| PkiError::InvalidKey("not a PEM private key (not text)".into()))?;
        let key = KeyPair::from_pem(key_pem)
            .map_err(|e| PkiError::InvalidKey(format!("not a PKCS#8 PEM private key ({e})")))?;
        // Certificates signed with another key would name this authority
        // as their issuer yet never verify against it.
        if key.public_key_raw() != cert.public_key().subject_public_key.data.as_ref() {
            return Err(PkiError::InvalidKey(format!(
                "the key is not the key of the authority {}",
                cert.subject()
            )));
        }
        let subject = cert.subject().to_string();
        Ok(Authority {
            issuer: Issuer::from_ca_cert_der(&der, key)?,
            cert: der,
            not_after,
            subject,
        })
    }

    /// The authority's subject, as `CN=...`.
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// A node certificate for `names` (DNS names and IP addresses, at
    /// least one; the first is also its common name), valid for `days`
    /// as a TLS server and as a TLS client, with a new key.
    pub fn issue(&self, names: &[String], days: u32) -> Result<Issued, PkiError> {
        let Some(first) = names.first() else {
            return Err(PkiError::InvalidArgument(
                "a node certificate needs at least one DNS name or IP address".into(),
            ));
        };
        let (not_before, not_after) = validity(days)?;
        // Past the authority's own end, the node's certificate would fail
        // every handshake anyway, on a day nobody expects.
        if not_after.unix_timestamp() > self.not_after {
            return Err(PkiError::InvalidArgument(format!(
                "{days} days would outlive the authority, which expires at Unix time {}; \
                 give fewer days, or renew the authority",
                self.not_after
            )));
        }
        let mut params = CertificateParams::default();
        params.subject_alt_names = names.iter().map(|n| san(n)).collect::<Result<_, _>>()?;
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
        params.is_ca = IsCa::ExplicitNoCa;
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![
            ExtendedKeyUsagePurpose::ServerAuth,
            ExtendedKeyUsagePurpose::ClientAuth,
        ];
        params.use_authority_key_identifier_extension = true;
        params.not_before = not_before;
        params.not_after = not_after;
        let key = new_key()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        // What is handed out has passed the very checks a peer will make.
        let info = verify_node_cert(&self.cert, cert.der())?;
        Ok(Issued {
            cert_pem: cert.pem(),
            key_pem: Zeroizing::new(key.serialize_pem()),
            info,
        })
    }
}

fn parse<'a>(der: &'a CertificateDer<'_>) -> Result<X509Certificate<'a>, PkiError> {
    X509Certificate::from_der(der)
        .map(|(_, cert)| cert)
        .map_err(|e| PkiError::InvalidCertificate(format!("not an X.509 certificate ({e})")))
}

/// What the certificate `der` says.
pub fn describe(der: &[u8]) -> Result<CertInfo, PkiError> {
    let der = CertificateDer::from(der);
    let cert = parse(&der)?;
    let mut names = Vec::new();
    if let Ok(Some(sans)) = cert.subject_alternative_name() {
        for name in &sans.value.general_names {
            match name {
                GeneralName::DNSName(dns) => names.push((*dns).to_owned()),
                GeneralName::IPAddress(&[a, b, c, d]) => {
                    names.push(IpAddr::from([a, b, c, d]).to_string())
                }
                GeneralName::IPAddress(bytes) => {
                    if let Ok(v6) = <[u8; 16]>::try_from(*bytes) {
                        names.push(IpAddr::from(v6).to_string());
                    }
                }
                _ => {}
            }
        }
    }
    Ok(CertInfo {
        subject: cert.subject().to_string(),
        names,
        not_after: cert.validity().not_after.timestamp(),
        sha256: hex::encode(ring::digest::digest(&ring::digest::SHA256, &der)),
    })
}

fn read_cert(pem: &[u8], what: &str) -> Result<CertificateDer<'static>, PkiError> {
    CertificateDer::from_pem_slice(pem)
        .map_err(|e| PkiError::InvalidCertificate(format!("{what}: not a PEM certificate ({e})")))
}

fn roots(ca: &CertificateDer<'static>) -> Result<Arc<RootCertStore>, PkiError> {
    let mut roots = RootCertStore::empty();
    roots
        .add(ca.clone())
        .map_err(|e| PkiError::InvalidCertificate(format!("the authority's certificate: {e}")))?;
    Ok(Arc::new(roots))
}

/// Checks, now, that the authority `ca` signed `cert` for a node: that a
/// node would accept it from a client, and that a client would accept it
/// from a server for each name it carries.
pub fn verify_node_cert(ca: &[u8], cert: &[u8]) -> Result<CertInfo, PkiError> {
    let ca = CertificateDer::from(ca.to_vec());
    let der = CertificateDer::from(cert);
    let info = describe(&der)?;
    let roots = roots(&ca)?;
    let now = UnixTime::now();
    let refused = |e: rustls::Error| PkiError::InvalidCertificate(format!("{}: {e}", info.subject));
    WebPkiClientVerifier::builder_with_provider(roots.clone(), provider())
        .build()?
        .verify_client_cert(&der, &[], now)
        .map_err(refused)?;
    let server = WebPkiServerVerifier::builder_with_provider(roots, provider()).build()?;
    for name in &info.names {
        let name = ServerName::try_from(name.as_str())
            .map_err(|e| PkiError::InvalidCertificate(format!("{name:?}: {e}")))?;
        server
            .verify_server_cert(&der, &[], &name, &[], now)
            .map_err(refused)?;
    }
    Ok(info)
}

/// A node's TLS identity: the consortium authority it trusts, and its own
/// certificate and key.
pub struct Credentials {
    ca: CertificateDer<'static>,
    cert: CertificateDer<'static>,
    key: PrivateKeyDer<'static>,
}

impl Credentials {
    /// Reads the three PEM files' contents; refuses a certificate the
    /// authority did not sign for a node, so that a wrong file is said at
    /// start and not as failing handshakes later.
    pub fn from_pem(
        ca_pem: &[u8],
        cert_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<Credentials, PkiError> {
        let ca = read_cert(ca_pem, "the authority's certificate")?;
        let cert = read_cert(cert_pem, "the node's certificate")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            PkiError::InvalidKey(format!("the node's key: not a PEM private key ({e})"))
        })?;
        verify_node_cert(&ca, &cert)?;
        Ok(Credentials { ca, cert, key })
    }

    /// A server that speaks only TLS 1.3 and completes a handshake only with
    /// a client presenting a certificate the authority signed.
    pub fn server_config(&self) -> Result<ServerConfig, PkiError> {
        let verifier =
            WebPkiClientVerifier::builder_with_provider(roots(&self.ca)?, provider()).build()?;
        Ok(ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_client_cert_verifier(verifier)
            .with_single_cert(vec![self.cert.clone()], self.key.clone_key())?)
    }

    /// A client that speaks only TLS 1.3, trusts only the authority (not
    /// the system's roots), and presents the node's certificate.
    pub fn client_config(&self) -> Result<ClientConfig, PkiError> {
        Ok(ClientConfig::builder_with_provider(provider())
            .with_protocol_versions(&[&rustls::version::TLS13])?
            .with_root_certificates(roots(&self.ca)?)
            .with_client_auth_cert(vec![self.cert.clone()], self.key.clone_key())?)
    }
}
