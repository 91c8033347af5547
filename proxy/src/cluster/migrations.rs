//! sluice's schema in the control database, as numbered migrations it applies itself.
//!
//! Each migration runs in one transaction holding a transaction-scoped advisory lock, checks
//! `sluice_schema_migrations` under that lock and records its version there, so instances
//! that start at the same moment apply each migration exactly once, and a rerun is a no-op.
//! Migrations are never edited once released: a change is a new version.

use tokio_postgres::Client;

use super::ClusterError;
use crate::pg_schema::Schema;

/// The advisory lock key every migration takes ("sluice" in ASCII).
const LOCK_KEY: i64 = 0x736c_7569_6365;

/// `(version, SQL)`, in order.
const MIGRATIONS: &[(i32, &str)] = &[(1, V1_APPROVALS)];

/// The control store's schema.
const SCHEMA: Schema = Schema {
    store: "control",
    table: "sluice_schema_migrations",
    lock_key: LOCK_KEY,
    migrations: MIGRATIONS,
};

/// Instances, approval requests, decisions and the webhook outbox.
const V1_APPROVALS: &str = "
CREATE TABLE sluice_instances (
    name text PRIMARY KEY,
    started_at timestamptz NOT NULL DEFAULT now(),
    last_seen timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE sluice_approval_requests (
    id text PRIMARY KEY,
    state text NOT NULL,
    mode text NOT NULL,
    fingerprint text NOT NULL,
    holding_instance text,
    created_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    ticket_expires_at bigint,
    redeemed boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    data jsonb NOT NULL
);
CREATE INDEX sluice_approval_requests_state ON sluice_approval_requests (state, mode);
CREATE INDEX sluice_approval_requests_fingerprint ON sluice_approval_requests (fingerprint);
CREATE INDEX sluice_approval_requests_updated ON sluice_approval_requests (updated_at);
CREATE TABLE sluice_approval_decisions (
    request_id text NOT NULL REFERENCES sluice_approval_requests (id) ON DELETE CASCADE,
    approver text NOT NULL,
    approve boolean NOT NULL,
    reason text,
    instance text NOT NULL,
    decided_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (request_id, approver)
);
CREATE TABLE sluice_webhook_outbox (
    request_id text NOT NULL REFERENCES sluice_approval_requests (id) ON DELETE CASCADE,
    webhook integer NOT NULL,
    body text NOT NULL,
    attempts integer NOT NULL DEFAULT 0,
    next_at bigint NOT NULL,
    expires_at bigint NOT NULL,
    claimed_by text,
    lease_until timestamptz,
    done_at timestamptz,
    outcome text,
    delivered_by text,
    PRIMARY KEY (request_id, webhook)
);
CREATE INDEX sluice_webhook_outbox_due ON sluice_webhook_outbox (next_at) WHERE done_at IS NULL;
";

/// Applies every migration this build knows and the database has not seen; returns the
/// versions it applied (empty when another instance got there first).
pub async fn migrate(client: &mut Client) -> Result<Vec<i32>, ClusterError> {
    Ok(SCHEMA.migrate(client).await?)
}
