//! The spec is sovereign: the same simulation under ten variants of
//! tcp.fsm in examples/specs/, every event held against the variant by the
//! oracle (read from the variant's file), every acknowledged byte read
//! unless the application saw an error, and every connection ended. Each
//! variant must also show the behaviour it was written for.

mod variant_specs;

use std::collections::HashSet;

use fsm_lab::oracle::Oracle;
use fsm_lab::sim::{Mode, run};
use fsm_runtime::vocab::Machine;
use variant_specs::*;

/// Transitions that fired, as (from, event, to).
type Fired = HashSet<(String, String, String)>;
/// (state, event) the spec refused.
type Refused = HashSet<(String, String)>;

/// Seeds per mode and variant.
const SEEDS: u64 = 300;

/// Runs `SEEDS` seeds of each mode under `M`; answers the (from, event,
/// to) transitions that fired and the events the spec refused.
fn exercise<M: Machine + Default>(file: &str) -> (Fired, Refused) {
    let oracle = Oracle::in_workspace(&format!("examples/specs/{file}.fsm"));
    let mut fired = HashSet::new();
    let mut refused = HashSet::new();
    let mut errors = 0;
    for mode in [Mode::Echo, Mode::SlowReaders] {
        for seed in 0..SEEDS {
            match run(&M::default(), seed, mode, &oracle, false) {
                Ok(o) => {
                    errors += usize::from(!o.completed);
                    fired.extend(o.fired);
                    refused.extend(o.refused_events);
                }
                Err(e) => panic!("{file}, {mode:?} seed {seed}: {e}"),
            }
        }
    }
    println!(
        "{file}: {} runs held against the spec, {errors} ended in an error the application saw; {} transitions fired, {} (state, event) refused",
        2 * SEEDS,
        fired.len(),
        refused.len()
    );
    (fired, refused)
}

fn has(set: &Fired, from: &str, event: &str, to: &str) -> bool {
    set.contains(&(from.to_owned(), event.to_owned(), to.to_owned()))
}

#[test]
fn no_time_wait_closes_at_once() {
    let (fired, _) = exercise::<no_time_wait::Spec>("no_time_wait");
    assert!(has(&fired, "FIN_WAIT_2", "rcv_fin", "CLOSED"));
    assert!(
        fired
            .iter()
            .all(|(f, _, t)| f != "TIME_WAIT" && t != "TIME_WAIT")
    );
}

#[test]
fn server_closes_on_fin_skips_close_wait() {
    let (fired, _) = exercise::<server_closes_on_fin::Spec>("server_closes_on_fin");
    assert!(has(&fired, "ESTABLISHED", "rcv_fin", "LAST_ACK"));
    assert!(!has(&fired, "ESTABLISHED", "rcv_fin", "CLOSE_WAIT"));
}

#[test]
fn no_simultaneous_open_still_serves_clients() {
    let (fired, _) = exercise::<no_simultaneous_open::Spec>("no_simultaneous_open");
    assert!(has(&fired, "SYN_SENT", "rcv_syn_ack", "ESTABLISHED"));
    assert!(!has(&fired, "SYN_SENT", "rcv_syn", "SYN_RCVD"));
}

#[test]
fn no_syn_rcvd_established_never_opens_a_passive_connection() {
    let (fired, refused) = exercise::<no_syn_rcvd_established::Spec>("no_syn_rcvd_established");
    assert!(refused.contains(&("SYN_RCVD".to_owned(), "rcv_ack".to_owned())));
    assert!(
        fired
            .iter()
            .all(|(f, _, t)| !(f == "SYN_RCVD" && t == "ESTABLISHED"))
    );
    assert!(!has(&fired, "ESTABLISHED", "rcv_fin", "CLOSE_WAIT"));
}

#[test]
fn no_close_wait_refuses_the_fin() {
    let (fired, refused) = exercise::<no_close_wait::Spec>("no_close_wait");
    assert!(refused.contains(&("ESTABLISHED".to_owned(), "rcv_fin".to_owned())));
    assert!(!has(&fired, "ESTABLISHED", "rcv_fin", "CLOSE_WAIT"));
}

#[test]
fn rst_ignored_in_established_carries_on() {
    let (fired, _) = exercise::<rst_ignored_in_established::Spec>("rst_ignored_in_established");
    assert!(!has(&fired, "ESTABLISHED", "rcv_rst", "CLOSED"));
}

#[test]
fn no_linger_arms_no_linger_timer() {
    let (fired, refused) = exercise::<no_linger::Spec>("no_linger");
    assert!(fired.iter().all(|(_, e, _)| e != "linger_timeout"));
    assert!(refused.iter().all(|(_, e)| e != "linger_timeout"));
}

#[test]
fn reset_anywhere_in_window_resets() {
    let (fired, _) = exercise::<reset_anywhere_in_window::Spec>("reset_anywhere_in_window");
    assert!(
        fired
            .iter()
            .all(|(_, e, t)| e != "rcv_rst_in_window" || t == "CLOSED")
    );
}

#[test]
fn time_wait_ignores_rst_stays_in_time_wait() {
    let (fired, _) = exercise::<time_wait_ignores_rst::Spec>("time_wait_ignores_rst");
    assert!(!has(&fired, "TIME_WAIT", "rcv_rst", "CLOSED"));
    assert!(has(&fired, "TIME_WAIT", "time_wait_timeout", "CLOSED"));
}

#[test]
fn rfc793_figure6_open_serves_clients_as_tcp_fsm_does() {
    // The figure's label changes only a simultaneous open, which these
    // runs never make (the explorer's scenario does: lab/tests/explore.rs);
    // the rest of the spec is tcp.fsm's.
    let (fired, _) = exercise::<rfc793_figure6_open::Spec>("rfc793_figure6_open");
    assert!(has(&fired, "SYN_SENT", "rcv_syn_ack", "ESTABLISHED"));
    assert!(!has(&fired, "SYN_SENT", "rcv_syn", "SYN_RCVD"));
}
