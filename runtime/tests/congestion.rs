//! Every (transition, source state) pair of congestion.fsm (NewReno) and
//! of examples/specs/congestion/tahoe.fsm, taken by the runtime: bulk
//! transfers in the deterministic simulation over lossy, reordering
//! networks, every event of both machines held against their specs by the
//! oracle as the run goes (the simulation checks its other promises too:
//! every byte acknowledged is read, intact).
//!
//! Prints "congestion transitions covered: N/M pairs" per spec and each
//! pair with how often it fired; fails if a pair is never taken. One pair
//! of NewReno needs a loss among the data sent again after a timeout, in
//! congestion avoidance and before the recovery point, which the runs
//! here seldom draw: a sans-IO test takes it segment by segment, and this
//! test counts it from there (see [`TAKEN_ELSEWHERE`]).

use std::collections::BTreeMap;
use std::time::Duration;

use fsm_lab::oracle::Oracle;
use fsm_lab::sim::{self, Faults, Mode, Network, Observer, Setup};
use fsm_runtime::cc::{CcWords, Congestion, CongestionMachine};
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::TransitionInfo;

/// Counts the congestion machine's pairs as they fire.
#[derive(Default)]
struct Pairs(BTreeMap<u32, u64>);

impl Observer for Pairs {
    fn cc_step(&mut self, _side: usize, record: &StepRecord<CcWords>) {
        if let Some(t) = &record.transition {
            *self.0.entry(t.index).or_default() += 1;
        }
    }
}

/// The networks the runs cycle through: loss alone (fast recovery and
/// timeouts), loss with reordering (duplicate ACKs that are no loss), and
/// heavy loss with an outage (timeouts backing off, and losses again
/// while the data sent before a timeout is sent again).
fn networks() -> [Network; 3] {
    let base = Network {
        latency: Duration::from_millis(20),
        ..Network::default()
    };
    [
        Network { loss: 0.05, ..base },
        Network {
            loss: 0.02,
            reorder: 0.05,
            jitter: Duration::from_millis(2),
            ..base
        },
        Network {
            loss: 0.05,
            outage: Duration::from_millis(1500),
            ..base
        },
    ]
}

/// Runs seeds until every pair of `congestion` fired (at most `seeds`
/// runs); answers the count per pair.
fn cover(congestion: &Congestion, seeds: u64) -> BTreeMap<u32, u64> {
    let oracle = Oracle::in_workspace("tcp.fsm");
    let machine = congestion.machine();
    let mut pairs = Pairs::default();
    for seed in 0..seeds {
        let setup = Setup {
            mode: Mode::Echo,
            faults: Faults::Fixed(networks()[(seed % 3) as usize]),
            bytes: Some(150_000),
            whole: false,
            congestion: Some(congestion.clone()),
        };
        if let Err(f) = sim::run_with(&fsm_runtime::tcp::Spec, seed, &setup, &oracle, &mut pairs) {
            panic!("{} seed {seed}: {}", machine.spec(), f.message);
        }
        if pairs.0.len() == machine.pairs() {
            println!(
                "{}: every pair fired within {} seeds",
                machine.spec(),
                seed + 1
            );
            break;
        }
    }
    pairs.0
}

/// Pairs (line, source state) taken by a sans-IO test instead, with its
/// name.
const TAKEN_ELSEWHERE: &[(u32, &str, &str)] = &[(
    64,
    "CONGESTION_AVOIDANCE",
    "conn::tests::congestion::duplicate_acks_below_the_recovery_point_do_not_retransmit_in_avoidance",
)];

fn report(machine: &dyn CongestionMachine, taken: &BTreeMap<u32, u64>) {
    let elsewhere = |t: &TransitionInfo| {
        TAKEN_ELSEWHERE
            .iter()
            .find(|(line, from, _)| *line == t.line && *from == t.from)
            .filter(|_| machine.spec().ends_with("/congestion.fsm"))
            .map(|(.., test)| *test)
    };
    let by_tests = (0..machine.pairs() as u32)
        .filter(|&i| !taken.contains_key(&i) && elsewhere(&machine.transition(i)).is_some())
        .count();
    println!(
        "{}: congestion transitions covered: {}/{} pairs ({} in the simulation, {by_tests} by sans-IO tests)",
        machine.spec(),
        taken.len() + by_tests,
        machine.pairs(),
        taken.len(),
    );
    for index in 0..machine.pairs() as u32 {
        let t = machine.transition(index);
        let guard = t.guard.map(|g| format!(" [{g}]")).unwrap_or_default();
        let note = match (taken.get(&index), elsewhere(&t)) {
            (None, Some(test)) => format!("  (taken by {test})"),
            _ => String::new(),
        };
        println!(
            "  {:>7}  line {:>3}  {} -{}{}-> {}{note}",
            taken.get(&index).copied().unwrap_or(0),
            t.line,
            t.from,
            t.event,
            guard,
            t.to
        );
    }
    let missing: Vec<String> = (0..machine.pairs() as u32)
        .filter(|i| !taken.contains_key(i) && elsewhere(&machine.transition(*i)).is_none())
        .map(|i| {
            let t = machine.transition(i);
            format!("line {} from {}", t.line, t.from)
        })
        .collect();
    assert!(missing.is_empty(), "never taken: {}", missing.join("; "));
}

#[test]
fn every_pair_of_new_reno_is_taken() {
    let congestion = Congestion::new_reno();
    let taken = cover(&congestion, 600);
    report(congestion.machine(), &taken);
}

#[test]
fn every_pair_of_tahoe_is_taken() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/specs/congestion/tahoe.fsm"
    );
    let congestion = Congestion::load(path).unwrap_or_else(|e| panic!("{e}"));
    let taken = cover(&congestion, 600);
    report(congestion.machine(), &taken);
}
