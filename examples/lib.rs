//! Helpers shared by the example programs: side-by-side traces, the
//! simultaneous open and close, a latency relay, address parsing, and the
//! options every program has: `--spec` ([`spec`]), `--trace-json`
//! ([`trace_json`]), with the report of the spec's numbered paths
//! ([`paths`]).

pub mod paths;
pub mod spec;
pub mod trace_json;

use std::fmt::Write as _;
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Instant;

use fsm_runtime::trace::TraceEntry;
use fsm_runtime::vocab::Machine;

/// Transitions of two endpoints, in the order they happened, for printing
/// side by side.
pub struct Timeline {
    start: Instant,
    columns: [String; 2],
    /// The typical path each column follows, if any.
    paths: [Option<&'static str>; 2],
    entries: Vec<(Instant, usize, TraceEntry)>,
}

impl Timeline {
    /// An empty timeline whose clock starts at `start`, with two named
    /// columns.
    pub fn new(start: Instant, left: &str, right: &str) -> Self {
        Timeline {
            start,
            columns: [left.to_owned(), right.to_owned()],
            paths: [None, None],
            entries: Vec::new(),
        }
    }

    /// Names the typical path each column follows (`client`, `server`).
    pub fn with_paths(mut self, paths: [Option<&'static str>; 2]) -> Self {
        self.paths = paths;
        self
    }

    /// Records a transition seen now in `column` (0 or 1).
    pub fn push(&mut self, column: usize, entry: TraceEntry) {
        self.entries.push((Instant::now(), column.min(1), entry));
    }

    /// The transitions of one column, in order.
    pub fn column(&self, column: usize) -> impl Iterator<Item = &TraceEntry> {
        self.entries
            .iter()
            .filter(move |(_, c, _)| *c == column)
            .map(|(_, _, e)| e)
    }

    /// The step numbers of `path` in `column`, in order: the initial
    /// state's own step (the article's "starts in CLOSED"), then each
    /// transition's.
    pub fn steps<M: Machine>(&self, machine: &M, column: usize, path: &str) -> Vec<u8> {
        machine
            .state_steps(machine.initial())
            .filter(|m| m.path == path)
            .map(|m| m.step)
            .chain(self.column(column).filter_map(|e| e.step(path)))
            .collect()
    }

    /// Both traces in two columns, one row per transition, after a row
    /// with each column's initial state and its path steps.
    pub fn render<M: Machine>(&self, machine: &M) -> String {
        const WIDTH: usize = 48;
        let mut out = String::new();
        let _ = writeln!(
            out,
            "  {:>8} {:<WIDTH$} | {}",
            "time", self.columns[0], self.columns[1]
        );
        let _ = writeln!(out, "  {}", "-".repeat(WIDTH * 2 + 12));
        let initial = |column: usize| {
            let marks: String = machine
                .state_steps(machine.initial())
                .filter(|m| Some(m.path) == self.paths[column])
                .map(|m| format!("{m} "))
                .collect();
            format!("{marks:<4}{}", machine.initial())
        };
        let _ = writeln!(out, "  {:>8} {:<WIDTH$} | {}", "", initial(0), initial(1));
        for (at, column, e) in &self.entries {
            let t = &e.transition;
            let marks: String = e
                .steps
                .iter()
                .filter(|m| Some(m.path) == self.paths[*column])
                .map(|m| format!("{m} "))
                .collect();
            let text = format!("{marks:<4}{} -> {}  {}", t.from, t.to, t.label);
            let ms = at.saturating_duration_since(self.start).as_secs_f64() * 1000.0;
            let (left, right) = if *column == 0 {
                (text, String::new())
            } else {
                (String::new(), text)
            };
            let _ = writeln!(out, "  {ms:>6.1}ms {left:<WIDTH$} | {right}");
        }
        out
    }
}

/// What happened in a [`simultaneous`] run.
pub struct SimultaneousRun<M: Machine> {
    /// Both endpoints' transitions.
    pub timeline: Timeline,
    /// How each side's open ended.
    pub opened: [Result<(), String>; 2],
    /// Each side's final state, or why it did not finish.
    pub finals: [Result<M::State, String>; 2],
    /// Bytes each side received from the other.
    pub received: [Vec<u8>; 2],
}

/// Two endpoints A and B open to each other at the same moment (their
/// SYNs cross in a relay with `delay` latency), exchange a line each, and
/// close at the same moment (their FINs cross). Runs `machine`; every
/// event goes to `trace`, if given, labelled `A` or `B`, and to the
/// watcher at `watch`, if given.
pub fn simultaneous<M: Machine>(
    machine: &M,
    msl: std::time::Duration,
    delay: std::time::Duration,
    open_timeout: std::time::Duration,
    trace: Option<&trace_json::TraceJson>,
    watch: Option<std::net::SocketAddr>,
) -> std::io::Result<SimultaneousRun<M>> {
    use std::io::{Read, Write};
    use std::net::Shutdown;
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    use fsm_runtime::{Config, Endpoint, Options};

    let timeline = Arc::new(Mutex::new(Timeline::new(
        Instant::now(),
        "A (port 5000)",
        "B (port 6000)",
    )));
    let bind = |column: usize| {
        let mut options = Options::with_config(Config::loopback(msl));
        options.config.user_timeout = open_timeout;
        let timeline = timeline.clone();
        options.on_transition = Some(Box::new(move |e| {
            timeline
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(column, e.clone())
        }));
        options.on_step = trace.map(|t| t.sink(machine, ["A", "B"][column]));
        options.watch = watch.map(|a| fsm_runtime::watch::Watch::new(a, ["A", "B"][column]));
        Endpoint::bind_spec(
            machine.clone(),
            SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
            options,
        )
    };
    let (a, b) = (bind(0)?, bind(1)?);
    let lifetime = open_timeout + msl * 8 + Duration::from_secs(5);
    let relay = DelayRelay::start(a.local_addr()?, b.local_addr()?, delay, lifetime)?;
    let (a_inner, b_inner) = (
        SocketAddrV4::new(a.inner_addr(), 5000),
        SocketAddrV4::new(b.inner_addr(), 6000),
    );
    // Both connects start within microseconds; each SYN spends `delay` in
    // the relay, so both sides are in SYN_SENT when the other's SYN lands.
    let sa = a.start_connect(Some(5000), b_inner.into(), relay.toward_b, open_timeout)?;
    let sb = b.start_connect(Some(6000), a_inner.into(), relay.toward_a, open_timeout)?;
    let deadline = Instant::now() + open_timeout + Duration::from_millis(500);
    let left = || deadline.saturating_duration_since(Instant::now());
    let opened = [
        sa.wait_open(left()).map_err(|e| e.to_string()),
        sb.wait_open(left()).map_err(|e| e.to_string()),
    ];
    let mut received = [Vec::new(), Vec::new()];
    if opened.iter().all(Result::is_ok) {
        (&sa).write_all(b"from A\n")?;
        (&sb).write_all(b"from B\n")?;
        (&sa).flush()?;
        (&sb).flush()?;
        // Both FINs leave before either arrives.
        sa.shutdown(Shutdown::Write)?;
        sb.shutdown(Shutdown::Write)?;
        (&sa).read_to_end(&mut received[0])?;
        (&sb).read_to_end(&mut received[1])?;
    }
    let wait = msl * 4 + Duration::from_secs(2);
    let finals = [
        sa.wait_finished(wait).map_err(|e| e.to_string()),
        sb.wait_finished(wait).map_err(|e| e.to_string()),
    ];
    drop((sa, sb, relay));
    let timeline = std::mem::replace(
        &mut *timeline.lock().unwrap_or_else(|e| e.into_inner()),
        Timeline::new(Instant::now(), "", ""),
    );
    Ok(SimultaneousRun {
        timeline,
        opened,
        finals,
        received,
    })
}

/// Parses `IP:PORT` as an IPv4 socket address.
pub fn parse_v4(s: &str) -> Result<SocketAddrV4, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address with a port (like 127.0.0.1:7000)"))
}

/// Parses an IPv4 address.
pub fn parse_ip(s: &str) -> Result<Ipv4Addr, String> {
    s.parse()
        .map_err(|_| format!("`{s}` is not an IPv4 address"))
}

/// A UDP relay between two endpoints that holds every datagram for a fixed
/// delay: a network with latency, so that two SYNs (or two FINs) sent at
/// nearly the same time cross in flight. It stops when dropped, and after
/// `lifetime` at the latest.
pub struct DelayRelay {
    /// The address endpoint A sends to (it reaches B).
    pub toward_b: std::net::SocketAddr,
    /// The address endpoint B sends to (it reaches A).
    pub toward_a: std::net::SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl DelayRelay {
    /// Relays between the UDP sockets at `a` and `b` with `delay` each way.
    pub fn start(
        a: SocketAddr,
        b: SocketAddr,
        delay: std::time::Duration,
        lifetime: std::time::Duration,
    ) -> std::io::Result<DelayRelay> {
        use std::net::UdpSocket;
        use std::sync::atomic::{AtomicBool, Ordering};
        let side_a = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?; // A talks to this one
        let side_b = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?; // B talks to this one
        let (toward_b, toward_a) = (side_a.local_addr()?, side_b.local_addr()?);
        for s in [&side_a, &side_b] {
            s.set_read_timeout(Some(std::time::Duration::from_millis(1)))?;
        }
        let stop = std::sync::Arc::new(AtomicBool::new(false));
        let stopping = stop.clone();
        let thread = std::thread::spawn(move || {
            let end = Instant::now() + lifetime;
            // (release time, from A?, bytes)
            let mut held: std::collections::VecDeque<(Instant, bool, Vec<u8>)> = Default::default();
            let mut buf = vec![0u8; 65_536];
            while !stopping.load(Ordering::Relaxed) && Instant::now() < end {
                for (sock, from_a) in [(&side_a, true), (&side_b, false)] {
                    if let Ok((n, _)) = sock.recv_from(&mut buf) {
                        held.push_back((Instant::now() + delay, from_a, buf[..n].to_vec()));
                    }
                }
                while held.front().is_some_and(|(at, _, _)| *at <= Instant::now()) {
                    let (_, from_a, bytes) = held.pop_front().expect("checked");
                    // A's datagrams reach B from side_b, and the other way round,
                    // so each endpoint sees its peer at the address it sends to.
                    let _ = if from_a {
                        side_b.send_to(&bytes, b)
                    } else {
                        side_a.send_to(&bytes, a)
                    };
                }
            }
        });
        Ok(DelayRelay {
            toward_b,
            toward_a,
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for DelayRelay {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
