//! Interop with the Linux kernel's TCP ("Meet real TCP stacks", part 2).
//!
//! Our endpoint (inner address 10.199.0.2) talks to the kernel's TCP
//! (10.199.0.1 on `tun0`) through a bridge that carries each IP packet
//! between the TUN device and our endpoint's UDP socket, one packet per
//! datagram. Both directions of opening — the kernel's client
//! (`std::net::TcpStream`) against our server, and our client
//! (`connect_via` the bridge) against the kernel's server
//! (`std::net::TcpListener`) — move 1 MiB each way, checked by hash, and
//! close in both orders. Afterwards our connection must have reached
//! CLOSED (`wait_finished`), and the kernel's own view (`/proc/net/tcp` of
//! the namespace; `ss -tan` is printed alongside) must show nothing left of
//! the connection but, when the kernel closed first, its TIME-WAIT.
//!
//! Smaller tests meet the kernel at the edges: its probes of our zero
//! window and ours of its zero window, resets both ways, refusals from
//! closed ports both ways.
//!
//! Each test builds its own network namespace and re-runs itself inside it
//! (see `kernel_support` for why and how); without root, `ip` or
//! `/dev/net/tun` it prints `skipped: <why>` and passes, except in CI
//! (`CI=true`), where it fails saying what is missing. Every wait has a
//! deadline, and the outer run kills an inner run that outlives its own.

mod common;
mod kernel_support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::{hash, pattern};
use fsm_runtime::Stream;
use fsm_runtime::wire::SeqNum;
use kernel_support::{
    Carried, KERNEL_IP, Lab, OUR_IP, counter_changes, exchange, in_namespace, in_namespace_with,
    kernel_counters, kernel_view, ss,
};

const MIB: usize = 1 << 20;

/// The longest any single step (a transfer, a close) may take.
const STEP: Duration = Duration::from_secs(60);

/// How long the kernel may take to let go of a connection after ours is
/// CLOSED (a lost last ACK costs it one retransmission of its FIN).
const KERNEL_SETTLE: Duration = Duration::from_secs(10);

/// Our server's inner port.
const OUR_PORT: u16 = 7000;

/// Which side sends its FIN first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Closer {
    Ours,
    Kernel,
}

/// Our side's inner address (IPv4, as every address of the runtime).
fn inner_addr(s: &Stream) -> SocketAddrV4 {
    match s.local_addr().expect("our address") {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("an IPv6 address: {a}"),
    }
}

fn shutdown_ours(s: &Stream) {
    s.shutdown(Shutdown::Write).expect("shutdown ours");
}

fn shutdown_kernel(s: &TcpStream) {
    s.shutdown(Shutdown::Write).expect("shutdown the kernel's");
}

fn kernel_stream(s: &TcpStream) {
    s.set_read_timeout(Some(STEP)).expect("read timeout");
    s.set_write_timeout(Some(STEP)).expect("write timeout");
}

/// What one side got, and when.
struct Side {
    hash: u64,
    len: usize,
    done: Instant,
}

/// The kernel's side of the transfer; the socket is closed on return.
fn kernel_side(s: TcpStream, out: &[u8], closer: Closer) -> Side {
    kernel_stream(&s);
    let got = exchange(&s, out, closer == Closer::Kernel, shutdown_kernel);
    drop(s);
    Side {
        hash: hash(&got),
        len: got.len(),
        done: Instant::now(),
    }
}

/// Our side of the transfer; waits until our connection is finished and
/// returns its final state and whether it passed TIME_WAIT.
fn our_side(s: Stream, out: &[u8], closer: Closer) -> (Side, String, bool) {
    s.set_read_timeout(Some(STEP)).expect("read timeout");
    let got = exchange(&s, out, closer == Closer::Ours, shutdown_ours);
    let done = Instant::now();
    let fin = s
        .wait_finished(STEP)
        .map(|st| st.to_string())
        .unwrap_or_else(|e| {
            print_trace(&s);
            panic!(
                "our connection did not finish: {e} (state {:?})",
                s.state().map(|st| st.to_string())
            )
        });
    let trace = s.trace();
    let waited = trace.iter().any(|e| e.transition.to == "TIME_WAIT");
    print_trace(&s);
    let side = Side {
        hash: hash(&got),
        len: got.len(),
        done,
    };
    (side, fin, waited)
}

/// Our connection's state changes.
fn print_trace(s: &Stream) {
    for e in s
        .trace()
        .iter()
        .filter(|e| e.transition.from != e.transition.to)
    {
        println!("  ours: {e}");
    }
}

/// Kernel counters that must not move: errors, resets and aborts.
const KERNEL_ERRORS: &[&str] = &[
    "Ip.InHdrErrors",
    "Ip.InAddrErrors",
    "Ip.InDiscards",
    "Tcp.AttemptFails",
    "Tcp.EstabResets",
    "Tcp.InErrs",
    "Tcp.InCsumErrors",
    "Tcp.OutRsts",
    "TcpExt.TCPAbortOnData",
    "TcpExt.TCPAbortOnClose",
    "TcpExt.TCPAbortOnMemory",
    "TcpExt.TCPAbortOnTimeout",
    "TcpExt.TCPAbortOnLinger",
    "TcpExt.TCPAbortFailed",
];

/// One scenario: who closes first, the connection, and where it started.
struct Run {
    closer: Closer,
    kernel_addr: SocketAddrV4,
    our_addr: SocketAddrV4,
    started: Instant,
    counters: BTreeMap<String, i64>,
}

/// Checks what both sides received, that ours is CLOSED (through
/// TIME_WAIT exactly when it closed first), and waits for the kernel's
/// view to show the connection gone (or in TIME-WAIT when the kernel
/// closed first); then that neither side counted errors.
fn check(
    lab: &Lab,
    run: &Run,
    (ours, fin, waited): (Side, String, bool),
    kernel: Side,
    to_ours: &[u8],
    to_kernel: &[u8],
) {
    let (kernel_addr, our_addr, started) = (run.kernel_addr, run.our_addr, run.started);
    assert_eq!(
        (ours.len, ours.hash),
        (MIB, hash(to_ours)),
        "we received the kernel's bytes"
    );
    assert_eq!(
        (kernel.len, kernel.hash),
        (MIB, hash(to_kernel)),
        "the kernel received our bytes"
    );
    assert_eq!(fin, "CLOSED", "ours ends CLOSED");
    assert_eq!(
        waited,
        run.closer == Closer::Ours,
        "ours passes TIME_WAIT exactly when it closes first"
    );
    let closed = Instant::now();
    let allowed: &[&str] = match run.closer {
        Closer::Kernel => &["TIME-WAIT"],
        Closer::Ours => &[],
    };
    let settle_end = closed + KERNEL_SETTLE;
    let mut view = kernel_view(kernel_addr, our_addr);
    // Every distinct view on the way, with when it was first seen.
    let mut seen = vec![(closed - started, view.clone())];
    while view.iter().any(|s| !allowed.contains(s)) && Instant::now() < settle_end {
        std::thread::sleep(Duration::from_millis(5));
        view = kernel_view(kernel_addr, our_addr);
        if seen.last().is_none_or(|(_, v)| *v != view) {
            seen.push((started.elapsed(), view.clone()));
        }
    }
    let settled = Instant::now();
    if seen.len() > 1 {
        println!("kernel's view on the way: {seen:?}");
    }
    println!(
        "kernel's view of {kernel_addr} <-> {our_addr}: {view:?}\nss -tan:\n{}",
        ss()
    );
    assert!(
        view.iter().all(|s| allowed.contains(s)),
        "the kernel's connection {kernel_addr} <-> {our_addr} has not ended: {view:?} (allowed: {allowed:?})"
    );
    let changes = counter_changes(&run.counters, &kernel_counters());
    let shown: Vec<String> = changes
        .iter()
        .filter(|(k, _)| k.starts_with("Tcp"))
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    println!("kernel counters: {}", shown.join(" "));
    let errors: Vec<_> = KERNEL_ERRORS
        .iter()
        .filter_map(|k| changes.get(*k).map(|v| format!("{k}={v}")))
        .collect();
    assert!(errors.is_empty(), "the kernel counted errors: {errors:?}");
    let c = lab.endpoint.counters();
    assert_eq!(c.malformed.total(), 0, "we dropped malformed packets: {c}");
    assert_eq!(
        c.wrong_destination, 0,
        "we got packets for another address: {c}"
    );
    let end = ours.done.max(kernel.done);
    println!(
        "timings: data both ways {:.2?} (ours done {:.2?}, kernel done {:.2?}), ours CLOSED {:.2?}, \
         kernel settled {:.2?}",
        end - started,
        ours.done - started,
        kernel.done - started,
        closed - started,
        settled - started,
    );
}

/// The kernel's client against our server (`listen` on 10.199.0.2).
fn kernel_client_to_our_server(lab: &Lab, closer: Closer, seed: u64) {
    let to_ours = pattern(MIB, seed);
    let to_kernel = pattern(MIB, seed ^ 0xffff);
    let listener = lab.endpoint.listen(OUR_PORT, 4).expect("listen");
    let our_addr = SocketAddrV4::new(OUR_IP, OUR_PORT);
    let counters = kernel_counters();
    let started = Instant::now();
    let (kernel, kernel_addr, ours) = std::thread::scope(|scope| {
        let kernel = scope.spawn(|| {
            let s = TcpStream::connect_timeout(&SocketAddr::V4(our_addr), Duration::from_secs(5))
                .expect("the kernel connects to our server");
            let SocketAddr::V4(local) = s.local_addr().expect("local_addr") else {
                unreachable!("IPv4")
            };
            assert_eq!(*local.ip(), KERNEL_IP);
            (kernel_side(s, &to_ours, closer), local)
        });
        let (s, peer) = listener
            .accept_timeout(Duration::from_secs(10))
            .expect("accept the kernel's connection");
        println!("accepted {peer} after {:.2?}", started.elapsed());
        let ours = our_side(s, &to_kernel, closer);
        let (kernel, kernel_addr) = kernel.join().expect("kernel side");
        (kernel, kernel_addr, ours)
    });
    let run = Run {
        closer,
        kernel_addr,
        our_addr,
        started,
        counters,
    };
    check(lab, &run, ours, kernel, &to_ours, &to_kernel);
}

/// Our client (`connect_via` the bridge) against the kernel's server.
fn our_client_to_kernel_server(lab: &Lab, closer: Closer, seed: u64) {
    let to_ours = pattern(MIB, seed);
    let to_kernel = pattern(MIB, seed ^ 0xffff);
    let listener = TcpListener::bind((KERNEL_IP, 0)).expect("the kernel listens");
    let SocketAddr::V4(kernel_addr) = listener.local_addr().expect("local_addr") else {
        unreachable!("IPv4")
    };
    listener.set_nonblocking(true).expect("nonblocking");
    let counters = kernel_counters();
    let started = Instant::now();
    let (kernel, our_addr, ours) = std::thread::scope(|scope| {
        let kernel = scope.spawn(|| {
            let end = Instant::now() + Duration::from_secs(10);
            let s = loop {
                match listener.accept() {
                    Ok((s, _)) => break s,
                    Err(e)
                        if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end =>
                    {
                        std::thread::sleep(Duration::from_millis(2));
                    }
                    Err(e) => panic!("the kernel accepts our connection: {e}"),
                }
            };
            s.set_nonblocking(false).expect("blocking");
            kernel_side(s, &to_ours, closer)
        });
        let s = lab
            .endpoint
            .connect_via(
                kernel_addr.into(),
                SocketAddr::V4(lab.bridge.addr()),
                Duration::from_secs(5),
            )
            .expect("we connect to the kernel's server");
        let our_addr = inner_addr(&s);
        println!(
            "connected {our_addr} -> {kernel_addr} after {:.2?}",
            started.elapsed()
        );
        let ours = our_side(s, &to_kernel, closer);
        (kernel.join().expect("kernel side"), our_addr, ours)
    });
    drop(listener);
    let run = Run {
        closer,
        kernel_addr,
        our_addr,
        started,
        counters,
    };
    check(lab, &run, ours, kernel, &to_ours, &to_kernel);
}

#[test]
fn kernel_client_our_server_ours_closes_first() {
    in_namespace(
        "kernel_client_our_server_ours_closes_first",
        "kc-oc",
        |lab| {
            kernel_client_to_our_server(lab, Closer::Ours, 1);
        },
    );
}

#[test]
fn kernel_client_our_server_kernel_closes_first() {
    in_namespace(
        "kernel_client_our_server_kernel_closes_first",
        "kc-kc",
        |lab| {
            kernel_client_to_our_server(lab, Closer::Kernel, 2);
        },
    );
}

#[test]
fn our_client_kernel_server_ours_closes_first() {
    in_namespace(
        "our_client_kernel_server_ours_closes_first",
        "oc-oc",
        |lab| {
            our_client_to_kernel_server(lab, Closer::Ours, 3);
        },
    );
}

#[test]
fn our_client_kernel_server_kernel_closes_first() {
    in_namespace(
        "our_client_kernel_server_kernel_closes_first",
        "oc-kc",
        |lab| {
            our_client_to_kernel_server(lab, Closer::Kernel, 4);
        },
    );
}

// ---- windows, resets and refusals ----------------------------------------

/// Accepts one connection on the kernel's `listener` within `limit`.
fn kernel_accept(listener: &TcpListener, limit: Duration) -> TcpStream {
    listener.set_nonblocking(true).expect("nonblocking");
    let end = Instant::now() + limit;
    let s = loop {
        match listener.accept() {
            Ok((s, _)) => break s,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock && Instant::now() < end => {
                std::thread::sleep(Duration::from_millis(2));
            }
            Err(e) => panic!("the kernel accepts our connection: {e}"),
        }
    };
    s.set_nonblocking(false).expect("blocking");
    kernel_stream(&s);
    s
}

/// A kernel server on an ephemeral port; `rcvbuf` sets `SO_RCVBUF`
/// (inherited by the accepted socket).
fn kernel_listener(rcvbuf: Option<usize>) -> (TcpListener, SocketAddrV4) {
    let listener = TcpListener::bind((KERNEL_IP, 0)).expect("the kernel listens");
    if let Some(n) = rcvbuf {
        socket2::SockRef::from(&listener)
            .set_recv_buffer_size(n)
            .expect("SO_RCVBUF");
    }
    let SocketAddr::V4(addr) = listener.local_addr().expect("local_addr") else {
        unreachable!("IPv4")
    };
    (listener, addr)
}

/// Our client, through the bridge.
fn our_connect(lab: &Lab, kernel: SocketAddrV4) -> Stream {
    let s = lab
        .endpoint
        .connect_via(
            kernel.into(),
            SocketAddr::V4(lab.bridge.addr()),
            Duration::from_secs(5),
        )
        .expect("we connect to the kernel's server");
    s.set_read_timeout(Some(STEP)).expect("read timeout");
    s
}

/// The kernel's client, to our port `port`.
fn kernel_connect(port: u16) -> TcpStream {
    let s = TcpStream::connect_timeout(
        &SocketAddr::V4(SocketAddrV4::new(OUR_IP, port)),
        Duration::from_secs(5),
    )
    .expect("the kernel connects to our server");
    kernel_stream(&s);
    s
}

/// Prints the segments of connection `ours` <-> `kernel` the bridge
/// carried, sequence numbers relative to each side's ISN.
fn print_carried(lab: &Lab, ours: SocketAddrV4, kernel: SocketAddrV4, origin: Instant) {
    let log: Vec<Carried> = lab
        .bridge
        .carried()
        .into_iter()
        .filter(|c| {
            let ports = (ours.port(), kernel.port());
            (c.to_kernel && (c.src_port, c.dst_port) == ports)
                || (!c.to_kernel && (c.dst_port, c.src_port) == ports)
        })
        .collect();
    let isn = |to_kernel: bool| {
        log.iter()
            .find(|c| c.to_kernel == to_kernel && c.flags.syn())
            .map_or(SeqNum(0), |c| c.seq)
    };
    let (our_isn, kernel_isn) = (isn(true), isn(false));
    for c in &log {
        let (who, own, peer) = match c.to_kernel {
            true => ("ours  ->", our_isn, kernel_isn),
            false => ("kernel->", kernel_isn, our_isn),
        };
        println!(
            "  {:>9.3?} {who} seq={} ack={} [{}] win={} len={}",
            c.at.saturating_duration_since(origin),
            c.seq.0.wrapping_sub(own.0),
            c.ack
                .map_or("-".into(), |a| a.0.wrapping_sub(peer.0).to_string()),
            c.flags,
            c.window,
            c.len
        );
    }
}

/// How long we watch for window probes: longer than our largest RTO
/// (`Config::loopback`: 2 s).
const PROBE_WATCH: Duration = Duration::from_secs(3);

/// RFC 9293 3.8.6.1 (MUST-36): a sender facing a zero window probes it,
/// so that the window's reopening is reliably reported even if the
/// receiver's window update is lost.
///
/// The kernel's server has a 4 KiB receive buffer and does not read for a
/// while; we send 64 KiB. Once the kernel's ACK announces a zero window,
/// we must send probes (one byte at SND.UNA, or anything at all) at
/// least once per RTO, and the RTO is at most 2 s here.
#[test]
fn we_probe_the_kernels_zero_window() {
    in_namespace("we_probe_the_kernels_zero_window", "zwp", |lab| {
        let data = pattern(64 << 10, 5);
        let (listener, kernel_addr) = kernel_listener(Some(4096));
        let (go, wait_go) = std::sync::mpsc::channel::<()>();
        let origin = Instant::now();
        std::thread::scope(|scope| {
            let kernel = scope.spawn(move || {
                let s = kernel_accept(&listener, Duration::from_secs(10));
                // Do not read until told (or a while has passed).
                let _ = wait_go.recv_timeout(STEP);
                let mut got = Vec::new();
                (&s).read_to_end(&mut got).expect("the kernel reads");
                hash(&got)
            });
            let s = our_connect(lab, kernel_addr);
            let ours = inner_addr(&s);
            (&s).write_all(&data).expect("write");
            s.shutdown(Shutdown::Write).expect("shutdown");
            let of_conn = |c: &Carried, to_kernel: bool| {
                c.to_kernel == to_kernel
                    && if to_kernel {
                        (c.src_port, c.dst_port) == (ours.port(), kernel_addr.port())
                    } else {
                        (c.src_port, c.dst_port) == (kernel_addr.port(), ours.port())
                    }
            };
            let end = Instant::now() + Duration::from_secs(10);
            let zero = loop {
                let log = lab.bridge.carried();
                if let Some(z) = log
                    .iter()
                    .find(|c| of_conn(c, false) && c.window == 0 && !c.flags.syn())
                {
                    break z.clone();
                }
                assert!(Instant::now() < end, "the kernel's window never closed");
                std::thread::sleep(Duration::from_millis(5));
            };
            std::thread::sleep(PROBE_WATCH);
            let log = lab.bridge.carried();
            let ack = zero.ack.expect("the zero window comes with an ACK");
            let sent_end = log
                .iter()
                .filter(|c| of_conn(c, true) && c.at <= zero.at)
                .map(|c| c.seq + c.len)
                .fold(ack, |m, e| if m.lt(e) { e } else { m });
            let after: Vec<&Carried> = log
                .iter()
                .filter(|c| of_conn(c, true) && c.at > zero.at)
                .collect();
            let our_isn = log
                .iter()
                .find(|c| of_conn(c, true) && c.flags.syn())
                .map_or(SeqNum(0), |c| c.seq);
            let watched = Instant::now();
            // Let the kernel read: its window update reopens the window.
            let _ = go.send(());
            let got = kernel.join().expect("kernel side");
            let fin = s.wait_finished(STEP).map(|st| st.to_string());
            print_carried(lab, ours, kernel_addr, origin);
            println!(
                "zero window at {:.3?} with ack={} (relative; {} bytes in flight); \
                 {} segments from us in the {:.2?} after it",
                zero.at - origin,
                ack.0.wrapping_sub(our_isn.0),
                sent_end.distance(ack),
                after.len(),
                watched - zero.at
            );
            assert!(
                !after.is_empty(),
                "we sent nothing for {:.2?} while the kernel's window was zero (no persist timer)",
                watched - zero.at
            );
            assert_eq!(got, hash(&data), "the kernel received our bytes");
            assert_eq!(fin.expect("ours finishes"), "CLOSED");
        });
    });
}

/// The kernel probes our zero window: our endpoint has a 4 KiB receive
/// buffer and reads only after a while; 256 KiB arrive whole.
#[test]
fn kernel_probes_our_zero_window() {
    in_namespace_with(
        "kernel_probes_our_zero_window",
        "zw-ours",
        small_window,
        |lab| {
            let data = pattern(256 << 10, 9);
            let listener = lab.endpoint.listen(OUR_PORT, 4).expect("listen");
            let before = kernel_counters();
            std::thread::scope(|scope| {
                let kernel = scope.spawn(|| {
                    let s = kernel_connect(OUR_PORT);
                    (&s).write_all(&data).expect("the kernel writes");
                    s.shutdown(Shutdown::Write).expect("shutdown");
                    let mut rest = Vec::new();
                    (&s).read_to_end(&mut rest).expect("the kernel reads");
                    rest.len()
                });
                let (s, _) = listener
                    .accept_timeout(Duration::from_secs(10))
                    .expect("accept");
                s.set_read_timeout(Some(STEP)).expect("read timeout");
                std::thread::sleep(Duration::from_millis(700));
                let mut got = Vec::new();
                (&s).read_to_end(&mut got).expect("read");
                assert_eq!((got.len(), hash(&got)), (data.len(), hash(&data)));
                s.shutdown(Shutdown::Write).expect("shutdown");
                assert_eq!(s.wait_finished(STEP).expect("finish").to_string(), "CLOSED");
                assert_eq!(kernel.join().expect("kernel side"), 0);
            });
            let changes = counter_changes(&before, &kernel_counters());
            println!("kernel counters: {changes:?}");
            let closed_windows = lab
                .bridge
                .carried()
                .iter()
                .filter(|c| c.to_kernel && c.window == 0 && !c.flags.rst())
                .count();
            let probes = changes.get("TcpExt.TCPWinProbe").copied().unwrap_or(0);
            println!(
                "we announced a zero window {closed_windows} times; the kernel probed {probes} times"
            );
            assert!(closed_windows > 0, "our window closed");
            assert!(probes > 0, "the kernel probed our zero window");
            let errors: Vec<_> = KERNEL_ERRORS
                .iter()
                .filter(|k| changes.contains_key(**k))
                .collect();
            assert!(errors.is_empty(), "the kernel counted errors: {errors:?}");
        },
    );
}

fn small_window() -> fsm_runtime::Config {
    let mut c = kernel_support::config();
    c.recv_buffer = 4096;
    c
}

/// The kernel aborts (`SO_LINGER` 0, then close): its RST resets ours.
#[test]
fn kernel_abort_resets_ours() {
    in_namespace("kernel_abort_resets_ours", "rst-k", |lab| {
        let listener = lab.endpoint.listen(OUR_PORT, 4).expect("listen");
        let k = kernel_connect(OUR_PORT);
        let (s, _) = listener
            .accept_timeout(Duration::from_secs(5))
            .expect("accept");
        s.set_read_timeout(Some(Duration::from_secs(5)))
            .expect("read timeout");
        socket2::SockRef::from(&k)
            .set_linger(Some(Duration::ZERO))
            .expect("SO_LINGER");
        drop(k);
        let mut buf = [0u8; 16];
        let r = (&s).read(&mut buf);
        print_trace(&s);
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        assert_eq!(
            s.state().map(|st| st.to_string()).as_deref(),
            Some("CLOSED")
        );
    });
}

/// We abort: our RST resets the kernel's connection.
#[test]
fn our_abort_resets_the_kernel() {
    in_namespace("our_abort_resets_the_kernel", "rst-o", |lab| {
        let (listener, kernel_addr) = kernel_listener(None);
        let s = our_connect(lab, kernel_addr);
        let mut k = kernel_accept(&listener, Duration::from_secs(5));
        (&s).write_all(b"hello").expect("write");
        let mut buf = [0u8; 5];
        k.read_exact(&mut buf).expect("the kernel reads");
        assert_eq!(&buf, b"hello");
        s.abort().expect("abort");
        let r = k.read(&mut buf);
        print_trace(&s);
        assert_eq!(
            r.map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionReset)
        );
        let ours = inner_addr(&s);
        assert_eq!(kernel_view(kernel_addr, ours), Vec::<&str>::new());
    });
}

/// SYNs to closed ports are refused both ways.
#[test]
fn closed_ports_refuse_both_ways() {
    in_namespace("closed_ports_refuse_both_ways", "refuse", |lab| {
        let r = TcpStream::connect_timeout(
            &SocketAddr::V4(SocketAddrV4::new(OUR_IP, 9)),
            Duration::from_secs(5),
        );
        assert_eq!(
            r.map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused),
            "the kernel's SYN to our closed port"
        );
        let r = lab.endpoint.connect_via(
            SocketAddrV4::new(KERNEL_IP, 9).into(),
            SocketAddr::V4(lab.bridge.addr()),
            Duration::from_secs(5),
        );
        assert_eq!(
            r.map(|_| ()).map_err(|e| e.kind()),
            Err(std::io::ErrorKind::ConnectionRefused),
            "our SYN to the kernel's closed port"
        );
    });
}
