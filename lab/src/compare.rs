//! Specs side by side: the same seeds and the same network for each, one
//! table of what they did (`fsm-lab compare`).
//!
//! Every run is the deterministic simulation ([`crate::sim`]) with every
//! event held against its spec by the oracle. Per spec: connections
//! completed and failed with the errors the applications saw, time to
//! complete and to settle, what went on the wire, virtual time spent in
//! each state, bytes delivered; per spec after the first, the first seed
//! whose steps differ from the first spec's, and where.

use std::collections::{BTreeMap, HashMap};
use std::fmt::{self, Write as _};
use std::net::SocketAddrV4;
use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use fsm_codegen::LoadError;
use fsm_runtime::cc::{CcWords, Congestion};
use fsm_runtime::loaded::Loaded;
use fsm_runtime::recovery::{Recovery, RecoveryWords};
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::{Machine, Words};

use crate::oracle::Oracle;
use crate::sim::{self, Datagram, Faults, Mode, Observer, Outcome, Setup};

/// A spec to compare: loaded for the runtime and read by the oracle.
pub struct Subject {
    /// The path as given.
    pub path: String,
    /// The connection machine the hosts run.
    pub machine: Loaded,
    /// The spec the connection machine's events are held against.
    pub oracle: Oracle,
    /// For a congestion or recovery spec: the machine the hosts run (with
    /// tcp.fsm as the connection machine), and its spec as the oracle
    /// reads it. Its heat map is of this spec.
    pub side: Option<(SideSpec, Oracle)>,
}

/// A spec of a machine that runs beside the connection machine.
#[derive(Clone, Debug)]
pub enum SideSpec {
    /// A congestion spec (`fsm_runtime::cc`).
    Congestion(Congestion),
    /// A recovery spec (`fsm_runtime::recovery`).
    Recovery(Recovery),
}

impl SideSpec {
    /// Binds `spec` as a congestion spec, else as a recovery spec.
    fn bind(spec: &fsm_codegen::Spec) -> Option<SideSpec> {
        if let Ok(c) = Congestion::from_spec(spec.clone()) {
            return Some(SideSpec::Congestion(c));
        }
        Recovery::from_spec(spec.clone())
            .ok()
            .map(SideSpec::Recovery)
    }

    fn pairs(&self) -> usize {
        match self {
            SideSpec::Congestion(c) => c.machine().pairs(),
            SideSpec::Recovery(r) => r.machine().pairs(),
        }
    }
}

/// tcp.fsm, the connection machine under a congestion or recovery spec.
const TCP: &str = include_str!("../../tcp.fsm");

impl Subject {
    /// Reads, checks and binds the spec at `path`: a connection spec, or
    /// a congestion or recovery spec (run with tcp.fsm).
    pub fn load(path: &str) -> Result<Subject, LoadError> {
        let spec = fsm_codegen::load(Path::new(path))?;
        let tcp_words = Loaded::from_spec(spec.clone());
        let machine = match tcp_words {
            Ok(machine) => machine,
            Err(not_tcp) => {
                let Some(side) = SideSpec::bind(&spec) else {
                    return Err(LoadError::Rejected(not_tcp));
                };
                let machine = Loaded::compile("tcp.fsm", TCP).map_err(LoadError::Rejected)?;
                return Ok(Subject {
                    path: path.to_owned(),
                    oracle: Oracle::from_spec(machine.source()),
                    machine,
                    side: Some((side, Oracle::from_spec(&spec))),
                });
            }
        };
        let oracle = Oracle::from_spec(machine.source());
        Ok(Subject {
            path: path.to_owned(),
            machine,
            oracle,
            side: None,
        })
    }

    /// The oracle of the spec the heat map draws.
    fn drawn(&self) -> &Oracle {
        self.side.as_ref().map_or(&self.oracle, |(_, o)| o)
    }

    fn states(&self) -> impl Iterator<Item = &str> {
        self.oracle
            .model
            .states
            .iter()
            .map(|s| s.name.text.as_str())
    }
}

/// What to run.
#[derive(Clone, Debug)]
pub struct Options {
    /// Seeds `0..seeds`.
    pub seeds: u64,
    /// The applications, the network and the data (the same for every
    /// spec).
    pub setup: Setup,
    /// Worker threads.
    pub threads: usize,
    /// Show a progress bar on standard error (when it is a terminal).
    pub progress: bool,
}

/// One event as the comparison sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// Virtual time.
    pub at: Duration,
    /// [`sim::CLIENT`] or [`sim::SERVER`].
    pub side: usize,
    /// The state it found.
    pub from: &'static str,
    /// The event.
    pub event: &'static str,
    /// The state it left (`from` when refused).
    pub to: &'static str,
    /// The declaring line of the transition; `None` when refused.
    pub line: Option<u32>,
}

impl Step {
    fn same(&self, other: &Step) -> bool {
        (self.side, self.from, self.event, self.to)
            == (other.side, other.from, other.event, other.to)
    }
}

impl fmt::Display for Step {
    /// `FIN_WAIT_2 -rcv_fin-> TIME_WAIT`, or `… (refused)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(_) => write!(f, "{} -{}-> {}", self.from, self.event, self.to),
            None => write!(f, "{} -{}-> (refused)", self.from, self.event),
        }
    }
}

/// Where a spec's steps first differ from the first spec's.
#[derive(Clone, Debug)]
pub struct Divergence {
    /// The first seed (in seed order) whose steps differ.
    pub seed: u64,
    /// The first spec's step there; `None` when it had no more.
    pub first: Option<Step>,
    /// This spec's step there; `None` when it had no more.
    pub this: Option<Step>,
}

/// What one spec did over all seeds.
#[derive(Clone, Debug, Default)]
pub struct Tally {
    /// Runs that kept every promise.
    pub runs: u64,
    /// Of those, runs where neither application saw an error.
    pub completed: u64,
    /// Errors the applications saw, by kind (each side counted).
    pub errors: BTreeMap<&'static str, u64>,
    /// Runs that broke a promise or did not settle, and the first of them
    /// (lowest seed) with why.
    pub failures: u64,
    /// See `failures`.
    pub first_failure: Option<(u64, String)>,
    /// Virtual time until both applications saw the end of the stream,
    /// per completed run.
    pub done: Vec<Duration>,
    /// Virtual time until both hosts held nothing, per run.
    pub settled: Vec<Duration>,
    /// Datagrams the hosts sent (before the link lost any).
    pub segments: u64,
    /// Their bytes (inner IPv4 packets).
    pub wire_bytes: u64,
    /// Of the datagrams, retransmissions.
    pub retransmissions: u64,
    /// Bytes the applications read, all intact.
    pub delivered: u64,
    /// Bytes the applications meant to deliver.
    pub meant: u64,
    /// Virtual time spent in each state, summed over connections, by
    /// state index (declaration order).
    pub state_time: Vec<Duration>,
    /// Times each (transition, source state) pair fired, by
    /// `TransitionInfo::index` (`Model::edges()` order).
    pub fired: Vec<u64>,
    /// Which states any connection was in, by state index.
    pub reached: Vec<bool>,
    /// Events the congestion machines heard.
    pub cc_events: u64,
    /// Times the congestion machines changed state, by (from, to).
    pub cc_changes: BTreeMap<(&'static str, &'static str), u64>,
    /// Events the recovery machines heard.
    pub rec_events: u64,
    /// Times the recovery machines changed state, by (from, to).
    pub rec_changes: BTreeMap<(&'static str, &'static str), u64>,
    /// For a congestion or recovery spec: times each of its pairs fired,
    /// and which of its states were reached (as `fired` and `reached` are
    /// for the connection spec).
    pub side_fired: Vec<u64>,
    /// See `side_fired`.
    pub side_reached: Vec<bool>,
}

impl Tally {
    fn new(subject: &Subject) -> Tally {
        let (side_pairs, side_states) = side_shape(subject);
        Tally {
            state_time: vec![Duration::ZERO; subject.oracle.model.states.len()],
            fired: vec![0; subject.machine.pairs()],
            reached: vec![false; subject.oracle.model.states.len()],
            side_fired: vec![0; side_pairs],
            side_reached: vec![false; side_states],
            ..Tally::default()
        }
    }

    fn add_run(&mut self, seed: u64, run: Run) {
        let Run {
            result,
            recorder: r,
        } = run;
        match result {
            Ok(o) => {
                self.add_outcome(&o);
                r.close_stays(o.virtual_time, &mut self.state_time);
            }
            Err(why) => {
                self.failures += 1;
                if self.first_failure.as_ref().is_none_or(|(s, _)| seed < *s) {
                    self.first_failure = Some((seed, why));
                }
            }
        }
        self.segments += r.segments;
        self.wire_bytes += r.wire_bytes;
        self.retransmissions += r.retransmissions;
        self.cc_events += r.cc_events;
        self.rec_events += r.rec_events;
        add_changes(&mut self.cc_changes, r.cc_changes);
        add_changes(&mut self.rec_changes, r.rec_changes);
        add_counts(
            &mut self.side_fired,
            &mut self.side_reached,
            &r.side_fired,
            &r.side_reached,
        );
        for (t, d) in self.state_time.iter_mut().zip(&r.state_time) {
            *t += *d;
        }
        add_counts(&mut self.fired, &mut self.reached, &r.fired, &r.reached);
    }

    fn add_outcome(&mut self, o: &Outcome) {
        self.runs += 1;
        self.completed += u64::from(o.completed);
        for e in o.errors.iter().flatten() {
            *self.errors.entry(e.name()).or_default() += 1;
        }
        if o.completed
            && let Some(t) = o.done_at
        {
            self.done.push(t);
        }
        self.settled.push(o.virtual_time);
        self.delivered += o.delivered as u64;
        self.meant += o.meant as u64;
    }

    fn merge(&mut self, other: Tally) {
        self.runs += other.runs;
        self.completed += other.completed;
        for (k, n) in other.errors {
            *self.errors.entry(k).or_default() += n;
        }
        self.failures += other.failures;
        if let Some((seed, why)) = other.first_failure
            && self.first_failure.as_ref().is_none_or(|(s, _)| seed < *s)
        {
            self.first_failure = Some((seed, why));
        }
        self.done.extend(other.done);
        self.settled.extend(other.settled);
        self.segments += other.segments;
        self.wire_bytes += other.wire_bytes;
        self.retransmissions += other.retransmissions;
        self.cc_events += other.cc_events;
        self.rec_events += other.rec_events;
        add_changes(&mut self.cc_changes, other.cc_changes);
        add_changes(&mut self.rec_changes, other.rec_changes);
        add_counts(
            &mut self.side_fired,
            &mut self.side_reached,
            &other.side_fired,
            &other.side_reached,
        );
        self.delivered += other.delivered;
        self.meant += other.meant;
        for (t, d) in self.state_time.iter_mut().zip(other.state_time) {
            *t += d;
        }
        add_counts(
            &mut self.fired,
            &mut self.reached,
            &other.fired,
            &other.reached,
        );
    }
}

/// The number of pairs and states of a subject's congestion or recovery
/// spec (0, 0 for a connection spec).
fn side_shape(subject: &Subject) -> (usize, usize) {
    subject
        .side
        .as_ref()
        .map_or((0, 0), |(c, o)| (c.pairs(), o.model.states.len()))
}

/// Adds counts of state changes to a tally's.
fn add_changes(
    changes: &mut BTreeMap<(&'static str, &'static str), u64>,
    more: BTreeMap<(&'static str, &'static str), u64>,
) {
    for (k, n) in more {
        *changes.entry(k).or_default() += n;
    }
}

/// Adds pair counts and states reached (of the connection spec, or of a
/// congestion or recovery spec) to a tally's.
fn add_counts(fired: &mut [u64], reached: &mut [bool], more: &[u64], more_reached: &[bool]) {
    for (t, n) in fired.iter_mut().zip(more) {
        *t += n;
    }
    for (t, r) in reached.iter_mut().zip(more_reached) {
        *t |= r;
    }
}

/// Watches one run: its steps, the time each connection spends in each
/// state, the wire.
struct Recorder<'a> {
    oracle: &'a Oracle,
    steps: Vec<Step>,
    /// Per connection (side, local, remote): its state and since when.
    stays: HashMap<(usize, SocketAddrV4, Option<SocketAddrV4>), (&'static str, Duration)>,
    state_time: Vec<Duration>,
    fired: Vec<u64>,
    reached: Vec<bool>,
    segments: u64,
    wire_bytes: u64,
    retransmissions: u64,
    cc_events: u64,
    cc_changes: BTreeMap<(&'static str, &'static str), u64>,
    rec_events: u64,
    rec_changes: BTreeMap<(&'static str, &'static str), u64>,
    /// The subject's congestion or recovery spec, if it is one.
    side: Option<&'a (SideSpec, Oracle)>,
    side_fired: Vec<u64>,
    side_reached: Vec<bool>,
}

impl<'a> Recorder<'a> {
    fn new(subject: &'a Subject) -> Self {
        let states = subject.oracle.model.states.len();
        Recorder {
            oracle: &subject.oracle,
            steps: Vec::new(),
            stays: HashMap::new(),
            state_time: vec![Duration::ZERO; states],
            fired: vec![0; subject.machine.pairs()],
            reached: vec![false; states],
            segments: 0,
            wire_bytes: 0,
            retransmissions: 0,
            cc_events: 0,
            cc_changes: BTreeMap::new(),
            rec_events: 0,
            rec_changes: BTreeMap::new(),
            side: subject.side.as_ref(),
            side_fired: vec![0; side_shape(subject).0],
            side_reached: vec![false; side_shape(subject).1],
        }
    }

    fn spend(&mut self, state: &str, time: Duration) {
        if let Some(i) = self.oracle.state(state) {
            self.state_time[i] += time;
        }
    }

    /// Connections still in a state other than the initial one when the
    /// run ended (a listener in LISTEN) stayed there until `end`.
    fn close_stays(&self, end: Duration, state_time: &mut [Duration]) {
        let initial = self.oracle.initial();
        for (state, since) in self.stays.values() {
            if *state != initial
                && let Some(i) = self.oracle.state(state)
            {
                state_time[i] += end.saturating_sub(*since);
            }
        }
    }
}

impl Recorder<'_> {
    /// Counts a step of the subject's own congestion or recovery spec.
    fn side_step<W: Words>(&mut self, r: &StepRecord<W>) {
        let Some((_, o)) = self.side else {
            return;
        };
        for s in [r.from, r.to] {
            if let Some(i) = o.state(s) {
                self.side_reached[i] = true;
            }
        }
        if let Some(n) = r
            .transition
            .as_ref()
            .and_then(|t| self.side_fired.get_mut(t.index as usize))
        {
            *n += 1;
        }
    }
}

impl Observer for Recorder<'_> {
    fn cc_step(&mut self, _side: usize, r: &StepRecord<CcWords>) {
        self.cc_events += 1;
        if r.from != r.to {
            *self.cc_changes.entry((r.from, r.to)).or_default() += 1;
        }
        if let Some((SideSpec::Congestion(_), _)) = self.side {
            self.side_step(r);
        }
    }

    fn rec_step(&mut self, _side: usize, r: &StepRecord<RecoveryWords>) {
        self.rec_events += 1;
        if r.from != r.to {
            *self.rec_changes.entry((r.from, r.to)).or_default() += 1;
        }
        if let Some((SideSpec::Recovery(_), _)) = self.side {
            self.side_step(r);
        }
    }

    fn step(&mut self, side: usize, r: &StepRecord) {
        self.steps.push(Step {
            at: r.at,
            side,
            from: r.from,
            event: r.event.name(),
            to: r.to,
            line: r.transition.as_ref().map(|t| t.line),
        });
        for s in [r.from, r.to] {
            if let Some(i) = self.oracle.state(s) {
                self.reached[i] = true;
            }
        }
        let Some(t) = &r.transition else {
            return;
        };
        if let Some(n) = self.fired.get_mut(t.index as usize) {
            *n += 1;
        }
        // A connection's stay in a state runs from the event that entered
        // it (or its first event) to the one that left it.
        let key = (side, r.local, r.remote);
        let (state, since) = match self.stays.get(&key) {
            Some(&(state, since)) if state == r.from => (state, since),
            // Its first event, or a new connection on the same addresses.
            _ => (r.from, r.at),
        };
        if r.to != state {
            self.spend(state, r.at.saturating_sub(since));
            self.stays.insert(key, (r.to, r.at));
        } else {
            self.stays.insert(key, (state, since));
        }
    }

    fn datagram(&mut self, _side: usize, _at: Duration, d: &Datagram) {
        self.segments += 1;
        self.wire_bytes += d.len as u64;
        self.retransmissions += u64::from(d.retransmission);
    }
}

/// One run of one spec.
struct Run<'a> {
    result: Result<Outcome, String>,
    recorder: Recorder<'a>,
}

fn run_one<'a>(subject: &'a Subject, seed: u64, setup: &Setup) -> Run<'a> {
    let mut recorder = Recorder::new(subject);
    let setup = match &subject.side {
        Some((SideSpec::Congestion(c), _)) => &Setup {
            congestion: Some(c.clone()),
            ..setup.clone()
        },
        Some((SideSpec::Recovery(r), _)) => &Setup {
            recovery: Some(r.clone()),
            ..setup.clone()
        },
        None => setup,
    };
    let result = sim::run_with(
        &subject.machine,
        seed,
        setup,
        &subject.oracle,
        &mut recorder,
    )
    .map_err(|f| f.message);
    Run { result, recorder }
}

/// The first step where `b` differs from `a`.
fn diverge(a: &[Step], b: &[Step]) -> Option<(Option<Step>, Option<Step>)> {
    let at = a.iter().zip(b).position(|(x, y)| !x.same(y));
    match at {
        Some(i) => Some((Some(a[i]), Some(b[i]))),
        None if a.len() == b.len() => None,
        None => {
            let i = a.len().min(b.len());
            Some((a.get(i).copied(), b.get(i).copied()))
        }
    }
}

/// What a comparison found.
pub struct Report {
    /// The specs' paths, in the order given.
    pub specs: Vec<String>,
    /// Per spec.
    pub tallies: Vec<Tally>,
    /// Per spec: where it first differs from the first spec (`None` for
    /// the first, and for a spec that never differs).
    pub divergences: Vec<Option<Divergence>>,
    /// Seeds run.
    pub seeds: u64,
    /// The setup they ran.
    pub setup: Setup,
    /// Wall-clock time.
    pub elapsed: Duration,
    /// Per spec: the names its rows and columns use.
    pub names: Vec<Names>,
}

/// A spec's state names and (transition, source state) pairs.
#[derive(Clone, Debug)]
pub struct Names {
    /// State names, in declaration order.
    pub states: Vec<String>,
    /// Pairs by `TransitionInfo::index`.
    pub pairs: Vec<Pair>,
}

/// One (transition, source state) pair of a spec.
#[derive(Clone, Debug)]
pub struct Pair {
    /// Source state.
    pub from: String,
    /// Event.
    pub event: String,
    /// Target state.
    pub to: String,
    /// The declaring line.
    pub line: u32,
}

/// Runs every seed under every spec.
pub fn compare(subjects: &[Subject], options: &Options) -> Report {
    let started = Instant::now();
    let bar = progress_bar(options.seeds, options.progress);
    let next = AtomicU64::new(0);
    let total = Mutex::new((
        subjects.iter().map(Tally::new).collect::<Vec<_>>(),
        vec![None::<Divergence>; subjects.len()],
    ));
    std::thread::scope(|s| {
        for _ in 0..options.threads.max(1) {
            s.spawn(|| {
                let mut tallies: Vec<Tally> = subjects.iter().map(Tally::new).collect();
                let mut divergences: Vec<Option<Divergence>> = vec![None; subjects.len()];
                loop {
                    let seed = next.fetch_add(1, Ordering::Relaxed);
                    if seed >= options.seeds {
                        break;
                    }
                    let runs: Vec<Run> = subjects
                        .iter()
                        .map(|s| run_one(s, seed, &options.setup))
                        .collect();
                    for (k, run) in runs.iter().enumerate().skip(1) {
                        if divergences[k].as_ref().is_some_and(|d| d.seed < seed) {
                            continue;
                        }
                        if let Some((first, this)) =
                            diverge(&runs[0].recorder.steps, &run.recorder.steps)
                        {
                            divergences[k] = Some(Divergence { seed, first, this });
                        }
                    }
                    for (tally, run) in tallies.iter_mut().zip(runs) {
                        tally.add_run(seed, run);
                    }
                    bar.inc(1);
                }
                let mut total = total.lock().expect("no worker panicked");
                for (t, mine) in total.0.iter_mut().zip(tallies) {
                    t.merge(mine);
                }
                for (d, mine) in total.1.iter_mut().zip(divergences) {
                    if let Some(m) = mine
                        && d.as_ref().is_none_or(|d| m.seed < d.seed)
                    {
                        *d = Some(m);
                    }
                }
            });
        }
    });
    bar.finish_and_clear();
    let (mut tallies, divergences) = total.into_inner().expect("no worker panicked");
    for t in tallies.iter_mut() {
        t.done.sort();
        t.settled.sort();
    }
    let names = subjects
        .iter()
        .map(|s| Names {
            states: s.states().map(str::to_owned).collect(),
            pairs: (0..s.machine.pairs() as u32)
                .map(|i| {
                    let t = s.machine.transition(i);
                    Pair {
                        from: t.from.to_owned(),
                        event: t.event.to_owned(),
                        to: t.to.to_owned(),
                        line: t.line,
                    }
                })
                .collect(),
        })
        .collect();
    Report {
        specs: subjects.iter().map(|s| s.path.clone()).collect(),
        tallies,
        divergences,
        seeds: options.seeds,
        setup: options.setup.clone(),
        elapsed: started.elapsed(),
        names,
    }
}

fn progress_bar(len: u64, show: bool) -> indicatif::ProgressBar {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(len);
    if let Ok(style) =
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} seeds, {elapsed} (eta {eta})")
    {
        bar.set_style(style);
    }
    bar
}

/// The `q`-quantile of sorted `times` (nearest rank).
fn quantile(times: &[Duration], q: f64) -> Option<Duration> {
    if times.is_empty() {
        return None;
    }
    let rank = ((q * times.len() as f64).ceil() as usize).clamp(1, times.len());
    Some(times[rank - 1])
}

fn secs(t: Option<Duration>) -> String {
    t.map_or_else(|| "-".to_owned(), |t| format!("{:.3} s", t.as_secs_f64()))
}

/// Groups of three digits: `1,234,567`.
pub(crate) fn count(n: u64) -> String {
    fsm_codegen::stats::grouped(n)
}

fn percent(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "-".to_owned();
    }
    format!("{:.1}%", 100.0 * part as f64 / whole as f64)
}

/// A table with a label column and one column per spec, aligned.
struct Table {
    header: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    fn row(&mut self, label: impl Into<String>, cells: impl IntoIterator<Item = String>) {
        let mut row = vec![label.into()];
        row.extend(cells);
        self.rows.push(row);
    }

    fn section(&mut self, title: &str) {
        self.rows.push(vec![title.to_owned()]);
    }

    fn render(&self) -> String {
        let columns = self.header.len();
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.header).chain(&self.rows) {
            if row.len() == 1 {
                continue; // a section title spans the table
            }
            for (w, cell) in widths.iter_mut().zip(row) {
                *w = (*w).max(cell.chars().count());
            }
        }
        let mut out = String::new();
        for row in std::iter::once(&self.header).chain(&self.rows) {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                if i == 0 {
                    let _ = write!(line, "{cell:<width$}", width = widths[0]);
                } else {
                    let _ = write!(line, "  {cell:>width$}", width = widths[i]);
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.setup;
        let mode = match s.mode {
            Mode::Echo => "echo",
            Mode::SlowReaders => "slow readers",
        };
        let network = match s.faults {
            Faults::Random => "a random network per seed".to_owned(),
            Faults::Fixed(n) => format!(
                "loss {}%, duplication {}%, reordering {}%, corruption {}%, latency {} ms, \
                 jitter {} ms, outage {} ms",
                n.loss * 100.0,
                n.duplicate * 100.0,
                n.reorder * 100.0,
                n.corrupt * 100.0,
                n.latency.as_secs_f64() * 1e3,
                n.jitter.as_secs_f64() * 1e3,
                n.outage.as_secs_f64() * 1e3,
            ),
        };
        let data = match s.bytes {
            Some(n) => format!("{} bytes from the client", count(n as u64)),
            None => "random data".to_owned(),
        };
        writeln!(
            f,
            "{} seeds under {} specs in {:.1} s: {mode}, {data}",
            count(self.seeds),
            self.specs.len(),
            self.elapsed.as_secs_f64()
        )?;
        writeln!(f, "network: {network}")?;
        writeln!(f)?;

        let mut t = Table {
            header: std::iter::once(String::new())
                .chain(self.specs.iter().cloned())
                .collect(),
            rows: Vec::new(),
        };
        let each =
            |f: &dyn Fn(&Tally) -> String| -> Vec<String> { self.tallies.iter().map(f).collect() };
        t.section("connections");
        t.row("  completed", each(&|x| count(x.completed)));
        t.row(
            "  failed (an application saw an error)",
            each(&|x| count(x.runs - x.completed)),
        );
        let mut kinds: Vec<&str> = self
            .tallies
            .iter()
            .flat_map(|x| x.errors.keys().copied())
            .collect();
        kinds.sort();
        kinds.dedup();
        for k in kinds {
            t.row(
                format!("    error an application saw: {k}"),
                each(&|x| count(x.errors.get(k).copied().unwrap_or(0))),
            );
        }
        t.row(
            "  simulation failures (broken promise, not settled)",
            each(&|x| count(x.failures)),
        );
        t.section("time to complete (both saw the end of the stream)");
        t.row("  median", each(&|x| secs(quantile(&x.done, 0.5))));
        t.row("  p99", each(&|x| secs(quantile(&x.done, 0.99))));
        t.section("time to settle (both hosts hold nothing)");
        t.row("  median", each(&|x| secs(quantile(&x.settled, 0.5))));
        t.row("  p99", each(&|x| secs(quantile(&x.settled, 0.99))));
        t.section("on the wire (sent, before the link's faults)");
        t.row("  segments", each(&|x| count(x.segments)));
        t.row("  bytes", each(&|x| count(x.wire_bytes)));
        t.row(
            "  retransmissions",
            each(&|x| {
                format!(
                    "{} ({})",
                    count(x.retransmissions),
                    percent(x.retransmissions, x.segments)
                )
            }),
        );
        type Changes = BTreeMap<(&'static str, &'static str), u64>;
        type Machine = (&'static str, fn(&Tally) -> u64, fn(&Tally) -> &Changes);
        let machines: [Machine; 2] = [
            ("congestion", |x| x.cc_events, |x| &x.cc_changes),
            ("recovery", |x| x.rec_events, |x| &x.rec_changes),
        ];
        for (name, events, changes_of) in machines {
            t.section(&format!("{name} machines (both sides)"));
            t.row("  events", each(&|x| count(events(x))));
            let mut changes: Vec<(&str, &str)> = self
                .tallies
                .iter()
                .flat_map(|x| changes_of(x).keys().copied())
                .collect();
            changes.sort();
            changes.dedup();
            for (from, to) in changes {
                t.row(
                    format!("  {from} -> {to}"),
                    each(&|x| count(changes_of(x).get(&(from, to)).copied().unwrap_or(0))),
                );
            }
        }
        t.section("bytes delivered intact");
        t.row(
            "  read by the applications",
            each(&|x| format!("{} ({})", count(x.delivered), percent(x.delivered, x.meant))),
        );
        t.row("  meant to be delivered", each(&|x| count(x.meant)));
        t.section("time in each state (virtual, all connections; the listener is in LISTEN until the run settles)");
        let mut states: Vec<&str> = Vec::new();
        for names in &self.names {
            for n in &names.states {
                if !states.contains(&n.as_str()) {
                    states.push(n);
                }
            }
        }
        for state in states {
            let cells = self.tallies.iter().zip(&self.names).map(|(x, names)| {
                match names.states.iter().position(|n| n == state) {
                    Some(i) => format!("{:.1} s", x.state_time[i].as_secs_f64()),
                    None => "-".to_owned(),
                }
            });
            t.row(format!("  {state}"), cells);
        }
        t.section("first divergence from the first spec");
        let firsts = self.divergences.iter().enumerate().map(|(k, d)| match d {
            _ if k == 0 => String::new(),
            None => "none".to_owned(),
            Some(d) => {
                let at = d.this.or(d.first).map_or(Duration::ZERO, |s| s.at);
                format!("seed {} at {:.3} s", d.seed, at.as_secs_f64())
            }
        });
        t.row("  seed, virtual time", firsts);
        f.write_str(&t.render())?;

        for (k, d) in self.divergences.iter().enumerate() {
            let Some(d) = d else {
                continue;
            };
            writeln!(f)?;
            writeln!(
                f,
                "{} diverges from {} first at seed {}:",
                self.specs[k], self.specs[0], d.seed
            )?;
            let side = |s: &Step| {
                if s.side == sim::CLIENT {
                    "client"
                } else {
                    "server"
                }
            };
            let mut lines = Vec::new();
            for (spec, step) in [(&self.specs[0], d.first), (&self.specs[k], d.this)] {
                lines.push(match step {
                    Some(s) => (
                        match s.line {
                            Some(l) => format!("{spec}:{l}"),
                            None => spec.clone(),
                        },
                        format!("{} {:.3} s  {s}", side(&s), s.at.as_secs_f64()),
                    ),
                    None => (spec.clone(), "(no more steps)".to_owned()),
                });
            }
            let width = lines
                .iter()
                .map(|(a, _)| a.chars().count())
                .max()
                .unwrap_or(0);
            for (place, what) in lines {
                writeln!(f, "  {place:<width$}  {what}")?;
            }
        }
        for (spec, x) in self.specs.iter().zip(&self.tallies) {
            if let Some((seed, why)) = &x.first_failure {
                writeln!(f)?;
                writeln!(
                    f,
                    "{spec}: {} runs failed; the first, seed {seed}: {why}",
                    x.failures
                )?;
            }
        }
        Ok(())
    }
}

/// Writes, for each spec, its heat map: the spec's figure with each
/// transition drawn by how often it fired over all the runs and the states
/// never reached greyed (`DIR/<column>-<spec stem>.heat.svg`), and the
/// same counts as data (`….heat.csv`: each (transition, source state) pair,
/// indexed like `Model::edges()` and `TransitionInfo::index`, and each
/// state). `subjects` are the specs `report` was made from, in its order.
/// Answers the files written.
pub fn write_heat_maps(
    dir: &Path,
    subjects: &[Subject],
    report: &Report,
) -> std::io::Result<Vec<std::path::PathBuf>> {
    std::fs::create_dir_all(dir)?;
    let mut written = Vec::new();
    for (k, (((spec, tally), names), subject)) in report
        .specs
        .iter()
        .zip(&report.tallies)
        .zip(&report.names)
        .zip(subjects)
        .enumerate()
    {
        let stem = Path::new(spec)
            .file_stem()
            .map_or_else(|| "spec".into(), |s| s.to_string_lossy());
        let path = dir.join(format!("{}-{stem}.heat.csv", k + 1));
        // A congestion or recovery spec's map is of its own pairs and
        // states.
        let (names, fired, reached) = match &subject.side {
            Some((_, o)) => (&names_of(&o.model), &tally.side_fired, &tally.side_reached),
            None => (names, &tally.fired, &tally.reached),
        };
        let mut csv = String::from("kind,index,from,event,to,line,count\n");
        for (i, (p, n)) in names.pairs.iter().zip(fired).enumerate() {
            let _ = writeln!(
                csv,
                "pair,{i},{},{},{},{},{n}",
                p.from, p.event, p.to, p.line
            );
        }
        for (i, (name, reached)) in names.states.iter().zip(reached).enumerate() {
            let _ = writeln!(csv, "state,{i},{name},,,,{}", u8::from(*reached));
        }
        std::fs::write(&path, csv)?;
        written.push(path);
        let opts = fsm_codegen::dot::DrawOptions {
            heat: Some(fsm_codegen::figure::Heat {
                fired: fired.clone(),
                reached: reached.clone(),
            }),
            ..fsm_codegen::dot::DrawOptions::default()
        };
        let svg_path = dir.join(format!("{}-{stem}.heat.svg", k + 1));
        let model = &subject.drawn().model;
        std::fs::write(&svg_path, fsm_codegen::svg::render(model, &opts))?;
        written.push(svg_path);
    }
    Ok(written)
}

/// A spec's names, from its model (pairs in `Model::edges()` order).
fn names_of(model: &fsm_codegen::Model) -> Names {
    Names {
        states: model.states.iter().map(|s| s.name.text.clone()).collect(),
        pairs: model
            .edges()
            .map(|e| {
                let t = &model.transitions[e.transition.index()];
                Pair {
                    from: model.states[e.from.index()].name.text.clone(),
                    event: model.events[t.event.index()].name.text.clone(),
                    to: model.states[e.to.index()].name.text.clone(),
                    line: u32::try_from(t.line).unwrap_or(u32::MAX),
                }
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_are_nearest_rank() {
        let t: Vec<Duration> = (1..=100).map(Duration::from_secs).collect();
        assert_eq!(quantile(&t, 0.5), Some(Duration::from_secs(50)));
        assert_eq!(quantile(&t, 0.99), Some(Duration::from_secs(99)));
        assert_eq!(quantile(&t[..1], 0.99), Some(Duration::from_secs(1)));
        assert_eq!(quantile(&[], 0.5), None);
    }

    #[test]
    fn counts_group_digits() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(1_234_567), "1,234,567");
    }

    fn step(side: usize, from: &'static str, to: &'static str) -> Step {
        Step {
            at: Duration::ZERO,
            side,
            from,
            event: "e",
            to,
            line: Some(1),
        }
    }

    #[test]
    fn divergence_is_the_first_differing_step_or_the_end_of_one() {
        let a = [step(0, "A", "B"), step(1, "B", "C")];
        assert!(diverge(&a, &a).is_none());
        let b = [step(0, "A", "B"), step(1, "B", "D")];
        assert_eq!(diverge(&a, &b), Some((Some(a[1]), Some(b[1]))));
        assert_eq!(diverge(&a, &a[..1]), Some((Some(a[1]), None)));
    }
}
