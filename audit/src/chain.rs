//! The hash chain: `hash = HMAC-SHA-256(key, prev || canonical_bytes)`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::record::{Draft, Record};

type HmacSha256 = Hmac<Sha256>;

/// The chain's hash for a record with the given `prev` and canonical encoding.
///
/// ```
/// let h = audit::chain_hash(b"key", &[0; 32], b"{}");
/// assert_ne!(h, [0; 32]);
/// assert_eq!(h, audit::chain_hash(b"key", &[0; 32], b"{}"));
/// assert_ne!(h, audit::chain_hash(b"other", &[0; 32], b"{}"));
/// ```
pub fn chain_hash(key: &[u8], prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
    ChainKey::new(key).hash(prev, canonical)
}

/// The audit key, made ready once: HMAC's keyed state (the key hashed into its inner and
/// outer pads) is cloned for each record instead of derived again, two SHA-256 blocks of the
/// dozen or so a record takes.
#[derive(Clone)]
pub(crate) struct ChainKey(Option<HmacSha256>);

impl ChainKey {
    pub(crate) fn new(key: &[u8]) -> ChainKey {
        ChainKey(<HmacSha256 as KeyInit>::new_from_slice(key).ok())
    }

    /// [`chain_hash`] under this key.
    pub(crate) fn hash(&self, prev: &[u8; 32], canonical: &[u8]) -> [u8; 32] {
        // HMAC accepts keys of any length: the zero hash only stands in for what cannot
        // happen.
        let Some(mut mac) = self.0.clone() else {
            return [0; 32];
        };
        mac.update(prev);
        mac.update(canonical);
        mac.finalize().into_bytes().into()
    }
}

/// The hash a record should carry under `key`.
///
/// ```
/// use audit::{Draft, RecordBody};
/// let mut head = audit::ChainHead::genesis();
/// let r = head.append(b"k", Draft::new(1, "t", "u", RecordBody::SessionEnd { reason: "x".into() }));
/// assert_eq!(audit::expected_hash(b"k", &r), r.hash);
/// ```
pub fn expected_hash(key: &[u8], record: &Record) -> [u8; 32] {
    chain_hash(key, &record.prev, &record.canonical_bytes())
}

/// The end of the chain: the last seq and its hash.
///
/// ```
/// let head = audit::ChainHead::genesis();
/// assert_eq!((head.seq, head.hash), (0, [0; 32]));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ChainHead {
    /// Last seq written (0 for an empty log).
    pub seq: u64,
    /// Hash of that record (zeros for an empty log).
    pub hash: [u8; 32],
}

impl ChainHead {
    /// The head of an empty chain.
    pub fn genesis() -> ChainHead {
        ChainHead {
            seq: 0,
            hash: [0; 32],
        }
    }

    /// Chains `draft` after the head, signs it, and advances the head.
    pub fn append(&mut self, key: &[u8], draft: Draft) -> Record {
        let mut record = draft.into_record(self.seq + 1, self.hash);
        record.hash = expected_hash(key, &record);
        self.seq = record.seq;
        self.hash = record.hash;
        record
    }
}
