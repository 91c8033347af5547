//! The parts of the configuration that can change while sluice runs (`POST /api/reload`,
//! SIGHUP): users and statement rules. Sessions read them at the moment they need them, so a new
//! statement sees the new rules while a statement in flight finishes under the old ones.

use std::sync::{Arc, RwLock};

use crate::auth::UserDirectory;
use crate::statement_gate::StatementPolicy;

/// Users and rules in force now.
pub struct Live {
    users: RwLock<Arc<UserDirectory>>,
    policy: RwLock<Option<Arc<StatementPolicy>>>,
}

impl Live {
    pub fn new(users: UserDirectory, policy: Option<Arc<StatementPolicy>>) -> Arc<Live> {
        Arc::new(Live {
            users: RwLock::new(Arc::new(users)),
            policy: RwLock::new(policy),
        })
    }

    /// The users in force.
    pub fn users(&self) -> Arc<UserDirectory> {
        Arc::clone(&self.users.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The rules in force; `None` when the config has neither `[[rules]]` nor `[policy]`.
    pub fn policy(&self) -> Option<Arc<StatementPolicy>> {
        self.policy
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Swaps in a new configuration's users and rules at once.
    pub fn replace(&self, users: UserDirectory, policy: Option<Arc<StatementPolicy>>) {
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        let mut p = self.policy.write().unwrap_or_else(|p| p.into_inner());
        *u = Arc::new(users);
        *p = policy;
    }
}
