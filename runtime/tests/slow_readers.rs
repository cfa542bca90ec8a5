//! No acknowledged byte is ever lost when the application reads late, over
//! real loopback UDP, under tcp.fsm and under examples/specs/no_time_wait.fsm.
//!
//! In each case the reading side does not read until its connection has
//! finished (its TCB deleted: after TIME_WAIT, LAST_ACK or a reset), then
//! reads: every byte it acknowledged comes out intact and in order, then
//! the end of the stream (`Ok(0)`) if the peer closed, or an error if the
//! connection was reset, never a silent `Ok(0)`.
//!
//! Every wait is bounded: each case runs under a watchdog, and each call
//! that can block has a timeout of its own.

mod common;
mod variant_specs;

use std::io::{ErrorKind, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::{Duration, Instant};

use common::{pattern, udp_addr};
use fsm_runtime::vocab::Machine;
use fsm_runtime::{Config, Endpoint, Options, Stream};

/// Bytes each case sends: more than fits in one segment or one window
/// update, less than a receive buffer, so a reader that does not read
/// still takes it all in.
const N: usize = 64 * 1024;

/// MSL: TIME_WAIT lasts 100 ms.
const MSL: Duration = Duration::from_millis(50);

/// The bound on every single wait (accept, connect, read, a state).
const WAIT: Duration = Duration::from_secs(3);

/// The bound on a whole case.
const CASE: Duration = Duration::from_secs(8);

fn endpoint<M: Machine + Default>() -> Endpoint<M> {
    let mut config = Config::loopback(MSL);
    config.user_timeout = WAIT;
    Endpoint::bind_machine(
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Options::with_config(config),
    )
    .expect("bind")
}

/// Runs `case` on a thread of its own and fails if it takes longer than
/// `CASE`; a panic in it is this test's panic.
fn within(what: &str, case: impl FnOnce() + Send + 'static) {
    let (done, finished) = mpsc::channel();
    let t = std::thread::spawn(move || {
        case();
        let _ = done.send(());
    });
    match finished.recv_timeout(CASE) {
        Ok(()) => t.join().expect("case"),
        Err(RecvTimeoutError::Disconnected) => match t.join() {
            Err(panic) => std::panic::resume_unwind(panic),
            Ok(()) => unreachable!("the case ended without saying so"),
        },
        Err(RecvTimeoutError::Timeout) => panic!("{what}: still running after {CASE:?}"),
    }
}

/// A connected pair: the client's stream, and the server's once accepted
/// (on a thread of its own, which runs `server` on it).
fn connect<M: Machine + Default, T: Send + 'static>(
    server: impl FnOnce(Stream<M>) -> T + Send + 'static,
) -> (Stream<M>, std::thread::JoinHandle<T>, [Endpoint<M>; 2]) {
    let (se, ce) = (endpoint::<M>(), endpoint::<M>());
    let listener = se.listen(udp_addr(&se).port(), 1).expect("listen");
    let t = std::thread::spawn(move || server(listener.accept_timeout(WAIT).expect("accept").0));
    let client = ce.connect(udp_addr(&se), WAIT).expect("connect");
    (client, t, [se, ce])
}

/// The states a connection went through, self-loops left out.
fn path<M: Machine + Default>(s: &Stream<M>) -> Vec<&'static str> {
    let trace = s.trace();
    let mut states: Vec<&'static str> = trace
        .first()
        .map(|e| e.transition.from)
        .into_iter()
        .collect();
    states.extend(
        trace
            .iter()
            .filter(|e| e.transition.from != e.transition.to)
            .map(|e| e.transition.to),
    );
    states
}

/// Waits, at most `WAIT`, until `s` is in `state`.
fn wait_for_state<M: Machine + Default>(s: &Stream<M>, state: &str) {
    let end = Instant::now() + WAIT;
    while s.state().map(|st| st.to_string()).as_deref() != Some(state) {
        assert!(
            Instant::now() < end,
            "still in {:?} after {WAIT:?}, waiting for {state}",
            s.state()
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `s`'s connection has finished, then a while longer (past
/// 2*MSL), and checks it ended CLOSED.
fn wait_finished<M: Machine + Default>(s: &Stream<M>) {
    let state = s.wait_finished(WAIT).expect("connection finishes");
    assert_eq!(state.to_string(), "CLOSED");
    std::thread::sleep(2 * MSL);
}

/// Reads until the end of the stream or an error: what came, and how it
/// ended.
fn read_all<M: Machine + Default>(s: &mut Stream<M>) -> (Vec<u8>, std::io::Result<()>) {
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (got, Ok(())),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => return (got, Err(e)),
        }
    }
}

/// (a) The client sends N bytes and closes its side first; the server
/// echoes them and closes. The client reads the echo only once its
/// connection finished (after TIME_WAIT where the spec has one): all N
/// bytes, then the end of the stream, again and again.
fn client_closes_first<M: Machine + Default>(client_path: &'static [&'static str]) {
    let data = pattern(N, 1);
    let echo = data.clone();
    let (mut c, server, _endpoints) = connect::<M, _>(move |mut s| {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).expect("server reads");
        assert!(got == echo, "the server got the client's bytes intact");
        s.write_all(&got).expect("server echoes");
        s.shutdown(Shutdown::Write).expect("server closes");
        wait_finished(&s);
        path(&s)
    });
    c.write_all(&data).expect("client writes");
    c.shutdown(Shutdown::Write).expect("client closes");
    wait_finished(&c);
    assert_eq!(path(&c), client_path);
    let server_path = server.join().expect("server");
    assert_eq!(
        &server_path[server_path.len() - 3..],
        ["CLOSE_WAIT", "LAST_ACK", "CLOSED"]
    );

    let mut got = Vec::new();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.read_to_end(&mut got)
        .expect("read after the connection finished");
    assert_eq!(got.len(), N, "every echoed byte is still readable");
    assert!(got == data, "the echo is intact and in order");
    assert_eq!(c.read(&mut [0u8; 16]).expect("end of stream"), 0);
    assert_eq!(c.read(&mut [0u8; 16]).expect("end of stream"), 0);
}

/// (b) The server sends N bytes and closes first; the client, reading
/// nothing, closes after the server's FIN (CLOSE_WAIT, LAST_ACK, CLOSED),
/// waits until its connection finished, then reads: all N bytes, then the
/// end of the stream.
fn server_closes_first<M: Machine + Default>(server_tail: &'static [&'static str]) {
    let data = pattern(N, 2);
    let sent = data.clone();
    let (mut c, server, _endpoints) = connect::<M, _>(move |s| {
        (&s).write_all(&sent).expect("server writes");
        s.shutdown(Shutdown::Write).expect("server closes");
        wait_finished(&s);
        path(&s)
    });
    wait_for_state(&c, "CLOSE_WAIT");
    c.shutdown(Shutdown::Write).expect("client closes");
    wait_finished(&c);
    assert_eq!(
        path(&c),
        [
            "CLOSED",
            "SYN_SENT",
            "ESTABLISHED",
            "CLOSE_WAIT",
            "LAST_ACK",
            "CLOSED"
        ]
    );
    let server_path = server.join().expect("server");
    assert_eq!(
        &server_path[server_path.len() - server_tail.len()..],
        server_tail
    );

    let mut got = Vec::new();
    c.set_read_timeout(Some(WAIT)).unwrap();
    c.read_to_end(&mut got)
        .expect("read after the connection finished");
    assert_eq!(got.len(), N, "every byte the server sent is still readable");
    assert!(got == data, "intact and in order");
    assert_eq!(c.read(&mut [0u8; 16]).expect("end of stream"), 0);
}

/// (c) The server sends N bytes, waits until all are acknowledged, and
/// aborts (RST). The client, reading nothing until the reset has ended its
/// connection, then reads all N bytes, then `ConnectionReset`, and the
/// error again on the next read: never `Ok(0)`.
fn abort_after_acknowledged_data<M: Machine + Default>() {
    let data = pattern(N, 3);
    let sent = data.clone();
    let (mut c, server, _endpoints) = connect::<M, _>(move |s| {
        (&s).write_all(&sent).expect("server writes");
        (&s).flush().expect("every byte acknowledged");
        s.abort().expect("server aborts");
    });
    server.join().expect("server");
    wait_finished(&c);
    let p = path(&c);
    assert_eq!(p, ["CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSED"]);
    assert_eq!(c.trace().last().unwrap().transition.event, "rcv_rst");

    let (got, end) = read_all(&mut c);
    assert_eq!(got.len(), N, "every acknowledged byte is still readable");
    assert!(got == data, "intact and in order");
    assert_eq!(
        end.expect_err("a reset is an error, not the end of the stream")
            .kind(),
        ErrorKind::ConnectionReset
    );
    let again = c.read(&mut [0u8; 16]);
    assert_eq!(
        again.expect_err("the error stays").kind(),
        ErrorKind::ConnectionReset
    );
}

/// (c) without waiting: the server aborts right after handing N bytes
/// over, some perhaps still in flight. The client reads what it took in,
/// a prefix of what was sent, intact, then `ConnectionReset`.
fn abort_with_data_in_flight<M: Machine + Default>() {
    let data = pattern(N, 5);
    let sent = data.clone();
    let (mut c, server, _endpoints) = connect::<M, _>(move |s| {
        (&s).write_all(&sent).expect("server writes");
        s.abort().expect("server aborts");
    });
    server.join().expect("server");
    wait_finished(&c);
    assert_eq!(c.trace().last().unwrap().transition.event, "rcv_rst");

    let (got, end) = read_all(&mut c);
    assert!(
        data.starts_with(&got),
        "{} bytes read are a prefix of what was sent",
        got.len()
    );
    println!(
        "{}: {} of {N} bytes read before the reset",
        M::default().spec(),
        got.len()
    );
    assert_eq!(
        end.expect_err("a reset is an error, not the end of the stream")
            .kind(),
        ErrorKind::ConnectionReset
    );
}

/// (c) after a FIN: the server sends N bytes and closes; once its FIN is
/// acknowledged (the client in CLOSE_WAIT), it aborts. The client took the
/// FIN in, but the spec reports the reset: all N bytes, then
/// `ConnectionReset`, not `Ok(0)`.
fn abort_after_the_fin<M: Machine + Default>() {
    let data = pattern(N, 4);
    let sent = data.clone();
    let (mut c, server, _endpoints) = connect::<M, _>(move |s| {
        (&s).write_all(&sent).expect("server writes");
        s.shutdown(Shutdown::Write).expect("server closes");
        wait_for_state(&s, "FIN_WAIT_2");
        s.abort().expect("server aborts");
    });
    server.join().expect("server");
    wait_finished(&c);
    assert_eq!(
        path(&c),
        ["CLOSED", "SYN_SENT", "ESTABLISHED", "CLOSE_WAIT", "CLOSED"]
    );
    assert_eq!(c.trace().last().unwrap().transition.event, "rcv_rst");

    let (got, end) = read_all(&mut c);
    assert_eq!(got.len(), N, "every acknowledged byte is still readable");
    assert!(got == data, "intact and in order");
    assert_eq!(
        end.expect_err("a reset after the FIN is still an error")
            .kind(),
        ErrorKind::ConnectionReset
    );
}

/// The cases under one spec, each a test of its own.
macro_rules! slow_reader_tests {
    ($name:ident: $spec:ty, client path $client:expr, server tail $server:expr) => {
        mod $name {
            use super::*;

            #[test]
            fn client_closes_first_reads_the_echo_after_its_connection_finished() {
                within(concat!(stringify!($name), " (a)"), || {
                    client_closes_first::<$spec>($client)
                });
            }

            #[test]
            fn server_closes_first_client_reads_after_last_ack() {
                within(concat!(stringify!($name), " (b)"), || {
                    server_closes_first::<$spec>($server)
                });
            }

            #[test]
            fn abort_after_acknowledged_data_reads_the_data_then_an_error() {
                within(concat!(stringify!($name), " (c)"), || {
                    abort_after_acknowledged_data::<$spec>()
                });
            }

            #[test]
            fn abort_with_data_in_flight_reads_a_prefix_then_an_error() {
                within(concat!(stringify!($name), " (c, in flight)"), || {
                    abort_with_data_in_flight::<$spec>()
                });
            }

            #[test]
            fn abort_after_the_fin_reads_the_data_then_an_error() {
                within(concat!(stringify!($name), " (c, after the FIN)"), || {
                    abort_after_the_fin::<$spec>()
                });
            }
        }
    };
}

slow_reader_tests!(
    stock: fsm_runtime::tcp::Spec,
    client path &["CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED"],
    server tail &["FIN_WAIT_1", "FIN_WAIT_2", "TIME_WAIT", "CLOSED"]
);

slow_reader_tests!(
    no_time_wait: variant_specs::no_time_wait::Spec,
    client path &["CLOSED", "SYN_SENT", "ESTABLISHED", "FIN_WAIT_1", "FIN_WAIT_2", "CLOSED"],
    server tail &["FIN_WAIT_1", "FIN_WAIT_2", "CLOSED"]
);
