//! The congestion machine (NewReno from `congestion.fsm` unless a test
//! binds another) and delayed ACKs, segment by segment, with NewReno's
//! recovery machine (`examples/specs/recovery/newreno.fsm`; the default,
//! RACK-TLP, has tests of its own in `recovery.rs`). Segments are
//! [`MSS`] = 100 bytes; the peer opens its window wide so that only cwnd
//! limits what we send.

use super::*;
use crate::cc::Congestion;
use crate::recovery::Recovery;

/// The peer's window in these tests: wider than any cwnd they reach.
const WIDE: u16 = 4000;

/// The tests' configuration with NewReno's recovery machine.
fn newreno() -> Config {
    Config {
        recovery: Recovery::new_reno(),
        ..config()
    }
}

fn connection(config: Config) -> TestConn {
    let mut t = TestConn::<Spec>::new(config).connect().establish();
    let una = t.iss + 1;
    // Open the peer's window wide.
    t.segment(seg(NXT).ack(una).win(WIDE));
    assert_eq!(t.outputs(), []);
    t
}

/// An established connection whose initial window is `segments`.
fn with_initial_window(segments: u32) -> TestConn {
    connection(Config {
        initial_window: Some(segments),
        ..newreno()
    })
}

fn ack(t: &mut TestConn, through: usize) {
    let a = t.iss + 1 + through;
    t.segment(seg(NXT).ack(a).win(WIDE));
}

fn window(t: &TestConn) -> (&'static str, u32, u32) {
    let v = t.conn.congestion().expect("a TCB");
    (v.state, v.cwnd, v.ssthresh)
}

#[test]
fn the_initial_window_follows_rfc_6928_or_the_config() {
    // min(10 * 100, max(2 * 100, 14600)) = 1000 bytes: ten segments.
    let mut t = connection(newreno());
    t.send(&[7; 2000]);
    assert_eq!(t.sent().len(), 10);
    assert_eq!(window(&t), ("SLOW_START", 1000, u32::MAX));
    let mut t = with_initial_window(2);
    t.send(&[7; 2000]);
    assert_eq!(t.sent(), [(1, 100), (101, 100)]);
}

#[test]
fn slow_start_grows_by_the_bytes_acknowledged() {
    let mut t = with_initial_window(2);
    t.send(&[7; 2000]);
    assert_eq!(t.sent().len(), 2);
    ack(&mut t, 100);
    // cwnd 300, 100 in flight: two more.
    assert_eq!(window(&t).1, 300);
    assert_eq!(t.sent(), [(201, 100), (301, 100)]);
    // One ACK of three segments (a receiver acknowledging a batch): all
    // 300 bytes count.
    ack(&mut t, 400);
    assert_eq!(window(&t).1, 600);
    assert_eq!(t.sent().len(), 6);
}

/// Ten segments out under `config`, then a timeout: ssthresh 500,
/// recover ISS + 1001, cwnd one segment, the first segment sent again.
fn after_a_timeout(config: Config) -> TestConn {
    let mut t = connection(config);
    t.send(&[7; 1000]);
    assert_eq!(t.sent().len(), 10);
    t.fire_deadline();
    assert_eq!(window(&t), ("SLOW_START", 100, 500));
    // Go back to SND.UNA, one segment at a time.
    assert_eq!(t.sent(), [(1, 100)]);
    t
}

/// Ten segments out; the first acknowledged, then three duplicate ACKs
/// for the second.
fn after_three_duplicate_acks() -> TestConn {
    let mut t = connection(newreno());
    t.send(&[7; 1000]);
    assert_eq!(t.sent().len(), 10);
    ack(&mut t, 100);
    assert_eq!(window(&t), ("SLOW_START", 1100, u32::MAX));
    for _ in 0..2 {
        ack(&mut t, 100);
        assert_eq!(t.sent(), [], "no retransmission before the third");
    }
    ack(&mut t, 100);
    t
}

#[test]
fn the_third_duplicate_ack_retransmits_and_enters_fast_recovery() {
    let mut t = after_three_duplicate_acks();
    // ssthresh = FlightSize / 2 = 900 / 2; cwnd = ssthresh + 3 * SMSS.
    assert_eq!(window(&t), ("FAST_RECOVERY", 750, 450));
    assert_eq!(t.sent(), [(101, 100)]);
    // Each further duplicate ACK inflates cwnd by one segment.
    ack(&mut t, 100);
    assert_eq!(window(&t), ("FAST_RECOVERY", 850, 450));
}

#[test]
fn a_partial_ack_retransmits_the_next_hole_and_a_full_ack_ends_recovery() {
    let mut t = after_three_duplicate_acks();
    assert_eq!(t.sent().len(), 1);
    // A partial ACK (recover is ISS + 1001): the next hole goes out.
    ack(&mut t, 300);
    assert_eq!(window(&t).0, "FAST_RECOVERY");
    // cwnd = 750 - 200 + 100.
    assert_eq!(window(&t).1, 650);
    assert_eq!(t.sent(), [(301, 100)]);
    // A full ACK: cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS).
    ack(&mut t, 1000);
    assert_eq!(window(&t), ("CONGESTION_AVOIDANCE", 200, 450));
}

#[test]
fn only_the_first_partial_ack_of_a_recovery_restarts_the_timer() {
    // RFC 6582 3.2 step 5 (the "Impatient" variant): after the first
    // partial ACK the timer keeps running, so a window that lost many
    // segments ends in a timeout rather than one repair per round trip.
    let mut t = after_three_duplicate_acks();
    assert_eq!(t.sent().len(), 1);
    t.elapse(Duration::from_millis(10));
    ack(&mut t, 200);
    assert_eq!(t.sent(), [(201, 100)]);
    let first = t.deadline().expect("data outstanding");
    t.elapse(Duration::from_millis(10));
    ack(&mut t, 300);
    assert_eq!(t.sent(), [(301, 100)], "a partial ACK");
    assert_eq!(t.deadline(), Some(first), "the timer was not restarted");
    // The full ACK ends the recovery; the timer stops, nothing being
    // outstanding.
    t.elapse(Duration::from_millis(10));
    ack(&mut t, 1000);
    assert_eq!(window(&t).0, "CONGESTION_AVOIDANCE");
    assert_eq!(t.deadline(), None);
}

#[test]
fn after_a_timeout_an_ack_below_the_recovery_point_grows_cwnd_by_one_segment() {
    // RFC 3465 2.3: the retransmission filled a hole and the peer, which
    // held all the rest, acknowledges it at once; counting all those bytes
    // would send a burst of them.
    let mut t = after_a_timeout(config());
    ack(&mut t, 900);
    assert_eq!(window(&t), ("SLOW_START", 200, 500));
    // Past the recovery point, slow start counts every byte again.
    ack(&mut t, 1000);
    assert_eq!(window(&t), ("SLOW_START", 300, 500));
}

#[test]
fn a_timeout_restarts_slow_start_from_one_segment_and_backs_off_once() {
    let mut t = after_a_timeout(config());
    t.fire_deadline();
    assert_eq!(window(&t), ("SLOW_START", 100, 500), "ssthresh kept");
    assert_eq!(t.sent(), [(1, 100)]);
    // Duplicate ACKs that do not cover the recovery point (the data sent
    // before the timeout) do not start a fast retransmit.
    ack(&mut t, 100);
    for _ in 0..3 {
        ack(&mut t, 100);
    }
    assert_eq!(window(&t).0, "SLOW_START");
    assert_eq!(t.sent(), [(101, 100), (201, 100)]);
}

/// Recovery without fast retransmit: a loss waits for the timer.
const NO_FAST_RETRANSMIT: &str = r#"machine Slow "timeouts only"
state OPEN initial "waiting for the timer"
event rto timer "timeout"
action mark_recovery "recover = SND.MAX"
OPEN -> same on rto / mark_recovery
"#;

#[test]
fn a_recovery_spec_without_retransmit_leaves_losses_to_the_timer() {
    let slow = Recovery::compile("slow.fsm", NO_FAST_RETRANSMIT).expect("a recovery spec");
    let mut t = connection(Config {
        recovery: slow,
        ..config()
    });
    t.send(&[7; 1000]);
    assert_eq!(t.sent().len(), 10);
    for _ in 0..4 {
        ack(&mut t, 100);
    }
    // One new segment for the new ACK, no retransmission for the rest.
    assert_eq!(t.sent(), []);
    assert_eq!(window(&t), ("SLOW_START", 1100, u32::MAX));
}

#[test]
fn a_tcp_spec_is_not_a_congestion_spec() {
    let tcp = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm"))
        .expect("tcp.fsm");
    let text = Congestion::compile("tcp.fsm", &tcp).unwrap_err().render();
    assert!(
        text.contains("is not in the vocabulary `fsm_runtime::cc`"),
        "{text}"
    );
}

// -- delayed ACKs -------------------------------------------------------------

fn delayed() -> TestConn {
    connection(Config {
        ack_delay: ms(200),
        ..newreno()
    })
}

#[test]
fn one_segment_is_acknowledged_after_the_delay() {
    let mut t = delayed();
    let una = t.iss + 1;
    let start = t.now;
    t.segment(seg(NXT).ack(una).data(&[1; 100]));
    assert_eq!(t.outputs(), []);
    assert_eq!(t.fire_deadline(), start + ms(200));
    assert_eq!(t.outputs(), [seg(una).ack(NXT + 100).win(WIN - 100)]);
    assert_eq!(t.deadline(), None);
}

#[test]
fn every_second_full_sized_segment_is_acknowledged_at_once() {
    let mut t = delayed();
    let una = t.iss + 1;
    t.segment(seg(NXT).ack(una).data(&[1; 100]));
    assert_eq!(t.outputs(), []);
    t.segment(seg(NXT + 100).ack(una).data(&[2; 100]));
    assert_eq!(t.outputs(), [seg(una).ack(NXT + 200).win(WIN - 200)]);
    assert_eq!(t.deadline(), None, "nothing owed");
}

#[test]
fn out_of_order_data_and_the_segment_filling_the_hole_are_acknowledged_at_once() {
    let mut t = delayed();
    let una = t.iss + 1;
    t.segment(seg(NXT + 100).ack(una).data(&[2; 100]));
    assert_eq!(t.outputs(), [seg(una).ack(NXT).win(WIN)], "a duplicate ACK");
    t.segment(seg(NXT).ack(una).data(&[1; 100]));
    assert_eq!(t.outputs(), [seg(una).ack(NXT + 200).win(WIN - 200)]);
}

#[test]
fn a_delayed_ack_rides_on_data() {
    let mut t = delayed();
    let una = t.iss + 1;
    t.segment(seg(NXT).ack(una).data(&[1; 50]));
    assert_eq!(t.outputs(), []);
    t.send(b"reply");
    assert_eq!(
        t.outputs(),
        [seg(una).ack(NXT + 50).win(WIN - 50).psh().data(b"reply")]
    );
    // Only the retransmission timer of the reply is left.
    assert_eq!(t.deadline(), Some(t.now + secs(1)));
}

#[test]
fn duplicate_acks_below_the_recovery_point_do_not_retransmit_in_avoidance() {
    let mut t = after_a_timeout(Config {
        record_steps: true,
        ..newreno()
    });
    // Below the recovery point, one SMSS per ACK (RFC 3465 2.3).
    for (through, more) in [(100, 2), (300, 3), (600, 4)] {
        ack(&mut t, through);
        assert_eq!(t.sent().len(), more, "after the ACK of {through}");
    }
    assert_eq!(window(&t), ("SLOW_START", 400, 500));
    ack(&mut t, 700);
    assert_eq!(window(&t), ("SLOW_START", 500, 500));
    ack(&mut t, 800);
    assert_eq!(window(&t).0, "CONGESTION_AVOIDANCE");
    // Three duplicate ACKs of 800, below the recovery point: data sent
    // before the timeout, not a new loss.
    for _ in 0..3 {
        ack(&mut t, 800);
    }
    assert_eq!(window(&t).0, "CONGESTION_AVOIDANCE");
    assert_eq!(t.sent(), [], "no fast retransmit");
    let last = t.conn.take_rec_steps().next_back().expect("recorded");
    // The recovery machine's pair `OPEN -> same on dup_ack [dup_threshold
    // && !covers_recovery]`: the congestion machine hears no loss.
    assert_eq!(
        last.transition.map(|p| (p.from, p.event, p.guard)),
        Some(("OPEN", "dup_ack", Some("dup_threshold && !covers_recovery")))
    );
}

#[test]
fn each_out_of_order_segment_of_a_batch_draws_its_own_duplicate_ack() {
    // Three segments past a hole arrive before we send anything (one
    // batch of datagrams): three duplicate ACKs, so that the peer can
    // retransmit fast (RFC 5681 4.2), not one.
    let mut t = delayed();
    let una = t.iss + 1;
    for k in 1..=3 {
        t.segment(seg(NXT + 100 * k).ack(una).data(&[k as u8; 100]));
    }
    let dup = seg(una).ack(NXT).win(WIN);
    assert_eq!(t.outputs(), [dup.clone(), dup.clone(), dup]);
    // The segment that fills the hole: one ACK of everything.
    t.segment(seg(NXT).ack(una).data(&[0; 100]));
    assert_eq!(t.outputs(), [seg(una).ack(NXT + 400).win(WIN - 400)]);
}
