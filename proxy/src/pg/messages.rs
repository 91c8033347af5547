//! The few backend and frontend messages sluice writes itself. Everything else is relayed raw.

use bytes::{BufMut, BytesMut};

use super::frame::Reader;

/// Protocol 3.0 as a startup-packet code.
pub const PROTOCOL_3_0: u32 = 196_608;
pub const SSL_REQUEST: u32 = 80_877_103;
pub const GSSENC_REQUEST: u32 = 80_877_104;
pub const CANCEL_REQUEST: u32 = 80_877_102;

/// Starts a tagged message; [`finish`] fills in the length.
fn begin(buf: &mut BytesMut, tag: u8) -> usize {
    buf.put_u8(tag);
    let at = buf.len();
    buf.put_u32(0);
    at
}

fn finish(buf: &mut BytesMut, at: usize) {
    let len = (buf.len() - at) as u32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}

fn put_cstr(buf: &mut BytesMut, s: &str) {
    buf.put_slice(s.as_bytes());
    buf.put_u8(0);
}

/// Severity of an [`error_response`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Severity {
    Error,
    Fatal,
}

impl Severity {
    fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "ERROR",
            Severity::Fatal => "FATAL",
        }
    }
}

/// ErrorResponse with severity, SQLSTATE and message.
pub fn error_response(buf: &mut BytesMut, severity: Severity, code: &str, message: &str) {
    let at = begin(buf, b'E');
    for (field, value) in [
        (b'S', severity.as_str()),
        (b'V', severity.as_str()),
        (b'C', code),
        (b'M', message),
    ] {
        buf.put_u8(field);
        put_cstr(buf, value);
    }
    buf.put_u8(0);
    finish(buf, at);
}

/// Authentication request with `code` and payload (0 Ok, 10 SASL, 11 continue, 12 final).
pub fn authentication(buf: &mut BytesMut, code: u32, payload: &[u8]) {
    let at = begin(buf, b'R');
    buf.put_u32(code);
    buf.put_slice(payload);
    finish(buf, at);
}

/// AuthenticationSASL listing `mechanisms`.
pub fn authentication_sasl(buf: &mut BytesMut, mechanisms: &[&str]) {
    let mut payload = BytesMut::new();
    for m in mechanisms {
        put_cstr(&mut payload, m);
    }
    payload.put_u8(0);
    authentication(buf, 10, &payload);
}

pub fn backend_key_data(buf: &mut BytesMut, pid: u32, secret: u32) {
    let at = begin(buf, b'K');
    buf.put_u32(pid);
    buf.put_u32(secret);
    finish(buf, at);
}

/// NegotiateProtocolVersion: the newest minor version sluice speaks and the options it ignored.
pub fn negotiate_protocol_version(buf: &mut BytesMut, minor: u32, unrecognized: &[&str]) {
    let at = begin(buf, b'v');
    buf.put_u32(minor);
    buf.put_u32(unrecognized.len() as u32);
    for o in unrecognized {
        put_cstr(buf, o);
    }
    finish(buf, at);
}

/// StartupMessage for protocol 3.0 (untagged).
pub fn startup_message(buf: &mut BytesMut, params: &[(String, String)]) {
    let at = buf.len();
    buf.put_u32(0);
    buf.put_u32(PROTOCOL_3_0);
    for (k, v) in params {
        put_cstr(buf, k);
        put_cstr(buf, v);
    }
    buf.put_u8(0);
    finish(buf, at);
}

/// A 16-byte CancelRequest (untagged).
pub fn cancel_request(pid: u32, secret: u32) -> [u8; 16] {
    let mut out = [0u8; 16];
    out[..4].copy_from_slice(&16u32.to_be_bytes());
    out[4..8].copy_from_slice(&CANCEL_REQUEST.to_be_bytes());
    out[8..12].copy_from_slice(&pid.to_be_bytes());
    out[12..].copy_from_slice(&secret.to_be_bytes());
    out
}

/// PasswordMessage / SASLResponse: tag `p` with raw payload.
pub fn password_message(buf: &mut BytesMut, payload: &[u8]) {
    let at = begin(buf, b'p');
    buf.put_slice(payload);
    finish(buf, at);
}

/// SASLInitialResponse.
pub fn sasl_initial_response(buf: &mut BytesMut, mechanism: &str, data: &[u8]) {
    let at = begin(buf, b'p');
    put_cstr(buf, mechanism);
    buf.put_i32(data.len() as i32);
    buf.put_slice(data);
    finish(buf, at);
}

/// Terminate.
pub const TERMINATE: [u8; 5] = [b'X', 0, 0, 0, 4];

/// A NotificationResponse rebuilt with `payload` in place of its own (same pid and channel).
pub fn notification_with_payload(buf: &mut BytesMut, body: &[u8], payload: &str) {
    let mut r = super::frame::Reader(body);
    let (pid, channel) = (
        r.bytes(4).unwrap_or(&[0; 4]),
        r.cbytes().unwrap_or_default(),
    );
    let at = begin(buf, b'A');
    buf.put_slice(pid);
    buf.put_slice(channel);
    buf.put_u8(0);
    put_cstr(buf, payload);
    finish(buf, at);
}

/// An ErrorResponse or NoticeResponse (`tag`) rebuilt with `message` in place of its own, and
/// without the fields that quote data (detail, hint, context, internal query); severity, code,
/// position and the names of schema, table, column, type and constraint are kept.
pub fn withheld_diagnostic(buf: &mut BytesMut, tag: u8, body: &[u8], message: &str) {
    let at = begin(buf, tag);
    let mut r = super::frame::Reader(body);
    while let Some(field) = r.bytes(1) {
        let field = field[0];
        if field == 0 {
            break;
        }
        let Some(value) = r.cbytes() else { break };
        match field {
            b'M' => {
                buf.put_u8(b'M');
                put_cstr(buf, message);
            }
            b'D' | b'H' | b'W' | b'q' | b'p' => {}
            other => {
                buf.put_u8(other);
                buf.put_slice(value);
                buf.put_u8(0);
            }
        }
    }
    buf.put_u8(0);
    finish(buf, at);
}

/// Parses the fields of an ErrorResponse/NoticeResponse body into (code, message).
pub fn parse_error_fields(body: &[u8]) -> (String, String) {
    let (mut code, mut message) = (String::new(), String::new());
    let mut r = Reader(body);
    while let Some(field) = r.bytes(1) {
        if field[0] == 0 {
            break;
        }
        let Some(value) = r.cstr() else { break };
        match field[0] {
            b'C' => code = value.to_string(),
            b'M' => message = value.to_string(),
            _ => {}
        }
    }
    (code, message)
}

/// The fields of a DataRow body (`None` for NULL). Room is reserved for no more fields than
/// the body can hold (each takes at least its 4-byte length), whatever count it claims; the
/// fields end where the body does.
pub fn data_row_fields(body: &[u8]) -> crate::session::RowFields {
    let mut r = super::frame::Reader(body);
    let count = r.i16().unwrap_or(0).max(0) as usize;
    let mut fields = Vec::with_capacity(count.min(r.0.len() / 4));
    for _ in 0..count {
        let Some(len) = r.i32() else { break };
        let value = usize::try_from(len)
            .ok()
            .and_then(|n| r.bytes(n))
            .map(<[u8]>::to_vec);
        fields.push(value);
    }
    fields
}

/// The columns of a RowDescription body. Origins are as the wire says (table OID and attribute
/// number); the catalog resolves them to names.
pub fn row_description(body: &[u8]) -> Vec<crate::session::ColumnDesc> {
    use crate::session::{ColumnDesc, ColumnOrigin};
    let mut r = super::frame::Reader(body);
    let count = r.i16().unwrap_or(0).max(0) as usize;
    // A column takes at least 19 bytes (an empty name's NUL and 18 bytes of numbers).
    let mut columns = Vec::with_capacity(count.min(r.0.len() / 19));
    for _ in 0..count {
        let (Some(name), Some(table_oid), Some(attnum), Some(type_oid)) =
            (r.cstr(), r.u32(), r.i16(), r.u32())
        else {
            break;
        };
        let (_typlen, typmod, format) = (r.i16(), r.i32(), r.i16().unwrap_or(0));
        let origin = match (table_oid, attnum) {
            (0, _) | (_, 0) => ColumnOrigin::Unknown,
            (table_oid, attnum) => ColumnOrigin::PgAttribute { table_oid, attnum },
        };
        columns.push(ColumnDesc {
            name: name.to_string(),
            origin,
            type_code: type_oid,
            type_name: masking::pg_type_name(type_oid),
            binary: format == 1,
            // The type modifier declares varchar(n)/char(n)/numeric(p,s): masks fit it.
            value_type: masking::ColumnType::pg(type_oid, format == 1)
                .with_pg_typmod(typmod.unwrap_or(-1)),
        });
    }
    columns
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_data_row_claiming_more_fields_than_its_bytes_reserves_no_room_for_them() {
        // 32,767 fields claimed, two present: a NULL and "ab".
        let mut body = 32_767i16.to_be_bytes().to_vec();
        body.extend_from_slice(&(-1i32).to_be_bytes());
        body.extend_from_slice(&2i32.to_be_bytes());
        body.extend_from_slice(b"ab");
        let fields = super::data_row_fields(&body);
        assert_eq!(fields, vec![None, Some(b"ab".to_vec())]);
        assert!(
            fields.capacity() <= (body.len() - 2) / 4,
            "{}",
            fields.capacity()
        );
        let empty = super::data_row_fields(&32_767i16.to_be_bytes());
        assert!(empty.is_empty() && empty.capacity() == 0);
        let columns = super::row_description(&32_767i16.to_be_bytes());
        assert!(columns.is_empty() && columns.capacity() == 0);
    }

    use super::*;

    #[test]
    fn an_error_response_round_trips() {
        let mut buf = BytesMut::new();
        error_response(
            &mut buf,
            Severity::Fatal,
            "28P01",
            "password authentication failed",
        );
        assert_eq!(buf[0], b'E');
        assert_eq!(
            u32::from_be_bytes([buf[1], buf[2], buf[3], buf[4]]) as usize,
            buf.len() - 1
        );
        let (code, message) = parse_error_fields(&buf[5..]);
        assert_eq!(
            (code.as_str(), message.as_str()),
            ("28P01", "password authentication failed")
        );
    }

    #[test]
    fn a_startup_message_counts_its_own_length() {
        let mut buf = BytesMut::new();
        startup_message(&mut buf, &[("user".into(), "u".into())]);
        assert_eq!(
            u32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]) as usize,
            buf.len()
        );
        assert_eq!(&buf[8..], b"user\0u\0\0");
    }
}
