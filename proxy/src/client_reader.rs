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

/// How many frames a client may send ahead while its statement waits; beyond that sluice stops
/// reading it (back-pressure) until the wait ends.
const MAX_EARLY_FRAMES: usize = 256;

/// A client's frames, with those read ahead while a statement waited.
pub struct ClientReader<R, C: Decoder> {
    rd: FramedRead<R, C>,
    early: VecDeque<C::Item>,
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
        }
    }

    /// The next frame: one read ahead during a wait first, else from the connection.
    /// Cancel-safe, like the reader it wraps.
    pub async fn next(&mut self) -> Option<Result<C::Item, C::Error>> {
        match self.early.pop_front() {
            Some(frame) => Some(Ok(frame)),
            None => self.rd.next().await,
        }
    }

    /// A frame already here (read ahead, or whole in the read buffer), without waiting.
    pub fn ready(
        &mut self,
        decode: impl FnOnce(&mut FramedRead<R, C>) -> Option<C::Item>,
    ) -> Option<C::Item> {
        self.early.pop_front().or_else(|| decode(&mut self.rd))
    }

    /// Waits for `barrier` while watching the client. `says_goodbye` tells a frame that ends
    /// the session (Terminate, COM_QUIT). A client that is gone wins over a barrier that
    /// finishes at the same moment: its statement is then not run.
    pub async fn wait(
        &mut self,
        barrier: Barrier,
        says_goodbye: impl Fn(&C::Item) -> bool,
    ) -> Waited<C::Error> {
        let done = barrier.wait();
        tokio::pin!(done);
        loop {
            tokio::select! {
                biased;
                frame = self.rd.next(), if self.early.len() < MAX_EARLY_FRAMES => match frame {
                    None => return Waited::ClientEnded(None),
                    Some(Err(e)) => return Waited::ClientEnded(Some(e)),
                    Some(Ok(f)) if says_goodbye(&f) => return Waited::ClientEnded(None),
                    Some(Ok(f)) => self.early.push_back(f),
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
