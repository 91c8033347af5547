//! Where approval requests, tickets and the webhook outbox live: one redb file, so that a
//! ticket approved before a restart can still be redeemed after it, and a webhook not yet
//! acknowledged is still delivered.

use std::path::Path;

use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition, TableError};
use serde::{Deserialize, Serialize};

use super::error::StoreError;
use super::ApprovalRequest;

/// Request id → the request (JSON).
const REQUESTS: TableDefinition<&str, &[u8]> = TableDefinition::new("requests");
/// `<request id>/<webhook index>` → a delivery still owed (JSON).
const OUTBOX: TableDefinition<&str, &[u8]> = TableDefinition::new("outbox");

/// A webhook delivery not yet acknowledged with a 2xx.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Delivery {
    pub request_id: String,
    pub webhook: usize,
    /// The exact body to sign and send.
    pub body: String,
    pub attempts: u32,
    /// Not before this time (microseconds since the epoch).
    pub next_at: i64,
    /// Given up after this time: the request has expired by then.
    pub expires_at: i64,
}

impl Delivery {
    pub fn key(&self) -> String {
        format!("{}/{}", self.request_id, self.webhook)
    }
}

pub struct Store {
    db: Database,
}

fn err(e: impl Into<redb::Error>) -> StoreError {
    StoreError::Redb(e.into())
}

impl Store {
    pub fn open(dir: &Path) -> Result<Store, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = dir.join("approvals.redb");
        let db = Database::create(&path).map_err(|source| StoreError::Open { path, source })?;
        Ok(Store { db })
    }

    /// Every stored request; unreadable entries are reported and skipped.
    pub fn requests(&self) -> Result<Vec<ApprovalRequest>, StoreError> {
        self.all(REQUESTS, |k, v| {
            serde_json::from_slice(v)
                .map_err(|e| tracing::error!(id = k, error = %e, "unreadable approval request"))
                .ok()
        })
    }

    /// Every delivery still owed.
    pub fn deliveries(&self) -> Result<Vec<Delivery>, StoreError> {
        self.all(OUTBOX, |k, v| {
            serde_json::from_slice(v)
                .map_err(|e| tracing::error!(key = k, error = %e, "unreadable webhook delivery"))
                .ok()
        })
    }

    fn all<T>(
        &self,
        table: TableDefinition<&str, &[u8]>,
        parse: impl Fn(&str, &[u8]) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let txn = self.db.begin_read().map_err(err)?;
        let t = match txn.open_table(table) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(err(e)),
        };
        let mut out = Vec::new();
        for entry in t.iter().map_err(err)? {
            let (k, v) = entry.map_err(err)?;
            if let Some(x) = parse(k.value(), v.value()) {
                out.push(x);
            }
        }
        Ok(out)
    }

    /// Stores a request, and with it the deliveries it owes, in one durable commit.
    pub fn put(
        &self,
        request: &ApprovalRequest,
        deliveries: &[Delivery],
    ) -> Result<(), StoreError> {
        let bytes = serde_json::to_vec(request)?;
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut t = txn.open_table(REQUESTS).map_err(err)?;
            t.insert(request.id.as_str(), bytes.as_slice())
                .map_err(err)?;
            let mut o = txn.open_table(OUTBOX).map_err(err)?;
            for d in deliveries {
                let v = serde_json::to_vec(d)?;
                o.insert(d.key().as_str(), v.as_slice()).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    /// Removes requests (old, decided ones).
    pub fn remove_requests(&self, ids: &[String]) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut t = txn.open_table(REQUESTS).map_err(err)?;
            for id in ids {
                t.remove(id.as_str()).map_err(err)?;
            }
        }
        txn.commit().map_err(err)
    }

    /// Updates a delivery after a failed attempt.
    pub fn update_delivery(&self, d: &Delivery) -> Result<(), StoreError> {
        let v = serde_json::to_vec(d)?;
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut o = txn.open_table(OUTBOX).map_err(err)?;
            o.insert(d.key().as_str(), v.as_slice()).map_err(err)?;
        }
        txn.commit().map_err(err)
    }

    /// A delivery is done (acknowledged, or given up).
    pub fn remove_delivery(&self, key: &str) -> Result<(), StoreError> {
        let txn = self.db.begin_write().map_err(err)?;
        {
            let mut o = txn.open_table(OUTBOX).map_err(err)?;
            o.remove(key).map_err(err)?;
        }
        txn.commit().map_err(err)
    }
}
