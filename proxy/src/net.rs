//! Socket plumbing both protocol adapters share: the accept loop of a target's listener, and the
//! cancel-safe write steps of the relay loops.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::task::TaskTracker;

/// Accepts connections until `shutdown` turns true, spawning `handle` for each on `tracker`.
pub async fn accept_loop<F, Fut>(
    listener: TcpListener,
    target: &str,
    shutdown: watch::Receiver<bool>,
    stop: watch::Receiver<bool>,
    tracker: TaskTracker,
    mut handle: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let (mut shutdown, mut stop) = (shutdown, stop);
    loop {
        tokio::select! {
            // Stop first: no connection is accepted once shutdown (or this listener's removal)
            // has begun.
            biased;
            _ = async { let _ = shutdown.wait_for(|s| *s).await; } => break,
            _ = async { let _ = stop.wait_for(|s| *s).await; } => break,
            accepted = listener.accept() => match accepted {
                Ok((tcp, peer)) => {
                    let _ = tcp.set_nodelay(true);
                    tracker.spawn(handle(tcp, peer));
                }
                Err(e) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::error!(%target, error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Writes some of `pending`, or flushes when nothing is pending. Cancel-safe: a write that did
/// not complete wrote nothing, and a flush can be resumed.
pub async fn pump<W: AsyncWrite + Unpin>(
    w: &mut W,
    pending: &[u8],
) -> std::io::Result<Option<usize>> {
    if pending.is_empty() {
        w.flush().await.map(|()| None)
    } else {
        w.write(pending).await.map(Some)
    }
}

/// Delivers what is owed to a peer, then closes its side.
pub async fn close<W: AsyncWrite + Unpin>(w: &mut W, pending: &[u8]) {
    if w.write_all(pending).await.is_ok() && w.flush().await.is_ok() {
        let _ = w.shutdown().await;
    }
}
