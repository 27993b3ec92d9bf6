//! `emr node`: what sites need to run nodes together. Each subcommand
//! group is a variant of [`NodeCommand`] with its code in a file of its
//! own beside this one (`certs.rs`: the consortium's certificates).

mod certs;

use std::path::PathBuf;

use clap::Subcommand;

use crate::error::CliError;
use crate::output::Output;

#[derive(Subcommand)]
pub enum NodeCommand {
    /// The consortium's certificate authority.
    #[command(subcommand)]
    Ca(CaCommand),
    /// Node certificates, signed by the consortium's authority.
    #[command(subcommand)]
    Cert(CertCommand),
}

impl NodeCommand {
    pub fn name(&self) -> &'static str {
        match self {
            NodeCommand::Ca(CaCommand::New { .. }) => "node ca new",
            NodeCommand::Cert(CertCommand::New { .. }) => "node cert new",
        }
    }

    pub fn run(self) -> Result<Output, CliError> {
        match self {
            NodeCommand::Ca(CaCommand::New {
                name,
                out_key,
                out_cert,
                days,
                force,
            }) => certs::ca_new(&name, out_key, out_cert, days, force),
            NodeCommand::Cert(CertCommand::New {
                ca,
                ca_key,
                names,
                out_key,
                out_cert,
                days,
                force,
            }) => certs::cert_new(&ca, &ca_key, &names, out_key, out_cert, days, force),
        }
    }
}

#[derive(Subcommand)]
pub enum CaCommand {
    /// Create the consortium's certificate authority: a P-256 key (PKCS#8
    /// PEM, mode 0600), kept offline by whoever admits sites, and its
    /// self-signed certificate (PEM), which every node is given.
    New {
        /// The authority's name (its certificate's common name).
        #[arg(long)]
        name: String,
        /// The private key file to write.
        #[arg(long)]
        out_key: PathBuf,
        /// The certificate file to write.
        #[arg(long)]
        out_cert: PathBuf,
        /// Days the authority is valid.
        #[arg(long, default_value_t = emr_node::pki::DEFAULT_CA_DAYS)]
        days: u32,
        /// Replace existing files (regular files only, never a link or device).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Subcommand)]
pub enum CertCommand {
    /// Issue a node's certificate, for TLS as a server and as a client,
    /// with a new P-256 key (PKCS#8 PEM, mode 0600).
    New {
        /// The authority's certificate file.
        #[arg(long, value_name = "CA_CERT")]
        ca: PathBuf,
        /// The authority's private key file.
        #[arg(long)]
        ca_key: PathBuf,
        /// The DNS names and IP addresses the node is reached at (the first
        /// is also the common name); repeat or list several.
        #[arg(long = "name", value_name = "NAME", required = true, num_args = 1..)]
        names: Vec<String>,
        /// The node's private key file to write.
        #[arg(long)]
        out_key: PathBuf,
        /// The node's certificate file to write.
        #[arg(long)]
        out_cert: PathBuf,
        /// Days the certificate is valid (at most until the authority expires).
        #[arg(long, default_value_t = emr_node::pki::DEFAULT_NODE_DAYS)]
        days: u32,
        /// Replace existing files (regular files only, never a link or device).
        #[arg(long)]
        force: bool,
    },
}
