//! A TCP host, sans-IO: many connections on one inner IPv4 address,
//! demultiplexed by 4-tuple; listeners with backlogs; and, for a segment
//! nobody wants, the CLOSED-state answer from a machine in its initial
//! state. It takes datagrams, calls and the time, and yields datagrams and
//! its next deadline, like [`Connection`] does for one connection.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, VecDeque};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::cc::CcWords;
use crate::config::Config;
use crate::conn::{CallRefused, ConnError, Connection, Control, Env, Segment};
use crate::isn::IsnGenerator;
use crate::recovery::RecoveryWords;
use crate::trace::{StepRecord, TraceEntry};
use crate::vocab::Machine;
use crate::wire::tcp::TcpRepr;
use crate::wire::{self, DropCounters};

/// A connection's handle within its host.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ConnId {
    index: u32,
    generation: u32,
}

/// Why a host call failed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HostError {
    /// The port already has a listener.
    PortInUse(u16),
    /// No listener on this port.
    NotListening(u16),
    /// Every ephemeral port to that peer is taken.
    NoFreePort,
    /// The handle names no connection (it was released).
    UnknownConnection,
    /// The spec has no transition for the call in the connection's state.
    Refused(CallRefused),
}

impl fmt::Display for HostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HostError::PortInUse(p) => write!(f, "port {p} is already listening"),
            HostError::NotListening(p) => write!(f, "nothing listens on port {p}"),
            HostError::NoFreePort => f.write_str("no free local port"),
            HostError::UnknownConnection => f.write_str("no such connection"),
            HostError::Refused(r) => write!(
                f,
                "{} is not allowed in state {} (the spec has no such transition)",
                r.event, r.state
            ),
        }
    }
}

impl std::error::Error for HostError {}

/// What a connection looks like to its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The machine has entered a state of the spec's group `open`.
    pub open: bool,
    /// The TCB is gone.
    pub finished: bool,
    /// Bytes ready to read.
    pub readable: usize,
    /// The peer closed and every byte was read.
    pub eof: bool,
    /// Room in the send buffer.
    pub writable: usize,
    /// Everything sent (and our FIN) is acknowledged.
    pub all_acked: bool,
    /// What went wrong, if anything.
    pub error: Option<ConnError>,
}

/// A datagram [`Host::poll_transmit`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Where the UDP datagram goes.
    pub udp_peer: SocketAddr,
    /// Bytes written to the buffer.
    pub len: usize,
}

/// Counters of a host.
#[derive(Clone, Debug, Default)]
pub struct Counters {
    /// Datagrams handed to the host.
    pub datagrams_in: u64,
    /// Datagrams the host produced.
    pub datagrams_out: u64,
    /// Malformed datagrams, by reason.
    pub malformed: DropCounters,
    /// Well-formed packets for another inner address.
    pub wrong_destination: u64,
    /// Segments for no connection and no listener (answered by the
    /// initial state's machine).
    pub no_connection: u64,
    /// SYNs dropped because the listener's accept queue was full.
    pub backlog_full: u64,
    /// Half-open connections dropped to make room for a newer SYN.
    pub syn_evicted: u64,
}

impl fmt::Display for Counters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "in={} out={} malformed[{}] wrong-destination={} no-connection={} backlog-full={} syn-evicted={}",
            self.datagrams_in,
            self.datagrams_out,
            self.malformed,
            self.wrong_destination,
            self.no_connection,
            self.backlog_full,
            self.syn_evicted
        )
    }
}

/// A connection's key: our inner port, the peer's inner address, and the
/// UDP address its datagrams come from. With inner addresses equal to the
/// UDP ones (the default) the UDP address adds nothing; when several
/// processes share an inner address (127.0.0.1) it keeps their connections
/// apart even if they chose the same inner port.
type Key = (u16, SocketAddrV4, SocketAddr);

#[derive(Clone)]
struct Entry<M: Machine> {
    conn: Connection<M>,
    udp_peer: SocketAddr,
    key: Option<Key>,
    /// The listener port of a child not yet accepted.
    child_of: Option<u16>,
    /// Whether the application holds a handle.
    held: bool,
    /// In the dirty list.
    dirty: bool,
    /// In the list of changes.
    changed: bool,
    /// The deadline most recently put in the timer heap.
    scheduled: Option<Instant>,
}

#[derive(Clone)]
struct Slot<M: Machine> {
    generation: u32,
    /// Shared with the copies of the host until one of them changes it.
    entry: Option<Arc<Entry<M>>>,
}

impl<M: Machine> Slot<M> {
    /// The entry, to change: copied first if a copy of the host shares it.
    fn entry_mut(&mut self) -> Option<&mut Entry<M>> {
        self.entry.as_mut().map(Arc::make_mut)
    }
}

#[derive(Clone)]
struct Listener<M: Machine> {
    /// Shared with the copies of the host (it changes only when closed).
    template: Arc<Connection<M>>,
    backlog: usize,
    /// Children that took a SYN and are not open yet, oldest first; at
    /// most `Config::syn_backlog`, the oldest evicted for a new SYN.
    half_open: VecDeque<ConnId>,
    /// Open children waiting for `accept`; at most `backlog`.
    ready: VecDeque<ConnId>,
    /// In the list of changes.
    changed: bool,
}

/// What may have changed since [`Host::drain_changes`] was last called:
/// what a driver needs to wake only the applications waiting on it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Change {
    /// A segment, a timer or a call reached the connection.
    Connection(ConnId),
    /// A child of the listener on this port changed (it may be ready to
    /// be accepted).
    Listener(u16),
}

/// Many connections over one inner address. A clone is an independent
/// copy: an explorer branches on it, and [`Host::fingerprint`] tells two
/// copies that would behave alike.
#[derive(Clone)]
pub struct Host<M: Machine> {
    machine: M,
    config: Arc<Config>,
    local_ip: Ipv4Addr,
    epoch: Instant,
    isn: IsnGenerator,
    slots: Vec<Slot<M>>,
    free: Vec<u32>,
    by_key: HashMap<Key, ConnId>,
    listeners: HashMap<u16, Listener<M>>,
    dirty: VecDeque<ConnId>,
    /// Each connection and listener at most once (see [`Change`]).
    changes: Vec<Change>,
    timers: BinaryHeap<Reverse<(Instant, u32, u32)>>,
    /// Segments from machines that did not outlive the segment they
    /// answered: (UDP peer, local port, segment).
    replies: VecDeque<(SocketAddr, u16, Control)>,
    records: Records,
    counters: Counters,
    scratch: Vec<u8>,
    next_port: u16,
    /// The port a connection takes first, if free (see [`Self::prefer_port`]).
    preferred_port: Option<u16>,
}

const EPHEMERAL: std::ops::RangeInclusive<u16> = 49152..=65535;

/// What the connections recorded and the host has not yet handed on.
#[derive(Clone, Default)]
struct Records {
    trace: Vec<TraceEntry>,
    steps: Vec<StepRecord>,
    cc_trace: Vec<TraceEntry>,
    cc_steps: Vec<StepRecord<CcWords>>,
    rec_trace: Vec<TraceEntry>,
    rec_steps: Vec<StepRecord<RecoveryWords>>,
}

impl<M: Machine + Default> Host<M> {
    /// A host at `local_ip` for the machine compiled in as `M`, starting
    /// at `now`.
    pub fn new(local_ip: Ipv4Addr, config: Config, isn: IsnGenerator, now: Instant) -> Self {
        Self::with_machine(M::default(), local_ip, config, isn, now)
    }
}

impl<M: Machine> Host<M> {
    /// A host at `local_ip` whose connections `machine` drives, starting at
    /// `now`.
    pub fn with_machine(
        machine: M,
        local_ip: Ipv4Addr,
        config: Config,
        isn: IsnGenerator,
        now: Instant,
    ) -> Self {
        Host {
            machine,
            config: Arc::new(config),
            local_ip,
            epoch: now,
            isn,
            slots: Vec::new(),
            free: Vec::new(),
            by_key: HashMap::new(),
            listeners: HashMap::new(),
            dirty: VecDeque::new(),
            timers: BinaryHeap::new(),
            replies: VecDeque::new(),
            records: Records::default(),
            changes: Vec::new(),
            counters: Counters::default(),
            scratch: Vec::new(),
            next_port: *EPHEMERAL.start(),
            preferred_port: None,
        }
    }

    /// Feeds everything that decides what this host does next to `h`,
    /// times relative to `now`: two hosts with the same fingerprint
    /// answer every datagram, call and timer alike (see
    /// [`crate::fingerprint`] for what is left out and why).
    pub fn fingerprint<H: Hasher>(&self, now: Instant, h: &mut H) {
        let Host {
            machine: _,
            config: _,
            local_ip,
            epoch: _,
            isn,
            slots,
            free,
            by_key: _,
            listeners,
            dirty,
            changes: _,
            timers: _,
            replies,
            records: _,
            counters: _,
            scratch: _,
            next_port,
            preferred_port,
        } = self;
        (local_ip, free, dirty, replies, next_port, preferred_port).hash(h);
        isn.ahead().hash(h);
        h.write_usize(slots.len());
        for slot in slots {
            slot.generation.hash(h);
            let Some(e) = slot.entry.as_deref() else {
                h.write_u8(0);
                continue;
            };
            h.write_u8(1);
            let Entry {
                conn,
                udp_peer,
                key,
                child_of,
                held,
                dirty: _,
                changed: _,
                scheduled: _,
            } = e;
            (udp_peer, key, child_of, held).hash(h);
            conn.fingerprint(now, h);
        }
        let mut ports: Vec<&u16> = listeners.keys().collect();
        ports.sort_unstable();
        for port in ports {
            let Listener {
                template,
                backlog,
                half_open,
                ready,
                changed: _,
            } = &listeners[port];
            (port, backlog, half_open, ready).hash(h);
            template.fingerprint(now, h);
        }
    }

    /// Moves the ISN clock ahead by `by` (no timer moves): see
    /// [`IsnGenerator::advance`].
    pub fn advance_isn_clock(&mut self, by: Duration) {
        self.isn.advance(by);
    }

    /// Makes connections take `port` as their local port when it is free
    /// towards their peer (the endpoint's UDP port, so that inner ports
    /// default to the outer ones).
    pub fn prefer_port(&mut self, port: u16) {
        self.preferred_port = Some(port);
    }

    /// The machine driving the connections.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The inner address.
    pub fn local_ip(&self) -> Ipv4Addr {
        self.local_ip
    }

    /// When the host started.
    pub fn epoch(&self) -> Instant {
        self.epoch
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Connections held (open, closing, or finished but still held by the
    /// application).
    pub fn connections(&self) -> usize {
        self.slots.len() - self.free.len()
    }

    /// Memory held by connection buffers, bytes.
    pub fn buffer_memory(&self) -> usize {
        self.slots
            .iter()
            .filter_map(|s| s.entry.as_deref())
            .map(|e| e.conn.buffer_memory())
            .sum()
    }

    /// Moves out the transitions taken since the last call, in order.
    pub fn drain_trace(&mut self) -> std::vec::Drain<'_, TraceEntry> {
        self.records.trace.drain(..)
    }

    /// Moves out the events raised since the last call, in order (when
    /// [`Config::record_steps`] is on).
    pub fn drain_steps(&mut self) -> std::vec::Drain<'_, StepRecord> {
        self.records.steps.drain(..)
    }

    /// Moves out the congestion machines' transitions since the last call.
    pub fn drain_cc_trace(&mut self) -> std::vec::Drain<'_, TraceEntry> {
        self.records.cc_trace.drain(..)
    }

    /// Moves out the congestion machines' events since the last call (when
    /// [`Config::record_steps`] is on).
    pub fn drain_cc_steps(&mut self) -> std::vec::Drain<'_, StepRecord<CcWords>> {
        self.records.cc_steps.drain(..)
    }

    /// Moves out the recovery machines' transitions since the last call.
    pub fn drain_rec_trace(&mut self) -> std::vec::Drain<'_, TraceEntry> {
        self.records.rec_trace.drain(..)
    }

    /// Moves out the recovery machines' events since the last call (when
    /// [`Config::record_steps`] is on).
    pub fn drain_rec_steps(&mut self) -> std::vec::Drain<'_, StepRecord<RecoveryWords>> {
        self.records.rec_steps.drain(..)
    }

    /// Moves out the connections and listeners that may have changed since
    /// the last call, each once.
    pub fn drain_changes(&mut self) -> std::vec::Drain<'_, Change> {
        for i in 0..self.changes.len() {
            match self.changes[i] {
                Change::Connection(id) => {
                    if let Some(e) = self.entry_mut(id) {
                        e.changed = false;
                    }
                }
                Change::Listener(port) => {
                    if let Some(l) = self.listeners.get_mut(&port) {
                        l.changed = false;
                    }
                }
            }
        }
        self.changes.drain(..)
    }

    /// Keeps the list of changes bounded when nobody drains it: drops the
    /// entries of connections that are gone.
    fn forget_stale_changes(&mut self) {
        let (slots, listeners) = (&self.slots, &self.listeners);
        self.changes.retain(|c| match *c {
            Change::Connection(id) => slots
                .get(id.index as usize)
                .is_some_and(|s| s.generation == id.generation && s.entry.is_some()),
            Change::Listener(port) => listeners.get(&port).is_some_and(|l| l.changed),
        });
    }

    /// Collects what a connection recorded: its traces and its steps.
    fn collect(records: &mut Records, conn: &mut Connection<M>) {
        records.trace.extend(conn.take_fresh_trace());
        records.steps.extend(conn.take_steps());
        records.cc_trace.extend(conn.take_fresh_cc_trace());
        records.cc_steps.extend(conn.take_cc_steps());
        records.rec_trace.extend(conn.take_fresh_rec_trace());
        records.rec_steps.extend(conn.take_rec_steps());
    }

    fn env(&self, now: Instant) -> Env<'_> {
        Env {
            now,
            epoch: self.epoch,
            isn: &self.isn,
        }
    }

    fn entry(&self, id: ConnId) -> Option<&Entry<M>> {
        let slot = self.slots.get(id.index as usize)?;
        (slot.generation == id.generation)
            .then_some(slot.entry.as_deref())
            .flatten()
    }

    fn entry_mut(&mut self, id: ConnId) -> Option<&mut Entry<M>> {
        let slot = self.slots.get_mut(id.index as usize)?;
        if slot.generation != id.generation {
            return None;
        }
        slot.entry_mut()
    }

    fn insert(&mut self, entry: Entry<M>) -> ConnId {
        let key = entry.key;
        let index = match self.free.pop() {
            Some(i) => i,
            None => {
                self.slots.push(Slot {
                    generation: 0,
                    entry: None,
                });
                (self.slots.len() - 1) as u32
            }
        };
        let slot = &mut self.slots[index as usize];
        slot.entry = Some(Arc::new(entry));
        let id = ConnId {
            index,
            generation: slot.generation,
        };
        if let Some(k) = key {
            self.by_key.insert(k, id);
        }
        id
    }

    fn remove(&mut self, id: ConnId) {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        if let Some(e) = slot.entry.take() {
            if let Some(k) = e.key
                && self.by_key.get(&k) == Some(&id)
            {
                self.by_key.remove(&k);
            }
            slot.generation = slot.generation.wrapping_add(1);
            self.free.push(id.index);
        }
    }

    /// After anything touched connection `id`: collect its trace, queue it
    /// for output and timers, promote or retire it.
    fn touched(&mut self, id: ConnId) {
        let Some(slot) = self.slots.get_mut(id.index as usize) else {
            return;
        };
        if slot.generation != id.generation {
            return;
        }
        let Some(e) = slot.entry_mut() else {
            return;
        };
        Self::collect(&mut self.records, &mut e.conn);
        if !e.dirty {
            e.dirty = true;
            self.dirty.push_back(id);
        }
        if !e.changed {
            e.changed = true;
            self.changes.push(Change::Connection(id));
        }
        if let Some(l) = e.child_of.and_then(|port| self.listeners.get_mut(&port))
            && !l.changed
        {
            l.changed = true;
            self.changes
                .push(Change::Listener(l.template.local().port()));
        }
        if self.changes.len() > 2 * (self.slots.len() + self.listeners.len()) + 64 {
            self.forget_stale_changes();
        }
        self.schedule(id);
        self.settle(id);
    }

    /// Puts the connection's deadline in the heap if it is earlier than
    /// the one already there.
    fn schedule(&mut self, id: ConnId) {
        let Some(e) = self.entry_mut(id) else {
            return;
        };
        let Some(d) = e.conn.deadline() else {
            return;
        };
        if e.scheduled.is_none_or(|s| d < s) {
            e.scheduled = Some(d);
            self.timers.push(Reverse((d, id.index, id.generation)));
        }
    }

    /// Moves a child to its listener's accept queue once open, and retires
    /// connections that are done.
    fn settle(&mut self, id: ConnId) {
        let Some(e) = self.entry(id) else {
            return;
        };
        let (open, has_peer, finished, child_of, held, dirty) = (
            e.conn.is_open(),
            e.conn.has_peer(),
            e.conn.is_finished(),
            e.child_of,
            e.held,
            e.dirty,
        );
        if finished
            && let Some(k) = self.entry(id).and_then(|e| e.key)
            && self.by_key.get(&k) == Some(&id)
        {
            self.by_key.remove(&k);
        }
        if let Some(port) = child_of {
            let listening = self.listeners.contains_key(&port);
            if open && listening {
                let l = self.listeners.get_mut(&port).expect("checked");
                if let Some(i) = l.half_open.iter().position(|h| *h == id) {
                    l.half_open.remove(i);
                    l.ready.push_back(id);
                }
            }
            // A child that went back to LISTEN (forget_peer) or died
            // before it opened is dropped: its listener still listens. One
            // that opened waits for accept whatever it did since, with
            // what it received.
            if !open && (!has_peer || finished) && !dirty {
                if let Some(l) = self.listeners.get_mut(&port) {
                    l.half_open.retain(|r| *r != id);
                    l.ready.retain(|r| *r != id);
                }
                self.remove(id);
            }
        } else if finished && !held && !dirty {
            self.remove(id);
        }
    }

    // ---- input ---------------------------------------------------------------

    /// Handles one datagram that arrived from `udp_peer`.
    pub fn handle_datagram(&mut self, now: Instant, udp_peer: SocketAddr, bytes: &[u8]) {
        self.counters.datagrams_in += 1;
        let (ip, tcp) = match wire::parse(bytes) {
            Ok(p) => p,
            Err(reason) => {
                self.counters.malformed.record(reason);
                return;
            }
        };
        if ip.dst_addr != self.local_ip {
            self.counters.wrong_destination += 1;
            return;
        }
        let src = SocketAddrV4::new(ip.src_addr, tcp.src_port);
        let key = (tcp.dst_port, src, udp_peer);
        if let Some(&id) = self.by_key.get(&key) {
            let epoch = self.epoch;
            let isn = &self.isn;
            if let Some(slot) = self.slots.get_mut(id.index as usize)
                && let Some(e) = slot.entry_mut()
            {
                let env = Env { now, epoch, isn };
                e.conn.on_segment(&env, src, &tcp);
            }
            self.touched(id);
        } else if self.listeners.contains_key(&tcp.dst_port) {
            self.for_listener(now, udp_peer, src, &tcp);
        } else {
            // No TCB: a machine in its initial state answers (RFC 9293 3.10.7.1).
            self.counters.no_connection += 1;
            let local = SocketAddrV4::new(self.local_ip, tcp.dst_port);
            let mut closed = Connection::new(self.machine.clone(), local, self.config.clone());
            closed.on_segment(&self.env(now), src, &tcp);
            self.absorb_transient(&mut closed, udp_peer, now);
        }
    }

    /// A segment for a listening port from a peer with no connection: a
    /// fresh copy of the listening TCB takes it; it is kept if it took the
    /// peer's SYN.
    fn for_listener(
        &mut self,
        now: Instant,
        udp_peer: SocketAddr,
        src: SocketAddrV4,
        tcp: &TcpRepr<'_>,
    ) {
        let port = tcp.dst_port;
        let listener = self.listeners.get(&port).expect("checked by the caller");
        let is_syn = tcp.flags.syn() && tcp.ack.is_none() && !tcp.flags.rst();
        if is_syn && listener.ready.len() >= listener.backlog {
            // The accept queue is full: the peer will retransmit.
            self.counters.backlog_full += 1;
            return;
        }
        let mut child = listener.template.fork(src, now);
        child.on_segment(&self.env(now), src, tcp);
        if !child.has_peer() {
            self.absorb_transient(&mut child, udp_peer, now);
            return;
        }
        // Bounded memory under a SYN flood: the oldest half-open child
        // makes room for the newest (a SYN cache's eviction).
        let full = self.listeners[&port].half_open.len() >= self.config.syn_backlog.max(1);
        if full
            && let Some(oldest) = self
                .listeners
                .get_mut(&port)
                .and_then(|l| l.half_open.pop_front())
        {
            self.counters.syn_evicted += 1;
            self.remove(oldest);
        }
        let id = self.insert(Entry {
            conn: child,
            udp_peer,
            key: Some((port, src, udp_peer)),
            child_of: Some(port),
            held: false,
            dirty: false,
            changed: false,
            scheduled: None,
        });
        if let Some(l) = self.listeners.get_mut(&port) {
            l.half_open.push_back(id);
        }
        self.touched(id);
    }

    /// Collects what a short-lived machine did: its trace and its replies.
    fn absorb_transient(&mut self, conn: &mut Connection<M>, udp_peer: SocketAddr, now: Instant) {
        Self::collect(&mut self.records, conn);
        let port = conn.local().port();
        while let Some(seg) = conn.poll_transmit(now) {
            if let Segment::Control(c) = seg {
                self.replies.push_back((udp_peer, port, c));
            }
        }
    }

    // ---- output ----------------------------------------------------------------

    /// Writes the next datagram to send into `buf` (at least 65535 bytes
    /// make every packet fit) and says where it goes.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if let Some((udp_peer, port, c)) = self.replies.pop_front() {
            let len = emit_control(SocketAddrV4::new(self.local_ip, port), &c, buf)?;
            self.counters.datagrams_out += 1;
            return Some(Transmit { udp_peer, len });
        }
        while let Some(&id) = self.dirty.front() {
            let local_ip = self.local_ip;
            let Some(e) = self.entry_mut(id) else {
                self.dirty.pop_front();
                continue;
            };
            let udp_peer = e.udp_peer;
            let local = e.conn.local();
            match e.conn.poll_transmit(now) {
                Some(Segment::Control(c)) => {
                    let len = emit_control(SocketAddrV4::new(local_ip, local.port()), &c, buf);
                    self.schedule(id);
                    if let Some(len) = len {
                        self.counters.datagrams_out += 1;
                        return Some(Transmit { udp_peer, len });
                    }
                }
                Some(Segment::Data(seg)) => {
                    let (_, n) = seg.payload;
                    let mut scratch = std::mem::take(&mut self.scratch);
                    let e = self.entry(id).expect("present above");
                    // The payload straight from the send buffer, or copied
                    // out where it wraps around.
                    let payload = match e.conn.payload(&seg) {
                        Some(p) => p,
                        None => {
                            scratch.resize(n, 0);
                            let got = e.conn.write_payload(&seg, &mut scratch);
                            &scratch[..got]
                        }
                    };
                    let repr = TcpRepr {
                        src_port: local.port(),
                        dst_port: seg.dst.port(),
                        seq: seg.seq,
                        ack: seg.ack,
                        flags: seg.flags,
                        window: seg.window,
                        mss: seg.mss,
                        window_scale: seg.window_scale,
                        sack_permitted: seg.sack_permitted,
                        sack: seg.sack,
                        payload,
                        ..TcpRepr::default()
                    };
                    let len = wire::emit(local_ip, *seg.dst.ip(), &repr, buf).ok();
                    self.scratch = scratch;
                    self.schedule(id);
                    if let Some(len) = len {
                        self.counters.datagrams_out += 1;
                        return Some(Transmit { udp_peer, len });
                    }
                }
                None => {
                    e.dirty = false;
                    self.dirty.pop_front();
                    // Emitting may have armed a timer (a persist timer).
                    self.schedule(id);
                    self.settle(id);
                }
            }
        }
        None
    }

    // ---- timers ----------------------------------------------------------------

    /// The earliest time [`Self::handle_timeout`] has work.
    pub fn poll_timeout(&mut self) -> Option<Instant> {
        while let Some(&Reverse((at, index, generation))) = self.timers.peek() {
            let id = ConnId { index, generation };
            match self.entry(id).map(|e| (e.scheduled, e.conn.deadline())) {
                Some((Some(s), Some(d))) if s == at && d == at => return Some(at),
                Some((Some(s), Some(d))) if s == at && d > at => {
                    // The deadline moved later: reschedule it.
                    self.timers.pop();
                    let e = self.entry_mut(id).expect("present");
                    e.scheduled = Some(d);
                    self.timers.push(Reverse((d, index, generation)));
                }
                Some((Some(s), _)) if s == at => {
                    self.timers.pop();
                    let e = self.entry_mut(id).expect("present");
                    e.scheduled = None;
                    self.schedule(id);
                }
                _ => {
                    self.timers.pop();
                }
            }
        }
        None
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(at) = self.poll_timeout() {
            if at > now {
                break;
            }
            let Some(Reverse((_, index, generation))) = self.timers.pop() else {
                break;
            };
            let id = ConnId { index, generation };
            let epoch = self.epoch;
            let isn = &self.isn;
            if let Some(slot) = self.slots.get_mut(index as usize)
                && let Some(e) = slot.entry_mut()
            {
                e.scheduled = None;
                e.conn.on_timeout(&Env { now, epoch, isn });
            }
            self.touched(id);
        }
    }

    // ---- application calls --------------------------------------------------------

    /// Listens on `port`, keeping at most `backlog` open connections that
    /// are not yet accepted (and `Config::syn_backlog` half-open ones).
    pub fn listen(&mut self, now: Instant, port: u16, backlog: usize) -> Result<(), HostError> {
        if self.listeners.contains_key(&port) {
            return Err(HostError::PortInUse(port));
        }
        let local = SocketAddrV4::new(self.local_ip, port);
        let mut template = Connection::new(self.machine.clone(), local, self.config.clone());
        template
            .open_passive(&self.env(now), None)
            .map_err(HostError::Refused)?;
        Self::collect(&mut self.records, &mut template);
        self.listeners.insert(
            port,
            Listener {
                template: Arc::new(template),
                backlog: backlog.max(1),
                half_open: VecDeque::new(),
                ready: VecDeque::new(),
                changed: false,
            },
        );
        Ok(())
    }

    /// Stops listening on `port`: the listening TCB is closed, and
    /// connections not yet accepted are aborted.
    pub fn unlisten(&mut self, now: Instant, port: u16) -> Result<(), HostError> {
        let mut l = self
            .listeners
            .remove(&port)
            .ok_or(HostError::NotListening(port))?;
        let template = Arc::make_mut(&mut l.template);
        let _ = template.close(&self.env(now));
        Self::collect(&mut self.records, template);
        let children: Vec<ConnId> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| {
                let e = s.entry.as_deref()?;
                (e.child_of == Some(port)).then_some(ConnId {
                    index: i as u32,
                    generation: s.generation,
                })
            })
            .collect();
        for id in children {
            if let Some(e) = self.entry_mut(id) {
                e.child_of = None;
            }
            let _ = self.abort(now, id);
        }
        Ok(())
    }

    /// An open connection from `port`'s accept queue, if any.
    pub fn accept(&mut self, port: u16) -> Result<Option<ConnId>, HostError> {
        let l = self
            .listeners
            .get_mut(&port)
            .ok_or(HostError::NotListening(port))?;
        let Some(id) = l.ready.pop_front() else {
            return Ok(None);
        };
        if let Some(e) = self.entry_mut(id) {
            e.child_of = None;
            e.held = true;
        }
        Ok(Some(id))
    }

    /// How many open connections wait in `port`'s accept queue (0 if
    /// nothing listens there): whether [`Self::accept`] has one to give.
    pub fn acceptable(&self, port: u16) -> usize {
        self.listeners.get(&port).map_or(0, |l| l.ready.len())
    }

    /// A local port for a connection to `remote` via `udp_peer`: the
    /// preferred one (the endpoint's UDP port: inner ports default to the
    /// outer ones) if it is free, else the next free ephemeral port.
    fn free_port(&mut self, remote: SocketAddrV4, udp_peer: SocketAddr) -> Result<u16, HostError> {
        if let Some(p) = self.preferred_port
            && !self.listeners.contains_key(&p)
            && !self.by_key.contains_key(&(p, remote, udp_peer))
        {
            return Ok(p);
        }
        let span = usize::from(EPHEMERAL.end() - EPHEMERAL.start()) + 1;
        for _ in 0..span {
            let p = self.next_port;
            self.next_port = if p == *EPHEMERAL.end() {
                *EPHEMERAL.start()
            } else {
                p + 1
            };
            if !self.listeners.contains_key(&p) && !self.by_key.contains_key(&(p, remote, udp_peer))
            {
                return Ok(p);
            }
        }
        Err(HostError::NoFreePort)
    }

    /// Opens a connection to `remote` (inner address) from `local_port`
    /// (`None`: a free ephemeral port), sending its datagrams to
    /// `udp_peer`; `timeout` bounds the handshake.
    pub fn connect(
        &mut self,
        now: Instant,
        local_port: Option<u16>,
        remote: SocketAddrV4,
        udp_peer: SocketAddr,
        timeout: Option<Duration>,
    ) -> Result<ConnId, HostError> {
        let port = match local_port {
            Some(p) if self.by_key.contains_key(&(p, remote, udp_peer)) => {
                return Err(HostError::PortInUse(p));
            }
            Some(p) => p,
            None => self.free_port(remote, udp_peer)?,
        };
        self.open(now, (port, remote, udp_peer), |conn, env| {
            conn.open_active(env, remote, timeout)
        })
    }

    /// A passive open for one remote socket on `port`: the connection
    /// waits in LISTEN for that peer's SYN, and a SEND turns it active.
    pub fn listen_for(
        &mut self,
        now: Instant,
        port: u16,
        remote: SocketAddrV4,
        udp_peer: SocketAddr,
    ) -> Result<ConnId, HostError> {
        if self.by_key.contains_key(&(port, remote, udp_peer)) {
            return Err(HostError::PortInUse(port));
        }
        self.open(now, (port, remote, udp_peer), |conn, env| {
            conn.open_passive(env, Some(remote))
        })
    }

    /// A new connection under `key`, held by the application, opened by
    /// `open` (the OPEN call of the spec).
    fn open(
        &mut self,
        now: Instant,
        key: Key,
        open: impl FnOnce(&mut Connection<M>, &Env<'_>) -> Result<(), CallRefused>,
    ) -> Result<ConnId, HostError> {
        let local = SocketAddrV4::new(self.local_ip, key.0);
        let mut conn = Connection::new(self.machine.clone(), local, self.config.clone());
        open(&mut conn, &self.env(now)).map_err(HostError::Refused)?;
        let id = self.insert(Entry {
            conn,
            udp_peer: key.2,
            key: Some(key),
            child_of: None,
            held: true,
            dirty: false,
            changed: false,
            scheduled: None,
        });
        self.touched(id);
        Ok(id)
    }

    fn call<T>(
        &mut self,
        now: Instant,
        id: ConnId,
        f: impl FnOnce(&mut Connection<M>, &Env<'_>) -> Result<T, CallRefused>,
    ) -> Result<T, HostError> {
        let epoch = self.epoch;
        let isn = &self.isn;
        let slot = self
            .slots
            .get_mut(id.index as usize)
            .filter(|s| s.generation == id.generation)
            .ok_or(HostError::UnknownConnection)?;
        let e = slot.entry_mut().ok_or(HostError::UnknownConnection)?;
        let r = f(&mut e.conn, &Env { now, epoch, isn });
        self.touched(id);
        r.map_err(HostError::Refused)
    }

    /// Queues data; returns how much fit (0 when the buffer is full).
    pub fn send(&mut self, now: Instant, id: ConnId, data: &[u8]) -> Result<usize, HostError> {
        self.call(now, id, |c, env| c.send(env, data))
    }

    /// Reads received data; 0 when nothing is ready (see [`Status::eof`]).
    pub fn recv(&mut self, now: Instant, id: ConnId, out: &mut [u8]) -> Result<usize, HostError> {
        self.call(now, id, |c, _| Ok(c.recv(out)))
    }

    /// CLOSE: no more data from us.
    pub fn close(&mut self, now: Instant, id: ConnId) -> Result<(), HostError> {
        self.call(now, id, |c, env| c.close(env))
    }

    /// ABORT.
    pub fn abort(&mut self, now: Instant, id: ConnId) -> Result<(), HostError> {
        self.call(now, id, |c, env| c.abort(env))
    }

    /// The application lets go of the connection; it is freed once done.
    pub fn release(&mut self, id: ConnId) {
        if let Some(e) = self.entry_mut(id) {
            e.held = false;
        }
        self.settle(id);
    }

    /// How the connection looks to its application.
    pub fn status(&self, id: ConnId) -> Option<Status> {
        let c = &self.entry(id)?.conn;
        Some(Status {
            open: c.is_open(),
            finished: c.is_finished(),
            readable: c.readable(),
            eof: c.at_eof(),
            writable: c.writable(),
            all_acked: c.all_acked(),
            error: c.error(),
        })
    }

    /// The connection itself, for its state, addresses and trace.
    pub fn connection(&self, id: ConnId) -> Option<&Connection<M>> {
        Some(&self.entry(id)?.conn)
    }

    /// Every connection the host holds, each with whether it is a
    /// listener's child not yet accepted.
    pub fn each_connection(&self) -> impl Iterator<Item = Held<'_, M>> {
        self.slots.iter().filter_map(|s| {
            s.entry.as_deref().map(|e| Held {
                conn: &e.conn,
                unaccepted: e.child_of.is_some(),
            })
        })
    }
}

/// A connection a [`Host`] holds, from [`Host::each_connection`].
pub struct Held<'a, M: Machine> {
    /// The connection.
    pub conn: &'a Connection<M>,
    /// Whether it is a listener's child not yet accepted (which no
    /// application can act on; the listener's queues bound how many there
    /// are).
    pub unaccepted: bool,
}

/// Emits a control segment from `local` into `buf`.
fn emit_control(local: SocketAddrV4, c: &Control, buf: &mut [u8]) -> Option<usize> {
    let repr = TcpRepr {
        src_port: local.port(),
        dst_port: c.dst.port(),
        seq: c.seq,
        ack: c.ack,
        flags: c.flags,
        window: c.window,
        payload: &[],
        ..TcpRepr::default()
    };
    wire::emit(*local.ip(), *c.dst.ip(), &repr, buf).ok()
}

#[cfg(test)]
mod tests {
    //! Many connections on one host, datagram by datagram, in virtual
    //! time: datagrams in from peers (a segment built with [`seg`], in an
    //! IPv4 packet), datagrams out (parsed and compared field by field,
    //! with the UDP peer they go to), the timer heap and the accept queues.

    use super::*;
    use crate::tcp::Spec;
    use crate::wire::test_seg::{IRS, MSS, NXT, Seg, WIN, config, ms, secs, seg};
    use crate::wire::{Flags, SeqNum};

    const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    /// The listening port.
    const PORT: u16 = 80;
    const KEY: [u8; 16] = *b"host.rs test key";

    /// A peer: its inner address and the UDP address its datagrams come
    /// from.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    struct Peer {
        inner: SocketAddrV4,
        udp: SocketAddr,
    }

    fn peer(inner: [u8; 4], port: u16, udp: [u8; 4]) -> Peer {
        Peer {
            inner: SocketAddrV4::new(inner.into(), port),
            udp: SocketAddr::from((udp, 4000)),
        }
    }

    /// Three peers: B differs from A by its inner port, C by its UDP
    /// address only.
    fn a() -> Peer {
        peer([10, 0, 0, 2], 1000, [192, 0, 2, 2])
    }

    fn b() -> Peer {
        peer([10, 0, 0, 2], 1001, [192, 0, 2, 2])
    }

    fn c() -> Peer {
        peer([10, 0, 0, 2], 1000, [192, 0, 2, 3])
    }

    /// A datagram the host sent: to which peer, from which of our ports.
    #[derive(Clone, Debug, PartialEq, Eq)]
    struct Sent {
        to: Peer,
        from_port: u16,
        seg: Seg,
    }

    /// What the listening port sends `to`.
    fn to(to: Peer, seg: Seg) -> Sent {
        Sent {
            to,
            from_port: PORT,
            seg,
        }
    }

    struct TestHost {
        host: Host<Spec>,
        isn: IsnGenerator,
        base: Instant,
        now: Instant,
    }

    impl TestHost {
        fn new(config: Config) -> Self {
            let base = Instant::now();
            TestHost {
                host: Host::new(LOCAL_IP, config, IsnGenerator::new(KEY), base),
                isn: IsnGenerator::new(KEY),
                base,
                now: base,
            }
        }

        /// A host listening on [`PORT`].
        fn listening(config: Config, backlog: usize) -> Self {
            let mut h = TestHost::new(config);
            h.host.listen(h.now, PORT, backlog).expect("listen");
            h
        }

        /// The ISS our port `port` chooses for `peer` now.
        fn iss(&self, port: u16, peer: Peer) -> SeqNum {
            let local = SocketAddrV4::new(LOCAL_IP, port);
            self.isn.isn(self.now - self.base, local, peer.inner)
        }

        /// `from` sends `s` to our port `port`.
        fn deliver_to(&mut self, from: Peer, port: u16, s: Seg) {
            self.deliver_bytes(from.udp, *from.inner.ip(), from.inner.port(), port, s);
        }

        /// `from` sends `s` to the listening port.
        fn deliver(&mut self, from: Peer, s: Seg) {
            self.deliver_to(from, PORT, s);
        }

        fn deliver_bytes(
            &mut self,
            udp: SocketAddr,
            src: Ipv4Addr,
            src_port: u16,
            dst_port: u16,
            s: Seg,
        ) {
            let bytes = wire::emit_vec(src, LOCAL_IP, &s.repr(src_port, dst_port));
            self.host.handle_datagram(self.now, udp, &bytes);
        }

        /// Every datagram the host has to send now.
        fn outputs(&mut self) -> Vec<Sent> {
            let mut buf = vec![0; 65535];
            let mut out = Vec::new();
            while let Some(t) = self.host.poll_transmit(self.now, &mut buf) {
                let (ip, tcp) = wire::parse(&buf[..t.len]).expect("a well-formed packet");
                assert_eq!(ip.src_addr, LOCAL_IP);
                assert_eq!(tcp.window_scale, None);
                out.push(Sent {
                    to: Peer {
                        inner: SocketAddrV4::new(ip.dst_addr, tcp.dst_port),
                        udp: t.udp_peer,
                    },
                    from_port: tcp.src_port,
                    seg: Seg::of(&tcp),
                });
            }
            out
        }

        /// `p`'s SYN to the listening port; returns the ISS of the SYN-ACK.
        fn syn(&mut self, p: Peer) -> SeqNum {
            self.deliver(p, seg(IRS).syn().mss(MSS));
            let iss = self.iss(PORT, p);
            assert_eq!(self.outputs(), [to(p, seg(iss).ack(NXT).syn().mss(MSS))]);
            iss
        }

        /// `p`'s SYN and, after our SYN-ACK, its ACK; returns our ISS.
        fn handshake(&mut self, p: Peer) -> SeqNum {
            let iss = self.syn(p);
            self.deliver(p, seg(NXT).ack(iss + 1));
            assert_eq!(self.outputs(), []);
            iss
        }

        fn accept(&mut self) -> Option<ConnId> {
            self.host.accept(PORT).expect("listening")
        }

        fn read_all(&mut self, id: ConnId) -> Vec<u8> {
            let mut out = vec![0; 4096];
            let n = self
                .host
                .recv(self.now, id, &mut out)
                .expect("a connection");
            out.truncate(n);
            out
        }

        fn state(&self, id: ConnId) -> &'static str {
            let conn = self.host.connection(id).expect("a connection");
            conn.machine().state_name(conn.state())
        }
    }

    // =========================================================================
    // Listeners: a child per peer, accepted once open
    // =========================================================================

    #[test]
    fn listener_forks_a_child_per_peer_accepted_once_open() {
        let mut h = TestHost::listening(config(), 8);
        let iss = h.syn(a());
        assert_eq!(h.host.connections(), 1);
        assert_eq!(h.accept(), None, "SYN_RCVD is not open");
        // The listener still listens: another peer gets its own child.
        h.syn(b());
        assert_eq!(h.host.connections(), 2);
        h.deliver(a(), seg(NXT).ack(iss + 1));
        assert_eq!(h.outputs(), []);
        let id = h.accept().expect("A is open");
        assert_eq!(h.state(id), "ESTABLISHED");
        assert_eq!(h.host.connection(id).unwrap().remote(), Some(a().inner));
        assert_eq!(h.accept(), None, "B is not open yet");
        let status = h.host.status(id).unwrap();
        assert!(status.open && !status.finished);
    }

    #[test]
    fn demultiplexed_by_four_tuple_and_udp_peer() {
        let mut h = TestHost::listening(config(), 8);
        let peers = [a(), b(), c()];
        let mut ids = Vec::new();
        let mut isss = Vec::new();
        for p in peers {
            isss.push(h.handshake(p));
            ids.push(h.accept().expect("open"));
        }
        assert_eq!(h.host.connections(), 3);
        for (i, p) in peers.into_iter().enumerate() {
            let data = vec![b'a' + i as u8; i + 1];
            h.deliver(p, seg(NXT).ack(isss[i] + 1).data(&data));
            let ack = seg(isss[i] + 1)
                .ack(NXT + data.len())
                .win(WIN - data.len() as u16);
            assert_eq!(h.outputs(), [to(p, ack)]);
        }
        for (i, &id) in ids.iter().enumerate() {
            assert_eq!(h.read_all(id), vec![b'a' + i as u8; i + 1]);
        }
        // And out: each connection's data goes to its own peer.
        h.host.send(h.now, ids[2], b"to C").unwrap();
        // (Reading 3 bytes opens the window by less than an MSS: it stays
        // as advertised, receiver SWS avoidance.)
        let out = seg(isss[2] + 1)
            .ack(NXT + 3)
            .win(WIN - 3)
            .psh()
            .data(b"to C");
        assert_eq!(h.outputs(), [to(c(), out)]);
    }

    #[test]
    fn backlog_full_drops_syn() {
        let mut h = TestHost::listening(config(), 1);
        h.handshake(a());
        h.deliver(b(), seg(IRS).syn().mss(MSS));
        assert_eq!(h.outputs(), [], "no SYN-ACK: the peer will retry");
        assert_eq!(h.host.counters().backlog_full, 1);
        assert_eq!(h.host.connections(), 1);
        // Once A is accepted there is room for B.
        assert!(h.accept().is_some());
        h.syn(b());
        assert_eq!(h.host.connections(), 2);
    }

    #[test]
    fn syn_backlog_evicts_the_oldest_half_open_child() {
        let mut h = TestHost::listening(
            Config {
                syn_backlog: 2,
                ..config()
            },
            8,
        );
        let iss_a = h.syn(a());
        let iss_b = h.syn(b());
        let iss_c = h.syn(c());
        assert_eq!(h.host.counters().syn_evicted, 1);
        assert_eq!(h.host.connections(), 2);
        // A's child is gone: its ACK meets the listener, which resets it.
        h.deliver(a(), seg(NXT).ack(iss_a + 1));
        assert_eq!(h.outputs(), [to(a(), seg(iss_a + 1).rst().win(0))]);
        assert_eq!(h.accept(), None);
        for (p, iss) in [(b(), iss_b), (c(), iss_c)] {
            h.deliver(p, seg(NXT).ack(iss + 1));
            let id = h.accept().expect("open");
            assert_eq!(h.host.connection(id).unwrap().remote(), Some(p.inner));
        }
        assert_eq!(h.outputs(), []);
    }

    #[test]
    fn half_open_child_reset_is_dropped() {
        let mut h = TestHost::listening(config(), 8);
        h.syn(a());
        h.deliver(a(), seg(NXT).rst());
        assert_eq!(h.outputs(), []);
        assert_eq!(h.host.connections(), 0);
        assert_eq!(h.accept(), None);
        // The listener still listens, for A too.
        h.syn(a());
    }

    /// Changes name what a segment reached, each once, so that a driver
    /// wakes only the applications waiting on it.
    #[test]
    fn changes_name_the_connections_and_listeners_reached() {
        let mut h = TestHost::listening(config(), 8);
        let changes = |h: &mut TestHost| h.host.drain_changes().collect::<Vec<_>>();
        let iss_a = h.handshake(a());
        let ida = h.accept().expect("open");
        assert_eq!(
            changes(&mut h),
            [Change::Connection(ida), Change::Listener(PORT)],
            "a child's segments change it and its listener, once each"
        );
        let iss_b = h.handshake(b());
        let idb = h.accept().expect("open");
        changes(&mut h);
        h.deliver(a(), seg(NXT).ack(iss_a + 1).data(b"to a"));
        h.deliver(a(), seg(NXT + 4).ack(iss_a + 1).data(b"more"));
        assert_eq!(changes(&mut h), [Change::Connection(ida)]);
        assert_eq!(changes(&mut h), [], "drained");
        h.host.send(h.now, idb, b"to b").expect("open");
        h.deliver(b(), seg(NXT).ack(iss_b + 1));
        assert_eq!(changes(&mut h), [Change::Connection(idb)]);
    }

    #[test]
    fn finished_but_open_child_accepted_with_its_data() {
        let mut h = TestHost::listening(config(), 8);
        let iss = h.handshake(a());
        h.deliver(a(), seg(NXT).ack(iss + 1).data(b"hello"));
        assert_eq!(
            h.outputs(),
            [to(a(), seg(iss + 1).ack(NXT + 5).win(WIN - 5))]
        );
        h.deliver(a(), seg(NXT + 5).rst());
        assert_eq!(h.outputs(), []);
        let id = h.accept().expect("it opened: it waits for accept");
        assert_eq!(h.state(id), "CLOSED");
        let status = h.host.status(id).unwrap();
        assert!(status.open && status.finished);
        assert_eq!(status.readable, 5);
        assert_eq!(status.error, Some(ConnError::Reset));
        assert_eq!(h.read_all(id), b"hello");
    }

    // =========================================================================
    // No connection: the CLOSED answer (RFC 9293 3.10.7.1)
    // =========================================================================

    #[test]
    fn segment_nobody_wants_gets_the_closed_answer() {
        let mut h = TestHost::listening(config(), 8);
        let closed = |seg| Sent {
            to: a(),
            from_port: 81,
            seg,
        };
        h.deliver_to(a(), 81, seg(IRS).syn().mss(MSS));
        assert_eq!(h.outputs(), [closed(seg(SeqNum(0)).ack(NXT).rst().win(0))]);
        h.deliver_to(a(), 81, seg(IRS).ack(SeqNum(555)).data(b"abc"));
        assert_eq!(h.outputs(), [closed(seg(SeqNum(555)).rst().win(0))]);
        h.deliver_to(a(), 81, seg(IRS).rst());
        assert_eq!(h.outputs(), []);
        assert_eq!(h.host.counters().no_connection, 3);
        assert_eq!(h.host.connections(), 0);
    }

    #[test]
    fn datagrams_not_for_us_dropped_and_counted() {
        let mut h = TestHost::listening(config(), 8);
        h.host.handle_datagram(h.now, a().udp, &[0x45, 0, 0]);
        let repr = TcpRepr {
            src_port: 1000,
            dst_port: PORT,
            seq: IRS,
            flags: Flags::SYN,
            ..TcpRepr::default()
        };
        let other = Ipv4Addr::new(10, 0, 0, 99);
        let bytes = wire::emit_vec(*a().inner.ip(), other, &repr);
        h.host.handle_datagram(h.now, a().udp, &bytes);
        assert_eq!(h.outputs(), []);
        let counters = h.host.counters();
        assert_eq!(counters.malformed.total(), 1);
        assert_eq!(counters.wrong_destination, 1);
        assert_eq!(h.host.connections(), 0);
    }

    // =========================================================================
    // Timers in the heap
    // =========================================================================

    #[test]
    fn timers_run_at_poll_timeout() {
        let mut h = TestHost::new(config());
        let id = h
            .host
            .connect(h.now, Some(5000), a().inner, a().udp, None)
            .unwrap();
        let iss = h.iss(5000, a());
        let syn = || Sent {
            to: a(),
            from_port: 5000,
            seg: seg(iss).syn().mss(MSS),
        };
        assert_eq!(h.outputs(), [syn()]);
        assert_eq!(h.host.poll_timeout(), Some(h.base + secs(1)));
        // Early: nothing.
        h.now = h.base + ms(999);
        h.host.handle_timeout(h.now);
        assert_eq!(h.outputs(), []);
        h.now = h.base + secs(1);
        h.host.handle_timeout(h.now);
        assert_eq!(h.outputs(), [syn()]);
        assert_eq!(h.host.poll_timeout(), Some(h.base + secs(3)));
        assert_eq!(h.state(id), "SYN_SENT");
    }

    #[test]
    fn timer_heap_yields_the_earliest_and_forgets_stale_deadlines() {
        let mut h = TestHost::new(config());
        let first = h
            .host
            .connect(h.now, Some(5000), a().inner, a().udp, None)
            .unwrap();
        let iss = h.iss(5000, a());
        assert_eq!(h.outputs().len(), 1);
        h.now += ms(500);
        h.host
            .connect(h.now, Some(5001), b().inner, b().udp, None)
            .unwrap();
        assert_eq!(h.outputs().len(), 1);
        assert_eq!(h.host.poll_timeout(), Some(h.base + secs(1)));
        // The first connection opens: its deadline is gone, the second's
        // is next.
        h.deliver_to(a(), 5000, seg(IRS).syn().mss(MSS).ack(iss + 1));
        let ack = Sent {
            to: a(),
            from_port: 5000,
            seg: seg(iss + 1).ack(NXT),
        };
        assert_eq!(h.outputs(), [ack]);
        assert_eq!(h.state(first), "ESTABLISHED");
        assert_eq!(h.host.poll_timeout(), Some(h.base + ms(1500)));
    }

    #[test]
    fn child_syn_ack_retransmitted_from_the_heap() {
        let mut h = TestHost::listening(config(), 8);
        let iss = h.syn(a());
        assert_eq!(h.host.poll_timeout(), Some(h.base + secs(1)));
        h.now = h.base + secs(1);
        h.host.handle_timeout(h.now);
        assert_eq!(h.outputs(), [to(a(), seg(iss).ack(NXT).syn().mss(MSS))]);
        assert_eq!(h.host.poll_timeout(), Some(h.base + secs(3)));
    }

    #[test]
    fn persist_timer_armed_while_emitting_is_in_the_heap() {
        let mut h = TestHost::listening(config(), 8);
        let iss = h.handshake(a());
        let id = h.accept().expect("open");
        h.deliver(a(), seg(NXT).ack(iss + 1).win(0));
        assert_eq!(h.host.poll_timeout(), None);
        h.host.send(h.now, id, b"abc").unwrap();
        assert_eq!(h.outputs(), [], "the window is closed");
        let probe_at = h.now + secs(1);
        assert_eq!(h.host.poll_timeout(), Some(probe_at));
        h.now = probe_at;
        h.host.handle_timeout(h.now);
        assert_eq!(h.outputs(), [to(a(), seg(iss + 1).ack(NXT).data(b"a"))]);
    }

    #[test]
    fn time_wait_connection_freed_at_2msl() {
        let mut h = TestHost::new(config());
        let id = h
            .host
            .connect(h.now, Some(5000), a().inner, a().udp, None)
            .unwrap();
        let iss = h.iss(5000, a());
        let from_us = |seg| Sent {
            to: a(),
            from_port: 5000,
            seg,
        };
        assert_eq!(h.outputs().len(), 1);
        h.deliver_to(a(), 5000, seg(IRS).syn().mss(MSS).ack(iss + 1));
        assert_eq!(h.outputs(), [from_us(seg(iss + 1).ack(NXT))]);
        h.host.close(h.now, id).unwrap();
        assert_eq!(h.outputs(), [from_us(seg(iss + 1).ack(NXT).fin())]);
        h.now += ms(10);
        h.deliver_to(a(), 5000, seg(NXT).ack(iss + 2).fin());
        assert_eq!(h.outputs(), [from_us(seg(iss + 2).ack(NXT + 1))]);
        assert_eq!(h.state(id), "TIME_WAIT");
        h.host.release(id);
        let end = h.now + config().time_wait();
        assert_eq!(h.host.poll_timeout(), Some(end));
        h.now = end;
        h.host.handle_timeout(h.now);
        assert_eq!(h.outputs(), []);
        assert_eq!(h.host.connections(), 0);
        assert_eq!(h.host.status(id), None);
        assert_eq!(h.host.poll_timeout(), None);
        // The 4-tuple is free: A's next segment meets no connection.
        h.deliver_to(a(), 5000, seg(NXT + 1).ack(iss + 2));
        assert_eq!(h.outputs(), [from_us(seg(iss + 2).rst().win(0))]);
    }
}
