//! Asking the server how the session reads statements after anything that may have changed it.
//!
//! `ANSI_QUOTES` turns `"…"` from a string into an identifier, and a GBK, Big5 or SJIS client
//! character set can end a character in a backslash byte; MySQL reports neither in status
//! flags or OK packets. Reading `SET` statements is not enough (the server unescapes
//! `'ANSI_QUOTE\S'`, rejects values with a leading space, takes `` @@session.`sql_mode` ``),
//! so sluice asks the server itself: once the statement that may have changed them has been
//! answered and nothing else is in flight, it sends a query of its own
//! ([`SessionReading::QUERY`]) whose answer only it sees. Until the answer is in, the statement
//! gate treats both as unknown, and the relay reads no further command from the client.

use bytes::BytesMut;

use super::command::com;
use super::packet::{write_packets, Packet};
use super::upstream::SessionReading;

/// One session's probing.
#[derive(Debug, Default)]
pub struct ModeProbe {
    /// Commands that may have changed the mode, counted as they are forwarded.
    changes: u64,
    /// A probe is owed once the connection is idle: the count it will answer for.
    wanted: Option<u64>,
    /// The probe in flight: the count it answers for, and the reading once its row is in.
    in_flight: Option<(u64, Option<SessionReading>)>,
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
        let mut payload = Vec::with_capacity(1 + SessionReading::QUERY.len());
        payload.push(com::QUERY);
        payload.extend_from_slice(SessionReading::QUERY);
        write_packets(out, 0, &payload);
        self.in_flight = Some((for_change, None));
        true
    }

    /// A packet of the probe's answer (the row carries the settings).
    pub fn on_row(&mut self, p: &Packet) {
        if let Some((_, reading)) = self.in_flight.as_mut() {
            *reading = SessionReading::from_row(p.payload());
        }
    }

    /// A probe is out: the relay reads the client's next command only once it is answered, so
    /// that the command is judged under the mode the server will read it with.
    pub fn in_flight(&self) -> bool {
        self.in_flight.is_some()
    }

    /// The probe's answer is complete: the reading when it still speaks for the session (no
    /// change was forwarded since it was sent) and the server gave one.
    pub fn answered(&mut self) -> Option<SessionReading> {
        let (for_change, reading) = self.in_flight.take()?;
        if for_change != self.changes || self.wanted.is_some() {
            return None;
        }
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(mode: &str) -> Packet {
        let mut payload = vec![mode.len() as u8];
        payload.extend_from_slice(mode.as_bytes());
        payload.push(3);
        payload.extend_from_slice(b"gbk");
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
        assert!(out.ends_with(SessionReading::QUERY));
        probe.on_row(&row("ANSI_QUOTES,STRICT_ALL_TABLES"));
        let reading = SessionReading {
            ansi_quotes: true,
            multibyte: true,
            pipes_as_concat: false,
        };
        assert_eq!(probe.answered(), Some(reading));

        probe.changed();
        assert!(probe.send_if_owed(true, &mut out));
        probe.changed(); // another change while the probe is out: its answer is stale
        probe.on_row(&row(""));
        assert_eq!(probe.answered(), None);
        assert!(probe.send_if_owed(true, &mut out));
        probe.on_row(&row("STRICT_TRANS_TABLES"));
        assert_eq!(probe.answered().map(|r| r.ansi_quotes), Some(false));
    }
}
