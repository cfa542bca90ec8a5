//! One state of an exploration: two sans-IO hosts, the datagrams between
//! them, the two applications' scripts and the monitors of the checks; the
//! moves enabled in it, and what each does.
//!
//! Time passes only when a timer fires: a datagram is delivered, lost or
//! duplicated in no time, and a call takes none. Applications are prompt:
//! no timer fires while one of them can take its next call (else any
//! timer would find every application asleep, and a FIN_WAIT_2 or user
//! timeout end every connection). A datagram lives at most
//! MSL in the network (the RFC's assumption, which TIME_WAIT rests on):
//! time cannot pass its deadline until it was delivered or lost, so a
//! timer fires only when no datagram in flight would outlive the jump.

use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasherDefault, Hash, Hasher};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsm_runtime::config::Config;
use fsm_runtime::conn::ConnError;
use fsm_runtime::host::{ConnId, Host, Status};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::Machine;
use fsm_runtime::wire;

use super::fingerprint;
use super::scenario::{Data, End, Op, Scenario, own_data};
use super::{Property, Violation};
use crate::oracle::Oracle;
pub(crate) use crate::sim::name as side_name;
use crate::sim::{CLIENT, Seen, Watch, check_wire, ip, udp};

/// How far a host's ISN clock runs ahead at each new connection (see
/// [`Host::advance_isn_clock`]): 250,000 ticks of RFC 6528's 4 µs.
const INCARNATION: Duration = Duration::from_secs(1);

/// The client's port (fixed, so that `reuse` reuses it), and the
/// server's.
pub(crate) const PORTS: [u16; 2] = [1000, 80];

/// A side's inner address and port, at the simulation's addresses.
pub(crate) fn inner(side: usize) -> SocketAddrV4 {
    SocketAddrV4::new(ip(side), PORTS[side])
}

/// What every state of one exploration shares.
pub(crate) struct Ctx {
    pub scenario: Scenario,
    pub scripts: [&'static [Op]; 2],
    /// Bytes each side writes of its own per connection.
    pub bytes: usize,
    pub losses: u8,
    pub dups: u8,
    pub reorder: bool,
    /// The spec each side's events are held against.
    pub oracles: [Arc<Oracle>; 2],
    /// The congestion machine's spec.
    pub cc_oracle: Arc<Oracle>,
    /// The recovery machine's spec.
    pub rec_oracle: Arc<Oracle>,
    /// The state a listener waits in (a new connection begins when a
    /// child leaves it).
    pub listening: Option<&'static str>,
    pub msl: Duration,
    pub base: Instant,
    /// What happened before the first move (for replays).
    pub setup: Vec<Happened>,
}

/// A move: what the network, a timer or an application does next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Move {
    /// Side's application takes the next call of its script.
    App(u8),
    /// The datagram at this place in flight arrives.
    Deliver(u16),
    /// The earliest timer of either host fires.
    Timer,
    /// The datagram at this place is lost.
    Lose(u16),
    /// The datagram at this place is duplicated (the copy right behind it).
    Duplicate(u16),
}

impl std::fmt::Display for Move {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Move::App(s) => write!(f, "app {}", side_name(usize::from(*s))),
            Move::Deliver(i) => write!(f, "deliver {i}"),
            Move::Timer => f.write_str("timer"),
            Move::Lose(i) => write!(f, "lose {i}"),
            Move::Duplicate(i) => write!(f, "duplicate {i}"),
        }
    }
}

impl std::str::FromStr for Move {
    type Err = String;

    fn from_str(s: &str) -> Result<Move, String> {
        let words: Vec<&str> = s.split_whitespace().collect();
        let index = |w: &str| w.parse::<u16>().map_err(|e| format!("{w:?}: {e}"));
        match words.as_slice() {
            ["app", "client"] => Ok(Move::App(0)),
            ["app", "server"] => Ok(Move::App(1)),
            ["deliver", i] => Ok(Move::Deliver(index(i)?)),
            ["timer"] => Ok(Move::Timer),
            ["lose", i] => Ok(Move::Lose(index(i)?)),
            ["duplicate", i] => Ok(Move::Duplicate(index(i)?)),
            _ => Err(format!("not a move: {s:?}")),
        }
    }
}

/// A datagram in flight.
#[derive(Clone)]
pub(crate) struct Flight {
    pub to: u8,
    pub bytes: Arc<[u8]>,
    /// Past this it cannot be in the network: time waits for it.
    pub deadline: Duration,
    /// A hash of the bytes.
    pub hash: u64,
    /// Which datagram it is, for the drawing (not part of the state).
    pub id: u32,
}

/// How an application's connection ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Saw {
    End(End),
    /// The connection failed for another reason than a reset.
    Error(ConnError),
    /// The connection ended with neither the peer's FIN nor an error.
    ClosedWithoutFin,
}

impl Saw {
    fn describe(self) -> String {
        match self {
            Saw::End(End::Eof) => "the end of the stream".into(),
            Saw::End(End::Reset) => "a reset".into(),
            Saw::End(End::Aborted) => "its own abort".into(),
            Saw::Error(e) => format!("the error {e:?}"),
            Saw::ClosedWithoutFin => "the connection end without FIN or error".into(),
        }
    }
}

/// One side's application.
#[derive(Clone, Default, Hash)]
pub(crate) struct App {
    /// The next call of the script.
    pub pc: u8,
    pub conn: Option<ConnId>,
    /// Connections opened so far (the current one's number, from 1).
    pub k: u8,
    /// Bytes the current write has handed over.
    pub written: u16,
    /// Bytes all writes handed over on the current connection.
    pub sent: u16,
    /// Bytes read on the current connection.
    pub received: Vec<u8>,
    /// How the current connection ended for it, once it did.
    pub saw: Option<Saw>,
    /// Each connection let go of: (number, how it ended, bytes read,
    /// bytes written).
    pub ends: Vec<(u8, Option<Saw>, u16, u16)>,
}

/// A state of the exploration.
#[derive(Clone)]
pub(crate) struct World<M: Machine> {
    /// Virtual time since the start (not part of the state: times in it
    /// are relative to now).
    pub now: Duration,
    /// The hosts, shared with the states they were copied from until a
    /// move changes them.
    pub hosts: [Arc<Host<M>>; 2],
    /// Each host's fingerprint, relative to now (derived from it).
    pub host_fp: [u64; 2],
    pub flights: Vec<Flight>,
    pub lost: u8,
    pub duplicated: u8,
    pub apps: [App; 2],
    pub watch: [Watch; 2],
    /// Each host's earliest deadline (derived from it).
    pub deadlines: [Option<Duration>; 2],
    pub next_id: u32,
}

/// What the replay of a move shows, for the drawing and the traces.
#[derive(Clone, Debug)]
pub(crate) enum Happened {
    /// An event a side's connection machine raised.
    Step(usize, StepRecord),
    /// A datagram a side sent (the inner IPv4 packet), with its id.
    Sent(usize, u32, Arc<[u8]>),
    /// A call of a side's application, as text.
    Call(usize, String),
    /// A timer fired on a side.
    Timer(usize),
}

/// Where a move's effects are written while replaying (not while
/// exploring).
pub(crate) type Log = Vec<Happened>;

/// What moves leave behind besides the next state.
pub(crate) struct Sink<M: Machine> {
    /// What happened, when replaying.
    pub log: Option<Log>,
    /// The (side, transition line, source state) pairs taken.
    pub pairs: HashSet<(u8, u32, &'static str)>,
    /// Deliveries already worked out, when exploring (not replaying).
    pub memo: Option<Memo<M>>,
}

impl<M: Machine> Default for Sink<M> {
    fn default() -> Self {
        Sink {
            log: None,
            pairs: HashSet::new(),
            memo: None,
        }
    }
}

/// A worker's deliveries already worked out: a host and a datagram,
/// at one moment, always come to the same host and the same outcome.
/// Many states share a host and differ elsewhere (the other host, the
/// network, the scripts), so most deliveries are found here.
pub(crate) struct Memo<M: Machine> {
    done: HashMap<Delivery, Delivered<M>, BuildHasherDefault<Mixed>>,
}

impl<M: Machine> Memo<M> {
    /// The most outcomes a worker keeps (and the hosts they hold).
    const CAPACITY: usize = 1 << 15;

    pub fn new() -> Self {
        Memo {
            done: HashMap::default(),
        }
    }
}

/// A delivery: (side, host fingerprint, now, datagram hash).
type Delivery = (u8, u64, Duration, u64);

/// What came of a delivery: the host after it, and what it did.
type Delivered<M> = (Arc<Host<M>>, Arc<Outcome>);

/// The memo's keys are hashes and times already: one multiply mixes them.
#[derive(Default)]
pub(crate) struct Mixed(u64);

impl Hasher for Mixed {
    fn finish(&self) -> u64 {
        fingerprint::mix(self.0)
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_u8(*b);
        }
    }
    fn write_u8(&mut self, n: u8) {
        self.write_u64(u64::from(n));
    }
    fn write_u32(&mut self, n: u32) {
        self.write_u64(u64::from(n));
    }
    fn write_u64(&mut self, n: u64) {
        self.0 = (self.0 ^ n)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15)
            .rotate_left(29);
    }
}

/// What a host did after a move reached it, taken from the host alone:
/// its steps held against the specs, the datagrams it sent, its next
/// deadline and its fingerprint.
pub(crate) struct Outcome {
    steps: Vec<StepRecord>,
    /// Each datagram with its hash.
    sent: Vec<(Arc<[u8]>, u64)>,
    deadline: Option<Duration>,
    fp: u64,
    /// The first property the host broke; `steps` and `sent` stop there.
    error: Option<Violation>,
}

/// The explorer's configuration of both hosts: a round trip takes no
/// time and a datagram lives at most MSL (100 ms), so the retransmission
/// timer (never below 200 ms) cannot expire while its segment or the
/// segment answering it is still on the way: it fires only after a loss.
pub(crate) fn config() -> Config {
    let mut c = Config::loopback(Duration::from_millis(100));
    c.initial_rto = Duration::from_millis(200);
    c.min_rto = Duration::from_millis(200);
    c.max_rto = Duration::from_millis(1600);
    c.max_retransmissions = 4;
    c.user_timeout = Duration::from_secs(10);
    c.linger = Duration::from_secs(2);
    c.recv_buffer = 256;
    c.send_buffer = 256;
    c.keep_trace = false;
    c.record_steps = true;
    c
}

impl<M: Machine> World<M> {
    /// The initial state: the server listening (or both sides connecting),
    /// nothing in flight.
    pub fn new(
        machines: [M; 2],
        config: &Config,
        ctx: &Ctx,
        sink: &mut Sink<M>,
    ) -> Result<World<M>, String> {
        let [a, b] = machines;
        let host = |side: usize, m: M| {
            let key = [side as u8 + 1; 16];
            Host::with_machine(
                m,
                ip(side),
                config.clone(),
                IsnGenerator::new(key),
                ctx.base,
            )
        };
        let mut w = World {
            now: Duration::ZERO,
            hosts: [Arc::new(host(0, a)), Arc::new(host(1, b))],
            host_fp: [0; 2],
            flights: Vec::new(),
            lost: 0,
            duplicated: 0,
            apps: Default::default(),
            watch: Default::default(),
            deadlines: [None; 2],
            next_id: 0,
        };
        let at = ctx.base;
        if ctx.scenario.listens() {
            w.host(1)
                .listen(at, PORTS[1], 4)
                .map_err(|e| format!("listen: {e}"))?;
        } else {
            for (side, port) in PORTS.into_iter().enumerate() {
                let id = w
                    .host(side)
                    .connect(at, Some(port), inner(1 - side), udp(1 - side), None)
                    .map_err(|e| format!("connect: {e}"))?;
                w.apps[side].conn = Some(id);
                w.apps[side].k = 1;
            }
        }
        w.pump(ctx, sink, [true; 2], true).map_err(|v| v.message)?;
        Ok(w)
    }

    fn at(&self, ctx: &Ctx) -> Instant {
        ctx.base + self.now
    }

    /// A host to change: copied first if another state shares it.
    fn host(&mut self, side: usize) -> &mut Host<M> {
        Arc::make_mut(&mut self.hosts[side])
    }

    /// The earliest deadline of either host.
    pub fn next_timer(&self) -> Option<Duration> {
        self.deadlines.iter().flatten().min().copied()
    }

    /// Feeds the whole state to `h`, times relative to now: both hosts,
    /// what is in flight (per direction in order; as a multiset of each
    /// direction when the network reorders), the budgets spent, the
    /// applications and the monitors.
    pub fn fingerprint<H: Hasher>(&self, ctx: &Ctx, h: &mut H) {
        self.host_fp.hash(h);
        for to in 0..2u8 {
            let each = self.flights.iter().filter(|f| f.to == to).map(|f| {
                let left = f.deadline.saturating_sub(self.now).as_nanos() as u64;
                fingerprint::mix(f.hash ^ left.wrapping_mul(0x9e37_79b9_7f4a_7c15))
            });
            if ctx.reorder {
                // A multiset: a sum does not depend on the order.
                each.fold(0u64, u64::wrapping_add).hash(h);
            } else {
                let mut n = 0u32;
                each.for_each(|x| {
                    x.hash(h);
                    n += 1;
                });
                n.hash(h);
            }
        }
        (self.lost, self.duplicated).hash(h);
        self.apps.hash(h);
        self.watch.hash(h);
    }

    /// The moves enabled now, in a fixed order: the applications, the
    /// deliveries, the timer, then the faults.
    pub fn moves(&self, ctx: &Ctx, out: &mut Vec<Move>) {
        out.clear();
        for side in 0..2 {
            if self.app_enabled(side, ctx) {
                out.push(Move::App(side as u8));
            }
        }
        // Without reordering each direction is first in, first out.
        let mut head = [false; 2];
        for (i, f) in self.flights.iter().enumerate() {
            let first = !std::mem::replace(&mut head[usize::from(f.to)], true);
            if ctx.reorder || first {
                out.push(Move::Deliver(i as u16));
            }
        }
        // Applications are prompt: time does not pass while one can act.
        let apps_idle = !out.iter().any(|m| matches!(m, Move::App(_)));
        if let Some(t) = self.next_timer()
            && apps_idle
            && self.flights.iter().all(|f| f.deadline >= t)
        {
            out.push(Move::Timer);
        }
        if self.lost < ctx.losses {
            out.extend((0..self.flights.len()).map(|i| Move::Lose(i as u16)));
        }
        if self.duplicated < ctx.dups {
            out.extend((0..self.flights.len()).map(|i| Move::Duplicate(i as u16)));
        }
    }

    /// Takes `mv`, which must be enabled; a violated property is the error.
    pub fn apply(&mut self, mv: Move, ctx: &Ctx, sink: &mut Sink<M>) -> Result<(), Violation> {
        // The hosts the move reaches; only they are copied and polled.
        let mut touched = [false; 2];
        let mut time_moved = false;
        match mv {
            Move::App(side) => {
                let side = usize::from(side);
                touched[side] = true;
                self.app_step(side, ctx, sink)?;
            }
            Move::Deliver(i) => {
                let f = self.flights.remove(usize::from(i));
                let at = self.at(ctx);
                let to = usize::from(f.to);
                let key = (f.to, self.host_fp[to], self.now, f.hash);
                let known = sink.memo.as_ref().and_then(|m| m.done.get(&key)).cloned();
                let (host, outcome) = match known {
                    Some(done) => done,
                    None => {
                        self.host(to).handle_datagram(at, udp(1 - to), &f.bytes);
                        let outcome = Arc::new(self.settle(to, ctx));
                        let done = (self.hosts[to].clone(), outcome);
                        if let Some(memo) = &mut sink.memo {
                            if memo.done.len() >= Memo::<M>::CAPACITY {
                                memo.done.clear();
                            }
                            memo.done.insert(key, done.clone());
                        }
                        done
                    }
                };
                self.hosts[to] = host;
                return self.take(&[(to, &outcome)], ctx, sink);
            }
            Move::Timer => {
                let t = self.next_timer().expect("enabled");
                time_moved = t > self.now;
                self.now = self.now.max(t);
                for (side, hit) in touched.iter_mut().enumerate() {
                    if self.deadlines[side].is_some_and(|d| d <= self.now) {
                        *hit = true;
                        let at = self.at(ctx);
                        self.host(side).handle_timeout(at);
                        if let Some(log) = &mut sink.log {
                            log.push(Happened::Timer(side));
                        }
                    }
                }
            }
            Move::Lose(i) => {
                self.flights.remove(usize::from(i));
                self.lost += 1;
            }
            Move::Duplicate(i) => {
                let mut copy = self.flights[usize::from(i)].clone();
                copy.id = self.next_id;
                self.next_id += 1;
                self.flights.insert(usize::from(i) + 1, copy);
                self.duplicated += 1;
            }
        }
        self.pump(ctx, sink, touched, time_moved)
    }

    /// After a move: what the hosts it reached did, taken into the state
    /// (every host's fingerprint redone when time moved).
    fn pump(
        &mut self,
        ctx: &Ctx,
        sink: &mut Sink<M>,
        touched: [bool; 2],
        time_moved: bool,
    ) -> Result<(), Violation> {
        let mut outcomes = Vec::with_capacity(2);
        for side in (0..2).filter(|&s| touched[s]) {
            outcomes.push((side, self.settle(side, ctx)));
        }
        if time_moved {
            let at = self.at(ctx);
            for side in (0..2).filter(|&s| !touched[s]) {
                let mut h = fingerprint::hasher();
                self.hosts[side].fingerprint(at, &mut h);
                self.host_fp[side] = h.finish();
            }
        }
        let outcomes: Vec<(usize, &Outcome)> = outcomes.iter().map(|(s, o)| (*s, o)).collect();
        self.take(&outcomes, ctx, sink)
    }

    /// What host `side` did since it was last settled, from the host
    /// alone: its steps held against the specs (the ISN clock moved on
    /// at each new connection), what it sent, its deadline, its
    /// fingerprint.
    fn settle(&mut self, side: usize, ctx: &Ctx) -> Outcome {
        let at = self.at(ctx);
        let host = Arc::make_mut(&mut self.hosts[side]);
        let mut error = None;
        for r in host.drain_cc_steps() {
            if let Err(e) = ctx.cc_oracle.check_step(&r) {
                error.get_or_insert_with(|| {
                    Violation::new(
                        Property::Spec,
                        format!("{} (congestion machine): {e}", side_name(side)),
                    )
                });
            }
        }
        for r in host.drain_rec_steps() {
            if let Err(e) = ctx.rec_oracle.check_step(&r) {
                error.get_or_insert_with(|| {
                    Violation::new(
                        Property::Spec,
                        format!("{} (recovery machine): {e}", side_name(side)),
                    )
                });
            }
        }
        let mut steps: Vec<StepRecord> = host.drain_steps().collect();
        host.drain_trace();
        host.drain_cc_trace();
        host.drain_rec_trace();
        host.drain_changes();
        let mut sent = Vec::new();
        if error.is_some() {
            steps.clear();
        }
        for (k, r) in steps.iter().enumerate() {
            if let Err(e) = ctx.oracles[side].check_step(r) {
                error = Some(Violation::new(
                    Property::Spec,
                    format!("{}: {e}", side_name(side)),
                ));
                steps.truncate(k);
                break;
            }
            if Self::begins(side, r, ctx) {
                // Virtual time stands still between incarnations; a real
                // ISN clock would have ticked: the next one must not take
                // this one's ISN.
                host.advance_isn_clock(INCARNATION);
            }
        }
        let mut buf = [0u8; 2048];
        while error.is_none()
            && let Some(t) = host.poll_transmit(at, &mut buf)
        {
            if wire::parse(&buf[..t.len]).is_err() {
                error = Some(Violation::new(
                    Property::Wire,
                    format!("{} sent a malformed datagram", side_name(side)),
                ));
            } else {
                let bytes = &buf[..t.len];
                sent.push((Arc::from(bytes), fingerprint::hash_bytes(bytes)));
            }
        }
        let deadline = host
            .poll_timeout()
            .map(|t| t.saturating_duration_since(ctx.base));
        let mut h = fingerprint::hasher();
        host.fingerprint(at, &mut h);
        Outcome {
            steps,
            sent,
            deadline,
            fp: h.finish(),
            error,
        }
    }

    /// Takes what the hosts did into the state: the monitors note their
    /// steps and check what they sent, which goes into the network.
    fn take(
        &mut self,
        outcomes: &[(usize, &Outcome)],
        ctx: &Ctx,
        sink: &mut Sink<M>,
    ) -> Result<(), Violation> {
        for &(side, o) in outcomes {
            self.deadlines[side] = o.deadline;
            self.host_fp[side] = o.fp;
        }
        for &(side, o) in outcomes {
            for r in &o.steps {
                if Self::begins(side, r, ctx) {
                    self.watch[side] = Watch {
                        peer_isn: self.watch[side].peer_isn,
                        ..Watch::default()
                    };
                }
                self.watch[side].note(r, &ctx.oracles[side]);
                if let Some(t) = &r.transition {
                    sink.pairs.insert((side as u8, t.line, r.from));
                }
                if let Some(log) = &mut sink.log {
                    log.push(Happened::Step(side, r.clone()));
                }
            }
            if o.sent.is_empty()
                && let Some(e) = &o.error
            {
                return Err(e.clone());
            }
        }
        for &(side, o) in outcomes {
            for (bytes, hash) in &o.sent {
                let (_, seg) = wire::parse(bytes).expect("parsed when sent");
                // A SYN with a new ISN starts another connection: what the
                // peer saw of the last one no longer counts.
                let peer = &mut self.watch[1 - side];
                if seg.flags.syn() && !seg.flags.rst() && peer.peer_isn != Some(seg.seq) {
                    peer.peer_fin = None;
                    peer.acked = None;
                }
                check_wire(&seg, side, &mut self.watch)
                    .map_err(|e| Violation::new(Property::Wire, e))?;
                let id = self.next_id;
                self.next_id += 1;
                if let Some(log) = &mut sink.log {
                    log.push(Happened::Sent(side, id, bytes.clone()));
                }
                self.flights.push(Flight {
                    to: 1 - side as u8,
                    hash: *hash,
                    bytes: bytes.clone(),
                    deadline: self.now + ctx.msl,
                    id,
                });
            }
            if let Some(e) = &o.error {
                return Err(e.clone());
            }
        }
        Ok(())
    }

    /// Whether `r` starts a new connection on `side`: an open from the
    /// initial state, or a listener's child leaving the listening state.
    fn begins(side: usize, r: &StepRecord, ctx: &Ctx) -> bool {
        r.transition.is_some()
            && r.to != r.from
            && (r.from == ctx.oracles[side].initial()
                || (r.remote.is_some() && Some(r.from) == ctx.listening))
    }

    fn status(&self, side: usize) -> Option<Status> {
        self.apps[side]
            .conn
            .and_then(|id| self.hosts[side].status(id))
    }

    fn app_enabled(&self, side: usize, ctx: &Ctx) -> bool {
        let app = &self.apps[side];
        let Some(&op) = ctx.scripts[side].get(usize::from(app.pc)) else {
            return false;
        };
        let st = self.status(side);
        let over = |st: &Status| st.finished || st.error.is_some();
        match op {
            Op::Connect => {
                let remote = inner(1 - side);
                !self.hosts[side].each_connection().any(|held| {
                    held.conn.local().port() == PORTS[side] && held.conn.remote() == Some(remote)
                })
            }
            Op::Accept => self.hosts[side].acceptable(PORTS[side]) > 0,
            Op::Write(_) | Op::Close => {
                st.is_some_and(|st| (st.open && st.writable > 0) || over(&st))
            }
            Op::ReadRequest | Op::ReadToEnd => {
                st.is_some_and(|st| st.readable > 0 || st.eof || over(&st))
            }
            Op::Abort | Op::Release => app.conn.is_some(),
        }
    }

    fn app_step(&mut self, side: usize, ctx: &Ctx, sink: &mut Sink<M>) -> Result<(), Violation> {
        let at = self.at(ctx);
        let op = ctx.scripts[side][usize::from(self.apps[side].pc)];
        let (app, host) = (&mut self.apps[side], Arc::make_mut(&mut self.hosts[side]));
        let mut call = op.to_string();
        let mut advance = true;
        match op {
            Op::Connect | Op::Accept => {
                let id = if op == Op::Connect {
                    host.connect(at, Some(PORTS[side]), inner(1 - side), udp(1 - side), None)
                        .ok()
                } else {
                    host.accept(PORTS[side]).ok().flatten()
                };
                *app = App {
                    pc: app.pc,
                    conn: id,
                    k: app.k + 1,
                    ends: std::mem::take(&mut app.ends),
                    ..App::default()
                };
            }
            Op::Write(data) => {
                let id = app.conn.expect("enabled");
                let bytes = match data {
                    Data::Own => own_data(side, app.k, ctx.bytes),
                    Data::Echo => app.received.clone(),
                };
                let from = usize::from(app.written);
                match host.send(at, id, &bytes[from..]) {
                    Ok(n) => {
                        app.written += n as u16;
                        app.sent += n as u16;
                        call = format!("write {n} B");
                        advance = usize::from(app.written) == bytes.len();
                    }
                    Err(_) => call = "write: refused".into(),
                }
            }
            Op::Close => {
                if host.close(at, app.conn.expect("enabled")).is_err() {
                    call = "close: refused".into();
                }
            }
            Op::Abort => {
                let _ = host.abort(at, app.conn.expect("enabled"));
                app.saw = Some(Saw::End(End::Aborted));
            }
            Op::ReadRequest | Op::ReadToEnd => {
                let id = app.conn.expect("enabled");
                let mut chunk = [0u8; 512];
                let before = app.received.len();
                while let Ok(n @ 1..) = host.recv(at, id, &mut chunk) {
                    app.received.extend_from_slice(&chunk[..n]);
                }
                let expected = ctx.scenario.peer_writes(side, app.k, ctx.bytes);
                if !expected.starts_with(&app.received) {
                    return Err(Violation::new(
                        Property::Data,
                        format!(
                            "the {} read {:?} on connection {}, not a prefix of what its peer \
                             wrote there ({:?})",
                            side_name(side),
                            String::from_utf8_lossy(&app.received),
                            app.k,
                            String::from_utf8_lossy(&expected)
                        ),
                    ));
                }
                let st = host.status(id).expect("held");
                let saw = match (st.error, st.eof, st.finished) {
                    (Some(ConnError::Reset), ..) => Some(Saw::End(End::Reset)),
                    (Some(e), ..) => Some(Saw::Error(e)),
                    (None, true, _) => Some(Saw::End(End::Eof)),
                    (None, false, true) => Some(Saw::ClosedWithoutFin),
                    _ => None,
                };
                let read = app.received.len() - before;
                call = format!("read {read} B");
                if st.readable == 0
                    && let Some(saw) = saw
                {
                    app.saw.get_or_insert(saw);
                    call.push_str(match saw {
                        Saw::End(End::Eof) => ", EOF",
                        Saw::End(_) | Saw::Error(_) => ", error",
                        Saw::ClosedWithoutFin => ", closed",
                    });
                } else {
                    advance = op == Op::ReadRequest && app.received.len() >= ctx.bytes;
                }
            }
            Op::Release => {
                self.check_acked(side)?;
                let app = &mut self.apps[side];
                let id = app.conn.take().expect("enabled");
                Arc::make_mut(&mut self.hosts[side]).release(id);
                app.ends
                    .push((app.k, app.saw, app.received.len() as u16, app.sent));
            }
        }
        let app = &mut self.apps[side];
        if advance {
            app.pc += 1;
            app.written = 0;
        }
        // What a read saw must follow from the events so far.
        if matches!(op, Op::ReadRequest | Op::ReadToEnd) {
            let saw = app.saw;
            let seen = Seen {
                eof: saw == Some(Saw::End(End::Eof)),
                error: matches!(saw, Some(Saw::End(End::Reset) | Saw::Error(_))),
                read: !app.received.is_empty(),
            };
            self.watch[side]
                .check_seen(&seen)
                .map_err(|e| Violation::new(Property::App, format!("{}: {e}", side_name(side))))?;
        }
        if let Some(log) = &mut sink.log {
            log.push(Happened::Call(side, call));
        }
        Ok(())
    }

    /// Every byte `side` acknowledged on its current connection was read
    /// by its application, unless the application saw an error.
    fn check_acked(&self, side: usize) -> Result<(), Violation> {
        let (app, w) = (&self.apps[side], &self.watch[side]);
        let (Some(isn), Some(acked)) = (w.peer_isn, w.acked) else {
            return Ok(());
        };
        // (Of the data the peer's application handed over: not its FIN.)
        let peer = &self.apps[1 - side];
        let wrote = if peer.k == app.k {
            peer.sent
        } else {
            peer.ends.iter().find(|e| e.0 == app.k).map_or(0, |e| e.3)
        };
        let acked = (acked.distance(isn + 1).max(0) as usize).min(usize::from(wrote));
        let excused = matches!(
            app.saw,
            Some(Saw::End(End::Reset | End::Aborted) | Saw::Error(_))
        );
        if !excused && app.received.len() < acked {
            return Err(Violation::new(
                Property::AckedLost,
                format!(
                    "the {} acknowledged {acked} bytes of connection {} but its application \
                     read {} and saw no error",
                    side_name(side),
                    app.k,
                    app.received.len()
                ),
            ));
        }
        Ok(())
    }

    /// What a state with no move is: `Ok(None)` desired, `Ok(Some(why))`
    /// acceptable, `Err` a deadlock or an undesired end.
    pub fn classify(&self, ctx: &Ctx) -> Result<Option<String>, Violation> {
        let done = |side: usize| usize::from(self.apps[side].pc) == ctx.scripts[side].len();
        if !done(0) || !done(1) {
            // The server's accept never comes when the client aborted
            // before its handshake completed on the server.
            if ctx.scenario == Scenario::Abort
                && done(CLIENT)
                && self.apps[1].pc == 0
                && self.hosts.iter().all(|h| h.connections() == 0)
            {
                return Ok(Some(
                    "the client aborted before the server could accept".into(),
                ));
            }
            let waiting: Vec<String> = (0..2)
                .filter(|&s| !done(s))
                .map(|s| {
                    let op = ctx.scripts[s][usize::from(self.apps[s].pc)];
                    let state = self.apps[s]
                        .conn
                        .and_then(|id| self.hosts[s].connection(id))
                        .map_or("-".to_owned(), |c| c.state().to_string());
                    format!("the {} waits to {op} (in {state})", side_name(s))
                })
                .collect();
            return Err(Violation::new(
                Property::Deadlock,
                format!("no move is possible: {}", waiting.join("; ")),
            ));
        }
        let held: Vec<String> = self
            .hosts
            .iter()
            .enumerate()
            .flat_map(|(s, h)| {
                h.each_connection()
                    .map(move |c| format!("{} {}", side_name(s), c.conn.state()))
            })
            .collect();
        if !held.is_empty() {
            return Err(Violation::new(
                Property::Undesired,
                format!(
                    "the scripts ended, but connections remain: {}",
                    held.join(", ")
                ),
            ));
        }
        let mut acceptable = Vec::new();
        for side in 0..2 {
            let want = ctx.scenario.expect(side);
            for &(k, saw, read, _) in &self.apps[side].ends {
                let all = ctx.scenario.peer_writes(side, k, ctx.bytes).len() == usize::from(read);
                let who = format!("the {} on connection {k}", side_name(side));
                match saw {
                    Some(Saw::End(end)) if end == want && (all || end != End::Eof) => {}
                    Some(Saw::End(End::Reset)) if all => acceptable.push(format!(
                        "{who} saw a reset after reading all its peer wrote"
                    )),
                    // Its peer's RST lost, nothing of its own outstanding:
                    // only its own timeout can end a half-open connection.
                    Some(Saw::Error(ConnError::TimedOut))
                        if all && ctx.scenario == Scenario::Abort =>
                    {
                        acceptable.push(format!(
                            "{who} read all its peer wrote, and its own timeout ended the \
                             connection the peer had aborted (the RST was lost)"
                        ))
                    }
                    Some(saw) => {
                        return Err(Violation::new(
                            Property::Undesired,
                            format!("{who} read {read} B and saw {}", saw.describe()),
                        ));
                    }
                    None => {
                        return Err(Violation::new(
                            Property::Undesired,
                            format!("{who} let go before it saw an end"),
                        ));
                    }
                }
            }
        }
        Ok(if acceptable.is_empty() {
            None
        } else {
            Some(acceptable.join("; "))
        })
    }
}
