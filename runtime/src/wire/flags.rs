//! The TCP control bits.
//!
//! Nothing here panics.

use std::fmt;
use std::ops::{BitOr, BitOrAssign};

/// The ACK bit of the flags byte; kept out of [`Flags`] because
/// [`TcpRepr::ack`](super::TcpRepr::ack) carries it.
pub(super) const ACK_BIT: u8 = 0x10;

/// The TCP control bits other than ACK.
///
/// ACK is not here: a segment has the ACK bit set exactly when
/// [`TcpRepr::ack`](super::TcpRepr::ack) is `Some`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Flags(u8);

impl Flags {
    /// FIN: no more data from the sender.
    pub const FIN: Flags = Flags(0x01);
    /// SYN: synchronize sequence numbers.
    pub const SYN: Flags = Flags(0x02);
    /// RST: reset the connection.
    pub const RST: Flags = Flags(0x04);
    /// PSH: push function.
    pub const PSH: Flags = Flags(0x08);
    /// URG: the urgent pointer field is significant.
    pub const URG: Flags = Flags(0x20);
    /// ECE: ECN-Echo (RFC 3168).
    pub const ECE: Flags = Flags(0x40);
    /// CWR: congestion window reduced (RFC 3168).
    pub const CWR: Flags = Flags(0x80);

    const NAMES: [(Flags, &'static str); 7] = [
        (Flags::SYN, "SYN"),
        (Flags::FIN, "FIN"),
        (Flags::RST, "RST"),
        (Flags::PSH, "PSH"),
        (Flags::URG, "URG"),
        (Flags::ECE, "ECE"),
        (Flags::CWR, "CWR"),
    ];

    /// No flags.
    pub const fn empty() -> Flags {
        Flags(0)
    }

    /// The flags of a header's flags byte; the ACK bit is ignored.
    pub const fn from_bits(byte: u8) -> Flags {
        Flags(byte & !ACK_BIT)
    }

    /// The flags as they appear in the header's flags byte (ACK clear).
    pub const fn bits(self) -> u8 {
        self.0
    }

    /// Whether no flag is set.
    pub const fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// Whether every flag of `other` is set in `self`.
    pub const fn contains(self, other: Flags) -> bool {
        self.0 & other.0 == other.0
    }

    /// Sets the flags of `other`.
    pub fn insert(&mut self, other: Flags) {
        self.0 |= other.0;
    }

    /// Clears the flags of `other`.
    pub fn remove(&mut self, other: Flags) {
        self.0 &= !other.0;
    }

    /// Whether SYN is set.
    pub const fn syn(self) -> bool {
        self.contains(Flags::SYN)
    }

    /// Whether FIN is set.
    pub const fn fin(self) -> bool {
        self.contains(Flags::FIN)
    }

    /// Whether RST is set.
    pub const fn rst(self) -> bool {
        self.contains(Flags::RST)
    }

    /// Whether PSH is set.
    pub const fn psh(self) -> bool {
        self.contains(Flags::PSH)
    }

    /// Whether URG is set.
    pub const fn urg(self) -> bool {
        self.contains(Flags::URG)
    }

    /// Whether ECE is set.
    pub const fn ece(self) -> bool {
        self.contains(Flags::ECE)
    }

    /// Whether CWR is set.
    pub const fn cwr(self) -> bool {
        self.contains(Flags::CWR)
    }
}

impl BitOr for Flags {
    type Output = Flags;

    fn bitor(self, rhs: Flags) -> Flags {
        Flags(self.0 | rhs.0)
    }
}

impl BitOrAssign for Flags {
    fn bitor_assign(&mut self, rhs: Flags) {
        self.0 |= rhs.0;
    }
}

impl fmt::Display for Flags {
    /// Formats as `SYN|FIN`, or `-` if empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.is_empty() {
            return f.write_str("-");
        }
        let mut first = true;
        for (flag, name) in Flags::NAMES {
            if self.contains(flag) {
                if !first {
                    f.write_str("|")?;
                }
                f.write_str(name)?;
                first = false;
            }
        }
        Ok(())
    }
}

impl fmt::Debug for Flags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Flags({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_lists_set_flags() {
        assert_eq!((Flags::SYN | Flags::FIN).to_string(), "SYN|FIN");
        assert_eq!(Flags::empty().to_string(), "-");
        assert_eq!(format!("{:?}", Flags::RST), "Flags(RST)");
    }

    #[test]
    fn from_bits_drops_ack() {
        assert_eq!(Flags::from_bits(0xff).bits(), 0xef);
    }

    #[test]
    fn insert_remove_contains() {
        let mut flags = Flags::SYN;
        flags.insert(Flags::ECE | Flags::CWR);
        assert!(flags.syn() && flags.ece() && flags.cwr() && !flags.fin());
        flags.remove(Flags::SYN);
        assert!(!flags.syn() && flags.contains(Flags::ECE | Flags::CWR));
    }
}
