//! Section 8: the async API (`fsm_runtime::asynch`) against tokio's own
//! `TcpStream` (the kernel's TCP) over loopback, both on the same kind of
//! tokio runtime (multi-thread, two workers), in the same run:
//!
//! - bulk goodput: one connection, client to server, the writer and the
//!   reader each a task of their own;
//! - a 1-byte ping-pong: round trips per second, and the p50 and p99 of
//!   one round trip (tokio's with `TCP_NODELAY`, as ours sends at once).

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use fsm_runtime::{AsyncEndpoint, Options};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::time::timeout;

use crate::Plan;
use crate::bulk::{self, Xfer};
use crate::latency::quantile;
use crate::table::{Table, median, num, spread};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

/// Bound of a connect or an accept.
const OPEN: Duration = Duration::from_secs(5);

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
}

/// A connected pair of our async streams, each on its own endpoint
/// (client, server).
async fn ours_pair() -> Result<(AsyncEndpoint, AsyncEndpoint, impl Stream, impl Stream)> {
    let options = || Options::with_config(bulk::bulk_config(None));
    let server = AsyncEndpoint::bind_with(localhost(), options()).await?;
    let client = AsyncEndpoint::bind_with(localhost(), options()).await?;
    let listener = server.listen(server.local_addr()?.port(), 1)?;
    let (c, s) = tokio::join!(
        timeout(OPEN, client.connect(server.local_addr()?)),
        timeout(OPEN, listener.accept())
    );
    Ok((client, server, c??, s??.0))
}

/// A connected pair of tokio's `TcpStream`s, `TCP_NODELAY` on both.
async fn tokio_pair() -> Result<(TcpStream, TcpStream)> {
    let listener = TcpListener::bind(localhost()).await?;
    let addr: SocketAddr = listener.local_addr()?;
    let (c, s) = tokio::join!(
        timeout(OPEN, TcpStream::connect(addr)),
        timeout(OPEN, listener.accept())
    );
    let (c, s) = (c??, s??.0);
    c.set_nodelay(true)?;
    s.set_nodelay(true)?;
    Ok((c, s))
}

/// What both kinds of stream are here.
trait Stream: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Stream for S {}

/// `bytes` from `client` to `server` in 64 KiB writes, within `limit`:
/// from the first write to the last byte read.
async fn transfer(
    mut client: impl Stream,
    mut server: impl Stream,
    bytes: usize,
    limit: Duration,
) -> Xfer {
    let start = Instant::now();
    let reader = tokio::spawn(async move {
        let mut buf = vec![0u8; 256 << 10];
        let (mut got, mut last) = (0u64, Instant::now());
        let read_all = async {
            loop {
                match server.read(&mut buf).await {
                    Ok(0) => return None,
                    Ok(n) => {
                        got += n as u64;
                        last = Instant::now();
                    }
                    Err(e) => return Some(e.to_string()),
                }
            }
        };
        let err = timeout(limit + Duration::from_secs(2), read_all)
            .await
            .unwrap_or_else(|_| Some("time limit".into()));
        (got, last, err)
    });
    let data = bulk::pattern(64 << 10);
    let mut sent = 0usize;
    let mut incomplete = None;
    while sent < bytes {
        if start.elapsed() > limit {
            incomplete = Some("time limit".to_owned());
            break;
        }
        let n = (bytes - sent).min(data.len());
        match timeout(limit, client.write_all(&data[..n])).await {
            Ok(Ok(())) => sent += n,
            Ok(Err(e)) => {
                incomplete = Some(e.to_string());
                break;
            }
            Err(_) => {
                incomplete = Some("time limit".to_owned());
                break;
            }
        }
    }
    let _ = client.shutdown().await;
    let (got, last, err) = reader
        .await
        .unwrap_or((0, start, Some("reader panicked".into())));
    Xfer {
        bytes: got,
        secs: (last - start).as_secs_f64(),
        incomplete: incomplete
            .or(err)
            .or_else(|| (got < bytes as u64).then(|| "short".into())),
        ..Xfer::default()
    }
}

/// `n` round trips, each timed: the client writes one byte, the server
/// (a task of its own) sends it back, the client reads it.
async fn ping_pong(
    n: usize,
    mut client: impl Stream,
    mut server: impl Stream,
) -> std::io::Result<Vec<Duration>> {
    let echo = tokio::spawn(async move {
        let mut b = [0u8; 1];
        for _ in 0..n {
            server.read_exact(&mut b).await?;
            server.write_all(&b).await?;
        }
        std::io::Result::Ok(())
    });
    let mut times = Vec::with_capacity(n);
    let mut byte = [0u8; 1];
    for i in 0..n {
        byte[0] = i as u8;
        let t = Instant::now();
        client.write_all(&byte).await?;
        client.read_exact(&mut byte).await?;
        times.push(t.elapsed());
        if byte[0] != i as u8 {
            return Err(std::io::Error::other("the echo differs"));
        }
    }
    echo.await.map_err(std::io::Error::other)??;
    Ok(times)
}

/// Round trips per second, p50 and p99 in µs.
fn latency(times: &[Duration]) -> [f64; 3] {
    let total: Duration = times.iter().sum();
    let us = |q| quantile(times, q).as_secs_f64() * 1e6;
    [times.len() as f64 / total.as_secs_f64(), us(0.5), us(0.99)]
}

pub fn run(plan: &Plan, table: &mut Table) -> Result<()> {
    let rt = runtime()?;
    let bytes = plan.bulk_bytes;
    let n = if plan.quick { 5_000 } else { 20_000 };
    let names = ["ours (async)", "tokio TcpStream"];
    let mut goodput = [vec![], vec![]];
    let mut trips: [Vec<[f64; 3]>; 2] = [vec![], vec![]];
    let (mut bulk_ratio, mut trip_ratio) = (vec![], vec![]);
    for round in 0..plan.rounds {
        eprintln!("  round {}/{}", round + 1, plan.rounds);
        let xfers = rt.block_on(async {
            let (_ce, _se, c, s) = ours_pair().await?;
            let ours = transfer(c, s, bytes, plan.bulk_limit).await;
            let (c, s) = tokio_pair().await?;
            let theirs = transfer(c, s, bytes, plan.bulk_limit).await;
            Result::Ok([ours, theirs])
        })?;
        for (k, x) in xfers.iter().enumerate() {
            if let Some(why) = &x.incomplete {
                return Err(format!("{} bulk: {why}", names[k]).into());
            }
            goodput[k].push(x.mb_s());
        }
        bulk_ratio.push(xfers[0].mb_s() / xfers[1].mb_s());
        let times = rt.block_on(async {
            let (_ce, _se, c, s) = ours_pair().await?;
            let ours = ping_pong(n, c, s).await?;
            let (c, s) = tokio_pair().await?;
            let theirs = ping_pong(n, c, s).await?;
            Result::Ok([latency(&ours), latency(&theirs)])
        })?;
        for (k, t) in times.iter().enumerate() {
            trips[k].push(*t);
        }
        trip_ratio.push(times[0][0] / times[1][0]);
    }
    for (k, name) in names.into_iter().enumerate() {
        table.row(
            "8 async",
            &format!("bulk, {name}"),
            &num(median(&goodput[k])),
            "MB/s",
            plan.rounds,
            "",
            &format!(
                "{} MiB a transfer, writer and reader tasks on a 2-worker runtime; {}",
                bytes >> 20,
                spread(&goodput[k])
            ),
        );
    }
    table.row(
        "8 async",
        "ratio of bulk goodput: ours / tokio",
        &format!("{:.2}", median(&bulk_ratio)),
        "×",
        plan.rounds,
        "",
        "median of per-round ratios",
    );
    for (k, name) in names.into_iter().enumerate() {
        let col = |i: usize| median(&trips[k].iter().map(|t| t[i]).collect::<Vec<_>>());
        table.row(
            "8 async",
            &format!("1-byte ping-pong, {name}: round trips"),
            &num(col(0)),
            "/s",
            plan.rounds,
            "",
            &format!(
                "{n} round trips a run; p50 {} µs, p99 {} µs{}",
                num(col(1)),
                num(col(2)),
                if k == 1 { "; TCP_NODELAY" } else { "" }
            ),
        );
    }
    table.row(
        "8 async",
        "ratio of round trips: ours / tokio",
        &format!("{:.2}", median(&trip_ratio)),
        "×",
        plan.rounds,
        "",
        "median of per-round ratios",
    );
    Ok(())
}
