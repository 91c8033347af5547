//! tokio-postgres through sluice: every protocol path a real application uses, over plaintext
//! and TLS, with SCRAM and MD5 upstream.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt, TryStreamExt};
use sluice_tests::*;
use tokio_postgres::error::SqlState;
use tokio_postgres::{AsyncMessage, Client, NoTls, SimpleQueryMessage};

/// The workload every variant runs: simple (multi-statement) and extended queries, binary
/// results, a reused prepared statement, pipelining, transactions and COPY both ways.
async fn exercise(client: &Client) {
    let table = unique("ex");

    // Simple protocol, several statements in one string.
    let msgs = client
        .simple_query(&format!("CREATE TABLE {table} (id int8 primary key, name text, data bytea, score float8, ok bool); SELECT 'a' AS x, NULL AS y; SELECT 2 AS z"))
        .await
        .unwrap();
    let rows: Vec<_> = msgs
        .iter()
        .filter_map(|m| match m {
            SimpleQueryMessage::Row(r) => Some(r),
            _ => None,
        })
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[0].get("x"), Some("a"));
    assert_eq!(rows[0].get("y"), None);
    assert_eq!(rows[1].get("z"), Some("2"));

    // Extended protocol with parameters and binary results, through one reused prepared statement.
    let insert = client
        .prepare(&format!("INSERT INTO {table} VALUES ($1, $2, $3, $4, $5)"))
        .await
        .unwrap();
    for i in 0..50i64 {
        let name = (i % 7 != 0).then(|| format!("name-{i}-ünïcødé-🚀"));
        let data = vec![i as u8, 0, 255];
        client
            .execute(
                &insert,
                &[&i, &name, &data, &(i as f64 / 3.0), &(i % 2 == 0)],
            )
            .await
            .unwrap();
    }
    let row = client
        .query_one(
            &format!("SELECT name, data, score, ok FROM {table} WHERE id = $1"),
            &[&10i64],
        )
        .await
        .unwrap();
    assert_eq!(
        row.get::<_, Option<String>>(0).as_deref(),
        Some("name-10-ünïcødé-🚀")
    );
    assert_eq!(row.get::<_, Vec<u8>>(1), vec![10u8, 0, 255]);
    assert!((row.get::<_, f64>(2) - 10.0 / 3.0).abs() < 1e-12);
    assert!(row.get::<_, bool>(3));
    let null_name: Option<String> = client
        .query_one(&format!("SELECT name FROM {table} WHERE id = 7"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(null_name, None);

    // Pipelining: many queries in flight on one connection, answered in order.
    let select = client
        .prepare(&format!("SELECT id, name FROM {table} WHERE id = $1"))
        .await
        .unwrap();
    let futures = (0..40i64).map(|i| {
        let select = select.clone();
        async move {
            client
                .query_one(&select, &[&i])
                .await
                .map(|r| r.get::<_, i64>(0))
        }
    });
    let ids = futures_util::future::try_join_all(futures).await.unwrap();
    assert_eq!(ids, (0..40).collect::<Vec<i64>>());

    // Transactions: rollback discards, commit keeps, an error aborts the block.
    client.batch_execute("BEGIN").await.unwrap();
    client
        .execute(&format!("DELETE FROM {table} WHERE id < 10"), &[])
        .await
        .unwrap();
    client.batch_execute("ROLLBACK").await.unwrap();
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 50);
    client.batch_execute("BEGIN").await.unwrap();
    let err = client.batch_execute("SELECT 1/0").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::DIVISION_BY_ZERO));
    let err = client.batch_execute("SELECT 1").await.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::IN_FAILED_SQL_TRANSACTION));
    client.batch_execute("ROLLBACK").await.unwrap();
    client
        .batch_execute(&format!(
            "BEGIN; DELETE FROM {table} WHERE id >= 45; COMMIT"
        ))
        .await
        .unwrap();
    let n: i64 = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(n, 45);

    // COPY FROM STDIN, then COPY TO STDOUT gives the same bytes back.
    let copy_table = format!("{table}_copy");
    client
        .batch_execute(&format!("CREATE TABLE {copy_table} (id int, note text)"))
        .await
        .unwrap();
    let mut expected = String::new();
    for i in 0..2000 {
        expected += &format!("{i}\tnote {i} with tab\\tand ünïcødé\n");
    }
    let sink = client
        .copy_in(&format!("COPY {copy_table} FROM STDIN"))
        .await
        .unwrap();
    futures_util::pin_mut!(sink);
    for chunk in expected.as_bytes().chunks(7000) {
        sink.send(Bytes::copy_from_slice(chunk)).await.unwrap();
    }
    assert_eq!(sink.finish().await.unwrap(), 2000);
    let out: Vec<Bytes> = client
        .copy_out(&format!(
            "COPY (SELECT * FROM {copy_table} ORDER BY id) TO STDOUT"
        ))
        .await
        .unwrap()
        .try_collect()
        .await
        .unwrap();
    assert_eq!(String::from_utf8(out.concat()).unwrap(), expected);

    // The session is still healthy after all of that.
    let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
    assert_eq!(one, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_client_scram_upstream() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    exercise(&proxy.connect().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_scram_upstream() {
    let proxy = Proxy::start(
        pg_scram(),
        ProxyOpts {
            client_tls: Some(false),
            ..ProxyOpts::default()
        },
    )
    .await;
    exercise(&proxy.connect_tls().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_client_md5_upstream() {
    let proxy = Proxy::start(pg(PgAuth::Md5, false), ProxyOpts::default()).await;
    exercise(&proxy.connect().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_client_verify_full_tls_upstream() {
    let opts = ProxyOpts {
        client_tls: Some(true),
        upstream_tls: "verify-full",
        ..ProxyOpts::default()
    };
    let proxy = Proxy::start(pg(PgAuth::Scram, true), opts).await;
    let client = proxy.connect_tls().await;
    exercise(&client).await;
    // The upstream leg really is encrypted.
    let ssl: bool = client
        .query_one(
            "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert!(ssl);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_notify_and_notices_reach_the_client() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let (client, mut conn) = tokio_postgres::connect(&proxy.conn_str(USER, PASSWORD, ""), NoTls)
        .await
        .unwrap();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        let mut messages = futures_util::stream::poll_fn(move |cx| conn.poll_message(cx));
        while let Some(Ok(m)) = messages.next().await {
            let _ = tx.send(m);
        }
    });
    let channel = unique("chan");
    client
        .batch_execute(&format!("LISTEN {channel}"))
        .await
        .unwrap();
    client
        .batch_execute("DO $$ BEGIN RAISE NOTICE 'hello from plpgsql'; END $$")
        .await
        .unwrap();

    let other = proxy.connect().await;
    other
        .batch_execute(&format!("NOTIFY {channel}, 'payload-42'"))
        .await
        .unwrap();

    let (mut notice, mut notification) = (None, None);
    let deadline = Instant::now() + Duration::from_secs(5);
    while (notice.is_none() || notification.is_none()) && Instant::now() < deadline {
        match tokio::time::timeout(Duration::from_millis(200), rx.recv()).await {
            Ok(Some(AsyncMessage::Notice(n))) => notice = Some(n.message().to_string()),
            Ok(Some(AsyncMessage::Notification(n))) => {
                notification = Some((n.channel().to_string(), n.payload().to_string()))
            }
            Ok(Some(_)) | Err(_) => {
                // Idle connections only deliver notifications when polled by a query.
                let _ = client.simple_query("SELECT 1").await;
            }
            Ok(None) => break,
        }
    }
    assert_eq!(notice.as_deref(), Some("hello from plpgsql"));
    assert_eq!(notification, Some((channel, "payload-42".to_string())));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cancel_stops_the_right_query_within_a_second() {
    let proxy = Proxy::start(pg_scram(), ProxyOpts::default()).await;
    let sleeper = proxy.connect().await;
    let bystander = proxy.connect().await;
    let token = sleeper.cancel_token();
    let running = tokio::spawn(async move {
        let started = Instant::now();
        let result = sleeper.simple_query("SELECT pg_sleep(30)").await;
        (result, started.elapsed())
    });
    // The bystander runs a long statement too, which must not be cancelled.
    let bystander_query = tokio::spawn(async move {
        bystander
            .query_one("SELECT pg_sleep(1.5)::text || 'done'", &[])
            .await
            .map(|r| r.get::<_, String>(0))
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled_at = Instant::now();
    token.cancel_query(NoTls).await.unwrap();
    let (result, _) = running.await.unwrap();
    let err = result.unwrap_err();
    assert_eq!(err.code(), Some(&SqlState::QUERY_CANCELED), "{err}");
    assert!(
        cancelled_at.elapsed() < Duration::from_secs(1),
        "cancel took {:?}",
        cancelled_at.elapsed()
    );
    assert_eq!(bystander_query.await.unwrap().unwrap(), "done");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_never_sees_the_upstream_identity_or_key() {
    let upstream = pg_scram();
    let proxy = Proxy::start(upstream, ProxyOpts::default()).await;
    let client = proxy.connect().await;
    // sluice logs in upstream as the target's user, not as the client's.
    let who: String = client
        .query_one("SELECT current_user::text", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(who, upstream.opts.user);
    // The application_name the client sent reaches the database.
    let (named, conn) = tokio_postgres::Config::new()
        .host("127.0.0.1")
        .port(proxy.port())
        .user(USER)
        .password(PASSWORD)
        .dbname("app")
        .application_name("billing-report")
        .connect(NoTls)
        .await
        .unwrap();
    tokio::spawn(conn);
    let app: String = named
        .query_one("SELECT current_setting('application_name')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(app, "billing-report");
}
