//! Framing of PostgreSQL protocol messages: a tag byte, a big-endian length that counts itself,
//! and a body. A [`Frame`] keeps the raw bytes of the whole message, so frames sluice does not
//! need to inspect are forwarded exactly as they arrived.

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio_util::codec::Decoder;

/// One protocol message, raw.
#[derive(Debug)]
pub struct Frame {
    /// The message type byte.
    pub tag: u8,
    /// The whole message: tag, length and body.
    pub bytes: BytesMut,
}

impl Frame {
    /// The body after the tag and length.
    pub fn body(&self) -> &[u8] {
        &self.bytes[5..]
    }
}

/// Why a peer's bytes are not a valid message stream.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("invalid message length {0}")]
    BadLength(u32),
    #[error("message of {len} bytes exceeds the limit of {limit} bytes")]
    TooLarge { len: u32, limit: u32 },
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Splits a byte stream into [`Frame`]s, refusing lengths over `max_len` before reading them, so
/// a claimed 1 GiB message costs nothing. Memory grows only as bytes actually arrive.
#[derive(Clone, Copy, Debug)]
pub struct FrameCodec {
    pub max_len: u32,
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = FrameError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        if src.len() < 5 {
            return Ok(None);
        }
        let len = u32::from_be_bytes([src[1], src[2], src[3], src[4]]);
        if len < 4 {
            return Err(FrameError::BadLength(len));
        }
        if len > self.max_len {
            return Err(FrameError::TooLarge {
                len,
                limit: self.max_len,
            });
        }
        let total = 1 + len as usize;
        if src.len() < total {
            // Ask for what is missing, but at most 1 MiB at a time: the length is only a claim.
            src.reserve((total - src.len()).min(1 << 20));
            return Ok(None);
        }
        let bytes = src.split_to(total);
        Ok(Some(Frame {
            tag: bytes[0],
            bytes,
        }))
    }
}

/// The longest startup packet accepted (PostgreSQL's own limit).
pub const MAX_STARTUP_LEN: u32 = 10_000;

/// Reads an untagged startup-phase packet (StartupMessage, SSLRequest, GSSENCRequest,
/// CancelRequest), returning its body after the length.
pub async fn read_startup_packet<R: AsyncRead + Unpin>(r: &mut R) -> Result<BytesMut, FrameError> {
    let len = r.read_u32().await?;
    if !(8..=MAX_STARTUP_LEN).contains(&len) {
        return Err(FrameError::BadLength(len));
    }
    let mut body = BytesMut::zeroed(len as usize - 4);
    r.read_exact(&mut body).await?;
    Ok(body)
}

/// A cursor over a message body with the protocol's primitive types.
pub struct Reader<'a>(pub &'a [u8]);

impl<'a> Reader<'a> {
    /// A NUL-terminated run of bytes, as they are: how names (statements, portals) are
    /// compared, so that no two names can be taken for one.
    pub fn cbytes(&mut self) -> Option<&'a [u8]> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let s = &self.0[..end];
        self.0 = &self.0[end + 1..];
        Some(s)
    }

    /// A NUL-terminated text in any client encoding: bytes that are no UTF-8 become U+FFFD,
    /// so a statement is always seen (the statement gate refuses what that could misread).
    pub fn text(&mut self) -> Option<std::borrow::Cow<'a, str>> {
        self.cbytes().map(String::from_utf8_lossy)
    }

    /// A NUL-terminated string.
    pub fn cstr(&mut self) -> Option<&'a str> {
        let end = self.0.iter().position(|&b| b == 0)?;
        let s = std::str::from_utf8(&self.0[..end]).ok()?;
        self.0 = &self.0[end + 1..];
        Some(s)
    }
    pub fn u32(&mut self) -> Option<u32> {
        (self.0.len() >= 4).then(|| self.0.get_u32())
    }
    pub fn i32(&mut self) -> Option<i32> {
        (self.0.len() >= 4).then(|| self.0.get_i32())
    }
    pub fn i16(&mut self) -> Option<i16> {
        (self.0.len() >= 2).then(|| self.0.get_i16())
    }
    pub fn bytes(&mut self, n: usize) -> Option<&'a [u8]> {
        (self.0.len() >= n).then(|| {
            let (head, tail) = self.0.split_at(n);
            self.0 = tail;
            head
        })
    }
    pub fn rest(&self) -> &'a [u8] {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn codec() -> FrameCodec {
        FrameCodec { max_len: 1 << 20 }
    }

    #[test]
    fn splits_whole_frames_and_waits_for_partial_ones() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x0bSELECT\0S\0\0"[..]);
        let f = codec().decode(&mut buf).unwrap().unwrap();
        assert_eq!(f.tag, b'Q');
        assert_eq!(f.body(), b"SELECT\0");
        assert!(codec().decode(&mut buf).unwrap().is_none());
        buf.extend_from_slice(b"\0\x04");
        assert_eq!(codec().decode(&mut buf).unwrap().unwrap().tag, b'S');
        assert!(buf.is_empty());
    }

    #[test]
    fn a_huge_claimed_length_is_refused_without_allocating_it() {
        let mut buf = BytesMut::from(&b"Q\x40\0\0\0"[..]);
        let err = codec().decode(&mut buf).unwrap_err();
        assert!(matches!(
            err,
            FrameError::TooLarge {
                len: 0x4000_0000,
                ..
            }
        ));
        assert!(buf.capacity() < 1 << 20);
    }

    #[test]
    fn a_length_below_four_is_invalid() {
        let mut buf = BytesMut::from(&b"Q\0\0\0\x02"[..]);
        assert!(matches!(
            codec().decode(&mut buf),
            Err(FrameError::BadLength(2))
        ));
    }

    #[test]
    fn reader_reads_primitives_and_stops_at_the_end() {
        let mut r = Reader(b"ab\0\0\0\0\x07\xff");
        assert_eq!(r.cstr(), Some("ab"));
        assert_eq!(r.u32(), Some(7));
        assert_eq!(r.u32(), None);
        assert_eq!(r.cstr(), None);
    }
}
