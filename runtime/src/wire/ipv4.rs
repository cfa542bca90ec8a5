//! IPv4 packets (RFC 791).
//!
//! [`Ipv4Packet`] is a zero-copy view; [`Ipv4Repr`] the parsed header.
//! Options in received headers are skipped; emitted headers never carry
//! options. Fragments are rejected, not reassembled.
//!
//! # Panics
//!
//! Accessors and setters of a view made with [`Ipv4Packet::new_unchecked`]
//! panic if the buffer is shorter than [`HEADER_LEN`];
//! [`Ipv4Packet::payload`] and [`Ipv4Packet::verify_checksum`] also panic if
//! it is shorter than the header or total length fields say. A view from
//! [`Ipv4Packet::new_checked`] never panics. [`Ipv4Repr::parse`] and
//! [`Ipv4Repr::emit`] never panic.

use std::net::Ipv4Addr;

use super::{DropReason, EmitError, check_room, checksum};

/// Length of an IPv4 header without options.
pub const HEADER_LEN: usize = 20;

/// The IPv4 protocol number of TCP.
pub const PROTOCOL_TCP: u8 = 6;

/// The time to live of emitted packets unless a caller chooses otherwise.
pub const DEFAULT_TTL: u8 = 64;

/// Byte offsets of the header fields.
mod field {
    use std::ops::Range;

    pub const VER_IHL: usize = 0;
    pub const DSCP_ECN: usize = 1;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLG_OFF: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC_ADDR: Range<usize> = 12..16;
    pub const DST_ADDR: Range<usize> = 16..20;
}

/// Flag bits in the flags/fragment-offset word.
const FLAG_DF: u16 = 0x4000;
const FLAG_MF: u16 = 0x2000;
const FRAG_OFFSET_MASK: u16 = 0x1fff;

/// A read/write view of an IPv4 packet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ipv4Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Ipv4Packet<T> {
    /// Wraps a buffer without checking anything.
    pub const fn new_unchecked(buffer: T) -> Ipv4Packet<T> {
        Ipv4Packet { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<Ipv4Packet<T>, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that every accessor can be called without panicking:
    ///
    /// * the buffer holds at least [`HEADER_LEN`] bytes, else
    ///   [`DropReason::Truncated`];
    /// * the version is 4, else [`DropReason::BadIpVersion`];
    /// * the header length is at least 20, else
    ///   [`DropReason::BadIpHeaderLength`];
    /// * the total length is at least the header length, else
    ///   [`DropReason::BadIpTotalLength`];
    /// * the buffer holds the total length, else [`DropReason::Truncated`].
    ///
    /// Bytes after the total length (link-layer padding) are allowed and
    /// ignored.
    pub fn check_len(&self) -> Result<(), DropReason> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(DropReason::Truncated);
        }
        if self.version() != 4 {
            return Err(DropReason::BadIpVersion);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN {
            return Err(DropReason::BadIpHeaderLength);
        }
        let total_len = usize::from(self.total_len());
        if total_len < header_len {
            return Err(DropReason::BadIpTotalLength);
        }
        if total_len > len {
            return Err(DropReason::Truncated);
        }
        Ok(())
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The version field (4 for IPv4).
    pub fn version(&self) -> u8 {
        self.buffer.as_ref()[field::VER_IHL] >> 4
    }

    /// The header length in bytes (IHL × 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::VER_IHL] & 0x0f) * 4
    }

    /// The DSCP and ECN byte.
    pub fn dscp_ecn(&self) -> u8 {
        self.buffer.as_ref()[field::DSCP_ECN]
    }

    /// The total length (header plus payload) in bytes.
    pub fn total_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::LENGTH.start)
    }

    /// The identification field.
    pub fn ident(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::IDENT.start)
    }

    /// The Don't Fragment flag.
    pub fn dont_frag(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_DF != 0
    }

    /// The More Fragments flag.
    pub fn more_frags(&self) -> bool {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FLAG_MF != 0
    }

    /// The fragment offset in 8-byte units.
    pub fn frag_offset(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::FLG_OFF.start) & FRAG_OFFSET_MASK
    }

    /// The time to live.
    pub fn ttl(&self) -> u8 {
        self.buffer.as_ref()[field::TTL]
    }

    /// The protocol of the payload.
    pub fn protocol(&self) -> u8 {
        self.buffer.as_ref()[field::PROTOCOL]
    }

    /// The header checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), field::SRC_ADDR.start))
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        Ipv4Addr::from(read_u32(self.buffer.as_ref(), field::DST_ADDR.start))
    }

    /// Whether the header checksum (over the whole header, options
    /// included) is valid.
    pub fn verify_checksum(&self) -> bool {
        let header = &self.buffer.as_ref()[..usize::from(self.header_len())];
        checksum::data(header) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> Ipv4Packet<&'a T> {
    /// The payload: the bytes between the header length and the total
    /// length.
    pub fn payload(&self) -> &'a [u8] {
        let start = usize::from(self.header_len());
        let end = usize::from(self.total_len());
        &self.buffer.as_ref()[start..end]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Ipv4Packet<T> {
    /// Sets the version and the header length (in bytes, a multiple of 4).
    pub fn set_version_and_header_len(&mut self, version: u8, header_len: u8) {
        self.buffer.as_mut()[field::VER_IHL] = (version << 4) | ((header_len / 4) & 0x0f);
    }

    /// Sets the DSCP and ECN byte.
    pub fn set_dscp_ecn(&mut self, value: u8) {
        self.buffer.as_mut()[field::DSCP_ECN] = value;
    }

    /// Sets the total length.
    pub fn set_total_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::LENGTH.start, value);
    }

    /// Sets the identification field.
    pub fn set_ident(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::IDENT.start, value);
    }

    /// Sets the flags and fragment offset: DF as given, MF clear, offset 0.
    pub fn set_unfragmented(&mut self, dont_frag: bool) {
        let value = if dont_frag { FLAG_DF } else { 0 };
        write_u16(self.buffer.as_mut(), field::FLG_OFF.start, value);
    }

    /// Sets the time to live.
    pub fn set_ttl(&mut self, value: u8) {
        self.buffer.as_mut()[field::TTL] = value;
    }

    /// Sets the protocol.
    pub fn set_protocol(&mut self, value: u8) {
        self.buffer.as_mut()[field::PROTOCOL] = value;
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the source address.
    pub fn set_src_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::SRC_ADDR].copy_from_slice(&addr.octets());
    }

    /// Sets the destination address.
    pub fn set_dst_addr(&mut self, addr: Ipv4Addr) {
        self.buffer.as_mut()[field::DST_ADDR].copy_from_slice(&addr.octets());
    }

    /// Computes the header checksum and stores it.
    pub fn fill_checksum(&mut self) {
        self.set_checksum(0);
        let header_len = usize::from(self.header_len());
        let sum = checksum::data(&self.buffer.as_ref()[..header_len]);
        self.set_checksum(!sum);
    }

    /// The payload, for writing: the bytes after the header up to the total
    /// length.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        let end = usize::from(self.total_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

/// A parsed IPv4 header.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Ipv4Repr {
    /// Source address.
    pub src_addr: Ipv4Addr,
    /// Destination address.
    pub dst_addr: Ipv4Addr,
    /// Protocol of the payload ([`PROTOCOL_TCP`] for TCP).
    pub protocol: u8,
    /// Length of the payload in bytes.
    pub payload_len: usize,
    /// Time to live.
    pub ttl: u8,
}

impl Ipv4Repr {
    /// Parses a checked view: verifies the header checksum
    /// ([`DropReason::BadIpChecksum`]) and rejects fragments
    /// ([`DropReason::Fragment`]). Header options are skipped.
    ///
    /// Never panics: the length checks of
    /// [`Ipv4Packet::check_len`] are repeated here.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Ipv4Packet<&T>) -> Result<Ipv4Repr, DropReason> {
        packet.check_len()?;
        if !packet.verify_checksum() {
            return Err(DropReason::BadIpChecksum);
        }
        if packet.more_frags() || packet.frag_offset() != 0 {
            return Err(DropReason::Fragment);
        }
        Ok(Ipv4Repr {
            src_addr: packet.src_addr(),
            dst_addr: packet.dst_addr(),
            protocol: packet.protocol(),
            payload_len: usize::from(packet.total_len() - u16::from(packet.header_len())),
            ttl: packet.ttl(),
        })
    }

    /// The length of the emitted header: always [`HEADER_LEN`].
    pub const fn header_len(&self) -> usize {
        HEADER_LEN
    }

    /// The length of the whole emitted packet, header plus payload.
    pub const fn buffer_len(&self) -> usize {
        HEADER_LEN + self.payload_len
    }

    /// Writes a 20-byte header (no options, DSCP/ECN 0, identification 0,
    /// DF set) with a valid checksum to the start of `buffer`. The payload
    /// bytes that follow are left untouched.
    ///
    /// Fails, writing nothing, if the packet would exceed 65 535 bytes or
    /// `buffer` is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buffer: &mut [u8]) -> Result<(), EmitError> {
        let len = self.payload_len.saturating_add(HEADER_LEN);
        let total_len = u16::try_from(len).map_err(|_| EmitError::TooLarge { len })?;
        check_room(len, buffer.len())?;
        let mut packet = Ipv4Packet::new_unchecked(buffer);
        packet.set_version_and_header_len(4, HEADER_LEN as u8);
        packet.set_dscp_ecn(0);
        packet.set_total_len(total_len);
        packet.set_ident(0);
        packet.set_unfragmented(true);
        packet.set_ttl(self.ttl);
        packet.set_protocol(self.protocol);
        packet.set_src_addr(self.src_addr);
        packet.set_dst_addr(self.dst_addr);
        packet.fill_checksum();
        Ok(())
    }
}

/// Reads a big-endian `u16` at `at`.
fn read_u16(buf: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([buf[at], buf[at + 1]])
}

/// Reads a big-endian `u32` at `at`.
fn read_u32(buf: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]])
}

/// Writes a big-endian `u16` at `at`.
fn write_u16(buf: &mut [u8], at: usize, value: u16) {
    buf[at..at + 2].copy_from_slice(&value.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A 20-byte header from 10.0.0.1 to 10.0.0.2, protocol 6, 4 bytes of
    /// payload, TTL 64, DF; checksum worked out by hand.
    const HEADER: [u8; 20] = [
        0x45, 0x00, 0x00, 0x18, 0x00, 0x00, 0x40, 0x00, 0x40, 0x06, 0x26, 0xde, 10, 0, 0, 1, 10, 0,
        0, 2,
    ];

    fn repr() -> Ipv4Repr {
        Ipv4Repr {
            src_addr: Ipv4Addr::new(10, 0, 0, 1),
            dst_addr: Ipv4Addr::new(10, 0, 0, 2),
            protocol: PROTOCOL_TCP,
            payload_len: 4,
            ttl: DEFAULT_TTL,
        }
    }

    fn packet_with(f: impl FnOnce(&mut [u8])) -> Vec<u8> {
        let mut bytes = HEADER.to_vec();
        bytes.extend_from_slice(&[1, 2, 3, 4]);
        f(&mut bytes);
        bytes
    }

    fn parse(bytes: &[u8]) -> Result<Ipv4Repr, DropReason> {
        Ipv4Repr::parse(&Ipv4Packet::new_checked(bytes)?)
    }

    #[test]
    fn emit_matches_hand_made_header() {
        let mut buf = [0xaa; 24];
        repr().emit(&mut buf).unwrap();
        assert_eq!(buf[..20], HEADER);
        assert_eq!(buf[20..], [0xaa; 4]);
    }

    #[test]
    fn parse_hand_made_header() {
        let bytes = packet_with(|_| {});
        assert_eq!(parse(&bytes), Ok(repr()));
        assert_eq!(
            Ipv4Packet::new_checked(&bytes[..]).unwrap().payload(),
            [1, 2, 3, 4]
        );
    }

    #[test]
    fn bytes_past_total_length_are_ignored() {
        let mut bytes = packet_with(|_| {});
        bytes.extend_from_slice(&[0; 6]);
        assert_eq!(parse(&bytes), Ok(repr()));
    }

    #[test]
    fn options_are_skipped() {
        // IHL 6 with one NOP-padded option word; total length 28.
        let mut bytes = HEADER.to_vec();
        bytes[0] = 0x46;
        bytes[3] = 28;
        bytes.extend_from_slice(&[1, 1, 1, 0, 9, 9, 9, 9]);
        let mut packet = Ipv4Packet::new_unchecked(&mut bytes[..]);
        packet.fill_checksum();
        let packet = Ipv4Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(Ipv4Repr::parse(&packet), Ok(repr()));
        assert_eq!(packet.payload(), [9, 9, 9, 9]);
    }

    #[test]
    fn rejects_short_buffer() {
        assert_eq!(parse(&HEADER[..19]), Err(DropReason::Truncated));
        assert_eq!(parse(&HEADER), Err(DropReason::Truncated));
    }

    #[test]
    fn rejects_bad_fields() {
        type Case = (fn(&mut [u8]), DropReason);
        let cases: [Case; 5] = [
            (|b| b[0] = 0x65, DropReason::BadIpVersion),
            (|b| b[0] = 0x44, DropReason::BadIpHeaderLength),
            (|b| b[3] = 19, DropReason::BadIpTotalLength),
            (|b| b[8] = 63, DropReason::BadIpChecksum),
            (|b| b[3] = 25, DropReason::Truncated),
        ];
        for (mutate, reason) in cases {
            assert_eq!(parse(&packet_with(mutate)), Err(reason));
        }
    }

    #[test]
    fn rejects_fragments() {
        for flags in [[0x20, 0x00], [0x40, 0x01], [0x00, 0x08]] {
            let mut bytes = packet_with(|b| b[6..8].copy_from_slice(&flags));
            Ipv4Packet::new_unchecked(&mut bytes[..]).fill_checksum();
            assert_eq!(parse(&bytes), Err(DropReason::Fragment));
        }
    }

    #[test]
    fn emit_refuses_small_buffer_and_huge_payload() {
        let mut buf = [0; 23];
        assert_eq!(
            repr().emit(&mut buf),
            Err(EmitError::BufferTooSmall {
                needed: 24,
                available: 23
            })
        );
        let huge = Ipv4Repr {
            payload_len: 65_516,
            ..repr()
        };
        assert_eq!(
            huge.emit(&mut buf),
            Err(EmitError::TooLarge { len: 65_536 })
        );
    }
}
