//! Writes held to a `rows_over` rule, in PostgreSQL.
//!
//! The count a rule needs is in the write's CommandComplete, which PostgreSQL sends once the
//! write is done — and a simple query is committed by then. So a held write runs in the
//! extended protocol, where nothing commits before Sync: a simple query is sent as
//! Parse/Bind/Describe/Execute of the unnamed statement (which a simple query replaces anyway),
//! a client's own Execute as it is, each followed by a Flush instead of a Sync. The relay reads
//! nothing more from the client until the count is in. Within the limit, the result goes on as
//! usual (and a converted query gets its Sync). Over it, sluice sends a statement that fails
//! (see `Refusals`): the database itself then rolls the write back with the implicit
//! transaction, or aborts the client's transaction block, exactly as if the write had failed;
//! the client gets the rule's error in place of the CommandComplete.

use bytes::{BufMut, BytesMut};

use super::frame::{Frame, Reader};
use crate::session::RowLimitHold;

/// The held write in flight, if any.
#[derive(Debug, Default)]
pub struct RowLimits {
    held: Option<Held>,
    /// CloseComplete answers to sluice's own Close messages, still to come.
    closes: usize,
}

#[derive(Debug)]
struct Held {
    hold: RowLimitHold,
    /// A simple query sent as extended messages: its own Sync is sluice's to send.
    converted: bool,
    /// Answers owed for the client's earlier messages, which come first.
    earlier: Earlier,
}

/// What the database still owes for messages sent before a held write: ReadyForQuery for
/// each Sync (or simple query), and a completion for each Execute since the last of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Earlier {
    pub syncs: usize,
    pub executes: usize,
}

/// What the relay does with a frame from the database while a write is held.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Handle it as usual.
    Pass,
    /// An answer to sluice's own messages: drop it.
    Swallow,
    /// The write went over: drop this CommandComplete; the client gets this error, which the
    /// database will confirm by failing sluice's stand-in (already queued upstream).
    Refused(String),
}

impl RowLimits {
    /// True while a held write's count is not in: the relay must not read the client.
    pub fn holding(&self) -> bool {
        self.held.is_some()
    }

    /// Sends simple query `sql` held to `hold`, as extended-protocol messages.
    pub fn hold_query(
        &mut self,
        sql: &[u8],
        hold: RowLimitHold,
        earlier: Earlier,
        out: &mut BytesMut,
    ) {
        message(out, b'P', |b| {
            b.put_u8(0);
            b.put_slice(sql);
            b.put_u8(0);
            b.put_i16(0);
        });
        message(out, b'B', |b| {
            b.put_u8(0);
            b.put_u8(0);
            b.put_i16(0);
            b.put_i16(0);
            b.put_i16(0);
        });
        message(out, b'D', |b| {
            b.put_u8(b'P');
            b.put_u8(0);
        });
        message(out, b'E', |b| {
            b.put_u8(0);
            b.put_i32(0);
        });
        flush(out);
        self.held = Some(Held {
            hold,
            converted: true,
            earlier,
        });
    }

    /// The client's Execute, already written to `out`, is held to `hold`.
    pub fn hold_execute(&mut self, hold: RowLimitHold, earlier: Earlier, out: &mut BytesMut) {
        flush(out);
        self.held = Some(Held {
            hold,
            converted: false,
            earlier,
        });
    }

    /// A frame from the database. `fail` writes the failing stand-in for a refusal to `out`.
    pub fn on_upstream(
        &mut self,
        frame: &Frame,
        out: &mut BytesMut,
        fail: impl FnOnce(String, &mut BytesMut),
    ) -> Outcome {
        if frame.tag == b'3' && self.closes > 0 {
            self.closes -= 1;
            return Outcome::Swallow;
        }
        let Some(held) = &mut self.held else {
            return Outcome::Pass;
        };
        if held.earlier.syncs > 0 {
            if frame.tag == b'Z' {
                held.earlier.syncs -= 1;
            }
            return Outcome::Pass;
        }
        if held.earlier.executes > 0 {
            match frame.tag {
                b'C' | b's' | b'I' => held.earlier.executes -= 1,
                // An earlier message of the same group failed: the database skips the held
                // write, and everything else up to a Sync (a converted query's is sluice's).
                b'E' => {
                    let converted = held.converted;
                    self.held = None;
                    if converted {
                        sync(out);
                    }
                }
                _ => {}
            }
            return Outcome::Pass;
        }
        match frame.tag {
            b'1' | b'2' | b'n' if held.converted => Outcome::Swallow,
            b'C' | b's' => {
                let rows = match frame.tag {
                    b'C' => changed_rows(frame),
                    // A write fetched in parts cannot be counted until it is too late.
                    _ => None,
                };
                let Some(held) = self.held.take() else {
                    return Outcome::Pass;
                };
                if held.converted {
                    // A simple query leaves no unnamed statement or portal behind: sluice's
                    // must not stay for a Bind or Execute to run again unjudged.
                    close(out, b'S');
                    close(out, b'P');
                    self.closes += 2;
                }
                if rows.is_some_and(|n| n <= held.hold.limit) {
                    if held.converted {
                        sync(out);
                    }
                    return Outcome::Pass;
                }
                let message = held.hold.refusal(rows);
                fail(message.clone(), out);
                if held.converted {
                    sync(out);
                }
                Outcome::Refused(message)
            }
            b'E' | b'Z' => {
                if self.held.take().is_some_and(|h| h.converted) && frame.tag == b'E' {
                    sync(out);
                }
                Outcome::Pass
            }
            _ => Outcome::Pass,
        }
    }
}

/// Rows a write changed, from its CommandComplete tag (`INSERT 0 5`, `UPDATE 3`, `MERGE 2`);
/// `None` for any other tag.
fn changed_rows(frame: &Frame) -> Option<u64> {
    let tag = Reader(frame.body()).cstr()?;
    let mut words = tag.split(' ');
    match words.next()? {
        "INSERT" | "UPDATE" | "DELETE" | "MERGE" => words.next_back()?.parse().ok(),
        _ => None,
    }
}

fn message(out: &mut BytesMut, tag: u8, body: impl FnOnce(&mut BytesMut)) {
    out.put_u8(tag);
    let at = out.len();
    out.put_u32(0);
    body(out);
    let len = (out.len() - at) as u32;
    out[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

/// Close of the unnamed statement (`S`) or portal (`P`).
fn close(out: &mut BytesMut, what: u8) {
    out.put_slice(&[b'C', 0, 0, 0, 6, what, 0]);
}

fn flush(out: &mut BytesMut) {
    out.put_slice(&[b'H', 0, 0, 0, 4]);
}

fn sync(out: &mut BytesMut) {
    out.put_slice(&[b'S', 0, 0, 0, 4]);
}

#[cfg(test)]
mod tests {
    #[test]
    fn answers_owed_for_earlier_messages_pass_first() {
        let mut limits = RowLimits::default();
        let mut out = BytesMut::new();
        let earlier = Earlier {
            syncs: 1,
            executes: 0,
        };
        limits.hold_query(b"DELETE FROM t", hold(3), earlier, &mut out);
        out.clear();
        let fail = |_: String, _: &mut BytesMut| panic!("not refused");
        for tag in [b'3', b'C', b'Z'] {
            let f = frame(tag, b"DELETE 9\0");
            assert_eq!(limits.on_upstream(&f, &mut out, fail), Outcome::Pass);
        }
        assert!(
            limits.holding(),
            "an earlier statement's count is not the held write's"
        );
        assert_eq!(
            limits.on_upstream(&frame(b'1', b""), &mut out, fail),
            Outcome::Swallow
        );
        // An earlier Execute of the same group fails: the held one is skipped, not waited for.
        let mut limits = RowLimits::default();
        let earlier = Earlier {
            syncs: 0,
            executes: 1,
        };
        limits.hold_execute(hold(3), earlier, &mut out);
        assert_eq!(
            limits.on_upstream(&frame(b'E', b""), &mut out, fail),
            Outcome::Pass
        );
        assert!(!limits.holding());
    }

    use super::*;

    fn frame(tag: u8, body: &[u8]) -> Frame {
        let mut bytes = BytesMut::new();
        bytes.put_u8(tag);
        bytes.put_u32(4 + body.len() as u32);
        bytes.put_slice(body);
        Frame { tag, bytes }
    }

    fn hold(limit: u64) -> RowLimitHold {
        RowLimitHold {
            limit,
            rule: "big".into(),
            message: None,
        }
    }

    #[test]
    fn a_converted_query_within_its_limit_gets_its_sync_and_passes() {
        let mut limits = RowLimits::default();
        let mut out = BytesMut::new();
        limits.hold_query(
            b"DELETE FROM t WHERE id = 1",
            hold(3),
            Earlier::default(),
            &mut out,
        );
        assert!(limits.holding());
        assert!(
            out.ends_with(&[b'H', 0, 0, 0, 4]),
            "ends with a Flush, not a Sync"
        );
        out.clear();
        let fail = |_: String, _: &mut BytesMut| panic!("not refused");
        assert_eq!(
            limits.on_upstream(&frame(b'1', b""), &mut out, fail),
            Outcome::Swallow
        );
        let c = frame(b'C', b"DELETE 3\0");
        assert_eq!(limits.on_upstream(&c, &mut out, fail), Outcome::Pass);
        assert!(!limits.holding());
        assert!(
            out.ends_with(&[b'C', 0, 0, 0, 6, b'P', 0, b'S', 0, 0, 0, 4]),
            "the unnamed statement and portal are closed before the Sync"
        );
        for _ in 0..2 {
            assert_eq!(
                limits.on_upstream(&frame(b'3', b""), &mut out, fail),
                Outcome::Swallow
            );
        }
        assert_eq!(
            limits.on_upstream(&frame(b'3', b""), &mut out, fail),
            Outcome::Pass,
            "the client's own Close is answered to the client"
        );
    }

    #[test]
    fn over_the_limit_or_uncounted_the_write_is_failed_before_any_sync() {
        for (tag, body, rows) in [
            (b'C', &b"UPDATE 4\0"[..], Some(4)),
            (b'C', &b"SELECT 1\0"[..], None),
            (b's', &b""[..], None),
        ] {
            let mut limits = RowLimits::default();
            let mut out = BytesMut::new();
            limits.hold_execute(hold(3), Earlier::default(), &mut out);
            out.clear();
            let outcome =
                limits.on_upstream(&frame(tag, body), &mut out, |_, o| o.put_slice(b"FAIL"));
            assert_eq!(outcome, Outcome::Refused(hold(3).refusal(rows)));
            assert_eq!(
                &out[..],
                b"FAIL",
                "the client's own Sync ends the transaction"
            );
            assert!(!limits.holding());
        }
    }
}
