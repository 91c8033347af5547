//! Test parts for approvals: a webhook receiver, the admin API as approvers use it (basic
//! auth, the page's cookie login), a WebDriver client for headless Chromium.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use sluice_tests::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

pub const HOOK_SECRET: &[u8] = b"webhook-test-secret";
const HOOK_SECRET_ENV: &str = "SLUICE_TEST_HOOK_SECRET";
const AUDIT_KEY_ENV: &str = "SLUICE_TEST_APPROVALS_AUDIT_KEY";

/// sluice with a review rule, `[audit]` and `[approvals]` delivering to `hook`.
pub fn approvals_opts(mode: &str, timeout: &str, required: u32, hook: &HookReceiver) -> ProxyOpts {
    std::env::set_var(HOOK_SECRET_ENV, std::str::from_utf8(HOOK_SECRET).unwrap());
    std::env::set_var(AUDIT_KEY_ENV, "approvals-audit-key");
    ProxyOpts {
        extra_config: format!(
            r#"
[[rules]]
name = "unbounded-writes"
when = {{ statements = ["update", "delete"], without_where = true }}
action = "review"
message = "a DBA must look at this"

[audit]
dir = "audit"
flush_interval = "10ms"
key_env = "{AUDIT_KEY_ENV}"

[approvals]
mode = "{mode}"
timeout = "{timeout}"
ticket_ttl = "1h"
required = {required}
approver_groups = ["dba"]
dir = "approvals"

[[approvals.webhooks]]
url = "http://{}/hook"
secret_env = "{HOOK_SECRET_ENV}"
"#,
            hook.addr
        ),
        server_extra: "admin_groups = [\"dba\"]\n".into(),
        ..ProxyOpts::default()
    }
}

/// One more `[[users]]` entry.
pub fn extra_user(name: &str, password: &str, group: &str) -> String {
    format!(
        "\n[[users]]\nname = \"{name}\"\npassword_hash = \"{}\"\ngroups = [\"{group}\"]\n",
        sluice::auth::hash_password(password)
    )
}

/// `apr_…` in a ticket-mode error message.
pub fn ticket_id(message: &str) -> String {
    let start = message
        .find("apr_")
        .unwrap_or_else(|| panic!("no ticket id in {message:?}"));
    message[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect()
}

/// The receiver's check of `Sluice-Signature: t=<unix>,v1=<hex>`.
pub fn verify_signature(secret: &[u8], header: &str, body: &str) -> bool {
    let mut t = None;
    let mut v1 = None;
    for part in header.split(',') {
        match part.split_once('=') {
            Some(("t", v)) => t = Some(v),
            Some(("v1", v)) => v1 = Some(v),
            _ => {}
        }
    }
    let (Some(t), Some(v1)) = (t, v1) else {
        return false;
    };
    let Ok(sent) = hex::decode(v1) else {
        return false;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap();
    mac.update(format!("{t}.{body}").as_bytes());
    mac.verify_slice(&sent).is_ok()
}

/// The receiver's "status" that means: read the request, never answer it.
pub const HANG: u16 = 0;

/// One POST the receiver got, and what it answered.
#[derive(Clone, Debug)]
pub struct Received {
    pub signature: String,
    pub body: String,
    pub status: u16,
}

impl Received {
    pub fn link(&self, field: &str) -> String {
        let v: serde_json::Value = serde_json::from_str(&self.body).unwrap();
        v[field].as_str().unwrap().to_string()
    }

    fn id(&self) -> String {
        serde_json::from_str::<serde_json::Value>(&self.body)
            .ok()
            .and_then(|v| v["id"].as_str().map(str::to_string))
            .unwrap_or_default()
    }
}

/// A tiny HTTP server standing in for the approvers' webhook endpoint.
pub struct HookReceiver {
    pub addr: std::net::SocketAddr,
    status: Arc<AtomicU16>,
    received: Arc<Mutex<Vec<Received>>>,
}

impl HookReceiver {
    /// Answers every POST with `status` (until changed).
    pub async fn start(status: u16) -> HookReceiver {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let status = Arc::new(AtomicU16::new(status));
        let received = Arc::new(Mutex::new(Vec::new()));
        let (s, r) = (Arc::clone(&status), Arc::clone(&received));
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let (s, r) = (Arc::clone(&s), Arc::clone(&r));
                tokio::spawn(async move {
                    let Some((headers, body)) = read_request(&mut sock).await else {
                        return;
                    };
                    let code = s.load(Ordering::SeqCst);
                    r.lock().unwrap().push(Received {
                        signature: headers.get("sluice-signature").cloned().unwrap_or_default(),
                        body,
                        status: code,
                    });
                    if code == HANG {
                        // Never answers: the sender times out or dies waiting.
                        tokio::time::sleep(Duration::from_secs(120)).await;
                        return;
                    }
                    let reply = format!(
                        "HTTP/1.1 {code} X\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                    );
                    let _ = sock.write_all(reply.as_bytes()).await;
                });
            }
        });
        HookReceiver {
            addr,
            status,
            received,
        }
    }

    pub fn set_status(&self, code: u16) {
        self.status.store(code, Ordering::SeqCst);
    }

    pub fn of(&self, id: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.id() == id)
            .cloned()
            .collect()
    }

    /// Deliveries of request `id` answered with a 2xx.
    pub fn acknowledged(&self, id: &str) -> usize {
        self.of(id).iter().filter(|r| r.status / 100 == 2).count()
    }

    /// Waits for a delivery of `id` that was acknowledged.
    pub async fn wait_for(&self, id: &str) -> Received {
        for _ in 0..300 {
            if let Some(r) = self.of(id).into_iter().find(|r| r.status / 100 == 2) {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no acknowledged webhook for {id}; got {:?}", self.of(id));
    }

    /// Waits until `id` was attempted `n` times.
    pub async fn wait_attempts(&self, id: &str, n: usize) {
        for _ in 0..300 {
            if self.of(id).len() >= n {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!(
            "webhook for {id} attempted {} times, wanted {n}",
            self.of(id).len()
        );
    }
}

/// Reads one HTTP/1.1 request: lowercased headers and the body.
async fn read_request(
    sock: &mut tokio::net::TcpStream,
) -> Option<(HashMap<String, String>, String)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let headers: HashMap<String, String> = head
        .lines()
        .skip(1)
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .get("content-length")
        .and_then(|l| l.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = sock.read(&mut chunk).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    Some((headers, body))
}

/// The admin API as bob (an approver) uses it.
pub struct Admin {
    pub base: String,
    http: reqwest::Client,
}

impl Admin {
    /// The admin API at `base` (`http://host:port`).
    pub fn at(base: String) -> Admin {
        Admin {
            base,
            http: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
        }
    }

    pub fn of(proxy: &Proxy) -> Admin {
        let addr = proxy.server.as_ref().unwrap().admin_addr();
        Admin::at(format!("http://{addr}"))
    }

    pub async fn list(&self, state: &str) -> Vec<serde_json::Value> {
        let r = self
            .http
            .get(format!("{}/api/approvals?state={state}", self.base))
            .basic_auth(OTHER_USER, Some(OTHER_PASSWORD))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        r.json::<Vec<serde_json::Value>>().await.unwrap()
    }

    pub async fn get(&self, id: &str) -> serde_json::Value {
        self.http
            .get(format!("{}/api/approvals/{id}", self.base))
            .basic_auth(OTHER_USER, Some(OTHER_PASSWORD))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The pending request whose statement contains `needle`, once it exists.
    pub async fn wait_pending(&self, needle: &str) -> serde_json::Value {
        for _ in 0..200 {
            if let Some(r) = self
                .list("pending")
                .await
                .into_iter()
                .find(|r| r["statement"].as_str().is_some_and(|s| s.contains(needle)))
            {
                return r;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("no pending request for {needle:?}");
    }

    pub async fn decide(
        &self,
        id: &str,
        action: &str,
        reason: Option<&str>,
    ) -> (u16, serde_json::Value) {
        self.decide_as(OTHER_USER, OTHER_PASSWORD, id, action, reason)
            .await
    }

    pub async fn decide_as(
        &self,
        user: &str,
        password: &str,
        id: &str,
        action: &str,
        reason: Option<&str>,
    ) -> (u16, serde_json::Value) {
        let r = self
            .http
            .post(format!("{}/api/approvals/{id}/{action}", self.base))
            .basic_auth(user, Some(password))
            .json(&serde_json::json!({ "reason": reason }))
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        (status, r.json().await.unwrap_or(serde_json::Value::Null))
    }

    /// `POST /api/reload` as bob (an admin in these tests); the status.
    pub async fn reload(&self) -> (u16, String) {
        let r = self
            .http
            .post(format!("{}/api/reload", self.base))
            .basic_auth(OTHER_USER, Some(OTHER_PASSWORD))
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    pub async fn metrics(&self) -> String {
        self.http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }
}

/// `sluice approvals …` through its client; the output or the error message.
pub async fn cli(
    admin: &Admin,
    user: &str,
    password: &str,
    action: sluice::approvals_cli::ApprovalsAction,
) -> Result<String, String> {
    let client = sluice::approvals_cli::AdminClient {
        base: admin.base.clone(),
        user: user.into(),
        password: password.into(),
    };
    let mut out = Vec::new();
    client
        .run(action, &mut out)
        .await
        .map(|()| String::from_utf8_lossy(&out).to_string())
        .map_err(|e| e.message)
}

/// The approval events in the audit log: (event, by).
pub fn approval_events(proxy: &Proxy) -> Vec<(String, Option<String>)> {
    let reader = audit::AuditReader::open(proxy.dir.path().join("audit")).unwrap();
    let filter = audit::Filter::default();
    reader
        .records(&filter)
        .filter_map(Result::ok)
        .filter_map(|r| match r.body {
            audit::RecordBody::Approval { event, by, .. } => Some((event, by)),
            _ => None,
        })
        .collect()
}

/// An HTTP client that keeps the approvals page's cookie, as a browser would.
pub struct Browser {
    base: String,
    http: reqwest::Client,
    cookie: Option<String>,
}

impl Browser {
    pub fn anonymous(admin: &Admin) -> Browser {
        Browser {
            base: admin.base.clone(),
            http: admin.http.clone(),
            cookie: None,
        }
    }

    pub async fn login(admin: &Admin, user: &str, password: &str) -> Browser {
        let mut b = Browser::anonymous(admin);
        let r = b
            .http
            .post(format!("{}/approvals/login", b.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(format!("user={user}&password={password}&next=%2Fapprovals"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "login as {user}");
        let set = r.headers().get("set-cookie").unwrap().to_str().unwrap();
        b.cookie = Some(set.split(';').next().unwrap().to_string());
        b
    }

    fn with_cookie(&self, r: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.cookie {
            Some(c) => r.header("cookie", c),
            None => r,
        }
    }

    pub async fn get(&mut self, url: &str) -> (u16, String) {
        let r = self.with_cookie(self.http.get(url)).send().await.unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Submits the confirmation form of a link page.
    pub async fn submit_link(&mut self, link: &str, page: &str) -> (u16, String) {
        let field = |name: &str| {
            let marker = format!("name=\"{name}\" value=\"");
            let start = page
                .find(&marker)
                .unwrap_or_else(|| panic!("no {name} in {page}"))
                + marker.len();
            page[start..].split('"').next().unwrap().to_string()
        };
        let action = link.split('?').next().unwrap().to_string();
        let body = format!(
            "token={}&csrf={}&reason=looks+fine",
            field("token"),
            field("csrf")
        );
        let r = self
            .with_cookie(self.http.post(action))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body)
            .send()
            .await
            .unwrap();
        (r.status().as_u16(), r.text().await.unwrap())
    }
}

/// A chromedriver with one headless Chromium session.
pub struct WebDriver {
    child: std::process::Child,
    base: String,
    http: reqwest::Client,
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl WebDriver {
    pub async fn start() -> WebDriver {
        let port = free_port();
        let driver = ["chromedriver", "/usr/bin/chromedriver", "/usr/lib/chromium/chromedriver"]
            .into_iter()
            .find(|p| std::process::Command::new(p).arg("--version").output().is_ok())
            .expect("chromedriver is not installed (apt-get install chromium chromium-driver; .ci/run does)");
        let child = std::process::Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let http = reqwest::Client::new();
        let root = format!("http://127.0.0.1:{port}");
        for _ in 0..100 {
            if http.get(format!("{root}/status")).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let caps = serde_json::json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {"args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]}
        }}});
        let r: serde_json::Value = http
            .post(format!("{root}/session"))
            .json(&caps)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let session = r["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("no WebDriver session: {r}"))
            .to_string();
        WebDriver {
            child,
            base: format!("{root}/session/{session}"),
            http,
        }
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: serde_json::Value,
    ) -> serde_json::Value {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{path}", self.base));
        if method != reqwest::Method::GET {
            req = req.json(&body);
        }
        let r: serde_json::Value = req.send().await.unwrap().json().await.unwrap();
        r["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(
            reqwest::Method::POST,
            "/url",
            serde_json::json!({ "url": url }),
        )
        .await;
    }

    async fn find(&self, css: &str) -> Option<String> {
        let v = self
            .call(
                reqwest::Method::POST,
                "/element",
                serde_json::json!({"using": "css selector", "value": css}),
            )
            .await;
        v.as_object()?
            .iter()
            .find(|(k, _)| k.starts_with("element-"))
            .and_then(|(_, id)| id.as_str().map(str::to_string))
    }

    async fn element(&self, css: &str) -> String {
        for _ in 0..100 {
            if let Some(id) = self.find(css).await {
                return id;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("no element {css}");
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/value"),
            serde_json::json!({ "text": text }),
        )
        .await;
    }

    pub async fn click(&self, css: &str) {
        let id = self.element(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{id}/click"),
            serde_json::json!({}),
        )
        .await;
    }

    /// The element's text once it contains `needle`.
    pub async fn wait_for_text(&self, css: &str, needle: &str) -> String {
        let mut last = String::new();
        for _ in 0..150 {
            if let Some(id) = self.find(css).await {
                let v = self
                    .call(
                        reqwest::Method::GET,
                        &format!("/element/{id}/text"),
                        serde_json::Value::Null,
                    )
                    .await;
                last = v.as_str().unwrap_or_default().to_string();
                if last.contains(needle) {
                    return last;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{css} never showed {needle:?}; last: {last:?}");
    }
}

/// A table `<prefix>_…` of one int column `n` holding `values` (`"(1), (2)"`), made directly
/// on PostgreSQL: the direct client and the table's name.
pub async fn pg_table(
    upstream: &PgServer,
    prefix: &str,
    values: &str,
) -> (tokio_postgres::Client, String) {
    let direct = pg_direct(upstream).await;
    let t = unique(prefix);
    direct
        .batch_execute(&format!(
            "CREATE TABLE {t} (n int); INSERT INTO {t} VALUES {values}"
        ))
        .await
        .unwrap();
    (direct, t)
}

/// The MariaDB twin of [`pg_table`].
pub async fn mysql_table(
    server: &MariaDbServer,
    prefix: &str,
    values: &str,
) -> (mysql_async::Conn, String) {
    use mysql_async::prelude::Queryable;
    let mut direct = mysql_direct(server).await;
    let t = unique(prefix);
    direct
        .query_drop(format!(
            "CREATE TABLE {t} (n INT); INSERT INTO {t} VALUES {values}"
        ))
        .await
        .unwrap();
    (direct, t)
}
