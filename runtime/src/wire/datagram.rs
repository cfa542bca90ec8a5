//! Whole IPv4 packets carrying TCP: the unit that travels in one UDP
//! datagram.

use std::net::Ipv4Addr;

use super::ipv4::{self, DEFAULT_TTL, Ipv4Packet, Ipv4Repr, PROTOCOL_TCP};
use super::tcp::{TcpPacket, TcpRepr};
use super::{DropReason, EmitError, check_room};

/// Parses an IPv4 packet carrying a TCP segment, verifying both checksums.
///
/// The IPv4 checks come first (see [`Ipv4Packet::check_len`] and
/// [`Ipv4Repr::parse`]), then a protocol other than TCP is
/// [`DropReason::NotTcp`], then the TCP checks (see [`TcpRepr::parse`]).
/// Bytes after the IPv4 total length are ignored. Never panics, never
/// allocates; the returned payload borrows from `bytes`.
pub fn parse(bytes: &[u8]) -> Result<(Ipv4Repr, TcpRepr<'_>), DropReason> {
    let packet = Ipv4Packet::new_checked(bytes)?;
    let ip = Ipv4Repr::parse(&packet)?;
    if ip.protocol != PROTOCOL_TCP {
        return Err(DropReason::NotTcp);
    }
    let segment = TcpPacket::new_checked(packet.payload())?;
    let tcp = TcpRepr::parse(&segment, ip.src_addr, ip.dst_addr)?;
    Ok((ip, tcp))
}

/// The length of the IPv4 packet [`emit`] writes for `tcp`.
pub fn packet_len(tcp: &TcpRepr<'_>) -> usize {
    ipv4::HEADER_LEN + tcp.buffer_len()
}

/// Writes an IPv4 packet (20-byte header, TTL 64, DF set, identification
/// 0) carrying `tcp` from `src` to `dst` to the start of `buf`, with both
/// checksums filled in, and returns its length.
///
/// Fails, writing nothing, if the packet would exceed 65 535 bytes or does
/// not fit in `buf`. Never panics.
pub fn emit(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    tcp: &TcpRepr<'_>,
    buf: &mut [u8],
) -> Result<usize, EmitError> {
    let ip = Ipv4Repr {
        src_addr: src,
        dst_addr: dst,
        protocol: PROTOCOL_TCP,
        payload_len: tcp.buffer_len(),
        ttl: DEFAULT_TTL,
    };
    let len = ip.buffer_len();
    if len > usize::from(u16::MAX) {
        return Err(EmitError::TooLarge { len });
    }
    check_room(len, buf.len())?;
    ip.emit(buf)?;
    tcp.emit(&mut buf[ipv4::HEADER_LEN..len], src, dst)?;
    Ok(len)
}

/// Like [`emit`], into a new vector of exactly the packet's length.
///
/// # Panics
///
/// If the packet would exceed 65 535 bytes (a payload of more than about
/// 65 000 bytes); use [`emit`] to get an error instead.
pub fn emit_vec(src: Ipv4Addr, dst: Ipv4Addr, tcp: &TcpRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0; packet_len(tcp)];
    match emit(src, dst, tcp, &mut buf) {
        Ok(len) => {
            buf.truncate(len);
            buf
        }
        Err(err) => panic!("emit_vec: {err}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{Flags, SeqNum};
    use proptest::prelude::*;

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    /// SYN from 10.0.0.1:1234 to 10.0.0.2:80, seq 1, window 65535, MSS 1460.
    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: SeqNum(1),
            flags: Flags::SYN,
            window: 65_535,
            mss: Some(1460),
            ..TcpRepr::default()
        }
    }

    fn full_syn() -> TcpRepr<'static> {
        TcpRepr {
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((123_456, 0)),
            ..syn()
        }
    }

    /// RFC 1071 the slow way: 16-bit words, folding after each addition.
    fn slow_sum(bytes: &[u8]) -> u16 {
        let mut sum: u32 = 0;
        for pair in bytes.chunks(2) {
            sum += u32::from(pair[0]) << 8 | u32::from(*pair.get(1).unwrap_or(&0));
            if sum > 0xffff {
                sum = (sum & 0xffff) + 1;
            }
        }
        sum as u16
    }

    /// Recomputes both checksums of `packet` after a deliberate change.
    fn refill(packet: &mut [u8]) {
        let ihl = usize::from(packet[0] & 0x0f) * 4;
        Ipv4Packet::new_unchecked(&mut packet[..]).fill_checksum();
        let mut tcp = TcpPacket::new_unchecked(&mut packet[ihl..]);
        tcp.fill_checksum(SRC, DST);
    }

    #[test]
    fn emit_matches_rfc_layout() {
        let mut expected: Vec<u8> = vec![
            // IPv4: version 4, IHL 5, TOS 0, total length 44, id 0, DF,
            // TTL 64, protocol 6, checksum (below), 10.0.0.1 > 10.0.0.2.
            0x45, 0x00, 0x00, 44, 0x00, 0x00, 0x40, 0x00, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
            // TCP: ports 1234 > 80, seq 1, ack 0, data offset 6, SYN,
            // window 65535, checksum (below), urgent 0, MSS 1460.
            0x04, 0xd2, 0x00, 0x50, 0, 0, 0, 1, 0, 0, 0, 0, 0x60, 0x02, 0xff, 0xff, 0, 0, 0, 0, 2,
            4, 0x05, 0xb4,
        ];
        let ip_sum = !slow_sum(&expected[..20]);
        expected[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        let mut pseudo = vec![10, 0, 0, 1, 10, 0, 0, 2, 0, 6, 0, 24];
        pseudo.extend_from_slice(&expected[20..]);
        let tcp_sum = !slow_sum(&pseudo);
        expected[36..38].copy_from_slice(&tcp_sum.to_be_bytes());

        assert_eq!(emit_vec(SRC, DST, &syn()), expected);
        let (ip, tcp) = parse(&expected).unwrap();
        assert_eq!(
            (ip.src_addr, ip.dst_addr, ip.payload_len, ip.ttl),
            (SRC, DST, 24, 64)
        );
        assert_eq!(tcp, syn());
    }

    #[test]
    fn round_trips() {
        let data = TcpRepr {
            flags: Flags::PSH,
            ack: Some(SeqNum(99)),
            timestamps: Some((5, 6)),
            payload: &[7; 1000],
            ..TcpRepr::default()
        };
        let fin = TcpRepr {
            flags: Flags::FIN,
            payload: &[],
            ..data
        };
        let rst = TcpRepr {
            flags: Flags::RST,
            ack: None,
            ..TcpRepr::default()
        };
        for repr in [syn(), full_syn(), data, fin, rst] {
            let bytes = emit_vec(SRC, DST, &repr);
            assert_eq!(bytes.len(), packet_len(&repr));
            let (ip, tcp) = parse(&bytes).unwrap();
            assert_eq!(ip.payload_len, repr.buffer_len());
            assert_eq!(tcp, repr);
        }
    }

    #[test]
    fn emit_refuses_small_and_huge() {
        let mut buf = [0; 43];
        assert_eq!(
            emit(SRC, DST, &syn(), &mut buf),
            Err(EmitError::BufferTooSmall {
                needed: 44,
                available: 43
            })
        );
        let big = [0; 65_496];
        let huge = TcpRepr {
            payload: &big,
            ..TcpRepr::default()
        };
        assert_eq!(
            emit(SRC, DST, &huge, &mut [0; 16]),
            Err(EmitError::TooLarge { len: 65_536 })
        );
        let max = TcpRepr {
            payload: &big[1..],
            ..huge
        };
        assert_eq!(emit_vec(SRC, DST, &max).len(), 65_535);
    }

    #[test]
    fn every_drop_reason_is_produced() {
        let good = emit_vec(SRC, DST, &syn());
        let change = |f: &dyn Fn(&mut Vec<u8>), fix: bool| {
            let mut p = good.clone();
            f(&mut p);
            if fix {
                refill(&mut p);
            }
            parse(&p).map(|_| ()).unwrap_err()
        };
        use DropReason::*;
        let cases: [(DropReason, DropReason); DropReason::COUNT] = [
            (change(&|p| p.truncate(43), false), Truncated),
            (change(&|p| p[0] = 0x55, false), BadIpVersion),
            (change(&|p| p[0] = 0x44, false), BadIpHeaderLength),
            (change(&|p| p[3] = 19, false), BadIpTotalLength),
            (change(&|p| p[8] = 1, false), BadIpChecksum),
            (change(&|p| p[6] = 0x20, true), Fragment),
            (change(&|p| p[9] = 17, true), NotTcp),
            (
                change(
                    &|p| {
                        p[3] = 39;
                        p.truncate(39)
                    },
                    true,
                ),
                TcpTooShort,
            ),
            (change(&|p| p[32] = 0x40, false), BadDataOffset),
            (change(&|p| p[40] ^= 1, false), BadTcpChecksum),
            (change(&|p| p[41] = 3, true), BadOption),
        ];
        for (i, (got, want)) in cases.into_iter().enumerate() {
            assert_eq!(got, want);
            assert_eq!(want, DropReason::ALL[i]);
        }
    }

    #[test]
    fn every_truncation_is_rejected() {
        let good = emit_vec(SRC, DST, &full_syn());
        for len in 0..good.len() {
            assert!(parse(&good[..len]).is_err(), "accepted {len} bytes");
        }
    }

    proptest! {
        #[test]
        fn parse_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..120)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn parse_never_panics_on_mutations(
            flips in proptest::collection::vec((0usize..64, any::<u8>()), 1..4),
            truncate in 0usize..80,
            fix in any::<bool>(),
        ) {
            let mut bytes = emit_vec(SRC, DST, &TcpRepr { payload: b"data", ..full_syn() });
            for (at, xor) in flips {
                let at = at % bytes.len();
                bytes[at] ^= xor;
            }
            if fix && bytes[0] >> 4 == 4 && usize::from(bytes[0] & 0x0f) * 4 + 20 <= bytes.len() {
                refill(&mut bytes);
            }
            bytes.truncate(truncate);
            let _ = parse(&bytes);
        }
    }
}
