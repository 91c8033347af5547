//! Live MySQL sessions by the connection id sluice gave them, so that `KILL <id>` can name a
//! sluice connection and reach the right upstream thread — and only the caller's own sessions.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

struct Entry {
    user: String,
    thread_id: u32,
}

/// Sessions of all MySQL targets (ids are unique in the process).
#[derive(Default)]
pub struct SessionRegistry {
    sessions: Mutex<HashMap<u32, Entry>>,
    next_id: AtomicU32,
}

/// Unregisters a session when it ends.
pub struct SessionGuard {
    pub id: u32,
    registry: Arc<SessionRegistry>,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.id);
    }
}

impl SessionRegistry {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<u32, Entry>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A fresh connection id for a greeting.
    pub fn next_id(&self) -> u32 {
        loop {
            let id = self.next_id.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
            if id != 0 && !self.lock().contains_key(&id) {
                return id;
            }
        }
    }

    /// Registers a logged-in session.
    pub fn register(self: &Arc<Self>, id: u32, user: &str, thread_id: u32) -> SessionGuard {
        self.lock().insert(
            id,
            Entry {
                user: user.to_string(),
                thread_id,
            },
        );
        SessionGuard {
            id,
            registry: Arc::clone(self),
        }
    }

    /// The upstream thread of session `id`, if it belongs to `user`.
    pub fn thread_of(&self, id: u32, user: &str) -> Option<u32> {
        self.lock()
            .get(&id)
            .filter(|e| e.user == user)
            .map(|e| e.thread_id)
    }

    /// After COM_CHANGE_USER the session belongs to another user.
    pub fn rename(&self, id: u32, user: &str) {
        if let Some(e) = self.lock().get_mut(&id) {
            e.user = user.to_string();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_owner_can_reach_a_session() {
        let r = Arc::new(SessionRegistry::default());
        let id = r.next_id();
        let guard = r.register(id, "alice", 77);
        assert_eq!(r.thread_of(id, "alice"), Some(77));
        assert_eq!(r.thread_of(id, "bob"), None);
        r.rename(id, "bob");
        assert_eq!(r.thread_of(id, "bob"), Some(77));
        drop(guard);
        assert_eq!(r.thread_of(id, "bob"), None);
    }
}
