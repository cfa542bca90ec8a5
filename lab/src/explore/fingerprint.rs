//! The hasher of the explorer's fingerprints: foldhash's quality variant
//! with a fixed seed, so that a fingerprint is the same in every run and
//! on every thread (the visited set keeps 64 bits of it).

use std::hash::{BuildHasher, Hasher};

use foldhash::quality::FixedState;

/// The seed: any constant.
const SEED: u64 = 0x5eed_f5a1_ab0c_7c9e;

/// A fresh hasher.
pub(crate) fn hasher() -> impl Hasher {
    FixedState::with_seed(SEED).build_hasher()
}

/// The hash of some bytes (a datagram's).
pub(crate) fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h = hasher();
    h.write(bytes);
    h.finish()
}

/// A bijective mix of 64 bits (splitmix64's finalizer): sums of mixed
/// values make a fingerprint of a multiset that does not depend on order.
pub(crate) fn mix(mut x: u64) -> u64 {
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}
