//! The bottleneck keeps what it promises: the queue never holds more than
//! its size, the link never carries more than its rate, what arrives is
//! what was sent; and a sender with no congestion control overruns the
//! queue.

use std::time::Duration;

use fsm_lab::bottleneck::{self, Link, Run, Scenario};
use fsm_runtime::cc::Congestion;
use fsm_runtime::recovery::Recovery;

/// 10 Mbit/s, 20 ms round trip (a BDP of 25 kB), a queue of one BDP.
fn link() -> Link {
    Link {
        rate: 10_000_000,
        delay: Duration::from_millis(10),
        queue: 25_000,
    }
}

fn scenario(flows: usize, congestion: Congestion) -> Scenario {
    let mut s = Scenario::new(link(), flows, Duration::from_secs(3), congestion);
    s.start_gap = Duration::from_millis(500);
    s.buffer = 256 * 1024;
    s
}

fn run(s: &Scenario) -> Run {
    bottleneck::run(s, &mut |_| {}).unwrap_or_else(|e| panic!("{e}"))
}

fn no_congestion_control() -> Congestion {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../examples/specs/congestion/no_congestion_control.fsm"
    );
    Congestion::load(path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// What every run must show, whatever the congestion machine.
fn check_promises(r: &Run) {
    let s = &r.scenario;
    assert!(
        r.max_queued <= s.link.queue,
        "queue held {} bytes, size {}",
        r.max_queued,
        s.link.queue
    );
    assert!(r.link.iter().all(|l| l.queued <= s.link.queue));
    // Between any two samples the link carried at most what its rate
    // allows, plus the datagram that was being serialised at the start.
    for w in r.link.windows(2) {
        let allowed = s.link.rate as f64 * (w[1].at - w[0].at).as_secs_f64() / 8.0 + 1_600.0;
        assert!(
            (w[1].carried - w[0].carried) as f64 <= allowed,
            "{} bytes carried between {:?} and {:?}",
            w[1].carried - w[0].carried,
            w[0].at,
            w[1].at
        );
    }
    let goodput: u64 = r.flows.iter().map(|f| f.delivered).sum();
    assert!(goodput as f64 * 8.0 <= s.link.rate as f64 * s.duration.as_secs_f64());
    // (Plus the datagram being serialised when the measure starts.)
    let window = (s.duration - s.measure_from).as_secs_f64();
    let slack = 1_600.0 * 8.0 / (s.link.rate as f64 * window);
    assert!(
        r.utilisation() <= 1.0 + slack,
        "utilisation {}",
        r.utilisation()
    );
    for (i, f) in r.flows.iter().enumerate() {
        assert!(f.delivered > 0, "flow {i} delivered nothing");
        assert!(f.delivered <= f.written, "flow {i}");
        assert_eq!(f.samples.last().map(|x| x.delivered), Some(f.delivered));
    }
    assert_eq!(
        r.drops,
        r.flows.iter().map(|f| f.drops).sum::<u64>(),
        "drops counted per flow and per link"
    );
}

#[test]
fn new_reno_keeps_the_promises() {
    let r = run(&scenario(2, Congestion::new_reno()));
    check_promises(&r);
}

#[test]
fn no_congestion_control_overruns_the_queue() {
    // With NewReno's recovery, which pauses for timeouts: RACK-TLP
    // repairs without pausing, and an uncontrolled first flow then keeps
    // the queue so full that the second one's SYNs never get through.
    let mut s = scenario(2, no_congestion_control());
    s.recovery = Recovery::new_reno();
    let r = run(&s);
    check_promises(&r);
    assert!(r.drops > 0, "no drops");
    assert!(r.retransmissions() > 0, "no retransmissions");
    // A full queue is a full queue: it got within a datagram of its size.
    assert!(r.max_queued + 1_600 > r.scenario.link.queue);
}

#[test]
fn jain_index() {
    assert_eq!(bottleneck::jain(&[1.0, 1.0, 1.0, 1.0]), 1.0);
    assert!((bottleneck::jain(&[1.0, 0.0, 0.0, 0.0]) - 0.25).abs() < 1e-12);
    assert!((bottleneck::jain(&[3.0, 1.0]) - 0.8).abs() < 1e-12);
}

#[test]
fn link_arithmetic() {
    let l = Link {
        rate: 100_000_000,
        delay: Duration::from_millis(10),
        queue: 0,
    };
    assert_eq!(l.bdp(), 250_000);
    assert_eq!(l.serialise(1_500), Duration::from_micros(120));
}
