//! The parts of the configuration that can change while sluice runs (`POST /api/reload`,
//! SIGHUP): users, statement rules and masks. Sessions read them at the moment they need them,
//! so a new statement sees the new rules while a statement in flight finishes under the old
//! ones.

use std::sync::{Arc, RwLock};

use crate::auth::UserDirectory;
use crate::masks::MaskPolicy;
use crate::statement_gate::StatementPolicy;

/// What a reload swaps in at once.
pub struct LiveParts {
    pub users: UserDirectory,
    pub policy: Option<Arc<StatementPolicy>>,
    pub masks: Option<Arc<MaskPolicy>>,
}

/// Users, rules and masks in force now.
pub struct Live {
    users: RwLock<Arc<UserDirectory>>,
    policy: RwLock<Option<Arc<StatementPolicy>>>,
    masks: RwLock<Option<Arc<MaskPolicy>>>,
    /// Failed logins so far, and `[login]` (its settings follow reloads; its counts survive them).
    login: crate::auth::throttle::LoginThrottle,
}

impl Live {
    pub fn new(parts: LiveParts) -> Arc<Live> {
        Arc::new(Live {
            users: RwLock::new(Arc::new(parts.users)),
            policy: RwLock::new(parts.policy),
            masks: RwLock::new(parts.masks),
            login: Default::default(),
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

    /// The masks in force; `None` when the config has no masking sections.
    pub fn masks(&self) -> Option<Arc<MaskPolicy>> {
        self.masks.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Login throttling and the handshake and idle timeouts.
    pub fn login(&self) -> &crate::auth::throttle::LoginThrottle {
        &self.login
    }

    /// Swaps in a new configuration's users, rules and masks at once.
    pub fn replace(&self, parts: LiveParts) {
        let mut u = self.users.write().unwrap_or_else(|p| p.into_inner());
        let mut p = self.policy.write().unwrap_or_else(|p| p.into_inner());
        let mut m = self.masks.write().unwrap_or_else(|p| p.into_inner());
        *u = Arc::new(parts.users);
        *p = parts.policy;
        *m = parts.masks;
    }
}
