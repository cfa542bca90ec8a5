//! Deterministic simulation of two sans-IO hosts under tcp.fsm (see
//! `fsm_lab::sim`, lab/src/sim.rs, for the network and what is checked): echo runs and slow
//! readers that read only after their connection closed. Every event is
//! held against tcp.fsm by the oracle.
//!
//! `SIM_SEEDS=N` sets how many seeds run (default 5000 echo, 1000 slow
//! readers); a failure prints its seed, and `SIM_SEED=S` replays just that
//! one.

use std::time::Instant;

use fsm_lab::oracle::Oracle;
use fsm_lab::sim::{Mode, Outcome, run};
use fsm_runtime::tcp::Spec;

fn seeds(default: u64) -> Vec<u64> {
    match std::env::var("SIM_SEED") {
        Ok(s) => vec![s.parse().expect("SIM_SEED is a number")],
        Err(_) => {
            let n: u64 = std::env::var("SIM_SEEDS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(default);
            (0..n).collect()
        }
    }
}

fn run_all(mode: Mode, default: u64) -> (usize, Outcome) {
    let oracle = Oracle::in_workspace("tcp.fsm");
    let seeds = seeds(default);
    let started = Instant::now();
    let mut completed = 0;
    let mut total = Outcome::default();
    for &seed in &seeds {
        match run(&Spec, seed, mode, &oracle, true) {
            Ok(o) => {
                completed += usize::from(o.completed);
                total.bytes += o.bytes;
                total.virtual_time += o.virtual_time;
                total.lost += o.lost;
                total.duplicated += o.duplicated;
                total.corrupted += o.corrupted;
                total.malformed += o.malformed;
                total.events += o.events;
                total.refused += o.refused;
                total.cc_events += o.cc_events;
                total.rec_events += o.rec_events;
            }
            Err(e) => panic!(
                "{mode:?} seed {seed}: {e}\nreplay: SIM_SEED={seed} cargo test -p fsm-runtime --test simulation -- --nocapture"
            ),
        }
    }
    println!(
        "{mode:?}: {} seeds in {:.1}s ({:.0}s of virtual time): {completed} completed, {} ended \
         in an error the application saw; {} events held against tcp.fsm ({} refused), \
         {} against congestion.fsm, {} against recovery.fsm",
        seeds.len(),
        started.elapsed().as_secs_f64(),
        total.virtual_time.as_secs_f64(),
        seeds.len() - completed,
        total.events,
        total.refused,
        total.cc_events,
        total.rec_events
    );
    println!(
        "link faults: {} datagrams lost, {} duplicated, {} corrupted; {} dropped by the hosts as malformed",
        total.lost, total.duplicated, total.corrupted, total.malformed
    );
    (seeds.len(), total)
}

#[test]
fn every_seed_delivers_a_prefix_in_order_and_both_sides_close() {
    let (n, total) = run_all(Mode::Echo, 5000);
    if n >= 100 {
        assert!(
            total.lost > 0 && total.duplicated > 0 && total.corrupted > 0,
            "the faults happened"
        );
        assert_eq!(
            total.malformed, total.corrupted,
            "every corrupted datagram was caught by a checksum"
        );
    }
}

#[test]
fn slow_readers_read_every_acknowledged_byte_after_the_connection_closed() {
    run_all(Mode::SlowReaders, 1000);
}
