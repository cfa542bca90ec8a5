//! The spec is sovereign, whatever the spec: every single-transition
//! mutant of tcp.fsm that `fsm check` accepts (a transition dropped,
//! retargeted, its actions reversed, one of its actions removed), loaded
//! at run time and driven through the deterministic simulation. For each:
//! the oracle (reading the mutant) accepts every event, no acknowledged
//! byte is lost, nothing panics, and every connection ends (CLOSED, or an
//! error its application sees) or sits in a state `fsm check` warns can be
//! left only on segment events.
//!
//! "Ends" is the spec's word, not the host's: a mutant that reaches CLOSED
//! without `delete_tcb` keeps its TCB, and the host holds the connection
//! (in CLOSED) as the spec says. A listener's child that a mutant keeps
//! from opening (no `send_syn_ack`) waits in the listener's half-open
//! queue, where no application can act on it and `Config::syn_backlog`
//! bounds how many there are. Both are counted and printed apart.
//!
//! The same for congestion.fsm: every single-transition mutant `fsm check`
//! accepts, loaded as the congestion machine of both hosts (tcp.fsm
//! compiled in for the connections), over the simulation's random lossy
//! networks: the oracle (reading the mutant) accepts every event of both
//! machines, no acknowledged byte is lost, nothing panics, and every run
//! settles (a congestion spec cannot keep a connection open).
//!
//! The same for recovery.fsm, loaded as the recovery machine of both
//! hosts: a mutant that takes no loss as lost, or sends nothing again,
//! still loses no acknowledged byte (the timer and going back to SND.UNA
//! are the runtime's last resort), and every event it hears is held
//! against it.
//!
//! `MUTANTS=N` runs the first N of the shuffled list (default: all);
//! `MUTANT=I` replays mutant I alone (of tcp.fsm; `CC_MUTANT=I` of
//! congestion.fsm, `REC_MUTANT=I` of recovery.fsm).

use std::collections::HashSet;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use fsm_codegen::model::{StateId, Target};
use fsm_codegen::{Model, Spec};
use fsm_lab::oracle::Oracle;
use fsm_lab::sim::{Mode, Setup, run, run_with};
use fsm_runtime::cc::Congestion;
use fsm_runtime::fault::SplitMix64;
use fsm_runtime::loaded::Loaded;
use fsm_runtime::recovery::Recovery;

const TCP: &str = include_str!("../../tcp.fsm");
const CONGESTION: &str = include_str!("../../congestion.fsm");
const RECOVERY: &str = include_str!("../../recovery.fsm");

/// Seeds per mode for each mutant.
const SEEDS: u64 = 10;

/// One change to one transition declaration.
#[derive(Clone, Debug)]
enum Mutation {
    Drop,
    Retarget(Target),
    ReverseActions,
    RemoveAction(usize),
}

/// Every single mutation of `model`: (declaration index, mutation).
fn mutations(model: &Model) -> Vec<(usize, Mutation)> {
    let mut out = Vec::new();
    for (i, t) in model.transitions.iter().enumerate() {
        out.push((i, Mutation::Drop));
        let targets = (0..model.states.len())
            .map(|s| Target::State(StateId(s)))
            .chain([Target::Same]);
        for target in targets.filter(|x| *x != t.target) {
            out.push((i, Mutation::Retarget(target)));
        }
        if t.actions.len() > 1 {
            out.push((i, Mutation::ReverseActions));
        }
        for a in 0..t.actions.len() {
            out.push((i, Mutation::RemoveAction(a)));
        }
    }
    out
}

fn mutate(model: &Model, decl: usize, m: &Mutation) -> Model {
    let mut model = model.clone();
    match m {
        Mutation::Drop => {
            model.transitions.remove(decl);
        }
        Mutation::Retarget(to) => model.transitions[decl].target = *to,
        Mutation::ReverseActions => model.transitions[decl].actions.reverse(),
        Mutation::RemoveAction(a) => {
            model.transitions[decl].actions.remove(*a);
        }
    }
    model
}

/// `line 119 (FIN_WAIT_1 -> FIN_WAIT_2 on rcv_ack): retargeted to CLOSED`
fn describe(source: &str, model: &Model, decl: usize, m: &Mutation) -> String {
    let t = &model.transitions[decl];
    let what = match m {
        Mutation::Drop => "dropped".to_owned(),
        Mutation::Retarget(Target::Same) => "retargeted to `same`".to_owned(),
        Mutation::Retarget(Target::State(s)) => {
            format!("retargeted to {}", model.states[s.index()].name.text)
        }
        Mutation::ReverseActions => "actions reversed".to_owned(),
        Mutation::RemoveAction(a) => format!(
            "action {} removed",
            model.actions[t.actions[*a].index()].name.text
        ),
    };
    let line = source.lines().nth(t.line - 1).unwrap_or("").trim();
    let line = line.split("//").next().unwrap_or(line).trim_end();
    format!("line {} ({line}): {what}", t.line)
}

/// The states `fsm check` warns can be left only on segment events.
fn flagged(spec: &Spec) -> HashSet<String> {
    spec.warnings
        .iter()
        .filter(|d| d.message.contains("can be left only on segment events"))
        .filter_map(|d| d.message.split('`').nth(1).map(str::to_owned))
        .collect()
}

/// A mutant that checks, ready to run.
struct Mutant {
    what: String,
    loaded: Loaded,
    oracle: Oracle,
    flagged: HashSet<String>,
}

/// `base` with one mutation, as the spec `name`, if `fsm check` accepts it
/// (its warnings kept).
fn checked(base: &Spec, name: &str, decl: usize, m: &Mutation) -> Option<Spec> {
    let model = mutate(&base.model, decl, m);
    let diags = fsm_codegen::check::check(&model, &base.source);
    if diags.iter().any(|d| d.is_error()) {
        return None;
    }
    Some(Spec {
        file_name: name.to_owned(),
        source: base.source.clone(),
        model,
        warnings: diags,
    })
}

/// The mutant, if `fsm check` and the vocabulary accept it.
fn accept(base: &Spec, decl: usize, m: &Mutation) -> Option<Mutant> {
    let spec = checked(base, "tcp.fsm (mutant)", decl, m)?;
    let model = spec.model.clone();
    let flagged = flagged(&spec);
    let loaded = Loaded::from_spec(spec).ok()?;
    Some(Mutant {
        what: describe(TCP, &base.model, decl, m),
        loaded,
        oracle: Oracle {
            model,
            name: "tcp.fsm (mutant)".to_owned(),
        },
        flagged,
    })
}

/// How a mutant's runs ended.
#[derive(Default)]
struct Ends {
    /// Settled: every connection gone.
    settled: usize,
    /// Connections left in the initial state (CLOSED), TCB kept.
    initial: usize,
    /// Connections left in a state `fsm check` flags.
    flagged: usize,
    /// Listeners' children never opened.
    unaccepted: usize,
}

/// Runs one mutant over every seed; `Err` says what broke.
fn exercise(mutant: &Mutant, seed_base: u64) -> Result<Ends, String> {
    let mut ends = Ends::default();
    let initial = mutant.oracle.initial().to_owned();
    for mode in [Mode::Echo, Mode::SlowReaders] {
        for seed in seed_base..seed_base + SEEDS {
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run(&mutant.loaded, seed, mode, &mutant.oracle, false)
            }))
            .map_err(|p| {
                let why = p
                    .downcast_ref::<String>()
                    .cloned()
                    .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                    .unwrap_or_default();
                format!("{mode:?} seed {seed}: panicked: {why}")
            })?;
            let stuck = match outcome {
                Ok(_) => {
                    ends.settled += 1;
                    continue;
                }
                Err(f) => match f.stuck {
                    Some(stuck) => stuck,
                    None => return Err(format!("{mode:?} seed {seed}: {f}")),
                },
            };
            for s in stuck {
                if s.state == initial {
                    ends.initial += 1;
                } else if mutant.flagged.contains(&s.state) {
                    ends.flagged += 1;
                } else if s.unaccepted {
                    ends.unaccepted += 1;
                } else {
                    return Err(format!(
                        "{mode:?} seed {seed}: a connection hangs in {}, which fsm check does \
                         not flag",
                        s.state
                    ));
                }
            }
        }
    }
    Ok(ends)
}

/// Every mutation of `model`, in a fixed shuffle (so that `MUTANTS=N`
/// samples the spec), and the indices to run: all, the first `MUTANTS`,
/// or the one `replay` names.
fn chosen(model: &Model, replay: &str) -> (Vec<(usize, Mutation)>, Vec<usize>) {
    let mut all = mutations(model);
    let mut rng = SplitMix64::new(0x9e37_79b9_7f4a_7c15);
    for i in (1..all.len()).rev() {
        all.swap(i, rng.below(i as u64 + 1) as usize);
    }
    let chosen = match std::env::var(replay) {
        Ok(i) => vec![i.parse().expect("a mutant's number")],
        Err(_) => {
            let n = std::env::var("MUTANTS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(all.len());
            (0..n.min(all.len())).collect()
        }
    };
    (all, chosen)
}

#[test]
fn every_mutant_of_tcp_fsm_keeps_the_promises() {
    let base = fsm_codegen::compile("tcp.fsm", TCP).expect("tcp.fsm checks");
    let (all, chosen) = chosen(&base.model, "MUTANT");
    let started = Instant::now();
    let next = AtomicUsize::new(0);
    let tally = Mutex::new((0usize, 0usize, Ends::default(), Vec::new()));
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                while let Some(&i) = chosen.get(next.fetch_add(1, Ordering::Relaxed)) {
                    let (decl, m) = &all[i];
                    let Some(mutant) = accept(&base, *decl, m) else {
                        tally.lock().unwrap().1 += 1;
                        continue;
                    };
                    let result = exercise(&mutant, i as u64 * 1000);
                    let mut t = tally.lock().unwrap();
                    t.0 += 1;
                    match result {
                        Ok(e) => {
                            t.2.settled += e.settled;
                            t.2.initial += e.initial;
                            t.2.flagged += e.flagged;
                            t.2.unaccepted += e.unaccepted;
                        }
                        Err(e) => t.3.push(format!(
                            "mutant {i}, {}: {e}\nreplay: MUTANT={i} cargo test -p fsm-runtime --test mutants",
                            mutant.what
                        )),
                    }
                }
            });
        }
    });
    let (run_, rejected, ends, failures) = tally.into_inner().unwrap();
    println!(
        "{} mutants of tcp.fsm in {:.1}s: {run_} accepted by fsm check and run, {} runs each \
         ({rejected} rejected by fsm check); {} runs settled; connections left in CLOSED with \
         their TCB: {}, in a state fsm check flags: {}, unaccepted children never opened: {}; \
         {} mutants failed",
        chosen.len(),
        started.elapsed().as_secs_f64(),
        2 * SEEDS,
        ends.settled,
        ends.initial,
        ends.flagged,
        ends.unaccepted,
        failures.len()
    );
    judge(&failures, chosen.len() == all.len(), run_, 200);
}

/// A side machine for both hosts: a congestion machine or a recovery
/// machine (`None`: the default).
type Sides = (Option<Congestion>, Option<Recovery>);

/// Every mutant of `source` (the spec `name` of a side machine), bound by
/// `bind` into the setup of both hosts, run over [`SEEDS`] random lossy
/// networks each; `env` replays one. At least `least` must run.
fn side_mutants(
    name: &str,
    source: &str,
    env: &str,
    least: usize,
    bind: impl Fn(Spec) -> Option<Sides>,
) {
    let base = fsm_codegen::compile(name, source).expect("the spec checks");
    let (all, chosen) = chosen(&base.model, env);
    let oracle = Oracle::in_workspace("tcp.fsm");
    let started = Instant::now();
    let (mut run_, mut rejected, mut events, mut failures) = (0, 0, 0u64, Vec::new());
    for &i in &chosen {
        let (decl, m) = &all[i];
        let mutant = checked(&base, &format!("{name} (mutant)"), *decl, m).and_then(&bind);
        let Some((congestion, recovery)) = mutant else {
            rejected += 1;
            continue;
        };
        let what = describe(source, &base.model, *decl, m);
        run_ += 1;
        for seed in i as u64 * 1000..i as u64 * 1000 + SEEDS {
            let setup = Setup {
                congestion: congestion.clone(),
                recovery: recovery.clone(),
                ..Setup::random(Mode::Echo, true)
            };
            let outcome = catch_unwind(AssertUnwindSafe(|| {
                run_with(&fsm_runtime::tcp::Spec, seed, &setup, &oracle, &mut ())
            }));
            let why = match outcome {
                Ok(Ok(o)) => {
                    events += o.cc_events + o.rec_events;
                    continue;
                }
                Ok(Err(f)) => f.message,
                Err(_) => "panicked".to_owned(),
            };
            failures.push(format!(
                "mutant {i}, {what}: seed {seed}: {why}\nreplay: {env}={i} cargo test -p fsm-runtime --test mutants"
            ));
            break;
        }
    }
    println!(
        "{} mutants of {name} in {:.1}s: {run_} accepted by fsm check and run, {SEEDS} \
         runs each ({rejected} rejected by fsm check); {events} events of its machine and \
         the other side machine held against their specs; {} mutants failed",
        chosen.len(),
        started.elapsed().as_secs_f64(),
        failures.len()
    );
    judge(&failures, chosen.len() == all.len(), run_, least);
}

#[test]
fn every_mutant_of_congestion_fsm_keeps_the_promises() {
    side_mutants("congestion.fsm", CONGESTION, "CC_MUTANT", 50, |spec| {
        Some((Some(Congestion::from_spec(spec).ok()?), None))
    });
}

#[test]
fn every_mutant_of_recovery_fsm_keeps_the_promises() {
    side_mutants("recovery.fsm", RECOVERY, "REC_MUTANT", 130, |spec| {
        Some((None, Some(Recovery::from_spec(spec).ok()?)))
    });
}

/// Prints the first failures and fails on any; when every mutant was
/// chosen, at least `least` must have run.
fn judge(failures: &[String], all_chosen: bool, run: usize, least: usize) {
    for f in failures.iter().take(20) {
        println!("{f}\n");
    }
    assert!(
        failures.is_empty(),
        "{} mutants broke a promise",
        failures.len()
    );
    if all_chosen {
        assert!(run >= least, "only {run} mutants were accepted");
    }
}
