//! A bounded LRU of analyses.
//!
//! Applications send the same statement texts over and over (ORMs, prepared statements), so
//! parsing each once is most of the win. Statements that differ only in their literals share one
//! entry, keyed by their [`Shape`](crate::Shape), when their analysis does not depend on those
//! literals ([`Analysis::shape_invariant`]); anything else is keyed by its exact text. Hand-written rather than a crate: a `HashMap` from key
//! to slot plus an intrusive doubly linked list over a slab of slots gives O(1) hits, inserts
//! and evictions without `unsafe`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use crate::{analyze, Analysis, Dialect, ShapedSql};

/// Exact texts and shape keys live apart: a text that happens to contain the markers a shape
/// key uses must never find a shape's entry.
#[derive(Clone, PartialEq, Eq, Hash)]
enum Key {
    Text(Dialect, Arc<str>),
    Shape(Dialect, Arc<str>),
}

const NONE: usize = usize::MAX;

struct Slot {
    key: Key,
    value: Arc<Analysis>,
    prev: usize,
    next: usize,
}

struct Lru {
    capacity: usize,
    index: HashMap<Key, usize>,
    slots: Vec<Slot>,
    /// Most recently used.
    head: usize,
    /// Least recently used: evicted first.
    tail: usize,
}

impl Lru {
    fn unlink(&mut self, i: usize) {
        let (prev, next) = (self.slots[i].prev, self.slots[i].next);
        match prev {
            NONE => self.head = next,
            p => self.slots[p].next = next,
        }
        match next {
            NONE => self.tail = prev,
            n => self.slots[n].prev = prev,
        }
    }

    fn push_front(&mut self, i: usize) {
        self.slots[i].prev = NONE;
        self.slots[i].next = self.head;
        if self.head != NONE {
            self.slots[self.head].prev = i;
        }
        self.head = i;
        if self.tail == NONE {
            self.tail = i;
        }
    }

    fn get(&mut self, key: &Key) -> Option<Arc<Analysis>> {
        let i = *self.index.get(key)?;
        self.unlink(i);
        self.push_front(i);
        Some(Arc::clone(&self.slots[i].value))
    }

    fn insert(&mut self, key: Key, value: Arc<Analysis>) {
        if let Some(&i) = self.index.get(&key) {
            self.slots[i].value = value;
            self.unlink(i);
            self.push_front(i);
            return;
        }
        let i = if self.slots.len() < self.capacity {
            self.slots.push(Slot {
                key: key.clone(),
                value,
                prev: NONE,
                next: NONE,
            });
            self.slots.len() - 1
        } else {
            // Full: reuse the least recently used slot.
            let i = self.tail;
            self.unlink(i);
            let old = std::mem::replace(
                &mut self.slots[i],
                Slot {
                    key: key.clone(),
                    value,
                    prev: NONE,
                    next: NONE,
                },
            );
            self.index.remove(&old.key);
            i
        };
        self.index.insert(key, i);
        self.push_front(i);
    }
}

/// A thread-safe, bounded LRU cache from `(dialect, sql text or shape)` to its [`Analysis`].
///
/// ```
/// use policy::{AnalysisCache, Dialect};
/// let cache = AnalysisCache::new(2);
/// let a = cache.get_or_analyze(Dialect::Postgres, "SELECT a FROM t");
/// let b = cache.get_or_analyze(Dialect::Postgres, "SELECT a FROM t");
/// assert!(std::sync::Arc::ptr_eq(&a, &b));
/// cache.get_or_analyze(Dialect::Postgres, "SELECT b FROM t");
/// cache.get_or_analyze(Dialect::Postgres, "SELECT c FROM t");
/// assert_eq!(cache.len(), 2);
/// ```
pub struct AnalysisCache {
    inner: Mutex<Lru>,
}

impl AnalysisCache {
    /// A cache holding at most `capacity` analyses (at least one).
    ///
    /// ```
    /// assert!(policy::AnalysisCache::new(0).is_empty());
    /// ```
    pub fn new(capacity: usize) -> AnalysisCache {
        let capacity = capacity.max(1);
        AnalysisCache {
            inner: Mutex::new(Lru {
                capacity,
                index: HashMap::with_capacity(capacity.min(1 << 16)),
                slots: Vec::new(),
                head: NONE,
                tail: NONE,
            }),
        }
    }

    /// The cached analysis of `sql`, analyzing it on a miss. The lock is not held while
    /// analyzing, so a slow statement never stalls other sessions' hits; two sessions that miss
    /// on the same text at once both analyze it, which is harmless.
    ///
    /// ```
    /// let cache = policy::AnalysisCache::new(8);
    /// let a = cache.get_or_analyze(policy::Dialect::MySql, "DELETE FROM t");
    /// assert_eq!(a.statements[0].has_where, Some(false));
    /// ```
    ///
    /// Statements of one shape share an analysis when it holds for all of them:
    ///
    /// ```
    /// let cache = policy::AnalysisCache::new(8);
    /// let d = policy::Dialect::Postgres;
    /// let a = cache.get_or_analyze(d, "DELETE FROM t WHERE id = 1");
    /// let b = cache.get_or_analyze(d, "DELETE FROM t WHERE id = 2");
    /// assert!(std::sync::Arc::ptr_eq(&a, &b));
    /// // A WHERE whose verdict depends on its literals is judged text by text.
    /// assert_eq!(cache.get_or_analyze(d, "DELETE FROM t WHERE id = 2 OR 1 = 2").statements[0].has_where, Some(true));
    /// assert_eq!(cache.get_or_analyze(d, "DELETE FROM t WHERE id = 2 OR 1 = 1").statements[0].has_where, Some(false));
    /// ```
    pub fn get_or_analyze(&self, dialect: Dialect, sql: &str) -> Arc<Analysis> {
        self.get_or_analyze_shaped(&ShapedSql::new(dialect, sql))
    }

    /// [`AnalysisCache::get_or_analyze`] for a statement whose shape may already be known.
    ///
    /// ```
    /// let cache = policy::AnalysisCache::new(8);
    /// let s = policy::ShapedSql::new(policy::Dialect::Postgres, "DELETE FROM t WHERE id = 1");
    /// let a = cache.get_or_analyze_shaped(&s);
    /// assert!(std::sync::Arc::ptr_eq(&a, &cache.get_or_analyze(s.dialect(), "DELETE FROM t WHERE id = 2")));
    /// ```
    pub fn get_or_analyze_shaped(&self, s: &ShapedSql<'_>) -> Arc<Analysis> {
        let (dialect, sql) = (s.dialect(), s.sql());
        let shaped = s.shape().map(|s| Key::Shape(dialect, Arc::from(s.key())));
        if let Some(hit) = shaped.as_ref().and_then(|k| self.lock().get(k)) {
            return hit;
        }
        // Only now the text key: a shape hit (the common case) needs no copy of the text.
        let text = Key::Text(dialect, Arc::from(sql));
        if let Some(hit) = self.lock().get(&text) {
            return hit;
        }
        let analysis = Arc::new(analyze(dialect, sql));
        let key = match shaped {
            Some(k) if analysis.shape_invariant() => k,
            _ => text,
        };
        self.lock().insert(key, Arc::clone(&analysis));
        analysis
    }

    /// How many analyses are cached.
    ///
    /// ```
    /// assert_eq!(policy::AnalysisCache::new(8).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.lock().index.len()
    }

    /// True when nothing is cached.
    ///
    /// ```
    /// assert!(policy::AnalysisCache::new(8).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The most analyses this cache holds.
    ///
    /// ```
    /// assert_eq!(policy::AnalysisCache::new(8).capacity(), 8);
    /// ```
    pub fn capacity(&self) -> usize {
        self.lock().capacity
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Lru> {
        // The LRU's invariants hold between statements of every method, so a panic elsewhere
        // while the lock was held cannot have left it inconsistent: recover instead of failing.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl std::fmt::Debug for AnalysisCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnalysisCache")
            .field("len", &self.len())
            .field("capacity", &self.capacity())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_is_evicted_first() {
        let cache = AnalysisCache::new(2);
        let pg = Dialect::Postgres;
        let one = cache.get_or_analyze(pg, "SELECT a");
        cache.get_or_analyze(pg, "SELECT b");
        // Touch a so that b is the oldest.
        assert!(Arc::ptr_eq(&one, &cache.get_or_analyze(pg, "SELECT a")));
        cache.get_or_analyze(pg, "SELECT c");
        assert_eq!(cache.len(), 2);
        assert!(Arc::ptr_eq(&one, &cache.get_or_analyze(pg, "SELECT a")));
        let two = cache.get_or_analyze(pg, "SELECT b");
        assert!(!Arc::ptr_eq(&two, &cache.get_or_analyze(pg, "SELECT c")));
    }

    #[test]
    fn dialect_is_part_of_the_key() {
        let cache = AnalysisCache::new(4);
        let sql = "/*! DROP TABLE t */";
        let pg = cache.get_or_analyze(Dialect::Postgres, sql);
        let my = cache.get_or_analyze(Dialect::MySql, sql);
        assert!(pg.statements.is_empty());
        assert_eq!(my.statements[0].kind, crate::StatementKind::Drop);
        assert_eq!(cache.len(), 2);
    }

    #[test]
    fn many_threads_share_one_cache() {
        let cache = Arc::new(AnalysisCache::new(16));
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let cache = Arc::clone(&cache);
                std::thread::spawn(move || {
                    for i in 0..200 {
                        let sql = format!("SELECT c{}", (i * 7 + t) % 40);
                        let a = cache.get_or_analyze(Dialect::Postgres, &sql);
                        assert_eq!(a.statements.len(), 1);
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().expect("thread");
        }
        assert_eq!(cache.len(), 16);
    }

    #[test]
    fn one_shape_one_entry_unless_the_literals_matter() {
        let cache = AnalysisCache::new(64);
        let pg = Dialect::Postgres;
        for i in 0..20 {
            let a = cache.get_or_analyze(
                pg,
                &format!("UPDATE t SET a = a + {i} WHERE id = {i} AND name = 'n{i}'"),
            );
            assert_eq!(a.statements[0].has_where, Some(true));
        }
        assert_eq!(cache.len(), 1);
        // Tautologies and bounds alternate under one shape: each is judged on its own. (A
        // WHERE of constants alone bounds nothing either way: it is all rows or none.)
        for (sql, bounded) in [
            ("DELETE FROM t WHERE 1 = 2", false),
            ("DELETE FROM t WHERE 1 = 1", false),
            ("DELETE FROM t WHERE id = 3 AND 'a' = 'b'", true),
            ("DELETE FROM t WHERE id = 3 AND 'a' = 'a'", true),
            ("DELETE FROM t WHERE id = 3 OR 'a' = 'b'", true),
            ("DELETE FROM t WHERE id = 3 OR 'a' = 'a'", false),
            ("DELETE FROM t WHERE id = 3 OR 0", true),
            ("DELETE FROM t WHERE id = 3 OR 1", false),
            ("DELETE FROM t WHERE name LIKE 'a%'", true),
            ("DELETE FROM t WHERE name LIKE '%'", false),
        ] {
            for _ in 0..2 {
                let a = cache.get_or_analyze(pg, sql);
                assert_eq!(a.statements[0].has_where, Some(bounded), "{sql}");
            }
        }
        // Statements that give literals meaning are never shared across a shape.
        let my = Dialect::MySql;
        let a = cache.get_or_analyze(my, "PREPARE s FROM 'SELECT 1'");
        let b = cache.get_or_analyze(my, "PREPARE s FROM 'DROP TABLE t'");
        assert!(!Arc::ptr_eq(&a, &b));
        let a = cache.get_or_analyze(pg, "CREATE TABLE t1 (a int DEFAULT 1)");
        let b = cache.get_or_analyze(pg, "CREATE TABLE t1 (a int DEFAULT 2)");
        assert!(!Arc::ptr_eq(&a, &b));
    }
}
