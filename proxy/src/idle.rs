//! `[login] idle_timeout`: ends a session once no bytes have moved between the client, sluice
//! and the database for that long.
//!
//! Both of a session's streams are wrapped: every byte read or written on either marks the
//! session active, and the client side's reads (which a relay always has pending while it
//! waits for the next command) carry the timer. When it fires, the client read fails with
//! `TimedOut` and the relay ends the session as it does for any broken client connection, so
//! the end is logged and audited the same way. A statement that runs longer than the timeout
//! without sending anything is cut too: the timeout is for sessions left open, not for work.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use crate::tls::BoxStream;

/// When either stream of a session last moved a byte, in milliseconds since `start`.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn last(&self) -> Instant {
        self.start + Duration::from_millis(self.last_ms.load(Ordering::Relaxed))
    }
}

/// One of the session's streams; `timer` only on the client's.
struct Watched {
    inner: BoxStream,
    activity: Arc<Activity>,
    timer: Option<(Pin<Box<Sleep>>, Duration)>,
}

/// The client and upstream streams of a session, watched for `limit` of silence; unchanged
/// without one.
pub fn watch(
    client: BoxStream,
    upstream: BoxStream,
    limit: Option<Duration>,
) -> (BoxStream, BoxStream) {
    let Some(limit) = limit else {
        return (client, upstream);
    };
    let start = Instant::now();
    let activity = Arc::new(Activity {
        start,
        last_ms: AtomicU64::new(0),
    });
    let client = Watched {
        inner: client,
        activity: Arc::clone(&activity),
        timer: Some((Box::pin(tokio::time::sleep_until(start + limit)), limit)),
    };
    let upstream = Watched {
        inner: upstream,
        activity,
        timer: None,
    };
    (Box::new(client), Box::new(upstream))
}

impl Watched {
    /// Whether the session has been silent for its limit (arming the timer otherwise).
    fn expired(&mut self, cx: &mut Context<'_>) -> bool {
        let Some((timer, limit)) = &mut self.timer else {
            return false;
        };
        let deadline = self.activity.last() + *limit;
        if timer.deadline() != deadline {
            timer.as_mut().reset(deadline);
        }
        timer.as_mut().poll(cx).is_ready()
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(r) => {
                if buf.filled().len() > before {
                    self.activity.touch();
                }
                Poll::Ready(r)
            }
            Poll::Pending if self.expired(cx) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "session idle for longer than login.idle_timeout",
            ))),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    const LIMIT: Duration = Duration::from_millis(400);

    #[tokio::test]
    async fn a_silent_session_times_out_and_upstream_traffic_keeps_it_open() {
        let (client, _client_peer) = tokio::io::duplex(64);
        let (upstream, mut upstream_peer) = tokio::io::duplex(64);
        let (mut c, mut u) = watch(Box::new(client), Box::new(upstream), Some(LIMIT));
        let started = Instant::now();
        // A byte from the database at 300 ms moves the deadline to 700 ms.
        let traffic = async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            upstream_peer.write_all(b"x").await.unwrap();
            let mut one = [0u8; 1];
            u.read_exact(&mut one).await.unwrap();
        };
        let mut buf = [0u8; 8];
        let (read, ()) = tokio::join!(c.read(&mut buf), traffic);
        assert_eq!(read.unwrap_err().kind(), io::ErrorKind::TimedOut);
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(690), "{waited:?}");
    }

    #[tokio::test]
    async fn a_client_that_speaks_is_not_cut_and_no_limit_changes_nothing() {
        let (client, mut client_peer) = tokio::io::duplex(64);
        let (upstream, _up) = tokio::io::duplex(64);
        let (mut c, _u) = watch(Box::new(client), Box::new(upstream), Some(LIMIT));
        let mut buf = [0u8; 8];
        for _ in 0..4 {
            tokio::time::sleep(LIMIT / 2).await;
            client_peer.write_all(b"z").await.unwrap();
            assert_eq!(c.read(&mut buf).await.unwrap(), 1);
        }
        let (client, _peer) = tokio::io::duplex(64);
        let (upstream, _up) = tokio::io::duplex(64);
        let (mut c, _u) = watch(Box::new(client), Box::new(upstream), None);
        let read = tokio::time::timeout(LIMIT * 2, c.read(&mut buf)).await;
        assert!(read.is_err(), "without a limit the read just waits");
    }
}
