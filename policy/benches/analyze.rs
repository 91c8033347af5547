//! `analyze` cold (parse every time) and cached, and `lineage`, on an OLTP statement mix.
//! Run: `cargo bench -p sluice-policy -- --quick`. Each iteration handles one statement.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use policy::{analyze, lineage, AnalysisCache, Dialect};

const MIX: [&str; 4] = [
    "SELECT id, name, email FROM customers WHERE id = $1",
    "INSERT INTO orders (customer_id, total, status) VALUES ($1, $2, 'new')",
    "UPDATE orders SET status = $1, updated_at = now() WHERE id = $2",
    "SELECT o.id, o.total, c.name FROM orders o JOIN customers c ON c.id = o.customer_id \
     WHERE c.id = $1 AND o.created_at > now() - interval '30 days' ORDER BY o.created_at DESC LIMIT 20",
];

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("analyze");
    group.throughput(Throughput::Elements(1));
    let mut i = 0usize;
    group.bench_function("cold", |b| {
        b.iter(|| {
            i = (i + 1) % MIX.len();
            black_box(analyze(Dialect::Postgres, black_box(MIX[i])))
        })
    });
    let cache = AnalysisCache::new(1024);
    group.bench_function("cached", |b| {
        b.iter(|| {
            i = (i + 1) % MIX.len();
            black_box(cache.get_or_analyze(Dialect::Postgres, black_box(MIX[i])))
        })
    });
    group.bench_function("lineage", |b| {
        b.iter(|| {
            i = (i + 1) % MIX.len();
            black_box(lineage(Dialect::Postgres, black_box(MIX[i])))
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
