//! What the soak prints to say where a slow connection attempt waited: sluice's own login
//! timings (the `sluice::login` debug events, captured in memory), how late this process's
//! runtime wakes a timer (its clients and sluice share it), the kernel's listen-queue
//! overflows, and the machine's load average.

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The captured events, one JSON object a line.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Captures sluice's `sluice::login` debug events from here on.
pub fn capture() -> Captured {
    let captured = Captured::default();
    let sink = captured.clone();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter("sluice::login=debug")
        .with_writer(move || sink.clone())
        .try_init();
    captured
}

/// One login as sluice timed it.
struct Login {
    outcome: String,
    total_ms: u64,
    /// (step, milliseconds since the accept), in order.
    steps: Vec<(String, u64)>,
}

fn logins(c: &Captured) -> Vec<Login> {
    let text = c.0.lock().unwrap_or_else(|p| p.into_inner()).clone();
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["target"] == "sluice::login")
        .map(|v| {
            let f = &v["fields"];
            let steps = f["steps"]
                .as_str()
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|s| {
                    let (k, v) = s.split_once('=')?;
                    Some((k.to_string(), v.parse().ok()?))
                })
                .collect();
            Login {
                outcome: f["outcome"].as_str().unwrap_or("?").to_string(),
                total_ms: f["total_ms"].as_u64().unwrap_or(0),
                steps,
            }
        })
        .collect()
}

/// The longest wait of a login: the step it was waiting to reach (`end` after the last one).
fn longest_wait(l: &Login) -> (String, u64) {
    let mut prev = 0;
    let mut worst = (String::new(), 0);
    let ends = l.steps.iter().cloned().chain([("end".into(), l.total_ms)]);
    for (step, at) in ends {
        let gap = at.saturating_sub(prev);
        if gap >= worst.1 {
            worst = (step, gap);
        }
        prev = at;
    }
    worst
}

fn pct(sorted: &[u64], p: f64) -> u64 {
    match sorted.len() {
        0 => 0,
        n => sorted[((n - 1) as f64 * p).round() as usize],
    }
}

/// Prints the logins sluice timed: how many, how long, and for the slow ones (over 5 s) the
/// step each was waiting for when most of its time went.
pub fn print_logins(c: &Captured) {
    let all = logins(c);
    let mut outcomes: BTreeMap<&str, u64> = BTreeMap::new();
    for l in &all {
        *outcomes.entry(&l.outcome).or_default() += 1;
    }
    let mut totals: Vec<u64> = all.iter().map(|l| l.total_ms).collect();
    totals.sort_unstable();
    println!(
        "soak: sluice timed {} logins {outcomes:?}; ms from accept to the end of the login: p50 {}, p99 {}, max {}",
        all.len(),
        pct(&totals, 0.5),
        pct(&totals, 0.99),
        pct(&totals, 1.0)
    );
    let mut slow: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    for l in all.iter().filter(|l| l.total_ms > 5_000) {
        let (step, gap) = longest_wait(l);
        let e = slow
            .entry(format!("{} before {step}", l.outcome))
            .or_default();
        e.0 += 1;
        e.1 = e.1.max(gap);
    }
    for (wait, (n, max)) in slow {
        println!("soak: {n} logins over 5 s spent most of it {wait} (longest wait {max} ms)");
    }
    for l in all.iter().filter(|l| l.total_ms > 20_000).take(5) {
        let steps: Vec<String> = l.steps.iter().map(|(s, t)| format!("{s}={t}")).collect();
        println!(
            "soak: slow login: {} after {} ms: {}",
            l.outcome,
            l.total_ms,
            steps.join(" ")
        );
    }
}

/// How late timers fire in this process: a tick every 100 ms, its delays (ms).
pub async fn runtime_lag(stop: Arc<AtomicBool>) -> Vec<u64> {
    let mut lags = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let asked = Instant::now();
        tokio::time::sleep(Duration::from_millis(100)).await;
        let late = asked.elapsed().saturating_sub(Duration::from_millis(100));
        lags.push(late.as_millis() as u64);
    }
    lags.sort_unstable();
    lags
}

pub fn print_lag(sorted: &[u64]) {
    println!(
        "soak: this process's timers fired late by ms: p50 {}, p99 {}, max {} (n = {})",
        pct(sorted, 0.5),
        pct(sorted, 0.99),
        pct(sorted, 1.0),
        sorted.len()
    );
}

/// The kernel's ListenOverflows and ListenDrops (TcpExt of /proc/net/netstat): connections
/// whose handshake was dropped because a listen queue was full.
pub fn listen_overflows() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/net/netstat").unwrap_or_default();
    let mut lines = text.lines().filter(|l| l.starts_with("TcpExt:"));
    let (Some(names), Some(values)) = (lines.next(), lines.next()) else {
        return (0, 0);
    };
    let get = |name: &str| {
        names
            .split_whitespace()
            .position(|n| n == name)
            .and_then(|i| values.split_whitespace().nth(i)?.parse().ok())
            .unwrap_or(0)
    };
    (get("ListenOverflows"), get("ListenDrops"))
}

/// The 1-minute load average.
pub fn load() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|t| t.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}
