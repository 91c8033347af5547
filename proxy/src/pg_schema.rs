//! Schemas sluice keeps in a PostgreSQL of its users' (the cluster control store, the central
//! audit store), applied by sluice itself as numbered migrations.
//!
//! Each migration runs in one transaction holding a transaction-scoped advisory lock, checks
//! the store's version table under that lock and records its version there, so instances that
//! start at the same moment apply each migration exactly once, and a rerun is a no-op.
//! Migrations are never edited once released: a change is a new version. A database whose
//! schema is newer than this build's (a rolling upgrade) is used as it is: migrations only add.

use tokio_postgres::Client;

/// One store's schema: where its versions are kept, the lock its migrations take, and the
/// migrations as `(version, SQL)` in order.
pub struct Schema {
    /// What the log calls the store.
    pub store: &'static str,
    /// The version table (a constant: it is written into SQL).
    pub table: &'static str,
    pub lock_key: i64,
    pub migrations: &'static [(i32, &'static str)],
}

impl Schema {
    /// Applies every migration this build knows and the database has not seen; returns the
    /// versions it applied (empty when another instance got there first).
    pub async fn migrate(&self, client: &mut Client) -> Result<Vec<i32>, tokio_postgres::Error> {
        let mut applied = Vec::new();
        for (version, sql) in self.migrations {
            let tx = client.transaction().await?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&self.lock_key])
                .await?;
            tx.batch_execute(&format!(
                "CREATE TABLE IF NOT EXISTS {} (
                    version integer PRIMARY KEY,
                    applied_at timestamptz NOT NULL DEFAULT now())",
                self.table
            ))
            .await?;
            let seen = tx
                .query_opt(
                    &format!("SELECT 1 FROM {} WHERE version = $1", self.table),
                    &[version],
                )
                .await?
                .is_some();
            if !seen {
                tx.batch_execute(sql).await?;
                tx.execute(
                    &format!("INSERT INTO {} (version) VALUES ($1)", self.table),
                    &[version],
                )
                .await?;
                tracing::info!(store = self.store, version, "schema migration applied");
                applied.push(*version);
            }
            tx.commit().await?;
        }
        let newest: Option<i32> = client
            .query_one(&format!("SELECT max(version) FROM {}", self.table), &[])
            .await?
            .get(0);
        let known = self.migrations.last().map(|m| m.0);
        if newest > known {
            tracing::warn!(
                store = self.store,
                schema = newest.unwrap_or(0),
                known = known.unwrap_or(0),
                "the database's schema is newer than this sluice"
            );
        }
        Ok(applied)
    }
}
