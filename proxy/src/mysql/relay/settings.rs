//! The relay's side of an identity's `session_settings` after a reset (see
//! [`crate::mysql::session_settings`]): the answers to the settings sent again after
//! `COM_RESET_CONNECTION`, and COM_CHANGE_USER's upstream steps, run inline.

use super::*;

/// How a command run inline (COM_CHANGE_USER's steps) ended.
pub(super) enum Inline {
    /// OK, with its status flags.
    Ok(u16),
    /// The database's other answer (an ERR).
    Refused(Packet),
    Lost(SessionEnd),
}

impl Relay {
    /// The answer to a setting sent again after a reset: only sluice sees it. A refusal ends
    /// the session rather than letting it go on without the setting.
    pub(super) fn session_setting_packet(&mut self, p: &Packet) -> Option<SessionEnd> {
        self.tracker.on_packet(p);
        if let Err(e) = self.settings.answered(p.payload()) {
            return Some(self.setting_refused(&e));
        }
        if self.tracker.is_idle() {
            self.current = Statement::None;
            self.drain_local();
            self.send_mode_probe();
        }
        None
    }

    /// Ends the session over a setting the database refused; the client's next read says why.
    pub(super) fn setting_refused(
        &mut self,
        e: &crate::mysql::session_settings::SettingRefused,
    ) -> SessionEnd {
        tracing::error!(target = %self.ctx.target, user = %self.ctx.user, error = %e, "session ended");
        let msg = format!(
            "sluice: target \"{}\": {e}; the session ends",
            self.ctx.target
        );
        write_packets(
            &mut self.to_client,
            1,
            &err_payload(
                crate::mysql::packet::TARGET_LOST,
                crate::mysql::packet::CONNECTION_FAILURE,
                &msg,
            ),
        );
        self.to_upstream.extend_from_slice(&COM_QUIT);
        SessionEnd::UpstreamLost(e.to_string())
    }

    /// The identity's settings again, inline, after the reset that left `status`.
    pub(super) async fn settings_inline(
        &mut self,
        status: u16,
        upstream_rd: &mut UpstreamReader,
        upstream_wr: &mut UpstreamWriter,
    ) -> Option<SessionEnd> {
        let sets = self
            .settings
            .commands(crate::mysql::session_settings::no_backslash_escapes(status));
        for (index, step) in sets.iter().enumerate() {
            match self.inline(step, upstream_rd, upstream_wr).await {
                Inline::Ok(_) => {}
                Inline::Refused(p) => {
                    let e = self.settings.refused(index, p.payload());
                    return Some(self.setting_refused(&e));
                }
                Inline::Lost(end) => return Some(end),
            }
        }
        None
    }

    /// The database refused a step of COM_CHANGE_USER: the client gets its answer.
    pub(super) fn inline_refused(&mut self, p: &Packet) -> Option<SessionEnd> {
        let mut out = BytesMut::new();
        write_packets(&mut out, self.last_seq_to_client, p.payload());
        self.to_client.extend_from_slice(&out);
        None
    }

    /// Runs one command upstream while nothing else is in flight.
    pub(super) async fn inline(
        &mut self,
        payload: &[u8],
        upstream_rd: &mut UpstreamReader,
        upstream_wr: &mut UpstreamWriter,
    ) -> Inline {
        let mut out = BytesMut::new();
        write_packets(&mut out, 0, payload);
        if upstream_wr.write_all(&self.to_upstream).await.is_err()
            || upstream_wr.write_all(&out).await.is_err()
            || upstream_wr.flush().await.is_err()
        {
            return Inline::Lost(self.upstream_lost("writing to the database failed"));
        }
        self.to_upstream.clear();
        match upstream_rd.next().await {
            Some(Ok(p)) if p.first() == Some(0x00) => {
                let mut r = Reader(p.payload().get(1..).unwrap_or_default());
                let _ = (r.lenenc(), r.lenenc());
                Inline::Ok(r.u16().unwrap_or(0))
            }
            Some(Ok(p)) => Inline::Refused(p),
            _ => Inline::Lost(self.upstream_lost("the database closed the connection")),
        }
    }
}
