//! The Internet checksum (RFC 1071) and the TCP-over-IPv4 pseudo-header.
//!
//! [`data`] returns the folded one's-complement *sum* (not its complement),
//! so partial sums over separate pieces can be [`combine`]d. The value that
//! goes into a header's checksum field is `!combine(&[...])`; a received
//! header (checksum field included) is valid when its sum is `0xffff`.
//!
//! Nothing here panics.

use std::net::Ipv4Addr;

/// Folds a wide accumulator into a 16-bit one's-complement sum.
const fn fold(mut acc: u64) -> u16 {
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The one's-complement sum of `bytes` taken as big-endian 16-bit words, an
/// odd trailing byte padded with a zero byte (RFC 1071 section 4.1).
///
/// Adds native-endian 64-bit words with end-around carry and swaps bytes
/// once at the end (RFC 1071 section 2(B): the sum is byte-order
/// independent), so the hot loop is one add and one carry per 8 bytes.
pub fn data(bytes: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut carries: u64 = 0;
    let mut words = bytes.chunks_exact(8);
    for word in &mut words {
        let w = u64::from_ne_bytes(word.try_into().expect("chunks of 8"));
        let (sum, carry) = acc.overflowing_add(w);
        acc = sum;
        carries += u64::from(carry);
    }
    // Fold the 64-bit native sum (and its carries) to 16 bits.
    let mut folded = fold((acc & 0xffff_ffff) + (acc >> 32) + carries);
    let tail = words.remainder();
    let mut rest = tail.chunks_exact(2);
    let mut tail_acc: u64 = 0;
    for word in &mut rest {
        tail_acc += u64::from(u16::from_ne_bytes([word[0], word[1]]));
    }
    if let [last] = rest.remainder() {
        tail_acc += u64::from(u16::from_ne_bytes([*last, 0]));
    }
    folded = fold(u64::from(folded) + tail_acc);
    if cfg!(target_endian = "little") {
        folded.swap_bytes()
    } else {
        folded
    }
}

/// Combines one's-complement sums of pieces of even length.
pub fn combine(sums: &[u16]) -> u16 {
    fold(sums.iter().map(|&s| u64::from(s)).sum())
}

/// The one's-complement sum of the IPv4 pseudo-header (RFC 9293 section
/// 3.1): source address, destination address, a zero byte, the protocol,
/// and the length of the transport segment (header plus data).
///
/// `length` is a `u32` so that any slice length can be passed without a
/// cast; over IPv4 it never exceeds 16 bits.
pub fn pseudo_header_v4(src: Ipv4Addr, dst: Ipv4Addr, protocol: u8, length: u32) -> u16 {
    let src = src.octets();
    let dst = dst.octets();
    let acc = u64::from(u32::from_be_bytes(src))
        + u64::from(u32::from_be_bytes(dst))
        + u64::from(protocol)
        + u64::from(length);
    fold(acc)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// RFC 1071, word by word, folding after every addition.
    fn slow(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            let word = u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
            sum += word;
            if sum > 0xffff {
                sum = (sum & 0xffff) + 1;
            }
        }
        sum as u16
    }

    #[test]
    fn rfc1071_example() {
        // RFC 1071 section 3: the sum of these bytes is ddf2.
        let bytes = [0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7];
        assert_eq!(data(&bytes), 0xddf2);
    }

    #[test]
    fn odd_length_pads_with_zero() {
        assert_eq!(data(&[0x12, 0x34, 0x56]), 0x1234 + 0x5600);
        assert_eq!(data(&[]), 0);
    }

    #[test]
    fn pseudo_header_matches_bytes() {
        let src = Ipv4Addr::new(10, 0, 0, 1);
        let dst = Ipv4Addr::new(192, 168, 255, 254);
        let bytes = [10, 0, 0, 1, 192, 168, 255, 254, 0, 6, 0x05, 0xdc];
        assert_eq!(pseudo_header_v4(src, dst, 6, 1500), slow(&bytes));
    }

    proptest! {
        #[test]
        fn fast_equals_slow(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            prop_assert_eq!(data(&bytes), slow(&bytes));
        }

        #[test]
        fn combine_equals_whole(bytes in proptest::collection::vec(any::<u8>(), 0..300),
                                split in 0usize..150) {
            let split = (split * 2).min(bytes.len() & !1);
            let (a, b) = bytes.split_at(split);
            prop_assert_eq!(combine(&[data(a), data(b)]), data(&bytes));
        }
    }
}
