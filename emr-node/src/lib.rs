//! A cryptoemr node (SPEC 9): one site's process that holds its chain and
//! keeps it in step with the consortium's other nodes over HTTP/1.1 with
//! mutual TLS.
//!
//! - [`pki`]: the consortium's certificates and TLS settings.
//! - [`api`]: what goes over the wire.
//! - [`client`]: a blocking client of one node.
//! - [`sync`]: bringing a chain in step with a peer (a one-shot sync for
//!   programs that hold a chain themselves, and the node's own).
//! - [`node`]: the node: server, peers, forwarding, mining.

pub mod api;
pub mod client;
pub mod pki;
pub mod sync;
pub mod node;

mod metrics;
mod pages;
mod server;
