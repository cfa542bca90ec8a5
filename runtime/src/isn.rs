//! Initial sequence numbers (RFC 9293 section 3.4.1, RFC 6528).
//!
//! `ISN = M + F(localip, localport, remoteip, remoteport, secretkey)` where
//! `M` is a timer ticking every 4 microseconds and `F` is SipHash-2-4 of the
//! connection 4-tuple under a 128-bit secret key, truncated to 32 bits.
//!
//! Successive connections with the same 4-tuple get ISNs that advance with
//! the clock, as the TIME-WAIT assumptions of RFC 9293 need, while an
//! off-path attacker cannot predict the ISN of a tuple it has not seen
//! (RFC 6528 section 3).
//!
//! Nothing here panics.

use std::fmt;
use std::net::SocketAddrV4;
use std::time::Duration;

use siphasher::sip::SipHasher24;

use crate::wire::SeqNum;

/// Generates initial sequence numbers from a secret key.
#[derive(Clone)]
pub struct IsnGenerator {
    hasher: SipHasher24,
    /// How far the clock runs ahead of the elapsed time it is given (see
    /// [`IsnGenerator::advance`]).
    ahead: Duration,
}

impl IsnGenerator {
    /// A generator with the given secret key.
    pub fn new(key: [u8; 16]) -> Self {
        IsnGenerator {
            hasher: SipHasher24::new_with_key(&key),
            ahead: Duration::ZERO,
        }
    }

    /// A generator with a key from `/dev/urandom`, or, where that cannot be
    /// read, from the standard library's per-process random hash keys.
    pub fn random() -> Self {
        Self::new(random_key())
    }

    /// The ISN for a connection from `local` to `remote`, opened
    /// `elapsed_since_start` after an arbitrary, fixed origin (typically
    /// when the stack started).
    ///
    /// The timer part is `elapsed / 4 µs` modulo 2^32, so it wraps about
    /// every 4.77 hours, as RFC 9293 describes.
    pub fn isn(
        &self,
        elapsed_since_start: Duration,
        local: SocketAddrV4,
        remote: SocketAddrV4,
    ) -> SeqNum {
        let m = ((elapsed_since_start + self.ahead).as_micros() / 4) as u32;
        SeqNum(m.wrapping_add(self.f(local, remote)))
    }

    /// Moves the timer part ahead by `by`, with no time passing: for a
    /// simulation whose virtual time stands still between two incarnations
    /// of a connection (an explorer's), where a real clock would have
    /// ticked at least a round trip, so that the second does not take the
    /// first's ISN.
    pub fn advance(&mut self, by: Duration) {
        self.ahead += by;
    }

    /// How far [`IsnGenerator::advance`] moved the clock ahead.
    pub fn ahead(&self) -> Duration {
        self.ahead
    }

    /// `F`: SipHash-2-4 of the 4-tuple, low 32 bits.
    fn f(&self, local: SocketAddrV4, remote: SocketAddrV4) -> u32 {
        let mut tuple = [0u8; 12];
        tuple[0..4].copy_from_slice(&local.ip().octets());
        tuple[4..6].copy_from_slice(&local.port().to_be_bytes());
        tuple[6..10].copy_from_slice(&remote.ip().octets());
        tuple[10..12].copy_from_slice(&remote.port().to_be_bytes());
        self.hasher.hash(&tuple) as u32
    }
}

impl fmt::Debug for IsnGenerator {
    /// Does not show the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IsnGenerator").finish_non_exhaustive()
    }
}

/// 16 random bytes: from `/dev/urandom`, else from `RandomState`.
fn random_key() -> [u8; 16] {
    use std::io::Read;

    let mut key = [0u8; 16];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut key));
    if from_os.is_err() {
        key = fallback_key();
    }
    key
}

/// 16 bytes from two `RandomState`s, which the standard library seeds from
/// the OS once per process (and varies per instance), mixed with the time.
fn fallback_key() -> [u8; 16] {
    use std::collections::hash_map::RandomState;
    use std::hash::BuildHasher;

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let high = RandomState::new().hash_one(now);
    let low = RandomState::new().hash_one((now, high));
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&high.to_le_bytes());
    key[8..].copy_from_slice(&low.to_le_bytes());
    key
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const KEY: [u8; 16] = *b"0123456789abcdef";

    fn addr(last: u8, port: u16) -> SocketAddrV4 {
        SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, last), port)
    }

    #[test]
    fn same_inputs_same_isn() {
        let (a, b) = (IsnGenerator::new(KEY), IsnGenerator::new(KEY));
        let t = Duration::from_millis(1234);
        assert_eq!(
            a.isn(t, addr(1, 1000), addr(2, 80)),
            b.isn(t, addr(1, 1000), addr(2, 80))
        );
    }

    #[test]
    fn different_tuples_different_isns() {
        let g = IsnGenerator::new(KEY);
        let t = Duration::ZERO;
        let base = g.isn(t, addr(1, 1000), addr(2, 80));
        for (local, remote) in [
            (addr(1, 1001), addr(2, 80)),
            (addr(3, 1000), addr(2, 80)),
            (addr(1, 1000), addr(2, 81)),
            (addr(1, 1000), addr(4, 80)),
            (addr(2, 80), addr(1, 1000)),
        ] {
            assert_ne!(g.isn(t, local, remote), base, "{local} {remote}");
        }
    }

    #[test]
    fn different_keys_different_isns() {
        let other = IsnGenerator::random();
        let g = IsnGenerator::new(KEY);
        let t = Duration::ZERO;
        assert_ne!(
            g.isn(t, addr(1, 1), addr(2, 2)),
            other.isn(t, addr(1, 1), addr(2, 2))
        );
    }

    #[test]
    fn timer_advances_250_per_millisecond_and_wraps() {
        let g = IsnGenerator::new(KEY);
        let (l, r) = (addr(1, 1000), addr(2, 80));
        let at = |t: Duration| g.isn(t, l, r);
        let start = Duration::from_secs(100);
        assert_eq!(at(start + Duration::from_millis(1)) - at(start), 250);
        assert_eq!(at(start + Duration::from_micros(3)), at(start));
        let wrap = Duration::from_micros(4 << 32);
        assert_eq!(at(start + wrap), at(start));
    }

    #[test]
    fn f_is_siphash_of_the_tuple() {
        let g = IsnGenerator::new(KEY);
        let bytes = [10, 0, 0, 1, 0x03, 0xe8, 10, 0, 0, 2, 0, 80];
        let expected = SipHasher24::new_with_key(&KEY).hash(&bytes) as u32;
        assert_eq!(
            g.isn(Duration::ZERO, addr(1, 1000), addr(2, 80)),
            SeqNum(expected)
        );
    }

    #[test]
    fn fallback_key_is_not_constant() {
        assert_ne!(fallback_key(), fallback_key());
        assert_ne!(fallback_key(), [0; 16]);
    }

    #[test]
    fn debug_hides_key() {
        assert_eq!(
            format!("{:?}", IsnGenerator::new(KEY)),
            "IsnGenerator { .. }"
        );
    }
}
