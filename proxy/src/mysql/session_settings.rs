//! An upstream identity's `session_settings` sent again after the client reset its session.
//!
//! MySQL applies them as `SET SESSION` after the login, so `COM_RESET_CONNECTION` and
//! `COM_CHANGE_USER` (which sluice turns into a reset upstream) return them to the server's
//! defaults. sluice sends them again once the server has answered the reset, before the client's
//! next command: the relay reads no command from the client from the reset until the last
//! setting is answered, so nothing the client sends runs without them.

use bytes::BytesMut;

use super::command::com;
use super::packet::write_packets;
use super::upstream::set_statement;
use crate::config::SettingValue;

/// `SERVER_STATUS_NO_BACKSLASH_ESCAPES`, how the next `SET` must quote.
const NO_BACKSLASH_ESCAPES: u16 = 0x0200;

/// Whether status flags say `NO_BACKSLASH_ESCAPES`.
pub fn no_backslash_escapes(status: u16) -> bool {
    status & NO_BACKSLASH_ESCAPES != 0
}

/// One session's settings and their re-application.
#[derive(Debug, Default)]
pub struct SettingsReplay {
    settings: Vec<(String, SettingValue)>,
    /// A reset was forwarded and its settings are not sent yet.
    owed: bool,
    /// `SET` statements sent and not answered yet.
    in_flight: usize,
}

/// The database refused a setting it had taken at login.
#[derive(Debug, thiserror::Error)]
#[error("the database refused session setting {key} after the session was reset: {message}")]
pub struct SettingRefused {
    pub key: String,
    pub message: String,
}

impl SettingsReplay {
    pub fn new(settings: Vec<(String, SettingValue)>) -> SettingsReplay {
        SettingsReplay {
            settings,
            ..SettingsReplay::default()
        }
    }

    /// A `COM_RESET_CONNECTION` was forwarded: the settings are owed once it is answered.
    pub fn reset_forwarded(&mut self) {
        self.owed = !self.settings.is_empty();
    }

    /// Whether the client's next command must wait (a reset or its settings are in flight).
    pub fn holds_client(&self) -> bool {
        self.owed || self.in_flight > 0
    }

    /// Writes the owed `SET` statements to `out` once the connection is idle; returns how many
    /// (each is answered by one OK or ERR the relay hands to [`Self::answered`]).
    pub fn send_if_owed(
        &mut self,
        idle: bool,
        no_backslash_escapes: bool,
        out: &mut BytesMut,
    ) -> usize {
        if !idle || !self.owed {
            return 0;
        }
        self.owed = false;
        for payload in self.commands(no_backslash_escapes) {
            write_packets(out, 0, &payload);
        }
        self.in_flight = self.settings.len();
        self.in_flight
    }

    /// The `COM_QUERY` payloads that set every setting, quoted for a session whose
    /// `NO_BACKSLASH_ESCAPES` is as given.
    pub fn commands(&self, no_backslash_escapes: bool) -> Vec<Vec<u8>> {
        let status = match no_backslash_escapes {
            true => NO_BACKSLASH_ESCAPES,
            false => 0,
        };
        self.settings
            .iter()
            .map(|(key, value)| {
                let mut payload = vec![com::QUERY];
                payload.extend_from_slice(set_statement(key, value, status).as_bytes());
                payload
            })
            .collect()
    }

    /// The answer to the next `SET` in flight: its OK, or the ERR that ends the session (it
    /// would otherwise go on without a setting its identity requires).
    pub fn answered(&mut self, payload: &[u8]) -> Result<(), SettingRefused> {
        let index = self.settings.len().saturating_sub(self.in_flight);
        self.in_flight = self.in_flight.saturating_sub(1);
        match payload.first() {
            Some(0x00) => Ok(()),
            _ => Err(self.refused(index, payload)),
        }
    }

    /// The error for setting `index`, answered by `payload` (an ERR, or something else).
    pub fn refused(&self, index: usize, payload: &[u8]) -> SettingRefused {
        let key = self
            .settings
            .get(index)
            .map(|(k, _)| k.clone())
            .unwrap_or_default();
        let message = match payload.first() {
            Some(0xFF) => {
                let (code, text) = super::upstream::parse_err(payload);
                format!("{code}: {text}")
            }
            _ => "an unexpected answer".to_string(),
        };
        SettingRefused { key, message }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replay() -> SettingsReplay {
        SettingsReplay::new(vec![
            ("sql_mode".into(), SettingValue::Text("a\\b".into())),
            ("wait_timeout".into(), SettingValue::Integer(77)),
        ])
    }

    #[test]
    fn settings_are_owed_after_a_reset_and_sent_once_idle() {
        let mut r = replay();
        let mut out = BytesMut::new();
        assert!(!r.holds_client());
        assert_eq!(r.send_if_owed(true, false, &mut out), 0, "nothing owed");
        r.reset_forwarded();
        assert!(r.holds_client(), "the client waits for the reset");
        assert_eq!(r.send_if_owed(false, false, &mut out), 0, "not while busy");
        assert_eq!(r.send_if_owed(true, false, &mut out), 2);
        let text = String::from_utf8_lossy(&out);
        assert!(text.contains("SET SESSION sql_mode = 'a\\\\b'"), "{text}");
        assert!(text.contains("SET SESSION wait_timeout = 77"), "{text}");
        assert!(r.holds_client(), "until both are answered");
        r.answered(&[0x00, 0, 0, 2, 0, 0, 0]).unwrap();
        assert!(r.holds_client());
        r.answered(&[0x00, 0, 0, 2, 0, 0, 0]).unwrap();
        assert!(!r.holds_client());
    }

    #[test]
    fn a_refused_setting_is_named() {
        let mut r = replay();
        let mut out = BytesMut::new();
        r.reset_forwarded();
        r.send_if_owed(true, true, &mut out);
        assert!(
            String::from_utf8_lossy(&out).contains("'a\\b'"),
            "quoted for NO_BACKSLASH_ESCAPES"
        );
        let err =
            super::super::packet::err_payload(1231, "42000", "Variable 'sql_mode' can't be set");
        let e = r.answered(&err).unwrap_err();
        assert_eq!(e.key, "sql_mode");
        assert!(e.message.starts_with("1231: Variable"), "{}", e.message);
    }

    #[test]
    fn no_settings_nothing_owed() {
        let mut r = SettingsReplay::new(Vec::new());
        r.reset_forwarded();
        assert!(!r.holds_client());
    }
}
