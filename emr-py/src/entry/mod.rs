//! The Python classes of the chain's entries, on one generic path.
//!
//! Every entry class holds whatever Python values it is given, as `EMR`
//! does, and the core judges them: `verify` and `entry_id` run over the
//! core's unchecked field view (`GrantFields`, ...) of the values as they
//! stand. What differs from one entry type to the next is only its list of
//! fields: [`entry_class!`] turns such a list into the class (fields,
//! constructor, `entry_id`, `verify`, `to_bytes`/`from_bytes`, equality,
//! pickling, garbage-collector support) and into the owned copy its
//! methods extract; [`entries!`] lists the classes once, for what takes
//! "any entry" (a block's entries, the pool) and what gives one back.
//! The signing functions (`create_grant`, ...) and a class's own
//! properties and `repr` stay beside its field list.

use emr_core::{Entry, EntryFields, ErrorKind, Hash160, Hash256};
use pyo3::exceptions::PyTypeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use crate::chain::PyChain;
use crate::convert;
use crate::errors;

/// How one field's Python value becomes the owned value the core's
/// unchecked view borrows. Only the Python *type* is checked here.
pub trait FieldKind {
    /// The owned Rust value.
    type Owned;
    /// What the core's field view holds.
    type View<'a>;
    /// `TypeError` (or `OverflowError`) for a value of the wrong type.
    fn extract(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Self::Owned>;
    fn view(owned: &Self::Owned) -> Self::View<'_>;
}

/// A byte field: `bytes`, `bytearray` or `memoryview`, of any length (the
/// core judges lengths).
pub struct Bytes;

impl FieldKind for Bytes {
    type Owned = Vec<u8>;
    type View<'a> = &'a [u8];
    fn extract(value: &Bound<'_, PyAny>, name: &str) -> PyResult<Vec<u8>> {
        convert::bytes_like(value, name)
    }
    fn view(owned: &Vec<u8>) -> &[u8] {
        owned
    }
}

/// A text field: anything that is not a `str` is "not text", which the
/// core reports as `invalid_entry` (never a `TypeError`, so that `verify`
/// names the rule).
pub struct Text;

impl FieldKind for Text {
    type Owned = Option<String>;
    type View<'a> = Option<&'a str>;
    fn extract(value: &Bound<'_, PyAny>, _name: &str) -> PyResult<Option<String>> {
        Ok(convert::optional_text(value))
    }
    fn view(owned: &Option<String>) -> Option<&str> {
        owned.as_deref()
    }
}

/// An unsigned 64-bit field (times, nonces).
pub struct U64;

impl FieldKind for U64 {
    type Owned = u64;
    type View<'a> = u64;
    fn extract(value: &Bound<'_, PyAny>, name: &str) -> PyResult<u64> {
        convert::uint64(value, name)
    }
    fn view(owned: &u64) -> u64 {
        *owned
    }
}

/// A typed core field as the Python value a class's field holds.
pub trait CoreField {
    fn to_python(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>>;
}

fn py_bytes(py: Python<'_>, bytes: &[u8]) -> PyResult<Option<Py<PyAny>>> {
    Ok(Some(PyBytes::new(py, bytes).into_any().unbind()))
}

impl CoreField for Hash256 {
    fn to_python(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        py_bytes(py, self.as_bytes())
    }
}

impl CoreField for Hash160 {
    fn to_python(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        py_bytes(py, self.as_bytes())
    }
}

impl CoreField for Vec<u8> {
    fn to_python(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        py_bytes(py, self)
    }
}

impl CoreField for String {
    fn to_python(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(Some(self.as_str().into_pyobject(py)?.into_any().unbind()))
    }
}

impl CoreField for u64 {
    fn to_python(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        Ok(Some(self.into_pyobject(py)?.into_any().unbind()))
    }
}

/// One entry class from its field list (in the order of the constructor,
/// which is the specification's). The names are the core's: each field is
/// a field of the core's typed entry (`core`) and of its unchecked view
/// (`view`), whose variant of `Entry` and `EntryFields` is `variant`.
/// Generates the pyclass, its owned copy (`owned`) and every method the
/// entry types share; `entry_id:` is the id's docstring, and what follows
/// goes into the class's `#[pymethods]` as its own methods. The class
/// itself must provide `fn describe(&self, py) -> String` (its `repr`).
macro_rules! entry_class {
    (
        $(#[doc = $doc:tt])*
        class $class:ident = $name:literal {
            variant: $variant:ident,
            core: $core:ty,
            view: $view:ident,
            owned: $owned:ident,
        }
        fields { $($field:ident: $kind:ident),+ $(,)? }
        entry_id: $id_doc:tt;
        $($extra:tt)*
    ) => {
        #[doc = concat!("A `", $name, "`'s fields, owned, as extracted from the Python object.")]
        pub struct $owned {
            $(pub $field: <$crate::entry::$kind as $crate::entry::FieldKind>::Owned,)+
        }

        impl $owned {
            /// The core's unchecked view of these fields.
            pub fn view(&self) -> $view<'_> {
                $view { $($field: <$crate::entry::$kind as $crate::entry::FieldKind>::view(&self.$field),)+ }
            }
        }

        $(#[doc = $doc])*
        #[pyclass(module = "cryptoemr", name = $name, subclass)]
        pub struct $class {
            $(
                #[pyo3(get, set)]
                $field: Option<Py<PyAny>>,
            )+
        }

        impl $class {
            fn values<'py>(&self, py: Python<'py>) -> Vec<Bound<'py, PyAny>> {
                vec![$($crate::convert::field_value(py, &self.$field)),+]
            }

            /// The fields' values, type-checked. The object is borrowed only
            /// to take the values: extracting one may run Python code.
            pub fn owned(slf: &Bound<'_, Self>) -> PyResult<$owned> {
                let py = slf.py();
                let this = slf.borrow();
                $(let $field = $crate::convert::field_value(py, &this.$field);)+
                drop(this);
                Ok($owned {
                    $($field: <$crate::entry::$kind as $crate::entry::FieldKind>::extract(&$field, stringify!($field))?,)+
                })
            }

            /// A new object holding a core entry's fields.
            pub fn from_core(py: Python<'_>, entry: &$core) -> PyResult<Self> {
                Ok(Self { $($field: $crate::entry::CoreField::to_python(&entry.$field, py)?,)+ })
            }
        }

        #[pymethods]
        impl $class {
            // The constructor takes the specification's fields in order (a
            // dispense has nine).
            #[allow(clippy::too_many_arguments)]
            #[new]
            #[pyo3(signature = ($($field),+))]
            fn new($($field: Py<PyAny>),+) -> Self {
                Self { $($field: Some($field),)+ }
            }

            #[doc = $id_doc]
            #[getter]
            fn entry_id<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
                let owned = Self::owned(slf)?;
                Ok(PyBytes::new(slf.py(), EntryFields::$variant(owned.view()).entry_id().as_bytes()))
            }

            /// The checks the entry passes without a chain, in order:
            /// ``InvalidEntryError``, then ``InvalidEntrySignatureError``
            /// (high-S included). Returns ``None``. Runs with the GIL released.
            fn verify(slf: &Bound<'_, Self>) -> PyResult<()> {
                let py = slf.py();
                let owned = Self::owned(slf)?;
                py.detach(|| EntryFields::$variant(owned.view()).verify()).map_err(|e| $crate::errors::entry(py, e))
            }

            /// The canonical binary encoding (``docs/FORMAT.md``);
            /// ``InvalidEntryError`` for a value the encoding cannot hold (a
            /// text field that is not a ``str``, an id or hash of the wrong length).
            fn to_bytes<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, PyBytes>> {
                let py = slf.py();
                let owned = Self::owned(slf)?;
                let entry = Entry::from_fields(&EntryFields::$variant(owned.view()))
                    .map_err(|e| $crate::errors::entry(py, e))?;
                Ok(PyBytes::new(py, &entry.to_bytes()))
            }

            /// Decodes :meth:`to_bytes` output; ``DecodeError`` for anything
            /// else (another entry type's encoding included). Decoding does
            /// not verify.
            #[staticmethod]
            fn from_bytes(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Self> {
                match $crate::entry::decode(py, data)? {
                    Entry::$variant(entry) => Self::from_core(py, &entry),
                    other => Err($crate::errors::of_kind(
                        py,
                        ErrorKind::Decode,
                        format!("decode: a {}, not a {}", $crate::entry::class_name(&other), $name),
                    )),
                }
            }

            fn __eq__<'py>(slf: &Bound<'py, Self>, other: &Bound<'py, PyAny>) -> PyResult<Py<PyAny>> {
                let py = slf.py();
                let Ok(other) = other.cast::<Self>() else {
                    return Ok(py.NotImplemented());
                };
                let mine = slf.borrow().values(py);
                let theirs = other.borrow().values(py);
                $crate::convert::fields_eq(py, mine, theirs)
            }

            /// Mutable, hence unhashable.
            #[classattr]
            const __hash__: Option<Py<PyAny>> = None;

            fn __reduce__<'py>(slf: &Bound<'py, Self>) -> PyResult<Bound<'py, pyo3::types::PyTuple>> {
                let fields = slf.borrow().values(slf.py());
                $crate::convert::reduce(slf.as_any(), fields)
            }

            fn __repr__(&self, py: Python<'_>) -> String {
                self.describe(py)
            }

            fn __traverse__(&self, visit: pyo3::gc::PyVisit<'_>) -> Result<(), pyo3::PyTraverseError> {
                $(visit.call(&self.$field)?;)+
                Ok(())
            }

            fn __clear__(&mut self) {
                $(self.$field = None;)+
            }

            $($extra)*
        }
    };
}

mod pharmacy;
mod registry;

pub use registry::{create_grant, create_revocation, grant_object};
pub use pharmacy::{create_cancellation, create_dispense, create_dispenser_grant, prepare_dispense};
use pharmacy::{PyCancellation, PyDispense, PyDispenserGrant};
use registry::{PyGrant, PyRevocation};

/// Every entry class, once: `variant => class, owned copy, Python name`.
/// Generates the enum of owned entries and what dispatches on it.
macro_rules! entries {
    ($($variant:ident => $class:ty, $owned:ty, $name:literal;)+) => {
        /// An entry's fields, owned, as extracted from a Python entry object.
        pub enum OwnedEntry {
            $($variant($owned),)+
        }

        impl OwnedEntry {
            /// The core's unchecked view of these fields.
            pub fn view(&self) -> EntryFields<'_> {
                match self {
                    $(OwnedEntry::$variant(e) => EntryFields::$variant(e.view()),)+
                }
            }
        }

        /// The Python names of the entry classes, for messages.
        const CLASS_NAMES: &[&str] = &[$($name),+];

        /// Extracts any entry object; `TypeError` for anything else.
        pub fn extract_entry(item: &Bound<'_, PyAny>, what: &str) -> PyResult<OwnedEntry> {
            $(
                if let Ok(entry) = item.cast::<$class>() {
                    return Ok(OwnedEntry::$variant(<$class>::owned(entry)?));
                }
            )+
            Err(PyTypeError::new_err(format!(
                "{what} must be an entry ({}), not {}",
                CLASS_NAMES.join(", "),
                convert::type_name(item)
            )))
        }

        /// A new entry object for a core entry.
        pub fn entry_object<'py>(py: Python<'py>, entry: &Entry) -> PyResult<Bound<'py, PyAny>> {
            Ok(match entry {
                $(Entry::$variant(e) => Bound::new(py, <$class>::from_core(py, e)?)?.into_any(),)+
            })
        }

        /// The Python class name of a core entry's type.
        pub fn class_name(entry: &Entry) -> &'static str {
            match entry {
                $(Entry::$variant(_) => $name,)+
            }
        }

        /// Adds every entry class to the module.
        pub fn add_classes(m: &Bound<'_, PyModule>) -> PyResult<()> {
            $(m.add_class::<$class>()?;)+
            Ok(())
        }
    };
}

entries! {
    Grant => PyGrant, registry::OwnedGrant, "Grant";
    Revocation => PyRevocation, registry::OwnedRevocation, "Revocation";
    DispenserGrant => PyDispenserGrant, pharmacy::OwnedDispenserGrant, "DispenserGrant";
    Dispense => PyDispense, pharmacy::OwnedDispense, "Dispense";
    Cancellation => PyCancellation, pharmacy::OwnedCancellation, "Cancellation";
}

impl OwnedEntry {
    /// The typed core entry, refused as `Entry::from_fields` refuses it
    /// (`InvalidEntryError` for a text field that is not text, or an id or
    /// hash of the wrong length).
    fn to_core(&self, py: Python<'_>) -> PyResult<Entry> {
        Entry::from_fields(&self.view()).map_err(|e| errors::entry(py, e))
    }
}

fn decode(py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<Entry> {
    let bytes = convert::bytes_like(data, "data")?;
    Entry::from_bytes(&bytes).map_err(|e| errors::decode(py, e))
}

/// A block's `entries` (of `Block` and `mine_block`): `TypeError` unless an
/// iterable of entry objects.
pub fn extract_block_entries(entries: &Bound<'_, PyAny>) -> PyResult<Vec<OwnedEntry>> {
    let items = entries.try_iter().map_err(|_| {
        PyTypeError::new_err(format!("entries must be an iterable of entries ({})", CLASS_NAMES.join(", ")))
    })?;
    items.enumerate().map(|(i, item)| extract_entry(&item?, &format!("entries[{i}]"))).collect()
}

/// The typed core entry of an entry object.
pub fn to_core(item: &Bound<'_, PyAny>, what: &str) -> PyResult<Entry> {
    extract_entry(item, what)?.to_core(item.py())
}

/// A list of new entry objects for core entries.
pub fn entry_list<'py>(py: Python<'py>, entries: &[Entry]) -> PyResult<Bound<'py, PyList>> {
    let items = entries.iter().map(|e| entry_object(py, e)).collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// A 32-byte id argument of the signing functions: a chain id or a grant
/// id that is not 32 bytes could never verify, so it is `InvalidEntryError`
/// as the core's `Entry::from_fields` would say.
fn entry_hash(value: &Bound<'_, PyAny>, what: &str) -> PyResult<Hash256> {
    let bytes = convert::bytes_like(value, what)?;
    Hash256::from_slice(&bytes).ok_or_else(|| {
        errors::of_kind(
            value.py(),
            ErrorKind::InvalidEntry,
            format!("invalid_entry: {what} must be 32 bytes, not {}", bytes.len()),
        )
    })
}

/// The `chain_id` argument of the signing functions: 32 bytes, or a
/// `Chain` (its id).
fn chain_id_argument(value: &Bound<'_, PyAny>) -> PyResult<Hash256> {
    match value.cast::<PyChain>() {
        Ok(chain) => chain.get().chain_id_of(value.py()),
        Err(_) => entry_hash(value, "chain_id"),
    }
}
