//! The recovery machine (RACK-TLP from `recovery.fsm` unless a test binds
//! another) as a sender with a SACK peer, segment by segment: which
//! segments RACK takes as lost and when, what goes out again and how
//! much PRR lets out, Limited Transmit, tail loss probes, and blocks that
//! lie. Segments are [`MSS`] = 100 bytes; the round trip is 100 ms.

use super::*;
use crate::recovery::Recovery;

/// The peer's window: wider than any cwnd these tests reach.
const WIDE: u16 = 8000;
const RTT: Duration = Duration::from_millis(100);

fn rack_config() -> Config {
    Config {
        sack: true,
        send_buffer: 8000,
        ..config()
    }
}

/// An established connection (we connected, SACK on both SYNs, a 100 ms
/// round trip for the SYN), under `config`.
fn established(config: Config) -> TestConn {
    let mut t = TestConn::<Spec>::new(config);
    t.with_env(|c, env| c.open_active(env, REMOTE, None))
        .expect("active OPEN");
    t.iss = t.isn_now();
    assert_eq!(t.outputs().len(), 1, "our SYN");
    t.elapse(RTT);
    t.segment(seg(IRS).syn().ack(t.iss + 1).mss(MSS).sack_ok().win(WIDE));
    assert_eq!(t.outputs(), [seg(t.iss + 1).ack(NXT)]);
    t
}

/// The peer's ACK of everything before byte `through` (from the first
/// data byte), with SACK blocks of bytes `[left, right)`.
fn ack(t: &mut TestConn, through: usize, blocks: &[(usize, usize)]) {
    let una = t.iss + 1;
    let blocks: Vec<(SeqNum, SeqNum)> = blocks.iter().map(|&(l, r)| (una + l, una + r)).collect();
    t.segment(seg(NXT).ack(una + through).win(WIDE).sack(&blocks));
}

fn recovery_state(t: &TestConn) -> &'static str {
    t.conn.recovery_state().expect("a TCB")
}

/// An initial window of `segments`, `bytes` queued, a window's worth out
/// one round trip ago.
fn out(segments: u32, bytes: usize) -> TestConn {
    let mut t = established(Config {
        initial_window: Some(segments),
        ..rack_config()
    });
    t.send(&vec![7; bytes]);
    assert_eq!(t.sent().len(), segments as usize, "a window out");
    t.elapse(RTT);
    t
}

/// Ten segments out, one round trip ago.
fn ten_out(config: Config) -> TestConn {
    let mut t = established(config);
    t.send(&[7; 1000]);
    assert_eq!(t.sent().len(), 10);
    t.elapse(RTT);
    t
}

#[test]
fn three_segments_sacked_above_a_hole_send_it_again_at_once() {
    let mut t = ten_out(rack_config());
    // One ACK: the first segment missing, the other nine held. With
    // DupThresh segments SACKed and no reordering seen, RACK's window is
    // zero: the first segment, sent before the ones delivered, is lost.
    ack(&mut t, 0, &[(100, 1000)]);
    assert_eq!(recovery_state(&t), "RECOVERY");
    assert_eq!(t.conn.congestion().expect("a TCB").state, "FAST_RECOVERY");
    assert_eq!(t.sent(), [(1, 100)], "the hole, once");
    ack(&mut t, 1000, &[]);
    assert_eq!(recovery_state(&t), "OPEN");
    assert_eq!(t.sent(), []);
}

#[test]
fn every_hole_goes_out_in_one_round_trip_where_newreno_needs_one_each() {
    // Segments 1 and 5 lost.
    let blocks = [(100, 400), (500, 1000)];
    let mut t = ten_out(rack_config());
    ack(&mut t, 0, &blocks);
    assert_eq!(t.sent(), [(1, 100), (401, 100)]);

    // NewReno's recovery ignores the blocks: three duplicate ACKs send
    // the first hole; the second waits for the partial ACK.
    let mut t = ten_out(Config {
        recovery: Recovery::new_reno(),
        ..rack_config()
    });
    for _ in 0..3 {
        ack(&mut t, 0, &blocks);
    }
    assert_eq!(t.sent(), [(1, 100)]);
    t.elapse(RTT);
    ack(&mut t, 400, &[(500, 1000)]);
    assert_eq!(t.sent(), [(401, 100)]);
}

#[test]
fn a_reordered_segment_waits_out_the_reordering_window() {
    let mut t = out(10, 2000);
    // The second segment SACKed, the first not yet: a reordering or a
    // loss. Limited Transmit sends one new segment beyond cwnd.
    ack(&mut t, 0, &[(100, 200)]);
    assert_eq!(recovery_state(&t), "DISORDER");
    assert_eq!(t.sent(), [(1001, 100)]);
    // RACK waits a quarter of the shortest RTT past the delivered
    // segment's round trip before taking the first as lost.
    assert_eq!(t.deadline(), Some(t.now + RTT / 4));
    ack(&mut t, 0, &[(100, 300)]);
    assert_eq!(t.sent(), [(1101, 100)], "a second, and no more");
    ack(&mut t, 0, &[(100, 400)]);
    assert_eq!(recovery_state(&t), "RECOVERY", "three SACKed: no window");
    let out = t.sent();
    assert_eq!(out.first(), Some(&(1, 100)), "the hole first: {out:?}");
}

#[test]
fn a_segment_late_by_less_than_the_window_is_not_sent_again() {
    let mut t = out(10, 1000);
    ack(&mut t, 0, &[(100, 200)]);
    assert_eq!(recovery_state(&t), "DISORDER");
    // The first segment arrives 10 ms late: no retransmission, no
    // reduction of the window.
    t.elapse(Duration::from_millis(10));
    ack(&mut t, 200, &[]);
    assert_eq!(recovery_state(&t), "OPEN");
    assert_eq!(t.conn.congestion().expect("a TCB").ssthresh, u32::MAX);
    assert_eq!(t.sent(), []);
}

#[test]
fn the_reordering_timer_takes_a_segment_as_lost_when_it_expires() {
    let mut t = out(10, 1000);
    ack(&mut t, 0, &[(100, 200)]);
    let acked_at = t.now;
    assert_eq!(t.fire_deadline(), acked_at + RTT / 4);
    assert_eq!(recovery_state(&t), "RECOVERY");
    assert_eq!(t.sent(), [(1, 100)]);
}

#[test]
fn prr_sends_about_one_segment_for_two_delivered_while_the_pipe_is_above_ssthresh() {
    let mut t = out(20, 4000);
    // The first segment lost; the next three SACKed one ACK at a time.
    // The first two send a new segment each (Limited Transmit).
    for n in 1..=2 {
        ack(&mut t, 0, &[(100, 100 + 100 * n)]);
        assert_eq!(t.sent().len(), 1);
    }
    ack(&mut t, 0, &[(100, 400)]);
    assert_eq!(recovery_state(&t), "RECOVERY");
    let ssthresh = t.conn.congestion().expect("a TCB").ssthresh;
    assert_eq!(ssthresh, 1100, "half the 22 segments in flight");
    let mut out = t.sent();
    assert_eq!(out.first(), Some(&(1, 100)), "the hole first");
    // Sixteen more ACKs, each SACKing one more segment: PRR lets out
    // ssthresh / RecoverFS = 1100 / 2200 of what they deliver.
    for n in 4..=19 {
        ack(&mut t, 0, &[(100, 100 + 100 * n)]);
        out.extend(t.sent());
    }
    let new: Vec<_> = out.iter().filter(|(seq, _)| *seq > 2000).collect();
    assert!(
        (9..=11).contains(&out.len()),
        "about half of 19 deliveries: {out:?}"
    );
    assert_eq!(new.len(), out.len() - 1, "the rest is new data: {out:?}");
}

#[test]
fn a_tail_loss_probe_sends_the_last_segment_before_the_timer_would() {
    let mut t = established(rack_config());
    t.send(&[7; 300]);
    assert_eq!(t.sent().len(), 3);
    t.elapse(RTT);
    // The last segment lost: nothing will ever SACK it.
    ack(&mut t, 200, &[]);
    let acked_at = t.now;
    // PTO: 2 * SRTT, plus 200 ms for a delayed ACK of a lone segment;
    // well before the 1 s RTO.
    assert_eq!(
        t.fire_deadline(),
        acked_at + 2 * RTT + Duration::from_millis(200)
    );
    assert_eq!(t.sent(), [(201, 100)]);
    // One probe per flight: the retransmission timer is next.
    let rto = t.deadline().expect("the RTO");
    assert!(rto >= t.now + Duration::from_secs(1), "{rto:?}");
}

#[test]
fn a_probe_sends_new_data_when_there_is_some() {
    let mut t = out(3, 600);
    ack(&mut t, 100, &[]);
    // cwnd 4 segments: two new ones out.
    assert_eq!(t.sent(), [(301, 100), (401, 100)]);
    t.fire_deadline();
    assert_eq!(t.sent(), [(501, 100)], "the probe is new data");
}

#[test]
fn a_peer_that_sacks_what_it_lacks_gets_everything_again_after_timeouts() {
    // The peer SACKs all but the first segment and holds none of them.
    let mut t = ten_out(rack_config());
    ack(&mut t, 0, &[(100, 1000)]);
    assert_eq!(t.sent(), [(1, 100)]);
    t.elapse(RTT);
    ack(&mut t, 100, &[(100, 1000)]);
    // Nothing more goes out until the timer: the blocks say the rest
    // arrived. Then, the segment at SND.UNA SACKed yet not acknowledged,
    // the peer has reneged (RFC 2018 8): every segment goes out again.
    assert_eq!(t.sent(), []);
    t.fire_deadline();
    assert_eq!(t.sent(), [(101, 100)]);
    for through in [200, 400, 800] {
        ack(&mut t, through, &[]);
        let out = t.sent();
        assert_eq!(
            out.first().map(|s| s.0),
            Some(through as i32 + 1),
            "{out:?}"
        );
    }
}

#[test]
fn blocks_outside_what_we_sent_are_ignored() {
    let lies: [&[(usize, usize)]; 4] = [
        &[(2_000, 3_000)],
        &[(900, 1_100)],
        &[(300, 200)],
        &[(0, 0), (500, 500)],
    ];
    for lie in lies {
        let mut t = ten_out(rack_config());
        ack(&mut t, 0, lie);
        // No SACKed data: one duplicate ACK, no loss.
        assert_eq!(t.sent(), [], "{lie:?}");
        assert_eq!(recovery_state(&t), "DISORDER", "{lie:?}");
        ack(&mut t, 1000, &[]);
        assert_eq!(recovery_state(&t), "OPEN", "{lie:?}");
    }
}

#[test]
fn an_ack_alone_stays_within_a_window_the_peer_shrank() {
    // Ten segments out; the peer takes two and closes its window: the
    // eight beyond its new right edge are outside what it accepts.
    let mut t = ten_out(rack_config());
    let una = t.iss + 1;
    t.segment(seg(NXT).ack(una + 200).win(0));
    assert_eq!(t.sent(), []);
    // Its data arrives: our ACK carries the sequence number at its
    // window's edge, which it accepts (a zero window takes RCV.NXT only),
    // not the first never sent, which it would drop with our ACK.
    t.segment(seg(NXT).ack(una + 200).win(0).data(b"hi"));
    let out = t.outputs();
    assert_eq!(out.len(), 1, "{out:?}");
    assert_eq!(out[0].seq, una + 200);
    assert_eq!(out[0].ack, Some(NXT + 2));
}

#[test]
fn overlapping_and_repeated_blocks_count_each_segment_once() {
    // Blocks that overlap, repeat and nest say no more than their union:
    // the first segment is lost, sent again once, and nothing else.
    let mut t = ten_out(rack_config());
    ack(
        &mut t,
        0,
        &[(100, 400), (200, 1000), (100, 400), (300, 500)],
    );
    assert_eq!(recovery_state(&t), "RECOVERY");
    assert_eq!(t.sent(), [(1, 100)]);
    // The same blocks again: nothing new is lost, and the first segment
    // is not sent a third time (no new data waits).
    ack(&mut t, 0, &[(200, 1000), (100, 400)]);
    assert_eq!(t.sent(), []);
    ack(&mut t, 1000, &[]);
    assert_eq!(recovery_state(&t), "OPEN");
}
