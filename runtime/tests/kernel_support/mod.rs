//! The lab for the Linux interop tests: a network namespace of its own, a
//! TUN device in it, a bridge between the TUN device and our UDP endpoint,
//! and the kernel's view of its TCP sockets.
//!
//! # Where things run
//!
//! Each test runs twice. Run by the harness (the *outer* run), it checks
//! that it may run at all (root, `ip`, `/dev/net/tun`; else it prints
//! `skipped: <why>` and passes, or in CI fails), removes a leftover
//! namespace of the same name, creates the namespace
//! `fsm-kernel-<pid>-<tag>` with `lo` up, and re-runs its own test binary
//! inside it:
//!
//! ```text
//! ip netns exec NS <current_exe> --exact <test> --nocapture --include-ignored --test-threads=1
//! ```
//!
//! with `FSM_KERNEL_NETNS=NS` in the environment. That *inner* run (the same
//! test function, switched by the variable, after checking with
//! `ip netns identify` that it is really in NS) does all the work in one
//! process that lives entirely inside the namespace: it opens `tun0`, gives
//! the kernel side 10.199.0.1/24 on it (so the kernel routes our inner
//! address 10.199.0.2 into `tun0`), starts the bridge and our endpoint on
//! the namespace's loopback, and opens the kernel's sockets with plain
//! `std::net`. Nothing has to switch namespaces thread by thread (setns(2)
//! only moves the calling thread, and the runtime spawns its own I/O
//! thread), and `/proc/net/tcp` read by the inner process is the
//! namespace's.
//!
//! The outer run collects the inner run's output, kills it if it outlives
//! its deadline, and fails if it failed. A guard deletes the namespace
//! when the outer run ends, also on a panic; `tun0` and the kernel's
//! TIME_WAIT sockets go with it.
//!
//! The bridge also keeps the TCP headers of what it carries, for checks at
//! the wire level; with `FSM_KERNEL_PCAP_DIR=dir` our endpoint also writes
//! every inner packet to `dir/<namespace>.pcap`.
//!
//! ```text
//!   kernel TCP (10.199.0.1)          bridge                our endpoint
//!   std::net sockets  <-> tun0 <-> [read/write] <-UDP-> 127.0.0.1:port
//!                                 127.0.0.1:port        inner 10.199.0.2
//! ```
#![allow(dead_code)]

pub mod tun;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use fsm_runtime::wire::{self, Flags, SeqNum};
use fsm_runtime::{Config, Endpoint, Options};

use tun::Tun;

// The generic parts live in the lab (its conformance tester uses them too).
#[allow(unused_imports)]
pub use fsm_lab::netns::{KernelSocket, Netns, kernel_sockets, netns_exists, run, why_skip};

/// The environment variable that switches a test to its inner run; its
/// value is the namespace's name.
pub const NS_ENV: &str = "FSM_KERNEL_NETNS";

/// The kernel's address on `tun0`.
pub const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 1);
/// Our endpoint's inner address, routed by the kernel into `tun0`.
pub const OUR_IP: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 2);
/// The TUN device's name inside the namespace.
pub const TUN_NAME: &str = "tun0";

/// How long the inner run may take before the outer run kills it.
pub const INNER_DEADLINE: Duration = Duration::from_secs(300);

/// The body of a test, run inside the namespace.
pub type Body = fn(&Lab);

/// Runs `body` inside a fresh namespace: the outer run sets the namespace
/// up and re-runs test `test` (its exact name) inside it; the inner run
/// builds the [`Lab`] and calls `body`.
pub fn in_namespace(test: &str, tag: &str, body: Body) {
    in_namespace_with(test, tag, config, body);
}

/// [`in_namespace`] with our endpoint configured by `config`.
pub fn in_namespace_with(test: &str, tag: &str, config: fn() -> Config, body: Body) {
    if let Some(ns) = std::env::var_os(NS_ENV) {
        let ns = ns.to_string_lossy().into_owned();
        let lab = Lab::new(&ns, config());
        let started = Instant::now();
        body(&lab);
        println!("[{ns}] {test}: body took {:.2?}", started.elapsed());
        lab.report();
        return;
    }
    if let Some(why) = why_skip() {
        fsm_runtime::testing::skip(&why);
        return;
    }
    let started = Instant::now();
    let name = format!("fsm-kernel-{}-{tag}", std::process::id());
    let ns = Netns::create(&name);
    let exe = std::env::current_exe().expect("current_exe");
    let ran = fsm_lab::netns::exec_in(
        &ns,
        &exe,
        &[
            "--exact",
            test,
            "--nocapture",
            "--include-ignored",
            "--test-threads=1",
        ],
        &[(NS_ENV, ns.name()), ("RUST_BACKTRACE", "1")],
        INNER_DEADLINE,
    )
    .unwrap_or_else(|e| panic!("the inner run of {test}: {e}"));
    let (status, out) = (ran.status, ran.stdout);
    for line in out.lines().chain(ran.stderr.lines()) {
        println!("  | {line}");
    }
    let Some(status) = status else {
        panic!("the inner run of {test} in {name} did not end within {INNER_DEADLINE:?}; killed");
    };
    assert!(
        status.success(),
        "the inner run of {test} in {name} failed: {status}"
    );
    assert!(
        out.contains("1 passed"),
        "the inner run of {test} did not run the test (filtered out?)"
    );
    drop(ns);
    assert!(!netns_exists(&name), "namespace {name} is left over");
    println!(
        "{test}: {:.2?} in all (namespace {name} removed)",
        started.elapsed()
    );
}

/// Counters of the bridge.
#[derive(Default)]
pub struct BridgeStats {
    /// Packets read from TUN and sent to our endpoint.
    pub to_endpoint: AtomicU64,
    /// Datagrams from our endpoint written to TUN.
    pub to_kernel: AtomicU64,
    /// Packets read from TUN that were not IPv4 (IPv6 chatter), dropped.
    pub not_ipv4: AtomicU64,
    /// Failed sends or writes.
    pub errors: AtomicU64,
}

/// A TCP segment the bridge carried, as its headers say.
#[derive(Clone, Debug)]
pub struct Carried {
    /// When the bridge carried it.
    pub at: Instant,
    /// From us to the kernel (else from the kernel to us).
    pub to_kernel: bool,
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number, if ACK is set.
    pub ack: Option<SeqNum>,
    /// Control bits other than ACK.
    pub flags: Flags,
    /// Window field (unscaled).
    pub window: u16,
    /// Payload bytes.
    pub len: usize,
}

type Log = Arc<Mutex<Vec<Carried>>>;

fn log_packet(log: &Log, to_kernel: bool, packet: &[u8]) {
    let Ok((_, tcp)) = wire::parse(packet) else {
        return;
    };
    let c = Carried {
        at: Instant::now(),
        to_kernel,
        src_port: tcp.src_port,
        dst_port: tcp.dst_port,
        seq: tcp.seq,
        ack: tcp.ack,
        flags: tcp.flags,
        window: tcp.window,
        len: tcp.payload.len(),
    };
    log.lock().unwrap_or_else(|e| e.into_inner()).push(c);
}

/// Carries each IP packet read from TUN as one UDP datagram to our
/// endpoint, and writes each datagram that comes back to TUN; keeps the
/// TCP headers of what it carried.
pub struct Bridge {
    addr: SocketAddrV4,
    /// Where packets from TUN go.
    endpoint: Arc<Mutex<SocketAddrV4>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    stats: Arc<BridgeStats>,
    log: Log,
}

/// How long a bridge loop waits before checking whether to stop.
const POLL: Duration = Duration::from_millis(50);

impl Bridge {
    /// A bridge between `tun` and the endpoint whose UDP socket is at
    /// `endpoint`, on a fresh loopback UDP socket.
    pub fn start(tun: Arc<Tun>, endpoint: SocketAddrV4) -> Bridge {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind the bridge");
        let sock = socket2::SockRef::from(&socket);
        let _ = sock.set_recv_buffer_size(4 << 20);
        let _ = sock.set_send_buffer_size(4 << 20);
        socket.set_read_timeout(Some(POLL)).expect("read timeout");
        let addr = match socket.local_addr().expect("local_addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!("bound to IPv4"),
        };
        let socket = Arc::new(socket);
        let stop = Arc::new(AtomicBool::new(false));
        let stats = Arc::new(BridgeStats::default());
        let log = Log::default();
        let target = Arc::new(Mutex::new(endpoint));
        let up = {
            let target = target.clone();
            let (tun, socket, stop, stats) =
                (tun.clone(), socket.clone(), stop.clone(), stats.clone());
            let log = log.clone();
            std::thread::Builder::new()
                .name("tun->udp".into())
                .spawn(move || {
                    let mut buf = vec![0u8; 65_536];
                    while !stop.load(Ordering::Relaxed) {
                        match tun.wait_readable(POLL) {
                            Ok(true) => {}
                            Ok(false) => continue,
                            Err(_) => {
                                stats.errors.fetch_add(1, Ordering::Relaxed);
                                std::thread::sleep(POLL);
                                continue;
                            }
                        }
                        let endpoint = *target.lock().unwrap_or_else(|e| e.into_inner());
                        // Everything queued, then back to poll.
                        loop {
                            let n = match tun.recv(&mut buf) {
                                Ok(n) => n,
                                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                                Err(_) => {
                                    stats.errors.fetch_add(1, Ordering::Relaxed);
                                    break;
                                }
                            };
                            if n == 0 || buf[0] >> 4 != 4 {
                                stats.not_ipv4.fetch_add(1, Ordering::Relaxed);
                                continue;
                            }
                            log_packet(&log, false, &buf[..n]);
                            match socket.send_to(&buf[..n], endpoint) {
                                Ok(_) => stats.to_endpoint.fetch_add(1, Ordering::Relaxed),
                                Err(_) => stats.errors.fetch_add(1, Ordering::Relaxed),
                            };
                        }
                    }
                })
                .expect("spawn")
        };
        let down = {
            let (socket, stop, stats) = (socket.clone(), stop.clone(), stats.clone());
            let log = log.clone();
            std::thread::Builder::new()
                .name("udp->tun".into())
                .spawn(move || {
                    let mut buf = vec![0u8; 65_536];
                    while !stop.load(Ordering::Relaxed) {
                        let Ok((n, _)) = socket.recv_from(&mut buf) else {
                            continue;
                        };
                        log_packet(&log, true, &buf[..n]);
                        match tun.send(&buf[..n]) {
                            Ok(_) => stats.to_kernel.fetch_add(1, Ordering::Relaxed),
                            Err(_) => stats.errors.fetch_add(1, Ordering::Relaxed),
                        };
                    }
                })
                .expect("spawn")
        };
        Bridge {
            addr,
            endpoint: target,
            stop,
            threads: vec![up, down],
            stats,
            log,
        }
    }

    /// The bridge's UDP address: where our endpoint sends packets for the
    /// kernel.
    pub fn addr(&self) -> SocketAddrV4 {
        self.addr
    }

    /// Sends the packets from TUN to the endpoint at `endpoint` from now
    /// on (one of the test's own, instead of the lab's).
    pub fn retarget(&self, endpoint: SocketAddrV4) {
        *self.endpoint.lock().unwrap_or_else(|e| e.into_inner()) = endpoint;
    }

    /// The counters.
    pub fn stats(&self) -> &BridgeStats {
        &self.stats
    }

    /// The segments carried so far, in order.
    pub fn carried(&self) -> Vec<Carried> {
        self.log.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl Drop for Bridge {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

/// Our endpoint's config: loopback timers (MSL 50 ms, so TIME_WAIT lasts
/// 100 ms), a longer user timeout.
pub fn config() -> Config {
    let mut c = Config::loopback(Duration::from_millis(50));
    c.user_timeout = Duration::from_secs(30);
    c
}

/// Everything an inner run works with.
pub struct Lab {
    /// The namespace's name.
    pub ns: String,
    /// Our endpoint: UDP on the namespace's loopback, inner [`OUR_IP`].
    pub endpoint: Endpoint,
    /// The bridge (drop it after the endpoint's connections are done).
    pub bridge: Bridge,
    tun: Arc<Tun>,
}

impl Lab {
    /// Sets up TUN, addresses, bridge and endpoint in namespace `ns`, which
    /// the calling process must be in.
    fn new(ns: &str, config: Config) -> Lab {
        let here = run("ip", &["netns", "identify"]).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            here.trim(),
            ns,
            "the inner run must be inside namespace {ns} (is {NS_ENV} set by hand?)"
        );
        let tun = Arc::new(Tun::open(TUN_NAME).expect("create the TUN device"));
        let dev = tun.name().to_string();
        let kernel = format!("{KERNEL_IP}/24");
        run("ip", &["addr", "add", &kernel, "dev", &dev]).unwrap_or_else(|e| panic!("{e}"));
        run("ip", &["link", "set", &dev, "mtu", "1500", "up"]).unwrap_or_else(|e| panic!("{e}"));
        let mut options = Options::with_config(config);
        options.inner_addr = Some(OUR_IP);
        if let Some(dir) = std::env::var_os("FSM_KERNEL_PCAP_DIR") {
            let path = Path::new(&dir).join(format!("{ns}.pcap"));
            println!("[{ns}] inner packets go to {}", path.display());
            options.pcap = Some(path);
        }
        let endpoint =
            Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), options).expect("bind");
        let udp = match endpoint.local_addr().expect("local_addr") {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(a) => panic!("an endpoint on IPv6: {a}"),
        };
        let bridge = Bridge::start(tun.clone(), udp);
        println!(
            "[{ns}] {dev}: kernel {KERNEL_IP}/24; ours {OUR_IP} on UDP {udp}, bridge on UDP {}",
            bridge.addr()
        );
        Lab {
            ns: ns.to_string(),
            endpoint,
            bridge,
            tun,
        }
    }

    /// Prints the bridge's and the endpoint's counters.
    pub fn report(&self) {
        let s = self.bridge.stats();
        println!(
            "[{}] bridge: tun->udp {} udp->tun {} not-ipv4 {} errors {}; endpoint: {}",
            self.ns,
            s.to_endpoint.load(Ordering::Relaxed),
            s.to_kernel.load(Ordering::Relaxed),
            s.not_ipv4.load(Ordering::Relaxed),
            s.errors.load(Ordering::Relaxed),
            self.endpoint.counters()
        );
    }
}

/// The kernel's sockets from `kernel` to `ours`.
pub fn kernel_view(kernel: SocketAddrV4, ours: SocketAddrV4) -> Vec<&'static str> {
    kernel_sockets()
        .into_iter()
        .filter(|s| s.local == kernel && s.remote == ours)
        .map(|s| s.state)
        .collect()
}

/// The kernel's protocol counters in this namespace (`/proc/net/snmp` and
/// `/proc/net/netstat`), as `Group.Name` (`Tcp.OutRsts`, `TcpExt.TCPAbortOnData`).
pub fn kernel_counters() -> BTreeMap<String, i64> {
    let mut all = BTreeMap::new();
    for file in ["/proc/net/snmp", "/proc/net/netstat"] {
        let text = std::fs::read_to_string(file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        for pair in lines.chunks(2) {
            let [names, values] = pair else { continue };
            let (Some((group, names)), Some((_, values))) =
                (names.split_once(':'), values.split_once(':'))
            else {
                continue;
            };
            for (n, v) in names.split_whitespace().zip(values.split_whitespace()) {
                if let Ok(v) = v.parse() {
                    all.insert(format!("{group}.{n}"), v);
                }
            }
        }
    }
    all
}

/// The counters that moved from `before` to `after`, as `name=delta`.
pub fn counter_changes(
    before: &BTreeMap<String, i64>,
    after: &BTreeMap<String, i64>,
) -> BTreeMap<String, i64> {
    after
        .iter()
        .filter_map(|(k, v)| {
            let d = v - before.get(k).copied().unwrap_or(0);
            (d != 0).then(|| (k.clone(), d))
        })
        .collect()
}

/// `ss -tan` as the namespace sees it, for the log (empty if `ss` is not
/// there).
pub fn ss() -> String {
    run("ss", &["-tan"]).unwrap_or_default()
}

/// Sends `out` while reading everything until the peer's FIN. The side
/// that closes first shuts its writing down as soon as `out` is written;
/// the other one after it has read the peer's FIN.
pub fn exchange<S: Sync>(stream: &S, out: &[u8], close_first: bool, shutdown: fn(&S)) -> Vec<u8>
where
    for<'a> &'a S: Read + Write,
{
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut w = stream;
            w.write_all(out).expect("write");
            if close_first {
                shutdown(stream);
            }
        });
        let mut got = Vec::with_capacity(out.len());
        let mut r = stream;
        r.read_to_end(&mut got).expect("read");
        writer.join().expect("writer");
        if !close_first {
            shutdown(stream);
        }
        got
    })
}
