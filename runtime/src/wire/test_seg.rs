//! Segments for the unit tests of `conn.rs` and `host.rs`: a TCP segment's
//! fields, built a field at a time, compared as a whole; and what both
//! tests share: the peer's sequence numbers, the config, durations.

use std::time::Duration;

use super::{Flags, SackBlocks, SeqNum, TcpRepr};
use crate::config::Config;

/// The window every test segment carries unless told otherwise (the tests'
/// receive buffer too).
pub const WIN: u16 = 1000;
/// The MSS the tests configure and announce.
pub const MSS: u16 = 100;

/// The peer's ISS.
pub const IRS: SeqNum = SeqNum(10_000);
/// RCV.NXT once the peer's SYN is in.
pub const NXT: SeqNum = SeqNum(10_001);

/// Small buffers, our MSS, no window scaling, no SACK.
pub fn config() -> Config {
    Config {
        mss: MSS,
        recv_buffer: usize::from(WIN),
        send_buffer: 4000,
        window_scaling: false,
        sack: false,
        // Each segment's ACK at once, so tests see it; delayed ACKs have
        // tests of their own.
        ack_delay: Duration::ZERO,
        ..Config::default()
    }
}

pub fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

pub fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// A segment either way: what a peer sends, or what is expected out.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seg {
    pub seq: SeqNum,
    pub ack: Option<SeqNum>,
    pub flags: Flags,
    pub window: u16,
    pub mss: Option<u16>,
    pub window_scale: Option<u8>,
    pub sack_permitted: bool,
    pub sack: SackBlocks,
    pub payload: Vec<u8>,
}

/// `<SEQ=seq>`, no ACK, no flags, a window of [`WIN`].
pub fn seg(seq: SeqNum) -> Seg {
    Seg {
        seq,
        ack: None,
        flags: Flags::empty(),
        window: WIN,
        mss: None,
        window_scale: None,
        sack_permitted: false,
        sack: SackBlocks::EMPTY,
        payload: Vec::new(),
    }
}

impl Seg {
    pub fn ack(mut self, ack: SeqNum) -> Self {
        self.ack = Some(ack);
        self
    }

    pub fn flag(mut self, flag: Flags) -> Self {
        self.flags.insert(flag);
        self
    }

    pub fn syn(self) -> Self {
        self.flag(Flags::SYN)
    }

    pub fn fin(self) -> Self {
        self.flag(Flags::FIN)
    }

    pub fn rst(self) -> Self {
        self.flag(Flags::RST)
    }

    pub fn psh(self) -> Self {
        self.flag(Flags::PSH)
    }

    pub fn win(mut self, window: u16) -> Self {
        self.window = window;
        self
    }

    pub fn mss(mut self, mss: u16) -> Self {
        self.mss = Some(mss);
        self
    }

    /// With the SACK-permitted option.
    pub fn sack_ok(mut self) -> Self {
        self.sack_permitted = true;
        self
    }

    /// With SACK blocks `[left, right)`, in this order.
    pub fn sack(mut self, blocks: &[(SeqNum, SeqNum)]) -> Self {
        self.sack = SackBlocks::from_slice(blocks);
        self
    }

    pub fn data(mut self, data: &[u8]) -> Self {
        self.payload = data.to_vec();
        self
    }

    /// The segment from port `src_port` to port `dst_port`.
    pub fn repr(&self, src_port: u16, dst_port: u16) -> TcpRepr<'_> {
        TcpRepr {
            src_port,
            dst_port,
            seq: self.seq,
            ack: self.ack,
            flags: self.flags,
            window: self.window,
            mss: self.mss,
            window_scale: self.window_scale,
            sack_permitted: self.sack_permitted,
            sack: self.sack,
            payload: &self.payload,
            ..TcpRepr::default()
        }
    }

    /// The fields of a parsed segment.
    pub fn of(repr: &TcpRepr<'_>) -> Self {
        Seg {
            seq: repr.seq,
            ack: repr.ack,
            flags: repr.flags,
            window: repr.window,
            mss: repr.mss,
            window_scale: repr.window_scale,
            sack_permitted: repr.sack_permitted,
            sack: repr.sack,
            payload: repr.payload.to_vec(),
        }
    }
}
