//! SACK blocks (RFC 2018): ranges of sequence space a receiver holds
//! beyond its cumulative acknowledgment, as the SACK option carries them.
//! The first block may be a D-SACK block (RFC 2883): a range received
//! twice.

use std::fmt;
use std::hash::{Hash, Hasher};

use super::SeqNum;

/// The most blocks an option can carry: four fit in the 40 bytes of
/// options (RFC 2018 3), three beside timestamps.
pub const MAX_BLOCKS: usize = 4;

/// Up to [`MAX_BLOCKS`] blocks `[left, right)`, in the order they were
/// written or read. Equal, and hashed, by the blocks held.
#[derive(Clone, Copy, Default)]
pub struct SackBlocks {
    blocks: [(SeqNum, SeqNum); MAX_BLOCKS],
    len: u8,
}

impl PartialEq for SackBlocks {
    fn eq(&self, other: &SackBlocks) -> bool {
        self.as_slice() == other.as_slice()
    }
}

impl Eq for SackBlocks {}

impl Hash for SackBlocks {
    fn hash<H: Hasher>(&self, h: &mut H) {
        self.as_slice().hash(h);
    }
}

impl fmt::Debug for SackBlocks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

impl SackBlocks {
    /// No blocks.
    pub const EMPTY: SackBlocks = SackBlocks {
        blocks: [(SeqNum(0), SeqNum(0)); MAX_BLOCKS],
        len: 0,
    };

    /// The blocks of `list`, the first [`MAX_BLOCKS`] of them.
    pub fn from_slice(list: &[(SeqNum, SeqNum)]) -> SackBlocks {
        let mut out = SackBlocks::EMPTY;
        for &(left, right) in list {
            out.push(left, right);
        }
        out
    }

    /// Appends `[left, right)`; false (and nothing appended) when full.
    pub fn push(&mut self, left: SeqNum, right: SeqNum) -> bool {
        let Some(slot) = self.blocks.get_mut(usize::from(self.len)) else {
            return false;
        };
        *slot = (left, right);
        self.len += 1;
        true
    }

    /// The blocks, in order.
    pub fn as_slice(&self) -> &[(SeqNum, SeqNum)] {
        &self.blocks[..usize::from(self.len)]
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        usize::from(self.len)
    }

    /// Reads the body of a SACK option (after kind and length): 8 bytes a
    /// block. `None` unless it holds 1 to [`MAX_BLOCKS`] whole blocks.
    pub(crate) fn parse(body: &[u8]) -> Option<SackBlocks> {
        if body.is_empty() || !body.len().is_multiple_of(8) || body.len() / 8 > MAX_BLOCKS {
            return None;
        }
        let mut out = SackBlocks::EMPTY;
        for b in body.chunks_exact(8) {
            let left = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
            let right = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
            out.push(SeqNum(left), SeqNum(right));
        }
        Some(out)
    }
}

impl fmt::Display for SackBlocks {
    /// Formats like `[100-200 300-400]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[")?;
        for (i, (left, right)) in self.as_slice().iter().enumerate() {
            if i > 0 {
                f.write_str(" ")?;
            }
            write!(f, "{left}-{right}")?;
        }
        f.write_str("]")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_at_most_four_blocks_in_order() {
        let mut s = SackBlocks::EMPTY;
        for i in 0..4u32 {
            assert!(s.push(SeqNum(i * 10), SeqNum(i * 10 + 5)));
        }
        assert!(!s.push(SeqNum(100), SeqNum(105)));
        assert_eq!(s.len(), 4);
        assert_eq!(s.as_slice()[3], (SeqNum(30), SeqNum(35)));
        assert_eq!(s.to_string(), "[0-5 10-15 20-25 30-35]");
    }

    #[test]
    fn an_option_body_must_hold_one_to_four_whole_blocks() {
        assert_eq!(SackBlocks::parse(&[]), None);
        assert_eq!(SackBlocks::parse(&[0; 7]), None);
        assert_eq!(SackBlocks::parse(&[0; 12]), None);
        assert_eq!(SackBlocks::parse(&[0; 40]), None);
        let body = [0, 0, 0, 1, 0, 0, 0, 9];
        assert_eq!(
            SackBlocks::parse(&body).map(|s| s.as_slice().to_vec()),
            Some(vec![(SeqNum(1), SeqNum(9))])
        );
    }
}
