//! A fair race under loss: one bulk transfer between two network
//! namespaces, by the kernel's TCP or by ours, through a relay that drops,
//! duplicates and reorders packets with one seeded generator, the same for
//! both stacks.
//!
//! Each namespace has a TUN device; the relay (a thread of this process,
//! which keeps both devices' descriptors) moves each IP packet from one to
//! the other unchanged, or not. A TUN device without a virtio header does
//! no segmentation offload, so the kernel's TCP sends MSS-sized packets;
//! ours sends one segment per UDP datagram. Both use an MSS of 1,460: the
//! kernel clamped with `TCP_MAXSEG`, ours with `Config::mss`; the devices'
//! MTU (1,600) carries our segment with its UDP and IP headers. The sender
//! runs in namespace A and the receiver in B, each a process started by
//! `ip netns exec` from a program that calls [`child`].

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fsm_runtime::fault::SplitMix64;
use fsm_runtime::{Config, Endpoint, Options};

use crate::netns::tun::{self, Tun};
use crate::netns::{Netns, exec_in, run};

/// The sender's address (namespace A).
pub const A: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 1);
/// The receiver's address (namespace B).
pub const B: Ipv4Addr = Ipv4Addr::new(10, 77, 0, 2);
/// Segment size, both stacks.
pub const MSS: u16 = 1460;
const PORT: u16 = 5201;
const MTU: &str = "1600";

/// Which TCP carries the transfer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stack {
    /// This runtime, its defaults (recovery.fsm, congestion.fsm).
    Ours,
    /// The kernel's, SACK on or off in both namespaces
    /// (`net.ipv4.tcp_sack`).
    Kernel {
        /// `net.ipv4.tcp_sack`.
        sack: bool,
    },
}

impl Stack {
    /// `ours`, `kernel` or `kernel-nosack`.
    pub fn name(self) -> &'static str {
        match self {
            Stack::Ours => "ours",
            Stack::Kernel { sack: true } => "kernel",
            Stack::Kernel { sack: false } => "kernel-nosack",
        }
    }

    fn named(s: &str) -> Option<Stack> {
        [
            Stack::Ours,
            Stack::Kernel { sack: true },
            Stack::Kernel { sack: false },
        ]
        .into_iter()
        .find(|x| x.name() == s)
    }
}

/// What the relay does to each packet, each way.
#[derive(Clone, Copy, Debug)]
pub struct Link {
    /// Probability a packet is dropped.
    pub loss: f64,
    /// Probability a packet is sent twice.
    pub duplicate: f64,
    /// Probability a packet is held back and sent after the next one that
    /// way.
    pub reorder: f64,
    /// The generator's seed.
    pub seed: u64,
}

/// What the relay did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Packets it read.
    pub packets: u64,
    /// Dropped.
    pub dropped: u64,
    /// Sent twice.
    pub duplicated: u64,
    /// Held back behind the next.
    pub reordered: u64,
}

/// One transfer's result.
#[derive(Clone, Copy, Debug)]
pub struct Outcome {
    /// Bytes the receiver read.
    pub bytes: u64,
    /// From the receiver's accept to the end of the stream.
    pub seconds: f64,
    /// What the relay did.
    pub relay: Counts,
}

impl Outcome {
    /// Goodput, MB/s.
    pub fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.seconds.max(1e-9) / 1e6
    }
}

/// Moves packets between `a` and `b` as `link` says until `stop`.
fn relay(a: &Tun, b: &Tun, link: Link, stop: &AtomicBool) -> Counts {
    let mut rng = SplitMix64::new(link.seed);
    let mut counts = Counts::default();
    // A packet held back per direction (towards b, towards a).
    let mut held: [Option<Vec<u8>>; 2] = [None, None];
    let mut buf = vec![0u8; 65536];
    while !stop.load(Ordering::Relaxed) {
        let ready = tun::wait_any([a, b], Duration::from_millis(20)).unwrap_or([false; 2]);
        if ready == [false; 2] {
            // Nothing more is coming that way for now: let the held go.
            for (dir, to) in [(0, b), (1, a)] {
                if let Some(p) = held[dir].take() {
                    let _ = to.send(&p);
                }
            }
            continue;
        }
        for (dir, (from, to)) in [(a, b), (b, a)].into_iter().enumerate() {
            if !ready[dir] {
                continue;
            }
            // Up to 64 packets a turn, so one way cannot starve the other.
            for _ in 0..64 {
                let Ok(n) = from.recv(&mut buf) else {
                    break;
                };
                counts.packets += 1;
                let packet = &buf[..n];
                if rng.next_f64() < link.loss {
                    counts.dropped += 1;
                    continue;
                }
                let copies = if rng.next_f64() < link.duplicate {
                    counts.duplicated += 1;
                    2
                } else {
                    1
                };
                if held[dir].is_none() && rng.next_f64() < link.reorder {
                    counts.reordered += 1;
                    held[dir] = Some(packet.to_vec());
                    continue;
                }
                for _ in 0..copies {
                    let _ = to.send(packet);
                }
                if let Some(p) = held[dir].take() {
                    let _ = to.send(&p);
                }
            }
        }
    }
    counts
}

/// A namespace with a TUN device at `addr`, routing `peer` through it.
fn side(name: &str, addr: Ipv4Addr, peer: Ipv4Addr) -> Result<(Netns, Tun), String> {
    let ns = Netns::create(name);
    let tun = Tun::open(name).map_err(|e| format!("TUN {name}: {e}"))?;
    let dev = tun.name().to_owned();
    run("ip", &["link", "set", &dev, "netns", name])?;
    let ip = |args: &[&str]| {
        let mut all = vec!["-n", name];
        all.extend_from_slice(args);
        run("ip", &all)
    };
    ip(&["addr", "add", &format!("{addr}/32"), "dev", &dev])?;
    ip(&["link", "set", &dev, "mtu", MTU, "up"])?;
    ip(&["route", "add", &format!("{peer}/32"), "dev", &dev])?;
    Ok((ns, tun))
}

/// Sets `net.ipv4.tcp_sack` in namespace `ns`.
fn set_sack(ns: &Netns, on: bool) -> Result<(), String> {
    let value = format!("net.ipv4.tcp_sack={}", u8::from(on));
    run(
        "ip",
        &["netns", "exec", ns.name(), "sysctl", "-q", "-w", &value],
    )
    .map(|_| ())
}

/// The spec files our TCP runs in a race, if not the defaults compiled in
/// (congestion.fsm, recovery.fsm).
#[derive(Clone, Debug, Default)]
pub struct Specs {
    /// The congestion spec.
    pub congestion: Option<std::path::PathBuf>,
    /// The recovery spec.
    pub recovery: Option<std::path::PathBuf>,
}

/// Transfers `bytes` from A to B with `stack` through a relay doing
/// `link`, our TCP running `specs`, the namespaces created for it and
/// removed after. `program` (with `prefix` before the child's arguments)
/// is a program that calls [`child`]. Needs root (see
/// [`crate::netns::why_skip`]).
pub fn race(
    program: &Path,
    prefix: &[&str],
    stack: Stack,
    link: Link,
    bytes: u64,
    limit: Duration,
    specs: &Specs,
) -> Result<Outcome, String> {
    // Unique per process and per race (tests race in parallel).
    static RACES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = RACES.fetch_add(1, Ordering::Relaxed);
    let tag = format!("{}{n}", std::process::id() % 100_000);
    let (ns_a, tun_a) = side(&format!("fsmra{tag}"), A, B)?;
    let (ns_b, tun_b) = side(&format!("fsmrb{tag}"), B, A)?;
    if let Stack::Kernel { sack } = stack {
        set_sack(&ns_a, sack)?;
        set_sack(&ns_b, sack)?;
    }
    let stop = Arc::new(AtomicBool::new(false));
    let relay = {
        let stop = stop.clone();
        std::thread::spawn(move || relay(&tun_a, &tun_b, link, &stop))
    };
    let child = |role: &str| {
        let mut args: Vec<String> = prefix.iter().map(|s| s.to_string()).collect();
        args.extend([role.into(), stack.name().into(), bytes.to_string()]);
        if stack == Stack::Ours {
            for (key, path) in [("cc", &specs.congestion), ("recovery", &specs.recovery)] {
                if let Some(p) = path {
                    args.push(format!("{key}={}", p.display()));
                }
            }
        }
        args
    };
    let recv_args = child("recv");
    let send_args = child("send");
    let program = program.to_owned();
    let receiver = {
        let program = program.clone();
        std::thread::spawn(move || {
            let args: Vec<&str> = recv_args.iter().map(String::as_str).collect();
            exec_in(&ns_b, &program, &args, &[], limit)
        })
    };
    std::thread::sleep(Duration::from_millis(300));
    let args: Vec<&str> = send_args.iter().map(String::as_str).collect();
    let sent = exec_in(&ns_a, &program, &args, &[], limit);
    let received = receiver.join().map_err(|_| "the receiver panicked")?;
    stop.store(true, Ordering::Relaxed);
    let relay = relay.join().map_err(|_| "the relay panicked")?;
    drop(ns_a);
    let received = received?;
    let sent = sent?;
    let failed = |who: &str, r: &crate::netns::Ran| {
        format!(
            "{} {who}: {}\n{}{}",
            stack.name(),
            r.status
                .map_or("killed at the limit".into(), |s| s.to_string()),
            r.stdout,
            r.stderr
        )
    };
    if !sent.status.is_some_and(|s| s.success()) {
        return Err(failed("sender", &sent));
    }
    if !received.status.is_some_and(|s| s.success()) {
        return Err(failed("receiver", &received));
    }
    // The receiver prints `BYTES SECONDS`.
    let mut words = received.stdout.split_whitespace();
    let got: u64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0);
    let seconds: f64 = words.next().and_then(|w| w.parse().ok()).unwrap_or(0.0);
    if got != bytes {
        return Err(format!("{}: {got} of {bytes} bytes received", stack.name()));
    }
    Ok(Outcome {
        bytes: got,
        seconds,
        relay,
    })
}

/// The processes of a race: `recv STACK BYTES` (in B: prints `BYTES
/// SECONDS`) or `send STACK BYTES` (in A), then for our stack
/// `cc=FILE` and `recovery=FILE` if not the defaults. Answers the exit
/// code.
pub fn child(args: &[String]) -> Result<(), String> {
    let [role, stack, bytes, more @ ..] = args else {
        return Err(format!(
            "expected ROLE STACK BYTES [cc=FILE] [recovery=FILE], got {args:?}"
        ));
    };
    let mut config = race_config();
    for arg in more {
        match arg.split_once('=') {
            Some(("cc", path)) => {
                config.congestion =
                    fsm_runtime::cc::Congestion::load(path).map_err(|e| e.to_string())?
            }
            Some(("recovery", path)) => {
                config.recovery =
                    fsm_runtime::recovery::Recovery::load(path).map_err(|e| e.to_string())?
            }
            _ => return Err(format!("unknown argument {arg}")),
        }
    }
    let options = || Options::with_config(config.clone());
    let stack = Stack::named(stack).ok_or_else(|| format!("no stack {stack}"))?;
    let bytes: u64 = bytes.parse().map_err(|e| format!("{bytes}: {e}"))?;
    let e = |e: std::io::Error| e.to_string();
    let deadline = Duration::from_secs(120);
    match (role.as_str(), stack) {
        ("recv", Stack::Kernel { .. }) => {
            let listener = TcpListener::bind(SocketAddrV4::new(B, PORT)).map_err(e)?;
            let (s, _) = listener.accept().map_err(e)?;
            let (got, secs) = drain(s, deadline)?;
            println!("{got} {secs}");
        }
        ("send", Stack::Kernel { .. }) => {
            let s = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None)
                .map_err(e)?;
            s.set_tcp_mss(u32::from(MSS)).map_err(e)?;
            s.connect(&SocketAddrV4::new(B, PORT).into()).map_err(e)?;
            let mut s: TcpStream = s.into();
            fill(&mut s, bytes)?;
            s.shutdown(std::net::Shutdown::Write).map_err(e)?;
            // Wait for the receiver's close, so that nothing is cut short.
            let _ = s.set_read_timeout(Some(deadline));
            let _ = s.read(&mut [0u8; 1]);
        }
        ("recv", Stack::Ours) => {
            let ep = Endpoint::bind_with(SocketAddrV4::new(B, PORT), options()).map_err(e)?;
            let listener = ep.listen(PORT, 1).map_err(e)?;
            let (s, _) = listener.accept_timeout(deadline).map_err(e)?;
            let (got, secs) = drain(s, deadline)?;
            println!("{got} {secs}");
        }
        ("send", Stack::Ours) => {
            let ep = Endpoint::bind_with(SocketAddrV4::new(A, 0), options()).map_err(e)?;
            let mut s = ep
                .connect(SocketAddrV4::new(B, PORT), Duration::from_secs(10))
                .map_err(e)?;
            fill(&mut s, bytes)?;
            s.close(deadline).map_err(e)?;
        }
        (other, _) => return Err(format!("no role {other}")),
    }
    Ok(())
}

/// The endpoint's configuration for a race: MSS 1,460, buffers as the
/// kernel's grow to on a LAN (4 MiB).
fn race_config() -> Config {
    Config {
        mss: MSS,
        send_buffer: 4 << 20,
        recv_buffer: 4 << 20,
        ..Config::loopback(Duration::from_millis(100))
    }
}

/// Writes `bytes` bytes.
fn fill(w: &mut impl Write, bytes: u64) -> Result<(), String> {
    let chunk = vec![0x5a; 64 << 10];
    let mut left = bytes;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        w.write_all(&chunk[..n]).map_err(|e| e.to_string())?;
        left -= n as u64;
    }
    w.flush().map_err(|e| e.to_string())
}

/// Reads to the end of the stream: (bytes, seconds from the first call).
fn drain(mut r: impl Read, deadline: Duration) -> Result<(u64, f64), String> {
    let started = Instant::now();
    let mut buf = vec![0u8; 256 << 10];
    let mut got = 0u64;
    loop {
        if started.elapsed() > deadline {
            return Err(format!("{got} bytes by the deadline"));
        }
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got += n as u64,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.to_string()),
        }
    }
    Ok((got, started.elapsed().as_secs_f64()))
}
