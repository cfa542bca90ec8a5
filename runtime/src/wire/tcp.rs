//! TCP segments (RFC 9293) with the MSS, window scale and timestamp
//! (RFC 7323), SACK-permitted and SACK (RFC 2018) options.
//!
//! [`TcpPacket`] is a zero-copy view of a segment (the IPv4 payload);
//! [`TcpRepr`] the parsed, validated segment, borrowing its payload.
//!
//! # Panics
//!
//! Accessors and setters of a view made with [`TcpPacket::new_unchecked`]
//! panic if the buffer is shorter than [`HEADER_LEN`]; the options and
//! payload accessors also panic if it is shorter than the data offset says.
//! A view from [`TcpPacket::new_checked`] never panics. [`TcpRepr::parse`]
//! and [`TcpRepr::emit`] never panic.

use std::fmt;
use std::net::Ipv4Addr;

use super::flags::ACK_BIT;
use super::ipv4::PROTOCOL_TCP;
use super::{DropReason, EmitError, SackBlocks, SeqNum, check_room, checksum};

pub use super::flags::Flags;

/// Length of a TCP header without options.
pub const HEADER_LEN: usize = 20;

/// Longest TCP header: data offset 15, that is 40 bytes of options.
pub const MAX_HEADER_LEN: usize = 60;

/// Largest window shift allowed by RFC 7323 section 2.3; larger received
/// values are taken as this.
pub const MAX_WINDOW_SCALE: u8 = 14;

/// Byte offsets of the header fields.
mod field {
    use std::ops::Range;

    pub const SRC_PORT: Range<usize> = 0..2;
    pub const DST_PORT: Range<usize> = 2..4;
    pub const SEQ_NUM: Range<usize> = 4..8;
    pub const ACK_NUM: Range<usize> = 8..12;
    pub const DATA_OFF: usize = 12;
    pub const FLAGS: usize = 13;
    pub const WINDOW: Range<usize> = 14..16;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const URGENT: Range<usize> = 18..20;
}

/// Option kinds (IANA "TCP Option Kind Numbers").
mod kind {
    pub const END: u8 = 0;
    pub const NOP: u8 = 1;
    pub const MSS: u8 = 2;
    pub const WINDOW_SCALE: u8 = 3;
    pub const SACK_PERMITTED: u8 = 4;
    pub const SACK: u8 = 5;
    pub const TIMESTAMPS: u8 = 8;
}

/// A read/write view of a TCP segment (header, options and payload).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TcpPacket<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> TcpPacket<T> {
    /// Wraps a buffer without checking anything.
    pub const fn new_unchecked(buffer: T) -> TcpPacket<T> {
        TcpPacket { buffer }
    }

    /// Wraps a buffer after [`check_len`](Self::check_len).
    pub fn new_checked(buffer: T) -> Result<TcpPacket<T>, DropReason> {
        let packet = Self::new_unchecked(buffer);
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that every accessor can be called without panicking: the
    /// buffer holds at least [`HEADER_LEN`] bytes, else
    /// [`DropReason::TcpTooShort`], and the header length is at least 20 and
    /// at most the buffer length, else [`DropReason::BadDataOffset`].
    pub fn check_len(&self) -> Result<(), DropReason> {
        let len = self.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(DropReason::TcpTooShort);
        }
        let header_len = usize::from(self.header_len());
        if header_len < HEADER_LEN || header_len > len {
            return Err(DropReason::BadDataOffset);
        }
        Ok(())
    }

    /// Unwraps the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    /// The source port.
    pub fn src_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::SRC_PORT.start)
    }

    /// The destination port.
    pub fn dst_port(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::DST_PORT.start)
    }

    /// The sequence number.
    pub fn seq_number(&self) -> SeqNum {
        SeqNum(read_u32(self.buffer.as_ref(), field::SEQ_NUM.start))
    }

    /// The acknowledgment number field (meaningful only if [`ack`](Self::ack)).
    pub fn ack_number(&self) -> SeqNum {
        SeqNum(read_u32(self.buffer.as_ref(), field::ACK_NUM.start))
    }

    /// The header length in bytes (data offset × 4).
    pub fn header_len(&self) -> u8 {
        (self.buffer.as_ref()[field::DATA_OFF] >> 4) * 4
    }

    /// Whether the ACK bit is set.
    pub fn ack(&self) -> bool {
        self.buffer.as_ref()[field::FLAGS] & ACK_BIT != 0
    }

    /// The control bits other than ACK.
    pub fn flags(&self) -> Flags {
        Flags::from_bits(self.buffer.as_ref()[field::FLAGS])
    }

    /// The window field (unscaled).
    pub fn window_len(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::WINDOW.start)
    }

    /// The checksum field.
    pub fn checksum(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::CHECKSUM.start)
    }

    /// The urgent pointer field.
    pub fn urgent_at(&self) -> u16 {
        read_u16(self.buffer.as_ref(), field::URGENT.start)
    }

    /// The raw option bytes between the fixed header and the data offset.
    pub fn options(&self) -> &[u8] {
        &self.buffer.as_ref()[HEADER_LEN..usize::from(self.header_len())]
    }

    /// Whether the checksum over the IPv4 pseudo-header and the whole
    /// buffer is valid.
    pub fn verify_checksum(&self, src: Ipv4Addr, dst: Ipv4Addr) -> bool {
        let bytes = self.buffer.as_ref();
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let pseudo = checksum::pseudo_header_v4(src, dst, PROTOCOL_TCP, length);
        checksum::combine(&[pseudo, checksum::data(bytes)]) == 0xffff
    }
}

impl<'a, T: AsRef<[u8]> + ?Sized> TcpPacket<&'a T> {
    /// The payload: everything after the header.
    pub fn payload(&self) -> &'a [u8] {
        &self.buffer.as_ref()[usize::from(self.header_len())..]
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> TcpPacket<T> {
    /// Sets the source port.
    pub fn set_src_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::SRC_PORT.start, value);
    }

    /// Sets the destination port.
    pub fn set_dst_port(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::DST_PORT.start, value);
    }

    /// Sets the sequence number.
    pub fn set_seq_number(&mut self, value: SeqNum) {
        self.buffer.as_mut()[field::SEQ_NUM].copy_from_slice(&value.0.to_be_bytes());
    }

    /// Sets the acknowledgment number field.
    pub fn set_ack_number(&mut self, value: SeqNum) {
        self.buffer.as_mut()[field::ACK_NUM].copy_from_slice(&value.0.to_be_bytes());
    }

    /// Sets the header length in bytes (a multiple of 4, at most 60); the
    /// reserved bits are cleared.
    pub fn set_header_len(&mut self, len: u8) {
        self.buffer.as_mut()[field::DATA_OFF] = (len / 4) << 4;
    }

    /// Sets the flags byte: `flags` plus the ACK bit if `ack`.
    pub fn set_flags(&mut self, flags: Flags, ack: bool) {
        let ack = if ack { ACK_BIT } else { 0 };
        self.buffer.as_mut()[field::FLAGS] = flags.bits() | ack;
    }

    /// Sets the window field.
    pub fn set_window_len(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::WINDOW.start, value);
    }

    /// Sets the checksum field.
    pub fn set_checksum(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::CHECKSUM.start, value);
    }

    /// Sets the urgent pointer field.
    pub fn set_urgent_at(&mut self, value: u16) {
        write_u16(self.buffer.as_mut(), field::URGENT.start, value);
    }

    /// The option bytes, for writing.
    pub fn options_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.header_len());
        &mut self.buffer.as_mut()[HEADER_LEN..end]
    }

    /// The payload, for writing.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let start = usize::from(self.header_len());
        &mut self.buffer.as_mut()[start..]
    }

    /// Computes the checksum over the IPv4 pseudo-header and the whole
    /// buffer, and stores it.
    pub fn fill_checksum(&mut self, src: Ipv4Addr, dst: Ipv4Addr) {
        self.set_checksum(0);
        let bytes = self.buffer.as_ref();
        let length = u32::try_from(bytes.len()).unwrap_or(u32::MAX);
        let pseudo = checksum::pseudo_header_v4(src, dst, PROTOCOL_TCP, length);
        let sum = checksum::combine(&[pseudo, checksum::data(bytes)]);
        self.set_checksum(!sum);
    }
}

/// A parsed TCP segment.
///
/// Build one with struct-update syntax from [`Default`] (all zero, no
/// options, empty payload).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct TcpRepr<'a> {
    /// Source port.
    pub src_port: u16,
    /// Destination port.
    pub dst_port: u16,
    /// Sequence number of the first octet (of the SYN, if set).
    pub seq: SeqNum,
    /// Acknowledgment number; `Some` exactly when the ACK bit is set.
    pub ack: Option<SeqNum>,
    /// Control bits other than ACK.
    pub flags: Flags,
    /// Window field, unscaled.
    pub window: u16,
    /// Urgent pointer field.
    pub urgent: u16,
    /// Maximum segment size option; never `Some(0)` after parsing.
    pub mss: Option<u16>,
    /// Window scale option (shift count); at most [`MAX_WINDOW_SCALE`]
    /// after parsing.
    pub window_scale: Option<u8>,
    /// SACK-permitted option.
    pub sack_permitted: bool,
    /// SACK option: the blocks, in the segment's order. On emission only
    /// as many as fit beside the other options are written.
    pub sack: SackBlocks,
    /// Timestamps option: `(TSval, TSecr)`.
    pub timestamps: Option<(u32, u32)>,
    /// Segment data.
    pub payload: &'a [u8],
}

impl<'a> TcpRepr<'a> {
    /// Parses a segment received from `src` to `dst` (the IPv4 addresses
    /// for the pseudo-header).
    ///
    /// Repeats the length checks of [`TcpPacket::check_len`], then verifies
    /// the checksum ([`DropReason::BadTcpChecksum`]) and the options
    /// ([`DropReason::BadOption`]):
    ///
    /// * End of option list ends parsing; NOP is skipped;
    /// * MSS (length 4), window scale (3), SACK-permitted (2) and
    ///   timestamps (10) must have exactly that length, and MSS must not
    ///   be 0; a window scale above 14 is taken as 14 (RFC 7323 2.3);
    /// * a SACK option of 1 to 4 whole blocks is read; one of another
    ///   length is skipped, as Linux does, and the segment kept (its ACK
    ///   still counts): what its blocks claim is for the sender to check;
    /// * other kinds are skipped by their length;
    /// * a length of 0 or 1, or an option running past the header, is an
    ///   error.
    ///
    /// A repeated option overrides the earlier one. Whether an option is
    /// allowed on a non-SYN segment is for the caller to decide.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(
        packet: &TcpPacket<&'a T>,
        src: Ipv4Addr,
        dst: Ipv4Addr,
    ) -> Result<TcpRepr<'a>, DropReason> {
        packet.check_len()?;
        if !packet.verify_checksum(src, dst) {
            return Err(DropReason::BadTcpChecksum);
        }
        let mut repr = TcpRepr {
            src_port: packet.src_port(),
            dst_port: packet.dst_port(),
            seq: packet.seq_number(),
            ack: packet.ack().then(|| packet.ack_number()),
            flags: packet.flags(),
            window: packet.window_len(),
            urgent: packet.urgent_at(),
            mss: None,
            window_scale: None,
            sack_permitted: false,
            sack: SackBlocks::EMPTY,
            timestamps: None,
            payload: packet.payload(),
        };
        repr.parse_options(packet.options())?;
        Ok(repr)
    }

    /// Reads the options in `options` into `self`.
    fn parse_options(&mut self, mut options: &[u8]) -> Result<(), DropReason> {
        while let Some((&kind, rest)) = options.split_first() {
            match kind {
                kind::END => break,
                kind::NOP => {
                    options = rest;
                    continue;
                }
                _ => {}
            }
            let len = usize::from(*rest.first().ok_or(DropReason::BadOption)?);
            if len < 2 || len > options.len() {
                return Err(DropReason::BadOption);
            }
            let (option, tail) = options.split_at(len);
            match (kind, &option[2..]) {
                (kind::MSS, &[hi, lo]) => {
                    let mss = u16::from_be_bytes([hi, lo]);
                    if mss == 0 {
                        return Err(DropReason::BadOption);
                    }
                    self.mss = Some(mss);
                }
                (kind::WINDOW_SCALE, &[shift]) => {
                    self.window_scale = Some(shift.min(MAX_WINDOW_SCALE));
                }
                (kind::SACK_PERMITTED, []) => self.sack_permitted = true,
                (kind::SACK, body) => {
                    if let Some(blocks) = SackBlocks::parse(body) {
                        self.sack = blocks;
                    }
                }
                (kind::TIMESTAMPS, &[a, b, c, d, e, f, g, h]) => {
                    let tsval = u32::from_be_bytes([a, b, c, d]);
                    let tsecr = u32::from_be_bytes([e, f, g, h]);
                    self.timestamps = Some((tsval, tsecr));
                }
                (kind::MSS | kind::WINDOW_SCALE | kind::SACK_PERMITTED | kind::TIMESTAMPS, _) => {
                    return Err(DropReason::BadOption);
                }
                _ => {}
            }
            options = tail;
        }
        Ok(())
    }

    /// Sequence space the segment occupies: payload length plus one for SYN
    /// and one for FIN.
    pub fn segment_len(&self) -> usize {
        self.payload.len() + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }

    /// Length of the options as emitted, a multiple of 4 (at most 40).
    pub fn options_len(&self) -> usize {
        let len = self.fixed_options_len();
        match self.sack_fit() {
            0 => len,
            n => len + 4 + 8 * n,
        }
    }

    /// How many SACK blocks are written: as many as fit in 40 bytes of
    /// options beside the others (two NOPs, kind and length, 8 bytes a
    /// block).
    fn sack_fit(&self) -> usize {
        let room = (MAX_HEADER_LEN - HEADER_LEN - self.fixed_options_len()).saturating_sub(4) / 8;
        self.sack.len().min(room)
    }

    /// Length of the options other than SACK.
    fn fixed_options_len(&self) -> usize {
        let mut len = 0;
        if self.mss.is_some() {
            len += 4;
        }
        if self.timestamps.is_some() {
            len += 12;
        } else if self.sack_permitted {
            len += 4;
        }
        if self.window_scale.is_some() {
            len += 4;
        }
        len
    }

    /// Length of the emitted header, options included.
    pub fn header_len(&self) -> usize {
        HEADER_LEN + self.options_len()
    }

    /// Length of the emitted segment: header, options and payload.
    pub fn buffer_len(&self) -> usize {
        self.header_len() + self.payload.len()
    }

    /// Writes the segment to `buffer[..self.buffer_len()]` with the
    /// checksum for a packet from `src` to `dst`.
    ///
    /// The options that are present are written 4-byte aligned, in the
    /// layout Linux uses: MSS; SACK-permitted and timestamps (NOP-padded
    /// when one is absent); NOP and window scale; two NOPs and the SACK
    /// blocks that fit. The ACK number field is 0 when [`ack`](Self::ack)
    /// is `None`.
    ///
    /// Fails, writing nothing, if the segment is longer than 65 535 bytes or
    /// `buffer` is shorter than [`buffer_len`](Self::buffer_len).
    pub fn emit(&self, buffer: &mut [u8], src: Ipv4Addr, dst: Ipv4Addr) -> Result<(), EmitError> {
        let len = self.buffer_len();
        if len > usize::from(u16::MAX) {
            return Err(EmitError::TooLarge { len });
        }
        check_room(len, buffer.len())?;
        let header_len = self.header_len();
        let mut packet = TcpPacket::new_unchecked(&mut buffer[..len]);
        packet.set_src_port(self.src_port);
        packet.set_dst_port(self.dst_port);
        packet.set_seq_number(self.seq);
        packet.set_ack_number(self.ack.unwrap_or_default());
        // At most 20 + 40 bytes, so the cast cannot truncate.
        packet.set_header_len(header_len as u8);
        packet.set_flags(self.flags, self.ack.is_some());
        packet.set_window_len(self.window);
        packet.set_urgent_at(self.urgent);
        self.emit_options(packet.options_mut());
        packet.payload_mut().copy_from_slice(self.payload);
        packet.fill_checksum(src, dst);
        Ok(())
    }

    /// Writes the options into `out`, which is exactly
    /// [`options_len`](Self::options_len) bytes long.
    fn emit_options(&self, out: &mut [u8]) {
        let mut at = 0;
        let mut put = |bytes: &[u8]| {
            out[at..at + bytes.len()].copy_from_slice(bytes);
            at += bytes.len();
        };
        if let Some(mss) = self.mss {
            let [hi, lo] = mss.to_be_bytes();
            put(&[kind::MSS, 4, hi, lo]);
        }
        match (self.sack_permitted, self.timestamps) {
            (true, None) => put(&[kind::NOP, kind::NOP, kind::SACK_PERMITTED, 2]),
            (true, Some(_)) => put(&[kind::SACK_PERMITTED, 2]),
            (false, Some(_)) => put(&[kind::NOP, kind::NOP]),
            (false, None) => {}
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            put(&[kind::TIMESTAMPS, 10]);
            put(&tsval.to_be_bytes());
            put(&tsecr.to_be_bytes());
        }
        if let Some(shift) = self.window_scale {
            put(&[kind::NOP, kind::WINDOW_SCALE, 3, shift]);
        }
        let blocks = &self.sack.as_slice()[..self.sack_fit()];
        if !blocks.is_empty() {
            // 2 + 8n is at most 34.
            put(&[
                kind::NOP,
                kind::NOP,
                kind::SACK,
                (2 + 8 * blocks.len()) as u8,
            ]);
            for (left, right) in blocks {
                put(&left.0.to_be_bytes());
                put(&right.0.to_be_bytes());
            }
        }
    }
}

impl fmt::Display for TcpRepr<'_> {
    /// Formats like `TCP 1234 > 80 SYN seq=100 win=65535 len=0 mss=1460`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "TCP {} > {} {}",
            self.src_port, self.dst_port, self.flags
        )?;
        write!(f, " seq={}", self.seq)?;
        if let Some(ack) = self.ack {
            write!(f, " ack={ack}")?;
        }
        write!(f, " win={} len={}", self.window, self.payload.len())?;
        if self.flags.urg() {
            write!(f, " urg={}", self.urgent)?;
        }
        if let Some(mss) = self.mss {
            write!(f, " mss={mss}")?;
        }
        if let Some(shift) = self.window_scale {
            write!(f, " wscale={shift}")?;
        }
        if self.sack_permitted {
            f.write_str(" sackOK")?;
        }
        if let Some((tsval, tsecr)) = self.timestamps {
            write!(f, " ts={tsval}/{tsecr}")?;
        }
        if !self.sack.is_empty() {
            write!(f, " sack={}", self.sack)?;
        }
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

    const SRC: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
    const DST: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 2);

    fn syn() -> TcpRepr<'static> {
        TcpRepr {
            src_port: 1234,
            dst_port: 80,
            seq: SeqNum(0x0102_0304),
            flags: Flags::SYN,
            window: 65_535,
            ..TcpRepr::default()
        }
    }

    fn round_trip(repr: &TcpRepr<'_>) {
        let mut buf = vec![0; repr.buffer_len()];
        repr.emit(&mut buf, SRC, DST).unwrap();
        assert_eq!(buf.len() % 4, repr.payload.len() % 4);
        let packet = TcpPacket::new_checked(&buf[..]).unwrap();
        assert_eq!(TcpRepr::parse(&packet, SRC, DST).as_ref(), Ok(repr));
    }

    /// A segment with `options` (padded by the caller) and a valid checksum.
    fn with_options(options: &[u8]) -> Vec<u8> {
        let mut buf = vec![0; HEADER_LEN + options.len()];
        syn().emit(&mut buf, SRC, DST).unwrap();
        let mut packet = TcpPacket::new_unchecked(&mut buf[..]);
        packet.set_header_len((HEADER_LEN + options.len()) as u8);
        packet.options_mut().copy_from_slice(options);
        packet.fill_checksum(SRC, DST);
        buf
    }

    fn parse(buf: &[u8]) -> Result<TcpRepr<'_>, DropReason> {
        TcpRepr::parse(&TcpPacket::new_checked(buf)?, SRC, DST)
    }

    #[test]
    fn round_trip_syn_with_every_option() {
        round_trip(&TcpRepr {
            mss: Some(1460),
            window_scale: Some(7),
            sack_permitted: true,
            timestamps: Some((0xdead_beef, 0)),
            ..syn()
        });
    }

    #[test]
    fn round_trip_option_subsets() {
        round_trip(&TcpRepr {
            mss: Some(536),
            ..syn()
        });
        round_trip(&TcpRepr {
            sack_permitted: true,
            ..syn()
        });
        round_trip(&TcpRepr {
            timestamps: Some((1, 2)),
            ..syn()
        });
        round_trip(&TcpRepr {
            window_scale: Some(0),
            ..syn()
        });
    }

    fn blocks(n: u32) -> SackBlocks {
        let list: Vec<(SeqNum, SeqNum)> = (0..n)
            .map(|i| (SeqNum(1000 + 100 * i), SeqNum(1050 + 100 * i)))
            .collect();
        SackBlocks::from_slice(&list)
    }

    #[test]
    fn round_trip_sack_blocks() {
        let ack = TcpRepr {
            flags: Flags::empty(),
            ack: Some(SeqNum(900)),
            ..syn()
        };
        for n in 1..=4 {
            let repr = TcpRepr {
                sack: blocks(n),
                ..ack
            };
            assert_eq!(repr.options_len(), 4 + 8 * n as usize);
            round_trip(&repr);
        }
        // Beside timestamps only three fit: the first three are written.
        let with_ts = TcpRepr {
            sack: blocks(4),
            timestamps: Some((7, 8)),
            ..ack
        };
        assert_eq!(with_ts.options_len(), 12 + 4 + 24);
        let mut buf = vec![0; with_ts.buffer_len()];
        with_ts.emit(&mut buf, SRC, DST).unwrap();
        let parsed = parse(&buf).unwrap();
        assert_eq!(parsed.sack, blocks(3));
        assert_eq!(parsed.timestamps, Some((7, 8)));
    }

    #[test]
    fn a_sack_option_of_a_bad_length_is_skipped_and_the_segment_kept() {
        // Kind 5 with 1, 12 and 40 bytes of blocks (none is whole blocks
        // or at most four), then an MSS that must still be read.
        for body_len in [1usize, 12] {
            let mut options = vec![1, 1, 5, (2 + body_len) as u8];
            options.extend(std::iter::repeat_n(0xab, body_len));
            options.extend([2, 4, 5, 0xb4]);
            while options.len() % 4 != 0 {
                options.push(0);
            }
            let buf = with_options(&options);
            let parsed = parse(&buf).expect("kept");
            assert!(parsed.sack.is_empty(), "{body_len}: {parsed}");
            assert_eq!(parsed.mss, Some(1460), "{body_len}");
        }
        // A length running past the header is still an error.
        assert_eq!(
            parse(&with_options(&[5, 18, 0, 0])),
            Err(DropReason::BadOption)
        );
    }

    #[test]
    fn round_trip_data_fin_rst() {
        let data = TcpRepr {
            flags: Flags::PSH,
            ack: Some(SeqNum(u32::MAX)),
            payload: b"hello, world",
            ..syn()
        };
        round_trip(&data);
        round_trip(&TcpRepr {
            flags: Flags::FIN,
            ..data
        });
        round_trip(&TcpRepr {
            flags: Flags::RST,
            ack: None,
            payload: &[],
            ..syn()
        });
        round_trip(&TcpRepr {
            flags: Flags::URG | Flags::ECE | Flags::CWR,
            urgent: 3,
            ..data
        });
    }

    #[test]
    fn segment_len_counts_syn_and_fin() {
        assert_eq!(syn().segment_len(), 1);
        let fin = TcpRepr {
            flags: Flags::SYN | Flags::FIN,
            payload: b"abc",
            ..syn()
        };
        assert_eq!(fin.segment_len(), 5);
        assert_eq!(
            TcpRepr {
                flags: Flags::empty(),
                ..fin
            }
            .segment_len(),
            3
        );
    }

    #[test]
    fn unknown_options_are_skipped_and_end_stops() {
        // Unknown kind 99 (length 4), then END followed by garbage.
        let buf = with_options(&[99, 4, 0xff, 0xff, 2, 4, 5, 0xb4, 0, 0xff, 0xff, 0xff]);
        assert_eq!(parse(&buf).unwrap().mss, Some(1460));
    }

    #[test]
    fn window_scale_is_clamped_to_14() {
        let buf = with_options(&[1, 3, 3, 15]);
        assert_eq!(parse(&buf).unwrap().window_scale, Some(14));
    }

    #[test]
    fn malformed_options_are_rejected() {
        let cases: [&[u8]; 8] = [
            &[2, 4, 0, 0],  // MSS 0
            &[2, 3, 5, 0],  // MSS, wrong length
            &[3, 4, 7, 0],  // window scale, wrong length
            &[1, 4, 3, 0],  // SACK-permitted, wrong length
            &[99, 1, 0, 0], // length 1
            &[99, 0, 0, 0], // length 0
            &[1, 1, 99, 3], // runs past the header
            &[1, 1, 1, 99], // no length byte
        ];
        for options in cases {
            assert_eq!(
                parse(&with_options(options)),
                Err(DropReason::BadOption),
                "{options:?}"
            );
        }
    }

    #[test]
    fn bad_lengths_are_rejected() {
        let mut buf = vec![0; HEADER_LEN];
        syn().emit(&mut buf, SRC, DST).unwrap();
        assert_eq!(parse(&buf[..19]), Err(DropReason::TcpTooShort));
        buf[field::DATA_OFF] = 0x40;
        assert_eq!(parse(&buf), Err(DropReason::BadDataOffset));
        buf[field::DATA_OFF] = 0x60;
        assert_eq!(parse(&buf), Err(DropReason::BadDataOffset));
    }

    #[test]
    fn checksum_covers_pseudo_header() {
        let mut buf = vec![0; HEADER_LEN];
        syn().emit(&mut buf, SRC, DST).unwrap();
        assert!(parse(&buf).is_ok());
        let other = TcpPacket::new_checked(&buf[..]).unwrap();
        let wrong = TcpRepr::parse(&other, SRC, Ipv4Addr::new(10, 0, 0, 3));
        assert_eq!(wrong, Err(DropReason::BadTcpChecksum));
    }

    #[test]
    fn emit_refuses_small_buffer() {
        let mut buf = [0; 19];
        assert_eq!(
            syn().emit(&mut buf, SRC, DST),
            Err(EmitError::BufferTooSmall {
                needed: 20,
                available: 19
            })
        );
    }

    #[test]
    fn repr_display() {
        let repr = TcpRepr {
            mss: Some(1460),
            ack: Some(SeqNum(7)),
            ..syn()
        };
        assert_eq!(
            repr.to_string(),
            "TCP 1234 > 80 SYN seq=16909060 ack=7 win=65535 len=0 mss=1460"
        );
    }
}
