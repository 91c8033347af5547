//! The client side of a relay: its frames, and what it does while a statement waits.
//!
//! A statement held for an approver (or for its audit record to be durable) waits before it is
//! forwarded. The client may go away meanwhile: a closed connection, a Terminate or COM_QUIT,
//! broken bytes. A statement whose requester is gone must not run when the approval arrives
//! later (nobody would get its answer, and nobody could undo it), so the relay keeps reading the
//! client while it waits. Frames that arrive in that time (a pipelined client's next messages)
//! are kept, in order, and handed out before anything read later.

use std::collections::VecDeque;

use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio_util::codec::{Decoder, FramedRead};

use crate::session::{Barrier, SessionHooks};

/// How much a client may send ahead while its statement waits (an approval may take minutes):
/// beyond that sluice stops reading it (back-pressure) until the wait ends, as it does when the
/// database is slow to take what the client sends.
const MAX_EARLY_BYTES: usize = 256 * 1024;

/// A client's frames, with those read ahead while a statement waited.
pub struct ClientReader<R, C: Decoder> {
    rd: FramedRead<R, C>,
    /// Frames read during a wait, with their sizes.
    early: VecDeque<(C::Item, usize)>,
    /// The bytes of the frames in `early`.
    early_bytes: usize,
}

/// How a wait ended.
pub enum Waited<E> {
    /// The barrier finished: the statement runs, or is refused with this message.
    Done(Option<String>),
    /// The client closed its connection or said goodbye (`None`), or broke the protocol.
    ClientEnded(Option<E>),
}

impl<R: AsyncRead + Unpin, C: Decoder> ClientReader<R, C> {
    pub fn new(rd: FramedRead<R, C>) -> Self {
        Self {
            rd,
            early: VecDeque::new(),
            early_bytes: 0,
        }
    }

    /// The next frame: one read ahead during a wait first, else from the connection.
    /// Cancel-safe, like the reader it wraps.
    pub async fn next(&mut self) -> Option<Result<C::Item, C::Error>> {
        match self.pop_early() {
            Some(frame) => Some(Ok(frame)),
            None => self.rd.next().await,
        }
    }

    fn pop_early(&mut self) -> Option<C::Item> {
        let (frame, n) = self.early.pop_front()?;
        self.early_bytes = self.early_bytes.saturating_sub(n);
        Some(frame)
    }

    /// A frame already here (read ahead, or whole in the read buffer), without waiting.
    pub fn ready(
        &mut self,
        decode: impl FnOnce(&mut FramedRead<R, C>) -> Option<C::Item>,
    ) -> Option<C::Item> {
        self.pop_early().or_else(|| decode(&mut self.rd))
    }

    /// Waits for `barrier` while watching the client. `says_goodbye` tells a frame that ends
    /// the session (Terminate, COM_QUIT), `size` how many bytes a frame holds. A client that
    /// is gone wins over a barrier that finishes at the same moment: its statement is then not
    /// run.
    pub async fn wait(
        &mut self,
        barrier: Barrier,
        says_goodbye: impl Fn(&C::Item) -> bool,
        size: impl Fn(&C::Item) -> usize,
    ) -> Waited<C::Error> {
        let done = barrier.wait();
        tokio::pin!(done);
        loop {
            tokio::select! {
                biased;
                frame = self.rd.next(), if self.early_bytes < MAX_EARLY_BYTES => match frame {
                    None => return Waited::ClientEnded(None),
                    Some(Err(e)) => return Waited::ClientEnded(Some(e)),
                    Some(Ok(f)) if says_goodbye(&f) => return Waited::ClientEnded(None),
                    Some(Ok(f)) => {
                        let n = size(&f);
                        self.early_bytes += n;
                        self.early.push_back((f, n));
                    }
                },
                result = &mut done => return Waited::Done(result.err()),
            }
        }
    }
}

/// The client went away while its statement waited: what the session holds for an approver is
/// withdrawn, so the approver sees it withdrawn and a later approval runs nothing.
pub async fn withdraw_hold(hooks: &mut dyn SessionHooks) {
    if let Some(withdrawal) = hooks.withdraw_hold() {
        // Its failure is logged where it happens; the statement is not run either way.
        let _ = withdrawal.wait().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use tokio::io::AsyncWriteExt;
    use tokio_util::codec::BytesCodec;

    /// A client that keeps sending while its statement waits is read only up to a bound (then
    /// it is back-pressured, as when the database is slow), and what was read comes out after
    /// the wait, in order. A client that hangs up during the wait ends it.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_wait_reads_ahead_a_bounded_amount_and_notices_a_hang_up() {
        let (mut client, ours) = tokio::io::duplex(64 * 1024);
        let mut reader = ClientReader::new(FramedRead::new(ours, BytesCodec::new()));
        let (release, released) = std::sync::mpsc::channel::<()>();
        let barrier = Barrier::Blocking(Box::new(move || {
            let _ = released.recv();
            Ok(())
        }));
        let sent = 4 * MAX_EARLY_BYTES;
        let writer = tokio::spawn(async move {
            let chunk = vec![7u8; 16 * 1024];
            for _ in 0..sent / chunk.len() {
                client.write_all(&chunk).await.unwrap();
            }
            client
        });
        let waiting = tokio::spawn(async move {
            let waited = reader.wait(barrier, |_| false, |b| b.len()).await;
            (matches!(waited, Waited::Done(None)), reader)
        });
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(!writer.is_finished(), "the client is back-pressured");
        release.send(()).unwrap();
        let (done, mut reader) = waiting.await.unwrap();
        assert!(done);
        assert!(reader.early_bytes <= MAX_EARLY_BYTES + 64 * 1024 + 8 * 1024);
        let mut got = 0;
        while got < sent {
            got += reader.next().await.unwrap().unwrap().len();
        }
        assert_eq!(got, sent);
        // Now a wait that never ends but for the client hanging up.
        let client = writer.await.unwrap();
        let (_never, never_released) = std::sync::mpsc::channel::<()>();
        let barrier = Barrier::Blocking(Box::new(move || {
            let _ = never_released.recv_timeout(Duration::from_secs(30));
            Ok(())
        }));
        drop(client);
        let waited = tokio::time::timeout(
            Duration::from_secs(5),
            reader.wait(barrier, |_| false, |b| b.len()),
        )
        .await
        .expect("the hang-up ends the wait");
        assert!(matches!(waited, Waited::ClientEnded(None)));
    }
}
