//! Hostile input: arbitrary and mutated datagrams never panic a listener or
//! an established connection and are counted by reason; the blind attacks
//! of RFC 5961 get the answers the RFC gives; a SYN flood is absorbed with
//! bounded memory and a real client still connects.
//!
//! These run two sans-IO hosts wired back to back (no sockets), so every
//! case is exact and fast; the SYN flood also runs over real UDP.

mod common;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use fsm_runtime::config::Config;
use fsm_runtime::host::{ConnId, Host};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::tcp::Spec;
use fsm_runtime::wire::seq::SeqNum;
use fsm_runtime::wire::tcp::{Flags, TcpRepr};
use fsm_runtime::wire::{self, DropReason};
use proptest::prelude::*;

const A: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 1);
const B: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 2);
const EVIL: Ipv4Addr = Ipv4Addr::new(10, 1, 0, 66);
const PORT: u16 = 80;

fn udp(ip: Ipv4Addr) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip, 9))
}

/// Two hosts back to back: A connects to B's listener.
struct Pair {
    a: Host<Spec>,
    b: Host<Spec>,
    now: Instant,
    buf: Vec<u8>,
    /// What B sent that was not for A (replies to the attacker).
    to_evil: Vec<Vec<u8>>,
    /// (SEQ, ACK) of the last segment A sent B: after a quiet exchange,
    /// B's RCV.NXT and SND.NXT, which a blind attacker has to guess.
    last_from_a: Option<(SeqNum, Option<SeqNum>)>,
}

impl Pair {
    fn new(config: Config) -> Pair {
        let now = Instant::now();
        let mut b = Host::new(B, config.clone(), IsnGenerator::new([2; 16]), now);
        b.listen(now, PORT, 8).unwrap();
        Pair {
            a: Host::new(A, config, IsnGenerator::new([1; 16]), now),
            b,
            now,
            buf: vec![0; 65_536],
            to_evil: Vec::new(),
            last_from_a: None,
        }
    }

    /// Delivers datagrams both ways until both hosts are quiet.
    fn pump(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while let Some(t) = self.a.poll_transmit(self.now, &mut self.buf) {
                if let Ok((_, tcp)) = wire::parse(&self.buf[..t.len]) {
                    self.last_from_a = Some((tcp.seq, tcp.ack));
                }
                self.b.handle_datagram(self.now, udp(A), &self.buf[..t.len]);
                moved = true;
            }
            while let Some(t) = self.b.poll_transmit(self.now, &mut self.buf) {
                if t.udp_peer == udp(A) {
                    self.a.handle_datagram(self.now, udp(B), &self.buf[..t.len]);
                } else {
                    self.to_evil.push(self.buf[..t.len].to_vec());
                }
                moved = true;
            }
            if !moved {
                return;
            }
        }
        panic!("hosts never went quiet");
    }

    /// Lets virtual time pass, running timers.
    fn wait(&mut self, d: Duration) {
        let end = self.now + d;
        while let Some(t) = [self.a.poll_timeout(), self.b.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
        {
            if t > end {
                break;
            }
            self.now = self.now.max(t);
            self.a.handle_timeout(self.now);
            self.b.handle_timeout(self.now);
            self.pump();
        }
        self.now = end;
    }

    /// An established connection: A's end and B's end.
    fn establish(&mut self) -> (ConnId, ConnId) {
        let ca = self
            .a
            .connect(
                self.now,
                Some(4000),
                SocketAddrV4::new(B, PORT),
                udp(B),
                None,
            )
            .unwrap();
        self.pump();
        let cb = self.b.accept(PORT).unwrap().expect("accepted");
        assert!(self.a.status(ca).unwrap().open);
        (ca, cb)
    }

    /// Sends `data` from A to B and checks it arrives intact.
    fn transfer_ok(&mut self, ca: ConnId, cb: ConnId, data: &[u8]) {
        let mut sent = 0;
        let mut got = Vec::new();
        let mut chunk = vec![0u8; 8192];
        for _ in 0..10_000 {
            if sent < data.len() {
                sent += self.a.send(self.now, ca, &data[sent..]).unwrap();
            }
            self.pump();
            loop {
                let n = self.b.recv(self.now, cb, &mut chunk).unwrap();
                if n == 0 {
                    break;
                }
                got.extend_from_slice(&chunk[..n]);
            }
            if got.len() == data.len() {
                break;
            }
            self.wait(Duration::from_millis(10));
        }
        assert_eq!(got, data, "data after the attack arrives intact");
        assert!(self.a.status(ca).unwrap().error.is_none());
        assert!(self.b.status(cb).unwrap().error.is_none());
    }

    /// The state of B's connection.
    fn b_state(&self, cb: ConnId) -> String {
        self.b.connection(cb).unwrap().state().to_string()
    }
}

fn config() -> Config {
    let mut c = Config::loopback(Duration::from_millis(100));
    c.recv_buffer = 32 * 1024;
    c
}

/// A segment from A's 4-tuple to B's connection, as an attacker forging
/// it would write it (valid checksums).
fn forged(seq: SeqNum, ack: Option<SeqNum>, flags: Flags, payload: &[u8]) -> Vec<u8> {
    let repr = TcpRepr {
        src_port: 4000,
        dst_port: PORT,
        seq,
        ack,
        flags,
        window: 1000,
        payload,
        ..TcpRepr::default()
    };
    wire::emit_vec(A, B, &repr)
}

/// The last segment B sent to A, parsed: (seq, ack, flags).
fn last_to_a(pair: &mut Pair) -> Option<(SeqNum, Option<SeqNum>, Flags)> {
    let mut last = None;
    while let Some(t) = pair.b.poll_transmit(pair.now, &mut pair.buf) {
        if let Ok((_, tcp)) = wire::parse(&pair.buf[..t.len]) {
            last = Some((tcp.seq, tcp.ack, tcp.flags));
        }
    }
    last
}

/// B's (RCV.NXT, SND.NXT) after a quiet exchange: what A last sent.
fn probe(pair: &mut Pair) -> (SeqNum, SeqNum) {
    let (seq, ack) = pair.last_from_a.expect("A has sent something");
    (seq, ack.expect("A's last segment has an ACK"))
}

// ---- RFC 5961 blind attacks ----------------------------------------------

#[test]
fn rst_in_window_but_not_exact_gets_a_challenge_ack_and_no_reset() {
    let mut p = Pair::new(config());
    let (ca, cb) = p.establish();
    let (rcv_nxt, snd_nxt) = probe(&mut p);
    p.b.handle_datagram(p.now, udp(A), &forged(rcv_nxt + 100, None, Flags::RST, &[]));
    let (seq, ack, flags) = last_to_a(&mut p).expect("challenge ACK");
    assert_eq!((seq, ack, flags.rst()), (snd_nxt, Some(rcv_nxt), false));
    assert_eq!(p.b_state(cb), "ESTABLISHED");
    p.transfer_ok(ca, cb, b"still here");
}

#[test]
fn rst_outside_the_window_is_dropped_silently() {
    let mut p = Pair::new(config());
    let (ca, cb) = p.establish();
    let (rcv_nxt, _) = probe(&mut p);
    p.b.handle_datagram(
        p.now,
        udp(A),
        &forged(rcv_nxt + 10_000_000, None, Flags::RST, &[]),
    );
    assert!(
        last_to_a(&mut p).is_none(),
        "no answer to an out-of-window RST"
    );
    assert_eq!(p.b_state(cb), "ESTABLISHED");
    p.transfer_ok(ca, cb, b"still here");
}

#[test]
fn rst_exactly_at_rcv_nxt_resets() {
    let mut p = Pair::new(config());
    let (_, cb) = p.establish();
    let (rcv_nxt, _) = probe(&mut p);
    p.b.handle_datagram(p.now, udp(A), &forged(rcv_nxt, None, Flags::RST, &[]));
    let st = p.b.status(cb).unwrap();
    assert_eq!(st.error, Some(fsm_runtime::conn::ConnError::Reset));
    assert!(st.finished);
}

#[test]
fn syn_in_a_synchronized_state_gets_a_challenge_ack() {
    let mut p = Pair::new(config());
    let (ca, cb) = p.establish();
    let (rcv_nxt, snd_nxt) = probe(&mut p);
    for seq in [rcv_nxt, rcv_nxt + 5, rcv_nxt + 3_000_000_000] {
        p.b.handle_datagram(p.now, udp(A), &forged(seq, None, Flags::SYN, &[]));
        let (s, a, flags) = last_to_a(&mut p).expect("an ACK");
        assert_eq!(
            (s, a, flags.syn(), flags.rst()),
            (snd_nxt, Some(rcv_nxt), false, false)
        );
    }
    assert_eq!(p.b_state(cb), "ESTABLISHED");
    p.transfer_ok(ca, cb, b"still here");
}

#[test]
fn spoofed_acks_are_answered_and_dropped() {
    let mut p = Pair::new(config());
    let (ca, cb) = p.establish();
    let (rcv_nxt, snd_nxt) = probe(&mut p);
    // Acknowledging data never sent, and data acknowledged long ago, with
    // an in-window sequence number and a payload that must not be taken.
    for ack in [snd_nxt + 50_000, snd_nxt - 2_000_000_000] {
        p.b.handle_datagram(
            p.now,
            udp(A),
            &forged(rcv_nxt, Some(ack), Flags::empty(), b"INJECTED"),
        );
        let (s, a, _) = last_to_a(&mut p).expect("an ACK");
        assert_eq!(
            (s, a),
            (snd_nxt, Some(rcv_nxt)),
            "RCV.NXT did not move: nothing injected"
        );
    }
    let mut buf = [0u8; 64];
    assert_eq!(
        p.b.recv(p.now, cb, &mut buf).unwrap(),
        0,
        "no injected data"
    );
    p.transfer_ok(ca, cb, b"genuine");
}

// ---- arbitrary and mutated datagrams --------------------------------------

/// Mutations of a valid segment that the wire layer must reject.
fn mutations(valid: &[u8]) -> Vec<(Vec<u8>, DropReason)> {
    let mut out = Vec::new();
    for cut in [0, 1, 19, 20, 39] {
        out.push((valid[..cut].to_vec(), DropReason::Truncated));
    }
    let mut v = valid.to_vec();
    v[0] = 0x65; // version 6
    out.push((v, DropReason::BadIpVersion));
    let mut v = valid.to_vec();
    v[9] = 17; // UDP, header checksum fixed below
    fix_ip_checksum(&mut v);
    out.push((v, DropReason::NotTcp));
    let mut v = valid.to_vec();
    v[10] ^= 0xff;
    out.push((v, DropReason::BadIpChecksum));
    let mut v = valid.to_vec();
    let last = v.len() - 1;
    v[last] ^= 1;
    out.push((v, DropReason::BadTcpChecksum));
    let mut v = valid.to_vec();
    v[32] = (v[32] & 0x0f) | (15 << 4); // data offset 60 bytes: past the end
    out.push((v, DropReason::BadDataOffset));
    out
}

fn fix_ip_checksum(v: &mut [u8]) {
    v[10] = 0;
    v[11] = 0;
    let mut sum: u32 = 0;
    for c in v[..20].chunks(2) {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    v[10..12].copy_from_slice(&c.to_be_bytes());
}

#[test]
fn mutated_datagrams_are_dropped_and_counted_by_reason() {
    let mut p = Pair::new(config());
    let (ca, cb) = p.establish();
    let (rcv_nxt, _) = probe(&mut p);
    let valid = forged(rcv_nxt, None, Flags::empty(), b"payload!");
    for (bytes, reason) in mutations(&valid) {
        let before = p.b.counters().malformed.get(reason);
        p.b.handle_datagram(p.now, udp(A), &bytes);
        assert_eq!(p.b.counters().malformed.get(reason), before + 1, "{reason}");
    }
    // An option running past the header.
    let mut opts = forged(rcv_nxt, None, Flags::empty(), &[]);
    opts[32] = (opts[32] & 0x0f) | (6 << 4); // 24-byte header: 4 bytes of options
    let total = opts.len() + 4;
    opts.extend_from_slice(&[2, 8, 0, 0]); // MSS option claiming 8 bytes
    opts[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    fix_ip_checksum(&mut opts);
    fix_tcp_checksum(&mut opts);
    let before = p.b.counters().malformed.get(DropReason::BadOption);
    p.b.handle_datagram(p.now, udp(A), &opts);
    assert_eq!(
        p.b.counters().malformed.get(DropReason::BadOption),
        before + 1
    );
    println!("drop counters: {}", p.b.counters().malformed);
    p.transfer_ok(ca, cb, b"unaffected");
}

fn fix_tcp_checksum(v: &mut [u8]) {
    v[36] = 0;
    v[37] = 0;
    let tcp_len = v.len() - 20;
    let mut sum: u32 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let hi = c[0];
            let lo = *c.get(1).unwrap_or(&0);
            sum += u32::from(u16::from_be_bytes([hi, lo]));
        }
    };
    add(&v[12..20]);
    add(&[0, 6]);
    add(&(tcp_len as u16).to_be_bytes());
    add(&v[20..]);
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let c = !(sum as u16);
    v[36..38].copy_from_slice(&c.to_be_bytes());
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, .. ProptestConfig::default() })]

    /// Arbitrary bytes, and well-formed segments with every flag
    /// combination and random numbers outside the window, neither panic
    /// nor disturb an established connection.
    #[test]
    fn an_established_connection_shrugs_off_junk(
        junk in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..20),
        forged_segs in prop::collection::vec((any::<u8>(), 1u32..0x7000_0000, any::<u32>(), prop::collection::vec(any::<u8>(), 0..40)), 1..20),
    ) {
        let mut p = Pair::new(config());
        let (ca, cb) = p.establish();
        let (rcv_nxt, _) = probe(&mut p);
        for j in &junk {
            p.b.handle_datagram(p.now, udp(A), j);
            p.b.handle_datagram(p.now, udp(EVIL), j);
        }
        for (flags, offset, ack, payload) in &forged_segs {
            // Beyond the window (32 KiB), so no flag combination may change
            // anything but an answer.
            let seq = rcv_nxt + 65_536 + *offset as usize;
            let ack = (flags & 0x10 != 0).then_some(SeqNum(*ack));
            let f = Flags::from_bits(*flags);
            p.b.handle_datagram(p.now, udp(A), &forged(seq, ack, f, payload));
        }
        p.pump();
        prop_assert_eq!(p.b_state(cb), "ESTABLISHED");
        p.transfer_ok(ca, cb, b"unaffected");
    }

    /// A listener survives the same, and a real client connects after.
    #[test]
    fn a_listener_shrugs_off_junk(
        junk in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..120), 1..20),
        forged_segs in prop::collection::vec((any::<u8>(), any::<u32>(), any::<u32>(), any::<u16>()), 1..20),
    ) {
        let mut p = Pair::new(config());
        for j in &junk {
            p.b.handle_datagram(p.now, udp(EVIL), j);
        }
        for (flags, seq, ack, port) in &forged_segs {
            let repr = TcpRepr {
                src_port: *port,
                dst_port: PORT,
                seq: SeqNum(*seq),
                ack: (flags & 0x10 != 0).then_some(SeqNum(*ack)),
                flags: Flags::from_bits(*flags),
                window: 1000,
                ..TcpRepr::default()
            };
            p.b.handle_datagram(p.now, udp(EVIL), &wire::emit_vec(EVIL, B, &repr));
        }
        p.pump();
        let (ca, cb) = p.establish();
        p.transfer_ok(ca, cb, b"hello after the junk");
    }
}

// ---- SYN flood ------------------------------------------------------------

#[test]
fn a_syn_flood_holds_bounded_memory_and_a_real_client_connects_after() {
    let mut config = config();
    config.syn_backlog = 128;
    let mut p = Pair::new(config);
    let mut most = 0;
    for i in 0..100_000u32 {
        let repr = TcpRepr {
            src_port: 1024 + (i % 60_000) as u16,
            dst_port: PORT,
            seq: SeqNum(i.wrapping_mul(2_654_435_761)),
            flags: Flags::SYN,
            window: 1000,
            ..TcpRepr::default()
        };
        let src = Ipv4Addr::new(10, 2, (i >> 8) as u8, i as u8);
        p.b.handle_datagram(p.now, udp(EVIL), &wire::emit_vec(src, B, &repr));
        // The SYN-ACKs go to the spoofed sources: drain and forget them.
        while p.b.poll_transmit(p.now, &mut p.buf).is_some() {}
        most = most.max(p.b.connections());
    }
    let c = p.b.counters();
    println!(
        "100000 SYNs: at most {most} connections held, {} evicted, {} bytes of buffers",
        c.syn_evicted,
        p.b.buffer_memory()
    );
    assert!(
        most <= 128,
        "half-open connections bounded by the SYN backlog: {most}"
    );
    assert!(c.syn_evicted >= 100_000 - 128);
    assert_eq!(
        p.b.buffer_memory(),
        0,
        "half-open connections hold no buffers"
    );
    let (ca, cb) = p.establish();
    p.transfer_ok(ca, cb, b"a real client after the flood");
}
