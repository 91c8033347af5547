//! MySQL packets: a 3-byte little-endian payload length, a sequence id, and the payload.
//! Payloads of 16 MiB - 1 bytes or more are split into several physical packets; [`Packet`] is one
//! physical packet, kept raw so it can be forwarded untouched.

use bytes::{BufMut, BytesMut};
use tokio_util::codec::Decoder;

/// The largest payload of one physical packet; a payload this long continues in the next one.
#[cfg(not(fuzzing))]
pub const MAX_PAYLOAD: usize = 0xFF_FFFF;
/// Under the fuzzer (`--cfg fuzzing`), split packets must be reachable by small inputs.
#[cfg(fuzzing)]
pub const MAX_PAYLOAD: usize = 0xFF;

/// The ERR code for "the target's database cannot be reached": MariaDB's
/// `ER_CONNECT_TO_FOREIGN_DATA_SOURCE`. Codes 2000–2999 are the client library's own, and
/// libmariadb reads a server ERR carrying one as a malformed packet (2027), hiding the message.
pub const TARGET_UNAVAILABLE: u16 = 1429;
/// The ERR code for "the connection to the target's database was lost" mid-session:
/// `ER_CONNECTION_KILLED`, for the same reason.
pub const TARGET_LOST: u16 = 1927;
/// The SQLSTATE sent with both: a connection failure.
pub const CONNECTION_FAILURE: &str = "08S01";

/// One physical packet, raw.
#[derive(Debug)]
pub struct Packet {
    pub seq: u8,
    /// Header and payload.
    pub bytes: BytesMut,
}

impl Packet {
    pub fn payload(&self) -> &[u8] {
        &self.bytes[4..]
    }
    /// Whether the logical packet continues in the next physical one.
    pub fn continues(&self) -> bool {
        self.bytes.len() - 4 == MAX_PAYLOAD
    }
    /// The first payload byte (command, or response type), if any.
    pub fn first(&self) -> Option<u8> {
        self.bytes.get(4).copied()
    }
}

/// Splits a byte stream into physical [`Packet`]s. Memory grows only as bytes arrive.
#[derive(Clone, Copy, Debug, Default)]
pub struct PacketCodec;

impl Decoder for PacketCodec {
    type Item = Packet;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Packet>, std::io::Error> {
        if src.len() < 4 {
            return Ok(None);
        }
        let len = usize::from(src[0]) | usize::from(src[1]) << 8 | usize::from(src[2]) << 16;
        let total = 4 + len;
        if src.len() < total {
            src.reserve((total - src.len()).min(1 << 20));
            return Ok(None);
        }
        let bytes = src.split_to(total);
        Ok(Some(Packet {
            seq: bytes[3],
            bytes,
        }))
    }
}

/// Appends `payload` as one or more physical packets starting at `seq`; returns the next seq.
pub fn write_packets(out: &mut BytesMut, mut seq: u8, payload: &[u8]) -> u8 {
    let mut chunks = payload.chunks(MAX_PAYLOAD).peekable();
    if chunks.peek().is_none() {
        put_header(out, 0, seq);
        return seq.wrapping_add(1);
    }
    let mut last_len = 0;
    for chunk in chunks {
        put_header(out, chunk.len(), seq);
        out.put_slice(chunk);
        seq = seq.wrapping_add(1);
        last_len = chunk.len();
    }
    if last_len == MAX_PAYLOAD {
        // A payload that is an exact multiple of the maximum ends with an empty packet.
        put_header(out, 0, seq);
        seq = seq.wrapping_add(1);
    }
    seq
}

fn put_header(out: &mut BytesMut, len: usize, seq: u8) {
    out.put_slice(&(len as u32).to_le_bytes()[..3]);
    out.put_u8(seq);
}

/// An ERR packet payload: 0xFF, code, `#` + SQLSTATE, message.
pub fn err_payload(code: u16, sqlstate: &str, message: &str) -> Vec<u8> {
    let mut p = Vec::with_capacity(9 + message.len());
    p.push(0xFF);
    p.extend_from_slice(&code.to_le_bytes());
    p.push(b'#');
    p.extend_from_slice(&sqlstate.as_bytes()[..5.min(sqlstate.len())]);
    p.extend_from_slice(message.as_bytes());
    p
}

/// An OK packet payload with no rows affected and `status` flags.
pub fn ok_payload(status: u16) -> Vec<u8> {
    let mut p = vec![0x00, 0, 0];
    p.extend_from_slice(&status.to_le_bytes());
    p.extend_from_slice(&[0, 0]);
    p
}

/// A cursor over a payload with the protocol's primitive types.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    pub fn u8(&mut self) -> Option<u8> {
        let (&b, rest) = self.0.split_first()?;
        self.0 = rest;
        Some(b)
    }
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then(|| {
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            head
        })
    }
    pub fn u16(&mut self) -> Option<u16> {
        self.bytes(2).map(|b| u16::from_le_bytes([b[0], b[1]]))
    }
    pub fn u32(&mut self) -> Option<u32> {
        self.bytes(4)
            .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    /// A length-encoded integer; `None` for the NULL marker 0xFB and on truncation.
    pub fn lenenc(&mut self) -> Option<u64> {
        match self.u8()? {
            n @ 0..=0xFA => Some(u64::from(n)),
            0xFC => self.u16().map(u64::from),
            0xFD => self
                .bytes(3)
                .map(|b| u64::from(b[0]) | u64::from(b[1]) << 8 | u64::from(b[2]) << 16),
            0xFE => self
                .bytes(8)
                .map(|b| u64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])),
            _ => None,
        }
    }
    pub fn lenenc_bytes(&mut self) -> Option<&'a [u8]> {
        let n = usize::try_from(self.lenenc()?).ok()?;
        self.bytes(n)
    }
    /// NUL-terminated bytes.
    pub fn cstr(&mut self) -> Option<&'a [u8]> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let s = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Some(s)
    }
    pub fn rest(&self) -> &'a [u8] {
        self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Appends a length-encoded integer.
pub fn put_lenenc(out: &mut Vec<u8>, n: u64) {
    match n {
        0..=0xFA => out.push(n as u8),
        0xFB..=0xFFFF => {
            out.push(0xFC);
            out.extend_from_slice(&(n as u16).to_le_bytes());
        }
        0x1_0000..=0xFF_FFFF => {
            out.push(0xFD);
            out.extend_from_slice(&(n as u32).to_le_bytes()[..3]);
        }
        _ => {
            out.push(0xFE);
            out.extend_from_slice(&n.to_le_bytes());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_large_payload_splits_and_ends_with_an_empty_packet_when_exact() {
        let mut out = BytesMut::new();
        let next = write_packets(&mut out, 3, &vec![7u8; MAX_PAYLOAD]);
        assert_eq!(next, 5);
        let mut codec = PacketCodec;
        let first = codec.decode(&mut out).unwrap().unwrap();
        assert!(first.continues());
        assert_eq!(first.seq, 3);
        let last = codec.decode(&mut out).unwrap().unwrap();
        assert_eq!((last.seq, last.payload().len()), (4, 0));
    }

    #[test]
    fn lenenc_round_trips() {
        for n in [
            0u64,
            250,
            251,
            65_535,
            65_536,
            16_777_215,
            16_777_216,
            u64::MAX,
        ] {
            let mut buf = Vec::new();
            put_lenenc(&mut buf, n);
            assert_eq!(Reader(&buf).lenenc(), Some(n), "{n}");
        }
        assert_eq!(Reader(&[0xFB]).lenenc(), None);
        assert_eq!(Reader(&[0xFC, 1]).lenenc(), None);
    }

    #[test]
    fn an_err_payload_has_the_sql_state_marker() {
        let p = err_payload(1045, "28000", "Access denied");
        assert_eq!(&p[..4], &[0xFF, 0x15, 0x04, b'#']);
        assert_eq!(&p[4..9], b"28000");
    }
}
