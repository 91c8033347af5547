//! `sluice approvals list|approve|deny`: the approval API from a terminal. The caller signs in
//! as a sluice user (HTTP basic): the password comes from `SLUICE_PASSWORD`, or is asked on
//! the terminal.

use std::io::Write;

use crate::audit_cli::CliError;

/// Where the admin API is and who calls it.
pub struct AdminClient {
    /// `http://host:port`, no trailing slash.
    pub base: String,
    pub user: String,
    pub password: String,
}

/// What to do.
pub enum ApprovalsAction {
    List {
        state: String,
        json: bool,
    },
    Decide {
        id: String,
        approve: bool,
        reason: Option<String>,
    },
}

impl AdminClient {
    /// The admin URL: `--admin`, or the config's `server.admin_listen`.
    pub fn base_url(admin: Option<&str>, config: &std::path::Path) -> Result<String, CliError> {
        if let Some(a) = admin {
            let a = a.trim_end_matches('/');
            return Ok(
                match a.starts_with("http://") || a.starts_with("https://") {
                    true => a.to_string(),
                    false => format!("http://{a}"),
                },
            );
        }
        let c = crate::config::Config::load(config).map_err(CliError::usage)?;
        Ok(format!("http://{}", c.server.admin_listen))
    }

    /// `SLUICE_PASSWORD`, or a prompt on the terminal.
    pub fn password(user: &str) -> Result<String, CliError> {
        if let Ok(p) = std::env::var("SLUICE_PASSWORD") {
            return Ok(p);
        }
        rpassword::prompt_password(format!("password for {user}: ")).map_err(|e| {
            CliError::usage(format!(
                "set SLUICE_PASSWORD or run on a terminal to give {user}'s password ({e})"
            ))
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<serde_json::Value>,
    ) -> Result<serde_json::Value, CliError> {
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .map_err(|e| CliError::failed(format!("HTTP client: {e}")))?;
        let mut req = client
            .request(method, format!("{}{path}", self.base))
            .basic_auth(&self.user, Some(&self.password));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(|e| {
            CliError::failed(format!("cannot reach the admin API at {}: {e}", self.base))
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .map_err(|e| CliError::failed(format!("reading the admin API's answer: {e}")))?;
        let value: serde_json::Value =
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null);
        if !status.is_success() {
            let why = value
                .get("error")
                .and_then(|e| e.as_str())
                .map_or_else(|| text.trim().to_string(), str::to_string);
            return Err(CliError::failed(format!("{status}: {why}")));
        }
        Ok(value)
    }

    /// Runs `action`, writing its result to `out`.
    pub async fn run(&self, action: ApprovalsAction, out: &mut dyn Write) -> Result<(), CliError> {
        let write = |out: &mut dyn Write, s: String| {
            out.write_all(s.as_bytes())
                .map_err(|e| CliError::failed(format!("cannot write the output: {e}")))
        };
        match action {
            ApprovalsAction::List { state, json } => {
                let list = self
                    .call(
                        reqwest::Method::GET,
                        &format!("/api/approvals?state={state}"),
                        None,
                    )
                    .await?;
                if json {
                    return write(out, format!("{list}\n"));
                }
                let items = list.as_array().cloned().unwrap_or_default();
                if items.is_empty() {
                    return write(out, format!("no {state} approval requests\n"));
                }
                let mut s = format!(
                    "{:<21} {:<9} {:<12} {:<10} {:<16} {:<9} {:<20} STATEMENT\n",
                    "ID", "STATE", "USER", "TARGET", "RULE", "APPROVALS", "EXPIRES"
                );
                for it in items {
                    let f = |k: &str| it.get(k).and_then(|v| v.as_str()).unwrap_or("").to_string();
                    let approvals = format!(
                        "{}/{}",
                        it.get("approvals")
                            .and_then(|a| a.as_array())
                            .map_or(0, |a| a.len()),
                        it.get("required").and_then(|r| r.as_u64()).unwrap_or(1)
                    );
                    let expires: String = f("expires_at").chars().take(19).collect();
                    let statement = f("statement").replace('\n', " ");
                    s += &format!(
                        "{:<21} {:<9} {:<12} {:<10} {:<16} {:<9} {:<20} {}\n",
                        f("id"),
                        f("state"),
                        f("user"),
                        f("target"),
                        f("rule"),
                        approvals,
                        expires,
                        statement
                    );
                }
                write(out, s)
            }
            ApprovalsAction::Decide {
                id,
                approve,
                reason,
            } => {
                let verb = if approve { "approve" } else { "deny" };
                let r = self
                    .call(
                        reqwest::Method::POST,
                        &format!("/api/approvals/{id}/{verb}"),
                        Some(serde_json::json!({ "reason": reason })),
                    )
                    .await?;
                let state = r.get("state").and_then(|s| s.as_str()).unwrap_or("?");
                let n = r
                    .get("approvals")
                    .and_then(|a| a.as_array())
                    .map_or(0, |a| a.len());
                let required = r.get("required").and_then(|x| x.as_u64()).unwrap_or(1);
                write(
                    out,
                    format!("{id}: {state} ({n} of {required} approvals)\n"),
                )
            }
        }
    }
}
