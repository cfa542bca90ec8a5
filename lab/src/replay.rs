//! `fsm-lab replay`: holds a packet capture against a spec.
//!
//! A capture (ours from `Options::pcap`, or one taken with tshark or
//! tcpdump) is read frame by frame; each TCP connection is rebuilt as seen
//! from one side, the *replayed side*, and walked through the spec. The
//! first segment of a connection the spec does not allow is reported with
//! its frame number (from 1, as Wireshark counts), the state, the event
//! and the spec's lines for that state; otherwise the states the
//! connection went through.
//!
//! # Input
//!
//! Classic pcap or pcapng, with link type raw IP (101, what our runtime
//! writes and what a capture on a TUN device holds), IPv4 (228), Ethernet
//! (1), Linux cooked capture (113, 276) or BSD loopback (0, 108). Frames
//! that are not IPv4 carrying TCP, or whose checksums fail (the receiver
//! drops those too), are skipped and counted.
//!
//! # The side
//!
//! `--side IP:PORT` (or `IP` when that address is on one end only)
//! chooses the replayed side; by default it is the receiver of the first
//! SYN without ACK in the capture: the server of the first connection.
//! A segment to the side is *incoming*, one from it *outgoing*.
//!
//! The capture must be taken at the replayed side (its host, or the
//! interface in front of it, as tshark on a TUN device): the replay reads
//! the order of segments as the order in which the side saw them. At the
//! other end of a link, a segment the side sent before a peer's segment
//! reached it can be captured after that one, and would be taken as an
//! answer to it.
//!
//! # Incoming segments: events
//!
//! An incoming segment becomes the spec's events exactly as
//! `fsm_runtime::vocab`'s module docs say (the rules of `conn.rs`), from
//! what a TCB rebuilt from the wire knows: ISS and IRS from the SYNs,
//! SND.UNA from acceptable ACKs, SND.NXT from the side's segments, RCV.NXT
//! from the peer's data taken in (in order, and out of order within the
//! window) and from the side's own ACKs, RCV.WND from the right edge of
//! the last window the side advertised, our FIN's place from the side's
//! FIN. The guards: `passive` holds unless the side sent a SYN of its own
//! first; `fin_acked` once the side's FIN is acknowledged (by the ACK at
//! hand, for the events an ACK raises); `peer_known` once the peer's SYN is
//! in or ours is out. As in the runtime, an event with no transition
//! changes nothing: an incoming segment is never itself a disagreement;
//! what the side does next shows whether it followed the spec.
//!
//! # Outgoing segments: held against the spec
//!
//! * A transition's `send_syn`, `send_syn_ack`, `send_fin`, `reply_rst`
//!   and `send_rst` are *owed*: the next such segment out pays the debt.
//!   An owed SYN, SYN-ACK or RST must be the connection's next segment
//!   out (a retransmitted SYN aside); an owed FIN may wait behind data.
//! * A SYN, a FIN or an RST out that nothing owes is an application call,
//!   inferred at the moment its segment is seen: a SYN is `active_open`
//!   (or `send` in LISTEN), a FIN is `close`, an RST is `abort`. The spec
//!   must have that call in the current state with the sending action,
//!   and the replay takes that transition. An RST that is no abort may
//!   answer the last segment in after a silent timer deleted the TCB: if
//!   the spec has `time_wait_timeout`, `linger_timeout` or `user_timeout`
//!   here deleting the TCB, and answers `rcv_segment` there with
//!   `reply_rst`, the replay takes both.
//! * A SYN, SYN-ACK or FIN again at the same sequence number is a
//!   retransmission (a timer of the runtime's, not an event).
//! * Any other segment needs a synchronized TCB (the spec has not deleted
//!   it); data needs a state in the spec's group `open`.
//! * Once the spec took the peer's FIN in (`rcv_fin` fired), every segment
//!   out must acknowledge it; while it did not, none may.
//!
//! A connection begins with a SYN: an incoming one to a side that answers
//! it with anything but an RST (a listener: `passive_open` is inferred),
//! or an outgoing one. A connection whose SYN is not in the capture is
//! not replayed. A connection whose TCB the spec deleted starts again at
//! the next SYN of the same addresses.
//!
//! # What the wire cannot show
//!
//! Calls are placed where their first segment is seen, not where the
//! application made them (a close whose FIN waits behind data is seen
//! late); silent timers (`time_wait_timeout`, `linger_timeout`,
//! `user_timeout`) are inferred only from the reset above, so a connection
//! may end in TIME_WAIT;
//! ACKs (`send_ack`, `send_challenge_ack`) are not required segment by
//! segment, since they may be delayed, merged or rate-limited.

use std::borrow::Cow;
use std::collections::HashMap;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use fsm_codegen::syntax::EventKind;
use fsm_runtime::loaded::{Loaded, LoadedState};
use fsm_runtime::vocab::{Action, Event, Group, Guard, Machine};
use fsm_runtime::wire::{self, Flags, SeqNum};
use pcap_file::DataLink;
use pcap_file::pcap::PcapReader;
use pcap_file::pcapng::{Block, PcapNgReader};
use serde_json::{Value, json};

/// Why a capture could not be replayed at all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Error {}

// ---- the capture -------------------------------------------------------------

/// One TCP segment of a capture.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    /// Its number in the capture, from 1 (as Wireshark shows it).
    pub number: u64,
    /// Its timestamp.
    pub at: Duration,
    /// Source address and port.
    pub src: SocketAddrV4,
    /// Destination address and port.
    pub dst: SocketAddrV4,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment number, if the ACK bit is set.
    pub ack: Option<SeqNum>,
    /// Control bits (the ACK bit is `ack`).
    pub flags: Flags,
    /// The window field.
    pub window: u16,
    /// The window scale option, if any.
    pub window_scale: Option<u8>,
    /// Bytes of payload.
    pub payload_len: usize,
}

impl Frame {
    /// SEG.LEN: payload plus SYN and FIN.
    fn len(&self) -> usize {
        self.payload_len + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// `10.0.0.1:80 > 10.0.0.2:4000 [S.] seq 1 ack 2 win 512 len 0`.
    pub fn summary(&self) -> String {
        let mut flags = String::new();
        for (set, c) in [
            (self.flags.syn(), 'S'),
            (self.flags.fin(), 'F'),
            (self.flags.rst(), 'R'),
            (self.flags.psh(), 'P'),
            (self.ack.is_some(), '.'),
        ] {
            if set {
                flags.push(c);
            }
        }
        let ack = self
            .ack
            .map(|a| format!(" ack {}", a.0))
            .unwrap_or_default();
        format!(
            "{} > {} [{flags}] seq {}{ack} win {} len {}",
            self.src, self.dst, self.seq.0, self.window, self.payload_len
        )
    }
}

/// The TCP segments of a capture file.
#[derive(Clone, Debug, Default)]
pub struct Capture {
    /// The segments, in capture order.
    pub frames: Vec<Frame>,
    /// Frames in the file.
    pub total: u64,
    /// Frames that were not IPv4 carrying TCP, or failed a checksum.
    pub skipped: u64,
}

impl Capture {
    /// Reads the capture file at `path`.
    pub fn read_file(path: impl AsRef<Path>) -> Result<Capture, Error> {
        let path = path.as_ref();
        let bytes = std::fs::read(path).map_err(|e| Error(format!("{}: {e}", path.display())))?;
        Capture::read(&bytes).map_err(|e| Error(format!("{}: {e}", path.display())))
    }

    /// Reads a capture (classic pcap or pcapng) from its bytes.
    pub fn read(bytes: &[u8]) -> Result<Capture, Error> {
        let magic = bytes
            .get(..4)
            .ok_or_else(|| Error("not a capture: shorter than a pcap header".to_owned()))?;
        let mut capture = Capture::default();
        if magic == [0x0a, 0x0d, 0x0d, 0x0a] {
            read_pcapng(bytes, &mut capture)?;
        } else {
            read_pcap(bytes, &mut capture)?;
        }
        Ok(capture)
    }

    fn push(&mut self, link: DataLink, at: Duration, data: &[u8]) {
        self.total += 1;
        let number = self.total;
        let frame = ip_packet(link, data).and_then(|ip| {
            let (ip, tcp) = wire::parse(ip).ok()?;
            Some(Frame {
                number,
                at,
                src: SocketAddrV4::new(ip.src_addr, tcp.src_port),
                dst: SocketAddrV4::new(ip.dst_addr, tcp.dst_port),
                seq: tcp.seq,
                ack: tcp.ack,
                flags: tcp.flags,
                window: tcp.window,
                window_scale: tcp.window_scale,
                payload_len: tcp.payload.len(),
            })
        });
        match frame {
            Some(f) => self.frames.push(f),
            None => self.skipped += 1,
        }
    }
}

fn malformed(frame: u64, e: impl fmt::Display) -> Error {
    Error(format!("malformed capture at frame {frame}: {e}"))
}

fn read_pcap(bytes: &[u8], capture: &mut Capture) -> Result<(), Error> {
    let mut reader = PcapReader::new(bytes).map_err(|e| {
        Error(format!(
            "not a pcap or pcapng capture ({e}); with tshark, `-F pcap` writes classic pcap"
        ))
    })?;
    let link = reader.header().datalink;
    check_link(link)?;
    while let Some(packet) = reader.next_packet() {
        let packet = packet.map_err(|e| malformed(capture.total + 1, e))?;
        capture.push(link, packet.timestamp, &packet.data);
    }
    Ok(())
}

fn read_pcapng(bytes: &[u8], capture: &mut Capture) -> Result<(), Error> {
    let mut reader =
        PcapNgReader::new(bytes).map_err(|e| Error(format!("not a pcapng capture ({e})")))?;
    let mut links = Vec::new();
    while let Some(block) = reader.next_block() {
        let block = block.map_err(|e| malformed(capture.total + 1, e))?;
        let (interface, at, data): (u32, Duration, Cow<'_, [u8]>) = match block {
            Block::InterfaceDescription(idb) => {
                check_link(idb.linktype)?;
                links.push(idb.linktype);
                continue;
            }
            Block::EnhancedPacket(epb) => (epb.interface_id, epb.timestamp, epb.data),
            Block::SimplePacket(spb) => (0, Duration::ZERO, spb.data),
            _ => continue,
        };
        let link = *links.get(interface as usize).ok_or_else(|| {
            malformed(
                capture.total + 1,
                format!("no interface {interface} described"),
            )
        })?;
        capture.push(link, at, &data);
    }
    Ok(())
}

fn check_link(link: DataLink) -> Result<(), Error> {
    match link {
        DataLink::RAW
        | DataLink::IPV4
        | DataLink::ETHERNET
        | DataLink::LINUX_SLL
        | DataLink::LINUX_SLL2
        | DataLink::NULL
        | DataLink::LOOP => Ok(()),
        other => Err(Error(format!(
            "link type {other:?} is not read; raw IP, IPv4, Ethernet, Linux cooked and \
             loopback captures are"
        ))),
    }
}

/// The IPv4 packet in a frame of link type `link`, if it holds one.
fn ip_packet(link: DataLink, data: &[u8]) -> Option<&[u8]> {
    let (ether_type, rest) = match link {
        DataLink::RAW | DataLink::IPV4 => return Some(data),
        DataLink::ETHERNET => {
            let mut at = 12;
            // One or two VLAN tags.
            while matches!(data.get(at..at + 2)?, [0x81, 0x00] | [0x88, 0xa8]) {
                at += 4;
            }
            (data.get(at..at + 2)?, data.get(at + 2..)?)
        }
        DataLink::LINUX_SLL => (data.get(14..16)?, data.get(16..)?),
        DataLink::LINUX_SLL2 => (data.get(0..2)?, data.get(20..)?),
        DataLink::NULL | DataLink::LOOP => {
            // The address family, in the capturing host's byte order (NULL)
            // or big-endian (LOOP); AF_INET is 2 everywhere.
            let family = data.get(0..4)?;
            let inet = family == [2, 0, 0, 0] || family == [0, 0, 0, 2];
            return inet.then(|| data.get(4..)).flatten();
        }
        _ => return None,
    };
    (ether_type == [0x08, 0x00]).then_some(rest)
}

// ---- the side ----------------------------------------------------------------

/// The replayed side: an address, and a port if given.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Side {
    /// Its IPv4 address.
    pub addr: Ipv4Addr,
    /// Its TCP port, if given.
    pub port: Option<u16>,
}

impl Side {
    fn is(&self, a: SocketAddrV4) -> bool {
        *a.ip() == self.addr && self.port.is_none_or(|p| p == a.port())
    }
}

impl From<SocketAddrV4> for Side {
    fn from(a: SocketAddrV4) -> Side {
        Side {
            addr: *a.ip(),
            port: Some(a.port()),
        }
    }
}

impl FromStr for Side {
    type Err = String;

    fn from_str(s: &str) -> Result<Side, String> {
        if let Ok(a) = s.parse::<SocketAddrV4>() {
            return Ok(a.into());
        }
        s.parse::<Ipv4Addr>()
            .map(|addr| Side { addr, port: None })
            .map_err(|_| format!("{s:?} is neither IPv4:PORT nor IPv4"))
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.port {
            Some(p) => write!(f, "{}:{p}", self.addr),
            None => write!(f, "{}", self.addr),
        }
    }
}

// ---- the report --------------------------------------------------------------

/// Which way a segment went, seen from the replayed side.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// To the side.
    In,
    /// From the side.
    Out,
}

impl fmt::Display for Direction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Direction::In => "in",
            Direction::Out => "out",
        })
    }
}

/// An event the replay raised, and what the spec did with it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The frame that raised it (or whose segment showed the call).
    pub frame: u64,
    /// The event.
    pub event: &'static str,
    /// The state it found.
    pub from: &'static str,
    /// The state it left (`from` when refused).
    pub to: &'static str,
    /// The transition's line, `None` when the spec has none (the event
    /// changed nothing).
    pub line: Option<u32>,
}

/// The first thing a connection did that the spec does not allow.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Disagreement {
    /// The frame, from 1.
    pub frame: u64,
    /// Which way it went.
    pub direction: Direction,
    /// The segment in one line.
    pub segment: String,
    /// The state the spec was in.
    pub state: &'static str,
    /// The event the segment stands for, if any (a call inferred from a
    /// segment out, or an event raised by one in).
    pub event: Option<&'static str>,
    /// What is wrong.
    pub reason: String,
    /// What the spec allows in that state: `tcp.fsm:124  FIN_WAIT_2 ->
    /// TIME_WAIT on rcv_fin / send_ack, start_time_wait`, one per line of
    /// the spec.
    pub allowed: Vec<String>,
    /// The last transition taken before it.
    pub after: Option<Step>,
}

/// What the replay found for one connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every segment agrees with the spec.
    Agrees,
    /// A segment does not.
    Disagrees(Box<Disagreement>),
    /// Not replayed (why).
    NotReplayed(String),
}

/// One connection, seen from the replayed side.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Connection {
    /// The side's address.
    pub local: SocketAddrV4,
    /// The peer's.
    pub remote: SocketAddrV4,
    /// Its first frame.
    pub first_frame: u64,
    /// The states it went through, from the initial one.
    pub states: Vec<&'static str>,
    /// Every event raised, with what the spec did.
    pub steps: Vec<Step>,
    /// The verdict.
    pub outcome: Outcome,
}

/// What a replay found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The spec's file.
    pub spec: String,
    /// The replayed side.
    pub side: Side,
    /// Frames in the capture.
    pub frames: u64,
    /// Frames skipped (not IPv4 and TCP, or a bad checksum).
    pub skipped: u64,
    /// The connections, in the order of their first frame.
    pub connections: Vec<Connection>,
}

impl Report {
    /// Whether no connection disagrees with the spec.
    pub fn agrees(&self) -> bool {
        !self
            .connections
            .iter()
            .any(|c| matches!(c.outcome, Outcome::Disagrees(_)))
    }

    /// The first disagreement, if any.
    pub fn first_disagreement(&self) -> Option<&Disagreement> {
        self.connections
            .iter()
            .filter_map(|c| match &c.outcome {
                Outcome::Disagrees(d) => Some(&**d),
                _ => None,
            })
            .min_by_key(|d| d.frame)
    }

    /// The report as JSON.
    pub fn to_json(&self) -> Value {
        let step = |s: &Step| json!({"frame": s.frame, "event": s.event, "from": s.from, "to": s.to, "line": s.line});
        let connections: Vec<Value> = self
            .connections
            .iter()
            .map(|c| {
                let outcome = match &c.outcome {
                    Outcome::Agrees => json!({"agrees": true}),
                    Outcome::NotReplayed(why) => json!({"not_replayed": why}),
                    Outcome::Disagrees(d) => json!({
                        "agrees": false,
                        "frame": d.frame,
                        "direction": d.direction.to_string(),
                        "segment": d.segment,
                        "state": d.state,
                        "event": d.event,
                        "reason": d.reason,
                        "allowed": d.allowed,
                        "after": d.after.as_ref().map(step),
                    }),
                };
                json!({
                    "local": c.local.to_string(),
                    "remote": c.remote.to_string(),
                    "first_frame": c.first_frame,
                    "states": c.states,
                    "steps": c.steps.iter().map(step).collect::<Vec<_>>(),
                    "outcome": outcome,
                })
            })
            .collect();
        json!({
            "spec": self.spec,
            "side": self.side.to_string(),
            "frames": self.frames,
            "skipped": self.skipped,
            "agrees": self.agrees(),
            "connections": connections,
        })
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "against {}, as seen from {}: {} frames, {} skipped, {} connections",
            self.spec,
            self.side,
            self.frames,
            self.skipped,
            self.connections.len()
        )?;
        for c in &self.connections {
            let states = c.states.join(" → ");
            let head = format!(
                "{} <-> {} (from frame {})",
                c.local, c.remote, c.first_frame
            );
            match &c.outcome {
                Outcome::Agrees => writeln!(f, "{head}: agrees\n  {states}")?,
                Outcome::NotReplayed(why) => writeln!(f, "{head}: not replayed: {why}")?,
                Outcome::Disagrees(d) => {
                    writeln!(f, "{head}: DISAGREES at frame {}", d.frame)?;
                    writeln!(f, "  frame {} ({}): {}", d.frame, d.direction, d.segment)?;
                    let event = d.event.unwrap_or("none");
                    writeln!(f, "  state {}, event {}: {}", d.state, event, d.reason)?;
                    if let Some(s) = &d.after {
                        let line = s.line.map(|l| format!("{}:{l}", self.spec));
                        writeln!(
                            f,
                            "  after {} at frame {} ({} -> {}, {})",
                            s.event,
                            s.frame,
                            s.from,
                            s.to,
                            line.as_deref().unwrap_or("no transition")
                        )?;
                    }
                    writeln!(f, "  the spec in {}:", d.state)?;
                    for a in &d.allowed {
                        writeln!(f, "    {a}")?;
                    }
                    writeln!(f, "  states so far: {states}")?;
                }
            }
        }
        Ok(())
    }
}

// ---- the replay --------------------------------------------------------------

/// Replays `capture` against `machine`, as seen from `side` (by default
/// the receiver of the first SYN without ACK).
pub fn replay(machine: &Loaded, capture: &Capture, side: Option<Side>) -> Result<Report, Error> {
    let side = match side {
        Some(s) => s,
        None => capture
            .frames
            .iter()
            .find(|f| f.flags.syn() && f.ack.is_none())
            .map(|f| Side::from(f.dst))
            .ok_or_else(|| {
                Error("the capture holds no SYN to choose a side by: give --side".to_owned())
            })?,
    };
    let frames = &capture.frames;
    let mut trackers: Vec<Tracker<'_>> = Vec::new();
    let mut current: HashMap<(SocketAddrV4, SocketAddrV4), usize> = HashMap::new();
    for (i, f) in frames.iter().enumerate() {
        let (out, inn) = (side.is(f.src), side.is(f.dst));
        let (dir, local, remote) = match (out, inn) {
            (true, true) => {
                return Err(Error(format!(
                    "frame {}: both ends are {side}; give the side's port too",
                    f.number
                )));
            }
            (true, false) => (Direction::Out, f.src, f.dst),
            (false, true) => (Direction::In, f.dst, f.src),
            (false, false) => continue,
        };
        let bare_syn = f.flags.syn() && f.ack.is_none() && !f.flags.rst();
        let existing = current.get(&(local, remote)).copied();
        let idx = match existing {
            Some(k) if !(trackers[k].ended() && bare_syn) => k,
            _ => {
                let mut t = Tracker::new(machine, local, remote, f.number);
                if !bare_syn {
                    t.outcome = Outcome::NotReplayed(format!(
                        "the capture does not hold its SYN (its first frame, {}, is {})",
                        f.number,
                        f.summary()
                    ));
                } else if dir == Direction::In {
                    // A listener answers the SYN with anything but an RST.
                    let answer = frames[i + 1..]
                        .iter()
                        .find(|g| g.src == local && g.dst == remote);
                    if answer.is_none_or(|g| !g.flags.rst() || g.flags.syn()) {
                        t.fire(Event::PassiveOpen, f, None);
                    }
                }
                trackers.push(t);
                current.insert((local, remote), trackers.len() - 1);
                trackers.len() - 1
            }
        };
        let t = &mut trackers[idx];
        if t.outcome != Outcome::Agrees {
            continue;
        }
        match dir {
            Direction::In => {
                t.incoming(f);
                t.last_in = Some(f.clone());
            }
            Direction::Out => {
                if let Err(reason) = t.outgoing(f) {
                    t.disagree(f, dir, reason);
                }
            }
        }
    }
    Ok(Report {
        spec: machine.spec().to_owned(),
        side,
        frames: capture.total,
        skipped: capture.skipped,
        connections: trackers.into_iter().map(Tracker::finish).collect(),
    })
}

/// A TCB rebuilt from the wire.
#[derive(Clone, Debug, Default)]
struct Tcb {
    iss: Option<SeqNum>,
    /// The side sent a bare SYN of its own (an active open).
    sent_syn: bool,
    snd_una: SeqNum,
    /// Highest sequence number sent plus one.
    snd_max: SeqNum,
    /// Where the side's FIN sits, once sent.
    fin_seq: Option<SeqNum>,
    max_snd_wnd: u32,
    our_scale: Option<u8>,
    peer_scale: Option<u8>,
    irs: Option<SeqNum>,
    rcv_nxt: SeqNum,
    /// The last window field the side sent, and the right edge it set.
    our_window: u32,
    rcv_edge: Option<SeqNum>,
    /// Out-of-order data taken in: [start, end).
    holes: Vec<(SeqNum, SeqNum)>,
    peer_fin: Option<SeqNum>,
    fin_received: bool,
    /// The frame whose FIN the spec took in.
    fin_frame: u64,
    /// Whether the side sent anything after the spec took the FIN in.
    sent_since_fin: bool,
}

impl Tcb {
    fn syn_acked(&self) -> bool {
        self.iss.is_some_and(|i| self.snd_una.gt(i))
    }

    fn fin_acked(&self) -> bool {
        self.fin_seq.is_some_and(|f| self.snd_una.gt(f))
    }

    fn scaling(&self) -> bool {
        self.our_scale.is_some() && self.peer_scale.is_some()
    }

    /// RCV.WND: up to the right edge the side advertised last.
    fn rcv_wnd(&self) -> u32 {
        match self.rcv_edge {
            Some(edge) => edge.distance(self.rcv_nxt).max(0) as u32,
            None => self.our_window.max(u32::from(u16::MAX)),
        }
    }

    /// Where the side's SYN or FIN sits, if `ack` acknowledges it first.
    fn unacked_control(&self, ack: SeqNum) -> Option<SeqNum> {
        let syn = self.iss.filter(|&i| !self.syn_acked() && ack.gt(i));
        let fin = self.fin_seq.filter(|&f| self.snd_una.le(f) && ack.gt(f));
        syn.or(fin)
    }

    fn take_ack(&mut self, ack: SeqNum) {
        if self.snd_una.lt(ack) {
            self.snd_una = ack;
        }
    }

    /// The peer's window field, scaled.
    fn peer_window(&mut self, f: &Frame) {
        let shift = if f.flags.syn() || !self.scaling() {
            0
        } else {
            self.peer_scale.unwrap_or(0)
        };
        self.max_snd_wnd = self.max_snd_wnd.max(u32::from(f.window) << shift.min(14));
    }

    /// RFC 9293 table 6, with RCV.WND as above.
    fn acceptable(&self, f: &Frame) -> bool {
        let wnd = self.rcv_wnd() as usize;
        let in_window = |s: SeqNum| self.rcv_nxt.le(s) && s.lt(self.rcv_nxt + wnd);
        match (f.len(), wnd) {
            (0, 0) => f.seq == self.rcv_nxt,
            (0, _) => in_window(f.seq),
            (_, 0) => f.seq == self.rcv_nxt,
            (len, _) => in_window(f.seq) || in_window(f.seq + (len - 1)),
        }
    }

    /// Takes in `len` bytes of data at `seq` (within the window).
    fn take_data(&mut self, seq: SeqNum, len: usize) {
        let end = seq + len;
        let edge = self.rcv_nxt + self.rcv_wnd() as usize;
        let (start, end) = (seq.max(self.rcv_nxt), end.min(edge));
        if start.lt(end) {
            self.holes.push((start, end));
        }
        self.advance();
    }

    /// Moves RCV.NXT over the data that reaches it.
    fn advance(&mut self) {
        loop {
            let rcv_nxt = self.rcv_nxt;
            let Some(i) = self
                .holes
                .iter()
                .position(|&(s, e)| s.le(rcv_nxt) && e.gt(rcv_nxt))
            else {
                break;
            };
            self.rcv_nxt = self.holes[i].1;
        }
        let rcv_nxt = self.rcv_nxt;
        self.holes.retain(|&(_, e)| e.gt(rcv_nxt));
    }
}

/// One connection being replayed.
struct Tracker<'m> {
    machine: &'m Loaded,
    state: LoadedState,
    tcb: Option<Tcb>,
    /// The TCB existed once and the spec deleted it.
    deleted: bool,
    remote_known: bool,
    /// Sending actions of the transitions taken, not yet seen on the
    /// wire, with the frame and line of their transition.
    owed: Vec<(Action, u64, u32)>,
    /// The last segment in.
    last_in: Option<Frame>,
    local: SocketAddrV4,
    remote: SocketAddrV4,
    first_frame: u64,
    states: Vec<&'static str>,
    steps: Vec<Step>,
    outcome: Outcome,
    /// The first segment out after the peer's FIN was taken in, when it
    /// acknowledged everything but the FIN: on a capture made where the
    /// side's packets come and go (a TUN device), a segment the side sent
    /// just before its stack read the FIN can be recorded after the FIN.
    /// A later segment acknowledging the FIN clears it; if none does, the
    /// replay disagrees here after all.
    fin_ack_lagging: Option<(Frame, &'static str, String)>,
}

impl<'m> Tracker<'m> {
    fn new(machine: &'m Loaded, local: SocketAddrV4, remote: SocketAddrV4, first: u64) -> Self {
        let state = machine.initial();
        Tracker {
            machine,
            state,
            tcb: None,
            deleted: false,
            remote_known: false,
            owed: Vec::new(),
            last_in: None,
            local,
            remote,
            first_frame: first,
            states: vec![machine.state_name(state)],
            steps: Vec::new(),
            outcome: Outcome::Agrees,
            fin_ack_lagging: None,
        }
    }

    fn finish(mut self) -> Connection {
        if let (Outcome::Agrees, Some((f, state, reason))) =
            (&self.outcome, self.fin_ack_lagging.take())
        {
            self.outcome = Outcome::Disagrees(Box::new(Disagreement {
                frame: f.number,
                direction: Direction::Out,
                segment: f.summary(),
                state,
                event: Some(Event::RcvFin.name()),
                reason,
                allowed: allowed(self.machine, state),
                after: self.steps.iter().rev().find(|s| s.line.is_some()).cloned(),
            }));
        }
        Connection {
            local: self.local,
            remote: self.remote,
            first_frame: self.first_frame,
            states: self.states,
            steps: self.steps,
            outcome: self.outcome,
        }
    }

    /// The spec deleted the TCB, or the connection is not replayed: a new
    /// SYN starts a new connection.
    fn ended(&self) -> bool {
        (self.deleted && self.tcb.is_none()) || matches!(self.outcome, Outcome::NotReplayed(_))
    }

    fn open(&self) -> bool {
        self.machine.in_group(self.state, Group::Open)
    }

    fn guard(&self, guard: Guard, ack: Option<SeqNum>) -> bool {
        let t = self.tcb.as_ref();
        match (guard, ack) {
            (Guard::Passive, _) => t.is_none_or(|t| !t.sent_syn),
            (Guard::FinAcked, Some(ack)) => t.and_then(|t| t.fin_seq).is_some_and(|f| ack.gt(f)),
            (Guard::FinAcked, None) => t.is_some_and(Tcb::fin_acked),
            (Guard::PeerKnown, _) => self.remote_known,
        }
    }

    /// The transition the spec has for `event` now, if any, and its
    /// actions; `ack` is the ACK at hand, which guards see as taken in.
    fn lookup(&self, event: Event, ack: Option<SeqNum>) -> Option<(LoadedState, Vec<Action>, u32)> {
        let fired = self
            .machine
            .step(self.state, event, &|g| self.guard(g, ack))?;
        let actions = fired
            .actions
            .iter()
            .map(|&a| self.machine.action(a))
            .collect();
        Some((fired.to, actions, fired.transition))
    }

    /// Raises `event` for frame `f`; answers whether the spec had a
    /// transition (and took it).
    fn fire(&mut self, event: Event, f: &Frame, ack: Option<SeqNum>) -> bool {
        let from = self.machine.state_name(self.state);
        let Some((to, actions, transition)) = self.lookup(event, ack) else {
            self.steps.push(Step {
                frame: f.number,
                event: event.name(),
                from,
                to: from,
                line: None,
            });
            return false;
        };
        let info = self.machine.transition(transition);
        self.state = to;
        let to_name = self.machine.state_name(to);
        self.steps.push(Step {
            frame: f.number,
            event: event.name(),
            from,
            to: to_name,
            line: Some(info.line),
        });
        if self.states.last() != Some(&to_name) {
            self.states.push(to_name);
        }
        for a in actions {
            match a {
                Action::CreateTcb => {
                    self.tcb.get_or_insert_with(Tcb::default);
                }
                Action::DeleteTcb if self.tcb.is_some() => {
                    self.tcb = None;
                    self.deleted = true;
                }
                Action::ForgetPeer => {
                    if let Some(t) = self.tcb.as_mut() {
                        *t = Tcb::default();
                    }
                    self.remote_known = false;
                }
                Action::InitRcv => {
                    if let Some(t) = self.tcb.as_mut() {
                        t.irs = Some(f.seq);
                        t.rcv_nxt = f.seq + 1;
                        t.peer_scale = f.window_scale;
                        t.peer_window(f);
                        if t.rcv_edge.is_none() && t.iss.is_some() {
                            t.rcv_edge = Some(t.rcv_nxt + t.our_window as usize);
                        }
                    }
                    self.remote_known = true;
                }
                // A reset answers a segment, and never an RST.
                Action::ReplyRst if f.flags.rst() || !is_segment_event(self.machine, event) => {}
                Action::SendSyn
                | Action::SendSynAck
                | Action::SendFin
                | Action::ReplyRst
                | Action::SendRst => self.owed.push((a, f.number, info.line)),
                _ => {}
            }
        }
        true
    }

    fn disagree(
        &mut self,
        f: &Frame,
        direction: Direction,
        (event, reason): (Option<Event>, String),
    ) {
        let state = self.machine.state_name(self.state);
        self.outcome = Outcome::Disagrees(Box::new(Disagreement {
            frame: f.number,
            direction,
            segment: f.summary(),
            state,
            event: event.map(Event::name),
            reason,
            allowed: allowed(self.machine, state),
            after: self.steps.iter().rev().find(|s| s.line.is_some()).cloned(),
        }));
    }

    // ---- incoming: the runtime's classification ------------------------------

    fn incoming(&mut self, f: &Frame) {
        let Some(t) = self.tcb.as_ref() else {
            // No TCB (3.10.7.1): the spec answers from where it is.
            if !f.flags.rst() {
                self.fire(Event::RcvSegment, f, None);
            }
            return;
        };
        if t.irs.is_some() {
            self.synchronized(f);
        } else if t.sent_syn {
            self.syn_sent(f);
        } else if f.flags.rst() {
            self.fire(Event::RcvRst, f, None);
        } else if f.ack.is_some() {
            self.fire(Event::RcvBadAck, f, None);
        } else if f.flags.syn() {
            self.fire(Event::RcvSyn, f, None);
        }
    }

    fn syn_sent(&mut self, f: &Frame) {
        let Some(t) = self.tcb.as_ref() else {
            return;
        };
        let iss = t.iss.unwrap_or(t.snd_una);
        let ack_ok = f.ack.map(|a| iss.lt(a) && a.le(t.snd_max));
        if ack_ok == Some(false) {
            if !f.flags.rst() {
                self.fire(Event::RcvBadAck, f, None);
            }
            return;
        }
        if f.flags.rst() {
            if ack_ok == Some(true) {
                self.fire(Event::RcvRst, f, None);
            }
            return;
        }
        if !f.flags.syn() {
            return;
        }
        let Some(ack) = f.ack else {
            self.fire(Event::RcvSyn, f, None);
            return;
        };
        if self.fire(Event::RcvSynAck, f, None)
            && let Some(t) = self.tcb.as_mut()
        {
            t.take_ack(ack);
            // Data or a FIN riding on the SYN-ACK.
            let mut rest = f.clone();
            rest.seq = f.seq + 1;
            rest.flags.remove(Flags::SYN);
            self.text_and_fin(&rest);
        }
    }

    fn synchronized(&mut self, f: &Frame) {
        let Some(t) = self.tcb.as_ref() else {
            return;
        };
        let mut f = Cow::Borrowed(f);
        let syn_acked = t.syn_acked();
        let (rcv_nxt, snd_una, snd_max) = (t.rcv_nxt, t.snd_una, t.snd_max);
        let ack_in_flight = |a: SeqNum| snd_una.lt(a) && a.le(snd_max);
        // Simultaneous open: the peer's SYN-ACK repeats the SYN taken in.
        if f.flags.syn() && !syn_acked && f.seq + 1 == rcv_nxt && f.ack.is_some_and(ack_in_flight) {
            let g = f.to_mut();
            g.flags.remove(Flags::SYN);
            g.seq += 1;
        }
        let dup_fin = t.fin_received
            && f.flags.fin()
            && !f.flags.syn()
            && f.seq + f.payload_len + 1 == rcv_nxt;
        let in_window = t.acceptable(&f);
        let max_snd_wnd = t.max_snd_wnd as usize;
        let control = f.ack.and_then(|ack| t.unacked_control(ack));
        if !dup_fin && !in_window {
            if !f.flags.rst() {
                self.fire(Event::RcvUnacceptable, &f, None);
            }
            return;
        }
        if f.flags.rst() {
            let event = if f.seq == rcv_nxt {
                Event::RcvRst
            } else {
                Event::RcvRstInWindow
            };
            self.fire(event, &f, None);
            return;
        }
        if f.flags.syn() {
            self.fire(Event::RcvSyn, &f, None);
            return;
        }
        let Some(ack) = f.ack else {
            return;
        };
        let too_old = ack.lt(snd_una - max_snd_wnd);
        if !syn_acked {
            if !ack_in_flight(ack) {
                self.fire(Event::RcvBadAck, &f, None);
                return;
            }
        } else if ack.gt(snd_max) || too_old {
            self.fire(Event::RcvUnacceptable, &f, None);
            return;
        }
        // Step 5: the data part of the ACK at once; the part covering our
        // SYN or FIN once the spec has a transition for it.
        if let Some(t) = self.tcb.as_mut() {
            t.take_ack(control.unwrap_or(ack));
            t.peer_window(&f);
        }
        if control.is_some() {
            let fin_ack = !dup_fin
                && self.fin_in_reach(&f)
                && self.lookup(Event::RcvFin, Some(ack)).is_some();
            if fin_ack {
                if let Some(t) = self.tcb.as_mut() {
                    t.take_ack(ack);
                }
                self.text_and_fin(&f);
                return;
            }
            if self.fire(Event::RcvAck, &f, Some(ack))
                && let Some(t) = self.tcb.as_mut()
            {
                t.take_ack(ack);
            }
        }
        if self.tcb.is_none() {
            return;
        }
        if dup_fin {
            self.fire(Event::RcvFin, &f, None);
        } else {
            self.text_and_fin(&f);
        }
    }

    /// Whether the peer's FIN in `f` is reached by taking `f` in.
    fn fin_in_reach(&self, f: &Frame) -> bool {
        let Some(t) = self.tcb.as_ref().filter(|_| f.flags.fin()) else {
            return false;
        };
        let fin = f.seq + f.payload_len;
        fin == t.rcv_nxt
            || (self.open()
                && f.seq.le(t.rcv_nxt)
                && fin.gt(t.rcv_nxt)
                && fin.distance(t.rcv_nxt) as u32 <= t.rcv_wnd())
    }

    /// Steps 7 and 8: the text (taken in only in the group `open`), then
    /// the FIN once reached in sequence.
    fn text_and_fin(&mut self, f: &Frame) {
        let open = self.open();
        let Some(t) = self.tcb.as_mut() else {
            return;
        };
        if t.fin_received {
            return;
        }
        if f.flags.fin() {
            let fin = f.seq + f.payload_len;
            if fin.ge(t.rcv_nxt) && fin.le(t.rcv_nxt + t.rcv_wnd() as usize) {
                t.peer_fin = Some(fin);
            }
        }
        if open && f.payload_len > 0 {
            t.take_data(f.seq, f.payload_len);
        }
        if t.peer_fin == Some(t.rcv_nxt)
            && self.fire(Event::RcvFin, f, None)
            && let Some(t) = self.tcb.as_mut()
        {
            t.rcv_nxt += 1;
            t.fin_received = true;
            t.fin_frame = f.number;
            t.sent_since_fin = false;
            t.holes.clear();
        }
    }

    // ---- outgoing: held against the spec ---------------------------------------

    /// Pays a debt of `action` if one is owed.
    fn pay(&mut self, action: Action) -> bool {
        match self.owed.iter().position(|&(a, _, _)| a == action) {
            Some(i) => {
                self.owed.remove(i);
                true
            }
            None => false,
        }
    }

    /// Infers the call among `calls` whose transition here sends with
    /// `action`, takes it and pays its debt; `None` if there is none.
    fn infer(&mut self, calls: &[Event], action: Action, f: &Frame) -> Option<Event> {
        let call = calls.iter().copied().find(|&e| {
            self.lookup(e, None)
                .is_some_and(|(_, actions, _)| actions.contains(&action))
        })?;
        self.fire(call, f, None);
        self.pay(action);
        Some(call)
    }

    /// An RST that answers the last segment in, as the spec answers a
    /// segment with no TCB, after a silent timer deleted it: fires that
    /// timer and then `rcv_segment` for that segment. Answers whether the
    /// spec has such a timer here.
    fn expired(&mut self, f: &Frame) -> bool {
        let Some(last) = self.last_in.clone().filter(|g| !g.flags.rst()) else {
            return false;
        };
        let timers = [
            Event::TimeWaitTimeout,
            Event::LingerTimeout,
            Event::UserTimeout,
        ];
        let timer = timers.into_iter().find(|&e| {
            self.lookup(e, None).is_some_and(|(to, actions, _)| {
                actions.contains(&Action::DeleteTcb)
                    && self
                        .machine
                        .step(to, Event::RcvSegment, &|g| g == Guard::Passive)
                        .is_some_and(|fired| {
                            fired
                                .actions
                                .iter()
                                .any(|&a| self.machine.action(a) == Action::ReplyRst)
                        })
            })
        });
        let Some(timer) = timer else {
            return false;
        };
        self.fire(timer, f, None);
        self.fire(Event::RcvSegment, &last, None);
        self.pay(Action::ReplyRst)
    }

    fn outgoing(&mut self, f: &Frame) -> Result<(), (Option<Event>, String)> {
        // A SYN, SYN-ACK or reset the spec sent goes out before anything
        // else of the connection (a FIN may wait behind data).
        let urgent = self.owed.iter().find(|(a, _, _)| *a != Action::SendFin);
        if let Some(&(action, frame, line)) = urgent {
            let is = match action {
                Action::SendSyn => f.flags.syn() && f.ack.is_none(),
                Action::SendSynAck => f.flags.syn() && f.ack.is_some(),
                _ => f.flags.rst(),
            };
            let again = f.flags.syn() && self.tcb.as_ref().is_some_and(|t| t.iss == Some(f.seq));
            if !is && !again {
                return Err((
                    None,
                    format!(
                        "the transition taken at frame {frame} ({}:{line}) sends {action} \
                         first, and this segment is not that",
                        self.machine.spec()
                    ),
                ));
            }
        }
        if f.flags.rst() {
            if self.pay(Action::ReplyRst) || self.pay(Action::SendRst) {
                return Ok(());
            }
            if self.infer(&[Event::Abort], Action::SendRst, f).is_some() || self.expired(f) {
                return Ok(());
            }
            return Err((
                Some(Event::Abort),
                "an RST that no event explains: no reset is owed, and the spec has no abort \
                 here that sends one"
                    .to_owned(),
            ));
        }
        if f.flags.syn() {
            return self.syn_out(f);
        }
        let open = self.open();
        let state = self.machine.state_name(self.state);
        let Some(t) = self.tcb.as_mut().filter(|t| t.irs.is_some()) else {
            let why = if self.tcb.is_none() {
                "the spec has no TCB here (none yet, or deleted), so nothing may be sent but \
                 a reset it owes"
            } else {
                "the peer's SYN is not in, so nothing but a SYN or an RST may be sent"
            };
            return Err((None, format!("a segment out: {why}")));
        };
        if f.payload_len > 0 && !open {
            return Err((
                None,
                format!("data sent while {state} is not in the spec's group `open`"),
            ));
        }
        if let Some(ack) = f.ack {
            if t.fin_received {
                let first_out = !std::mem::replace(&mut t.sent_since_fin, true);
                if ack.lt(t.rcv_nxt) {
                    let why = format!(
                        "ACK {} does not acknowledge the peer's FIN, which the spec took in \
                         at frame {} (rcv_fin)",
                        ack.0, t.fin_frame
                    );
                    if first_out && ack + 1 == t.rcv_nxt && self.fin_ack_lagging.is_none() {
                        // Perhaps sent before the FIN was read: decided by
                        // what comes next (see `fin_ack_lagging`).
                        self.fin_ack_lagging = Some((f.clone(), state, why));
                    } else {
                        return Err((Some(Event::RcvFin), why));
                    }
                } else {
                    self.fin_ack_lagging = None;
                }
            } else if let Some(fin) = t.peer_fin.filter(|&p| ack.gt(p)) {
                return Err((
                    Some(Event::RcvFin),
                    format!(
                        "ACK {} acknowledges the peer's FIN (at {}), which the spec did not take \
                         in: no rcv_fin transition fired",
                        ack.0, fin.0
                    ),
                ));
            } else if ack.gt(t.rcv_nxt) {
                // The side took in data the wire does not show as in order.
                t.rcv_nxt = ack;
                t.advance();
            }
            let shift = if t.scaling() {
                t.our_scale.unwrap_or(0).min(14)
            } else {
                0
            };
            t.our_window = u32::from(f.window) << shift;
            let edge = ack + t.our_window as usize;
            t.rcv_edge = Some(t.rcv_edge.map_or(edge, |e| e.max(edge)));
        }
        let end = f.seq + f.len();
        t.snd_max = t.snd_max.max(end);
        if !f.flags.fin() {
            return Ok(());
        }
        let fin = f.seq + f.payload_len;
        match t.fin_seq {
            Some(x) if x == fin => Ok(()),
            Some(x) => Err((None, format!("a FIN at {}, after one at {}", fin.0, x.0))),
            None => {
                t.fin_seq = Some(fin);
                if self.pay(Action::SendFin)
                    || self.infer(&[Event::Close], Action::SendFin, f).is_some()
                {
                    Ok(())
                } else {
                    Err((
                        Some(Event::Close),
                        "a FIN that no event explains: none is owed, and the spec has no close \
                         here that sends one"
                            .to_owned(),
                    ))
                }
            }
        }
    }

    fn syn_out(&mut self, f: &Frame) -> Result<(), (Option<Event>, String)> {
        let again = self.tcb.as_ref().is_some_and(|t| {
            t.iss == Some(f.seq) && (f.ack.is_some() == t.irs.is_some() || t.sent_syn)
        });
        let explained = if f.ack.is_none() {
            again
                || self.pay(Action::SendSyn)
                || self
                    .infer(&[Event::ActiveOpen, Event::Send], Action::SendSyn, f)
                    .is_some()
        } else {
            self.pay(Action::SendSynAck) || again
        };
        if !explained {
            let (event, what) = if f.ack.is_none() {
                (Some(Event::ActiveOpen), "a SYN")
            } else {
                (None, "a SYN-ACK")
            };
            return Err((
                event,
                format!("{what} that no event explains: none is owed, nor is it a retransmission"),
            ));
        }
        let Some(t) = self.tcb.as_mut() else {
            return Err((None, "a SYN out with no TCB".to_owned()));
        };
        if t.iss.is_none() {
            t.iss = Some(f.seq);
            t.snd_una = f.seq;
        }
        if f.ack.is_none() {
            t.sent_syn = true;
        }
        t.snd_max = t.snd_max.max(f.seq + 1);
        t.our_scale = f.window_scale;
        t.our_window = u32::from(f.window);
        if let Some(ack) = f.ack {
            let edge = ack + t.our_window as usize;
            t.rcv_edge = Some(t.rcv_edge.map_or(edge, |e| e.max(edge)));
        }
        self.remote_known = true;
        Ok(())
    }
}

/// The spec's transitions from `state`, one line each:
/// `tcp.fsm:124  FIN_WAIT_2 -> TIME_WAIT on rcv_fin / send_ack, start_time_wait`.
pub fn allowed(machine: &Loaded, state: &str) -> Vec<String> {
    let spec = machine.source();
    let m = &spec.model;
    let Some(s) = m.state(state) else {
        return Vec::new();
    };
    m.transitions
        .iter()
        .filter(|t| t.sources.contains(&s))
        .map(|t| {
            let guard = t
                .guard
                .as_ref()
                .map(|g| {
                    let mut text = String::new();
                    g.write(&mut text, &|id: &fsm_codegen::model::GuardId| {
                        m.guards[id.index()].name.text.clone()
                    });
                    format!(" [{text}]")
                })
                .unwrap_or_default();
            let actions: Vec<&str> = t
                .actions
                .iter()
                .map(|a| m.actions[a.index()].name.text.as_str())
                .collect();
            format!(
                "{}:{}  {state} -> {} on {}{guard} / {}",
                machine.spec(),
                t.line,
                m.states[t.target_from(s).index()].name.text,
                m.events[t.event.index()].name.text,
                if actions.is_empty() {
                    "-".to_owned()
                } else {
                    actions.join(", ")
                }
            )
        })
        .collect()
}

/// Whether the spec declares `event` a segment event (not a call or a
/// timer).
fn is_segment_event(machine: &Loaded, event: Event) -> bool {
    let m = &machine.source().model;
    m.event(event.name())
        .is_some_and(|e| m.events[e.index()].kind == EventKind::Segment)
}
