//! Every input a fuzz target (fuzz/) found failing, kept as a test so the
//! fix stays fixed. Each names its target and what was wrong.

use emr_core::{KeyError, SigningKey};

/// fuzz/private_key_pem: a vertical tab (and other non-ASCII-whitespace
/// "whitespace") before `-----BEGIN` made `from_pem` accept a key that
/// `from_pem_or_der` read as DER and refused. PEM framing is ASCII
/// whitespace only now, in both entries.
#[test]
fn pem_entries_agree_on_leading_whitespace() {
    const PEM: &str = "-----BEGIN PRIVATE KEY-----\nMIGEAgEAMBAGByqGSM49AgEGBSuBBAAKBG0wawIBAQQgJiZcSEkPNlh+6icVxn7a\nP15OcaennBQHcBjo8by34I6hRANCAASjBK4Gsw52Psn/nx0Vr5wIjnyaoU23RAKM\n6D5b5H1l8qVR413XECxBeFwXgkyD++Zf6q1+9y2cJFFf/a2wzkc6\n-----END PRIVATE KEY-----\n";
    // The found input: ten bytes of VT and tabs before the PEM.
    let found = [b"\x0b\x09\x09\x09\x09\x09\x09\x09\x09\x09".as_slice(), PEM.as_bytes()].concat();
    assert_eq!(SigningKey::from_pem(&found).unwrap_err(), KeyError::Malformed);
    assert_eq!(SigningKey::from_pem_or_der(&found).unwrap_err(), KeyError::Malformed);
    for lead in ["\u{b}", "\u{a0}", "\u{2028}", "\u{85}"] {
        let text = format!("{lead}{PEM}");
        assert_eq!(SigningKey::from_pem(text.as_bytes()).unwrap_err(), KeyError::Malformed, "{lead:?}");
        assert_eq!(SigningKey::from_pem_or_der(text.as_bytes()).unwrap_err(), KeyError::Malformed, "{lead:?}");
    }
    // ASCII whitespace around the PEM is fine, in both entries alike.
    for lead in [" ", "\t", "\r\n", "\u{c}", "\n \t"] {
        let text = format!("{lead}{PEM}{lead}");
        let key = SigningKey::from_pem(text.as_bytes()).unwrap();
        assert_eq!(SigningKey::from_pem_or_der(text.as_bytes()).unwrap().public_key_der(), key.public_key_der());
    }
}
