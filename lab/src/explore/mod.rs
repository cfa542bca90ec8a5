//! `fsm-lab explore`: every interleaving of two sans-IO hosts over a
//! faulty network, breadth first, each state held to the properties.
//!
//! The state is everything both hosts hold (their connections, TCBs,
//! buffers and timers, relative to now), the datagrams in flight, the
//! faults spent and the two applications' positions in their scripts
//! ([`Scenario`]). From each state the network may deliver a datagram (the
//! first of its direction, or any with reordering), lose one or duplicate
//! one (within budgets), the earliest timer of either host may fire, and
//! either application may take its next call. Each state is expanded
//! once, told apart by a 64-bit fingerprint ([`world`]'s).
//!
//! Checked in every state ([`Property`]): every event both hosts raise is
//! the spec's (the oracle); what crosses the wire and what the
//! applications see follows from the events (the simulation's checks);
//! an application reads a prefix of what its peer wrote on that
//! connection; every acknowledged byte is read unless an error was seen.
//! Checked at the end: a state with no move is a deadlock if the scripts
//! are not done, else it is classified desired, acceptable (documented
//! reasons) or undesired; and states from which no end can be reached are
//! non-progress. Breadth first, so each counterexample is a shortest one;
//! [`replay`] plays a schedule back exactly.

mod chart;
mod fingerprint;
pub mod scenario;
mod search;
mod world;

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use fsm_runtime::cc::Congestion;
use fsm_runtime::loaded::Loaded;
use fsm_runtime::recovery::Recovery;
use fsm_runtime::vocab::{Event, Machine};

pub use chart::{Replayed, chart};
pub use scenario::Scenario;
pub use world::Move;

use crate::compare::count;
use crate::oracle::Oracle;
use crate::sim::{congestion_oracle, recovery_oracle};
use world::{Ctx, World};

/// A property the explorer checks.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Property {
    /// An event did what the spec does not say (the oracle).
    Spec,
    /// A segment shows what no event allowed (a FIN acknowledged with no
    /// `rcv_fin`), or is malformed.
    Wire,
    /// An application saw what no event allowed (the end of the stream,
    /// an error, data before the connection opened).
    App,
    /// An application read bytes that are not a prefix of what its peer
    /// wrote on that connection.
    Data,
    /// A side acknowledged bytes its application never read, and the
    /// application saw no error.
    AckedLost,
    /// No move is possible and the scripts are not done.
    Deadlock,
    /// The scenario's end can no longer be reached (a cycle among states
    /// that cannot end).
    NonProgress,
    /// The scripts ended, but not as the scenario wants, nor in a way the
    /// documented list accepts.
    Undesired,
}

impl Property {
    /// Every property, in the order of the report.
    pub const ALL: [Property; 8] = [
        Property::Spec,
        Property::Wire,
        Property::App,
        Property::Data,
        Property::AckedLost,
        Property::Deadlock,
        Property::NonProgress,
        Property::Undesired,
    ];

    /// A short name: `spec`, `wire`, `app`, `data`, `acked-lost`,
    /// `deadlock`, `non-progress`, `undesired`.
    pub fn name(self) -> &'static str {
        match self {
            Property::Spec => "spec",
            Property::Wire => "wire",
            Property::App => "app",
            Property::Data => "data",
            Property::AckedLost => "acked-lost",
            Property::Deadlock => "deadlock",
            Property::NonProgress => "non-progress",
            Property::Undesired => "undesired",
        }
    }
}

/// A property violated, and how.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Violation {
    /// Which property.
    pub property: Property,
    /// What happened.
    pub message: String,
}

impl Violation {
    pub(crate) fn new(property: Property, message: impl Into<String>) -> Violation {
        Violation {
            property,
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.property.name(), self.message)
    }
}

/// A spec loaded for the explorer: the machine a host runs and the oracle
/// its events are held against.
pub struct Subject {
    /// The path as given.
    pub path: String,
    /// The machine.
    pub machine: Loaded,
    /// Its spec, read afresh for the oracle.
    pub oracle: Arc<Oracle>,
}

impl Subject {
    /// Reads, checks and binds a connection spec.
    pub fn load(path: &str) -> Result<Subject, fsm_codegen::LoadError> {
        let machine = Loaded::load(Path::new(path))?;
        Ok(Subject::new(path, machine))
    }

    /// A machine loaded already.
    pub fn new(path: &str, machine: Loaded) -> Subject {
        Subject {
            path: path.to_owned(),
            oracle: Arc::new(Oracle::from_spec(machine.source())),
            machine,
        }
    }
}

/// What to explore.
#[derive(Clone, Debug)]
pub struct Options {
    /// What the applications do.
    pub scenario: Scenario,
    /// Bytes each side writes of its own per connection.
    pub bytes: usize,
    /// The segment size both hosts announce.
    pub mss: u16,
    /// Datagrams the network may lose in a run.
    pub losses: u8,
    /// Datagrams the network may duplicate in a run.
    pub dups: u8,
    /// The network may deliver datagrams in any order.
    pub reorder: bool,
    /// Explore no deeper than this many moves.
    pub max_depth: Option<u32>,
    /// Worker threads.
    pub threads: usize,
    /// The congestion machine both hosts run (`None`: congestion.fsm).
    pub congestion: Option<Congestion>,
    /// The recovery machine both hosts run. `None`: NewReno's
    /// (examples/specs/recovery/newreno.fsm), not the runtime's default:
    /// RACK-TLP's probe and reordering timers and its retransmissions
    /// multiply the states (2 bytes with reordering do not fit in 24 GB
    /// with it, against 4.9 million states without).
    pub recovery: Option<Recovery>,
}

impl Options {
    /// A scenario with the defaults: 1 byte each way in segments of 1
    /// byte, no faults, every core.
    pub fn new(scenario: Scenario) -> Options {
        Options {
            scenario,
            bytes: 1,
            mss: 1,
            losses: 0,
            dups: 0,
            reorder: false,
            max_depth: None,
            threads: std::thread::available_parallelism().map_or(1, |n| n.get()),
            congestion: None,
            recovery: None,
        }
    }

    /// The network, as the report and the schedule files say it.
    pub fn network(&self) -> String {
        format!(
            "loss {}, dup {}, {}",
            self.losses,
            self.dups,
            if self.reorder { "reorder" } else { "in order" }
        )
    }
}

/// A counterexample: a violation and the shortest schedule to it.
#[derive(Clone, Debug)]
pub struct Counterexample {
    /// What is violated.
    pub violation: Violation,
    /// The moves from the initial state.
    pub schedule: Vec<Move>,
    /// States found violating the property.
    pub count: u64,
}

/// What an exploration found.
#[derive(Clone, Debug)]
pub struct Report {
    /// The client's spec and the server's.
    pub specs: [String; 2],
    /// What was explored.
    pub options: Options,
    /// States visited.
    pub states: u64,
    /// Moves taken (edges of the state graph).
    pub transitions: u64,
    /// The longest shortest path (moves).
    pub depth: u32,
    /// The search stopped at `max_depth` with states left.
    pub bounded: bool,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Bytes of the visited set, parents and edges per state.
    pub bytes_per_state: f64,
    /// The most states one level held (the frontier, whole states).
    pub widest_level: usize,
    /// The process's peak resident memory, bytes (Linux).
    pub peak_memory: Option<u64>,
    /// Ends where both applications saw what they expected and both hosts
    /// hold nothing.
    pub desired: u64,
    /// Acceptable ends, by reason.
    pub acceptable: BTreeMap<String, u64>,
    /// The shortest counterexample of each property violated.
    pub violations: Vec<Counterexample>,
    /// Per side, the spec's (line, source state) pairs never taken, as
    /// `line FROM on EVENT`.
    pub untaken: [Vec<String>; 2],
}

impl Report {
    /// Whether no property was violated.
    pub fn ok(&self) -> bool {
        self.violations.is_empty()
    }

    /// States per second.
    pub fn rate(&self) -> f64 {
        self.states as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

fn start(subjects: [&Subject; 2], options: &Options) -> Result<(Ctx, World<Loaded>), String> {
    if options.bytes > 128 {
        return Err("--bytes: at most 128 (the explorer's buffers are 256 bytes)".into());
    }
    let mut config = world::config();
    config.mss = options.mss.max(1);
    if let Some(cc) = &options.congestion {
        config.congestion = cc.clone();
    }
    config.recovery = options.recovery.clone().unwrap_or_else(Recovery::new_reno);
    let mut ctx = Ctx {
        scenario: options.scenario,
        scripts: options.scenario.scripts(),
        bytes: options.bytes,
        losses: options.losses,
        dups: options.dups,
        reorder: options.reorder,
        oracles: [subjects[0].oracle.clone(), subjects[1].oracle.clone()],
        cc_oracle: congestion_oracle(config.congestion.machine()),
        rec_oracle: recovery_oracle(config.recovery.machine()),
        listening: None,
        msl: config.msl,
        base: Instant::now(),
        setup: Vec::new(),
    };
    // The state the server's listener waits in: where the passive open
    // leads from the initial state.
    let server = &subjects[1].machine;
    ctx.listening = server
        .step(server.initial(), Event::PassiveOpen, &|_| true)
        .map(|f| server.state_name(f.to));
    let machines = [subjects[0].machine.clone(), subjects[1].machine.clone()];
    let mut sink = world::Sink {
        log: Some(Vec::new()),
        ..Default::default()
    };
    let init = World::new(machines, &config, &ctx, &mut sink)?;
    ctx.setup = sink.log.unwrap_or_default();
    Ok((ctx, init))
}

/// Explores every interleaving of `options`' scenario between a client
/// under `subjects[0]` and a server under `subjects[1]`; `progress` hears
/// (states, depth) after each level.
pub fn explore(
    subjects: [&Subject; 2],
    options: &Options,
    progress: &(dyn Fn(u64, u32) + Sync),
) -> Result<Report, String> {
    let started = Instant::now();
    let (ctx, init) = start(subjects, options)?;
    let g = search::search(
        init.clone(),
        &ctx,
        options.threads,
        options.max_depth,
        progress,
    );
    let mut violations: Vec<Counterexample> = g
        .first
        .iter()
        .map(|(v, id)| Counterexample {
            violation: v.clone(),
            schedule: g.path(*id),
            count: g.counts[&v.property],
        })
        .collect();
    let stuck = search::stuck(&g);
    let stuck_count = stuck.iter().filter(|&&s| s).count() as u64;
    if let Some((v, schedule, _)) = search::lasso(&g, &stuck, &init, &ctx) {
        violations.push(Counterexample {
            violation: v,
            schedule,
            count: stuck_count,
        });
    }
    violations.sort_by_key(|c| c.violation.property);
    let untaken = [0, 1].map(|side| untaken(&subjects[side].oracle, &g.pairs, side as u8));
    Ok(Report {
        specs: [subjects[0].path.clone(), subjects[1].path.clone()],
        options: options.clone(),
        states: g.parent.len() as u64,
        transitions: g.edges.len() as u64,
        depth: g.depth,
        bounded: g.kind.contains(&search::Kind::Cut),
        elapsed: started.elapsed(),
        bytes_per_state: g.bytes_per_state(),
        widest_level: g.widest_level,
        peak_memory: peak_memory(),
        desired: g
            .kind
            .iter()
            .filter(|k| **k == search::Kind::Desired)
            .count() as u64,
        acceptable: g.acceptable.into_iter().collect(),
        violations,
        untaken,
    })
}

/// The spec's (line, source) pairs not in `taken` for `side`.
fn untaken(
    oracle: &Oracle,
    taken: &std::collections::HashSet<(u8, u32, &'static str)>,
    side: u8,
) -> Vec<String> {
    let m = &oracle.model;
    let mut out = Vec::new();
    for t in &m.transitions {
        for s in &t.sources {
            let from = &m.states[s.index()].name.text;
            let hit = taken
                .iter()
                .any(|(sd, line, f)| *sd == side && *line as usize == t.line && f == from);
            if !hit {
                out.push(format!(
                    "{}:{} {from} on {}",
                    oracle.name,
                    t.line,
                    m.events[t.event.index()].name.text
                ));
            }
        }
    }
    out
}

/// The peak resident set of this process (VmHWM), where Linux tells it.
fn peak_memory() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Plays `schedule` back from the initial state, move by move, recording
/// everything that happens; stops at the first violation (or a move that
/// is not enabled, an error).
pub fn replay(
    subjects: [&Subject; 2],
    options: &Options,
    schedule: &[Move],
) -> Result<Replayed, String> {
    let (ctx, mut world) = start(subjects, options)?;
    chart::replay(&mut world, &ctx, schedule)
}

/// The command that explores `report`'s run again and writes its
/// counterexamples to `out`.
pub fn command(report: &Report, out: &str) -> String {
    let o = &report.options;
    let mut c = format!(
        "fsm-lab explore {} --peer {} --scenario {} --bytes {} --mss {}",
        report.specs[0], report.specs[1], o.scenario, o.bytes, o.mss
    );
    for (flag, n) in [("--loss", o.losses), ("--dup", o.dups)] {
        if n > 0 {
            let _ = write!(c, " {flag} {n}");
        }
    }
    if o.reorder {
        c.push_str(" --reorder");
    }
    let _ = write!(c, " --out {out}");
    c
}

/// A counterexample's files, as `--out DIR` writes them: its schedule
/// (`PROPERTY.schedule`, for `--replay`), its sequence chart
/// (`PROPERTY.svg`) and its replay as text (`PROPERTY.txt`), each naming
/// the command that writes it again.
pub fn counterexample_files(
    report: &Report,
    c: &Counterexample,
    subjects: [&Subject; 2],
    out: &str,
) -> Result<Vec<(String, String)>, String> {
    let name = c.violation.property.name();
    let played = replay(subjects, &report.options, &c.schedule)?;
    let title = format!(
        "{} against {}, scenario {} ({}): {name}",
        report.specs[0],
        report.specs[1],
        report.options.scenario,
        report.options.network(),
    );
    let again = command(report, out);
    Ok(vec![
        (format!("{name}.schedule"), schedule_file(report, c, &again)),
        (
            format!("{name}.svg"),
            fsm_codegen::msc::render_with(&chart(&played, &title), Some(&again)),
        ),
        (
            format!("{name}.txt"),
            format!("# Written by: {again}\n{played}"),
        ),
    ])
}

/// A schedule file: the settings that decide the run, then one move per
/// line (`--replay` reads it back); `command` wrote it.
pub fn schedule_file(report: &Report, c: &Counterexample, command: &str) -> String {
    let o = &report.options;
    let mut s = String::new();
    let _ = writeln!(s, "# fsm-lab explore schedule: {}", c.violation);
    let _ = writeln!(s, "# written by: {command}");
    let _ = writeln!(s, "# spec {}", report.specs[0]);
    let _ = writeln!(s, "# peer {}", report.specs[1]);
    let _ = writeln!(s, "scenario {}", o.scenario);
    let _ = writeln!(s, "bytes {}", o.bytes);
    let _ = writeln!(s, "mss {}", o.mss);
    let _ = writeln!(s, "loss {}", o.losses);
    let _ = writeln!(s, "dup {}", o.dups);
    let _ = writeln!(s, "reorder {}", o.reorder);
    for mv in &c.schedule {
        let _ = writeln!(s, "{mv}");
    }
    s
}

/// Reads a schedule file: its settings over `options`, and its moves.
pub fn read_schedule(text: &str, options: &mut Options) -> Result<Vec<Move>, String> {
    let mut moves = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        let at = |e: String| format!("line {}: {e}", n + 1);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let number = |v: &str| {
            v.trim()
                .parse::<u64>()
                .map_err(|e| at(format!("{v:?}: {e}")))
        };
        match key {
            "scenario" => {
                options.scenario = Scenario::named(value.trim())
                    .ok_or_else(|| at(format!("no scenario {value:?}")))?;
            }
            "bytes" => options.bytes = number(value)? as usize,
            "mss" => options.mss = number(value)? as u16,
            "loss" => options.losses = number(value)? as u8,
            "dup" => options.dups = number(value)? as u8,
            "reorder" => options.reorder = value.trim() == "true",
            _ => moves.push(line.parse::<Move>().map_err(at)?),
        }
    }
    Ok(moves)
}

impl fmt::Display for Report {
    /// The end-of-search report, in the shape of SPIN's: what was
    /// explored, the figures, then each violation with its schedule.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let o = &self.options;
        writeln!(
            f,
            "explored {} (client) against {} (server), scenario {}, {} B each way in segments \
             of {} B; network: {}",
            self.specs[0],
            self.specs[1],
            o.scenario,
            o.bytes,
            o.mss,
            o.network()
        )?;
        let bounded = if self.bounded {
            format!(" (bounded at depth {}: not exhaustive)", self.depth)
        } else {
            String::new()
        };
        writeln!(
            f,
            "  states     {:>12}{bounded}\n  transitions{:>12}\n  depth      {:>12}",
            count(self.states),
            count(self.transitions),
            self.depth
        )?;
        writeln!(
            f,
            "  time       {:>12.2} s   ({} states/s on {} thread{})",
            self.elapsed.as_secs_f64(),
            count(self.rate() as u64),
            o.threads,
            if o.threads == 1 { "" } else { "s" }
        )?;
        writeln!(
            f,
            "  memory     {:>12.1} B/state (visited set, parents, edges); widest level {} states; process peak {}",
            self.bytes_per_state,
            count(self.widest_level as u64),
            self.peak_memory
                .map_or("-".to_owned(), |b| format!("{:.1} MB", b as f64 / 1e6))
        )?;
        writeln!(f, "ends")?;
        writeln!(f, "  desired    {:>12}", self.desired)?;
        for (why, n) in &self.acceptable {
            writeln!(f, "  acceptable {n:>12}  {why}")?;
        }
        let undesired = self
            .violations
            .iter()
            .filter(|c| matches!(c.violation.property, Property::Undesired))
            .map(|c| c.count)
            .sum::<u64>();
        writeln!(f, "  undesired  {undesired:>12}")?;
        for side in 0..2 {
            let spec = &self.specs[side];
            if side == 1 && self.specs[1] == self.specs[0] {
                break;
            }
            let n = self.untaken[side].len();
            if n == 0 {
                writeln!(f, "pairs of {spec} never taken: none")?;
            } else {
                writeln!(f, "pairs of {spec} never taken ({n}):")?;
                for p in &self.untaken[side] {
                    writeln!(f, "  {p}")?;
                }
            }
        }
        writeln!(f, "errors: {}", self.violations.len())?;
        for c in &self.violations {
            writeln!(
                f,
                "\n{} ({} states), shortest in {} moves:\n  {}",
                c.violation.property.name(),
                c.count,
                c.schedule.len(),
                c.violation.message
            )?;
            let moves: Vec<String> = c.schedule.iter().map(|m| m.to_string()).collect();
            writeln!(f, "  schedule: {}", moves.join(", "))?;
        }
        Ok(())
    }
}
