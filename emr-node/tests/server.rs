//! The node's server (SPEC 9.1, 9.4) as clients see it: real sockets on
//! loopback, real TLS 1.3, an in-process node.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use emr_core::blockfile;
use emr_core::chain::Chain;
use emr_node::api::Answer;
use emr_node::client::{Client, ClientError};
use emr_node::node::{self, Listen, NodeConfig, NodeHandle};
use pki_types::pem::PemObject as _;

fn plain_node(dir: &std::path::Path, blocks: usize) -> (NodeHandle, String) {
    let path = chain_file(dir, 1, blocks);
    let node = node::start(NodeConfig::new(path, vec![Listen { addr: "127.0.0.1:0".parse().unwrap(), tls: false }])).unwrap();
    let url = format!("http://{}", node.addresses()[0]);
    (node, url)
}

/// Sends `head` (and nothing else) and returns the answer's status line.
fn raw(url: &str, head: &str) -> String {
    let addr = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    stream.write_all(head.as_bytes()).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).lines().next().unwrap_or_default().to_owned()
}

#[test]
fn endpoints_answer_as_section_9_1_says() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = plain_node(dir.path(), 3);
    let client = Client::new(&url, None).unwrap();
    let info = client.info().unwrap();
    let local = Chain::open_readonly(dir.path().join("chain.db")).unwrap();
    assert_eq!(info.height, 3);
    assert_eq!(info.work, "3");
    assert_eq!(info.chain_id, local.chain_id().to_string());
    assert_eq!(info.params.to_chain().unwrap().chain_id(), Some(local.chain_id()));
    assert_eq!(info.genesis, Some(local.block_at(0).unwrap().unwrap().block_id.to_string()));
    assert_eq!(info.tip, Some(local.tip().unwrap().unwrap().block_id.to_string()));

    let ids = client.ids(0, 2000).unwrap();
    assert_eq!(ids, local.active_ids().unwrap());
    assert_eq!(client.ids(3, 5).unwrap(), vec![]);
    let page = client.blocks(1, 500).unwrap();
    assert_eq!(page.iter().map(|b| b.block_id).collect::<Vec<_>>(), ids[1..]);
    assert_eq!(client.block(&ids[2]).unwrap().unwrap().block_id, ids[2]);
    assert_eq!(client.block(&emr_core::Hash256::from_bytes([1; 32])).unwrap(), None);

    for bad in ["/v1/ids?from=0&count=0", "/v1/ids?from=0&count=2001", "/v1/ids?from=x&count=1", "/v1/blocks?from=0&count=501", "/v1/blocks", "/v1/block/zz"] {
        let (status, _) = client.request("GET", bad, None, 1 << 20).unwrap();
        assert_eq!(status, 400, "{bad}");
    }
    assert_eq!(client.request("GET", "/v1/nothing", None, 1 << 20).unwrap().0, 404);

    let key = doctor();
    let first = record(&key, 1, "amoxicillin 500 mg");
    assert_eq!(client.submit(first.to_bytes()).unwrap().answer, Answer::Outcome("ready".into()));
    assert_eq!(client.submit(first.to_bytes()).unwrap().answer, Answer::Outcome("already_pending".into()));
    let rival = record(&key, 1, "ibuprofen 200 mg");
    let conflict = client.submit(rival.to_bytes()).unwrap();
    assert_eq!(conflict.answer, Answer::Outcome("conflicts_with_pending".into()));
    assert_eq!(conflict.pending_txid, Some(first.txid));
    let mut forged = record(&key, 2, "forged").to_bytes();
    let last = forged.len() - 40;
    forged[last] ^= 1;
    match client.submit(forged).unwrap().answer {
        Answer::Refused { kind, .. } => assert!(kind == "invalid_signature" || kind == "invalid_txid", "{kind}"),
        other => panic!("{other:?}"),
    }
    let (status, body) = client.request("POST", "/v1/submit", Some(b"not a record".to_vec()), 1 << 20).unwrap();
    assert_eq!(status, 400);
    assert!(String::from_utf8_lossy(&body).contains("decode"));

    let pending = client.json("GET", "/v1/pending", None).unwrap();
    assert_eq!(pending.as_array().unwrap().len(), 1);
    assert_eq!(pending[0]["txid"], first.txid.to_string());

    // A block file with a block whose parent this node lacks: refused with
    // its kind, the sender not blamed (it may be ahead).
    let other = tempfile::tempdir().unwrap();
    let mut foreign = Chain::open(other.path().join("chain.db"), Some(params(1))).unwrap();
    let blocks = grow(&mut foreign, 5, &MINER);
    let answers = client.post_blocks(blockfile::encode_blocks(&blocks[4..])).unwrap();
    assert_eq!(answers.len(), 1);
    assert_eq!(answers[0].name(), "unknown_parent");
    let (status, _) = client.request("POST", "/v1/blocks", Some(b"EMRBLKS\x01garbage".to_vec()), 1 << 20).unwrap();
    assert_eq!(status, 400);

    // A patient's history as a FHIR bundle a consumer verifies alone.
    let patient = emr_core::address::encode(emr_core::Role::Patient, &PATIENT);
    let (status, body) = client.request("GET", &format!("/v1/patients/{patient}/fhir"), None, 1 << 20).unwrap();
    assert_eq!(status, 200);
    let bundle: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(bundle["resourceType"], "Bundle");
    assert!(emr_core::fhir::verify_bundle(&bundle).is_ok());
    let typo = format!("{}x", &patient[..patient.len() - 1]);
    assert_eq!(client.request("GET", &format!("/v1/patients/{typo}/fhir"), None, 1 << 20).unwrap().0, 400);

    let metrics = String::from_utf8(client.request("GET", "/metrics", None, 1 << 20).unwrap().1).unwrap();
    assert!(metrics.contains("emr_height 3"), "{metrics}");
    assert!(metrics.contains("emr_pending 1"), "{metrics}");
    assert!(metrics.contains(r#"emr_requests_total{endpoint="GET /v1/info",code="200"} 1"#), "{metrics}");
    assert!(metrics.contains(r#"emr_request_errors_total{endpoint="GET /v1/nothing""#) || metrics.contains("endpoint=\"GET other\""), "{metrics}");
    node.shutdown();
}

#[test]
fn a_body_over_its_limit_is_refused_before_it_is_read() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = plain_node(dir.path(), 1);
    let status = raw(&url, "POST /v1/blocks HTTP/1.1\r\nHost: x\r\nContent-Length: 100000000\r\n\r\n");
    assert!(status.contains(" 413 "), "{status}");
    let status = raw(&url, "POST /v1/submit HTTP/1.1\r\nHost: x\r\nContent-Length: 70000\r\n\r\n");
    assert!(status.contains(" 413 "), "{status}");
    // Chunked, without a length: cut off at the limit as it is read.
    let client = Client::new(&url, None).unwrap();
    let (status, _) = client.request("POST", "/v1/submit", Some(vec![b'R'; 70_000]), 1 << 20).unwrap();
    assert_eq!(status, 413);
    assert_eq!(client.info().unwrap().height, 1);
    node.shutdown();
}

#[test]
fn a_client_that_sends_its_headers_slowly_is_cut_off_and_others_are_served() {
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = plain_node(dir.path(), 1);
    let addr = url.trim_start_matches("http://").to_owned();
    let mut slow = TcpStream::connect(&addr).unwrap();
    slow.write_all(b"GET /v1/info HTTP/1.1\r\n").unwrap();
    let started = Instant::now();
    let client = Client::new(&url, None).unwrap();
    assert_eq!(client.info().unwrap().height, 1);
    slow.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut buf = [0u8; 256];
    let mut closed = false;
    while started.elapsed() < Duration::from_secs(25) {
        // One byte per second, never finishing the headers.
        if slow.write_all(b"X").is_err() {
            closed = true;
            break;
        }
        slow.set_read_timeout(Some(Duration::from_secs(1))).unwrap();
        match slow.read(&mut buf) {
            Ok(_) => {
                closed = true;
                break;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => {
                closed = true;
                break;
            }
        }
    }
    assert!(closed, "the slow client was still connected after 25 s");
    assert!(started.elapsed() >= Duration::from_secs(9), "cut off before the 10 s header timeout");
    node.shutdown();
}

fn tls_node(consortium: &Consortium, blocks: usize, rate: u32, dir: &std::path::Path) -> (NodeHandle, String) {
    let path = chain_file(dir, 1, blocks);
    let mut config = NodeConfig::new(path, vec![Listen { addr: "127.0.0.1:0".parse().unwrap(), tls: true }]);
    config.credentials = Some(consortium.credentials(&consortium.node()));
    config.rate = rate;
    let node = node::start(config).unwrap();
    let url = format!("https://{}", node.addresses()[0]);
    (node, url)
}

#[test]
fn only_clients_the_consortium_certified_get_past_the_handshake() {
    let consortium = Consortium::new("Consortium");
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = tls_node(&consortium, 2, 50, dir.path());
    let member = consortium.credentials(&consortium.node());
    let client = Client::new(&url, Some(Arc::new(member.client_config().unwrap()))).unwrap();
    assert_eq!(client.info().unwrap().height, 2);

    // Another authority's certificate: the server refuses the handshake
    // (and the client does not trust the server either).
    let stranger = Consortium::new("Elsewhere");
    let foreign = stranger.credentials(&stranger.node());
    let client = Client::new(&url, Some(Arc::new(foreign.client_config().unwrap()))).unwrap();
    assert!(matches!(client.info(), Err(ClientError::Unreachable(_))));

    // The consortium's roots but no certificate: refused by the server.
    let mut roots = rustls::RootCertStore::empty();
    roots.add(pki_types::CertificateDer::from_pem_slice(consortium.ca.cert_pem.as_bytes()).unwrap()).unwrap();
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let anonymous = rustls::ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let client = Client::new(&url, Some(Arc::new(anonymous))).unwrap();
    match client.info() {
        Err(ClientError::Unreachable(why)) => assert!(why.contains("TLS") || why.contains("certificate") || why.contains("connection"), "{why}"),
        other => panic!("an anonymous client got {other:?}"),
    }
    // Plain HTTP to the TLS port gets no answer either.
    let status = raw(&url.replace("https://", "http://"), "GET /v1/info HTTP/1.1\r\nHost: x\r\n\r\n");
    assert!(!status.contains("200"), "{status}");
    let metrics = node.status().unwrap();
    assert_eq!(metrics["height"], 2);
    node.shutdown();
}



#[test]
fn a_client_over_its_rate_gets_429_and_one_that_misbehaves_gets_403() {
    let consortium = Consortium::new("Consortium");
    let dir = tempfile::tempdir().unwrap();
    let (node, url) = tls_node(&consortium, 1, 3, dir.path());
    let rude = Client::new(&url, Some(Arc::new(consortium.credentials(&consortium.node()).client_config().unwrap()))).unwrap();
    let statuses: Vec<u16> = (0..8).map(|_| rude.request("GET", "/v1/info", None, 1 << 20).unwrap().0).collect();
    assert_eq!(&statuses[..3], &[200, 200, 200], "{statuses:?}");
    assert!(statuses.contains(&429), "{statuses:?}");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(rude.request("GET", "/v1/info", None, 1 << 20).unwrap().0, 200);

    let bad = Client::new(&url, Some(Arc::new(consortium.credentials(&consortium.node()).client_config().unwrap()))).unwrap();
    let (status, _) = bad.request("POST", "/v1/blocks", Some(b"EMRBLKS\x01\xff".to_vec()), 1 << 20).unwrap();
    assert_eq!(status, 400);
    let (status, body) = bad.request("GET", "/v1/info", None, 1 << 20).unwrap();
    assert_eq!(status, 403);
    assert!(String::from_utf8_lossy(&body).contains("malformed block file"));
    // Others are still served, and the operator sees who and why.
    std::thread::sleep(Duration::from_millis(400));
    assert_eq!(rude.request("GET", "/v1/info", None, 1 << 20).unwrap().0, 200);
    let status = node.status().unwrap();
    let suspended = status["suspended_clients"].as_array().unwrap();
    assert_eq!(suspended.len(), 1);
    assert!(suspended[0]["reason"].as_str().unwrap().contains("malformed block file"));
    node.shutdown();
}
