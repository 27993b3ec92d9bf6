//! Proof-of-work search (work in progress).
