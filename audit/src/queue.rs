//! The submission queue between the submitters and the writer thread.
//!
//! A bounded channel would do, but it wakes the writer for every record. Most records need no
//! wake: the writer already holds an open batch whose deadline comes first (an async batch, or
//! a sync statement's trailing result), so the record is taken with that batch. Waking the
//! writer for it cost two context switches per statement, and the submitter's thread paid a
//! `futex` call and lock contention on the way to sending the client its answer. This queue
//! lets the writer wait *lazily*, with a deadline no later than the oldest waiting record's
//! due time: then only a message it must act on now wakes it (a record written at once in
//! sync mode, a flush, a prune, a close), and every other message is taken at the deadline.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Instant;

use crate::writer::Msg;

struct State {
    items: VecDeque<Msg>,
    /// The writer is blocked in [`Queue::take`].
    writer_waiting: bool,
    /// A sender woke the writer (a condvar may also wake spuriously).
    woken: bool,
    /// The writer's wait is lazy: its deadline is soon enough for any record, so only an
    /// urgent message wakes it.
    lazy: bool,
    /// Submitters blocked on a full queue.
    senders_waiting: usize,
    /// The writer has stopped: nothing sent now would be taken.
    receiver_gone: bool,
}

/// The writer has stopped taking messages.
#[derive(Debug)]
pub(crate) struct Stopped;

/// How long [`Queue::take`] may block while the queue is empty.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Wait {
    /// Not at all.
    No,
    /// Until a message arrives.
    Forever,
    /// Until this instant, or until a message that wakes (see [`Queue::send`]) arrives.
    Until(Instant),
}

/// The queue: bounded, first in first out, shared by every submitter and the one writer.
pub(crate) struct Queue {
    state: Mutex<State>,
    /// The writer waits here for messages.
    ready: Condvar,
    /// Submitters wait here while the queue is full.
    room: Condvar,
    cap: usize,
}

impl Queue {
    pub(crate) fn new(cap: usize) -> Queue {
        Queue {
            state: Mutex::new(State {
                items: VecDeque::new(),
                writer_waiting: false,
                woken: false,
                lazy: false,
                senders_waiting: 0,
                receiver_gone: false,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
            cap: cap.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues `msg`, blocking while the queue is full (back-pressure, never drops). `urgent`
    /// says the writer must act on it now (a record written at once in sync mode, or a
    /// control message); anything else wakes the writer only when its wait is not lazy.
    /// `Err` when the writer has stopped: the message was not queued.
    pub(crate) fn send(&self, msg: Msg, urgent: bool) -> Result<(), Stopped> {
        let mut s = self.lock();
        while s.items.len() >= self.cap && !s.receiver_gone {
            if s.writer_waiting {
                // A batch's deadline must not keep a full queue waiting.
                s.woken = true;
                self.ready.notify_one();
            }
            s.senders_waiting += 1;
            s = self.room.wait(s).unwrap_or_else(|p| p.into_inner());
            s.senders_waiting -= 1;
        }
        if s.receiver_gone {
            return Err(Stopped);
        }
        s.items.push_back(msg);
        let wake = s.writer_waiting && (urgent || !s.lazy);
        s.woken |= wake;
        drop(s);
        if wake {
            self.ready.notify_one();
        }
        Ok(())
    }

    /// Moves up to `max` queued messages into `out`, in order. Blocks per `wait` only when
    /// the queue is empty. With `lazy`, only urgent messages wake it before a
    /// [`Wait::Until`] deadline (see [`Queue::send`]); the caller makes sure that deadline is
    /// soon enough for whatever arrives meanwhile.
    pub(crate) fn take(&self, wait: Wait, lazy: bool, max: usize, out: &mut Vec<Msg>) {
        let mut s = self.lock();
        s.lazy = lazy && matches!(wait, Wait::Until(_));
        s.woken = false;
        if s.items.is_empty() {
            s.writer_waiting = true;
            match wait {
                Wait::No => {}
                Wait::Forever => {
                    while s.items.is_empty() {
                        s = self.ready.wait(s).unwrap_or_else(|p| p.into_inner());
                    }
                }
                // Records that need no wake gather meanwhile; only a wake or the deadline
                // ends the wait (not a spurious return of the condvar).
                Wait::Until(t) => {
                    while !s.woken {
                        match t.checked_duration_since(Instant::now()) {
                            Some(d) if !d.is_zero() => {
                                s = self
                                    .ready
                                    .wait_timeout(s, d)
                                    .unwrap_or_else(|p| p.into_inner())
                                    .0;
                            }
                            _ => break,
                        }
                    }
                }
            }
            s.writer_waiting = false;
        }
        let n = s.items.len().min(max);
        out.extend(s.items.drain(..n));
        let room = n > 0 && s.senders_waiting > 0;
        drop(s);
        if room {
            self.room.notify_all();
        }
    }

    /// The writer stops: later sends fail, and blocked submitters are released with an error.
    /// Returns what was still queued.
    pub(crate) fn close_receiver(&self) -> Vec<Msg> {
        let mut s = self.lock();
        s.receiver_gone = true;
        let rest = s.items.drain(..).collect();
        drop(s);
        self.room.notify_all();
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{Draft, RecordBody};
    use std::sync::Arc;
    use std::time::Duration;

    fn record() -> Msg {
        let d = Draft::new(1, "t", "u", RecordBody::SessionEnd { reason: "x".into() });
        Msg::Record(d, None, false)
    }

    /// How long the writer, waiting (lazily or not) for 400 ms, stays asleep after a message
    /// sent with `urgent`.
    fn woken_after(lazy: bool, urgent: bool) -> Duration {
        let q = Arc::new(Queue::new(8));
        let q2 = q.clone();
        let started = Instant::now();
        let writer = std::thread::spawn(move || {
            let mut out = Vec::new();
            let wait = Wait::Until(Instant::now() + Duration::from_millis(400));
            q2.take(wait, lazy, 8, &mut out);
            out.len()
        });
        // Let the writer block first.
        while !q.lock().writer_waiting {
            std::thread::yield_now();
        }
        q.send(record(), urgent)
            .unwrap_or_else(|_| panic!("closed"));
        assert_eq!(writer.join().unwrap(), 1);
        started.elapsed()
    }

    #[test]
    fn only_a_message_the_writer_must_act_on_ends_a_lazy_wait() {
        assert!(woken_after(true, true) < Duration::from_millis(300));
        assert!(woken_after(false, false) < Duration::from_millis(300));
        assert!(woken_after(true, false) >= Duration::from_millis(400));
    }

    #[test]
    fn a_full_queue_blocks_the_sender_until_the_writer_takes() {
        let q = Arc::new(Queue::new(2));
        q.send(record(), false).unwrap_or_else(|_| panic!("closed"));
        q.send(record(), false).unwrap_or_else(|_| panic!("closed"));
        let q2 = q.clone();
        let sender = std::thread::spawn(move || q2.send(record(), false).is_ok());
        while q.lock().senders_waiting == 0 {
            std::thread::yield_now();
        }
        let mut out = Vec::new();
        q.take(Wait::No, false, 1, &mut out);
        assert!(sender.join().unwrap());
        q.take(Wait::No, false, 8, &mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn after_the_writer_stops_sends_fail_and_blocked_senders_are_released() {
        let q = Arc::new(Queue::new(1));
        q.send(record(), false).unwrap_or_else(|_| panic!("closed"));
        let q2 = q.clone();
        let sender = std::thread::spawn(move || q2.send(record(), false).is_err());
        while q.lock().senders_waiting == 0 {
            std::thread::yield_now();
        }
        assert_eq!(q.close_receiver().len(), 1);
        assert!(sender.join().unwrap());
        assert!(q.send(record(), true).is_err());
    }
}
