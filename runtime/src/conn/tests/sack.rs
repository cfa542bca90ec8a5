//! SACK as a receiver (RFC 2018, RFC 2883), segment by segment: what the
//! SYNs negotiate, which blocks each ACK carries and in what order, and
//! the D-SACK block of data received twice.

use super::*;

fn sack_config() -> Config {
    Config {
        sack: true,
        ..config()
    }
}

/// An established connection (we connected) where both SYNs carried
/// SACK-permitted, or only ours when `peer_offers` is false.
fn established_with(peer_offers: bool) -> TestConn {
    let mut t = TestConn::<Spec>::new(sack_config());
    t.with_env(|c, env| c.open_active(env, REMOTE, None))
        .expect("active OPEN");
    t.iss = t.isn_now();
    assert_eq!(t.outputs(), [syn(t.iss).sack_ok()], "our SYN offers SACK");
    let mut syn_ack = seg(IRS).syn().ack(t.iss + 1).mss(MSS);
    if peer_offers {
        syn_ack = syn_ack.sack_ok();
    }
    t.segment(syn_ack);
    assert_eq!(t.outputs(), [seg(t.iss + 1).ack(NXT)]);
    assert_eq!(t.state(), "ESTABLISHED");
    t
}

/// The peer's data segment `[NXT + from, NXT + from + len)`.
fn data(t: &TestConn, from: usize, len: usize) -> Seg {
    seg(NXT + from).ack(t.iss + 1).data(&vec![7; len])
}

/// Our segments out, each as (what it acknowledges, its SACK blocks),
/// offsets from NXT.
type Acks = Vec<(i32, Vec<(i32, i32)>)>;

fn acks(t: &mut TestConn) -> Acks {
    t.outputs()
        .iter()
        .map(|s| {
            let ack = s.ack.expect("an ACK").distance(NXT);
            let blocks = s.sack.as_slice().iter();
            (
                ack,
                blocks
                    .map(|&(l, r)| (l.distance(NXT), r.distance(NXT)))
                    .collect(),
            )
        })
        .collect()
}

#[test]
fn sack_is_used_only_when_both_syns_offer_it() {
    // We offer and the peer does not: no blocks, even with a hole.
    let mut t = established_with(false);
    t.segment(data(&t, 100, 100));
    assert_eq!(acks(&mut t), [(0, vec![])]);

    // The peer offers, we do not: our SYN-ACK does not answer the offer.
    let mut t = TestConn::<Spec>::new(config()).listen();
    t.segment(seg(IRS).syn().mss(MSS).sack_ok());
    t.iss = t.isn_now();
    assert_eq!(t.outputs(), [syn(t.iss).ack(NXT)]);

    // Both offer (we answer with a SYN-ACK that carries it).
    let mut t = TestConn::<Spec>::new(sack_config()).listen();
    t.segment(seg(IRS).syn().mss(MSS).sack_ok());
    t.iss = t.isn_now();
    assert_eq!(t.outputs(), [syn(t.iss).ack(NXT).sack_ok()]);
    t.segment(seg(NXT).ack(t.iss + 1));
    assert_eq!(t.state(), "ESTABLISHED");
    t.segment(data(&t, 100, 100));
    assert_eq!(acks(&mut t), [(0, vec![(100, 200)])]);
}

#[test]
fn the_block_of_the_latest_segment_comes_first_then_the_ones_reported_before() {
    let mut t = established_with(true);
    // Segments 1, 3, 5 and 7 of 100 bytes arrive, 0, 2, 4 and 6 are
    // missing: each ACK lists the newest block first (RFC 2018 4).
    t.segment(data(&t, 100, 100));
    assert_eq!(acks(&mut t), [(0, vec![(100, 200)])]);
    t.segment(data(&t, 300, 100));
    assert_eq!(acks(&mut t), [(0, vec![(300, 400), (100, 200)])]);
    t.segment(data(&t, 500, 100));
    assert_eq!(
        acks(&mut t),
        [(0, vec![(500, 600), (300, 400), (100, 200)])]
    );
    // Segment 2 joins two blocks: the joined one is the newest.
    t.segment(data(&t, 200, 100));
    assert_eq!(acks(&mut t), [(0, vec![(100, 400), (500, 600)])]);
    // Segment 0 fills the first hole: the cumulative ACK moves on, and
    // the block it reached is no longer reported.
    t.segment(data(&t, 0, 100));
    assert_eq!(acks(&mut t), [(400, vec![(500, 600)])]);
    assert_eq!(t.read_all().len(), 400);
    // The last hole: no block is left, and none is sent.
    t.segment(data(&t, 400, 100));
    assert_eq!(acks(&mut t), [(600, vec![])]);
}

#[test]
fn at_most_four_blocks_are_sent_the_newest_first() {
    let mut t = established_with(true);
    // Five holes, five blocks held.
    for k in [1, 3, 5, 7, 9] {
        t.segment(data(&t, 100 * k, 50));
        t.outputs();
    }
    t.segment(data(&t, 150, 10));
    let out = t.outputs();
    let blocks: Vec<(i32, i32)> = out[0]
        .sack
        .as_slice()
        .iter()
        .map(|&(l, r)| (l.distance(NXT), r.distance(NXT)))
        .collect();
    assert_eq!(blocks, [(100, 160), (900, 950), (700, 750), (500, 550)]);
}

#[test]
fn data_received_twice_is_reported_once_in_a_d_sack_block() {
    let mut t = established_with(true);
    t.segment(data(&t, 0, 100));
    assert_eq!(acks(&mut t), [(100, vec![])]);
    // All of it again (the peer retransmitted too early): RFC 2883 4.1.1.
    t.segment(data(&t, 0, 100));
    assert_eq!(acks(&mut t), [(100, vec![(0, 100)])]);
    // Reported once: the next ACK has no block.
    t.segment(data(&t, 100, 100));
    assert_eq!(acks(&mut t), [(200, vec![])]);

    // Part old, part new: the old part is the D-SACK block.
    t.segment(data(&t, 150, 100));
    assert_eq!(acks(&mut t), [(250, vec![(150, 200)])]);

    // A segment inside a block held out of order: the D-SACK block, then
    // the block that holds it (RFC 2883 4.1.2).
    t.segment(data(&t, 400, 200));
    assert_eq!(acks(&mut t), [(250, vec![(400, 600)])]);
    t.segment(data(&t, 450, 50));
    assert_eq!(acks(&mut t), [(250, vec![(450, 500), (400, 600)])]);
}

#[test]
fn a_peer_that_lies_in_its_blocks_changes_nothing_we_send() {
    // The blocks a peer sends are not used yet: blocks beyond what we
    // sent, below SND.UNA, inverted or overlapping leave the connection
    // as an ACK without them would.
    let lies: [&[(usize, usize)]; 4] = [
        &[(5_000, 6_000)],
        &[(0, 1)],
        &[(300, 200)],
        &[(0, 300), (100, 200), (150, 250), (0, 400)],
    ];
    let mut reference = established_with(true);
    reference.send(&[1; 300]);
    let first = reference.outputs();
    let una = reference.iss + 1;
    reference.segment(seg(NXT).ack(una + 100));
    let expected = reference.outputs();
    for lie in lies {
        let mut t = established_with(true);
        t.send(&[1; 300]);
        assert_eq!(t.outputs(), first);
        let blocks: Vec<(SeqNum, SeqNum)> = lie.iter().map(|&(l, r)| (una + l, una + r)).collect();
        t.segment(seg(NXT).ack(una + 100).sack(&blocks));
        assert_eq!(t.outputs(), expected, "{lie:?}");
        assert_eq!(t.state(), "ESTABLISHED");
    }
}
