//! Addresses: a 20-byte hash as text that detects typos, points at them and
//! cannot be used in the wrong role (SPEC section 6, `docs/ADDRESSES.md`).
//!
//! An address is Bech32m (BIP-350) with a role prefix, `emrd` (doctor),
//! `emrp` (patient) or `emrm` (miner), and as data the 20 bytes regrouped
//! into 32 five-bit characters, with no witness version:
//! `emrd1` + 32 characters + a 6-character checksum, 43 characters in all.
//! The prefix is part of the checksum, so a doctor's address with its
//! prefix edited into `emrp` does not decode as a patient's.
//!
//! Decoding checks, in this order, and reports the first failure:
//!
//! 1. [`AddressError::InvalidLength`]: empty, or longer than 90 characters
//!    (the BIP-173 limit, so that no work is spent on longer text);
//! 2. [`AddressError::InvalidCharacter`]: a character outside printable
//!    US-ASCII anywhere, or outside the Bech32 alphabet after the separator;
//! 3. [`AddressError::MixedCase`]: upper and lower case letters together
//!    (all upper case is accepted, as for QR codes);
//! 4. [`AddressError::WrongRole`]: no `prefix1` at all (the separator is
//!    the last `1`, or the one right after a role prefix, so that a `1`
//!    typed into the data is an `invalid_character` where it stands);
//! 5. [`AddressError::InvalidLength`]: a checksum shorter than 6
//!    characters, or a role prefix whose data part is not 38 characters
//!    (a character left out or typed twice: locating substitutions would
//!    point at the wrong places);
//! 6. [`AddressError::InvalidChecksum`]: the Bech32m checksum fails; the
//!    positions of up to two wrong characters when they can be located;
//! 7. [`AddressError::WrongRole`]: a valid string whose prefix is another
//!    role's (or not a role at all).
//!
//! Located positions are reported, never used: a corrected string is not
//! returned and never decoded, because the nearest valid address is not
//! always the intended one; the person must fix the character.

use core::fmt;
use std::collections::HashMap;
use std::sync::OnceLock;

use bech32::primitives::checksum::Engine;
use bech32::primitives::decode::UncheckedHrpstring;
use bech32::{Bech32m, Checksum, Fe32, Hrp};

use crate::error::ErrorKind;
use crate::hash::Hash160;

/// Who a 20-byte hash belongs to; each role has its own address prefix.
#[derive(Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// A doctor: `H160` of the doctor's public key (a record's `dr_hash`).
    Doctor,
    /// A patient (a record's `patient_hash`).
    Patient,
    /// A miner (a block's `miner`).
    Miner,
}

impl Role {
    /// Every role.
    pub const ALL: [Role; 3] = [Role::Doctor, Role::Patient, Role::Miner];

    /// The address prefix (Bech32 human-readable part): `"emrd"`, `"emrp"`, `"emrm"`.
    pub const fn prefix(self) -> &'static str {
        match self {
            Role::Doctor => "emrd",
            Role::Patient => "emrp",
            Role::Miner => "emrm",
        }
    }

    /// The role's name as the APIs spell it: `"doctor"`, `"patient"`, `"miner"`.
    pub const fn name(self) -> &'static str {
        match self {
            Role::Doctor => "doctor",
            Role::Patient => "patient",
            Role::Miner => "miner",
        }
    }

    /// Parses [`Role::name`]; `None` for anything else.
    pub fn from_name(name: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.name() == name)
    }

    /// The role whose prefix is `prefix` (lower case).
    fn from_prefix(prefix: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.prefix() == prefix)
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The length of every address: prefix (4), separator, 32 data characters,
/// 6 checksum characters.
pub const ADDRESS_LEN: usize = 4 + 1 + DATA_CHARS + CHECKSUM_CHARS;
/// The longest text decoding looks at (BIP-173's limit).
pub const MAX_TEXT_LEN: usize = 90;
/// The most positions an [`AddressError::InvalidChecksum`] carries: Bech32m
/// locates up to two substituted characters.
pub const MAX_POSITIONS: usize = 2;

const DATA_CHARS: usize = 32;
const CHECKSUM_CHARS: usize = 6;
/// The data part after the separator: the hash's characters and the checksum.
const DATA_PART_CHARS: usize = DATA_CHARS + CHECKSUM_CHARS;

/// Why text is not an address of the expected role. One variant per kind.
#[derive(Debug, Clone, PartialEq, Eq, Hash, thiserror::Error)]
pub enum AddressError {
    /// The checksum does not match: a character is wrong. `positions` are
    /// the indexes (0-based, in characters of the given text) of the wrong
    /// characters when they can be located (one or two), else empty.
    #[error("invalid_checksum: the address has a typo{}", describe_positions(.positions))]
    InvalidChecksum {
        /// Ascending indexes of the characters to fix; empty when not located.
        positions: Vec<usize>,
    },
    /// A valid address of another role, or text without a role prefix.
    #[error("wrong_role: expected a {expected} address ({}1...), {}", .expected.prefix(), describe_found(.found))]
    WrongRole {
        /// The role the caller asked for.
        expected: Role,
        /// The role the text's prefix names, `None` when it names none.
        found: Option<Role>,
    },
    /// Too long, too short, or not holding exactly a 20-byte hash.
    #[error("invalid_length: an address has {ADDRESS_LEN} characters, this text has {length}")]
    InvalidLength {
        /// The text's length in bytes.
        length: usize,
    },
    /// A character that cannot appear at its place (Bech32 excludes `1`,
    /// `b`, `i` and `o` after the separator).
    #[error("invalid_character: position {position} cannot hold this character")]
    InvalidCharacter {
        /// Index of the first such character.
        position: usize,
    },
    /// Upper and lower case letters mixed.
    #[error("mixed_case: an address is all lower case or all upper case")]
    MixedCase,
}

fn describe_positions(positions: &[usize]) -> String {
    match positions {
        [] => " (the wrong characters cannot be located: check the whole address)".to_owned(),
        [one] => format!(" at position {one}"),
        many => {
            let list: Vec<String> = many.iter().map(usize::to_string).collect();
            format!(" at positions {}", list.join(" and "))
        }
    }
}

fn describe_found(found: &Option<Role>) -> String {
    match found {
        Some(role) => format!("got a {role} address ({}1...)", role.prefix()),
        None => "got text without a cryptoemr role prefix".to_owned(),
    }
}

impl AddressError {
    /// The error's kind.
    pub const fn kind(&self) -> ErrorKind {
        match self {
            AddressError::InvalidChecksum { .. } => ErrorKind::InvalidChecksum,
            AddressError::WrongRole { .. } => ErrorKind::WrongRole,
            AddressError::InvalidLength { .. } => ErrorKind::InvalidLength,
            AddressError::InvalidCharacter { .. } => ErrorKind::InvalidCharacter,
            AddressError::MixedCase => ErrorKind::MixedCase,
        }
    }

    /// The indexes into the text this error points at: the located wrong
    /// characters of `invalid_checksum`, the bad character of
    /// `invalid_character`; empty otherwise.
    pub fn positions(&self) -> Vec<usize> {
        match self {
            AddressError::InvalidChecksum { positions } => positions.clone(),
            AddressError::InvalidCharacter { position } => vec![*position],
            _ => Vec::new(),
        }
    }
}

/// A hash with its role: `Display` (and `Debug`) write its address.
#[derive(Copy, Clone, PartialEq, Eq, Hash)]
pub struct Address {
    /// Whose hash it is.
    pub role: Role,
    /// The 20-byte hash.
    pub hash: Hash160,
}

impl Address {
    /// The address of `hash` in `role`.
    pub const fn new(role: Role, hash: Hash160) -> Address {
        Address { role, hash }
    }

    /// Decodes `text` as an address of `role`; see [`decode`].
    pub fn parse(text: &str, role: Role) -> Result<Address, AddressError> {
        decode(text, role).map(|hash| Address { role, hash })
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&encode(self.role, &self.hash))
    }
}

/// The address itself: it names the role and the hash, and is what a
/// person compares with a printed one.
impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// The address of `hash` in `role`: 43 lower-case characters.
///
/// # Example
/// ```
/// use emr_core::address::{self, Role};
/// use emr_core::{AddressError, Hash160};
///
/// let hash = Hash160::from_bytes([0x42; 20]);
/// let text = address::encode(Role::Patient, &hash);
/// assert!(text.starts_with("emrp1") && text.len() == 43);
/// assert_eq!(address::decode(&text, Role::Patient)?, hash);
///
/// // A mistyped character is caught and located; a role mix-up is refused.
/// let mut typo = text.clone().into_bytes();
/// typo[20] = if typo[20] == b'q' { b'p' } else { b'q' };
/// let typo = String::from_utf8(typo).unwrap();
/// assert!(matches!(address::decode(&typo, Role::Patient), Err(AddressError::InvalidChecksum { .. })));
/// assert!(address::decode(&text, Role::Doctor).is_err());
/// # Ok::<(), AddressError>(())
/// ```
pub fn encode(role: Role, hash: &Hash160) -> String {
    let hrp = Hrp::parse_unchecked(role.prefix());
    // 43 characters are far below Bech32m's code length (1023), the
    // encoder's only failure.
    bech32::encode_lower::<Bech32m>(hrp, hash.as_bytes())
        .expect("a 20-byte address is shorter than the Bech32m code length")
}

/// Decodes `text` (lower or upper case) as an address of `role`.
///
/// The checks and their order are in the module documentation.
pub fn decode(text: &str, role: Role) -> Result<Hash160, AddressError> {
    decode_bytes(text.as_bytes(), role)
}

/// [`decode`] over bytes, for callers whose text may not be UTF-8 (a
/// non-ASCII byte is `invalid_character` at its index).
pub fn decode_bytes(text: &[u8], role: Role) -> Result<Hash160, AddressError> {
    let length = text.len();
    if length == 0 || length > MAX_TEXT_LEN {
        return Err(AddressError::InvalidLength { length });
    }
    if let Some(position) = text.iter().position(|b| !(33..=126).contains(b)) {
        return Err(AddressError::InvalidCharacter { position });
    }
    if text.iter().any(u8::is_ascii_lowercase) && text.iter().any(u8::is_ascii_uppercase) {
        return Err(AddressError::MixedCase);
    }
    let wrong_role = |found| AddressError::WrongRole {
        expected: role,
        found,
    };
    // Bech32's separator is the last `1`. Role prefixes hold none, so after
    // a role prefix the first `1` is the separator and a later one a typo
    // in the data, reported where it is rather than as a shifted separator.
    let role_prefix = Role::ALL.into_iter().find(|r| {
        text.len() > r.prefix().len()
            && text[..r.prefix().len()].eq_ignore_ascii_case(r.prefix().as_bytes())
            && text[r.prefix().len()] == b'1'
    });
    let separator = match (role_prefix, text.iter().rposition(|&b| b == b'1')) {
        (Some(role), _) => role.prefix().len(),
        (None, Some(0) | None) => return Err(wrong_role(None)),
        (None, Some(separator)) => separator,
    };
    let data_part = &text[separator + 1..];
    if let Some(offset) = data_part
        .iter()
        .position(|&b| Fe32::from_char(char::from(b)).is_err())
    {
        return Err(AddressError::InvalidCharacter {
            position: separator + 1 + offset,
        });
    }
    // Printable ASCII from here on; the checksum is over the lower-case form.
    let lower: String = text
        .iter()
        .map(|&b| char::from(b.to_ascii_lowercase()))
        .collect();
    let found = Role::from_prefix(&lower[..separator]);
    if data_part.len() < CHECKSUM_CHARS || (found.is_some() && data_part.len() != DATA_PART_CHARS) {
        return Err(AddressError::InvalidLength { length });
    }
    // The checks above are the parser's own (separator, prefix of 1..=83
    // printable characters, data alphabet), so it cannot refuse this text;
    // were it ever stricter, refusing is right and panicking is not.
    let unchecked = UncheckedHrpstring::new(&lower)
        .map_err(|_| AddressError::InvalidCharacter { position: 0 })?;
    if unchecked.validate_checksum::<Bech32m>().is_err() {
        return Err(AddressError::InvalidChecksum {
            positions: locate(&lower, separator),
        });
    }
    if found != Some(role) {
        return Err(wrong_role(found));
    }
    let mut hash = [0u8; Hash160::LEN];
    let checked = unchecked.remove_checksum::<Bech32m>();
    let mut bytes = checked.byte_iter();
    for byte in &mut hash {
        // 32 five-bit characters are exactly 20 bytes (checked above).
        *byte = bytes.next().ok_or(AddressError::InvalidLength { length })?;
    }
    Ok(Hash160::from_bytes(hash))
}

/// Decodes the address of a user state's owner: a doctor (whose state
/// holds the record nonce) or a miner (whose state holds the reward).
/// Patients have no state of their own, so a patient's address is
/// `wrong_role`, as is anything else [`decode`] refuses for a doctor.
pub fn decode_state_owner(text: &str) -> Result<Address, AddressError> {
    match decode(text, Role::Doctor) {
        Err(AddressError::WrongRole {
            found: Some(Role::Miner),
            ..
        }) => Address::parse(text, Role::Miner),
        other => other.map(|hash| Address::new(Role::Doctor, hash)),
    }
}

/// The positions in `text` (lower case, checksum known to fail) of one or
/// two substituted characters, when exactly one such pattern explains the
/// checksum and changing those characters gives a valid string; empty
/// otherwise.
///
/// The crate's own locator (`primitives::correction`) decodes only up to its
/// BCH bound of one error for Bech32m; the code's distance of 5 (for strings
/// up to 89 characters) makes two errors uniquely locatable too. An error of
/// value `v` at `p` symbols from the end changes the residue by a fixed
/// `D(p, v)`, so one table lookup finds a single error and one lookup per
/// `(p, v)` a double error. The residues come from the crate's checksum
/// engine; the only arithmetic here is XOR.
fn locate(text: &str, separator: usize) -> Vec<usize> {
    let hrp = Hrp::parse_unchecked(&text[..separator]);
    let mut engine = Engine::<Bech32m>::new();
    engine.input_hrp(hrp);
    for &b in &text.as_bytes()[separator + 1..] {
        engine.input_fe(Fe32::from_char_unchecked(b));
    }
    let syndrome = *engine.residue() ^ <Bech32m as Checksum>::TARGET_RESIDUE;
    let symbols = 2 * separator + 1 + (text.len() - separator - 1);
    let table = residue_table();
    let error_at = |delta: u32| {
        table
            .by_delta
            .get(&delta)
            .copied()
            .filter(|&(p, _)| p < symbols)
    };
    let mut patterns: Vec<Vec<(usize, u8)>> = Vec::new();
    if let Some(single) = error_at(syndrome) {
        patterns.push(vec![single]);
    } else {
        for &(delta, first) in table
            .by_position
            .iter()
            .take_while(|(_, (p, _))| *p < symbols)
        {
            if let Some(second) = error_at(syndrome ^ delta) {
                if second.0 > first.0 {
                    patterns.push(vec![first, second]);
                }
            }
        }
    }
    let [pattern] = &patterns[..] else {
        return Vec::new();
    };
    let mut fixed = text.as_bytes().to_vec();
    let mut positions = Vec::new();
    for &(from_end, value) in pattern {
        match apply(&mut fixed, separator, from_end, value) {
            Some(position) => positions.push(position),
            None => return Vec::new(),
        }
    }
    positions.sort_unstable();
    positions.dedup();
    // Belt and braces: the located change must really make the checksum valid.
    let valid = core::str::from_utf8(&fixed)
        .ok()
        .filter(|fixed| {
            fixed
                .bytes()
                .all(|b| (33..=126).contains(&b) && !b.is_ascii_uppercase())
        })
        .and_then(|fixed| UncheckedHrpstring::new(fixed).ok())
        .is_some_and(|fixed| fixed.validate_checksum::<Bech32m>().is_ok());
    if valid {
        positions
    } else {
        Vec::new()
    }
}

/// `D(p, v)` for every symbol position `p` up to the longest string
/// decoding looks at (`2 * 90` symbols, the prefix counting twice) and every
/// non-zero value `v`: the residue change of that one error.
struct ResidueTable {
    /// `D(p, v)` -> `(p, v)`.
    by_delta: HashMap<u32, (usize, u8)>,
    /// `(D(p, v), (p, v))` in increasing `p`, so that a string's own
    /// positions are a prefix of it.
    by_position: Vec<(u32, (usize, u8))>,
}

fn residue_table() -> &'static ResidueTable {
    static TABLE: OnceLock<ResidueTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut by_position = Vec::with_capacity(2 * MAX_TEXT_LEN * 31);
        for value in 1..32u8 {
            // Linear part of the engine: the error's residue less that of
            // an all-zero string of the same length.
            let mut error = Engine::<Bech32m>::new();
            let mut zero = Engine::<Bech32m>::new();
            error.input_fe(Fe32::try_from(value).unwrap_or(Fe32::Q));
            zero.input_fe(Fe32::Q);
            for position in 0..2 * MAX_TEXT_LEN {
                by_position.push((*error.residue() ^ *zero.residue(), (position, value)));
                error.input_fe(Fe32::Q);
                zero.input_fe(Fe32::Q);
            }
        }
        by_position.sort_unstable_by_key(|&(_, entry)| entry);
        let mut by_delta = HashMap::with_capacity(by_position.len());
        for &(delta, entry) in &by_position {
            by_delta.entry(delta).or_insert(entry);
        }
        ResidueTable {
            by_delta,
            by_position,
        }
    })
}

/// Adds `value` to the checksummed symbol `from_end` places before the
/// last one, in `text`; returns the text index it changed.
///
/// The checksum runs over the prefix's high bits (one symbol per prefix
/// character), a zero, the prefix's low bits, then the data part.
fn apply(text: &mut [u8], separator: usize, from_end: usize, value: u8) -> Option<usize> {
    let prefix = separator;
    let symbols = 2 * prefix + 1 + (text.len() - separator - 1);
    let index = symbols.checked_sub(1 + from_end)?;
    if index < prefix {
        // Printable ASCII has high bits 1..=3.
        let high = (text[index] >> 5) ^ value;
        if !(1..=3).contains(&high) {
            return None;
        }
        text[index] = (high << 5) | (text[index] & 31);
        Some(index)
    } else if index == prefix {
        None
    } else if index <= 2 * prefix {
        let position = index - prefix - 1;
        text[position] ^= value;
        Some(position)
    } else {
        let position = separator + 1 + (index - 2 * prefix - 1);
        let symbol = Fe32::from_char(char::from(text[position])).ok()?;
        let fixed = Fe32::try_from(symbol.to_u8() ^ value).ok()?;
        text[position] = fixed.to_char() as u8;
        Some(position)
    }
}

#[cfg(test)]
mod tests;
