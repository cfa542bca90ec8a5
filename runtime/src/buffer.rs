//! Byte buffers of a connection: a ring that grows on demand up to its
//! limit (so an idle connection holds no buffer memory), and an assembler
//! that remembers which bytes past the in-order end have arrived.

use std::ops::Range;

/// A ring of bytes with a fixed limit, allocated lazily and grown by
/// doubling. Holds `len()` readable bytes; bytes may also be written ahead
/// of the end (out-of-order data) and committed later.
#[derive(Clone, Debug, Default)]
pub struct Ring {
    buf: Vec<u8>,
    head: usize,
    len: usize,
    limit: usize,
}

impl Ring {
    /// An empty ring that will hold at most `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Ring {
            buf: Vec::new(),
            head: 0,
            len: 0,
            limit,
        }
    }

    /// Readable bytes.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether no bytes are readable.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Room left before the limit.
    pub fn free(&self) -> usize {
        self.limit - self.len
    }

    /// The most bytes it may hold.
    pub fn limit(&self) -> usize {
        self.limit
    }

    /// Bytes of memory held (for accounting).
    pub fn allocated(&self) -> usize {
        self.buf.capacity()
    }

    /// Makes sure `end` bytes from the head fit in the allocation.
    fn reserve(&mut self, end: usize) {
        let end = end.min(self.limit);
        if end <= self.buf.len() {
            return;
        }
        let new_len = end.max(self.buf.len() * 2).max(4096).min(self.limit);
        let mut grown = vec![0u8; new_len];
        // Linearise: readable bytes and anything written ahead, up to the
        // old allocation.
        let old = self.buf.len();
        if old > 0 {
            let first = old - self.head;
            grown[..first].copy_from_slice(&self.buf[self.head..]);
            grown[first..old].copy_from_slice(&self.buf[..self.head]);
        }
        self.buf = grown;
        self.head = 0;
    }

    /// Appends as much of `data` as fits; returns how much.
    pub fn push(&mut self, data: &[u8]) -> usize {
        let n = data.len().min(self.free());
        let at = self.len;
        self.write_at(at, &data[..n]);
        self.len += n;
        n
    }

    /// Writes `data` at `offset` bytes past the head without making it
    /// readable; bytes beyond the limit are cut off. Returns bytes written.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> usize {
        if offset >= self.limit {
            return 0;
        }
        let n = data.len().min(self.limit - offset);
        if n == 0 {
            return 0;
        }
        self.reserve(offset + n);
        let cap = self.buf.len();
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        self.buf[start..start + first].copy_from_slice(&data[..first]);
        self.buf[..n - first].copy_from_slice(&data[first..n]);
        n
    }

    /// Makes `n` more bytes readable (written before by [`Ring::write_at`]).
    pub fn commit(&mut self, n: usize) {
        debug_assert!(self.len + n <= self.limit);
        self.len = (self.len + n).min(self.limit);
    }

    /// Drops `n` readable bytes from the front.
    pub fn consume(&mut self, n: usize) {
        let n = n.min(self.len);
        if n == 0 {
            return;
        }
        // The head only moves forward: bytes written ahead of the readable
        // ones (out-of-order data) stay where they are relative to it.
        self.head = (self.head + n) % self.buf.len();
        self.len -= n;
    }

    /// Copies readable bytes from `offset` into `out`; returns how many.
    pub fn peek(&self, offset: usize, out: &mut [u8]) -> usize {
        if offset >= self.len {
            return 0;
        }
        let n = out.len().min(self.len - offset);
        let cap = self.buf.len();
        let start = (self.head + offset) % cap;
        let first = n.min(cap - start);
        out[..first].copy_from_slice(&self.buf[start..start + first]);
        out[first..n].copy_from_slice(&self.buf[..n - first]);
        n
    }

    /// Readable bytes `offset..offset + len` as one slice, if they do not
    /// wrap around the end of the allocation (then [`Self::peek`] copies).
    pub fn contiguous(&self, offset: usize, len: usize) -> Option<&[u8]> {
        if offset + len > self.len {
            return None;
        }
        if len == 0 {
            return Some(&[]);
        }
        let start = (self.head + offset) % self.buf.len();
        self.buf.get(start..start + len)
    }

    /// Moves readable bytes into `out`; returns how many.
    pub fn pop(&mut self, out: &mut [u8]) -> usize {
        let n = self.peek(0, out);
        self.consume(n);
        n
    }

    /// Feeds the bytes held to `h`: the readable ones, then those written
    /// ahead at `ahead` (offsets from the readable end, as the assembler
    /// keeps them), not where they sit in the allocation.
    pub fn fingerprint<H: std::hash::Hasher>(&self, ahead: &[Range<usize>], h: &mut H) {
        h.write_usize(self.limit);
        h.write_usize(self.len);
        let mut byte = [0u8];
        let cap = self.buf.len();
        let mut at = |offset: usize| {
            if cap > 0 {
                byte[0] = self.buf[(self.head + offset) % cap];
            }
            byte[0]
        };
        if let Some(all) = self.contiguous(0, self.len) {
            h.write(all);
        } else {
            for i in 0..self.len {
                h.write_u8(at(i));
            }
        }
        for r in ahead {
            h.write_usize(r.start);
            for i in r.clone() {
                h.write_u8(at(self.len + i));
            }
        }
    }

    /// Forgets every byte and gives the memory back.
    pub fn clear(&mut self) {
        *self = Ring::new(self.limit);
    }
}

/// Out-of-order ranges received past the in-order end, as offsets from
/// that end, sorted and merged. Bounded: past [`Assembler::MAX_RANGES`]
/// ranges a new one is refused (the sender will retransmit).
#[derive(Clone, Debug, Default, Hash)]
pub struct Assembler {
    ranges: Vec<Range<usize>>,
}

impl Assembler {
    /// The most separate ranges remembered.
    pub const MAX_RANGES: usize = 32;

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.ranges.is_empty()
    }

    /// The ranges held (offsets from the in-order end), sorted and merged.
    pub fn ranges(&self) -> &[Range<usize>] {
        &self.ranges
    }

    /// Records bytes `range` as received. Returns false (recording
    /// nothing) if that would need more than [`Self::MAX_RANGES`] ranges.
    pub fn add(&mut self, range: Range<usize>) -> bool {
        if range.is_empty() {
            return true;
        }
        // First range that ends at or after our start: merge from there.
        let i = self.ranges.partition_point(|r| r.end < range.start);
        let mut j = i;
        let mut merged = range.clone();
        while j < self.ranges.len() && self.ranges[j].start <= merged.end {
            merged.start = merged.start.min(self.ranges[j].start);
            merged.end = merged.end.max(self.ranges[j].end);
            j += 1;
        }
        if i == j && self.ranges.len() >= Self::MAX_RANGES {
            return false;
        }
        self.ranges.splice(i..j, std::iter::once(merged));
        true
    }

    /// If a range starts at offset 0, removes it and returns its length;
    /// shifts every other range down by that much.
    pub fn take_front(&mut self) -> usize {
        match self.ranges.first() {
            Some(r) if r.start == 0 => {
                let n = r.end;
                self.ranges.remove(0);
                self.shift(n);
                n
            }
            _ => 0,
        }
    }

    /// Shifts every range down by `n` (the in-order end moved forward),
    /// dropping what falls below zero.
    pub fn shift(&mut self, n: usize) {
        self.ranges.retain_mut(|r| {
            r.start = r.start.saturating_sub(n);
            r.end = r.end.saturating_sub(n);
            r.start < r.end
        });
    }

    /// Forgets everything.
    pub fn clear(&mut self) {
        self.ranges.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ring_wraps_and_grows_without_losing_order() {
        let mut r = Ring::new(10_000);
        assert_eq!(r.allocated(), 0, "idle rings hold no memory");
        let data: Vec<u8> = (0..=255).cycle().take(6000).collect();
        assert_eq!(r.push(&data[..3000]), 3000);
        let mut out = vec![0; 2000];
        assert_eq!(r.pop(&mut out), 2000);
        assert_eq!(out, data[..2000]);
        assert_eq!(r.push(&data[3000..]), 3000);
        let mut rest = vec![0; 5000];
        assert_eq!(r.pop(&mut rest), 4000);
        assert_eq!(rest[..4000], data[2000..]);
        assert!(r.is_empty());
    }

    #[test]
    fn contiguous_slices_stop_at_the_wrap() {
        let mut r = Ring::new(4096);
        r.push(&[1; 4000]);
        let mut out = [0; 3000];
        r.pop(&mut out);
        // 4096 bytes allocated, the head at 3000: 1096 readable bytes
        // before the end of the allocation, the rest from its start.
        r.push(&[2; 2000]);
        assert_eq!(r.contiguous(0, 1096).map(|s| s.len()), Some(1096));
        assert!(r.contiguous(1000, 200).is_none(), "wraps");
        assert_eq!(r.contiguous(1096, 1000), Some(&[2u8; 1000][..]));
    }

    #[test]
    fn ring_refuses_past_its_limit() {
        let mut r = Ring::new(100);
        assert_eq!(r.push(&[1; 150]), 100);
        assert_eq!(r.free(), 0);
        assert_eq!(r.write_at(100, &[2; 5]), 0);
    }

    #[test]
    fn data_written_ahead_survives_draining_the_readable_bytes() {
        let mut r = Ring::new(64);
        r.push(b"ab");
        r.write_at(4, b"ef");
        let mut out = [0; 2];
        assert_eq!(r.pop(&mut out), 2);
        r.write_at(0, b"cd");
        r.commit(4);
        let mut all = [0; 4];
        assert_eq!(r.pop(&mut all), 4);
        assert_eq!(&all, b"cdef");
    }

    #[test]
    fn ring_writes_ahead_then_commits() {
        let mut r = Ring::new(64);
        r.write_at(4, b"efgh");
        r.write_at(0, b"abcd");
        r.commit(8);
        let mut out = [0; 8];
        assert_eq!(r.peek(0, &mut out), 8);
        assert_eq!(&out, b"abcdefgh");
    }

    #[test]
    fn assembler_merges_and_hands_back_the_front() {
        let mut a = Assembler::default();
        assert!(a.add(10..20));
        assert!(a.add(30..40));
        assert!(a.add(15..32));
        assert_eq!(a.ranges(), &[Range { start: 10, end: 40 }]);
        assert_eq!(a.take_front(), 0);
        assert!(a.add(0..10));
        assert_eq!(a.take_front(), 40);
        assert!(a.is_empty());
    }

    #[test]
    fn assembler_is_bounded() {
        let mut a = Assembler::default();
        for i in 0..Assembler::MAX_RANGES {
            assert!(a.add(i * 10 + 1..i * 10 + 2));
        }
        assert!(!a.add(1000..1001));
        // Merging into an existing range is still fine.
        assert!(a.add(1..3));
    }

    #[test]
    fn assembler_shift_drops_what_is_behind() {
        let mut a = Assembler::default();
        a.add(5..10);
        a.add(20..30);
        a.shift(8);
        assert_eq!(a.ranges(), [0..2, 12..22]);
        a.shift(5);
        assert_eq!(a.ranges(), &[Range { start: 7, end: 17 }]);
    }
}
