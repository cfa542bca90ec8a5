//! Wire formats: IPv4 packets carrying TCP segments.
//!
//! The layout follows smoltcp's `wire` module. Each protocol has
//!
//! * a zero-copy *view* over a byte buffer ([`Ipv4Packet`], [`TcpPacket`])
//!   with field accessors and setters, and
//! * a parsed, validated *representation* ([`Ipv4Repr`], [`TcpRepr`]) with
//!   `parse` (view → repr) and `emit` (repr → bytes).
//!
//! Most callers only need the datagram-level functions [`parse`], [`emit`]
//! and [`emit_vec`], which handle a whole IPv4 packet carrying TCP and
//! verify or fill both checksums.
//!
//! Sequence numbers with RFC 9293 modular arithmetic live in [`seq`], the
//! RFC 1071 Internet checksum in [`checksum`].
//!
//! ```
//! use std::net::Ipv4Addr;
//! use fsm_runtime::wire::{self, Flags, SeqNum, TcpRepr};
//!
//! let syn = TcpRepr {
//!     src_port: 1234,
//!     dst_port: 80,
//!     seq: SeqNum(1),
//!     flags: Flags::SYN,
//!     window: 65_535,
//!     mss: Some(1460),
//!     ..TcpRepr::default()
//! };
//! let (a, b) = (Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2));
//! let mut buf = [0u8; 1500];
//! let len = wire::emit(a, b, &syn, &mut buf)?;
//! let (ip, tcp) = wire::parse(&buf[..len])?;
//! assert_eq!((ip.src_addr, tcp), (a, syn));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Panics
//!
//! Nothing in this module panics on any *input bytes*:
//!
//! * [`parse`], [`Ipv4Packet::new_checked`], [`TcpPacket::new_checked`],
//!   [`Ipv4Repr::parse`] and [`TcpRepr::parse`] never panic, and never
//!   allocate.
//! * [`emit`], [`Ipv4Repr::emit`] and [`TcpRepr::emit`] never panic; a buffer
//!   that is too small or a segment too large for IPv4 is reported as an
//!   [`EmitError`].
//! * The accessors and setters of a view made with `new_unchecked` panic if
//!   the buffer is too short for the field they touch (shorter than the
//!   fixed 20-byte header, or, for the options and payload accessors,
//!   shorter than the length the header claims). A view returned by
//!   `new_checked` has been checked, so none of its accessors panic.
//! * [`emit_vec`] panics if the segment is too large to fit in an IPv4
//!   packet; use [`emit`] to get an error instead.
//! * [`seq::SeqNum`] arithmetic wraps and never panics.

pub mod checksum;
mod datagram;
mod flags;
pub mod ipv4;
pub mod sack;
pub mod seq;
pub mod tcp;
#[cfg(test)]
pub(crate) mod test_seg;

use std::fmt;

pub use datagram::{emit, emit_vec, packet_len, parse};
pub use ipv4::{Ipv4Packet, Ipv4Repr};
pub use sack::SackBlocks;
pub use seq::SeqNum;
pub use tcp::{Flags, TcpPacket, TcpRepr};

/// Why an incoming packet was dropped by the wire layer.
///
/// Every variant is a distinct, checkable property of the bytes; the checks
/// run in the order the variants are listed, so a packet that is wrong in
/// several ways is reported under the first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DropReason {
    /// Shorter than the 20-byte IPv4 header, or shorter than the IPv4 total
    /// length field says.
    Truncated,
    /// The IPv4 version field is not 4.
    BadIpVersion,
    /// The IPv4 header length (IHL) is less than 5 words.
    BadIpHeaderLength,
    /// The IPv4 total length is smaller than the header length.
    BadIpTotalLength,
    /// The IPv4 header checksum is wrong.
    BadIpChecksum,
    /// The packet is a fragment (MF set or a non-zero fragment offset);
    /// reassembly is not supported.
    Fragment,
    /// The IPv4 protocol field is not TCP (6).
    NotTcp,
    /// The TCP segment is shorter than the 20-byte TCP header.
    TcpTooShort,
    /// The TCP data offset is less than 5 words or runs past the segment.
    BadDataOffset,
    /// The TCP checksum (over the IPv4 pseudo-header) is wrong.
    BadTcpChecksum,
    /// A TCP option is malformed: a length of 0 or 1, an option running past
    /// the header, a known option with the wrong length, or an MSS of 0.
    BadOption,
}

impl DropReason {
    /// The number of variants.
    pub const COUNT: usize = 11;

    /// Every variant, in declaration order; `ALL[r.index()] == r`.
    pub const ALL: [DropReason; Self::COUNT] = [
        DropReason::Truncated,
        DropReason::BadIpVersion,
        DropReason::BadIpHeaderLength,
        DropReason::BadIpTotalLength,
        DropReason::BadIpChecksum,
        DropReason::Fragment,
        DropReason::NotTcp,
        DropReason::TcpTooShort,
        DropReason::BadDataOffset,
        DropReason::BadTcpChecksum,
        DropReason::BadOption,
    ];

    /// A stable kebab-case name, suitable for printed counters and logs.
    pub const fn name(self) -> &'static str {
        match self {
            DropReason::Truncated => "truncated",
            DropReason::BadIpVersion => "bad-ip-version",
            DropReason::BadIpHeaderLength => "bad-ip-header-length",
            DropReason::BadIpTotalLength => "bad-ip-total-length",
            DropReason::BadIpChecksum => "bad-ip-checksum",
            DropReason::Fragment => "fragment",
            DropReason::NotTcp => "not-tcp",
            DropReason::TcpTooShort => "tcp-too-short",
            DropReason::BadDataOffset => "bad-data-offset",
            DropReason::BadTcpChecksum => "bad-tcp-checksum",
            DropReason::BadOption => "bad-option",
        }
    }

    /// The position of this variant in [`DropReason::ALL`].
    pub const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for DropReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl std::error::Error for DropReason {}

/// A count of dropped packets per [`DropReason`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DropCounters {
    counts: [u64; DropReason::COUNT],
}

impl DropCounters {
    /// All counters at zero.
    pub const fn new() -> Self {
        DropCounters {
            counts: [0; DropReason::COUNT],
        }
    }

    /// Counts one drop for `reason` (saturating at `u64::MAX`).
    pub fn record(&mut self, reason: DropReason) {
        let count = &mut self.counts[reason.index()];
        *count = count.saturating_add(1);
    }

    /// The number of drops recorded for `reason`.
    pub const fn get(&self, reason: DropReason) -> u64 {
        self.counts[reason.index()]
    }

    /// The number of drops over all reasons (saturating at `u64::MAX`).
    pub fn total(&self) -> u64 {
        self.counts.iter().fold(0, |sum, &n| sum.saturating_add(n))
    }

    /// The reasons with a non-zero count and their counts, in the order of
    /// [`DropReason::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (DropReason, u64)> + '_ {
        DropReason::ALL
            .iter()
            .map(|&reason| (reason, self.get(reason)))
            .filter(|&(_, n)| n != 0)
    }
}

impl fmt::Display for DropCounters {
    /// Formats as `bad-tcp-checksum=3 truncated=1`: the non-zero counters
    /// sorted by name, or `none` if every counter is zero.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut by_name = DropReason::ALL;
        by_name.sort_unstable_by_key(|r| r.name());
        let mut any = false;
        for reason in by_name {
            let n = self.get(reason);
            if n == 0 {
                continue;
            }
            if any {
                f.write_str(" ")?;
            }
            write!(f, "{reason}={n}")?;
            any = true;
        }
        if !any {
            f.write_str("none")?;
        }
        Ok(())
    }
}

/// Why a packet could not be emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EmitError {
    /// The output buffer is shorter than the packet.
    BufferTooSmall {
        /// Bytes the packet needs.
        needed: usize,
        /// Bytes the buffer has.
        available: usize,
    },
    /// The packet would be longer than the 65 535 bytes an IPv4 total length
    /// can describe.
    TooLarge {
        /// Bytes the packet would need.
        len: usize,
    },
}

impl fmt::Display for EmitError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EmitError::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: packet needs {needed} bytes, buffer has {available}"
            ),
            EmitError::TooLarge { len } => write!(
                f,
                "packet too large for IPv4: {len} bytes, at most {} allowed",
                u16::MAX
            ),
        }
    }
}

impl std::error::Error for EmitError {}

/// Returns `Ok` if a buffer of `available` bytes can hold `needed` bytes.
fn check_room(needed: usize, available: usize) -> Result<(), EmitError> {
    if needed > available {
        Err(EmitError::BufferTooSmall { needed, available })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_indexed_by_index() {
        for (i, reason) in DropReason::ALL.iter().enumerate() {
            assert_eq!(reason.index(), i);
        }
    }

    #[test]
    fn names_are_unique_kebab_case() {
        let mut names: Vec<_> = DropReason::ALL.iter().map(|r| r.name()).collect();
        for name in &names {
            assert!(name.chars().all(|c| c.is_ascii_lowercase() || c == '-'));
        }
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), DropReason::COUNT);
    }

    #[test]
    fn counters_display_only_non_zero() {
        let mut counters = DropCounters::new();
        assert_eq!(counters.to_string(), "none");
        counters.record(DropReason::Truncated);
        for _ in 0..3 {
            counters.record(DropReason::BadTcpChecksum);
        }
        assert_eq!(counters.to_string(), "bad-tcp-checksum=3 truncated=1");
        assert_eq!(counters.total(), 4);
        assert_eq!(counters.get(DropReason::BadTcpChecksum), 3);
        assert_eq!(counters.get(DropReason::NotTcp), 0);
        assert_eq!(counters.iter().count(), 2);
    }

    #[test]
    fn emit_error_display() {
        let e = EmitError::BufferTooSmall {
            needed: 40,
            available: 10,
        };
        assert_eq!(
            e.to_string(),
            "buffer too small: packet needs 40 bytes, buffer has 10"
        );
    }
}
