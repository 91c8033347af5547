//! Records/s of the audit writer per commit batch size: each iteration submits `batch`
//! records (~300 bytes each) and flushes, which is one durable redb commit of `batch` records.

use std::time::Duration;

use audit::{AuditConfig, AuditLog, Draft, RecordBody};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

fn typical(i: u64) -> Draft {
    let mut d = Draft::new(
        i % 64,
        "app-pg",
        "alice",
        RecordBody::Statement {
            statement_id: i,
            text: "SELECT id, name, email, phone FROM public.customers WHERE country = $1 AND created_at > $2 ORDER BY created_at DESC LIMIT 50".into(),
            params: vec![Some("'***'".into()), Some("2024-01-01".into())],
            statement_kind: "select".into(),
            tables: vec!["public.customers".into()],
            rule: None,
            decision: "allow".into(),
        },
    );
    d.groups = vec!["analysts".into()].into();
    d.client_addr = "10.0.0.7:50123".into();
    d
}

fn write(c: &mut Criterion) {
    let mut g = c.benchmark_group("commit_batch");
    g.sample_size(10);
    g.measurement_time(Duration::from_secs(3));
    for batch in [1u64, 16, 256, 4096] {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut cfg = AuditConfig::new(dir.path(), b"bench-key".to_vec());
        cfg.flush_interval = Duration::from_secs(3600); // only flush() commits
        let log = AuditLog::open(cfg).expect("open");
        g.throughput(Throughput::Elements(batch));
        let mut i = 0u64;
        g.bench_with_input(BenchmarkId::from_parameter(batch), &batch, |b, &batch| {
            b.iter(|| {
                for _ in 0..batch {
                    i += 1;
                    log.record(typical(i)).expect("record");
                }
                log.flush().expect("flush");
            })
        });
        log.close().expect("close");
    }
    g.finish();
}

criterion_group!(benches, write);
criterion_main!(benches);
