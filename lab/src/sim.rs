//! A deterministic simulation of two sans-IO hosts in a simulated network
//! with virtual time and a seeded fault model (loss up to 30%,
//! duplication, reordering, delay, corruption, a link that goes down for a
//! while), under any machine bound to the runtime. Every event either host
//! raises is held against the spec by the oracle, and what crosses the
//! wire and reaches the applications is held against the events:
//!
//! * a FIN is acknowledged, and the application sees the end of the
//!   stream, only after an `rcv_fin` transition took it in;
//! * the application sees an error only after the spec reported one (or
//!   it aborted itself); a connect or accept completes only after the
//!   machine entered a state of the group `open`;
//! * each side receives exactly a prefix of what the other sent, in order;
//!   every byte a side acknowledged is read by its application unless that
//!   application saw an error.
//!
//! The network is either drawn per seed ([`Faults::Random`], what the
//! runtime's simulation tests use) or given ([`Faults::Fixed`], what
//! `fsm-lab compare` uses, the same for every spec it compares). An
//! [`Observer`] sees every event and every datagram as the run goes.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use fsm_runtime::cc::{CcWords, Congestion};
use fsm_runtime::config::Config;
use fsm_runtime::conn::ConnError;
use fsm_runtime::fault::SplitMix64;
use fsm_runtime::host::{ConnId, Host};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::recovery::{Recovery, RecoveryWords};
use fsm_runtime::side::SideMachine;
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::{Action, Event, Machine, Words};
use fsm_runtime::wire::{self, SeqNum};

use crate::oracle::{Checker, Oracle};

/// The side that connects, as `side` arguments and indices name it.
pub const CLIENT: usize = 0;
/// The side that listens.
pub const SERVER: usize = 1;
const PORT: u16 = 80;
/// Virtual time after which a run that has not settled is a failure.
pub const HORIZON: Duration = Duration::from_secs(30 * 60);

/// A side's inner (and UDP) address: 10.0.0.1 for the client.
pub(crate) fn ip(side: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + side as u8)
}

/// A side's UDP address.
pub(crate) fn udp(side: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip(side), 9))
}

/// A network given explicitly: the same faults for every seed (the
/// random choices they make are still the seed's).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Network {
    /// Probability that a datagram is lost.
    pub loss: f64,
    /// Probability that a datagram is delivered twice.
    pub duplicate: f64,
    /// Probability that a datagram is held back (one more latency plus
    /// jitter plus 1 ms), behind datagrams sent after it.
    pub reorder: f64,
    /// Probability that one bit of a datagram is flipped.
    pub corrupt: f64,
    /// One-way delay.
    pub latency: Duration,
    /// Up to this much more delay, uniform per datagram (so reordering).
    pub jitter: Duration,
    /// The link is down this long, from a moment drawn per seed in the
    /// first 3 s.
    pub outage: Duration,
}

impl Default for Network {
    /// A clean link with 10 ms of latency.
    fn default() -> Self {
        Network {
            loss: 0.0,
            duplicate: 0.0,
            reorder: 0.0,
            corrupt: 0.0,
            latency: Duration::from_millis(10),
            jitter: Duration::ZERO,
            outage: Duration::ZERO,
        }
    }
}

/// Where a run's faults come from.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Faults {
    /// Drawn per seed: loss 0–30%, duplication 0–10%, corruption 0–5%,
    /// latency 0.1–20 ms, jitter 0–10 ms, and now and then a link that
    /// goes down for a while (rarely past the user timeout).
    Random,
    /// The same network for every seed.
    Fixed(Network),
}

/// What a run does: the applications, the network, the data.
#[derive(Clone, Debug)]
pub struct Setup {
    /// What the applications do.
    pub mode: Mode,
    /// The network.
    pub faults: Faults,
    /// The client's data: `None` draws a length below 40,000 bytes per
    /// seed. (Slow readers draw theirs below a receive buffer from it.)
    pub bytes: Option<usize>,
    /// A run with no error must also have delivered all the data the
    /// applications meant to send (a spec may legitimately refuse a SEND,
    /// as one that closes on the peer's FIN does; without `whole`, only
    /// what the peer's application handed over counts).
    pub whole: bool,
    /// The congestion machine both hosts run; `None`: the runtime's
    /// default (NewReno, `congestion.fsm`).
    pub congestion: Option<Congestion>,
    /// The recovery machine both hosts run; `None`: the runtime's default
    /// (RACK-TLP, `recovery.fsm`).
    pub recovery: Option<Recovery>,
}

impl Setup {
    /// What the runtime's simulation tests run: a random network per
    /// seed and a random amount of data.
    pub fn random(mode: Mode, whole: bool) -> Setup {
        Setup {
            mode,
            faults: Faults::Random,
            bytes: None,
            whole,
            congestion: None,
            recovery: None,
        }
    }
}

/// The network between the two hosts, for one run.
struct Link {
    loss: f64,
    duplicate: f64,
    reorder: f64,
    corrupt: f64,
    latency: Duration,
    jitter: Duration,
    down: (Duration, Duration),
}

impl Link {
    fn new(faults: &Faults, rng: &mut SplitMix64) -> Link {
        match faults {
            Faults::Random => Link::random(rng),
            Faults::Fixed(n) => {
                let down_at = Duration::from_millis(rng.below(3_001));
                Link {
                    loss: n.loss,
                    duplicate: n.duplicate,
                    reorder: n.reorder,
                    corrupt: n.corrupt,
                    latency: n.latency,
                    jitter: n.jitter,
                    down: (down_at, down_at + n.outage),
                }
            }
        }
    }

    fn random(rng: &mut SplitMix64) -> Link {
        let ms = |rng: &mut SplitMix64, max: u64| Duration::from_millis(rng.below(max + 1));
        let down_at = ms(rng, 3_000);
        // Now and then the link goes down for a while; rarely for longer
        // than the user timeout, so that a connection must give up.
        let down_for = if rng.chance(0.03) {
            Duration::from_secs(30) + ms(rng, 150_000)
        } else if rng.chance(0.3) {
            ms(rng, 8_000)
        } else {
            Duration::ZERO
        };
        Link {
            loss: rng.next_f64() * 0.3,
            duplicate: rng.next_f64() * 0.1,
            reorder: 0.0,
            corrupt: rng.next_f64() * 0.05,
            latency: ms(rng, 20) + Duration::from_micros(100),
            jitter: ms(rng, 10),
            down: (down_at, down_at + down_for),
        }
    }
}

/// A datagram in flight: (arrival, order, destination side, corrupted, bytes).
type Flight = Reverse<(Duration, u64, usize, bool, Vec<u8>)>;

/// What one side's application does, step by step.
struct App {
    conn: Option<ConnId>,
    /// What it sends (the client: its data; the server: what it received).
    to_send: Vec<u8>,
    sent: usize,
    received: Vec<u8>,
    closed: bool,
    error: bool,
    /// Virtual time of the last progress, for the application's own
    /// timeout: a side that hears nothing for long enough aborts.
    progress: Duration,
    aborted: bool,
    /// Reads nothing before this virtual time (slow readers).
    read_from: Option<Duration>,
    /// Time to wait after its close before reading (slow readers).
    read_delay: Option<Duration>,
    /// The application saw the end of the stream.
    eof: bool,
    /// The connection ended with neither the peer's FIN nor a reported
    /// error (a read says so).
    unreported: bool,
    /// The first error the application saw.
    saw: Option<AppError>,
    /// When it saw the end of the stream.
    eof_at: Option<Duration>,
}

impl App {
    fn new(data: Vec<u8>) -> App {
        App {
            conn: None,
            to_send: data,
            sent: 0,
            received: Vec::new(),
            closed: false,
            error: false,
            progress: Duration::ZERO,
            aborted: false,
            read_from: None,
            read_delay: None,
            eof: false,
            unreported: false,
            saw: None,
            eof_at: None,
        }
    }

    /// The application sees an error (the first one is kept).
    fn fail(&mut self, error: AppError) {
        self.error = true;
        self.saw.get_or_insert(error);
    }
}

/// An error an application saw.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AppError {
    /// The connection failed as the runtime reports it: reset, refused,
    /// timed out, aborted.
    Conn(ConnError),
    /// The connection ended with neither the peer's FIN nor a reported
    /// error.
    ClosedWithoutFin,
    /// The application heard nothing for its own timeout and aborted.
    GaveUp,
}

impl AppError {
    /// A short name: `reset`, `refused`, `timed out`, `aborted`, `closed
    /// without FIN`, `gave up`.
    pub fn name(self) -> &'static str {
        match self {
            AppError::Conn(ConnError::Reset) => "reset",
            AppError::Conn(ConnError::Refused) => "refused",
            AppError::Conn(ConnError::TimedOut) => "timed out",
            AppError::Conn(ConnError::Aborted) => "aborted",
            AppError::ClosedWithoutFin => "closed without FIN",
            AppError::GaveUp => "gave up",
        }
    }
}

/// A datagram a host sent, as an [`Observer`] sees it (before the link
/// loses, duplicates or corrupts it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Datagram {
    /// Its length: the inner IPv4 packet.
    pub len: usize,
    /// Bytes of TCP payload.
    pub payload: usize,
    /// It carries only sequence space (data, SYN, FIN) this side had
    /// sent before in this direction: a retransmission (zero-window
    /// probes after the first included).
    pub retransmission: bool,
}

/// Sees a run as it goes. Both methods do nothing unless overridden.
pub trait Observer {
    /// An event `side` raised, already held against the spec; `record.at`
    /// is the virtual time.
    fn step(&mut self, side: usize, record: &StepRecord) {
        let _ = (side, record);
    }

    /// An event `side`'s congestion machine heard, already held against
    /// its spec.
    fn cc_step(&mut self, side: usize, record: &StepRecord<CcWords>) {
        let _ = (side, record);
    }

    /// An event `side`'s recovery machine heard, already held against its
    /// spec.
    fn rec_step(&mut self, side: usize, record: &StepRecord<RecoveryWords>) {
        let _ = (side, record);
    }

    /// A datagram `side` sent at virtual time `at`.
    fn datagram(&mut self, side: usize, at: Duration, datagram: &Datagram) {
        let _ = (side, at, datagram);
    }
}

/// Observes nothing.
impl Observer for () {}

/// What a run that kept every promise did.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Neither application saw an error.
    pub completed: bool,
    /// The client's data.
    pub bytes: usize,
    /// Virtual time until the run settled (both hosts hold nothing).
    pub virtual_time: Duration,
    /// Virtual time until both applications had seen the end of the
    /// stream, when both did.
    pub done_at: Option<Duration>,
    /// What each side's application saw go wrong, if anything.
    pub errors: [Option<AppError>; 2],
    /// Bytes the applications read (all intact: a prefix of what was
    /// sent).
    pub delivered: usize,
    /// Bytes the applications meant to deliver: the client's data and its
    /// echo, or each side's data (slow readers).
    pub meant: usize,
    /// Datagrams the link lost.
    pub lost: u64,
    /// Datagrams the link duplicated.
    pub duplicated: u64,
    /// Datagrams the link corrupted (counted when delivered).
    pub corrupted: u64,
    /// Datagrams the hosts dropped as malformed.
    pub malformed: u64,
    /// Events held against the spec.
    pub events: u64,
    /// Events the spec refused.
    pub refused: u64,
    /// Events the congestion machines heard, held against their spec.
    pub cc_events: u64,
    /// Events the recovery machines heard, held against their spec.
    pub rec_events: u64,
    /// Transitions that fired, as (from, event, to).
    pub fired: HashSet<(String, String, String)>,
    /// (state, event) the spec refused.
    pub refused_events: HashSet<(String, String)>,
}

fn config() -> Config {
    let mut c = Config::loopback(Duration::from_millis(500));
    c.user_timeout = Duration::from_secs(60);
    c.linger = Duration::from_secs(60);
    c.max_retransmissions = 20;
    c.max_rto = Duration::from_secs(4);
    c.recv_buffer = 16 * 1024;
    c.send_buffer = 16 * 1024;
    c.mss = 536;
    c
}

/// What the applications do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// The client sends its data and closes, then reads the echo; the
    /// server echoes what it reads and closes after the client's FIN.
    Echo,
    /// Each side sends data of its own and closes, and reads only a while
    /// after its close: after TIME_WAIT expired or LAST_ACK closed, as
    /// timing has it.
    SlowReaders,
}

/// What one side's wire and events have shown so far, for the checks
/// (the explorer keeps one per side too, as part of its state).
#[derive(Clone, Default, Hash)]
pub(crate) struct Watch {
    /// The peer's ISN, from its SYN.
    pub(crate) peer_isn: Option<SeqNum>,
    /// Where the peer's FIN sits, from a segment that carried it.
    pub(crate) peer_fin: Option<SeqNum>,
    /// The largest acknowledgment this side sent (relative to `peer_isn`).
    pub(crate) acked: Option<SeqNum>,
    /// An `rcv_fin` transition fired on this side.
    pub(crate) fin_taken: bool,
    /// The spec reported an error on this side.
    pub(crate) reported: bool,
    /// This side's machine entered a state of the group `open`.
    pub(crate) opened: bool,
}

/// Holds a host's new events against the spec, noting what they allow,
/// and shows them to the observer.
fn check_steps<M: Machine, O: Observer + ?Sized>(
    side: usize,
    host: &mut Host<M>,
    checkers: &mut [Checker<'_>; 3],
    oracle: &Oracle,
    watch: &mut Watch,
    observer: &mut O,
) -> Result<(), String> {
    let [checker, cc_checker, rec_checker] = checkers;
    for r in host.drain_cc_steps() {
        cc_checker
            .check(&r)
            .map_err(|e| format!("{} (congestion machine): {e}", name(side)))?;
        observer.cc_step(side, &r);
    }
    for r in host.drain_rec_steps() {
        rec_checker
            .check(&r)
            .map_err(|e| format!("{} (recovery machine): {e}", name(side)))?;
        observer.rec_step(side, &r);
    }
    let steps: Vec<StepRecord> = host.drain_steps().collect();
    for r in &steps {
        checker
            .check(r)
            .map_err(|e| format!("{}: {e}", name(side)))?;
        observer.step(side, r);
        watch.note(r, oracle);
    }
    Ok(())
}

impl Watch {
    /// Notes what an event the spec allowed (held against it already)
    /// allows the wire and the application to show from now on.
    pub(crate) fn note(&mut self, r: &StepRecord, oracle: &Oracle) {
        if r.transition.is_none() {
            return;
        }
        self.fin_taken |= r.event == Event::RcvFin;
        self.reported |= r.actions.iter().any(|a| {
            matches!(
                a,
                Action::ReportReset | Action::ReportRefused | Action::ReportTimeout
            )
        });
        self.opened |= oracle.in_group("open", r.to);
    }
}

/// Why a run failed.
#[derive(Debug)]
pub struct Failure {
    /// What went wrong.
    pub message: String,
    /// When the run did not settle: the connections the hosts still held.
    pub stuck: Option<Vec<Stuck>>,
}

/// A connection a host still held when a run did not settle.
#[derive(Debug)]
pub struct Stuck {
    /// Its state.
    pub state: String,
    /// A listener's child not yet accepted: no application can act on it.
    pub unaccepted: bool,
}

impl From<String> for Failure {
    fn from(message: String) -> Failure {
        Failure {
            message,
            stuck: None,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

/// The oracle of a congestion machine: read afresh by the generator
/// library from the spec it was loaded from, or, for one compiled in, from
/// its file (a path relative to the runtime's directory, a sibling of this
/// crate's), read once per process.
pub fn congestion_oracle(machine: &fsm_runtime::cc::CongestionMachine) -> Arc<Oracle> {
    side_oracle(machine)
}

/// The oracle of a recovery machine, as [`congestion_oracle`].
pub fn recovery_oracle(machine: &fsm_runtime::recovery::RecoveryMachine) -> Arc<Oracle> {
    side_oracle(machine)
}

fn side_oracle<W: Words>(machine: &dyn SideMachine<W>) -> Arc<Oracle> {
    static FILES: OnceLock<Mutex<HashMap<String, Arc<Oracle>>>> = OnceLock::new();
    if let Some(spec) = machine.source() {
        return Arc::new(Oracle::from_spec(spec));
    }
    let mut files = FILES
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    files
        .entry(machine.spec().to_owned())
        .or_insert_with(|| {
            let path = format!("{}/{}", env!("CARGO_MANIFEST_DIR"), machine.spec());
            let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
            Arc::new(Oracle::from_source(machine.spec(), &source))
        })
        .clone()
}

fn stuck<M: Machine>(hosts: &[Host<M>], message: String) -> Failure {
    Failure {
        message,
        stuck: Some(
            hosts
                .iter()
                .flat_map(|h| {
                    h.each_connection().map(|held| Stuck {
                        state: held.conn.state().to_string(),
                        unaccepted: held.unaccepted,
                    })
                })
                .collect(),
        ),
    }
}

/// Runs one seed under `machine` on a random network
/// ([`Setup::random`]), holding every event against `oracle`. With
/// `whole`, a run with no error must also have delivered all the data the
/// applications meant to send (see [`Setup::whole`]).
pub fn run<M: Machine>(
    machine: &M,
    seed: u64,
    mode: Mode,
    oracle: &Oracle,
    whole: bool,
) -> Result<Outcome, Failure> {
    run_with(machine, seed, &Setup::random(mode, whole), oracle, &mut ())
}

/// Runs one seed of `setup` under `machine`, holding every event against
/// `oracle` and showing the run to `observer`. The same seed and setup
/// give the same network and data whatever the machine.
pub fn run_with<M: Machine, O: Observer + ?Sized>(
    machine: &M,
    seed: u64,
    setup: &Setup,
    oracle: &Oracle,
    observer: &mut O,
) -> Result<Outcome, Failure> {
    let (mode, whole) = (setup.mode, setup.whole);
    let mut rng = SplitMix64::new(seed);
    let link = Link::new(&setup.faults, &mut rng);
    let len = match setup.bytes {
        Some(n) => n,
        None => rng.below(40_000) as usize,
    };
    let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    let base = Instant::now();
    let mut hosts: Vec<Host<M>> = (0..2)
        .map(|side| {
            let key = [
                seed as u8, side as u8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
            ];
            let mut c = config();
            c.record_steps = true;
            if let Some(cc) = &setup.congestion {
                c.congestion = cc.clone();
            }
            if let Some(r) = &setup.recovery {
                c.recovery = r.clone();
            }
            Host::with_machine(machine.clone(), ip(side), c, IsnGenerator::new(key), base)
        })
        .collect();
    let mut apps = [App::new(data.clone()), App::new(Vec::new())];
    if mode == Mode::SlowReaders {
        // Each side's data fits the other's receive buffer, so both can
        // close before either reads (two applications that each read only
        // after closing would otherwise wait for each other forever).
        let limit = config().recv_buffer as u64;
        apps[CLIENT].to_send.truncate(rng.below(limit + 1) as usize);
        let len = rng.below(limit + 1) as usize;
        apps[SERVER].to_send = (0..len).map(|_| rng.next_u64() as u8).collect();
        for app in apps.iter_mut() {
            app.read_delay = Some(Duration::from_millis(rng.below(5_000)));
        }
    }
    let sent: [Vec<u8>; 2] = [apps[CLIENT].to_send.clone(), apps[SERVER].to_send.clone()];
    let cc_oracle = congestion_oracle(hosts[CLIENT].config().congestion.machine());
    let rec_oracle = recovery_oracle(hosts[CLIENT].config().recovery.machine());
    let checkers = || {
        [
            Checker::new(oracle),
            Checker::new(&cc_oracle),
            Checker::new(&rec_oracle),
        ]
    };
    let mut checkers = [checkers(), checkers()];
    let mut watch = [Watch::default(), Watch::default()];
    let mut sequence = Sequence::default();
    let mut flights: BinaryHeap<Flight> = BinaryHeap::new();
    let mut order = 0u64;
    let mut served = false;
    let mut tally = Outcome::default();
    let mut now = Duration::ZERO;
    let app_timeout = Duration::from_secs(5 * 60);
    let mut buf = vec![0u8; 65_536];
    let mut chunk = vec![0u8; 4096];

    hosts[SERVER]
        .listen(base, PORT, 4)
        .map_err(|e| Failure::from(e.to_string()))?;
    apps[CLIENT].conn = Some(
        hosts[CLIENT]
            .connect(
                base,
                None,
                SocketAddrV4::new(ip(SERVER), PORT),
                udp(SERVER),
                Some(Duration::from_secs(60)),
            )
            .map_err(|e| Failure::from(e.to_string()))?,
    );

    let mut settled = false;
    for _ in 0..2_000_000 {
        let at = base + now;
        // Deliver what has arrived.
        while flights.peek().is_some_and(|Reverse((t, ..))| *t <= now) {
            let Reverse((_, _, to, corrupted, bytes)) = flights.pop().expect("peeked");
            tally.corrupted += u64::from(corrupted);
            hosts[to].handle_datagram(at, udp(1 - to), &bytes);
        }
        for h in hosts.iter_mut() {
            h.handle_timeout(at);
        }
        for side in [CLIENT, SERVER] {
            check_steps(
                side,
                &mut hosts[side],
                &mut checkers[side],
                oracle,
                &mut watch[side],
                observer,
            )?;
        }
        // The applications. The server serves one connection; a second
        // one (from a SYN duplicated long after) is aborted.
        while let Ok(Some(id)) = hosts[SERVER].accept(PORT) {
            if apps[SERVER].conn.is_none() && !served {
                served = true;
                apps[SERVER].conn = Some(id);
                apps[SERVER].progress = now;
            } else {
                let _ = hosts[SERVER].abort(at, id);
                hosts[SERVER].release(id);
            }
        }
        for side in [CLIENT, SERVER] {
            step_app(
                side,
                mode,
                &mut apps[side],
                &mut hosts[side],
                at,
                now,
                app_timeout,
                &mut chunk,
            );
            check_steps(
                side,
                &mut hosts[side],
                &mut checkers[side],
                oracle,
                &mut watch[side],
                observer,
            )?;
            check_app(&apps[side], &watch[side]).map_err(|e| format!("{}: {e}", name(side)))?;
        }
        // Send what the hosts have, through the link.
        for (side, host) in hosts.iter_mut().enumerate() {
            while let Some(t) = host.poll_transmit(at, &mut buf) {
                let datagram = watch_wire(&buf[..t.len], side, &mut watch, &mut sequence)?;
                observer.datagram(side, now, &datagram);
                let in_window = now >= link.down.0 && now < link.down.1;
                if in_window || rng.chance(link.loss) {
                    tally.lost += 1;
                    continue;
                }
                let copies = if rng.chance(link.duplicate) { 2 } else { 1 };
                tally.duplicated += copies - 1;
                for _ in 0..copies {
                    let mut d = buf[..t.len].to_vec();
                    let corrupted = rng.chance(link.corrupt);
                    if corrupted {
                        let bit = rng.below(d.len() as u64 * 8);
                        d[(bit / 8) as usize] ^= 1 << (bit % 8);
                    }
                    let mut jitter =
                        Duration::from_nanos(rng.below(link.jitter.as_nanos() as u64 + 1));
                    // (No draw when reordering is off: the random
                    // network's seeds stay as they were.)
                    if link.reorder > 0.0 && rng.chance(link.reorder) {
                        jitter += link.latency + link.jitter + Duration::from_millis(1);
                    }
                    order += 1;
                    flights.push(Reverse((
                        now + link.latency + jitter,
                        order,
                        1 - side,
                        corrupted,
                        d,
                    )));
                }
            }
        }
        // Done when both applications let go of their connections and the
        // hosts hold nothing.
        settled = apps[CLIENT].closed
            && apps.iter().all(|a| a.conn.is_none())
            && hosts.iter().all(|h| h.connections() == 0);
        if settled {
            break;
        }
        // Advance virtual time to the next thing that can happen.
        let next = [
            flights.peek().map(|Reverse((t, ..))| *t),
            hosts[0].poll_timeout().map(|t| t - base),
            hosts[1].poll_timeout().map(|t| t - base),
            Some(now + Duration::from_millis(50)), // the applications' pace
        ]
        .into_iter()
        .flatten()
        .filter(|t| *t > now)
        .min()
        .unwrap_or(now + Duration::from_millis(1));
        now = next;
        if now > HORIZON {
            let message = format!(
                "not settled after {HORIZON:?} of virtual time: client {}, server {}",
                describe(&apps[CLIENT], &hosts[CLIENT]),
                describe(&apps[SERVER], &hosts[SERVER])
            );
            return Err(stuck(&hosts, message));
        }
    }
    if !settled {
        let message = format!(
            "not settled after 2,000,000 steps: client {}, server {}",
            describe(&apps[CLIENT], &hosts[CLIENT]),
            describe(&apps[SERVER], &hosts[SERVER])
        );
        return Err(stuck(&hosts, message));
    }
    // Invariants.
    let expected: [&[u8]; 2] = match mode {
        // The server echoes what it got.
        Mode::Echo => [&apps[SERVER].received, &data],
        Mode::SlowReaders => [&sent[SERVER], &sent[CLIENT]],
    };
    for side in [CLIENT, SERVER] {
        let got = &apps[side].received;
        if !expected[side].starts_with(got) {
            return Err(format!(
                "{} received {} bytes that are not a prefix of what was sent",
                name(side),
                got.len()
            )
            .into());
        }
        // Every byte this side acknowledged reached its application,
        // unless the application saw an error.
        let w = &watch[side];
        if let (Some(isn), Some(acked)) = (w.peer_isn, w.acked) {
            // (Of the data the peer's application handed over: not its FIN.)
            let acked = (acked.distance(isn + 1).max(0) as usize).min(apps[1 - side].sent);
            if !apps[side].error && got.len() < acked {
                return Err(format!(
                    "{} acknowledged {acked} bytes but its application read {} and saw no error",
                    name(side),
                    got.len()
                )
                .into());
            }
        }
    }
    let clean = !apps[CLIENT].error && !apps[SERVER].error;
    let meant = |side: usize| {
        if whole {
            expected[side].len()
        } else {
            apps[1 - side].sent
        }
    };
    let complete = apps[CLIENT].received.len() == meant(CLIENT)
        && apps[SERVER].received.len() == meant(SERVER)
        && (!whole || mode == Mode::SlowReaders || apps[SERVER].received.len() == data.len());
    if clean && !complete {
        return Err(format!(
            "no error reported, yet the client read {}/{} bytes and the server {}/{}",
            apps[CLIENT].received.len(),
            meant(CLIENT),
            apps[SERVER].received.len(),
            meant(SERVER),
        )
        .into());
    }
    let done_at = match (apps[CLIENT].eof_at, apps[SERVER].eof_at) {
        (Some(a), Some(b)) => Some(a.max(b)),
        _ => None,
    };
    Ok(Outcome {
        completed: clean,
        bytes: data.len(),
        virtual_time: now,
        done_at,
        errors: [apps[CLIENT].saw, apps[SERVER].saw],
        delivered: apps[CLIENT].received.len() + apps[SERVER].received.len(),
        meant: match mode {
            Mode::Echo => 2 * data.len(),
            Mode::SlowReaders => sent[CLIENT].len() + sent[SERVER].len(),
        },
        malformed: hosts.iter().map(|h| h.counters().malformed.total()).sum(),
        events: checkers.iter().map(|[c, ..]| c.events).sum(),
        refused: checkers.iter().map(|[c, ..]| c.refused).sum(),
        cc_events: checkers.iter().map(|[_, c, _]| c.events).sum(),
        rec_events: checkers.iter().map(|[.., c]| c.events).sum(),
        fired: checkers
            .iter()
            .flat_map(|[c, ..]| c.fired.iter().cloned())
            .collect(),
        refused_events: checkers
            .iter()
            .flat_map(|[c, ..]| c.refused_events.iter().cloned())
            .collect(),
        ..tally
    })
}

/// `client` or `server`.
pub(crate) fn name(side: usize) -> &'static str {
    if side == CLIENT { "client" } else { "server" }
}

/// The sequence space each direction has sent so far, to tell
/// retransmissions: per (side, source port, destination port), the ISN
/// and the end of the highest sequence number sent.
#[derive(Default)]
struct Sequence(HashMap<(usize, u16, u16), (SeqNum, SeqNum)>);

impl Sequence {
    /// Whether a segment of `occupied` sequence numbers from `seq` sent
    /// nothing new.
    fn retransmits(
        &mut self,
        key: (usize, u16, u16),
        seq: SeqNum,
        syn: bool,
        occupied: usize,
    ) -> bool {
        if occupied == 0 {
            return false;
        }
        let end = seq + occupied;
        match self.0.get_mut(&key) {
            // A SYN with another ISN starts a new connection.
            Some((isn, next)) if !(syn && *isn != seq) => {
                if end.gt(*next) {
                    *next = end;
                    false
                } else {
                    true
                }
            }
            _ => {
                self.0.insert(key, (seq, end));
                false
            }
        }
    }
}

/// What a datagram that `side` sent shows: its SYN's ISN, its FIN, its
/// acknowledgment of the other side's FIN (which only an `rcv_fin`
/// transition may give); and what it is on the wire.
fn watch_wire(
    datagram: &[u8],
    side: usize,
    watch: &mut [Watch; 2],
    sequence: &mut Sequence,
) -> Result<Datagram, String> {
    let Ok((_, seg)) = wire::parse(datagram) else {
        return Err(format!("{} sent a malformed datagram", name(side)));
    };
    let occupied = seg.payload.len() + usize::from(seg.flags.syn()) + usize::from(seg.flags.fin());
    let seen = Datagram {
        len: datagram.len(),
        payload: seg.payload.len(),
        retransmission: !seg.flags.rst()
            && sequence.retransmits(
                (side, seg.src_port, seg.dst_port),
                seg.seq,
                seg.flags.syn(),
                occupied,
            ),
    };
    check_wire(&seg, side, watch)?;
    Ok(seen)
}

/// Notes what a segment `side` sent shows (its SYN's ISN, its FIN, its
/// acknowledgment) and fails if it acknowledges the other side's FIN
/// with no `rcv_fin` transition.
pub(crate) fn check_wire(
    seg: &wire::TcpRepr<'_>,
    side: usize,
    watch: &mut [Watch; 2],
) -> Result<(), String> {
    if seg.flags.rst() {
        return Ok(());
    }
    let peer = &mut watch[1 - side];
    if seg.flags.syn() {
        peer.peer_isn = Some(seg.seq);
    }
    if seg.flags.fin() {
        peer.peer_fin = Some(seg.seq + seg.payload.len() + usize::from(seg.flags.syn()));
    }
    let me = &mut watch[side];
    if let (Some(ack), Some(_)) = (seg.ack, me.peer_isn) {
        if me.acked.is_none_or(|a| ack.gt(a)) {
            me.acked = Some(ack);
        }
        if let Some(fin) = me.peer_fin
            && ack.gt(fin)
            && !me.fin_taken
        {
            return Err(format!(
                "{} acknowledged the peer's FIN with no rcv_fin transition",
                name(side)
            ));
        }
    }
    Ok(())
}

/// What the application saw must follow from the events.
fn check_app(app: &App, watch: &Watch) -> Result<(), String> {
    watch.check_seen(&Seen {
        eof: app.eof,
        error: app.error && !app.aborted && !app.unreported,
        read: app.conn.is_some() && !app.received.is_empty(),
    })
}

/// What an application saw of its connection.
pub(crate) struct Seen {
    /// The end of the stream.
    pub(crate) eof: bool,
    /// An error it did not cause itself (by aborting) and that is not the
    /// end of a connection closed without the peer's FIN.
    pub(crate) error: bool,
    /// Data, on the connection it still holds.
    pub(crate) read: bool,
}

impl Watch {
    /// What the application saw must follow from the events.
    pub(crate) fn check_seen(&self, seen: &Seen) -> Result<(), String> {
        if seen.eof && !self.fin_taken {
            return Err(
                "the application saw the end of the stream with no rcv_fin transition".into(),
            );
        }
        if seen.error && !self.reported {
            return Err("the application saw an error the spec did not report".into());
        }
        if seen.read && !self.opened {
            return Err("the application read data before the machine was open".into());
        }
        Ok(())
    }
}

fn describe<M: Machine>(app: &App, host: &Host<M>) -> String {
    let state = app
        .conn
        .and_then(|c| host.connection(c))
        .map(|c| c.state().to_string())
        .unwrap_or_else(|| "-".to_owned());
    format!(
        "state {state}, sent {}/{}, received {}, closed {}, error {}, connections {}",
        app.sent,
        app.to_send.len(),
        app.received.len(),
        app.closed,
        app.error,
        host.connections()
    )
}

/// One step of a side's application. Echo: the client writes its data,
/// closes, reads the echo; the server reads until the client's FIN,
/// echoes, closes. Slow readers: each writes its own data and closes, and
/// reads only `read_delay` after its close. Either gives up (aborts) after
/// `app_timeout` without progress.
#[allow(clippy::too_many_arguments)]
fn step_app<M: Machine>(
    side: usize,
    mode: Mode,
    app: &mut App,
    host: &mut Host<M>,
    at: Instant,
    now: Duration,
    app_timeout: Duration,
    chunk: &mut [u8],
) {
    let Some(id) = app.conn else {
        return;
    };
    if host.status(id).is_none() {
        return;
    }
    let reading = mode == Mode::Echo || app.aborted || app.read_from.is_some_and(|t| now >= t);
    // Read whatever arrived.
    while reading && let n @ 1.. = host.recv(at, id, chunk).unwrap_or(0) {
        app.received.extend_from_slice(&chunk[..n]);
        app.progress = now;
        if side == SERVER && mode == Mode::Echo {
            app.to_send.extend_from_slice(&chunk[..n]);
        }
    }
    let st = host.status(id).expect("still held");
    // What a read returns once nothing is left, as the endpoint does it:
    // the error, the end of the stream, or "closed without the peer's FIN".
    if reading && st.readable == 0 {
        if let Some(e) = st.error {
            app.fail(AppError::Conn(e));
        } else if st.eof {
            app.eof = true;
            app.eof_at.get_or_insert(now);
        } else if st.finished {
            app.fail(AppError::ClosedWithoutFin);
            app.unreported = true;
        }
    }
    let may_send = st.open && !app.closed && !app.error;
    if may_send
        && app.sent < app.to_send.len()
        && let Ok(n @ 1..) = host.send(at, id, &app.to_send[app.sent..])
    {
        app.sent += n;
        app.progress = now;
    }
    let done_sending =
        app.sent == app.to_send.len() && (side == CLIENT || mode == Mode::SlowReaders || st.eof);
    if !app.closed && st.open && done_sending {
        let _ = host.close(at, id);
        app.closed = true;
        app.read_from = app.read_delay.map(|d| now + d);
    }
    // Let go once the connection is gone and everything was read.
    if reading && st.finished && st.readable == 0 {
        app.closed = true;
        host.release(id);
        app.conn = None;
        return;
    }
    if now.saturating_sub(app.progress) > app_timeout && !app.aborted {
        app.aborted = true;
        app.fail(AppError::GaveUp);
        app.closed = true;
        let _ = host.abort(at, id);
    }
}
