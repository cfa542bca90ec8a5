//! Bulk data over real loopback UDP through the async API: 1 MiB each way,
//! checked by hash, on a clean network and through 10% loss, duplication
//! and reordering; the close started by either side; async against async,
//! on tokio's current-thread and multi-thread runtimes, and async against
//! the blocking API both ways round. Also: a reset fails a waiting read
//! (it does not end it as if at the peer's FIN), a connect to a port
//! nobody listens on is refused, and twenty echoes run at once on one
//! endpoint each way.

mod async_common;
mod common;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::time::Duration;

use common::{Seen, config, hash, pattern};
use fsm_runtime::{AsyncEndpoint, AsyncStream, Config, Endpoint, Options, Stream};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio::time::timeout;

const MIB: usize = 1 << 20;

/// Bound of every wait.
const LIMIT: Duration = Duration::from_secs(60);

const FAULTS: &str = "loss=0.1,dup=0.1,reorder=0.1,delay=2ms";

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// Loopback timers; through faults, retransmission outlasts a run of
/// losses on a slow machine.
fn options(seen: &Seen, faults: Option<String>) -> Options {
    let mut o = match faults {
        None => Options::with_config(config()),
        Some(f) => {
            let mut o = Options::with_config(Config {
                max_retransmissions: 30,
                user_timeout: LIMIT,
                ..config()
            });
            o.faults = f.parse().expect("fault spec");
            o
        }
    };
    let seen = seen.clone();
    o.on_transition = Some(Box::new(move |e| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.clone())
    }));
    o
}

/// An endpoint of either API.
#[derive(Clone)]
enum Side {
    Async(AsyncEndpoint),
    Blocking(Endpoint),
}

impl Side {
    async fn new_async(seen: &Seen, faults: Option<String>) -> Side {
        let ep = AsyncEndpoint::bind_with(localhost(), options(seen, faults));
        Side::Async(ep.await.expect("bind"))
    }

    fn new_blocking(seen: &Seen, faults: Option<String>) -> Side {
        Side::Blocking(Endpoint::bind_with(localhost(), options(seen, faults)).expect("bind"))
    }

    fn addr(&self) -> SocketAddr {
        match self {
            Side::Async(ep) => ep.local_addr(),
            Side::Blocking(ep) => ep.local_addr(),
        }
        .expect("local_addr")
    }

    fn dropped(&self) -> u64 {
        match self {
            Side::Async(ep) => ep.fault_stats().dropped,
            Side::Blocking(ep) => ep.fault_stats().dropped,
        }
    }
}

/// What one side received, how its connection ended, and whether it
/// passed TIME_WAIT.
type Outcome = (Vec<u8>, String, bool);

/// One side of the transfer through the async API (see
/// [`async_common::exchange`]), then its end.
async fn async_side(stream: AsyncStream, out: Vec<u8>, close_first: bool) -> Outcome {
    let (got, stream) = async_common::exchange(stream, &out, close_first, LIMIT)
        .await
        .expect("the transfer");
    let (end, waited) = async_common::finish(&stream, LIMIT)
        .await
        .expect("the connection ends");
    (got, end, waited)
}

/// [`async_side`] for a blocking stream, on threads.
fn blocking_side(stream: Stream, out: Vec<u8>, close_first: bool) -> Outcome {
    stream.set_read_timeout(Some(LIMIT)).expect("read timeout");
    stream
        .set_write_timeout(Some(LIMIT))
        .expect("write timeout");
    let got = std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            (&stream).write_all(&out).expect("write");
            if close_first {
                stream.shutdown(Shutdown::Write).expect("shutdown");
            }
        });
        let mut got = Vec::with_capacity(MIB);
        (&stream).read_to_end(&mut got).expect("read");
        writer.join().expect("writer");
        got
    });
    if !close_first {
        stream.shutdown(Shutdown::Write).expect("shutdown");
    }
    let end = stream.wait_finished(LIMIT).expect("the connection ends");
    let waited = stream
        .trace()
        .iter()
        .any(|e| e.transition.to == "TIME_WAIT");
    (got, end.to_string(), waited)
}

/// The server's side: accepts one connection on its UDP port, then
/// exchanges.
fn serve(server: Side, out: Vec<u8>, close_first: bool) -> JoinHandle<Outcome> {
    let port = server.addr().port();
    match server {
        Side::Async(ep) => {
            let listener = ep.listen(port, 4).expect("listen");
            tokio::spawn(async move {
                let (s, _) = timeout(LIMIT, listener.accept())
                    .await
                    .expect("accept in time")
                    .expect("accept");
                async_side(s, out, close_first).await
            })
        }
        Side::Blocking(ep) => {
            let listener = ep.listen(port, 4).expect("listen");
            tokio::task::spawn_blocking(move || {
                let (s, _) = listener.accept_timeout(LIMIT).expect("accept");
                blocking_side(s, out, close_first)
            })
        }
    }
}

/// The client's side: connects to `addr`, then exchanges.
fn client(client: Side, addr: SocketAddr, out: Vec<u8>, close_first: bool) -> JoinHandle<Outcome> {
    match client {
        Side::Async(ep) => tokio::spawn(async move {
            let s = timeout(LIMIT, ep.connect(addr))
                .await
                .expect("connect in time")
                .expect("connect");
            async_side(s, out, close_first).await
        }),
        Side::Blocking(ep) => tokio::task::spawn_blocking(move || {
            let s = ep.connect(addr, Duration::from_secs(5)).expect("connect");
            blocking_side(s, out, close_first)
        }),
    }
}

/// Which side sends its FIN first.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Closer {
    Client,
    Server,
}

/// 1 MiB each way; `closer` closes first, the other side after reading
/// that FIN. Both end CLOSED; only the first closer passes TIME_WAIT.
async fn transfer(server: Side, client_side: Side, closer: Closer, seed: u64) {
    let to_server = pattern(MIB, seed);
    let to_client = pattern(MIB, seed ^ 0xffff);
    let addr = server.addr();
    let s = serve(server, to_client.clone(), closer == Closer::Server);
    let c = client(
        client_side,
        addr,
        to_server.clone(),
        closer == Closer::Client,
    );
    let wait = |h: JoinHandle<Outcome>| async move {
        timeout(LIMIT * 3, h)
            .await
            .expect("a side ends in time")
            .expect("a side")
    };
    let (c_got, c_end, c_waited) = wait(c).await;
    let (s_got, s_end, s_waited) = wait(s).await;
    assert_eq!(
        (c_got.len(), hash(&c_got)),
        (MIB, hash(&to_client)),
        "the client received the server's bytes"
    );
    assert_eq!(
        (s_got.len(), hash(&s_got)),
        (MIB, hash(&to_server)),
        "the server received the client's bytes"
    );
    assert_eq!((c_end.as_str(), s_end.as_str()), ("CLOSED", "CLOSED"));
    assert_eq!(c_waited, closer == Closer::Client, "client's TIME_WAIT");
    assert_eq!(s_waited, closer == Closer::Server, "server's TIME_WAIT");
}

#[tokio::test(flavor = "current_thread")]
async fn one_mib_each_way_client_closes_first() {
    let seen = Seen::default();
    let server = Side::new_async(&seen, None).await;
    let client = Side::new_async(&seen, None).await;
    transfer(server, client, Closer::Client, 1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_each_way_server_closes_first() {
    let seen = Seen::default();
    let server = Side::new_async(&seen, None).await;
    let client = Side::new_async(&seen, None).await;
    transfer(server, client, Closer::Server, 2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_mib_each_way_through_loss_duplication_and_reordering() {
    let seen = Seen::default();
    let server = Side::new_async(&seen, Some(format!("{FAULTS},seed=11"))).await;
    let client = Side::new_async(&seen, Some(format!("{FAULTS},seed=12"))).await;
    let (s2, c2) = (server.clone(), client.clone());
    transfer(server, client, Closer::Client, 3).await;
    assert!(
        s2.dropped() > 50 && c2.dropped() > 50,
        "faults were injected"
    );
}

#[tokio::test(flavor = "current_thread")]
async fn one_mib_each_way_through_faults_server_closes_first() {
    let seen = Seen::default();
    let server = Side::new_async(&seen, Some(format!("{FAULTS},seed=21"))).await;
    let client = Side::new_async(&seen, Some(format!("{FAULTS},seed=22"))).await;
    transfer(server, client, Closer::Server, 4).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_client_blocking_server() {
    let seen = Seen::default();
    let server = Side::new_blocking(&seen, None);
    let client = Side::new_async(&seen, None).await;
    transfer(server, client, Closer::Client, 5).await;
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_client_async_server() {
    let seen = Seen::default();
    let server = Side::new_async(&seen, None).await;
    let client = Side::new_blocking(&seen, None);
    transfer(server, client, Closer::Server, 6).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn async_client_blocking_server_through_faults() {
    let seen = Seen::default();
    let server = Side::new_blocking(&seen, Some(format!("{FAULTS},seed=31")));
    let client = Side::new_async(&seen, Some(format!("{FAULTS},seed=32"))).await;
    transfer(server, client, Closer::Server, 7).await;
}

#[tokio::test(flavor = "current_thread")]
async fn blocking_client_async_server_through_faults() {
    let seen = Seen::default();
    let server = Side::new_async(&seen, Some(format!("{FAULTS},seed=41"))).await;
    let client = Side::new_blocking(&seen, Some(format!("{FAULTS},seed=42")));
    transfer(server, client, Closer::Client, 8).await;
}

/// The peer's RST fails a read that waits: no byte was lost, and the end
/// is not taken for the peer's FIN.
#[tokio::test(flavor = "current_thread")]
async fn a_reset_fails_a_waiting_read() {
    let seen = Seen::default();
    let Side::Async(server) = Side::new_async(&seen, None).await else {
        unreachable!()
    };
    let Side::Async(client) = Side::new_async(&seen, None).await else {
        unreachable!()
    };
    let listener = server
        .listen(server.local_addr().unwrap().port(), 1)
        .unwrap();
    let mut c = timeout(LIMIT, client.connect(server.local_addr().unwrap()))
        .await
        .unwrap()
        .unwrap();
    let (s, _) = timeout(LIMIT, listener.accept()).await.unwrap().unwrap();
    c.write_all(b"before").await.unwrap();
    let mut s = s;
    let mut got = [0u8; 6];
    timeout(LIMIT, s.read_exact(&mut got))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&got, b"before");
    let read = tokio::spawn(async move {
        let mut buf = [0u8; 16];
        let r = s.read(&mut buf).await;
        (r, s)
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    c.abort().unwrap();
    let (r, s) = timeout(LIMIT, read).await.unwrap().unwrap();
    assert_eq!(r.map_err(|e| e.kind()), Err(io::ErrorKind::ConnectionReset));
    assert_eq!(
        s.error().map(|e| e.kind()),
        Some(io::ErrorKind::ConnectionReset)
    );
}

/// A connect to a port with no listener fails with the spec's error.
#[tokio::test(flavor = "current_thread")]
async fn connect_to_nobody_is_refused() {
    let seen = Seen::default();
    let Side::Async(server) = Side::new_async(&seen, None).await else {
        unreachable!()
    };
    let Side::Async(client) = Side::new_async(&seen, None).await else {
        unreachable!()
    };
    let r = timeout(LIMIT, client.connect(server.local_addr().unwrap())).await;
    assert_eq!(
        r.expect("an answer in time")
            .map(|_| ())
            .map_err(|e| e.kind()),
        Err(io::ErrorKind::ConnectionRefused)
    );
    assert_eq!(client.memory().connections, 0, "released with its future");
}

/// Twenty connections at once on one endpoint each way, every one an
/// echo of 64 KiB: each task is woken for its own connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_echoes_at_once() {
    const CONNS: usize = 20;
    const SIZE: usize = 64 << 10;
    let seen = Seen::default();
    let Side::Async(server) = Side::new_async(&seen, None).await else {
        unreachable!()
    };
    let Side::Async(client) = Side::new_async(&seen, None).await else {
        unreachable!()
    };
    let addr = server.local_addr().unwrap();
    let listener = server.listen(addr.port(), CONNS).unwrap();
    let echoes = tokio::spawn(async move {
        let mut served = Vec::new();
        for _ in 0..CONNS {
            let (mut s, _) = listener.accept().await?;
            served.push(tokio::spawn(async move {
                let mut got = Vec::new();
                s.read_to_end(&mut got).await?;
                s.write_all(&got).await?;
                s.shutdown().await?;
                io::Result::Ok(got.len())
            }));
        }
        io::Result::Ok(served)
    });
    let clients: Vec<_> = (0..CONNS)
        .map(|i| {
            let client = client.clone();
            tokio::spawn(async move {
                let out = pattern(SIZE, i as u64 + 100);
                let s = client.connect(addr).await?;
                let (back, s) = async_common::exchange(s, &out, true, LIMIT).await?;
                drop(s);
                io::Result::Ok(hash(&back) == hash(&out) && back.len() == SIZE)
            })
        })
        .collect();
    for c in clients {
        let same = timeout(LIMIT, c).await.expect("in time").unwrap();
        assert!(same.expect("an echo"), "the echo came back whole");
    }
    let served = timeout(LIMIT, echoes).await.expect("in time").unwrap();
    for s in served.expect("accepts") {
        let n = timeout(LIMIT, s).await.expect("in time").unwrap();
        assert_eq!(n.expect("a served echo"), SIZE);
    }
}
