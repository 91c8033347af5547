//! sluice: a database wire-protocol proxy that sits between applications and PostgreSQL (and,
//! later, MySQL/MariaDB), authenticates clients itself, logs in upstream with credentials the
//! clients never see, and relays every protocol message.
//!
//! The crate is the runtime of the `sluice` binary:
//! - [`config`]: the strict TOML configuration;
//! - [`server`]: starts every target's listener and shuts down gracefully;
//! - [`pg`]: the PostgreSQL protocol adapter (startup, TLS, SCRAM, upstream login, relay, cancel);
//! - [`session`]: the protocol-neutral seams where policy, masking and audit plug in;
//! - [`statement_gate`]: `[[rules]]` enforced through those seams, for both protocols;
//! - [`auth`], [`tls`]: client authentication and TLS on both sides;
//! - [`launcher`]: throwaway database servers for `sluice demo` and the end-to-end tests.

pub mod auth;
pub mod config;
pub mod demo;
pub mod launcher;
pub mod mysql;
pub mod net;

pub mod pg;
pub mod server;
pub mod session;
pub mod statement_gate;
pub mod tls;
pub mod upstream;
