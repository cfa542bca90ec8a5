//! The race under loss (`fsm-lab race`): two network namespaces, a relay
//! between their TUN devices dropping 1% of the packets each way with one
//! seeded generator, and a 4 MiB transfer by our TCP and by the kernel's,
//! SACK on and off. Each transfer must arrive whole, and the relay must
//! have dropped about what it was told to. Skipped without root, `ip` or
//! TUN, except in CI (`CI=true`), where it fails.

use std::path::Path;
use std::time::Duration;

use fsm_lab::race::{Link, Outcome, Specs, Stack, race};

/// `bytes` from A to B by `stack` through a relay doing `link`, with this
/// crate's `fsm-lab` as the sender and receiver; a failure panics.
fn transfer(stack: Stack, link: Link, bytes: u64) -> Outcome {
    let program = Path::new(env!("CARGO_BIN_EXE_fsm-lab"));
    race(
        program,
        &["race-child"],
        stack,
        link,
        bytes,
        Duration::from_secs(120),
        &Specs::default(),
    )
    .unwrap_or_else(|e| panic!("{e}"))
}

/// Whether the tests can run here (root, `ip`, TUN); says why not.
fn can_run() -> bool {
    match fsm_lab::netns::why_skip() {
        Some(why) => {
            fsm_runtime::testing::skip(&why);
            false
        }
        None => true,
    }
}

#[test]
fn both_stacks_get_through_the_same_lossy_relay() {
    if !can_run() {
        return;
    }
    let link = Link {
        loss: 0.01,
        duplicate: 0.0,
        reorder: 0.0,
        seed: 7,
    };
    let bytes = 4 << 20;
    for stack in [
        Stack::Ours,
        Stack::Kernel { sack: true },
        Stack::Kernel { sack: false },
    ] {
        let o = transfer(stack, link, bytes);
        println!(
            "{}: {:.1} MB/s; relay: {} packets, {} dropped",
            stack.name(),
            o.mb_s(),
            o.relay.packets,
            o.relay.dropped
        );
        assert_eq!(o.bytes, bytes, "{}", stack.name());
        // 4 MiB is about 2,900 segments, plus the ACKs: 1% of them is
        // some tens; the relay must have dropped between a third and three
        // times that.
        let expected = o.relay.packets as f64 * link.loss;
        let dropped = o.relay.dropped as f64;
        assert!(
            dropped > expected / 3.0 && dropped < expected * 3.0,
            "{}: {} of {} dropped",
            stack.name(),
            o.relay.dropped,
            o.relay.packets
        );
    }
}

#[test]
fn a_relay_with_reordering_and_duplication_loses_no_byte_of_ours() {
    if !can_run() {
        return;
    }
    let link = Link {
        loss: 0.05,
        duplicate: 0.02,
        reorder: 0.05,
        seed: 11,
    };
    let o = transfer(Stack::Ours, link, 1 << 20);
    assert_eq!(o.bytes, 1 << 20);
    assert!(o.relay.dropped > 0 && o.relay.duplicated > 0 && o.relay.reordered > 0);
}
