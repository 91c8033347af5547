//! Fake databases for the hostile-upstream tests: they log sluice in as a real server would,
//! then answer each statement by its text: `SELECT 1` normally, and a statement naming a
//! [`Misbehaviour`] with that misbehaviour. Real servers cannot be made to send malformed,
//! oversized, out-of-order or endless responses, so these are the one place fakes stand in.
//!
//! Each fake counts the connections sluice closed on it, which is how a test sees that sluice
//! let go of a session's upstream connection rather than leaving it to hang. A fake can also be
//! made mute ([`Fake::set_mute`]): it accepts connections and never says a word, as a database
//! whose accept queue overflowed looks from sluice's side.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// How a fake answers a statement whose text contains its name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Misbehaviour {
    /// A message whose length field is impossible (PostgreSQL: below 4; MySQL: a result of
    /// 2^64 - 1 columns, more than any server can announce, and a broken definition).
    Malformed,
    /// A length field beyond any limit, then nothing.
    Oversized,
    /// A length field of 1 GiB, then a trickle of bytes, then the connection held open for
    /// [`HOLD`] before it is closed.
    Gigabyte,
    /// Messages that do not belong where they come.
    OutOfOrder,
    /// One result row after another, for as long as anyone reads them.
    Endless,
    /// No answer at all; the connection stays open.
    Silent,
}

impl Misbehaviour {
    pub const ALL: [Misbehaviour; 6] = [
        Misbehaviour::Malformed,
        Misbehaviour::Oversized,
        Misbehaviour::Gigabyte,
        Misbehaviour::OutOfOrder,
        Misbehaviour::Endless,
        Misbehaviour::Silent,
    ];

    /// The word a statement names it by.
    pub fn word(self) -> &'static str {
        match self {
            Misbehaviour::Malformed => "malformed",
            Misbehaviour::Oversized => "oversized",
            Misbehaviour::Gigabyte => "gigabyte",
            Misbehaviour::OutOfOrder => "out_of_order",
            Misbehaviour::Endless => "endless",
            Misbehaviour::Silent => "silent",
        }
    }

    fn of(sql: &[u8]) -> Option<Misbehaviour> {
        let sql = String::from_utf8_lossy(sql);
        Self::ALL.into_iter().find(|m| sql.contains(m.word()))
    }
}

/// How long a [`Misbehaviour::Gigabyte`] connection is held open after its trickle.
pub const HOLD: Duration = Duration::from_secs(3);

/// A running fake database.
pub struct Fake {
    pub addr: SocketAddr,
    closed_by_sluice: Arc<AtomicUsize>,
    mute: Arc<AtomicBool>,
}

impl Fake {
    /// Connections sluice closed (the fake read EOF, or could not write) so far.
    pub fn closed_by_sluice(&self) -> usize {
        self.closed_by_sluice.load(Ordering::SeqCst)
    }

    /// From now on, connections are accepted and never answered (no greeting, no login); with
    /// `false`, the fake serves again.
    pub fn set_mute(&self, mute: bool) {
        self.mute.store(mute, Ordering::SeqCst);
    }

    /// Waits until sluice has closed `n` connections in all; false after `limit`.
    pub async fn wait_closed(&self, n: usize, limit: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + limit;
        while self.closed_by_sluice() < n {
            if tokio::time::Instant::now() > deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// A fake PostgreSQL server (trust authentication, protocol 3.0).
    pub async fn pg() -> Fake {
        Self::serve(|s, closed| async move { pg_connection(s, closed).await }).await
    }

    /// A fake MariaDB server (`mysql_native_password`, any password, classic EOF packets).
    pub async fn mysql() -> Fake {
        Self::serve(|s, closed| async move { mysql_connection(s, closed).await }).await
    }

    async fn serve<F, Fut>(handle: F) -> Fake
    where
        F: Fn(TcpStream, Arc<AtomicUsize>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = std::io::Result<()>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a fake");
        let addr = listener.local_addr().expect("the fake's address");
        let closed_by_sluice = Arc::new(AtomicUsize::new(0));
        let mute = Arc::new(AtomicBool::new(false));
        let (closed, muted) = (Arc::clone(&closed_by_sluice), Arc::clone(&mute));
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let closed = Arc::clone(&closed);
                if muted.load(Ordering::SeqCst) {
                    tokio::spawn(async move {
                        if until_closed(&mut s).await.is_err() {
                            closed.fetch_add(1, Ordering::SeqCst);
                        }
                    });
                    continue;
                }
                let connection = handle(s, Arc::clone(&closed));
                tokio::spawn(async move {
                    // Any end but the fake's own choice is sluice letting go.
                    if connection.await.is_err() {
                        closed.fetch_add(1, Ordering::SeqCst);
                    }
                });
            }
        });
        Fake {
            addr,
            closed_by_sluice,
            mute,
        }
    }
}

/// The end of a connection sluice closed: reading returns EOF or an error.
fn gone() -> std::io::Error {
    std::io::ErrorKind::UnexpectedEof.into()
}

/// Reads until sluice closes the connection, then reports that it did.
async fn until_closed(s: &mut TcpStream) -> std::io::Result<()> {
    let mut buf = [0u8; 4096];
    while s.read(&mut buf).await? > 0 {}
    Err(gone())
}

// ---------------------------------------------------------------- PostgreSQL

fn pg_msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

fn pg_status(name: &str, value: &str) -> Vec<u8> {
    pg_msg(b'S', format!("{name}\0{value}\0").as_bytes())
}

/// RowDescription of one text column.
fn pg_row_description() -> Vec<u8> {
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(b"v\0");
    body.extend_from_slice(&[
        0, 0, 0, 0, 0, 0, 0, 0, 0, 25, 255, 255, 255, 255, 255, 255, 0, 0,
    ]);
    pg_msg(b'T', &body)
}

fn pg_data_row(value: &[u8]) -> Vec<u8> {
    let mut body = 1i16.to_be_bytes().to_vec();
    body.extend_from_slice(&(value.len() as i32).to_be_bytes());
    body.extend_from_slice(value);
    pg_msg(b'D', &body)
}

async fn pg_connection(mut s: TcpStream, _closed: Arc<AtomicUsize>) -> std::io::Result<()> {
    // Startup: an SSLRequest is declined; the StartupMessage is trusted.
    loop {
        let len = s.read_u32().await? as usize;
        let mut body = vec![0u8; len.saturating_sub(4).min(10_000)];
        s.read_exact(&mut body).await?;
        if body.starts_with(&80_877_103u32.to_be_bytes()) {
            s.write_all(b"N").await?;
            continue;
        }
        break;
    }
    let mut hello = pg_msg(b'R', &0u32.to_be_bytes());
    for (k, v) in [
        ("server_version", "16.4"),
        ("server_encoding", "UTF8"),
        ("client_encoding", "UTF8"),
        ("standard_conforming_strings", "on"),
        ("DateStyle", "ISO, MDY"),
        ("integer_datetimes", "on"),
    ] {
        hello.extend(pg_status(k, v));
    }
    hello.extend(pg_msg(b'K', &[0, 0, 0, 7, 0, 0, 0, 9]));
    hello.extend(pg_msg(b'Z', b"I"));
    s.write_all(&hello).await?;
    loop {
        let tag = s.read_u8().await?;
        let len = s.read_u32().await? as usize;
        let mut body = vec![0u8; len.saturating_sub(4).min(1 << 20)];
        s.read_exact(&mut body).await?;
        match tag {
            b'X' => return Err(gone()),
            b'Q' => match Misbehaviour::of(&body) {
                None => {
                    let mut answer = pg_row_description();
                    answer.extend(pg_data_row(b"1"));
                    answer.extend(pg_msg(b'C', b"SELECT 1\0"));
                    answer.extend(pg_msg(b'Z', b"I"));
                    s.write_all(&answer).await?;
                }
                Some(m) => return pg_misbehave(&mut s, m).await,
            },
            b'S' => s.write_all(&pg_msg(b'Z', b"I")).await?,
            _ => {}
        }
    }
}

async fn pg_misbehave(s: &mut TcpStream, m: Misbehaviour) -> std::io::Result<()> {
    match m {
        Misbehaviour::Malformed => {
            s.write_all(&pg_row_description()).await?;
            s.write_all(b"D\0\0\0\x02").await?;
        }
        Misbehaviour::Oversized => s.write_all(b"D\x7f\xff\xff\xff").await?,
        Misbehaviour::Gigabyte => {
            s.write_all(&pg_row_description()).await?;
            s.write_all(b"D\x40\0\0\0\0\x01\x3f\xff\xff\xf6").await?;
            for _ in 0..16 {
                s.write_all(&[b'x'; 4096]).await?;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            tokio::time::sleep(HOLD).await;
            // The fake hangs up: that is its own choice, not sluice closing.
            return Ok(());
        }
        Misbehaviour::OutOfOrder => {
            // A row with no description, a ReadyForQuery mid-result, a BackendKeyData and an
            // authentication request after login, a message type that does not exist.
            let mut answer = pg_data_row(b"1");
            answer.extend(pg_msg(b'Z', b"I"));
            answer.extend(pg_msg(b'K', &[0, 0, 0, 1, 0, 0, 0, 2]));
            answer.extend(pg_msg(b'R', &3u32.to_be_bytes()));
            answer.extend(pg_msg(b'!', b"?"));
            answer.extend(pg_msg(b'C', b"SELECT 1\0"));
            answer.extend(pg_msg(b'Z', b"I"));
            s.write_all(&answer).await?;
        }
        Misbehaviour::Endless => {
            s.write_all(&pg_row_description()).await?;
            let rows: Vec<u8> = (0..256).flat_map(|_| pg_data_row(&[b'r'; 200])).collect();
            loop {
                s.write_all(&rows).await?;
            }
        }
        Misbehaviour::Silent => {}
    }
    until_closed(s).await
}

// ---------------------------------------------------------------- MySQL

fn my_packet(seq: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = (payload.len() as u32).to_le_bytes()[..3].to_vec();
    p.push(seq);
    p.extend_from_slice(payload);
    p
}

async fn my_read(s: &mut TcpStream) -> std::io::Result<(u8, Vec<u8>)> {
    let mut header = [0u8; 4];
    s.read_exact(&mut header).await?;
    let len = usize::from(header[0]) | usize::from(header[1]) << 8 | usize::from(header[2]) << 16;
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).await?;
    Ok((header[3], payload))
}

fn lenenc(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b.len() as u8);
    out.extend_from_slice(b);
}

/// A column definition of a VARCHAR column `v` of no table.
fn my_column() -> Vec<u8> {
    let mut c = Vec::new();
    for part in [&b"def"[..], b"", b"", b"", b"v", b"v"] {
        lenenc(&mut c, part);
    }
    c.push(0x0c);
    c.extend_from_slice(&45u16.to_le_bytes());
    c.extend_from_slice(&1024u32.to_le_bytes());
    c.extend_from_slice(&[253, 0, 0, 0, 0, 0]);
    c
}

const MY_EOF: [u8; 5] = [0xFE, 0, 0, 2, 0];

/// A whole text result: `values` as one VARCHAR column, classic EOF packets.
fn my_result(values: &[&[u8]]) -> Vec<u8> {
    let mut out = my_packet(1, &[1]);
    out.extend(my_packet(2, &my_column()));
    out.extend(my_packet(3, &MY_EOF));
    let mut seq = 4u8;
    for v in values {
        let mut row = Vec::new();
        lenenc(&mut row, v);
        out.extend(my_packet(seq, &row));
        seq = seq.wrapping_add(1);
    }
    out.extend(my_packet(seq, &MY_EOF));
    out
}

fn my_greeting() -> Vec<u8> {
    // protocol 41 | secure connection | plugin auth | transactions | multi results.
    let caps: u32 = 0x0000_0200 | 0x0000_8000 | 0x0008_0000 | 0x0000_2000 | 0x0002_0000 | 1 | 4;
    let mut g = vec![10u8];
    g.extend_from_slice(b"10.11.9-MariaDB-fake\0");
    g.extend_from_slice(&7u32.to_le_bytes());
    g.extend_from_slice(b"abcdefgh\0");
    g.extend_from_slice(&(caps as u16).to_le_bytes());
    g.push(45);
    g.extend_from_slice(&2u16.to_le_bytes());
    g.extend_from_slice(&((caps >> 16) as u16).to_le_bytes());
    g.push(21);
    g.extend_from_slice(&[0u8; 10]);
    g.extend_from_slice(b"ijklmnopqrst\0");
    g.extend_from_slice(b"mysql_native_password\0");
    g
}

async fn mysql_connection(mut s: TcpStream, _closed: Arc<AtomicUsize>) -> std::io::Result<()> {
    s.write_all(&my_packet(0, &my_greeting())).await?;
    // sluice probes greetings on connections it then drops: that is no session.
    let Ok((seq, _response)) = my_read(&mut s).await else {
        return Ok(());
    };
    s.write_all(&my_packet(seq.wrapping_add(1), &[0, 0, 0, 2, 0, 0, 0]))
        .await?;
    loop {
        let (_, command) = my_read(&mut s).await?;
        match command.first() {
            Some(0x01) => return Err(gone()),
            Some(0x03) if command[1..].starts_with(b"SELECT @@SESSION.sql_mode") => {
                let mut answer = my_packet(1, &[2]);
                answer.extend(my_packet(2, &my_column()));
                answer.extend(my_packet(3, &my_column()));
                answer.extend(my_packet(4, &MY_EOF));
                let mut row = Vec::new();
                lenenc(&mut row, b"STRICT_TRANS_TABLES");
                lenenc(&mut row, b"utf8mb4");
                answer.extend(my_packet(5, &row));
                answer.extend(my_packet(6, &MY_EOF));
                s.write_all(&answer).await?;
            }
            Some(0x03) if String::from_utf8_lossy(&command[1..]).contains(COLUMNS_FOREVER) => {
                return mysql_columns_forever(&mut s).await
            }
            Some(0x03) => match Misbehaviour::of(&command[1..]) {
                None => s.write_all(&my_result(&[b"1"])).await?,
                Some(m) => return mysql_misbehave(&mut s, m).await,
            },
            _ => s.write_all(&my_packet(1, &[0, 0, 0, 2, 0, 0, 0])).await?,
        }
    }
}

/// A statement naming this makes the fake MySQL server announce 2^30 columns and send column
/// definitions for as long as anyone reads them.
pub const COLUMNS_FOREVER: &str = "columns_forever";

async fn mysql_columns_forever(s: &mut TcpStream) -> std::io::Result<()> {
    s.write_all(&my_packet(1, &[0xFD, 0, 0, 0x40])).await?;
    let column = my_column();
    let mut seq = 2u8;
    loop {
        let mut batch = Vec::with_capacity(1024 * (column.len() + 4));
        for _ in 0..1024 {
            batch.extend(my_packet(seq, &column));
            seq = seq.wrapping_add(1);
        }
        s.write_all(&batch).await?;
    }
}

async fn mysql_misbehave(s: &mut TcpStream, m: Misbehaviour) -> std::io::Result<()> {
    match m {
        Misbehaviour::Malformed => {
            // 2^64 - 1 columns announced, then the connection is closed by the fake.
            s.write_all(&my_packet(
                1,
                &[0xFE, 255, 255, 255, 255, 255, 255, 255, 255],
            ))
            .await?;
            s.write_all(&my_packet(2, b"\x05junk")).await?;
        }
        Misbehaviour::Oversized => s.write_all(&[0xFF, 0xFF, 0xFF, 1]).await?,
        Misbehaviour::Gigabyte => {
            // A column count of 2^30, then column definitions that never end in an EOF.
            s.write_all(&my_packet(1, &[0xFD, 0, 0, 0x40])).await?;
            for i in 0..64u8 {
                s.write_all(&my_packet(i.wrapping_add(2), &my_column()))
                    .await?;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(HOLD).await;
            return Ok(());
        }
        Misbehaviour::OutOfOrder => {
            // A row before any column, sequence ids that jump, an OK in the middle of rows.
            let mut answer = my_packet(9, &[1, b'x']);
            answer.extend(my_packet(1, &[1]));
            answer.extend(my_packet(7, &my_column()));
            answer.extend(my_packet(3, &[0, 0, 0, 2, 0, 0, 0]));
            answer.extend(my_packet(4, &[1, b'y']));
            answer.extend(my_packet(5, &MY_EOF));
            s.write_all(&answer).await?;
        }
        Misbehaviour::Endless => {
            let mut head = my_packet(1, &[1]);
            head.extend(my_packet(2, &my_column()));
            head.extend(my_packet(3, &MY_EOF));
            s.write_all(&head).await?;
            let mut row = Vec::new();
            lenenc(&mut row, &[b'r'; 200]);
            let mut seq = 4u8;
            loop {
                let mut batch = Vec::with_capacity(256 * 210);
                for _ in 0..256 {
                    batch.extend(my_packet(seq, &row));
                    seq = seq.wrapping_add(1);
                }
                s.write_all(&batch).await?;
            }
        }
        Misbehaviour::Silent => {}
    }
    until_closed(s).await
}
