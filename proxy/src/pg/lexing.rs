//! Follows what decides how PostgreSQL reads a statement, for the statement gate:
//! `standard_conforming_strings` and `client_encoding`, as the server reports them
//! (ParameterStatus at startup and after each change), and whether statements still in flight
//! could change them before the server reads the next one. PostgreSQL reports a change only at
//! the next ReadyForQuery, so inside a pipeline both are unsettled.

use super::frame::{Frame, Reader};
use crate::session::{LexReport, SessionHooks};

/// One session's view of the settings.
pub struct LexTracker {
    /// `standard_conforming_strings = off`: backslashes escape in plain strings.
    backslash: bool,
    /// `client_encoding` is one whose two-byte characters may end in a backslash byte.
    multibyte: bool,
    /// `client_encoding` as last reported (empty until it is).
    client_encoding: String,
    /// An Execute was sent since the last Sync: a later Parse is read after it runs.
    executed_since_sync: bool,
    /// What the gate was last told.
    reported: (LexReport, LexReport),
}

impl LexTracker {
    /// Starts from the ParameterStatus frames of the upstream's startup (raw frames).
    pub fn new(greeting: &[u8]) -> Self {
        let mut tracker = LexTracker {
            backslash: false,
            multibyte: false,
            client_encoding: String::new(),
            executed_since_sync: false,
            reported: (
                LexReport::Backslash(false),
                LexReport::Multibyte(Some(false)),
            ),
        };
        let mut rest = greeting;
        while rest.len() >= 5 {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            // A length below 4 cannot count itself: the frames after it cannot be found.
            let Some(frame) = rest.get(..1 + len).filter(|_| len >= 4) else {
                break;
            };
            if frame[0] == b'S' {
                tracker.on_status(&frame[5..]);
            }
            rest = &rest[1 + len..];
        }
        tracker
    }

    /// An upstream ParameterStatus.
    pub fn on_upstream(&mut self, frame: &Frame) {
        if frame.tag == b'S' {
            self.on_status(frame.body());
        }
    }

    fn on_status(&mut self, body: &[u8]) {
        let mut r = Reader(body);
        let (Some(name), Some(value)) = (r.cstr(), r.cstr()) else {
            return;
        };
        match name {
            "standard_conforming_strings" => self.backslash = value.eq_ignore_ascii_case("off"),
            "client_encoding" => {
                self.multibyte = policy::multibyte_hazard(value);
                self.client_encoding = value.to_string();
            }
            _ => {}
        }
    }

    /// The session's `client_encoding` as the server last reported it (empty: never).
    pub fn client_encoding(&self) -> &str {
        &self.client_encoding
    }

    /// A client message about to go upstream.
    pub fn on_client(&mut self, tag: u8) {
        match tag {
            b'E' => self.executed_since_sync = true,
            b'S' => self.executed_since_sync = false,
            _ => {}
        }
    }

    /// Before a Query or Parse is judged: tells the gate what the server will read it under.
    /// `others_in_flight`: sync points ahead of this statement are still unanswered.
    pub fn before_statement(&mut self, hooks: &mut dyn SessionHooks, others_in_flight: bool) {
        let report = if others_in_flight || self.executed_since_sync {
            (LexReport::Unsettled, LexReport::Multibyte(None))
        } else {
            (
                LexReport::Backslash(self.backslash),
                LexReport::Multibyte(Some(self.multibyte)),
            )
        };
        if report.0 != self.reported.0 {
            hooks.on_lexing(report.0);
        }
        if report.1 != self.reported.1 {
            hooks.on_lexing(report.1);
        }
        self.reported = report;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(name: &str, value: &str) -> Vec<u8> {
        let body = format!("{name}\0{value}\0");
        let mut f = vec![b'S'];
        f.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        f.extend_from_slice(body.as_bytes());
        f
    }

    #[test]
    fn startup_status_sets_the_initial_values() {
        let mut greeting = status("server_version", "15");
        greeting.extend(status("standard_conforming_strings", "off"));
        greeting.extend(status("client_encoding", "SJIS"));
        let t = LexTracker::new(&greeting);
        assert!(t.backslash && t.multibyte);
        assert_eq!(t.client_encoding(), "SJIS");
        let t = LexTracker::new(&status("client_encoding", "UTF8"));
        assert!(!t.backslash && !t.multibyte);
        assert!(!LexTracker::new(b"S\0\0").backslash);
    }

    /// Found by fuzzing (`fuzz/regressions/pg_session/lexing-short-length`): a frame whose
    /// length is below 4 panicked on slicing its body.
    #[test]
    fn a_length_below_four_ends_the_greeting_without_a_panic() {
        for len in 0..4u8 {
            let mut greeting = vec![b'S', 0, 0, 0, len];
            greeting.extend(status("standard_conforming_strings", "off"));
            assert!(!LexTracker::new(&greeting).backslash, "length {len}");
        }
    }
}
