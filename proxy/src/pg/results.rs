//! Which statement each result belongs to. Masking needs it: a RowDescription says where plain
//! columns come from, but only the statement's text says what an expression is computed from,
//! and in the extended protocol rows arrive without a RowDescription at all.
//!
//! The tracker follows the client's messages and the database's answers in order. Names and
//! tags are all it reads; frames still travel raw. Before every Execute, the database
//! describes the portal, so the columns and formats of every row are known exactly, whatever
//! the client itself described: when the client's own Describe of that portal comes right
//! before the Execute (libpq sends one with every execution), its answer serves; otherwise
//! sluice sends a Describe of its own, whose answer only sluice sees.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use bytes::{BufMut, BytesMut};

use super::frame::{Frame, Reader};

#[derive(Debug)]
enum Pending {
    /// A simple query: its text and how many of its statements have completed.
    Query {
        sql: Arc<str>,
        done: usize,
    },
    /// A Describe; `injected` when sluice sent it and its answer is sluice's alone;
    /// `of_execute` when its answer describes the rows of the Execute behind it.
    Describe {
        injected: bool,
        of_execute: bool,
        sql: Option<Arc<str>>,
    },
    Execute(Option<Arc<str>>),
    /// Sync or FunctionCall: answered by ReadyForQuery.
    Sync,
}

/// What the relay does with a frame from the database.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    /// A result's columns for rows that follow: (statement text, position in it). The frame is
    /// forwarded unless `swallow`.
    Columns {
        sql: Option<Arc<str>>,
        index: usize,
        swallow: bool,
    },
    /// Forward; the current result (if any) ends after this frame.
    EndOfResult,
    /// sluice's own Describe had no rows to describe: drop the frame.
    Swallow,
    /// Forward as it is.
    Forward,
}

/// Statement and portal bookkeeping for one session.
#[derive(Debug, Default)]
pub struct ResultTracker {
    /// By name as its bytes: names in a client encoding must not collide.
    statements: HashMap<Vec<u8>, Arc<str>>,
    portals: HashMap<Vec<u8>, Arc<str>>,
    queue: VecDeque<Pending>,
    /// The portal the client described last, while it is still as described (no Bind or
    /// Close of it since).
    described: Option<Vec<u8>>,
}

impl ResultTracker {
    /// A client frame about to go upstream. With `describe_executes`, an Execute is preceded by
    /// sluice's own Describe of its portal, written to `out` here.
    pub fn on_client(&mut self, frame: &Frame, describe_executes: bool, out: &mut BytesMut) {
        let mut r = Reader(frame.body());
        match frame.tag {
            b'Q' => {
                // A query can close portals too (`CLOSE name`).
                self.described = None;
                let sql = r.text().unwrap_or_default();
                self.queue.push_back(Pending::Query {
                    sql: Arc::from(sql.as_ref()),
                    done: 0,
                });
            }
            b'P' => {
                if let (Some(name), Some(sql)) = (r.cbytes(), r.text()) {
                    self.statements
                        .insert(name.to_vec(), Arc::from(sql.as_ref()));
                }
            }
            b'B' => {
                if let (Some(portal), Some(stmt)) = (r.cbytes(), r.cbytes()) {
                    if self.described.as_deref() == Some(portal) {
                        self.described = None;
                    }
                    match self.statements.get(stmt) {
                        Some(sql) => self.portals.insert(portal.to_vec(), Arc::clone(sql)),
                        None => self.portals.remove(portal),
                    };
                }
            }
            b'D' => {
                self.described = None;
                let sql = match (r.bytes(1), r.cbytes()) {
                    (Some(b"S"), Some(name)) => self.statements.get(name).cloned(),
                    (Some(_), Some(name)) => {
                        self.described = Some(name.to_vec());
                        self.portals.get(name).cloned()
                    }
                    _ => None,
                };
                self.queue.push_back(Pending::Describe {
                    injected: false,
                    of_execute: false,
                    sql,
                });
            }
            b'E' => {
                let portal = r.cbytes().unwrap_or_default();
                // The client's own Describe of this portal, still unanswered and with nothing
                // queued behind it, describes exactly these rows.
                let described = describe_executes
                    && self.described.as_deref() == Some(portal)
                    && match self.queue.back_mut() {
                        Some(Pending::Describe {
                            injected: false,
                            of_execute,
                            ..
                        }) => {
                            *of_execute = true;
                            true
                        }
                        _ => false,
                    };
                self.described = None;
                if describe_executes && !described {
                    out.put_u8(b'D');
                    out.put_u32((4 + 1 + portal.len() + 1) as u32);
                    out.put_u8(b'P');
                    out.put_slice(portal);
                    out.put_u8(0);
                    self.queue.push_back(Pending::Describe {
                        injected: true,
                        of_execute: true,
                        sql: self.portals.get(portal).cloned(),
                    });
                }
                self.queue
                    .push_back(Pending::Execute(self.portals.get(portal).cloned()));
            }
            b'C' => {
                if let (Some(kind), Some(name)) = (r.bytes(1), r.cbytes()) {
                    if kind != b"S" && self.described.as_deref() == Some(name) {
                        self.described = None;
                    }
                    match kind {
                        b"S" => self.statements.remove(name),
                        _ => self.portals.remove(name),
                    };
                }
            }
            b'S' | b'F' => {
                self.described = None;
                self.queue.push_back(Pending::Sync);
            }
            _ => {}
        }
    }

    /// The text of a prepared statement.
    pub fn statement(&self, name: &[u8]) -> Option<Arc<str>> {
        self.statements.get(name).cloned()
    }

    /// The statement whose answer is arriving: its text and position in it.
    pub fn current(&self) -> Option<(Arc<str>, usize)> {
        match self.queue.front()? {
            Pending::Query { sql, done } => Some((Arc::clone(sql), *done)),
            Pending::Execute(Some(sql)) => Some((Arc::clone(sql), 0)),
            _ => None,
        }
    }

    /// A frame from the database.
    pub fn on_upstream(&mut self, tag: u8) -> Answer {
        match tag {
            b'T' | b'n' => match self.queue.front_mut() {
                Some(Pending::Query { sql, done }) if tag == b'T' => Answer::Columns {
                    sql: Some(Arc::clone(sql)),
                    index: *done,
                    swallow: false,
                },
                Some(Pending::Describe { .. }) => {
                    let Some(Pending::Describe {
                        injected,
                        of_execute,
                        sql,
                    }) = self.queue.pop_front()
                    else {
                        return Answer::Forward;
                    };
                    match (injected, of_execute, tag) {
                        (_, true, b'T') => Answer::Columns {
                            sql,
                            index: 0,
                            swallow: injected,
                        },
                        (true, _, _) => Answer::Swallow,
                        (false, _, _) => Answer::Forward,
                    }
                }
                // Columns nobody asked for: rows that may follow are judged without a
                // statement (fail closed).
                _ if tag == b'T' => Answer::Columns {
                    sql: None,
                    index: 0,
                    swallow: false,
                },
                _ => Answer::Forward,
            },
            b'C' | b'I' => {
                match self.queue.front_mut() {
                    Some(Pending::Query { done, .. }) => *done += 1,
                    Some(Pending::Execute(_)) => {
                        self.queue.pop_front();
                    }
                    _ => {}
                }
                Answer::EndOfResult
            }
            b's' => {
                if matches!(self.queue.front(), Some(Pending::Execute(_))) {
                    self.queue.pop_front();
                }
                Answer::EndOfResult
            }
            // An error in the extended protocol makes the database skip to the next Sync; in a
            // simple query it ends the query, and ReadyForQuery follows.
            b'E' => {
                if !matches!(self.queue.front(), Some(Pending::Query { .. })) {
                    while matches!(
                        self.queue.front(),
                        Some(Pending::Describe { .. } | Pending::Execute(_))
                    ) {
                        self.queue.pop_front();
                    }
                }
                Answer::EndOfResult
            }
            b'Z' => {
                while let Some(p) = self.queue.pop_front() {
                    if matches!(p, Pending::Sync | Pending::Query { .. }) {
                        break;
                    }
                }
                Answer::EndOfResult
            }
            _ => Answer::Forward,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(tag: u8, body: &[u8]) -> Frame {
        let mut bytes = BytesMut::new();
        bytes.put_u8(tag);
        bytes.put_u32(4 + body.len() as u32);
        bytes.put_slice(body);
        Frame { tag, bytes }
    }

    #[test]
    fn executes_are_described_by_sluice_and_attributed_to_their_statement() {
        let mut t = ResultTracker::default();
        let mut out = BytesMut::new();
        t.on_client(&frame(b'P', b"s1\0SELECT ssn FROM c\0\0\0"), true, &mut out);
        t.on_client(&frame(b'B', b"p1\0s1\0\0\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'E', b"p1\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'S', b""), true, &mut out);
        assert_eq!(&out[..], b"D\0\0\0\x08Pp1\0", "sluice describes the portal");
        assert_eq!(t.on_upstream(b'1'), Answer::Forward);
        assert_eq!(t.on_upstream(b'2'), Answer::Forward);
        assert_eq!(
            t.on_upstream(b'T'),
            Answer::Columns {
                sql: Some(Arc::from("SELECT ssn FROM c")),
                index: 0,
                swallow: true
            }
        );
        assert_eq!(t.on_upstream(b'D'), Answer::Forward);
        assert_eq!(t.on_upstream(b'C'), Answer::EndOfResult);
        assert_eq!(t.on_upstream(b'Z'), Answer::EndOfResult);
        assert!(t.queue.is_empty());
    }

    #[test]
    fn the_clients_own_describe_of_the_portal_serves_its_execute() {
        let mut t = ResultTracker::default();
        let mut out = BytesMut::new();
        let cols = |swallow| Answer::Columns {
            sql: Some(Arc::from("SELECT ssn FROM c")),
            index: 0,
            swallow,
        };
        t.on_client(&frame(b'P', b"s1\0SELECT ssn FROM c\0\0\0"), true, &mut out);
        // libpq's execution: Bind, Describe portal, Execute, Sync.
        t.on_client(&frame(b'B', b"p1\0s1\0\0\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'D', b"Pp1\0"), true, &mut out);
        t.on_client(&frame(b'E', b"p1\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'S', b""), true, &mut out);
        assert!(out.is_empty(), "no Describe of sluice's own: {out:?}");
        assert_eq!(t.on_upstream(b'1'), Answer::Forward);
        assert_eq!(t.on_upstream(b'2'), Answer::Forward);
        assert_eq!(
            t.on_upstream(b'T'),
            cols(false),
            "the client gets its answer"
        );
        assert_eq!(t.on_upstream(b'D'), Answer::Forward);
        assert_eq!(t.on_upstream(b'C'), Answer::EndOfResult);
        assert_eq!(t.on_upstream(b'Z'), Answer::EndOfResult);
        assert!(t.queue.is_empty());

        // The portal bound again after the client described it: sluice describes it anew.
        t.on_client(&frame(b'B', b"p1\0s1\0\0\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'D', b"Pp1\0"), true, &mut out);
        t.on_client(&frame(b'B', b"p1\0s1\0\0\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'E', b"p1\0\0\0\0\0"), true, &mut out);
        assert_eq!(&out[..], b"D\0\0\0\x08Pp1\0");
        assert_eq!(t.on_upstream(b'2'), Answer::Forward);
        assert_eq!(
            t.on_upstream(b'T'),
            Answer::Forward,
            "the client's Describe"
        );
        assert_eq!(t.on_upstream(b'2'), Answer::Forward);
        assert_eq!(t.on_upstream(b'T'), cols(true), "sluice's own");
        out.clear();

        // Another portal described, or the answer already in before the Execute: the same.
        t.on_client(&frame(b'D', b"Pp2\0"), true, &mut out);
        t.on_client(&frame(b'E', b"p1\0\0\0\0\0"), true, &mut out);
        assert_eq!(&out[..], b"D\0\0\0\x08Pp1\0");
        // The client's Describe answered before its Execute arrived: sluice's own again.
        let mut t = ResultTracker::default();
        let mut out = BytesMut::new();
        t.on_client(&frame(b'P', b"s1\0SELECT ssn FROM c\0\0\0"), true, &mut out);
        t.on_client(&frame(b'B', b"p1\0s1\0\0\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'D', b"Pp1\0"), true, &mut out);
        t.on_client(&frame(b'H', b""), true, &mut out);
        assert_eq!(t.on_upstream(b'1'), Answer::Forward);
        assert_eq!(t.on_upstream(b'2'), Answer::Forward);
        assert_eq!(t.on_upstream(b'T'), Answer::Forward);
        t.on_client(&frame(b'E', b"p1\0\0\0\0\0"), true, &mut out);
        assert_eq!(&out[..], b"D\0\0\0\x08Pp1\0");
        assert_eq!(t.on_upstream(b'T'), cols(true));
    }

    #[test]
    fn simple_queries_count_their_statements_and_errors_skip_to_sync() {
        let mut t = ResultTracker::default();
        let mut out = BytesMut::new();
        t.on_client(&frame(b'Q', b"SELECT 1; SELECT 2\0"), true, &mut out);
        let cols = |i| Answer::Columns {
            sql: Some(Arc::from("SELECT 1; SELECT 2")),
            index: i,
            swallow: false,
        };
        assert_eq!(t.on_upstream(b'T'), cols(0));
        assert_eq!(t.on_upstream(b'C'), Answer::EndOfResult);
        assert_eq!(t.on_upstream(b'T'), cols(1));
        assert_eq!(t.on_upstream(b'C'), Answer::EndOfResult);
        assert_eq!(t.on_upstream(b'Z'), Answer::EndOfResult);
        // A failed Parse: the Describe and Execute behind it are never answered.
        t.on_client(&frame(b'P', b"\0SELEC\0\0\0"), true, &mut out);
        t.on_client(&frame(b'D', b"S\0"), true, &mut out);
        t.on_client(&frame(b'E', b"\0\0\0\0\0"), true, &mut out);
        t.on_client(&frame(b'S', b""), true, &mut out);
        assert_eq!(t.on_upstream(b'E'), Answer::EndOfResult);
        assert_eq!(t.on_upstream(b'Z'), Answer::EndOfResult);
        assert!(t.queue.is_empty());
    }
}
