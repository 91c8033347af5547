//! Asking the server for its `sql_mode` after anything that may have changed it.
//!
//! `ANSI_QUOTES` turns `"…"` from a string into an identifier, and MySQL reports it nowhere: not
//! in status flags, not in OK packets. Reading `SET sql_mode = …` statements is not enough (the
//! server unescapes `'ANSI_QUOTE\S'`, rejects values with a leading space, takes
//! `` @@session.`sql_mode` ``), so sluice asks the server itself: once the statement that may
//! have changed the mode has been answered and nothing else is in flight, it sends
//! `SELECT @@SESSION.sql_mode` of its own, whose answer only it sees. Until the answer is in,
//! the statement gate treats `ANSI_QUOTES` as unknown.

use bytes::BytesMut;

use super::command::com;
use super::packet::{write_packets, Packet, Reader};

const QUERY: &[u8] = b"SELECT @@SESSION.sql_mode";

/// One session's probing.
#[derive(Debug, Default)]
pub struct ModeProbe {
    /// Commands that may have changed the mode, counted as they are forwarded.
    changes: u64,
    /// A probe is owed once the connection is idle: the count it will answer for.
    wanted: Option<u64>,
    /// The probe in flight: the count it answers for, and the mode once its row is in.
    in_flight: Option<(u64, Option<String>)>,
}

impl ModeProbe {
    /// A command that may change the mode was forwarded (or the session was reset).
    pub fn changed(&mut self) {
        self.changes += 1;
        self.wanted = Some(self.changes);
    }

    /// Writes the owed probe to `out` when the connection is idle; true when it did.
    pub fn send_if_owed(&mut self, idle: bool, out: &mut BytesMut) -> bool {
        if !idle || self.in_flight.is_some() {
            return false;
        }
        let Some(for_change) = self.wanted.take() else {
            return false;
        };
        let mut payload = Vec::with_capacity(1 + QUERY.len());
        payload.push(com::QUERY);
        payload.extend_from_slice(QUERY);
        write_packets(out, 0, &payload);
        self.in_flight = Some((for_change, None));
        true
    }

    /// A packet of the probe's answer (the row carries the mode).
    pub fn on_row(&mut self, p: &Packet) {
        if let Some((_, mode)) = self.in_flight.as_mut() {
            *mode = Reader(p.payload())
                .lenenc_bytes()
                .map(|b| String::from_utf8_lossy(b).into_owned());
        }
    }

    /// A probe is out: the relay reads the client's next command only once it is answered, so
    /// that the command is judged under the mode the server will read it with.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The probe's answer is complete: `Some(ansi_quotes)` when it still speaks for the
    /// session (no change was forwarded since it was sent) and the server gave a mode.
    pub fn answered(&mut self) -> Option<bool> {
        let (for_change, mode) = self.in_flight.take()?;
        if for_change != self.changes || self.wanted.is_some() {
            return None;
        }
        mode.map(|m| policy::sql_mode_has_ansi_quotes(&m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: &str) -> Packet {
        let mut payload = vec![mode.len() as u8];
        payload.extend_from_slice(mode.as_bytes());
        let mut raw = BytesMut::new();
        write_packets(&mut raw, 1, &payload);
        Packet { seq: 1, bytes: raw }
    }

    #[test]
    fn a_probe_is_sent_once_idle_and_answers_for_the_last_change_only() {
        let mut probe = ModeProbe::default();
        let mut out = BytesMut::new();
        assert!(!probe.send_if_owed(true, &mut out), "nothing owed");
        probe.changed();
        assert!(!probe.send_if_owed(false, &mut out), "not while busy");
        assert!(probe.send_if_owed(true, &mut out));
        assert!(out.ends_with(QUERY));
        probe.on_row(&row("ANSI_QUOTES,STRICT_ALL_TABLES"));
        assert_eq!(probe.answered(), Some(true));

        probe.changed();
        assert!(probe.send_if_owed(true, &mut out));
        probe.changed(); // another change while the probe is out: its answer is stale
        probe.on_row(&row(""));
        assert_eq!(probe.answered(), None);
        assert!(probe.send_if_owed(true, &mut out));
        probe.on_row(&row("STRICT_TRANS_TABLES"));
        assert_eq!(probe.answered(), Some(false));
    }
}
