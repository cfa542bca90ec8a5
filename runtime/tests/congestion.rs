//! Every (transition, source state) pair of congestion.fsm (NewReno), of
//! examples/specs/congestion/tahoe.fsm, of recovery.fsm (RACK-TLP) and of
//! examples/specs/recovery/newreno.fsm, taken by the runtime: bulk
//! transfers in the deterministic simulation over lossy, reordering
//! networks, every event of both machines held against their specs by the
//! oracle as the run goes (the simulation checks its other promises too:
//! every byte acknowledged is read, intact).
//!
//! Prints "congestion transitions covered: N/M pairs" per spec and each
//! pair with how often it fired; fails if a pair is never taken. The
//! connections run the default recovery machine, recovery.fsm.

use std::collections::BTreeMap;
use std::time::Duration;

use fsm_lab::oracle::Oracle;
use fsm_lab::sim::{self, Faults, Mode, Network, Observer, Setup};
use fsm_runtime::cc::{CcWords, Congestion};
use fsm_runtime::recovery::{Recovery, RecoveryWords};
use fsm_runtime::side::SideMachine;
use fsm_runtime::trace::StepRecord;
use fsm_runtime::vocab::Words;

/// Counts the pairs of the congestion and recovery machines as they fire.
#[derive(Default)]
struct Pairs {
    cc: BTreeMap<u32, u64>,
    rec: BTreeMap<u32, u64>,
}

impl Observer for Pairs {
    fn cc_step(&mut self, _side: usize, record: &StepRecord<CcWords>) {
        if let Some(t) = &record.transition {
            *self.cc.entry(t.index).or_default() += 1;
        }
    }

    fn rec_step(&mut self, _side: usize, record: &StepRecord<RecoveryWords>) {
        if let Some(t) = &record.transition {
            *self.rec.entry(t.index).or_default() += 1;
        }
    }
}

/// The networks the runs cycle through: loss alone (fast recovery and
/// timeouts), loss with reordering (duplicate ACKs that are no loss),
/// heavy loss with an outage (timeouts backing off, and losses again
/// while the data sent before a timeout is sent again), and all of these
/// with a jitter that makes RTTs vary (reordering timers that expire
/// before the segment they wait for is late).
fn networks() -> [Network; 4] {
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
        Network {
            loss: 0.03,
            reorder: 0.1,
            jitter: Duration::from_millis(10),
            outage: Duration::from_millis(1500),
            ..base
        },
    ]
}

/// Runs seeds until every pair of the machine `of` picks fired (at most
/// `seeds` runs), with `congestion` and `recovery`; answers the count per
/// pair.
fn cover<W: Words>(
    congestion: &Congestion,
    recovery: &Recovery,
    seeds: u64,
    machine: &dyn SideMachine<W>,
    of: impl Fn(&Pairs) -> &BTreeMap<u32, u64>,
) -> BTreeMap<u32, u64> {
    let oracle = Oracle::in_workspace("tcp.fsm");
    let mut pairs = Pairs::default();
    for seed in 0..seeds {
        let setup = Setup {
            mode: Mode::Echo,
            faults: Faults::Fixed(networks()[(seed % 4) as usize]),
            bytes: Some(150_000),
            whole: false,
            congestion: Some(congestion.clone()),
            recovery: Some(recovery.clone()),
        };
        if let Err(f) = sim::run_with(&fsm_runtime::tcp::Spec, seed, &setup, &oracle, &mut pairs) {
            panic!("{} seed {seed}: {}", machine.spec(), f.message);
        }
        if of(&pairs).len() == machine.pairs() {
            println!(
                "{}: every pair fired within {} seeds",
                machine.spec(),
                seed + 1
            );
            break;
        }
    }
    of(&pairs).clone()
}

fn report<W: Words>(machine: &dyn SideMachine<W>, taken: &BTreeMap<u32, u64>) {
    println!(
        "{}: transitions covered: {}/{} pairs",
        machine.spec(),
        taken.len(),
        machine.pairs(),
    );
    for index in 0..machine.pairs() as u32 {
        let t = machine.transition(index);
        let guard = t.guard.map(|g| format!(" [{g}]")).unwrap_or_default();
        println!(
            "  {:>7}  line {:>3}  {} -{}{}-> {}",
            taken.get(&index).copied().unwrap_or(0),
            t.line,
            t.from,
            t.event,
            guard,
            t.to
        );
    }
    let missing: Vec<String> = (0..machine.pairs() as u32)
        .filter(|i| !taken.contains_key(i))
        .map(|i| {
            let t = machine.transition(i);
            format!("line {} from {}", t.line, t.from)
        })
        .collect();
    assert!(missing.is_empty(), "never taken: {}", missing.join("; "));
}

fn workspace(path: &str) -> String {
    format!("{}/../{path}", env!("CARGO_MANIFEST_DIR"))
}

#[test]
fn every_pair_of_new_reno_is_taken() {
    let congestion = Congestion::new_reno();
    let machine = congestion.machine();
    let taken = cover(&congestion, &Recovery::default(), 600, machine, |p| &p.cc);
    report(machine, &taken);
}

#[test]
fn every_pair_of_tahoe_is_taken() {
    let congestion = Congestion::load(workspace("examples/specs/congestion/tahoe.fsm"))
        .unwrap_or_else(|e| panic!("{e}"));
    let machine = congestion.machine();
    let taken = cover(&congestion, &Recovery::default(), 600, machine, |p| &p.cc);
    report(machine, &taken);
}

#[test]
fn every_pair_of_rack_tlp_is_taken() {
    let recovery = Recovery::rack_tlp();
    let machine = recovery.machine();
    let taken = cover(&Congestion::default(), &recovery, 4000, machine, |p| &p.rec);
    report(machine, &taken);
}

#[test]
fn every_pair_of_new_reno_recovery_is_taken() {
    let recovery = Recovery::new_reno();
    let machine = recovery.machine();
    let taken = cover(&Congestion::default(), &recovery, 4000, machine, |p| &p.rec);
    report(machine, &taken);
}

/// examples/specs/congestion/bbr.fsm, the model-based variant, over the
/// same lossy networks: every run oracle-checked, every byte acknowledged
/// read intact; the start (STARTUP, DRAIN, PROBE_BW) and a loss found
/// with the window kept are taken. (PROBE_RTT waits 10 s for the min RTT
/// to expire, longer than these transfers: not asserted here.)
#[test]
fn bbr_starts_fills_drains_and_keeps_its_window_on_loss() {
    let congestion = Congestion::load(workspace("examples/specs/congestion/bbr.fsm"))
        .unwrap_or_else(|e| panic!("{e}"));
    let machine = congestion.machine();
    let taken = cover(&congestion, &Recovery::default(), 24, machine, |p| &p.cc);
    let fired = |from: &str, event: &str, to: &str| {
        (0..machine.pairs() as u32).any(|i| {
            let t = machine.transition(i);
            t.from == from && t.event == event && t.to == to && taken.contains_key(&i)
        })
    };
    assert!(fired("STARTUP", "new_ack", "DRAIN"), "{taken:?}");
    assert!(fired("DRAIN", "new_ack", "PROBE_BW"), "{taken:?}");
    assert!(fired("PROBE_BW", "new_ack", "PROBE_BW"), "{taken:?}");
    assert!(fired("PROBE_BW", "third_dup_ack", "PROBE_BW"), "{taken:?}");
    assert!(fired("PROBE_BW", "rto", "STARTUP"), "{taken:?}");
}
