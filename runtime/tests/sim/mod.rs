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
#![allow(dead_code)]

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashSet};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::{Duration, Instant};

use fsm_runtime::config::Config;
use fsm_runtime::fault::SplitMix64;
use fsm_runtime::host::{ConnId, Host};
use fsm_runtime::isn::IsnGenerator;
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::{Action, Event, Machine};
use fsm_runtime::wire::{self, SeqNum};

use crate::oracle::{Checker, Oracle};

pub const CLIENT: usize = 0;
pub const SERVER: usize = 1;
const PORT: u16 = 80;
/// Virtual time after which a run that has not settled is a failure.
pub const HORIZON: Duration = Duration::from_secs(30 * 60);

fn ip(side: usize) -> Ipv4Addr {
    Ipv4Addr::new(10, 0, 0, 1 + side as u8)
}

fn udp(side: usize) -> SocketAddr {
    SocketAddr::V4(SocketAddrV4::new(ip(side), 9))
}

/// The network between the two hosts.
struct Link {
    loss: f64,
    duplicate: f64,
    corrupt: f64,
    latency: Duration,
    jitter: Duration,
    down: (Duration, Duration),
}

impl Link {
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
        }
    }
}

#[derive(Default)]
pub struct Outcome {
    pub completed: bool,
    pub bytes: usize,
    pub virtual_time: Duration,
    /// Datagrams the link lost, duplicated, and corrupted (counted when
    /// delivered).
    pub lost: u64,
    pub duplicated: u64,
    pub corrupted: u64,
    /// Datagrams the hosts dropped as malformed.
    pub malformed: u64,
    /// Events held against the spec, and how many of them it refused.
    pub events: u64,
    pub refused: u64,
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

/// What one side's wire and events have shown so far, for the checks.
#[derive(Default)]
struct Watch {
    /// The peer's ISN, from its SYN.
    peer_isn: Option<SeqNum>,
    /// Where the peer's FIN sits, from a segment that carried it.
    peer_fin: Option<SeqNum>,
    /// The largest acknowledgment this side sent (relative to `peer_isn`).
    acked: Option<SeqNum>,
    /// An `rcv_fin` transition fired on this side.
    fin_taken: bool,
    /// The spec reported an error on this side.
    reported: bool,
    /// This side's machine entered a state of the group `open`.
    opened: bool,
}

/// Holds a host's new events against the spec, noting what they allow.
fn check_steps<M: Machine>(
    side: usize,
    host: &mut Host<M>,
    checker: &mut Checker<'_>,
    oracle: &Oracle,
    watch: &mut Watch,
) -> Result<(), String> {
    let steps: Vec<StepRecord> = host.drain_steps().collect();
    for r in &steps {
        checker
            .check(r)
            .map_err(|e| format!("{}: {e}", name(side)))?;
        if r.transition.is_none() {
            continue;
        }
        watch.fin_taken |= r.event == Event::RcvFin;
        watch.reported |= r.actions.iter().any(|a| {
            matches!(
                a,
                Action::ReportReset | Action::ReportRefused | Action::ReportTimeout
            )
        });
        watch.opened |= oracle.in_group("open", r.to);
    }
    Ok(())
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

fn stuck<M: Machine>(hosts: &[Host<M>], message: String) -> Failure {
    Failure {
        message,
        stuck: Some(
            hosts
                .iter()
                .flat_map(|h| {
                    h.each_connection().map(|(c, unaccepted)| Stuck {
                        state: c.state().to_string(),
                        unaccepted,
                    })
                })
                .collect(),
        ),
    }
}

/// Runs one seed under `machine`, holding every event against `oracle`.
/// With `whole`, a run with no error must also have delivered all the
/// data the applications meant to send (a spec may legitimately refuse a
/// SEND, as one that closes on the peer's FIN does; without `whole`, only
/// what the peer's application handed over counts).
pub fn run<M: Machine>(
    machine: &M,
    seed: u64,
    mode: Mode,
    oracle: &Oracle,
    whole: bool,
) -> Result<Outcome, Failure> {
    let mut rng = SplitMix64::new(seed);
    let link = Link::random(&mut rng);
    let len = rng.below(40_000) as usize;
    let data: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
    let base = Instant::now();
    let mut hosts: Vec<Host<M>> = (0..2)
        .map(|side| {
            let key = [
                seed as u8, side as u8, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
            ];
            let mut c = config();
            c.record_steps = true;
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
    let mut checkers = [Checker::new(oracle), Checker::new(oracle)];
    let mut watch = [Watch::default(), Watch::default()];
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
            )?;
            check_app(&apps[side], &watch[side]).map_err(|e| format!("{}: {e}", name(side)))?;
        }
        // Send what the hosts have, through the link.
        for (side, host) in hosts.iter_mut().enumerate() {
            while let Some(t) = host.poll_transmit(at, &mut buf) {
                watch_wire(&buf[..t.len], side, &mut watch)?;
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
                    let jitter = Duration::from_nanos(rng.below(link.jitter.as_nanos() as u64 + 1));
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
    Ok(Outcome {
        completed: clean,
        bytes: data.len(),
        virtual_time: now,
        malformed: hosts.iter().map(|h| h.counters().malformed.total()).sum(),
        events: checkers.iter().map(|c| c.events).sum(),
        refused: checkers.iter().map(|c| c.refused).sum(),
        fired: checkers
            .iter()
            .flat_map(|c| c.fired.iter().cloned())
            .collect(),
        refused_events: checkers
            .iter()
            .flat_map(|c| c.refused_events.iter().cloned())
            .collect(),
        ..tally
    })
}

fn name(side: usize) -> &'static str {
    if side == CLIENT { "client" } else { "server" }
}

/// What a datagram that `side` sent shows: its SYN's ISN, its FIN, its
/// acknowledgment of the other side's FIN (which only an `rcv_fin`
/// transition may give).
fn watch_wire(datagram: &[u8], side: usize, watch: &mut [Watch; 2]) -> Result<(), String> {
    let Ok((_, seg)) = wire::parse(datagram) else {
        return Err(format!("{} sent a malformed datagram", name(side)));
    };
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
    if app.eof && !watch.fin_taken {
        return Err("the application saw the end of the stream with no rcv_fin transition".into());
    }
    if app.error && !app.aborted && !app.unreported && !watch.reported {
        return Err("the application saw an error the spec did not report".into());
    }
    if app.conn.is_some() && !app.received.is_empty() && !watch.opened {
        return Err("the application read data before the machine was open".into());
    }
    Ok(())
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
        if st.error.is_some() {
            app.error = true;
        } else if st.eof {
            app.eof = true;
        } else if st.finished {
            app.error = true;
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
        app.error = true;
        app.closed = true;
        let _ = host.abort(at, id);
    }
}
