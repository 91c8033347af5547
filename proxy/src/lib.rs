//! sluice: a database wire-protocol proxy that sits between applications and PostgreSQL or
//! MySQL/MariaDB, authenticates clients itself, logs in upstream with credentials the clients
//! never see, enforces statement rules, and relays every other protocol message untouched.
//!
//! The crate is the runtime of the `sluice` binary:
//! - [`config`]: the strict TOML configuration;
//! - [`server`]: starts every target's listener and shuts down gracefully;
//! - [`pg`], [`mysql`]: the protocol adapters (startup, TLS, client auth, upstream login, relay,
//!   cancel / KILL), which meet the core only through [`session`]'s protocol-neutral hooks;
//! - [`statement_gate`]: `[[rules]]` (the `policy` crate) as such a hook;
//! - [`auth`], [`tls`], [`upstream`], [`net`]: what both adapters share;
//! - [`admin`], [`metrics`]: `/healthz`, `/readyz` and Prometheus `/metrics`;
//! - [`launcher`]: throwaway database servers for `sluice demo` and the end-to-end tests.

#![forbid(unsafe_code)]

pub mod admin;
pub mod admin_audit;
pub mod admin_auth;
pub mod approvals;
pub mod approvals_cli;
pub mod audit_cli;
pub mod audit_store_cli;
pub mod auth;
pub mod client_reader;
pub mod cluster;
pub mod config;
pub mod demo;
#[doc(hidden)]
pub mod fuzzing;
pub mod identities;
pub mod identity_check;
pub mod idle;
pub mod launcher;
pub mod listeners;
pub mod live;
pub mod login_clock;
pub mod masks;
pub mod metrics;
pub mod mysql;
pub mod net;
pub mod recorder;

pub mod pg;
pub mod pg_schema;
pub mod server;
pub mod session;
pub mod shipper;
pub mod statement_gate;
pub mod tls;
pub mod upstream;
