//! The approvers' HTML: self-contained pages (no external assets, so they work offline and
//! under a strict Content-Security-Policy). Data reaches the DOM through `textContent` only.

use super::ApprovalRequest;
use crate::auth::Identity;

const STYLE: &str = "body{font:15px system-ui,sans-serif;margin:2rem auto;max-width:70rem;color:#1d232a;padding:0 1rem}\
h1{font-size:1.4rem}header{display:flex;justify-content:space-between;align-items:center}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #d6dbe0;padding:.5rem;text-align:left;vertical-align:top}\
pre{white-space:pre-wrap;word-break:break-word;background:#f3f5f7;padding:.5rem;margin:0;max-width:36rem}\
button{padding:.35rem .8rem;margin:.15rem;border:1px solid #8892a0;border-radius:4px;background:#fff;cursor:pointer}\
button.approve{background:#1f7a3a;color:#fff;border-color:#1f7a3a}button.deny{background:#a62b2b;color:#fff;border-color:#a62b2b}\
input{padding:.35rem;margin:.15rem;border:1px solid #8892a0;border-radius:4px}#status{min-height:1.4rem;font-weight:600}\
.muted{color:#5b6570;font-size:.85rem}form.login{display:grid;gap:.5rem;max-width:20rem}";

/// Escapes text for HTML element content and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

fn shell(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head><body>{body}</body></html>",
        escape(title)
    )
}

/// The login form; `next` is where to go after it.
pub fn login(next: &str, error: Option<&str>) -> String {
    let error = error
        .map(|e| format!("<p id=\"status\">{}</p>", escape(e)))
        .unwrap_or_default();
    shell(
        "sluice approvals — sign in",
        &format!(
            "<h1>sluice approvals</h1>{error}<form class=\"login\" method=\"post\" action=\"/approvals/login\">\
<input type=\"hidden\" name=\"next\" value=\"{}\">\
<label>User <input id=\"user\" name=\"user\" autocomplete=\"username\" required></label>\
<label>Password <input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></label>\
<button id=\"login\" type=\"submit\">Sign in</button></form>",
            escape(next)
        ),
    )
}

/// A one-line result or error.
pub fn message(title: &str, text: &str) -> String {
    shell(
        title,
        &format!(
            "<h1>{}</h1><p id=\"message\">{}</p><p><a href=\"/approvals\">All pending requests</a></p>",
            escape(title),
            escape(text)
        ),
    )
}

/// The page of pending requests. It lists them from `/api/approvals` and refreshes every few
/// seconds, except while a reason is being typed.
pub fn index(who: &Identity, csrf: &str, approver: bool) -> String {
    let note = if approver {
        String::new()
    } else {
        "<p id=\"status\">You are not in approver_groups: you can see, not decide.</p>".into()
    };
    let script = r#"
const csrf = document.body.dataset.csrf;
const list = document.getElementById('requests');
const status = document.getElementById('status');
function cell(row, text, pre) {
  const td = document.createElement('td');
  const el = pre ? document.createElement('pre') : td;
  el.textContent = text;
  if (pre) td.appendChild(el);
  row.appendChild(td);
  return td;
}
function busy() {
  const a = document.activeElement;
  return a && a.tagName === 'INPUT' && a.value !== '';
}
async function load() {
  if (busy()) return;
  let items;
  try {
    const r = await fetch('/api/approvals?state=pending', {credentials: 'same-origin'});
    items = await r.json();
    if (!r.ok) { status.textContent = items.error || ('HTTP ' + r.status); return; }
  } catch (e) { status.textContent = 'sluice is not answering: ' + e; return; }
  list.replaceChildren();
  document.getElementById('empty').hidden = items.length !== 0;
  for (const it of items) {
    const row = document.createElement('tr');
    row.dataset.id = it.id;
    cell(row, it.id + '\n' + it.created_at + '\nexpires ' + it.expires_at);
    cell(row, it.user + ' (' + it.groups.join(', ') + ')\non ' + it.target + '\nfrom ' + it.client_addr);
    cell(row, it.rule + (it.reason ? ': ' + it.reason : ''));
    cell(row, it.statement, true);
    cell(row, it.approvals.length + ' of ' + it.required + (it.approvals.length ? '\n' + it.approvals.map(a => a.by).join(', ') : ''));
    const act = cell(row, '');
    const reason = document.createElement('input');
    reason.placeholder = 'reason';
    reason.className = 'reason';
    reason.id = 'reason-' + it.id;
    const ok = document.createElement('button');
    ok.textContent = 'Approve'; ok.className = 'approve'; ok.onclick = () => decide(it.id, 'approve', reason.value);
    const no = document.createElement('button');
    no.textContent = 'Deny'; no.className = 'deny'; no.onclick = () => decide(it.id, 'deny', reason.value);
    act.append(reason, ok, no);
    list.appendChild(row);
  }
  loadAbandoned();
}
async function loadAbandoned() {
  // [cluster]: statements whose sluice instance stopped answering; their clients are gone.
  let gone = [];
  try {
    const r = await fetch('/api/approvals?state=abandoned', {credentials: 'same-origin'});
    if (r.ok) gone = await r.json();
  } catch (e) { return; }
  const ul = document.getElementById('abandoned');
  ul.replaceChildren();
  document.getElementById('abandoned-title').hidden = gone.length === 0;
  for (const it of gone.slice(0, 20)) {
    const li = document.createElement('li');
    li.textContent = it.id + ': ' + it.user + ' on ' + it.target + ', ' + it.statement +
      ' (abandoned ' + it.decided_at + ': ' + (it.decision_reason || '') + ')';
    ul.appendChild(li);
  }
}
async function decide(id, action, reason) {
  status.textContent = '…';
  try {
    const r = await fetch('/api/approvals/' + encodeURIComponent(id) + '/' + action, {
      method: 'POST', credentials: 'same-origin',
      headers: {'content-type': 'application/json', 'x-sluice-csrf': csrf},
      body: JSON.stringify({reason: reason || null})});
    const b = await r.json();
    status.textContent = r.ok ? (id + ' is ' + b.state + ' (' + b.approvals.length + ' of ' + b.required + ')') : b.error;
  } catch (e) { status.textContent = 'sluice is not answering: ' + e; }
  document.activeElement && document.activeElement.blur();
  load();
}
load();
setInterval(load, 3000);
"#;
    shell(
        "sluice approvals",
        &format!(
            "<header><h1>Pending statements</h1><form method=\"post\" action=\"/approvals/logout\"><span class=\"muted\">signed in as {}</span> <button type=\"submit\">Sign out</button></form></header>\
{note}<p id=\"status\" aria-live=\"polite\"></p><p id=\"empty\" class=\"muted\" hidden>Nothing is waiting for approval.</p>\
<table><thead><tr><th>Request</th><th>Who</th><th>Why</th><th>Statement</th><th>Approvals</th><th></th></tr></thead><tbody id=\"requests\"></tbody></table>\
<h2 id=\"abandoned-title\" hidden>Abandoned</h2><ul id=\"abandoned\" class=\"muted\"></ul>\
<script>{script}</script>",
            escape(&who.user)
        ),
    )
    .replacen("<body>", &format!("<body data-csrf=\"{}\">", escape(csrf)), 1)
}

/// The page a webhook link opens: the request and one button.
pub fn link(r: &ApprovalRequest, approve: bool, token: &str, csrf: &str, who: &Identity) -> String {
    let (verb, class) = if approve {
        ("approve", "approve")
    } else {
        ("deny", "deny")
    };
    shell(
        &format!("sluice: {verb} {}", r.id),
        &format!(
            "<h1>{} request {}?</h1><p class=\"muted\">signed in as {}</p>\
<table><tr><th>Who</th><td>{} ({}) on {} from {}</td></tr><tr><th>Rule</th><td>{}{}</td></tr>\
<tr><th>Statement</th><td><pre>{}</pre></td></tr><tr><th>Approvals</th><td>{} of {}</td></tr></table>\
<form method=\"post\" action=\"/approvals/{}/{verb}\"><input type=\"hidden\" name=\"token\" value=\"{}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\"><input id=\"reason\" name=\"reason\" placeholder=\"reason\"{}>\
<button id=\"confirm\" class=\"{class}\" type=\"submit\">{}</button></form>",
            if approve { "Approve" } else { "Deny" },
            escape(&r.id),
            escape(&who.user),
            escape(&r.user),
            escape(&r.groups.join(", ")),
            escape(&r.target),
            escape(&r.client_addr),
            escape(&r.rule),
            r.reason.as_deref().map(|m| format!(": {}", escape(m))).unwrap_or_default(),
            escape(&r.statement),
            r.approvals.len(),
            r.required,
            escape(&r.id),
            escape(token),
            escape(csrf),
            if approve { "" } else { " required" },
            if approve { "Approve" } else { "Deny" },
        ),
    )
}
