//! `sluice demo` as a newcomer meets it: every command its walkthrough prints (the lines that
//! start with `  $ `) is run as printed, in order, and each product feature it claims is checked:
//! masks and detectors for alice, clear values for dora, a DROP refused, a whole-table DELETE
//! held until the command the webhook receiver printed approves it, and the audit log listing,
//! replaying and verifying those sessions. Ctrl-C then removes everything.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

const SLUICE: &str = env!("CARGO_BIN_EXE_sluice");

/// The demo's stdout, line by line, as it comes.
struct DemoOutput {
    lines: Receiver<String>,
    seen: Vec<String>,
}

impl DemoOutput {
    fn start(child: &mut Child) -> DemoOutput {
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        DemoOutput {
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads until a line contains `marker`; returns that line.
    fn until(&mut self, marker: &str, within: Duration) -> String {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(marker) {
                        return line;
                    }
                }
                Err(e) => panic!(
                    "no line with {marker:?} ({e}); the demo printed:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }
}

fn sh(command: &str) -> Output {
    Command::new("sh")
        .args(["-c", command])
        .output()
        .unwrap_or_else(|e| panic!("{command}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Runs `command` and checks it succeeded; returns what it printed.
fn ok(command: &str) -> String {
    let out = sh(command);
    assert!(out.status.success(), "{command}:\n{}", text(&out));
    text(&out)
}

fn assert_has(output: &str, wanted: &[&str], unwanted: &[&str]) {
    for w in wanted {
        assert!(output.contains(w), "{w:?} missing from:\n{output}");
    }
    for u in unwanted {
        assert!(!output.contains(u), "{u:?} must not appear in:\n{output}");
    }
}

/// The clear sample values alice must never see.
const CLEAR: [&str; 5] = [
    "123-45-6789",
    "alice.johnson@example.com",
    "4111111111111111",
    "4111 1111 1111 1111",
    "234-56-7890",
];

#[test]
fn every_walkthrough_command_shows_its_feature_and_ctrl_c_removes_everything() {
    let mut child = Command::new(SLUICE)
        .args(["demo", "--listen", "127.0.0.1:0", "--mysql-listen"])
        .args(["127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut demo = DemoOutput::start(&mut child);
    demo.until("Press Ctrl-C", Duration::from_secs(180));
    let commands: Vec<String> = demo
        .seen
        .iter()
        .filter_map(|l| l.strip_prefix("  $ ").map(str::to_string))
        .collect();
    assert_eq!(commands.len(), 10, "{commands:#?}");

    // 1. Masking: alice masked in both protocols, dora clear.
    assert_has(
        &ok(&commands[0]),
        &["*******6789", "a***@example.com", "1985-01-01"],
        &CLEAR,
    );
    assert_has(
        &ok(&commands[1]),
        &[
            "123-45-6789",
            "alice.johnson@example.com",
            "4111111111111111",
        ],
        &[],
    );
    assert_has(
        &ok(&commands[2]),
        &["*******6789", "a***@example.com"],
        &CLEAR,
    );
    // 2. Detectors: free text redacted, the harmless ticket untouched.
    assert_has(
        &ok(&commands[3]),
        &["[REDACTED]", "nothing personal in this one"],
        &CLEAR,
    );
    // 3. Rules: both DROPs refused by the rule, and the table is still there.
    for drop in &commands[4..6] {
        let out = sh(drop);
        assert!(!out.status.success(), "{drop}");
        assert_has(&text(&out), &["rule \"no-drop\""], &[]);
    }
    let count = commands[1].replace(
        "SELECT name, ssn, email, card_number, birth_date FROM customers LIMIT 3",
        "SELECT count(*) AS orders_left FROM orders",
    );
    assert_has(&ok(&count), &["40"], &[]);

    approve_the_held_delete(&mut demo, &commands[6]);
    audit_lists_replays_and_verifies(&commands[7..10]);
    stop_and_check_cleanup(child, &demo.seen);
}

/// Step 4: the DELETE waits; the webhook receiver prints the request and the approving
/// command, which releases it.
fn approve_the_held_delete(demo: &mut DemoOutput, delete: &str) {
    let mut held = Command::new("sh")
        .args(["-c", delete])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    demo.until("Sluice-Signature verified", Duration::from_secs(60));
    let wants = demo.until(" wants: ", Duration::from_secs(5));
    assert!(
        wants.contains("bob on demo-pg wants: DELETE FROM support_tickets"),
        "{wants}"
    );
    let approve = demo.until("  approve: ", Duration::from_secs(5));
    assert!(
        held.try_wait().unwrap().is_none(),
        "the DELETE must wait for a decision"
    );
    let approve = approve.trim().trim_start_matches("approve:").trim();
    assert_has(&ok(approve), &["approved"], &[]);
    let out = held.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_has(&text(&out), &["DELETE 3"], &[]);
}

/// Step 5: the audit log lists the sessions, replays alice's masked, and verifies.
fn audit_lists_replays_and_verifies(commands: &[String]) {
    let sessions = ok(&commands[0]);
    assert_has(&sessions, &["alice", "bob", "dora"], &[]);
    let alice = sessions
        .lines()
        .find(|l| l.contains(" demo-pg ") && l.contains(" alice "))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or_else(|| panic!("no alice session in:\n{sessions}"));
    let replay = commands[1].replace("<a session id from the list>", alice);
    assert_has(
        &ok(&replay),
        &["SELECT name, ssn", "*******6789", "a***@example.com"],
        &CLEAR,
    );
    assert_has(&ok(&commands[2]), &["verified"], &[]);
}

fn stop_and_check_cleanup(mut child: Child, printed: &[String]) {
    let dirs: Vec<String> = printed
        .iter()
        .filter_map(|l| {
            l.split_once("data under ")
                .map(|(_, d)| d.trim().to_string())
        })
        .chain(printed.iter().filter_map(|l| {
            let path = l.trim().strip_prefix("config:")?.trim();
            Path::new(path).parent().map(|p| p.display().to_string())
        }))
        .collect();
    assert_eq!(dirs.len(), 3, "{dirs:?}");
    Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        assert!(Instant::now() < deadline, "demo did not stop on Ctrl-C");
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(status.success());
    for dir in dirs {
        assert!(!Path::new(&dir).exists(), "{dir} was not removed");
    }
}
