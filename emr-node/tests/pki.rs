//! The consortium's certificates and the mutual-TLS settings (SPEC 9.4),
//! tried in real TLS 1.3 handshakes between rustls endpoints joined by an
//! in-memory pipe: what is refused is refused by the handshake itself,
//! before either side has any request to read.

use std::io::{Read as _, Write as _};
use std::sync::Arc;

use emr_node::pki::{self, Authority, Credentials, Issued, PkiError};
use pki_types::pem::PemObject as _;
use pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{
    ClientConfig, ClientConnection, Connection, RootCertStore, ServerConfig, ServerConnection,
};

struct Consortium {
    ca: Issued,
    authority: Authority,
}

impl Consortium {
    fn new(name: &str) -> Consortium {
        let ca = pki::new_authority(name, pki::DEFAULT_CA_DAYS).unwrap();
        let authority = Authority::from_pem(ca.cert_pem.as_bytes(), ca.key_pem.as_bytes()).unwrap();
        Consortium { ca, authority }
    }

    fn node(&self, names: &[&str]) -> Issued {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        self.authority
            .issue(&names, pki::DEFAULT_NODE_DAYS)
            .unwrap()
    }

    fn credentials(&self, node: &Issued) -> Credentials {
        Credentials::from_pem(
            self.ca.cert_pem.as_bytes(),
            node.cert_pem.as_bytes(),
            node.key_pem.as_bytes(),
        )
        .unwrap()
    }
}

fn der(pem: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(pem.as_bytes()).unwrap()
}

/// How a handshake ended: which side refused, and why.
#[derive(Debug)]
enum Ending {
    /// Both sides finished and a request and its answer went through.
    Talked,
    ServerRefused(rustls::Error),
    ClientRefused(rustls::Error),
}

/// Moves what `from` has to send into `to`, and lets `to` process it.
fn pass(from: &mut Connection, to: &mut Connection) -> Result<(), rustls::Error> {
    let mut wire = Vec::new();
    while from.wants_write() {
        from.write_tls(&mut wire).unwrap();
    }
    let mut rest = &wire[..];
    while !rest.is_empty() {
        to.read_tls(&mut rest).unwrap();
        to.process_new_packets()?;
    }
    Ok(())
}

/// A handshake and one request and answer between a client for `host` and
/// a server, over memory; bounded: a handshake takes a few flights.
fn talk(server: ServerConfig, client: ClientConfig, host: &str) -> Ending {
    let mut server = Connection::from(ServerConnection::new(Arc::new(server)).unwrap());
    let name = ServerName::try_from(host.to_owned()).unwrap();
    let mut client = Connection::from(ClientConnection::new(Arc::new(client), name).unwrap());
    client.writer().write_all(b"GET /v1/info").unwrap();
    for _ in 0..10 {
        if let Err(e) = pass(&mut client, &mut server) {
            return Ending::ServerRefused(e);
        }
        if let Err(e) = pass(&mut server, &mut client) {
            return Ending::ClientRefused(e);
        }
        let mut request = [0u8; 12];
        if !server.is_handshaking() && server.reader().read_exact(&mut request).is_ok() {
            assert_eq!(&request, b"GET /v1/info");
            server.writer().write_all(b"200").unwrap();
            pass(&mut server, &mut client).unwrap();
            let mut answer = [0u8; 3];
            client.reader().read_exact(&mut answer).unwrap();
            assert_eq!(&answer, b"200");
            assert_eq!(
                server.protocol_version(),
                Some(rustls::ProtocolVersion::TLSv1_3)
            );
            return Ending::Talked;
        }
    }
    panic!("the handshake neither finished nor failed");
}

/// A client that trusts `ca` and presents `cert`, or nothing: what a
/// stranger could build, past the checks `Credentials` makes.
fn stranger(ca: &str, cert: Option<&Issued>) -> ClientConfig {
    let mut roots = RootCertStore::empty();
    roots.add(der(ca)).unwrap();
    let builder = ClientConfig::builder_with_provider(Arc::new(ring_provider()))
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots);
    match cert {
        Some(c) => builder
            .with_client_auth_cert(
                vec![der(&c.cert_pem)],
                PrivateKeyDer::from_pem_slice(c.key_pem.as_bytes()).unwrap(),
            )
            .unwrap(),
        None => builder.with_no_client_auth(),
    }
}

#[allow(deprecated)]
fn ring_provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[test]
fn a_node_of_the_consortium_talks_to_another() {
    let c = Consortium::new("St Mary's consortium");
    let server = c.credentials(&c.node(&["node-a.example", "127.0.0.1"]));
    let client = c.credentials(&c.node(&["node-b.example"]));
    for host in ["node-a.example", "127.0.0.1"] {
        let ending = talk(
            server.server_config().unwrap(),
            client.client_config().unwrap(),
            host,
        );
        assert!(matches!(ending, Ending::Talked), "{host}: {ending:?}");
    }
}

#[test]
fn a_client_without_a_certificate_is_refused() {
    let c = Consortium::new("consortium");
    let server = c.credentials(&c.node(&["localhost"]));
    let ending = talk(
        server.server_config().unwrap(),
        stranger(&c.ca.cert_pem, None),
        "localhost",
    );
    assert!(
        matches!(
            ending,
            Ending::ServerRefused(rustls::Error::NoCertificatesPresented)
        ),
        "{ending:?}"
    );
}

#[test]
fn a_client_with_another_authoritys_certificate_is_refused() {
    let c = Consortium::new("consortium");
    let other = Consortium::new("consortium");
    let server = c.credentials(&c.node(&["::1"]));
    // Trusts the right authority, so only the server's check can stop it;
    // the other authority even has the same name.
    let client = stranger(&c.ca.cert_pem, Some(&other.node(&["::1"])));
    let ending = talk(server.server_config().unwrap(), client, "::1");
    assert!(
        matches!(
            ending,
            Ending::ServerRefused(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature
            ))
        ),
        "{ending:?}"
    );
}

#[test]
fn a_server_certified_for_another_host_is_refused() {
    let c = Consortium::new("consortium");
    let server = c.credentials(&c.node(&["node-a.example"]));
    let client = c.credentials(&c.node(&["node-b.example"]));
    let ending = talk(
        server.server_config().unwrap(),
        client.client_config().unwrap(),
        "node-c.example",
    );
    assert!(
        matches!(
            ending,
            Ending::ClientRefused(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName
                    | rustls::CertificateError::NotValidForNameContext { .. }
            ))
        ),
        "{ending:?}"
    );
}

#[test]
fn a_server_of_another_authority_is_refused() {
    let c = Consortium::new("consortium");
    let other = Consortium::new("other");
    let server = other.credentials(&other.node(&["localhost"]));
    let client = c.credentials(&c.node(&["localhost"]));
    let ending = talk(
        server.server_config().unwrap(),
        client.client_config().unwrap(),
        "localhost",
    );
    assert!(
        matches!(
            ending,
            Ending::ClientRefused(rustls::Error::InvalidCertificate(
                rustls::CertificateError::UnknownIssuer | rustls::CertificateError::BadSignature
            ))
        ),
        "{ending:?}"
    );
}

#[test]
fn the_authority_is_a_ca_limited_to_signing_node_certificates() {
    let c = Consortium::new("Northern consortium");
    let info = pki::describe(&der(&c.ca.cert_pem)).unwrap();
    assert_eq!(info.subject, "CN=Northern consortium");
    assert!(info.names.is_empty());
    assert_eq!(c.authority.subject(), "CN=Northern consortium");
    let ca_der = der(&c.ca.cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&ca_der).unwrap();
    let bc = cert.basic_constraints().unwrap().unwrap().value;
    assert!(bc.ca);
    assert_eq!(bc.path_len_constraint, Some(0));
    let ku = cert.key_usage().unwrap().unwrap().value;
    assert!(ku.key_cert_sign() && ku.crl_sign() && !ku.digital_signature());
    let days = (info.not_after - time::OffsetDateTime::now_utc().unix_timestamp()) / 86_400;
    assert!((3649..=3650).contains(&days), "{days}");
    assert!(c.ca.key_pem.starts_with("-----BEGIN PRIVATE KEY-----"));
}

#[test]
fn a_node_certificate_serves_and_connects_for_its_names() {
    let c = Consortium::new("consortium");
    let node = c.node(&["node-a.example", "10.0.0.7", "::1"]);
    let info = pki::verify_node_cert(&der(&c.ca.cert_pem), &der(&node.cert_pem)).unwrap();
    assert_eq!(info, node.info);
    assert_eq!(info.subject, "CN=node-a.example");
    assert_eq!(info.names, ["node-a.example", "10.0.0.7", "::1"]);
    assert_eq!(info.sha256.len(), 64);
    assert!(
        info.not_after_text().ends_with('Z'),
        "{}",
        info.not_after_text()
    );
    let node_der = der(&node.cert_pem);
    let (_, cert) = x509_parser::parse_x509_certificate(&node_der).unwrap();
    assert!(!cert.is_ca());
    let eku = cert.extended_key_usage().unwrap().unwrap().value;
    assert!(eku.server_auth && eku.client_auth);
    // Each node has its own key.
    let second = c.node(&["node-a.example"]);
    assert_ne!(
        cert.public_key().raw,
        x509_parser::parse_x509_certificate(&der(&second.cert_pem))
            .unwrap()
            .1
            .public_key()
            .raw
    );
}

#[test]
fn another_authoritys_node_certificate_does_not_verify() {
    let c = Consortium::new("consortium");
    let other = Consortium::new("consortium");
    let node = other.node(&["node-a.example"]);
    let e = pki::verify_node_cert(&der(&c.ca.cert_pem), &der(&node.cert_pem)).unwrap_err();
    assert!(matches!(e, PkiError::InvalidCertificate(_)), "{e:?}");
    let e = Credentials::from_pem(
        c.ca.cert_pem.as_bytes(),
        node.cert_pem.as_bytes(),
        node.key_pem.as_bytes(),
    )
    .err()
    .unwrap();
    assert!(e.to_string().contains("CN=node-a.example"), "{e}");
}

#[test]
fn names_and_validity_are_checked() {
    let c = Consortium::new("consortium");
    let issue = |names: &[&str], days| {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        c.authority.issue(&names, days)
    };
    for bad in [&[][..], &["*.example"], &["no spaces.example"], &[""]] {
        let e = issue(bad, 30).err().unwrap();
        assert!(matches!(e, PkiError::InvalidArgument(_)), "{bad:?}: {e:?}");
    }
    assert!(matches!(
        issue(&["a.example"], 0),
        Err(PkiError::InvalidArgument(_))
    ));
    // Longer than the authority lives.
    let e = issue(&["a.example"], pki::DEFAULT_CA_DAYS + 1)
        .err()
        .unwrap();
    assert!(e.to_string().contains("outlive the authority"), "{e}");
    assert!(issue(&["localhost", "127.0.0.1", "::1"], 1).is_ok());
    for bad in ["", "   ", &"x".repeat(65)] {
        assert!(
            matches!(
                pki::new_authority(bad, 10),
                Err(PkiError::InvalidArgument(_))
            ),
            "{bad:?}"
        );
    }
    assert!(matches!(
        pki::new_authority("ok", pki::MAX_DAYS + 1),
        Err(PkiError::InvalidArgument(_))
    ));
}

#[test]
fn an_authority_is_read_back_only_with_its_own_key() {
    let c = Consortium::new("consortium");
    let other = Consortium::new("other");
    let node = c.node(&["node-a.example"]);
    // A node certificate is not an authority.
    let e = Authority::from_pem(node.cert_pem.as_bytes(), node.key_pem.as_bytes())
        .err()
        .unwrap();
    assert!(e.to_string().contains("not a certificate authority"), "{e}");
    // Another authority's key.
    let e = Authority::from_pem(c.ca.cert_pem.as_bytes(), other.ca.key_pem.as_bytes())
        .err()
        .unwrap();
    assert!(matches!(e, PkiError::InvalidKey(_)), "{e:?}");
    // Not a key, not a certificate.
    let e = Authority::from_pem(c.ca.cert_pem.as_bytes(), b"garbage")
        .err()
        .unwrap();
    assert!(matches!(e, PkiError::InvalidKey(_)), "{e:?}");
    let e = Authority::from_pem(c.ca.key_pem.as_bytes(), c.ca.key_pem.as_bytes())
        .err()
        .unwrap();
    assert!(matches!(e, PkiError::InvalidCertificate(_)), "{e:?}");
    // Read back, it issues certificates the original accepts.
    let again = Authority::from_pem(c.ca.cert_pem.as_bytes(), c.ca.key_pem.as_bytes()).unwrap();
    let later = again.issue(&["node-b.example".into()], 30).unwrap();
    pki::verify_node_cert(&der(&c.ca.cert_pem), &der(&later.cert_pem)).unwrap();
}

#[test]
fn an_expired_authority_issues_nothing() {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Constrained(0));
    params.key_usages = vec![rcgen::KeyUsagePurpose::KeyCertSign];
    params.not_before = rcgen::date_time_ymd(2020, 1, 1);
    params.not_after = rcgen::date_time_ymd(2021, 1, 1);
    let key = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256).unwrap();
    let cert = params.self_signed(&key).unwrap();
    let e = Authority::from_pem(cert.pem().as_bytes(), key.serialize_pem().as_bytes())
        .err()
        .unwrap();
    assert!(e.to_string().contains("expired"), "{e}");
}
