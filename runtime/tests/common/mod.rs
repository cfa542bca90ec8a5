//! Helpers for the runtime's tests: endpoints on loopback with short timers,
//! and a raw peer that speaks IPv4-in-UDP segment by segment.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, UdpSocket};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use fsm_runtime::endpoint::StepSink;
use fsm_runtime::trace::{Coverage, TraceEntry};
use fsm_runtime::wire::seq::SeqNum;
use fsm_runtime::wire::tcp::{Flags, TcpRepr};
use fsm_runtime::wire::{self};
use fsm_runtime::{Config, Endpoint, Options};

/// MSL for tests: TIME_WAIT lasts 100 ms.
pub const MSL: Duration = Duration::from_millis(50);

/// Transitions seen by every endpoint a test made, for coverage.
pub type Seen = Arc<Mutex<Vec<TraceEntry>>>;

/// Loopback config with short timers.
pub fn config() -> Config {
    let mut c = Config::loopback(MSL);
    c.user_timeout = Duration::from_secs(3);
    c
}

/// An endpoint on 127.0.0.1 with `config`, recording transitions into `seen`.
pub fn endpoint_with(seen: &Seen, config: Config) -> Endpoint {
    endpoint_with_options(seen, Options::with_config(config))
}

/// An endpoint on 127.0.0.1 with `config`, recording transitions into
/// `seen` and handing every event raised to `on_step`.
pub fn endpoint_with_steps(seen: &Seen, config: Config, on_step: StepSink) -> Endpoint {
    let mut o = Options::with_config(config);
    o.on_step = Some(on_step);
    endpoint_with_options(seen, o)
}

/// An endpoint on 127.0.0.1 with `o`, recording transitions into `seen`.
fn endpoint_with_options(seen: &Seen, mut o: Options) -> Endpoint {
    let seen = seen.clone();
    o.on_transition = Some(Box::new(move |e| {
        seen.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push(e.clone())
    }));
    Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), o).expect("bind")
}

/// The endpoint's UDP address, which is also its inner one: where a raw
/// peer sends, and what it connects to.
pub fn udp_addr<M: fsm_runtime::vocab::Machine>(ep: &Endpoint<M>) -> SocketAddrV4 {
    match ep.local_addr().expect("local_addr") {
        SocketAddr::V4(a) => a,
        SocketAddr::V6(a) => panic!("an endpoint on IPv6: {a}"),
    }
}

/// An endpoint on 127.0.0.1 with short timers, recording into `seen`.
pub fn endpoint(seen: &Seen) -> Endpoint {
    endpoint_with(seen, config())
}

/// Coverage of tcp.fsm by what `seen` holds.
pub fn coverage(seen: &Seen) -> Coverage {
    let mut c = Coverage::new(&fsm_runtime::tcp::Spec);
    for e in seen.lock().unwrap().iter() {
        c.record(&e.transition);
    }
    c
}

/// The states a connection went through, in order, from its `trace`.
pub fn path(trace: &[TraceEntry]) -> String {
    let mut states: Vec<&str> = trace
        .first()
        .map(|e| e.transition.from)
        .into_iter()
        .collect();
    states.extend(trace.iter().map(|e| e.transition.to));
    states.join(" -> ")
}

/// Whether `seen` holds a transition from `from` to `to` on `event`.
pub fn saw(seen: &Seen, from: &str, event: &str, to: &str) -> bool {
    seen.lock()
        .unwrap()
        .iter()
        .any(|e| e.transition.from == from && e.transition.event == event && e.transition.to == to)
}

/// Waits up to `limit` for `cond`.
pub fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    while Instant::now() < end {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    cond()
}

/// A segment a raw peer received.
#[derive(Clone, Debug)]
pub struct Seg {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment, if ACK is set.
    pub ack: Option<SeqNum>,
    /// Control bits.
    pub flags: Flags,
    /// Window field.
    pub window: u16,
    /// Payload length.
    pub len: usize,
}

/// A peer that sends hand-made segments over loopback UDP and reads what
/// comes back. Its inner address is its UDP address.
pub struct RawPeer {
    pub socket: UdpSocket,
    pub addr: SocketAddrV4,
    /// The endpoint's UDP address, where every datagram goes.
    pub endpoint: SocketAddrV4,
}

impl RawPeer {
    /// A raw peer on a fresh loopback UDP socket, talking to the endpoint
    /// whose UDP socket is at `endpoint`.
    pub fn new(endpoint: SocketAddrV4) -> RawPeer {
        let socket = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).expect("bind raw peer");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let addr = match socket.local_addr().unwrap() {
            SocketAddr::V4(a) => a,
            SocketAddr::V6(_) => unreachable!(),
        };
        RawPeer {
            socket,
            addr,
            endpoint,
        }
    }

    /// Sends one segment from our inner port `port` to inner address `to`
    /// (in a datagram to the endpoint's UDP socket).
    pub fn send(
        &self,
        port: u16,
        to: SocketAddrV4,
        seq: SeqNum,
        ack: Option<SeqNum>,
        flags: Flags,
        payload: &[u8],
    ) {
        let repr = TcpRepr {
            src_port: port,
            dst_port: to.port(),
            seq,
            ack,
            flags,
            window: 65_535,
            payload,
            ..TcpRepr::default()
        };
        let bytes = wire::emit_vec(*self.addr.ip(), *to.ip(), &repr);
        self.socket.send_to(&bytes, self.endpoint).expect("send");
    }

    /// The next segment received within `limit` that `accept` likes.
    pub fn recv_matching(
        &self,
        limit: Duration,
        mut accept: impl FnMut(&Seg) -> bool,
    ) -> Option<Seg> {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 65_536];
        while Instant::now() < end {
            let Ok((n, _)) = self.socket.recv_from(&mut buf) else {
                continue;
            };
            let Ok((_, tcp)) = wire::parse(&buf[..n]) else {
                continue;
            };
            let seg = Seg {
                src_port: tcp.src_port,
                dst_port: tcp.dst_port,
                seq: tcp.seq,
                ack: tcp.ack,
                flags: tcp.flags,
                window: tcp.window,
                len: tcp.payload.len(),
            };
            if accept(&seg) {
                return Some(seg);
            }
        }
        None
    }

    /// The next segment received within a second.
    pub fn recv(&self) -> Option<Seg> {
        self.recv_matching(Duration::from_secs(1), |_| true)
    }
}

/// A deterministic pseudo-random buffer.
pub fn pattern(n: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 32) as u8
        })
        .collect()
}

/// FNV-1a, to compare large transfers by hash.
pub fn hash(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    })
}
