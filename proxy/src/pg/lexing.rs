//! Follows PostgreSQL's `standard_conforming_strings` for the statement gate: the value the
//! server reports (ParameterStatus at startup and after each change), and whether statements
//! still in flight could change it before the server reads the next one. PostgreSQL reports a
//! change only at the next ReadyForQuery, so inside a pipeline the setting is unsettled.

use super::frame::{Frame, Reader};
use crate::session::{LexReport, SessionHooks};

const SETTING: &[u8] = b"standard_conforming_strings";

/// One session's view of the setting.
pub struct LexTracker {
    /// `standard_conforming_strings = off`: backslashes escape in plain strings.
    backslash: bool,
    /// An Execute was sent since the last Sync: a later Parse is read after it runs.
    executed_since_sync: bool,
    /// What the gate was last told.
    reported: LexReport,
}

impl LexTracker {
    /// Starts from the ParameterStatus frames of the upstream's startup (raw frames).
    pub fn new(greeting: &[u8]) -> Self {
        let mut backslash = false;
        let mut rest = greeting;
        while rest.len() >= 5 {
            let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
            let Some(frame) = rest.get(..1 + len) else {
                break;
            };
            if frame[0] == b'S' {
                backslash = setting_off(&frame[5..]).unwrap_or(backslash);
            }
            rest = &rest[(1 + len).min(rest.len())..];
        }
        LexTracker {
            backslash,
            executed_since_sync: false,
            reported: LexReport::Backslash(false),
        }
    }

    /// An upstream ParameterStatus.
    pub fn on_upstream(&mut self, frame: &Frame) {
        if frame.tag == b'S' {
            self.backslash = setting_off(frame.body()).unwrap_or(self.backslash);
        }
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
            LexReport::Unsettled
        } else {
            LexReport::Backslash(self.backslash)
        };
        if report != self.reported {
            self.reported = report;
            hooks.on_lexing(report);
        }
    }
}

/// `Some(true)` for a ParameterStatus saying `standard_conforming_strings` is off.
fn setting_off(body: &[u8]) -> Option<bool> {
    let mut r = Reader(body);
    let name = r.cstr()?;
    if name.as_bytes() != SETTING {
        return None;
    }
    Some(r.cstr()?.eq_ignore_ascii_case("off"))
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
    fn startup_status_sets_the_initial_value() {
        let mut greeting = status("server_version", "15");
        greeting.extend(status("standard_conforming_strings", "off"));
        assert!(LexTracker::new(&greeting).backslash);
        assert!(!LexTracker::new(&status("standard_conforming_strings", "on")).backslash);
        assert!(!LexTracker::new(b"S\0\0").backslash);
    }
}
