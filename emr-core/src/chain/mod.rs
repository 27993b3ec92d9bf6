//! Chain storage.

pub(crate) mod pagecheck;
