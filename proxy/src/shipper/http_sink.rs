//! The HTTP sink: batches of records as the JSON a SIEM takes, POSTed with reqwest (rustls).
//!
//! Every record becomes one *event*: its export line (`sluice audit export`'s JSON) with two
//! fields in front, `id` (`<instance>:<seq>`, the idempotent id) and `instance`. The formats:
//! - `splunk_hec`: one HEC event object per record (`time`, `host` = instance, `source`,
//!   `sourcetype` = `sluice:audit`, `event`), concatenated with newlines;
//! - `elasticsearch_bulk`: `_bulk` NDJSON, `{"index":{"_id":"<id>"}}` then the event per
//!   record (the index is the URL's: `https://es:9200/sluice-audit/_bulk`), so a re-sent record
//!   overwrites itself;
//! - `loki`: a push body with one stream labelled `{job="sluice", instance="<instance>"}`,
//!   each value `[<ts in ns>, <event>]`.
//!
//! Connection errors, timeouts, 5xx, 408 and 429 are retried; any other 4xx is a rejection
//! (counted, logged, skipped), as is an Elasticsearch item refused with a 4xx.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use serde_json::Value;

use super::{Batch, Delivery, Shipped, ShipperError};
use crate::config::{Config, HttpFormat, SinkConfig};

/// An HTTP sink.
pub struct HttpSink {
    client: reqwest::Client,
    url: String,
    format: HttpFormat,
    header: Option<(HeaderName, HeaderValue)>,
}

impl HttpSink {
    pub fn new(config: &Config, sc: &SinkConfig) -> Result<HttpSink, ShipperError> {
        let of_sink = |e: ShipperError| e.of_sink(&sc.name);
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            // A redirect would carry the batch, and the auth header, wherever the receiver
            // points: to another host it may not be. The url must be the final address.
            .redirect(reqwest::redirect::Policy::none())
            .timeout(sc.timeout())
            .connect_timeout(sc.timeout().min(Duration::from_secs(5)));
        if let Some(ca) = &sc.ca_file {
            let path = config.path(ca);
            let bad_ca = |e: Box<dyn std::error::Error + Send + Sync>| {
                of_sink(ShipperError::CaFile {
                    path: path.clone(),
                    source: e,
                })
            };
            let pem = std::fs::read(&path).map_err(|e| bad_ca(e.into()))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem).map_err(|e| bad_ca(e.into()))? {
                builder = builder.add_root_certificate(cert);
            }
        }
        let header = match &sc.header_env {
            Some(env) => Some(header_from_env(env).map_err(of_sink)?),
            None => None,
        };
        Ok(HttpSink {
            client: builder
                .build()
                .map_err(|e| of_sink(ShipperError::HttpClient(e)))?,
            url: sc.url.clone(),
            format: sc.format.unwrap_or(HttpFormat::SplunkHec),
            header,
        })
    }

    pub async fn deliver(&mut self, batch: &Batch) -> Delivery {
        let (body, content_type) = body(self.format, batch);
        let mut req = self
            .client
            .post(&self.url)
            .header(CONTENT_TYPE, content_type)
            .body(body);
        if let Some((name, value)) = &self.header {
            req = req.header(name.clone(), value.clone());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => return Delivery::Retry(describe(&e)),
        };
        let status = resp.status();
        let location = resp.headers().get(reqwest::header::LOCATION).cloned();
        let text = resp.text().await.unwrap_or_default();
        let excerpt: String = text.chars().take(300).collect();
        if status.is_redirection() {
            let to = location
                .as_ref()
                .and_then(|v| v.to_str().ok())
                .unwrap_or("nowhere")
                .to_string();
            // Kept in the local log (lag grows, /readyz says so) until the url is corrected.
            return Delivery::Retry(format!(
                "HTTP {status}: redirected to {to}, which sluice does not follow; set the sink's url to the final address"
            ));
        }
        if status.is_server_error() || status.as_u16() == 408 || status.as_u16() == 429 {
            return Delivery::Retry(format!("HTTP {status}: {excerpt}"));
        }
        if !status.is_success() {
            return Delivery::Rejected {
                records: batch.items.len() as u64,
                reason: format!("HTTP {status}: {excerpt}"),
            };
        }
        if self.format == HttpFormat::ElasticsearchBulk {
            return bulk_outcome(&text);
        }
        Delivery::Done
    }
}

fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// `Name: value` from the environment variable `env`.
fn header_from_env(env: &str) -> Result<(HeaderName, HeaderValue), ShipperError> {
    let line = std::env::var(env).map_err(|_| ShipperError::HeaderEnvNotSet(env.to_string()))?;
    let (name, value) = line
        .split_once(':')
        .ok_or_else(|| ShipperError::HeaderFormat(env.to_string()))?;
    let name =
        HeaderName::from_bytes(name.trim().as_bytes()).map_err(|_| ShipperError::HeaderName {
            env: env.to_string(),
            name: name.trim().to_string(),
        })?;
    let mut value = HeaderValue::from_str(value.trim())
        .map_err(|_| ShipperError::HeaderValue(env.to_string()))?;
    value.set_sensitive(true);
    Ok((name, value))
}

/// The event of a record: `{"id":…,"instance":…,` then its export line's fields.
pub fn event(batch: &Batch, s: &Shipped) -> String {
    let line = s.record.export_line();
    let rest = line.strip_prefix('{').unwrap_or(&line);
    let id = Value::String(batch.id(s.record.seq));
    let instance = Value::String(batch.instance.to_string());
    format!("{{\"id\":{id},\"instance\":{instance},{rest}")
}

/// The request body and its content type.
pub fn body(format: HttpFormat, batch: &Batch) -> (String, &'static str) {
    let mut out = String::new();
    match format {
        HttpFormat::SplunkHec => {
            for s in &batch.items {
                let ts = s.record.ts_micros;
                let time = format!(
                    "{}.{:06}",
                    ts.div_euclid(1_000_000),
                    ts.rem_euclid(1_000_000)
                );
                let host = Value::String(batch.instance.to_string());
                out += &format!(
                    "{{\"time\":{time},\"host\":{host},\"source\":\"sluice\",\"sourcetype\":\"sluice:audit\",\"event\":{}}}\n",
                    event(batch, s)
                );
            }
            (out, "application/json")
        }
        HttpFormat::ElasticsearchBulk => {
            for s in &batch.items {
                let id = Value::String(batch.id(s.record.seq));
                out += &format!("{{\"index\":{{\"_id\":{id}}}}}\n{}\n", event(batch, s));
            }
            (out, "application/x-ndjson")
        }
        HttpFormat::Loki => {
            let values: Vec<Value> = batch
                .items
                .iter()
                .map(|s| {
                    let ns = i128::from(s.record.ts_micros) * 1000;
                    Value::Array(vec![
                        Value::String(ns.to_string()),
                        Value::String(event(batch, s)),
                    ])
                })
                .collect();
            let body = serde_json::json!({
                "streams": [{
                    "stream": { "job": "sluice", "instance": batch.instance.as_ref() },
                    "values": values,
                }]
            });
            (body.to_string(), "application/json")
        }
    }
}

/// An Elasticsearch `_bulk` answer: items refused with 5xx or 429 are retried (the whole batch:
/// re-indexing the others is idempotent), items refused with another 4xx are rejected.
fn bulk_outcome(text: &str) -> Delivery {
    let Ok(v) = serde_json::from_str::<Value>(text) else {
        return Delivery::Retry("the _bulk answer is not JSON".into());
    };
    if v.get("errors").and_then(Value::as_bool) != Some(true) {
        return Delivery::Done;
    }
    let statuses: Vec<(u64, String)> = v
        .get("items")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|item| item.as_object()?.values().next().cloned())
        .map(|op| {
            let status = op.get("status").and_then(Value::as_u64).unwrap_or(0);
            (
                status,
                op.get("error").map(Value::to_string).unwrap_or_default(),
            )
        })
        .filter(|(status, _)| *status >= 300)
        .collect();
    if let Some((status, err)) = statuses.iter().find(|(s, _)| *s >= 500 || *s == 429) {
        return Delivery::Retry(format!("_bulk item failed with {status}: {err}"));
    }
    match statuses.first() {
        Some((status, err)) => Delivery::Rejected {
            records: statuses.len() as u64,
            reason: format!("_bulk items refused (first: {status} {err})"),
        },
        None => Delivery::Done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use audit::{ChainHead, Draft, RecordBody};
    use std::sync::Arc;

    fn batch() -> Batch {
        let mut head = ChainHead::genesis();
        let items = (0..2)
            .map(|i| {
                let r = head.append(
                    b"k",
                    Draft::new(
                        7,
                        "pg",
                        "alice",
                        RecordBody::SessionEnd {
                            reason: format!("r{i}"),
                        },
                    ),
                );
                Shipped {
                    stored: String::from_utf8(r.stored_bytes()).unwrap(),
                    record: r,
                }
            })
            .collect();
        Batch {
            instance: Arc::from("proxy-1"),
            items,
        }
    }

    #[test]
    fn bulk_bodies_pair_an_action_with_each_event() {
        let (body, ct) = body(HttpFormat::ElasticsearchBulk, &batch());
        assert_eq!(ct, "application/x-ndjson");
        let lines: Vec<Value> = body
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["index"]["_id"], "proxy-1:1");
        assert_eq!(lines[1]["id"], "proxy-1:1");
        assert_eq!(lines[3]["instance"], "proxy-1");
        assert_eq!(lines[3]["reason"], "r1");
    }

    #[test]
    fn bulk_answers_split_retries_from_rejections() {
        assert!(matches!(
            bulk_outcome(r#"{"errors":false,"items":[]}"#),
            Delivery::Done
        ));
        let retry =
            r#"{"errors":true,"items":[{"index":{"status":201}},{"index":{"status":503}}]}"#;
        assert!(matches!(bulk_outcome(retry), Delivery::Retry(_)));
        let bad = r#"{"errors":true,"items":[{"index":{"status":400,"error":{"type":"mapper_parsing_exception"}}}]}"#;
        assert!(matches!(
            bulk_outcome(bad),
            Delivery::Rejected { records: 1, .. }
        ));
    }
}
