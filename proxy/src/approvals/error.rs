//! What can go wrong in the approvals store and its bookkeeping. Callers that answer a client
//! or an approver turn these into text there; inside, they stay typed.

use std::path::PathBuf;

/// The redb file of requests, tickets and the webhook outbox.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("[approvals]: cannot create {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("[approvals]: cannot open {}: {source}", path.display())]
    Open {
        path: PathBuf,
        source: redb::DatabaseError,
    },
    #[error("approvals store: {0}")]
    Redb(#[from] redb::Error),
    #[error("approvals store: {0}")]
    Json(#[from] serde_json::Error),
}

/// A request that could not be stored, recorded or changed.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalsError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the audit log cannot record approvals right now ({0})")]
    Audit(#[from] audit::AuditError),
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error("[approvals] dir changed: that needs a restart")]
    DirChanged,
}
