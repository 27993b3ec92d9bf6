//! Resource limits: inputs that claim huge lengths, deeply nested and very
//! long DER, oversized PEM and addresses, and a 1 GiB (sparse) file opened
//! as a chain. Each runs in a child process of this test binary, which
//! reports its peak memory (VmHWM) before and after the call: the call must
//! fail with the expected error and allocate far less than the input or
//! the claim (no copy of a large input, nothing sized by a length field).

use std::process::Command;
use std::time::Instant;

use emr_core::chain::Chain;
use emr_core::{Block, DecodeError, KeyError, PublicKey, Record, Role, SigningKey};

const SCENARIO: &str = "EMR_LIMITS_SCENARIO";
const MIB: usize = 1 << 20;

fn vm_hwm_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// The measured call of a scenario: its outcome as text.
type Call = Box<dyn Fn(&[u8]) -> String>;

/// The input of a scenario (built before the first measurement) and the
/// call (measured).
fn scenario(name: &str) -> (Vec<u8>, Call) {
    match name {
        // A record whose public-key length field claims 2^64 - 1 bytes, then
        // 2^40 (more than remains, less than the address space).
        "record_length" => {
            let mut bytes = vec![b'R', 1];
            bytes.extend_from_slice(&[0; 40]);
            bytes.extend_from_slice(&u64::MAX.to_le_bytes());
            bytes.extend_from_slice(&[0; 4096]);
            (bytes, Box::new(|b: &[u8]| {
                let mut second = b.to_vec();
                second[42..50].copy_from_slice(&(1u64 << 40).to_le_bytes());
                format!("{:?} {:?}", Record::from_bytes(b).err(), Record::from_bytes(&second).err())
            }))
        }
        // A block claiming 2^64 - 1 records.
        "block_count" => {
            // The fixed fields (ones: a difficulty of zero is refused first).
            let mut bytes = vec![b'B', 1];
            bytes.extend_from_slice(&[1; 32 + 8 + 20 + 8 + 16 + 32 + 8]);
            bytes.extend_from_slice(&u64::MAX.to_le_bytes());
            bytes.extend_from_slice(&[0; 4096]);
            (bytes, Box::new(|b: &[u8]| format!("{:?}", Block::from_bytes(b).err())))
        }
        // 32 MiB of nested SEQUENCE headers (0x30 0x80: BER indefinite) and
        // of definite ones, into every DER entry point.
        "der_nested" => {
            let bytes = [0x30u8, 0x80].repeat(16 * MIB);
            (bytes, Box::new(|b: &[u8]| {
                let mut definite = Vec::with_capacity(b.len());
                while definite.len() + 4 < b.len() {
                    definite.extend_from_slice(&[0x30, 0x82, 0xff, 0xff]);
                }
                let key = SigningKey::generate(emr_core::Curve::P256).unwrap();
                format!(
                    "{:?} {:?} {:?} {:?} {:?} {:?}",
                    SigningKey::from_der(b).err(),
                    PublicKey::from_spki_der(b).err(),
                    key.public_key().verify(b"m", b).err(),
                    SigningKey::from_der(&definite).err(),
                    PublicKey::from_spki_der(&definite).err(),
                    key.public_key().verify(b"m", &definite).err(),
                )
            }))
        }
        // 64 MiB of DER claiming a 4-byte length, and of one claiming 64 KiB
        // followed by far more.
        "der_long" => {
            let mut bytes = vec![0x30, 0x84, 0x04, 0x00, 0x00, 0x00];
            bytes.resize(64 * MIB, 0x41);
            (bytes, Box::new(|b: &[u8]| {
                let mut two = b.to_vec();
                two[..4].copy_from_slice(&[0x30, 0x82, 0xff, 0xff]);
                format!(
                    "{:?} {:?} {:?}",
                    SigningKey::from_der(b).err(),
                    SigningKey::from_der(&two).err(),
                    PublicKey::from_spki_der(&two).err()
                )
            }))
        }
        // A 64 MiB PEM of valid base64: refused unread.
        "pem_huge" => {
            let mut text = b"-----BEGIN PRIVATE KEY-----\n".to_vec();
            for _ in 0..(64 * MIB / 65) {
                text.extend_from_slice(&[b'A'; 64]);
                text.push(b'\n');
            }
            text.extend_from_slice(b"-----END PRIVATE KEY-----\n");
            (text, Box::new(|b: &[u8]| {
                format!("{:?} {:?}", SigningKey::from_pem(b).err(), SigningKey::from_pem_or_der(b).err())
            }))
        }
        // A 64 MiB "address".
        "address_huge" => {
            let mut text = b"emrd1".to_vec();
            text.resize(64 * MIB, b'q');
            (text, Box::new(|b: &[u8]| format!("{:?}", emr_core::address::decode_bytes(b, Role::Doctor).err())))
        }
        // A 1 GiB sparse file (zeros) opened as a chain, for writing and for
        // reading. The input here is only the path.
        "chain_sparse" => {
            let path = std::env::temp_dir().join(format!("emr-limits-{}.db", std::process::id()));
            let file = std::fs::File::create(&path).unwrap();
            file.set_len(1 << 30).unwrap();
            (path.to_str().unwrap().as_bytes().to_vec(), Box::new(|b: &[u8]| {
                let path = std::str::from_utf8(b).unwrap();
                let writer = Chain::open(path, None).err().map(|e| e.kind());
                let reader = Chain::open_readonly(path).err().map(|e| e.kind());
                let size = std::fs::metadata(path).unwrap().len();
                for suffix in ["", "-wal", "-shm", "-journal"] {
                    let _ = std::fs::remove_file(format!("{path}{suffix}"));
                }
                format!("{writer:?} {reader:?} size {size}")
            }))
        }
        other => panic!("no scenario {other}"),
    }
}

/// Runs in the child: builds the input, measures, calls, measures.
#[test]
fn limits_child() {
    let Ok(name) = std::env::var(SCENARIO) else { return };
    let (input, call) = scenario(&name);
    let before = vm_hwm_kib();
    let started = Instant::now();
    let outcome = call(&input);
    let elapsed = started.elapsed();
    let after = vm_hwm_kib();
    println!("LIMITS {} {} {}", after.saturating_sub(before), elapsed.as_millis(), outcome);
}

struct Measured {
    extra_kib: u64,
    millis: u64,
    outcome: String,
}

fn run_child(name: &str) -> Measured {
    let output = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "limits_child", "--nocapture", "--test-threads=1"])
        .env(SCENARIO, name)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{name}: child failed\n{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let line = stdout.lines().find_map(|l| l.split_once("LIMITS ").map(|(_, rest)| rest)).unwrap_or_else(|| panic!("{name}: {stdout}"));
    let mut parts = line.splitn(3, ' ');
    let extra_kib = parts.next().unwrap().parse().unwrap();
    let millis = parts.next().unwrap().parse().unwrap();
    let outcome = parts.next().unwrap().to_owned();
    println!("{name}: +{extra_kib} KiB peak, {millis} ms: {outcome}");
    Measured { extra_kib, millis, outcome }
}

/// The call allocated at most `kib` beyond its input and ended within a
/// minute (a bound against hangs, not a speed measurement).
fn assert_bounded(m: &Measured, kib: u64) {
    assert!(m.extra_kib <= kib, "peak grew by {} KiB (bound {kib}): {}", m.extra_kib, m.outcome);
    assert!(m.millis < 60_000, "took {} ms", m.millis);
}

#[test]
fn a_record_claiming_a_huge_length_is_refused_without_allocating_it() {
    let m = run_child("record_length");
    let expected = format!(
        "{:?} {:?}",
        Some(DecodeError::LengthTooLarge(u64::MAX)),
        Some(DecodeError::LengthTooLarge(1 << 40))
    );
    assert_eq!(m.outcome, expected);
    assert_bounded(&m, 1024);
}

#[test]
fn a_block_claiming_a_huge_record_count_is_refused_without_allocating_it() {
    let m = run_child("block_count");
    assert_eq!(m.outcome, format!("{:?}", Some(DecodeError::LengthTooLarge(u64::MAX))));
    assert_bounded(&m, 1024);
}

#[test]
fn deeply_nested_der_is_refused_in_bounded_memory() {
    let m = run_child("der_nested");
    // The definite copy of the input (32 MiB) is the scenario's own; the
    // parsers add nothing that grows with nesting.
    let refused = format!("{:?}", Some(KeyError::Malformed));
    let parts: Vec<&str> = m.outcome.split(' ').collect();
    assert_eq!(parts.len(), 6, "{}", m.outcome);
    // SEQUENCE { SEQUENCE ... } that is no key is reported as a possibly
    // encrypted PKCS#8 (EncryptedPrivateKeyInfo starts that way); both are
    // invalid_key.
    let encrypted = format!("{:?}", Some(KeyError::Encrypted));
    assert_eq!((parts[0], parts[3]), (refused.as_str(), encrypted.as_str()));
    assert!(parts[1].contains("InvalidPublicKey") && parts[4].contains("InvalidPublicKey"), "{}", m.outcome);
    assert!(parts[2].contains("InvalidSignature") && parts[5].contains("InvalidSignature"), "{}", m.outcome);
    assert_bounded(&m, 32 * 1024 + 4096);
}

#[test]
fn very_long_der_is_refused_without_a_copy() {
    let m = run_child("der_long");
    assert_eq!(m.outcome, format!("{:?} {:?} {:?}", Some(KeyError::Malformed), Some(KeyError::Malformed), Some(emr_core::keys::InvalidPublicKey)));
    // The scenario's own copy of the 64 MiB input, and nothing more.
    assert_bounded(&m, 64 * 1024 + 4096);
}

#[test]
fn an_oversized_pem_is_refused_unread() {
    let m = run_child("pem_huge");
    assert_eq!(m.outcome, format!("{:?} {:?}", Some(KeyError::Malformed), Some(KeyError::Malformed)));
    assert_bounded(&m, 1024);
}

#[test]
fn an_oversized_address_is_refused_unread() {
    let m = run_child("address_huge");
    assert!(m.outcome.contains("InvalidLength"), "{}", m.outcome);
    assert_bounded(&m, 1024);
}

#[test]
fn a_1_gib_file_of_zeros_is_not_a_chain_and_is_not_read_whole() {
    let m = run_child("chain_sparse");
    // Refused as damage ("not a database") by the writer and the reader,
    // the file left as it was.
    assert_eq!(m.outcome, "Some(Corrupt) Some(Corrupt) size 1073741824");
    assert_bounded(&m, 32 * 1024);
}
