//! TCP sequence numbers and their modular arithmetic (RFC 9293 section 3.4,
//! RFC 1982).
//!
//! Sequence numbers live in a 2^32 circle. Two numbers are compared by the
//! sign of their wrapping difference, which is only meaningful when they are
//! less than 2^31 apart; numbers exactly 2^31 apart are *incomparable*
//! (`partial_cmp` returns `None`, every comparison is `false`), as RFC 1982
//! leaves that case undefined. The order is not transitive over the whole
//! circle (a < b < c < a is possible for widely spread numbers), so do not
//! sort sequence numbers; compare numbers that lie within one window.
//!
//! Nothing here panics: all arithmetic wraps.

use std::cmp::Ordering;
use std::fmt;
use std::ops::{Add, AddAssign, Sub, SubAssign};

/// A 32-bit TCP sequence (or acknowledgment) number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct SeqNum(pub u32);

impl SeqNum {
    /// The signed distance from `other` to `self`: the `d` with
    /// `other + d == self` and `-2^31 <= d < 2^31`.
    pub const fn distance(self, other: SeqNum) -> i32 {
        self.0.wrapping_sub(other.0) as i32
    }

    /// `self < other` in sequence space.
    pub fn lt(self, other: SeqNum) -> bool {
        self < other
    }

    /// `self <= other` in sequence space.
    pub fn le(self, other: SeqNum) -> bool {
        self <= other
    }

    /// `self > other` in sequence space.
    pub fn gt(self, other: SeqNum) -> bool {
        self > other
    }

    /// `self >= other` in sequence space.
    pub fn ge(self, other: SeqNum) -> bool {
        self >= other
    }

    /// The later of the two numbers; `self` if they are equal or
    /// incomparable.
    pub fn max(self, other: SeqNum) -> SeqNum {
        if other > self { other } else { self }
    }

    /// The earlier of the two numbers; `self` if they are equal or
    /// incomparable.
    pub fn min(self, other: SeqNum) -> SeqNum {
        if other < self { other } else { self }
    }

    /// Whether `start <= self < start + len` in sequence space.
    ///
    /// Exact for every `len`: a window of length 0 contains nothing, and
    /// `u32::MAX` contains every number but `start - 1`.
    pub const fn in_window(self, start: SeqNum, len: u32) -> bool {
        self.0.wrapping_sub(start.0) < len
    }
}

impl PartialOrd for SeqNum {
    fn partial_cmp(&self, other: &SeqNum) -> Option<Ordering> {
        match self.distance(*other) {
            i32::MIN => None,
            d => Some(d.cmp(&0)),
        }
    }
}

impl Add<usize> for SeqNum {
    type Output = SeqNum;

    /// Advances by `rhs` modulo 2^32.
    fn add(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_add(rhs as u32))
    }
}

impl Sub<usize> for SeqNum {
    type Output = SeqNum;

    /// Goes back by `rhs` modulo 2^32.
    fn sub(self, rhs: usize) -> SeqNum {
        SeqNum(self.0.wrapping_sub(rhs as u32))
    }
}

impl AddAssign<usize> for SeqNum {
    fn add_assign(&mut self, rhs: usize) {
        *self = *self + rhs;
    }
}

impl SubAssign<usize> for SeqNum {
    fn sub_assign(&mut self, rhs: usize) {
        *self = *self - rhs;
    }
}

impl Sub<SeqNum> for SeqNum {
    type Output = i32;

    /// The signed distance, as [`SeqNum::distance`].
    fn sub(self, rhs: SeqNum) -> i32 {
        self.distance(rhs)
    }
}

impl fmt::Display for SeqNum {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn add_and_sub_wrap() {
        assert_eq!(SeqNum(u32::MAX) + 1, SeqNum(0));
        assert_eq!(SeqNum(0) - 1, SeqNum(u32::MAX));
        assert_eq!(SeqNum(5) - SeqNum(u32::MAX - 4), 10);
        assert_eq!(SeqNum(u32::MAX - 4) - SeqNum(5), -10);
    }

    #[test]
    fn order_across_wrap() {
        let a = SeqNum(u32::MAX - 10);
        let b = SeqNum(10);
        assert!(a.lt(b) && b.gt(a) && a.le(b) && b.ge(a));
        assert_eq!(a.max(b), b);
        assert_eq!(a.min(b), a);
    }

    #[test]
    fn half_circle_apart_is_incomparable() {
        let a = SeqNum(0);
        let b = SeqNum(1 << 31);
        assert_eq!(a.partial_cmp(&b), None);
        assert!(!a.lt(b) && !a.gt(b) && !a.le(b) && !b.le(a) && !a.ge(b));
    }

    #[test]
    fn window_bounds() {
        let start = SeqNum(u32::MAX - 1);
        assert!(start.in_window(start, 1));
        assert!(!start.in_window(start, 0));
        assert!((start + 3).in_window(start, 4));
        assert!(!(start + 4).in_window(start, 4));
        assert!(!(start - 1).in_window(start, 4));
        assert!(!(start - 1).in_window(start, u32::MAX));
    }

    proptest! {
        #[test]
        fn order_is_shift_invariant(a: u32, d in 1u32..(1 << 31), shift: u32) {
            let lo = SeqNum(a);
            let hi = lo + d as usize;
            prop_assert!(lo < hi);
            prop_assert!(hi > lo);
            prop_assert_eq!(hi - lo, d as i32);
            prop_assert_eq!(lo - hi, -(d as i32));
            let (lo2, hi2) = (lo + shift as usize, hi + shift as usize);
            prop_assert!(lo2 < hi2 && lo2.le(hi2) && !lo2.ge(hi2));
            prop_assert_eq!(lo2.max(hi2), hi2);
        }

        #[test]
        fn in_window_matches_distance(x: u32, start: u32, len: u32) {
            let (x, start) = (SeqNum(x), SeqNum(start));
            let offset = x.0.wrapping_sub(start.0);
            prop_assert_eq!(x.in_window(start, len), offset < len);
            prop_assert_eq!(start + offset as usize, x);
        }
    }
}
