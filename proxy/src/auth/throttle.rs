//! Login throttling: failed logins slow down further logins from the same client address and
//! for the same user name, exponentially up to a cap.
//!
//! Each address and each user name has its own count of failures; a failed login is answered
//! only after the longer of the two delays, and a new attempt for a key still in its delay
//! waits out the rest before its password is checked (so parallel connections do not guess
//! faster than one). Other names from other addresses are never slowed: there is no lockout,
//! only back-off, and a success resets both keys. Waiting is an async sleep in the session's
//! own task; the table's lock is held only to read or update an entry, never across a wait.
//! The table is bounded (`max_tracked`, expiry after `forget_failures_after`), so an attacker
//! spraying addresses or names cannot grow it without limit: when full, the entries whose last
//! failure is oldest make room.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, RwLock};
use std::time::{Duration, Instant};

use crate::config::LoginConfig;

/// User names are remembered by at most this many bytes: any longer name is still throttled,
/// together with the names that share its beginning.
const MAX_NAME_KEY: usize = 256;

/// The `[login]` settings in force.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LoginSettings {
    pub failure_delay: Duration,
    pub max_failure_delay: Duration,
    pub forget_after: Duration,
    pub max_tracked: usize,
    pub handshake_timeout: Duration,
    pub idle_timeout: Option<Duration>,
}

impl From<&LoginConfig> for LoginSettings {
    fn from(c: &LoginConfig) -> Self {
        LoginSettings {
            failure_delay: c.failure_delay.0,
            max_failure_delay: c.max_failure_delay.0,
            forget_after: c.forget_failures_after.0,
            max_tracked: c.max_tracked,
            handshake_timeout: c.handshake_timeout.0,
            idle_timeout: c.idle_timeout.map(|d| d.0),
        }
    }
}

impl Default for LoginSettings {
    fn default() -> Self {
        LoginSettings::from(&LoginConfig::default())
    }
}

/// What failures are counted against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
enum Key {
    Addr(IpAddr),
    User(String),
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    failures: u32,
    last_failure: Instant,
    /// A new attempt waits until then.
    not_before: Instant,
}

/// The failures of every address and user name, and the settings to weigh them by.
#[derive(Debug, Default)]
pub struct LoginThrottle {
    settings: RwLock<LoginSettings>,
    table: Mutex<HashMap<Key, Entry>>,
    /// Admin API logins slowed down (database logins count in their target's metrics).
    admin_throttled: AtomicU64,
}

/// What a failed login costs: the delay before it is answered, and the failure count that
/// decided it (the larger of the address's and the name's).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Penalty {
    pub delay: Duration,
    pub failures: u32,
}

impl Penalty {
    /// For the audit record and the log: `""` when the answer was not delayed.
    pub fn describe(&self) -> String {
        if self.delay.is_zero() {
            return String::new();
        }
        format!(
            "; throttled: answered after {} ms (failure {} in a row from this address or for this user)",
            self.delay.as_millis(),
            self.failures
        )
    }
}

impl LoginThrottle {
    pub fn new(settings: LoginSettings) -> Self {
        LoginThrottle {
            settings: RwLock::new(settings),
            table: Mutex::new(HashMap::new()),
            admin_throttled: AtomicU64::new(0),
        }
    }

    /// Counts an admin API login that was slowed down.
    pub fn count_admin_throttled(&self) {
        self.admin_throttled.fetch_add(1, Ordering::Relaxed);
    }

    /// Admin API logins slowed down so far.
    pub fn admin_throttled(&self) -> u64 {
        self.admin_throttled.load(Ordering::Relaxed)
    }

    /// The settings in force.
    pub fn settings(&self) -> LoginSettings {
        *self.settings.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Applies new settings (a reload); failures counted so far are kept.
    pub fn configure(&self, settings: LoginSettings) {
        *self.settings.write().unwrap_or_else(|p| p.into_inner()) = settings;
    }

    fn table(&self) -> std::sync::MutexGuard<'_, HashMap<Key, Entry>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many addresses and names are remembered now.
    pub fn tracked(&self) -> usize {
        self.table().len()
    }

    /// One login attempt by `user` from `addr` (`None` when the address is unknown).
    pub fn attempt<'a>(&'a self, addr: Option<IpAddr>, user: &str) -> Attempt<'a> {
        let mut keys = Vec::with_capacity(2);
        if let Some(a) = addr {
            keys.push(Key::Addr(address_key(a)));
        }
        keys.push(Key::User(name_key(user)));
        Attempt {
            throttle: self,
            keys,
        }
    }

    /// How long an attempt on `keys` must still wait (at most the cap).
    fn pending(&self, keys: &[Key], now: Instant) -> Duration {
        let s = self.settings();
        let table = self.table();
        keys.iter()
            .filter_map(|k| table.get(k))
            .filter(|e| now.duration_since(e.last_failure) < s.forget_after)
            .map(|e| e.not_before.saturating_duration_since(now))
            .max()
            .unwrap_or_default()
            .min(s.max_failure_delay)
    }

    fn record_failure(&self, keys: &[Key], now: Instant) -> Penalty {
        let s = self.settings();
        if s.failure_delay.is_zero() {
            return Penalty {
                delay: Duration::ZERO,
                failures: 0,
            };
        }
        let mut table = self.table();
        let mut worst = Penalty {
            delay: Duration::ZERO,
            failures: 0,
        };
        for key in keys {
            if !table.contains_key(key) {
                make_room(&mut table, s, now);
            }
            let entry = table.entry(key.clone()).or_insert(Entry {
                failures: 0,
                last_failure: now,
                not_before: now,
            });
            if now.duration_since(entry.last_failure) >= s.forget_after {
                entry.failures = 0;
            }
            entry.failures = entry.failures.saturating_add(1);
            entry.last_failure = now;
            let delay = delay_for(entry.failures, s);
            entry.not_before = now + delay;
            if delay > worst.delay || (delay == worst.delay && entry.failures > worst.failures) {
                worst = Penalty {
                    delay,
                    failures: entry.failures,
                };
            }
        }
        worst
    }

    fn forget(&self, keys: &[Key]) {
        let mut table = self.table();
        for k in keys {
            table.remove(k);
        }
    }
}

/// `failure_delay × 2^(failures − 1)`, at most `max_failure_delay`.
fn delay_for(failures: u32, s: LoginSettings) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    s.failure_delay
        .checked_mul(1u32 << doublings)
        .unwrap_or(s.max_failure_delay)
        .min(s.max_failure_delay)
}

/// Drops expired entries and, if the table is still full, the ones failed longest ago, so one
/// more fits.
fn make_room(table: &mut HashMap<Key, Entry>, s: LoginSettings, now: Instant) {
    if table.len() < s.max_tracked {
        return;
    }
    table.retain(|_, e| now.duration_since(e.last_failure) < s.forget_after);
    while table.len() >= s.max_tracked.max(1) {
        let oldest = table
            .iter()
            .min_by_key(|(_, e)| e.last_failure)
            .map(|(k, _)| k.clone());
        match oldest {
            Some(k) => table.remove(&k),
            None => break,
        };
    }
}

/// An IPv6 client is counted by its /64, which a single host usually owns whole: one attacker
/// must not get 2^64 fresh addresses.
fn address_key(addr: IpAddr) -> IpAddr {
    match addr.to_canonical() {
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
        v4 => v4,
    }
}

fn name_key(user: &str) -> String {
    let mut end = user.len().min(MAX_NAME_KEY);
    while !user.is_char_boundary(end) {
        end -= 1;
    }
    user[..end].to_string()
}

/// One login attempt: wait before checking, then report the outcome.
pub struct Attempt<'a> {
    throttle: &'a LoginThrottle,
    keys: Vec<Key>,
}

impl Attempt<'_> {
    /// Waits out what is left of the address's or the name's delay (an async sleep: the
    /// session's task waits, no thread and no lock); returns how long it waited.
    pub async fn wait_turn(&self) -> Duration {
        let wait = self.throttle.pending(&self.keys, Instant::now());
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
        wait
    }

    /// Counts a failed login and waits its delay, after which the caller answers it.
    pub async fn failed(&self) -> Penalty {
        let penalty = self.throttle.record_failure(&self.keys, Instant::now());
        if !penalty.delay.is_zero() {
            tokio::time::sleep(penalty.delay).await;
        }
        penalty
    }

    /// A successful login: the address and the name start afresh.
    pub fn succeeded(&self) {
        self.throttle.forget(&self.keys);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(max_tracked: usize) -> LoginSettings {
        LoginSettings {
            failure_delay: Duration::from_millis(100),
            max_failure_delay: Duration::from_millis(800),
            forget_after: Duration::from_secs(60),
            max_tracked,
            ..LoginSettings::default()
        }
    }

    fn ip(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    #[test]
    fn delays_double_up_to_the_cap() {
        let t = LoginThrottle::new(settings(100));
        let a = t.attempt(ip("10.0.0.1"), "ann");
        let now = Instant::now();
        let delays: Vec<u128> = (0..6)
            .map(|_| t.record_failure(&a.keys, now).delay.as_millis())
            .collect();
        assert_eq!(delays, [100, 200, 400, 800, 800, 800]);
        assert_eq!(delay_for(u32::MAX, settings(1)), Duration::from_millis(800));
    }

    #[test]
    fn other_names_from_other_addresses_are_not_slowed_and_success_resets() {
        let t = LoginThrottle::new(settings(100));
        let now = Instant::now();
        let attacker = t.attempt(ip("10.0.0.1"), "ann");
        for _ in 0..5 {
            t.record_failure(&attacker.keys, now);
        }
        let other = t.attempt(ip("10.0.0.2"), "bob");
        assert_eq!(t.pending(&other.keys, now), Duration::ZERO);
        // The same name from elsewhere, and another name from the same address, wait.
        let same_name = t.attempt(ip("10.0.0.3"), "ann");
        assert_eq!(t.pending(&same_name.keys, now), Duration::from_millis(800));
        let same_addr = t.attempt(ip("10.0.0.1"), "carl");
        assert_eq!(t.pending(&same_addr.keys, now), Duration::from_millis(800));
        attacker.succeeded();
        assert_eq!(t.pending(&same_name.keys, now), Duration::ZERO);
        assert_eq!(t.record_failure(&attacker.keys, now).failures, 1);
    }

    #[test]
    fn the_table_stays_bounded_and_entries_expire() {
        let t = LoginThrottle::new(settings(50));
        let now = Instant::now();
        for i in 0..1000u32 {
            let a = t.attempt(Some(IpAddr::from(i.to_be_bytes())), &format!("u{i}"));
            t.record_failure(&a.keys, now + Duration::from_millis(u64::from(i)));
        }
        assert!(t.tracked() <= 50, "{} entries", t.tracked());
        let later = now + Duration::from_secs(3600);
        let a = t.attempt(ip("10.9.9.9"), "u999");
        assert_eq!(t.pending(&a.keys, later), Duration::ZERO);
        assert_eq!(t.record_failure(&a.keys, later).failures, 1);
    }

    #[test]
    fn ipv6_clients_count_by_their_64_and_long_names_are_cut() {
        let t = LoginThrottle::new(settings(100));
        let now = Instant::now();
        let a = t.attempt(ip("2001:db8::1"), "x");
        t.record_failure(&a.keys, now);
        let b = t.attempt(ip("2001:db8::ffff:1"), "y");
        assert!(!t.pending(&b.keys, now).is_zero());
        let long = "é".repeat(500);
        assert!(name_key(&long).len() <= MAX_NAME_KEY);
    }

    #[test]
    fn a_zero_delay_turns_throttling_off() {
        let t = LoginThrottle::new(LoginSettings {
            failure_delay: Duration::ZERO,
            ..settings(10)
        });
        let a = t.attempt(ip("10.0.0.1"), "ann");
        assert_eq!(
            t.record_failure(&a.keys, Instant::now()).delay,
            Duration::ZERO
        );
        assert_eq!(t.tracked(), 0);
    }
}
