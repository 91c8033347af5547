//! A session's way in, step by step, for the `debug` event of target `sluice::login`: when a
//! login is slow or fails, it says where the time went (waiting for a runtime thread after the
//! accept, the client's login, each step of the upstream login). Off unless that target is
//! enabled at `debug`; marking a step is then one clock read and a short vector push.

use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

tokio::task_local! {
    static CLOCK: LoginClock;
}

/// The clock of one connection, from its accept. Cloning shares it.
#[derive(Clone)]
pub struct LoginClock {
    accepted: Instant,
    steps: Arc<Mutex<Vec<(&'static str, Duration)>>>,
}

impl LoginClock {
    /// A clock started at `accepted`, or `None` when nobody listens to `sluice::login`.
    pub fn start(accepted: Instant) -> Option<LoginClock> {
        tracing::enabled!(target: "sluice::login", tracing::Level::DEBUG).then(|| LoginClock {
            accepted,
            steps: Arc::default(),
        })
    }

    fn mark(&self, step: &'static str) {
        let at = self.accepted.elapsed();
        self.steps
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push((step, at));
    }

    /// Runs `login` with this clock as the one [`mark`] writes to (when there is one).
    pub async fn scope<F: Future>(clock: Option<LoginClock>, login: F) -> F::Output {
        match clock {
            Some(c) => CLOCK.scope(c, login).await,
            None => login.await,
        }
    }

    /// Emits the event: `outcome` is how the login ended (`ready`, `failed`, `timed out`).
    pub fn report(clock: Option<&LoginClock>, target: &str, peer: SocketAddr, outcome: &str) {
        if let Some(c) = clock {
            let total = c.accepted.elapsed().as_millis() as u64;
            tracing::debug!(target: "sluice::login", target = %target, %peer, outcome, total_ms = total, steps = %c, "login timings");
        }
    }
}

/// Marks that the login of the current task's connection reached `step` (no-op outside one).
pub fn mark(step: &'static str) {
    let _ = CLOCK.try_with(|c| c.mark(step));
}

/// `step=ms step=ms …`, milliseconds since the accept.
impl fmt::Display for LoginClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let steps = self.steps.lock().unwrap_or_else(|p| p.into_inner());
        for (i, (step, at)) in steps.iter().enumerate() {
            let sep = if i == 0 { "" } else { " " };
            write!(f, "{sep}{step}={}", at.as_millis())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clock() -> LoginClock {
        LoginClock {
            accepted: Instant::now(),
            steps: Arc::default(),
        }
    }

    #[tokio::test]
    async fn steps_marked_inside_the_scope_are_timed_in_order() {
        let c = clock();
        LoginClock::scope(Some(c.clone()), async {
            mark("handler");
            tokio::time::sleep(Duration::from_millis(30)).await;
            mark("client_login");
        })
        .await;
        mark("outside");
        let text = c.to_string();
        let steps: Vec<(&str, u64)> = text
            .split(' ')
            .filter_map(|s| {
                let (k, v) = s.split_once('=')?;
                Some((k, v.parse().ok()?))
            })
            .collect();
        assert_eq!(steps.len(), 2, "{text}");
        assert_eq!((steps[0].0, steps[1].0), ("handler", "client_login"));
        assert!(steps[1].1 >= steps[0].1 + 30, "{text}");
    }

    #[test]
    fn no_clock_without_a_subscriber_for_sluice_login() {
        assert!(LoginClock::start(Instant::now()).is_none());
        mark("nowhere");
    }
}
