//! CancelRequest routing. Each session gets a key issued by sluice (never the database's), and a
//! cancel carrying that key is forwarded with the matching upstream key to the right server.
//! A forged or stale key is ignored, as PostgreSQL itself does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::messages;
use super::upstream::{self, UpstreamTarget};
use crate::auth::scram::fill_random;

struct Entry {
    secret: u32,
    target: Arc<UpstreamTarget>,
    upstream_key: (u32, u32),
}

/// Live sessions by the process id sluice gave them.
pub struct CancelRegistry {
    sessions: Mutex<HashMap<u32, Entry>>,
    next_pid: AtomicU32,
}

impl Default for CancelRegistry {
    fn default() -> Self {
        let mut seed = [0u8; 4];
        fill_random(&mut seed);
        CancelRegistry {
            sessions: Mutex::new(HashMap::new()),
            next_pid: AtomicU32::new(u32::from_be_bytes(seed) >> 8),
        }
    }
}

/// Removes the session's key when the session ends.
pub struct CancelKey {
    pub pid: u32,
    pub secret: u32,
    registry: Arc<CancelRegistry>,
}

impl Drop for CancelKey {
    fn drop(&mut self) {
        if let Ok(mut map) = self.registry.sessions.lock() {
            map.remove(&self.pid);
        }
    }
}

impl CancelRegistry {
    /// Issues a key for a session whose upstream key is `upstream_key`.
    pub fn register(
        self: &Arc<Self>,
        target: Arc<UpstreamTarget>,
        upstream_key: (u32, u32),
    ) -> CancelKey {
        let mut secret = [0u8; 4];
        fill_random(&mut secret);
        let secret = u32::from_be_bytes(secret);
        let mut map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        let pid = loop {
            let pid = self.next_pid.fetch_add(1, Ordering::Relaxed) & 0x7fff_ffff;
            if pid != 0 && !map.contains_key(&pid) {
                break pid;
            }
        };
        map.insert(
            pid,
            Entry {
                secret,
                target,
                upstream_key,
            },
        );
        CancelKey {
            pid,
            secret,
            registry: Arc::clone(self),
        }
    }

    /// Whether `(pid, secret)` is a live session's key.
    pub fn is_live(&self, pid: u32, secret: u32) -> bool {
        let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&pid).is_some_and(|e| e.secret == secret)
    }

    /// Forwards a cancel if `(pid, secret)` is a live session's key. Returns whether it was.
    pub async fn cancel(&self, pid: u32, secret: u32) -> bool {
        let found = {
            let map = self.sessions.lock().unwrap_or_else(|p| p.into_inner());
            map.get(&pid)
                .filter(|e| e.secret == secret)
                .map(|e| (Arc::clone(&e.target), e.upstream_key))
        };
        let Some((target, (upid, usecret))) = found else {
            tracing::warn!(pid, "cancel request with an unknown key ignored");
            return false;
        };
        match upstream::open(&target).await {
            Ok((mut stream, _)) => {
                let _ = stream
                    .write_all(&messages::cancel_request(upid, usecret))
                    .await;
                let _ = stream.flush().await;
                // The server closes once it has read the request.
                let mut sink = [0u8; 16];
                let _ =
                    tokio::time::timeout(std::time::Duration::from_secs(5), stream.read(&mut sink))
                        .await;
                tracing::info!(pid, target = %target.name, "cancel forwarded");
                true
            }
            Err(e) => {
                tracing::warn!(pid, target = %target.name, error = %e, "cancel could not be forwarded");
                false
            }
        }
    }
}
