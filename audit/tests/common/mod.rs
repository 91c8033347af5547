#![allow(dead_code)]
//! Helpers shared by the integration tests.

use std::path::Path;
use std::time::Duration;

use audit::{AuditConfig, Draft, RecordBody, ResultColumn};

pub const KEY: &[u8] = b"test-audit-key";

pub fn config(dir: &Path) -> AuditConfig {
    let mut c = AuditConfig::new(dir, KEY.to_vec());
    c.flush_interval = Duration::from_millis(10);
    c
}

pub fn base(session: u64, body: RecordBody) -> Draft {
    let mut d = Draft::new(session, "app-pg", "alice", body);
    d.groups = vec!["analysts".into()].into();
    d.client_addr = "10.0.0.7:50123".into();
    d
}

pub fn start(session: u64) -> Draft {
    base(
        session,
        RecordBody::SessionStart {
            tls: true,
            application_name: Some("psql".into()),
            database: Some("app".into()),
            upstream_user: None,
        },
    )
}

pub fn stmt(session: u64, id: u64, text: &str, decision: &str) -> Draft {
    base(
        session,
        RecordBody::Statement {
            statement_id: id,
            text: text.into(),
            params: vec![Some("'***'".into()), None],
            statement_kind: "select".into(),
            tables: vec!["public.customers".into()],
            rule: (decision != "allow").then(|| "no-delete".to_string()),
            decision: decision.into(),
        },
    )
}

pub fn result(session: u64, id: u64) -> Draft {
    base(
        session,
        RecordBody::Result {
            statement_id: id,
            columns: vec![
                ResultColumn {
                    name: "id".into(),
                    origin: Some("customers.id".into()),
                    type_name: "int4".into(),
                },
                ResultColumn {
                    name: "email".into(),
                    origin: Some("customers.email".into()),
                    type_name: "text".into(),
                },
            ],
            rows: vec![
                vec![Some("1".into()), Some("a***@example.com".into())],
                vec![Some("22".into()), None],
            ],
            row_count: 2,
            bytes: 120,
            duration_micros: 1500,
            rows_affected: None,
            truncated: false,
        },
    )
}

pub fn end(session: u64) -> Draft {
    base(
        session,
        RecordBody::SessionEnd {
            reason: "client closed".into(),
        },
    )
}

/// A ~300-byte statement record.
pub fn typical(session: u64, id: u64) -> Draft {
    stmt(
        session,
        id,
        "SELECT id, name, email, phone FROM public.customers WHERE country = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT 50",
        "allow",
    )
}
