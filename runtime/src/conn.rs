//! One TCP connection, sans-IO: it takes segments, application calls and
//! the time, and yields segments to send and its next deadline.
//!
//! Read RFC 9293 section 3.10 (event processing) first; RFC 5961 for the
//! challenge ACKs; RFC 6298 for the retransmission timer.
//!
//! **Every state change goes through the machine generated from the spec**:
//! this module classifies each input into a vocabulary [`Event`] (from what
//! the TCB knows, never from the state), asks [`Machine::step`], and carries
//! out the [`Action`]s it returns. There is no match on the state here.

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::{Assembler, Ring};
use crate::cc::{self, CcWords, Facts, Window};
use crate::config::Config;
use crate::fingerprint;
use crate::isn::IsnGenerator;
use crate::recovery::{self, Effects, Losses, RecoveryWords};
use crate::rtt::RttEstimator;
use crate::side::{Raised, SideLog};
use crate::trace::{StepRecord, TraceEntry};
use crate::vocab::{Action, Event, Group, Guard, Machine};
use crate::wire::SackBlocks;
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpRepr};

/// What a connection tells its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConnError {
    /// The peer reset the connection.
    Reset,
    /// The peer refused the connection.
    Refused,
    /// Data stayed unacknowledged too long, or the connect timed out.
    TimedOut,
    /// The connection was aborted locally.
    Aborted,
}

/// An application call the spec does not allow in the current state.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallRefused {
    /// The event the call raised.
    pub event: Event,
    /// The state the machine was in.
    pub state: String,
}

/// Things the host needs from outside the connection.
pub struct Env<'a> {
    /// Now.
    pub now: Instant,
    /// When the host started (ISN clock, trace times).
    pub epoch: Instant,
    /// The ISN generator (RFC 6528).
    pub isn: &'a IsnGenerator,
}

/// The segment that raised the current event, as the actions need it.
#[derive(Clone, Copy, Debug)]
struct Incoming {
    src: SocketAddrV4,
    seq: SeqNum,
    ack: Option<SeqNum>,
    flags: Flags,
    window: u16,
    mss: Option<u16>,
    window_scale: Option<u8>,
    sack_permitted: bool,
    sack: SackBlocks,
    payload_len: usize,
}

impl Incoming {
    fn of(src: SocketAddrV4, seg: &TcpRepr<'_>) -> Self {
        Incoming {
            src,
            seq: seg.seq,
            ack: seg.ack,
            flags: seg.flags,
            window: seg.window,
            mss: seg.mss,
            window_scale: seg.window_scale,
            sack_permitted: seg.sack_permitted,
            sack: seg.sack,
            payload_len: seg.payload.len(),
        }
    }

    /// SEG.LEN: payload plus SYN and FIN.
    fn len(&self) -> usize {
        self.payload_len + usize::from(self.flags.syn()) + usize::from(self.flags.fin())
    }
}

/// What the current event carries: the segment, or the data of a SEND.
#[derive(Clone, Copy, Default)]
struct Cause<'a> {
    segment: Option<&'a Incoming>,
    data: &'a [u8],
}

/// A segment with no payload, fully decided when it was queued (RSTs,
/// challenge ACKs): it survives the TCB.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Control {
    /// Destination (inner).
    pub dst: SocketAddrV4,
    /// Sequence number.
    pub seq: SeqNum,
    /// Acknowledgment, if the ACK bit is set.
    pub ack: Option<SeqNum>,
    /// Control bits.
    pub flags: Flags,
    /// Window field.
    pub window: u16,
}

/// The transmission control block: RFC 9293's connection variables and
/// queues. Created by `create_tcb`, gone with `delete_tcb`.
#[derive(Clone, Debug)]
struct Tcb {
    iss: Option<SeqNum>,
    /// Whether we sent a bare SYN of our own (an active open).
    sent_syn: bool,
    /// A SYN or SYN-ACK waits to be (re)sent.
    syn_pending: bool,
    snd_una: SeqNum,
    snd_nxt: SeqNum,
    /// Highest sequence number sent plus one.
    snd_max: SeqNum,
    snd_wnd: u32,
    snd_wl1: SeqNum,
    snd_wl2: SeqNum,
    max_snd_wnd: u32,
    /// Whether both SYNs offered window scaling (RFC 7323).
    scaling: bool,
    /// Shift applied to the peer's window field (0 unless both offered).
    snd_shift: u8,
    /// Shift applied to our window field.
    rcv_shift: u8,
    peer_mss: u16,
    irs: Option<SeqNum>,
    rcv_nxt: SeqNum,
    /// Right edge of the last window we advertised (never moves back).
    rcv_adv: SeqNum,
    /// The right edge moves on by at least this much (receiver SWS
    /// avoidance): min(receive buffer / 2, MSS).
    rcv_sws: u32,
    send_buf: Ring,
    /// Bytes ever queued for sending (the FIN follows them).
    queued_total: u64,
    fin_queued: bool,
    recv_buf: Ring,
    assembler: Assembler,
    /// Where the peer's FIN sits, once seen (maybe out of order).
    peer_fin: Option<SeqNum>,
    fin_received: bool,
    ack_pending: bool,
    rtt: RttEstimator,
    /// (sequence number that, once acknowledged, completes a sample; when sent)
    rtt_probe: Option<(SeqNum, Instant)>,
    rto_deadline: Option<Instant>,
    retransmissions: u32,
    /// Last time the oldest outstanding data made progress (user timeout).
    progress_at: Option<Instant>,
    /// The connect timeout, if one was given.
    open_deadline: Option<Instant>,
    /// When our FIN was acknowledged (the linger timer counts from here).
    fin_acked_at: Option<Instant>,
    /// Our SYN or SYN-ACK had to be retransmitted (RFC 6298 5.7).
    syn_retransmitted: bool,
    time_wait_deadline: Option<Instant>,
    dupacks: u32,
    /// New ACKs the congestion machine answered with a retransmission
    /// (NewReno's partial ACKs) since the last it answered without one.
    partial_acks: u32,
    /// Retransmit the segment at SND.UNA once (the congestion machine's
    /// `retransmit`, or a zero-window probe).
    resend_una: bool,
    /// The congestion machine's state and window.
    cc: Window,
    /// The recovery machine's state and the scoreboard.
    rec: Losses,
    /// Bytes taken in since we last acknowledged (delayed ACKs).
    unacked_bytes: usize,
    /// Out-of-order segments not yet answered: one duplicate ACK each
    /// (RFC 5681 4.2), even when they arrived in one batch.
    dup_acks_owed: u32,
    /// When the delayed acknowledgment is due, if one is owed.
    ack_due: Option<Instant>,
    /// Challenge ACKs sent in the current one-second window.
    challenge: (Instant, u32),
    /// Both SYNs carried SACK-permitted (RFC 2018): our ACKs carry SACK
    /// blocks.
    sack_ok: bool,
    /// The blocks of data held out of order, in the order our ACKs report
    /// them: the one holding the latest segment first, then those reported
    /// most recently (RFC 2018 4).
    sack_blocks: SackBlocks,
    /// A range received twice, for the next ACK to report once as a
    /// D-SACK block (RFC 2883 4).
    dsack: Option<(SeqNum, SeqNum)>,
}

impl Tcb {
    fn new(config: &Config, now: Instant) -> Self {
        Tcb {
            iss: None,
            sent_syn: false,
            syn_pending: false,
            snd_una: SeqNum(0),
            snd_nxt: SeqNum(0),
            snd_max: SeqNum(0),
            snd_wnd: 0,
            snd_wl1: SeqNum(0),
            snd_wl2: SeqNum(0),
            max_snd_wnd: 0,
            scaling: false,
            snd_shift: 0,
            rcv_shift: 0,
            peer_mss: 536,
            irs: None,
            rcv_nxt: SeqNum(0),
            rcv_adv: SeqNum(0),
            rcv_sws: u32::try_from((config.recv_buffer / 2).min(usize::from(config.mss)))
                .unwrap_or(u32::MAX),
            send_buf: Ring::new(config.send_buffer),
            queued_total: 0,
            fin_queued: false,
            recv_buf: Ring::new(config.recv_buffer),
            assembler: Assembler::default(),
            peer_fin: None,
            fin_received: false,
            ack_pending: false,
            rtt: RttEstimator::new(config.initial_rto, config.min_rto, config.max_rto),
            rtt_probe: None,
            rto_deadline: None,
            retransmissions: 0,
            progress_at: None,
            open_deadline: None,
            fin_acked_at: None,
            syn_retransmitted: false,
            time_wait_deadline: None,
            dupacks: 0,
            partial_acks: 0,
            resend_una: false,
            cc: Window::new(config.congestion.machine(), config.initial_window),
            rec: Losses::new(config.recovery.machine()),
            unacked_bytes: 0,
            dup_acks_owed: 0,
            ack_due: None,
            challenge: (now, 0),
            sack_ok: false,
            sack_blocks: SackBlocks::EMPTY,
            dsack: None,
        }
    }

    fn syn_acked(&self) -> bool {
        self.iss.is_some_and(|iss| self.snd_una.gt(iss))
    }

    /// Sequence number of the first data byte.
    fn data_start(&self) -> SeqNum {
        self.iss.unwrap_or(SeqNum(0)) + 1
    }

    /// Sequence number of `send_buf[0]`.
    fn buf_seq(&self) -> SeqNum {
        self.snd_una.max(self.data_start())
    }

    /// Where our FIN sits, once CLOSE queued it.
    fn fin_seq(&self) -> Option<SeqNum> {
        self.fin_queued
            .then(|| self.data_start() + (self.queued_total as usize))
    }

    fn fin_acked(&self) -> bool {
        self.fin_seq().is_some_and(|f| self.snd_una.gt(f))
    }

    /// Where our SYN or FIN sits, if `ack` acknowledges it for the first
    /// time.
    fn unacked_control(&self, ack: SeqNum) -> Option<SeqNum> {
        let syn = self.iss.filter(|&iss| !self.syn_acked() && ack.gt(iss));
        let fin = self.fin_seq().filter(|&f| self.snd_una.le(f) && ack.gt(f));
        syn.or(fin)
    }

    /// The receive window we can offer now.
    fn rcv_wnd(&self) -> u32 {
        u32::try_from(self.recv_buf.free()).unwrap_or(u32::MAX)
    }

    /// The window to advertise (RCV.WND): the free space, except that the
    /// right edge moves on only by a useful amount (receiver SWS
    /// avoidance, RFC 9293 3.8.6.2.2). So a window never grows by a
    /// sliver, and the duplicate ACKs that out-of-order data draws carry
    /// the same window while the application reads (RFC 5681 counts only
    /// those as duplicates).
    fn offered_wnd(&self) -> u32 {
        let free = self.rcv_wnd();
        let left = self.rcv_adv.distance(self.rcv_nxt).max(0) as u32;
        // (After the peer's FIN no data comes: the window is the space.)
        if !self.fin_received && free > left && free < left.saturating_add(self.rcv_sws) {
            left
        } else {
            free
        }
    }

    fn window_field(&self, syn: bool) -> u16 {
        let wnd = self.offered_wnd();
        let shifted = if syn { wnd } else { wnd >> self.rcv_shift };
        u16::try_from(shifted).unwrap_or(u16::MAX)
    }

    fn effective_mss(&self, config: &Config) -> usize {
        usize::from(config.mss.min(self.peer_mss)).max(1)
    }

    /// Bytes in flight, counting SYN and FIN.
    fn in_flight(&self) -> u32 {
        self.snd_nxt.distance(self.snd_una).max(0) as u32
    }

    /// Bytes sent and not yet acknowledged, retransmissions aside:
    /// RFC 5681's FlightSize.
    fn flight_size(&self) -> u32 {
        self.snd_max.distance(self.snd_una).max(0) as u32
    }

    /// What the congestion machine reads for an event carrying `ack`
    /// that acknowledged `acked` bytes and delivered `delivered`
    /// (acknowledged or SACKed for the first time).
    fn facts(
        &self,
        config: &Config,
        now: Instant,
        ack: SeqNum,
        acked: u32,
        delivered: u32,
    ) -> Facts {
        Facts {
            smss: self.effective_mss(config) as u32,
            flight: self.flight_size(),
            acked,
            ack,
            snd_max: self.snd_max,
            backed_off: self.retransmissions > 0,
            now,
            delivered,
            rtt: self.rec.rtt_sample().filter(|_| delivered > 0),
        }
    }

    /// What the recovery machine reads now, for an event that delivered
    /// `delivered` bytes (acknowledged or SACKed for the first time).
    fn rec_facts(&self, config: &Config, now: Instant, delivered: u32) -> recovery::Facts {
        recovery::Facts {
            now,
            smss: self.effective_mss(config) as u32,
            snd_una: self.snd_una,
            snd_max: self.snd_max,
            dupacks: self.dupacks,
            delivered,
            srtt: self.rtt.srtt(),
            rto_deadline: self.rto_deadline,
            sack_ok: self.sack_ok,
            ssthresh: self.cc.ssthresh,
            unsent: self.has_unsent(),
        }
    }

    /// An acknowledgment went out (alone or on data): none is owed.
    fn acked_now(&mut self) {
        self.ack_pending = false;
        self.dup_acks_owed = 0;
        self.unacked_bytes = 0;
        self.ack_due = None;
    }

    /// The SACK blocks for the ACK going out now: the D-SACK block, once,
    /// then the blocks held out of order.
    fn take_sack(&mut self) -> SackBlocks {
        if !self.sack_ok {
            return SackBlocks::EMPTY;
        }
        let mut out = SackBlocks::EMPTY;
        if let Some((left, right)) = self.dsack.take() {
            out.push(left, right);
        }
        for &(left, right) in self.sack_blocks.as_slice() {
            out.push(left, right);
        }
        out
    }

    /// Orders the blocks held out of order as RFC 2018 4 asks: the block
    /// holding `latest` (the segment just taken in) first, then the blocks
    /// reported before (as they have grown), then any never reported.
    fn order_sack_blocks(&mut self, latest: SeqNum) {
        let rcv_nxt = self.rcv_nxt;
        let held = || {
            self.assembler
                .ranges()
                .iter()
                .map(move |r| (rcv_nxt + r.start, rcv_nxt + r.end))
        };
        let holding = |s: SeqNum| held().find(|&(left, right)| left.le(s) && s.lt(right));
        let reported = self.sack_blocks.as_slice().iter().map(|&(left, _)| left);
        let mut out = SackBlocks::EMPTY;
        let ordered = std::iter::once(latest).chain(reported).filter_map(holding);
        for (left, right) in ordered.chain(held()) {
            if !out.as_slice().contains(&(left, right)) {
                out.push(left, right);
            }
        }
        self.sack_blocks = out;
    }

    /// Whether data or our FIN waits to be sent for the first time.
    fn has_unsent(&self) -> bool {
        let end_of_data = self.buf_seq() + self.send_buf.len();
        end_of_data.gt(self.snd_nxt) || self.fin_seq().is_some_and(|f| f.ge(self.snd_nxt))
    }

    /// Feeds everything that decides what the TCB does next (see
    /// [`crate::fingerprint`]), times relative to `now`.
    fn fingerprint<H: Hasher>(&self, now: Instant, h: &mut H) {
        let Tcb {
            iss,
            sent_syn,
            syn_pending,
            snd_una,
            snd_nxt,
            snd_max,
            snd_wnd,
            snd_wl1,
            snd_wl2,
            max_snd_wnd,
            scaling,
            snd_shift,
            rcv_shift,
            peer_mss,
            irs,
            rcv_nxt,
            rcv_adv,
            rcv_sws,
            send_buf,
            queued_total,
            fin_queued,
            recv_buf,
            assembler,
            peer_fin,
            fin_received,
            ack_pending,
            rtt,
            rtt_probe,
            rto_deadline,
            retransmissions,
            progress_at,
            open_deadline,
            fin_acked_at,
            syn_retransmitted,
            time_wait_deadline,
            dupacks,
            partial_acks,
            resend_una,
            cc,
            rec,
            unacked_bytes,
            dup_acks_owed,
            ack_due,
            challenge,
            sack_ok,
            sack_blocks,
            dsack,
        } = self;
        (iss, sent_syn, syn_pending, snd_una, snd_nxt, snd_max).hash(h);
        (snd_wnd, snd_wl1, snd_wl2, max_snd_wnd).hash(h);
        (scaling, snd_shift, rcv_shift, peer_mss).hash(h);
        (irs, rcv_nxt, rcv_adv, rcv_sws, queued_total, fin_queued).hash(h);
        send_buf.fingerprint(&[], h);
        recv_buf.fingerprint(assembler.ranges(), h);
        assembler.hash(h);
        (peer_fin, fin_received, ack_pending).hash(h);
        rtt.hash(h);
        rtt_probe.map(|(seq, _)| seq).hash(h);
        fingerprint::opt_time(h, now, rtt_probe.map(|(_, at)| at));
        for t in [rto_deadline, progress_at, open_deadline, fin_acked_at] {
            fingerprint::opt_time(h, now, *t);
        }
        fingerprint::opt_time(h, now, *time_wait_deadline);
        fingerprint::opt_time(h, now, *ack_due);
        (retransmissions, syn_retransmitted, dupacks, partial_acks).hash(h);
        (resend_una, unacked_bytes, dup_acks_owed).hash(h);
        cc.fingerprint(now, h);
        rec.fingerprint(now, h);
        fingerprint::time(h, now, challenge.0);
        challenge.1.hash(h);
        (sack_ok, sack_blocks, dsack).hash(h);
    }
}

/// A segment ready to emit: its header fields and where its payload is.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing {
    /// Destination (inner).
    pub dst: SocketAddrV4,
    /// Header fields; the payload is written by [`Connection::write_payload`].
    pub seq: SeqNum,
    /// Acknowledgment, if the ACK bit is set.
    pub ack: Option<SeqNum>,
    /// Control bits.
    pub flags: Flags,
    /// Window field.
    pub window: u16,
    /// MSS option (SYN only).
    pub mss: Option<u16>,
    /// Window scale option (SYN only).
    pub window_scale: Option<u8>,
    /// SACK-permitted option (SYN only).
    pub sack_permitted: bool,
    /// SACK blocks (RFC 2018, RFC 2883).
    pub sack: SackBlocks,
    /// Payload: offset into the send buffer and length.
    pub payload: (usize, usize),
}

/// What the application still has to read once the TCB is gone: bytes
/// that were taken in (and acknowledged), and whether the peer's FIN was.
#[derive(Clone, Debug)]
struct Leftover {
    data: Ring,
    fin: bool,
}

/// One TCP connection driven by the machine `M`. A clone is an
/// independent copy (an explorer branches on it).
#[derive(Clone)]
pub struct Connection<M: Machine> {
    machine: M,
    state: M::State,
    local: SocketAddrV4,
    remote: Option<SocketAddrV4>,
    tcb: Option<Tcb>,
    /// Received bytes that outlived the TCB.
    leftover: Option<Leftover>,
    /// The machine has been in a state of the spec's group `open`.
    was_open: bool,
    /// Events raised since the last collection, if the config records them.
    steps: Vec<StepRecord>,
    control: VecDeque<Control>,
    error: Option<ConnError>,
    config: Arc<Config>,
    /// Every transition taken, if the config keeps traces.
    trace: Vec<TraceEntry>,
    /// Transitions not yet collected by the host.
    fresh: Vec<TraceEntry>,
    /// Events the spec had no transition for (segments dropped, calls refused).
    unhandled: u64,
    /// The remote socket a passive open was restricted to, if any.
    passive_remote: Option<SocketAddrV4>,
    /// The transition fired last.
    last_transition: Option<u32>,
    /// The congestion machine's transitions and events, as `trace`,
    /// `fresh` and `steps` are the connection machine's.
    cc_log: SideLog<CcWords>,
    /// The recovery machine's.
    rec_log: SideLog<RecoveryWords>,
}

/// A connection's congestion window, as [`Connection::congestion`] shows
/// it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CongestionView {
    /// The congestion machine's state.
    pub state: &'static str,
    /// The congestion window, bytes.
    pub cwnd: u32,
    /// The slow start threshold, bytes (`u32::MAX` until a loss).
    pub ssthresh: u32,
    /// Bytes in flight (sent, not yet acknowledged).
    pub flight: u32,
    /// The smoothed round-trip time (RFC 6298), once measured.
    pub srtt: Option<std::time::Duration>,
    /// The path model's bandwidth estimate, bytes per second (0 unless
    /// the congestion spec runs the `model` action).
    pub bandwidth: u64,
    /// The path model's min RTT, once its `model` action measured one.
    pub min_rtt: Option<std::time::Duration>,
}

impl<M: Machine> Connection<M> {
    /// A connection in `machine`'s initial state, with no TCB.
    pub fn new(machine: M, local: SocketAddrV4, config: Arc<Config>) -> Self {
        Connection {
            state: machine.initial(),
            machine,
            local,
            remote: None,
            tcb: None,
            leftover: None,
            was_open: false,
            steps: Vec::new(),
            control: VecDeque::new(),
            error: None,
            config,
            trace: Vec::new(),
            fresh: Vec::new(),
            unhandled: 0,
            passive_remote: None,
            last_transition: None,
            cc_log: SideLog::default(),
            rec_log: SideLog::default(),
        }
    }

    /// A fresh copy of a listening connection for a segment from a new
    /// peer: same state and trace, an empty TCB of the same shape.
    pub fn fork(&self, remote: SocketAddrV4, now: Instant) -> Self {
        Connection {
            machine: self.machine.clone(),
            state: self.state,
            local: self.local,
            remote: Some(remote),
            tcb: self.tcb.as_ref().map(|_| Tcb::new(&self.config, now)),
            leftover: None,
            was_open: self.was_open,
            steps: Vec::new(),
            control: VecDeque::new(),
            error: None,
            config: self.config.clone(),
            trace: self.trace.clone(),
            fresh: Vec::new(),
            unhandled: 0,
            passive_remote: self.passive_remote,
            last_transition: self.last_transition,
            cc_log: SideLog::default(),
            rec_log: SideLog::default(),
        }
    }

    /// Feeds everything that decides what this connection does next to
    /// `h`, times relative to `now` (see [`crate::fingerprint`]).
    pub fn fingerprint<H: Hasher>(&self, now: Instant, h: &mut H) {
        let Connection {
            machine,
            state,
            local,
            remote,
            tcb,
            leftover,
            was_open,
            steps: _,
            control,
            error,
            config: _,
            trace: _,
            fresh: _,
            unhandled: _,
            passive_remote,
            last_transition: _,
            cc_log: _,
            rec_log: _,
        } = self;
        machine.state_name(*state).hash(h);
        (local, remote, was_open, control, error, passive_remote).hash(h);
        match tcb {
            None => h.write_u8(0),
            Some(t) => {
                h.write_u8(1);
                t.fingerprint(now, h);
            }
        }
        match leftover {
            None => h.write_u8(0),
            Some(Leftover { data, fin }) => {
                h.write_u8(1);
                data.fingerprint(&[], h);
                fin.hash(h);
            }
        }
    }

    /// The machine driving this connection.
    pub fn machine(&self) -> &M {
        &self.machine
    }

    /// The machine's current state.
    pub fn state(&self) -> M::State {
        self.state
    }

    /// Our address (inner).
    pub fn local(&self) -> SocketAddrV4 {
        self.local
    }

    /// The peer's address (inner), once known.
    pub fn remote(&self) -> Option<SocketAddrV4> {
        self.remote
    }

    /// The transitions taken so far.
    pub fn trace(&self) -> &[TraceEntry] {
        &self.trace
    }

    /// Moves out the transitions taken since the last call.
    pub fn take_fresh_trace(&mut self) -> std::vec::Drain<'_, TraceEntry> {
        self.fresh.drain(..)
    }

    /// Moves out the events recorded since the last call (see
    /// [`Config::record_steps`]).
    pub fn take_steps(&mut self) -> std::vec::Drain<'_, StepRecord> {
        self.steps.drain(..)
    }

    /// The congestion machine's transitions (if the config keeps traces).
    pub fn cc_trace(&self) -> &[TraceEntry] {
        &self.cc_log.trace
    }

    /// Moves out the congestion machine's transitions since the last call.
    pub fn take_fresh_cc_trace(&mut self) -> std::vec::Drain<'_, TraceEntry> {
        self.cc_log.fresh.drain(..)
    }

    /// Moves out the congestion machine's events since the last call.
    pub fn take_cc_steps(&mut self) -> std::vec::Drain<'_, StepRecord<CcWords>> {
        self.cc_log.steps.drain(..)
    }

    /// The recovery machine's transitions (if the config keeps traces).
    pub fn rec_trace(&self) -> &[TraceEntry] {
        &self.rec_log.trace
    }

    /// Moves out the recovery machine's transitions since the last call.
    pub fn take_fresh_rec_trace(&mut self) -> std::vec::Drain<'_, TraceEntry> {
        self.rec_log.fresh.drain(..)
    }

    /// Moves out the recovery machine's events since the last call.
    pub fn take_rec_steps(&mut self) -> std::vec::Drain<'_, StepRecord<RecoveryWords>> {
        self.rec_log.steps.drain(..)
    }

    /// The recovery machine's state, while there is a TCB.
    pub fn recovery_state(&self) -> Option<&'static str> {
        Some(self.tcb.as_ref()?.rec.state.name())
    }

    /// The congestion window, while there is a TCB.
    pub fn congestion(&self) -> Option<CongestionView> {
        let t = self.tcb.as_ref()?;
        Some(CongestionView {
            state: t.cc.state.name(),
            cwnd: t.cc.cwnd(t.effective_mss(&self.config) as u32),
            ssthresh: t.cc.ssthresh,
            flight: t.flight_size(),
            srtt: t.rtt.srtt(),
            bandwidth: t.cc.model.bandwidth(),
            min_rtt: t.cc.model.min_rtt(),
        })
    }

    /// The error reported to the application, if any.
    pub fn error(&self) -> Option<ConnError> {
        self.error
    }

    /// Events that had no transition in the state they arrived in.
    pub fn unhandled(&self) -> u64 {
        self.unhandled
    }

    /// Whether the TCB has a peer it synchronized with (the peer's SYN was
    /// taken in).
    pub fn has_peer(&self) -> bool {
        self.tcb.as_ref().is_some_and(|t| t.irs.is_some())
    }

    /// Whether the machine has been in a state of the spec's group `open`:
    /// a connect is complete, a listener's child can be accepted.
    pub fn is_open(&self) -> bool {
        self.was_open
    }

    /// Whether the machine is in a state of the spec's group `open` now.
    fn in_open(&self) -> bool {
        self.machine.in_group(self.state, Group::Open)
    }

    /// Whether the connection has finished: no TCB and nothing left to send.
    pub fn is_finished(&self) -> bool {
        self.tcb.is_none() && self.control.is_empty()
    }

    /// The bytes taken in for the application, and whether the peer's FIN
    /// was: in the TCB, or left over from it.
    fn received(&self) -> Option<(&Ring, bool)> {
        match (&self.tcb, &self.leftover) {
            (Some(t), _) => Some((&t.recv_buf, t.fin_received)),
            (None, Some(l)) => Some((&l.data, l.fin)),
            (None, None) => None,
        }
    }

    /// Bytes ready to read.
    pub fn readable(&self) -> usize {
        self.received().map_or(0, |(r, _)| r.len())
    }

    /// Whether the peer's FIN was taken in and every byte before it was
    /// read: the end of the stream.
    pub fn at_eof(&self) -> bool {
        self.received().is_some_and(|(r, fin)| fin && r.is_empty())
    }

    /// Room in the send buffer.
    pub fn writable(&self) -> usize {
        self.tcb.as_ref().map_or(0, |t| t.send_buf.free())
    }

    /// Whether everything written (and our FIN, if closed) is acknowledged.
    pub fn all_acked(&self) -> bool {
        self.tcb
            .as_ref()
            .is_none_or(|t| t.send_buf.is_empty() && (!t.fin_queued || t.fin_acked()))
    }

    /// Memory held by buffers, bytes.
    pub fn buffer_memory(&self) -> usize {
        let tcb = self
            .tcb
            .as_ref()
            .map_or(0, |t| t.send_buf.allocated() + t.recv_buf.allocated());
        tcb + self.leftover.as_ref().map_or(0, |l| l.data.allocated())
    }

    // ---- application calls -------------------------------------------------

    /// `active_open`: connect to `remote`, giving up after `timeout`.
    pub fn open_active(
        &mut self,
        env: &Env<'_>,
        remote: SocketAddrV4,
        timeout: Option<Duration>,
    ) -> Result<(), CallRefused> {
        self.remote = Some(remote);
        self.call(env, Event::ActiveOpen, &[])?;
        if let (Some(t), Some(d)) = (self.tcb.as_mut(), timeout) {
            t.open_deadline = Some(env.now + d);
        }
        Ok(())
    }

    /// `passive_open`: listen, for anyone or for `remote` only.
    pub fn open_passive(
        &mut self,
        env: &Env<'_>,
        remote: Option<SocketAddrV4>,
    ) -> Result<(), CallRefused> {
        self.remote = remote;
        self.passive_remote = remote;
        self.call(env, Event::PassiveOpen, &[])
    }

    /// `send`: queues as much of `data` as fits; `Ok(0)` when the buffer is
    /// full. The spec decides whether SEND is allowed in this state.
    pub fn send(&mut self, env: &Env<'_>, data: &[u8]) -> Result<usize, CallRefused> {
        if data.is_empty() || self.tcb.as_ref().is_some_and(|t| t.send_buf.free() == 0) {
            // Still ask the spec, so a closed connection refuses.
            if self.would_handle(Event::Send) {
                return Ok(0);
            }
            return Err(self.refusal(Event::Send));
        }
        let before = self.tcb.as_ref().map_or(0, |t| t.queued_total);
        self.call(env, Event::Send, data)?;
        let after = self.tcb.as_ref().map_or(before, |t| t.queued_total);
        Ok((after - before) as usize)
    }

    /// Reads received bytes into `out`; returns how many (0 with nothing
    /// ready, see [`Self::at_eof`]).
    pub fn recv(&mut self, out: &mut [u8]) -> usize {
        let Some(t) = self.tcb.as_mut() else {
            return self.leftover.as_mut().map_or(0, |l| l.data.pop(out));
        };
        let before = t.rcv_wnd();
        let n = t.recv_buf.pop(out);
        // Window update once the window opened by a useful amount
        // (receiver-side silly window avoidance, RFC 9293 3.8.6.2.2).
        let threshold = (t.recv_buf.limit() / 2).min(usize::from(self.config.mss)) as u32;
        let advertised = t.rcv_adv.distance(t.rcv_nxt).max(0) as u32;
        if n > 0
            && t.irs.is_some()
            && !t.fin_received
            && t.rcv_wnd() >= advertised + threshold
            && before < t.rcv_wnd()
        {
            t.ack_pending = true;
        }
        n
    }

    /// `close`: no more data from us.
    pub fn close(&mut self, env: &Env<'_>) -> Result<(), CallRefused> {
        self.call(env, Event::Close, &[])
    }

    /// `abort`: what was received and not yet read is discarded too (the
    /// application asked).
    pub fn abort(&mut self, env: &Env<'_>) -> Result<(), CallRefused> {
        self.call(env, Event::Abort, &[])?;
        if self.error.is_none() {
            self.error = Some(ConnError::Aborted);
        }
        self.leftover = None;
        if let Some(t) = self.tcb.as_mut() {
            t.recv_buf.clear();
        }
        Ok(())
    }

    fn call(&mut self, env: &Env<'_>, event: Event, data: &[u8]) -> Result<(), CallRefused> {
        let cause = Cause {
            segment: None,
            data,
        };
        if self.fire(env, event, cause) {
            Ok(())
        } else {
            Err(self.refusal(event))
        }
    }

    fn refusal(&self, event: Event) -> CallRefused {
        CallRefused {
            event,
            state: self.state.to_string(),
        }
    }

    /// Whether the spec has a transition for `event` now.
    fn would_handle(&self, event: Event) -> bool {
        self.machine
            .step(self.state, event, &|g| self.guard(g))
            .is_some()
    }

    // ---- the machine ---------------------------------------------------------

    fn guard(&self, guard: Guard) -> bool {
        match guard {
            Guard::Passive => self.tcb.as_ref().is_none_or(|t| !t.sent_syn),
            Guard::FinAcked => self.tcb.as_ref().is_some_and(Tcb::fin_acked),
            Guard::PeerKnown => self.remote.is_some(),
        }
    }

    /// The guard's value once the ACK at hand (if any) is taken in: an
    /// ACK that covers our FIN makes `fin_acked` hold for the event it
    /// raises.
    fn guard_after(&self, guard: Guard, ack: Option<SeqNum>) -> bool {
        match (guard, ack) {
            (Guard::FinAcked, Some(ack)) => self
                .tcb
                .as_ref()
                .and_then(Tcb::fin_seq)
                .is_some_and(|f| ack.gt(f)),
            _ => self.guard(guard),
        }
    }

    /// Raises `event`; answers whether the spec had a transition for it.
    fn fire(&mut self, env: &Env<'_>, event: Event, cause: Cause<'_>) -> bool {
        self.fire_with(env, event, cause, None, |_| {})
    }

    /// Raises `event`. When the spec has a transition, the machine enters
    /// its target, `take` takes in what the event carries, and the
    /// transition's actions run; when it has none, nothing happens at all.
    /// `ack` is the ACK the event carries, which guards see as taken in.
    fn fire_with(
        &mut self,
        env: &Env<'_>,
        event: Event,
        cause: Cause<'_>,
        ack: Option<SeqNum>,
        take: impl FnOnce(&mut Self),
    ) -> bool {
        let guards = |g: Guard| self.guard_after(g, ack);
        let fired = self.machine.step(self.state, event, &guards);
        if self.config.record_steps {
            let from = self.machine.state_name(self.state);
            let record = StepRecord {
                at: env.now.saturating_duration_since(env.epoch),
                local: self.local,
                remote: self.remote,
                event,
                guards: Guard::ALL.iter().map(|&g| (g, guards(g))).collect(),
                from,
                to: fired
                    .as_ref()
                    .map_or(from, |f| self.machine.state_name(f.to)),
                transition: fired
                    .as_ref()
                    .map(|f| self.machine.transition(f.transition)),
                actions: fired
                    .as_ref()
                    .map(|f| f.actions.iter().map(|&a| self.machine.action(a)).collect())
                    .unwrap_or_default(),
            };
            self.steps.push(record);
        }
        let Some(fired) = fired else {
            self.unhandled += 1;
            return false;
        };
        self.state = fired.to;
        if self.in_open() {
            self.was_open = true;
        }
        take(self);
        // A self-loop repeated back to back (every SEND while ESTABLISHED)
        // is traced once. (The same row twice in a row can only be a
        // self-loop: no state comparison needed.)
        let repeat = self.last_transition == Some(fired.transition);
        self.last_transition = Some(fired.transition);
        if repeat {
            for &a in fired.actions {
                self.perform(env, self.machine.action(a), cause);
            }
            return true;
        }
        let entry = TraceEntry::new(
            &self.machine,
            env.now.saturating_duration_since(env.epoch),
            self.local,
            self.remote,
            fired.transition,
        );
        if self.config.keep_trace {
            self.trace.push(entry.clone());
        }
        self.fresh.push(entry);
        for &a in fired.actions {
            self.perform(env, self.machine.action(a), cause);
        }
        true
    }

    /// Where and when a side machine's event is raised now.
    fn raised(&self, env: &Env<'_>) -> Raised {
        Raised {
            at: env.now.saturating_duration_since(env.epoch),
            local: self.local,
            remote: self.remote,
            record_steps: self.config.record_steps,
            keep_trace: self.config.keep_trace,
        }
    }

    /// Raises `event` on the congestion machine; its actions run on the
    /// window (the `retransmit` action marks the segment at SND.UNA).
    /// Answers whether it retransmits.
    fn fire_cc(&mut self, env: &Env<'_>, event: cc::Event, facts: Facts) -> bool {
        let raised = self.raised(env);
        let Some(t) = self.tcb.as_mut() else {
            return false;
        };
        let window = &t.cc;
        let guards = |g: cc::Guard| window.guard(g, &facts);
        let machine = self.config.congestion.machine();
        let (mut state, mut last) = (t.cc.state, t.cc.last_transition);
        let fired = self
            .cc_log
            .step(machine, &mut state, &mut last, &raised, event, &guards);
        (t.cc.state, t.cc.last_transition) = (state, last);
        let Some(fired) = fired else {
            return false;
        };
        let mut retransmits = false;
        for &a in fired.actions {
            if t.cc.perform(a, &facts) {
                t.resend_una = true;
                retransmits = true;
            }
        }
        retransmits
    }

    /// Raises `event`, which delivered `delivered` bytes, on the recovery
    /// machine and carries out its actions; answers what they asked of the
    /// connection.
    fn fire_rec(&mut self, env: &Env<'_>, event: recovery::Event, delivered: u32) -> Effects {
        let raised = self.raised(env);
        let mut effects = Effects::default();
        let Some(t) = self.tcb.as_mut() else {
            return effects;
        };
        let mut facts = t.rec_facts(&self.config, env.now, delivered);
        // (The guards read the scoreboard as it stands before the actions.)
        let losses = &t.rec;
        let guards = |g: recovery::Guard| losses.guard(g, &facts);
        let machine = self.config.recovery.machine();
        let (mut state, mut last) = (t.rec.state, t.rec.last_transition);
        let fired = self
            .rec_log
            .step(machine, &mut state, &mut last, &raised, event, &guards);
        (t.rec.state, t.rec.last_transition) = (state, last);
        let Some(fired) = fired else {
            return effects;
        };
        for &a in fired.actions {
            let Some(t) = self.tcb.as_mut() else {
                break;
            };
            let before = effects.enter_recovery;
            t.rec.perform(a, &facts, &mut effects);
            if effects.enter_recovery && !before {
                let cc_facts = t.facts(&self.config, env.now, t.snd_una, 0, delivered);
                if self.fire_cc(env, cc::Event::ThirdDupAck, cc_facts) {
                    effects.retransmit_una = true;
                }
                // The actions after it (PRR) read ssthresh as the
                // congestion machine left it.
                if let Some(t) = self.tcb.as_ref() {
                    facts = t.rec_facts(&self.config, env.now, delivered);
                }
            }
        }
        if effects.retransmit_una
            && let Some(t) = self.tcb.as_mut()
        {
            t.resend_una = true;
        }
        effects
    }

    fn perform(&mut self, env: &Env<'_>, action: Action, cause: Cause<'_>) {
        let now = env.now;
        match action {
            Action::CreateTcb => {
                if self.tcb.is_none() {
                    self.tcb = Some(Tcb::new(&self.config, now));
                }
            }
            Action::DeleteTcb => {
                let Some(t) = self.tcb.take() else {
                    return;
                };
                if (t.ack_pending || t.ack_due.is_some())
                    && let Some(dst) = self.remote
                {
                    self.control.push_back(Control {
                        dst,
                        seq: t.snd_max,
                        ack: Some(t.rcv_nxt),
                        flags: Flags::empty(),
                        window: t.window_field(false),
                    });
                }
                // What was taken in stays readable: it was acknowledged.
                if !t.recv_buf.is_empty() || t.fin_received {
                    self.leftover = Some(Leftover {
                        data: t.recv_buf,
                        fin: t.fin_received,
                    });
                }
            }
            Action::InitRcv => {
                let (Some(t), Some(seg)) = (self.tcb.as_mut(), cause.segment) else {
                    return;
                };
                t.irs = Some(seg.seq);
                t.rcv_nxt = seg.seq + 1;
                t.rcv_adv = t.rcv_nxt + t.offered_wnd() as usize;
                t.peer_mss = seg.mss.unwrap_or(536);
                let offered = self.config.window_shift();
                t.scaling = self.config.window_scaling && seg.window_scale.is_some();
                t.snd_shift = if t.scaling {
                    seg.window_scale.unwrap_or(0)
                } else {
                    0
                };
                t.rcv_shift = if t.scaling { offered } else { 0 };
                t.sack_ok = self.config.sack && seg.sack_permitted;
                // The window of a SYN is never scaled (RFC 7323 2.2).
                t.snd_wnd = u32::from(seg.window);
                t.max_snd_wnd = t.max_snd_wnd.max(t.snd_wnd);
                t.snd_wl1 = seg.seq;
                t.snd_wl2 = seg.ack.unwrap_or(t.snd_una);
                if self.remote.is_none() {
                    self.remote = Some(seg.src);
                }
            }
            Action::ForgetPeer => {
                if let Some(t) = self.tcb.as_mut() {
                    *t = Tcb::new(&self.config, now);
                }
                self.remote = self.passive_remote;
            }
            Action::SendSyn | Action::SendSynAck => {
                let iss = self.choose_iss(env);
                let Some(t) = self.tcb.as_mut() else {
                    return;
                };
                if action == Action::SendSyn {
                    t.sent_syn = true;
                }
                debug_assert_eq!(t.iss, Some(iss));
                t.syn_pending = true;
            }
            Action::SendAck => {
                if let Some(t) = self.tcb.as_mut() {
                    t.ack_pending = true;
                }
            }
            Action::SendFin => {
                if let Some(t) = self.tcb.as_mut() {
                    t.fin_queued = true;
                }
            }
            Action::ReplyRst => {
                if let Some(seg) = cause.segment
                    && !seg.flags.rst()
                {
                    self.control.push_back(reset_reply(seg));
                }
            }
            Action::SendRst => {
                if let (Some(t), Some(dst)) = (self.tcb.as_ref(), self.remote) {
                    self.control.push_back(Control {
                        dst,
                        seq: t.snd_nxt,
                        ack: None,
                        flags: Flags::RST,
                        window: 0,
                    });
                }
            }
            Action::SendChallengeAck => {
                let limit = self.config.challenge_ack_limit;
                let (Some(t), Some(dst)) = (self.tcb.as_mut(), self.remote) else {
                    return;
                };
                if now.saturating_duration_since(t.challenge.0) >= Duration::from_secs(1) {
                    t.challenge = (now, 0);
                }
                if t.challenge.1 < limit {
                    t.challenge.1 += 1;
                    self.control.push_back(Control {
                        dst,
                        seq: t.snd_max,
                        ack: Some(t.rcv_nxt),
                        flags: Flags::empty(),
                        window: t.window_field(false),
                    });
                }
            }
            Action::StartTimeWait => {
                if let Some(t) = self.tcb.as_mut() {
                    t.time_wait_deadline = Some(now + self.config.time_wait());
                    t.rto_deadline = None;
                    t.progress_at = None;
                }
            }
            Action::QueueData => {
                if let Some(t) = self.tcb.as_mut() {
                    let n = t.send_buf.push(cause.data);
                    t.queued_total += n as u64;
                    if n > 0 && t.progress_at.is_none() {
                        t.progress_at = Some(now);
                    }
                }
            }
            Action::Flush => {
                // Out-of-order data was never acknowledged (a SACK block
                // is no promise, RFC 2018 8); what was is the application's.
                if let Some(t) = self.tcb.as_mut() {
                    t.send_buf.clear();
                    t.assembler.clear();
                    t.sack_blocks = SackBlocks::EMPTY;
                }
            }
            Action::ReportReset => self.error = Some(ConnError::Reset),
            Action::ReportRefused => self.error = Some(ConnError::Refused),
            Action::ReportTimeout => self.error = Some(ConnError::TimedOut),
        }
    }

    fn choose_iss(&mut self, env: &Env<'_>) -> SeqNum {
        if let Some(iss) = self.tcb.as_ref().and_then(|t| t.iss) {
            return iss;
        }
        let remote = self.remote.unwrap_or(SocketAddrV4::new(0.into(), 0));
        let iss = env.isn.isn(
            env.now.saturating_duration_since(env.epoch),
            self.local,
            remote,
        );
        if let Some(t) = self.tcb.as_mut() {
            t.iss = Some(iss);
            t.snd_una = iss;
            t.snd_nxt = iss;
            t.snd_max = iss;
            t.cc.start(iss);
            t.rec.start(iss);
        }
        iss
    }

    // ---- segment arrival (RFC 9293 3.10.7) -----------------------------------

    /// Processes a segment from `src` (inner address) addressed to us.
    pub fn on_segment(&mut self, env: &Env<'_>, src: SocketAddrV4, seg: &TcpRepr<'_>) {
        let inc = Incoming::of(src, seg);
        let Some(t) = self.tcb.as_ref() else {
            // No TCB (3.10.7.1): the machine answers from its initial state.
            if !inc.flags.rst() {
                self.fire(env, Event::RcvSegment, seg_cause(&inc));
            }
            return;
        };
        if t.irs.is_some() {
            self.on_synchronized(env, inc, seg.payload);
        } else if t.sent_syn {
            self.on_syn_sent(env, inc, seg.payload);
        } else {
            self.on_listening(env, inc);
        }
    }

    /// 3.10.7.2: a TCB that has neither sent nor received a SYN.
    fn on_listening(&mut self, env: &Env<'_>, inc: Incoming) {
        let cause = seg_cause(&inc);
        if inc.flags.rst() {
            self.fire(env, Event::RcvRst, cause);
        } else if inc.ack.is_some() {
            self.fire(env, Event::RcvBadAck, cause);
        } else if inc.flags.syn() {
            if self.passive_remote.is_some_and(|r| r != inc.src) {
                // A passive open for one remote socket only.
                self.unhandled += 1;
                return;
            }
            self.remote = Some(inc.src);
            self.fire(env, Event::RcvSyn, cause);
        }
    }

    /// 3.10.7.3: our SYN is out, theirs has not arrived.
    fn on_syn_sent(&mut self, env: &Env<'_>, inc: Incoming, payload: &[u8]) {
        let cause = seg_cause(&inc);
        let ack_ok = {
            let t = self.tcb.as_ref().expect("checked by the caller");
            let iss = t.iss.unwrap_or(t.snd_una);
            inc.ack.map(|a| iss.lt(a) && a.le(t.snd_max))
        };
        if ack_ok == Some(false) {
            if !inc.flags.rst() {
                self.fire(env, Event::RcvBadAck, cause);
            }
            return;
        }
        if inc.flags.rst() {
            if ack_ok == Some(true) {
                self.fire(env, Event::RcvRst, cause);
            }
            return;
        }
        if !inc.flags.syn() {
            return;
        }
        let Some(ack) = inc.ack else {
            self.fire(env, Event::RcvSyn, cause);
            return;
        };
        let taken = self.fire_with(env, Event::RcvSynAck, cause, None, |c| {
            c.take_ack(env, ack, &inc);
        });
        if taken && self.has_peer() {
            // Data or a FIN riding on the SYN-ACK.
            let mut rest = inc;
            rest.seq = inc.seq + 1;
            rest.flags.remove(Flags::SYN);
            self.take_text(env.now, &rest, payload);
            self.take_fin(env, &rest);
        }
    }

    /// 3.10.7.4: the peer's SYN is in; the general case.
    fn on_synchronized(&mut self, env: &Env<'_>, mut inc: Incoming, payload: &[u8]) {
        let t = self.tcb.as_ref().expect("checked by the caller");
        let syn_acked = t.syn_acked();
        let (rcv_nxt, snd_una, snd_max) = (t.rcv_nxt, t.snd_una, t.snd_max);
        let ack_in_flight = |a: SeqNum| snd_una.lt(a) && a.le(snd_max);
        // Simultaneous open: the peer's SYN-ACK repeats the SYN we already
        // took in; keep its ACK, drop the old SYN.
        if inc.flags.syn()
            && !syn_acked
            && inc.seq + 1 == rcv_nxt
            && inc.ack.is_some_and(ack_in_flight)
        {
            inc.flags.remove(Flags::SYN);
            inc.seq += 1;
        }
        // The peer's FIN again (our ACK of it was lost).
        let dup_fin = t.fin_received
            && inc.flags.fin()
            && !inc.flags.syn()
            && inc.seq + inc.payload_len + 1 == rcv_nxt;
        let in_window = acceptable(t, &inc);
        let too_old = |a: SeqNum| a.lt(snd_una - t.max_snd_wnd as usize);
        let cause = seg_cause(&inc);
        if !dup_fin && !in_window {
            // Data wholly taken in before: reported once in a D-SACK block
            // (RFC 2883 4.1.1), if the spec's answer is an ACK.
            let end = inc.seq + inc.payload_len;
            if let Some(t) = self.tcb.as_mut()
                && t.sack_ok
                && inc.payload_len > 0
                && end.le(rcv_nxt)
            {
                t.dsack = Some((inc.seq, end));
            }
            if !inc.flags.rst() {
                self.fire(env, Event::RcvUnacceptable, cause);
            }
            return;
        }
        if inc.flags.rst() {
            let event = if inc.seq == rcv_nxt {
                Event::RcvRst
            } else {
                Event::RcvRstInWindow
            };
            self.fire(env, event, cause);
            return;
        }
        if inc.flags.syn() {
            self.fire(env, Event::RcvSyn, cause);
            return;
        }
        let Some(ack) = inc.ack else {
            return;
        };
        if !syn_acked {
            if !ack_in_flight(ack) {
                self.fire(env, Event::RcvBadAck, cause);
                return;
            }
        } else if ack.gt(snd_max) || too_old(ack) {
            self.fire(env, Event::RcvUnacceptable, cause);
            return;
        }
        // Step 5, the ACK: what it acknowledges of our data is taken in at
        // once; the part that acknowledges our SYN or FIN only once the
        // spec has a transition for it.
        let control = self.tcb.as_ref().and_then(|t| t.unacked_control(ack));
        let data_ack = control.unwrap_or(ack);
        self.take_ack(env, data_ack, &inc);
        if control.is_some() {
            // The figure's FIN+ACK: the same segment brings the peer's FIN
            // with nothing before it left to take in.
            let fin_ack = !dup_fin
                && self.fin_in_reach(&inc)
                && self
                    .machine
                    .step(self.state, Event::RcvFin, &|g| {
                        self.guard_after(g, Some(ack))
                    })
                    .is_some();
            if fin_ack {
                self.take_ack(env, ack, &inc);
                self.take_text(env.now, &inc, payload);
                self.take_fin(env, &inc);
                return;
            }
            self.fire_with(env, Event::RcvAck, cause, Some(ack), |c| {
                c.take_ack(env, ack, &inc);
            });
        }
        if self.tcb.is_none() {
            return;
        }
        // Step 7, the text; step 8, the FIN.
        if dup_fin {
            self.fire(env, Event::RcvFin, cause);
        } else {
            self.take_text(env.now, &inc, payload);
            self.take_fin(env, &inc);
        }
    }

    /// Takes in an acceptable ACK up to `ack`: SND.UNA, the send buffer,
    /// RTT, the window; then raises the congestion machine's event for it,
    /// if any.
    fn take_ack(&mut self, env: &Env<'_>, ack: SeqNum, inc: &Incoming) {
        let now = env.now;
        let rto_after_syn_loss = self.config.rto_after_syn_loss();
        let Some(t) = self.tcb.as_mut() else {
            return;
        };
        let mut cc_event = None;
        let mut rec_event = None;
        let rto_deadline_before = t.rto_deadline;
        // The scoreboard takes in the ACK and its SACK blocks first.
        let sacked_before = t.rec.sacked_bytes();
        let delivered = if t.snd_una.le(ack) {
            t.rec.on_ack(ack, &inc.sack, t.snd_max, now, t.sack_ok)
        } else {
            0
        };
        let sacked_more = t.rec.sacked_bytes() > sacked_before;
        if t.snd_una.lt(ack) {
            let syn_was_acked = t.syn_acked();
            let acked = ack.distance(t.snd_una).max(0) as u32;
            let syn_now = !t.syn_acked() && t.iss.is_some_and(|i| ack.gt(i));
            let fin_now = t.fin_seq().is_some_and(|f| t.snd_una.le(f) && ack.gt(f));
            if fin_now {
                t.fin_acked_at = Some(now);
            }
            let data_acked = ack.distance(t.buf_seq()).max(0) as usize;
            t.send_buf.consume(data_acked);
            t.snd_una = ack;
            if t.snd_nxt.lt(ack) {
                t.snd_nxt = ack;
            }
            if let Some((probe, sent)) = t.rtt_probe
                && ack.ge(probe)
            {
                t.rtt.sample(now.saturating_duration_since(sent));
                t.rtt_probe = None;
            }
            if syn_now && t.syn_retransmitted && t.rtt.srtt().is_none() {
                // RFC 6298 5.7: the SYN's timer expired, so data starts
                // from 3 s (scaled like the initial RTO), not from the
                // backed-off value.
                t.rtt.restart(rto_after_syn_loss);
            }
            if syn_was_acked {
                let facts = t.facts(&self.config, now, ack, acked, delivered);
                cc_event = Some((cc::Event::NewAck, facts));
                rec_event = Some(recovery::Event::NewAck);
                t.rec.new_ack();
            }
            t.retransmissions = 0;
            t.dupacks = 0;
            if t.snd_una == t.snd_max {
                t.rto_deadline = None;
                t.progress_at = (!t.send_buf.is_empty()).then_some(now);
            } else {
                t.rto_deadline = Some(now + t.rtt.rto());
                t.progress_at = Some(now);
            }
        } else if ack == t.snd_una
            && inc.payload_len == 0
            && !inc.flags.fin()
            && t.snd_max.gt(t.snd_una)
            && t.snd_wnd != 0
            && u32::from(inc.window) << t.snd_shift == t.snd_wnd
        {
            t.dupacks += 1;
            let facts = t.facts(&self.config, now, ack, 0, delivered);
            cc_event = Some((cc::Event::DupAck, facts));
            rec_event = Some(recovery::Event::DupAck);
        } else if ack == t.snd_una && sacked_more && t.syn_acked() {
            // RFC 6675's duplicate ACK: it SACKs new data.
            rec_event = Some(recovery::Event::DupAck);
        }
        // Window update (RFC 9293 3.10.7.4, fifth step).
        if t.snd_una.le(ack)
            && ack.le(t.snd_max)
            && (t.snd_wl1.lt(inc.seq) || (t.snd_wl1 == inc.seq && t.snd_wl2.le(ack)))
        {
            let wnd = u32::from(inc.window) << t.snd_shift;
            t.snd_wnd = wnd;
            t.max_snd_wnd = t.max_snd_wnd.max(wnd);
            t.snd_wl1 = inc.seq;
            t.snd_wl2 = ack;
        }
        if t.snd_wnd == 0 && t.syn_acked() && t.has_unsent() {
            // The peer answers while its window stays closed: keep
            // probing it (RFC 9293 3.8.6.1), with no user timeout.
            t.retransmissions = 0;
            t.progress_at = Some(now);
        }
        // The recovery machine first: when it enters recovery, the
        // congestion machine hears `third_dup_ack` for this ACK instead of
        // `dup_ack`.
        let effects = match rec_event {
            Some(event) => self.fire_rec(env, event, delivered),
            None => Effects::default(),
        };
        if let Some((event, facts)) = cc_event.filter(|_| !effects.enter_recovery) {
            let retransmits = self.fire_cc(env, event, facts) || effects.retransmit_una;
            if event == cc::Event::NewAck
                && let Some(t) = self.tcb.as_mut()
            {
                // RFC 6582 3.2 step 5: only the first partial ACK of a
                // recovery restarts the retransmission timer (the
                // "Impatient" variant), so a window that lost many
                // segments falls back on the timer and slow start instead
                // of repairing one segment per round trip.
                if retransmits && t.partial_acks > 0 {
                    t.rto_deadline = rto_deadline_before.or(t.rto_deadline);
                }
                t.partial_acks = if retransmits { t.partial_acks + 1 } else { 0 };
            }
        }
    }

    /// Whether the peer's FIN in `inc` would be reached by taking in the
    /// segment: nothing lies between RCV.NXT and it, or (in an open state)
    /// the segment's own data fills the gap and fits the window.
    fn fin_in_reach(&self, inc: &Incoming) -> bool {
        let Some(t) = self.tcb.as_ref().filter(|_| inc.flags.fin()) else {
            return false;
        };
        let fin = inc.seq + inc.payload_len;
        fin == t.rcv_nxt
            || (self.in_open()
                && inc.seq.le(t.rcv_nxt)
                && fin.gt(t.rcv_nxt)
                && fin.distance(t.rcv_nxt) as usize <= t.recv_buf.free())
    }

    /// Takes in the segment's data (RFC 9293 3.10.7.4, seventh step) if
    /// the state is open, else drops it unacknowledged; notes where the
    /// peer's FIN sits.
    fn take_text(&mut self, now: Instant, inc: &Incoming, payload: &[u8]) {
        let open = self.in_open();
        let (ack_delay, mss) = (self.config.ack_delay, usize::from(self.config.mss));
        let Some(t) = self.tcb.as_mut() else {
            return;
        };
        if t.fin_received {
            return;
        }
        if inc.flags.fin() {
            let fin = inc.seq + inc.payload_len;
            if fin.ge(t.rcv_nxt) && fin.le(t.rcv_nxt + t.rcv_wnd() as usize) {
                t.peer_fin = Some(fin);
            }
            if fin.gt(t.rcv_nxt) {
                // Out of order: say what we miss.
                t.ack_pending = true;
            }
        }
        if !open {
            return;
        }
        // Trim what is before RCV.NXT; the ring cuts what is past the window.
        let behind = (t.rcv_nxt.distance(inc.seq).max(0) as usize).min(payload.len());
        let data = &payload[behind..];
        if t.sack_ok && behind > 0 {
            // Its start was taken in before (RFC 2883 4.1.1).
            t.dsack = Some((inc.seq, inc.seq + behind));
        }
        if !data.is_empty() {
            let offset = (inc.seq + behind).distance(t.rcv_nxt).max(0) as usize;
            let end = offset + data.len();
            if t.sack_ok
                && offset > 0
                && t.assembler
                    .ranges()
                    .iter()
                    .any(|r| r.start <= offset && end <= r.end)
            {
                // All of it is held already, out of order (RFC 2883 4.1.2).
                t.dsack = Some((inc.seq + behind, inc.seq + payload.len()));
            }
            // Delayed ACKs (RFC 9293 3.8.6.3): in-order data with no hole
            // behind it waits for a second full-sized segment or the
            // delay; out-of-order data and data that fills a hole are
            // acknowledged at once.
            let in_order = offset == 0 && t.assembler.is_empty();
            if offset > 0 {
                t.dup_acks_owed = t.dup_acks_owed.saturating_add(1);
            }
            let written = t.recv_buf.write_at(t.recv_buf.len() + offset, data);
            if written > 0 && in_order {
                // The common case: nothing held past the in-order end.
                t.recv_buf.commit(written);
                t.rcv_nxt += written;
            } else if written > 0 && t.assembler.add(offset..offset + written) {
                let n = t.assembler.take_front();
                t.recv_buf.commit(n);
                t.rcv_nxt += n;
            }
            if t.sack_ok {
                t.order_sack_blocks(inc.seq + behind);
            }
            t.unacked_bytes += data.len();
            let full_sized = 2 * mss.min(usize::from(t.peer_mss)).max(1);
            if !in_order || ack_delay.is_zero() || t.unacked_bytes >= full_sized {
                t.ack_pending = true;
            } else {
                t.ack_due.get_or_insert(now + ack_delay);
            }
        }
    }

    /// Step 8: once the peer's FIN is reached in sequence, raises `RcvFin`;
    /// only a transition for it takes the FIN in (RCV.NXT past it, the end
    /// of the stream for the application).
    fn take_fin(&mut self, env: &Env<'_>, inc: &Incoming) {
        let reached = self
            .tcb
            .as_ref()
            .is_some_and(|t| !t.fin_received && t.peer_fin == Some(t.rcv_nxt));
        if !reached {
            return;
        }
        self.fire_with(env, Event::RcvFin, seg_cause(inc), None, |c| {
            if let Some(t) = c.tcb.as_mut() {
                t.rcv_nxt += 1;
                if crate::testing::planted(crate::testing::Plant::FinCountedTwice) {
                    t.rcv_nxt += 1;
                }
                t.fin_received = true;
                t.assembler.clear();
                t.sack_blocks = SackBlocks::EMPTY;
            }
        });
    }

    // ---- timers ----------------------------------------------------------------

    /// When the linger timer expires, if it runs.
    fn linger_deadline(&self, t: &Tcb) -> Option<Instant> {
        let at = t.fin_acked_at.filter(|_| !t.fin_received)?;
        Some(at + self.config.linger)
    }

    /// When the user timeout expires, if it runs.
    fn user_deadline(&self, t: &Tcb) -> Option<Instant> {
        let open = t
            .open_deadline
            .filter(|_| !t.syn_acked() || t.irs.is_none());
        let stalled = t.progress_at.map(|p| p + self.config.user_timeout);
        open.into_iter().chain(stalled).min()
    }

    /// The next time [`Self::on_timeout`] has work. A timer whose event
    /// the spec has no transition for now would change nothing: it is not
    /// armed.
    pub fn deadline(&self) -> Option<Instant> {
        let t = self.tcb.as_ref()?;
        let timer = |d: Option<Instant>, event: Event| d.filter(|_| self.would_handle(event));
        [
            t.rto_deadline,
            t.ack_due,
            t.rec.reorder_deadline,
            t.rec.probe_deadline,
            timer(t.time_wait_deadline, Event::TimeWaitTimeout),
            timer(self.user_deadline(t), Event::UserTimeout),
            timer(self.linger_deadline(t), Event::LingerTimeout),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Runs the timers due at `env.now`.
    pub fn on_timeout(&mut self, env: &Env<'_>) {
        let now = env.now;
        let max_retransmissions = self.config.max_retransmissions;
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        let Some(t) = self.tcb.as_mut() else {
            return;
        };
        if due(t.ack_due) {
            t.ack_due = None;
            t.ack_pending = true;
        }
        let Some(t) = self.tcb.as_ref() else {
            return;
        };
        let (time_wait, user, linger) = (
            due(t.time_wait_deadline),
            due(self.user_deadline(t)),
            due(self.linger_deadline(t)),
        );
        if time_wait && self.would_handle(Event::TimeWaitTimeout) {
            self.fire_with(env, Event::TimeWaitTimeout, Cause::default(), None, |c| {
                if let Some(t) = c.tcb.as_mut() {
                    t.time_wait_deadline = None;
                }
            });
            return;
        }
        if user && self.would_handle(Event::UserTimeout) {
            self.fire_with(env, Event::UserTimeout, Cause::default(), None, |c| {
                if let Some(t) = c.tcb.as_mut() {
                    t.open_deadline = None;
                    t.progress_at = None;
                }
            });
            return;
        }
        if linger && self.would_handle(Event::LingerTimeout) {
            self.fire_with(env, Event::LingerTimeout, Cause::default(), None, |c| {
                if let Some(t) = c.tcb.as_mut() {
                    t.fin_acked_at = Some(now);
                }
            });
            return;
        }
        let t = self.tcb.as_mut().expect("present above");
        if due(t.rec.reorder_deadline) {
            t.rec.reorder_deadline = None;
            self.fire_rec(env, recovery::Event::ReorderTimeout, 0);
        }
        let t = self.tcb.as_mut().expect("present above");
        if due(t.rec.probe_deadline) {
            t.rec.probe_deadline = None;
            self.fire_rec(env, recovery::Event::ProbeTimeout, 0);
            if let Some(t) = self.tcb.as_mut().filter(|t| t.rec.probe_pending()) {
                // The probe's own retransmission timer (RFC 8985 7.3).
                t.rto_deadline = Some(now + t.rtt.rto());
            }
        }
        let t = self.tcb.as_mut().expect("present above");
        if t.rto_deadline.is_some_and(|d| d <= now) {
            t.rto_deadline = None;
            if t.retransmissions >= max_retransmissions {
                // Give up, if the spec says how; else stop sending.
                self.fire(env, Event::UserTimeout, Cause::default());
                return;
            }
            // A timeout with data outstanding and the peer's window open is
            // a loss for the congestion machine (not a zero-window probe).
            let loss = (t.snd_wnd != 0 && t.flight_size() > 0)
                .then(|| t.facts(&self.config, env.now, t.snd_una, 0, 0));
            t.retransmissions += 1;
            t.rtt.back_off();
            t.rtt_probe = None; // Karn: no samples from retransmitted data
            if !t.syn_acked() {
                t.syn_pending = true;
                t.syn_retransmitted = true;
            }
            let effects = match loss {
                Some(_) => self.fire_rec(env, recovery::Event::Rto, 0),
                None => Effects::default(),
            };
            let t = self.tcb.as_mut().expect("present above");
            if !(effects.all_lost && t.rec.has_lost()) {
                // Go back to the oldest unacknowledged byte (or the SYN).
                t.snd_nxt = t.snd_una;
            }
            if t.snd_wnd == 0 && t.in_flight() == 0 {
                // Zero-window probe: one byte past the window.
                t.resend_una = true;
            }
            if let Some(facts) = loss {
                self.fire_cc(env, cc::Event::Rto, facts);
            }
        }
    }

    // ---- output ----------------------------------------------------------------

    /// The next segment to send, if any. Control segments first, then a
    /// SYN, data and FIN as the window allows, then a bare ACK.
    pub fn poll_transmit(&mut self, now: Instant) -> Option<Segment> {
        if let Some(c) = self.control.pop_front() {
            return Some(Segment::Control(c));
        }
        let dst = self.remote?;
        let open = self.in_open();
        let config = &self.config;
        let t = self.tcb.as_mut()?;
        if t.syn_pending {
            t.syn_pending = false;
            let iss = t.iss?;
            t.snd_nxt = iss + 1;
            t.snd_max = t.snd_max.max(iss + 1);
            arm_rto(t, now, true);
            let ack = t.irs.map(|_| t.rcv_nxt);
            // A SYN offers scaling and SACK; a SYN-ACK answers the offers.
            let (offer, sack_permitted) = if ack.is_some() {
                (t.scaling, t.sack_ok)
            } else {
                (config.window_scaling, config.sack)
            };
            if ack.is_some() {
                t.acked_now();
            }
            return Some(Segment::Data(Outgoing {
                dst,
                seq: iss,
                ack,
                flags: Flags::SYN,
                window: t.window_field(true),
                mss: Some(config.mss),
                window_scale: offer.then(|| config.window_shift()),
                sack_permitted,
                sack: SackBlocks::EMPTY,
                payload: (0, 0),
            }));
        }
        if open && t.syn_acked() && t.irs.is_some() {
            if let Some(seg) = next_data(t, config, now, dst) {
                return Some(Segment::Data(seg));
            }
            if t.snd_wnd == 0 && t.in_flight() == 0 && t.has_unsent() && t.rto_deadline.is_none() {
                // A closed window with data waiting on it, however the
                // data got there: probe it (RFC 9293 3.8.6.1, MUST-36);
                // the retransmission timer doubles as persist timer.
                t.rto_deadline = Some(now + t.rtt.rto());
                t.progress_at.get_or_insert(now);
            }
        }
        if (t.ack_pending || t.dup_acks_owed > 0) && t.irs.is_some() {
            // One ACK for all that arrived, and one more for each further
            // out-of-order segment.
            let owed = t.dup_acks_owed.saturating_sub(1);
            let sack = t.take_sack();
            t.acked_now();
            t.dup_acks_owed = owed;
            t.rcv_adv = t.rcv_nxt + t.offered_wnd() as usize;
            // An ACK alone carries the first sequence number never sent,
            // not SND.NXT: after a timeout SND.NXT goes back to SND.UNA,
            // and an ACK from there lies before the peer's RCV.NXT, which
            // a peer with a closed window answers with an ACK of its own.
            // But not past the right edge of the peer's window: a peer
            // that shrank its window (to zero, say) after data beyond the
            // new edge was sent takes only a segment within it, so an ACK
            // there would be dropped and our acknowledgments with it (as
            // Linux's tcp_acceptable_seq).
            let window_end = t.snd_una + t.snd_wnd as usize;
            return Some(Segment::Data(Outgoing {
                dst,
                seq: t.snd_max.min(window_end.max(t.snd_una)),
                ack: Some(t.rcv_nxt),
                flags: Flags::empty(),
                window: t.window_field(false),
                mss: None,
                window_scale: None,
                sack_permitted: false,
                sack,
                payload: (0, 0),
            }));
        }
        None
    }

    /// The payload of `seg` (from [`Self::poll_transmit`]) in place, when
    /// the send buffer holds it in one piece.
    pub fn payload(&self, seg: &Outgoing) -> Option<&[u8]> {
        let (offset, len) = seg.payload;
        self.tcb.as_ref()?.send_buf.contiguous(offset, len)
    }

    /// Copies the payload of `seg` (from [`Self::poll_transmit`]) into `out`.
    pub fn write_payload(&self, seg: &Outgoing, out: &mut [u8]) -> usize {
        let Some(t) = self.tcb.as_ref() else {
            return 0;
        };
        let (offset, len) = seg.payload;
        t.send_buf.peek(offset, &mut out[..len])
    }
}

/// What [`Connection::poll_transmit`] yields.
#[derive(Clone, Copy, Debug)]
pub enum Segment {
    /// A segment whose payload (if any) comes from the send buffer.
    Data(Outgoing),
    /// A control segment decided earlier.
    Control(Control),
}

fn seg_cause(inc: &Incoming) -> Cause<'_> {
    Cause {
        segment: Some(inc),
        data: &[],
    }
}

/// RFC 9293 3.10.7.1: the reset that answers a segment.
fn reset_reply(seg: &Incoming) -> Control {
    match seg.ack {
        Some(ack) => Control {
            dst: seg.src,
            seq: ack,
            ack: None,
            flags: Flags::RST,
            window: 0,
        },
        None => Control {
            dst: seg.src,
            seq: SeqNum(0),
            ack: Some(seg.seq + seg.len()),
            flags: Flags::RST,
            window: 0,
        },
    }
}

/// RFC 9293 table 6: whether a segment is in the receive window. With a
/// closed window, a segment at RCV.NXT still counts so its ACK and RST are
/// processed (its data is not).
fn acceptable(t: &Tcb, inc: &Incoming) -> bool {
    let wnd = t.rcv_wnd() as usize;
    let len = inc.len();
    let seq = inc.seq;
    let in_window = |s: SeqNum| t.rcv_nxt.le(s) && s.lt(t.rcv_nxt + wnd);
    match (len, wnd) {
        (0, 0) => seq == t.rcv_nxt,
        (0, _) => in_window(seq),
        (_, 0) => seq == t.rcv_nxt,
        _ => in_window(seq) || in_window(seq + (len - 1)),
    }
}

fn arm_rto(t: &mut Tcb, now: Instant, sample: bool) {
    if t.rto_deadline.is_none() {
        t.rto_deadline = Some(now + t.rtt.rto());
    }
    if sample && t.rtt_probe.is_none() && t.retransmissions == 0 {
        t.rtt_probe = Some((t.snd_nxt, now));
    }
    if t.progress_at.is_none() {
        t.progress_at = Some(now);
    }
}

/// The next data or FIN segment the window allows.
fn next_data(t: &mut Tcb, config: &Config, now: Instant, dst: SocketAddrV4) -> Option<Outgoing> {
    let mss = t.effective_mss(config);
    let buf_seq = t.buf_seq();
    let end_of_data = buf_seq + t.send_buf.len();
    let cwnd = t.cc.cwnd(mss as u32);
    // What the peer's window leaves from SND.NXT.
    let peer_room = (t.snd_una + t.snd_wnd as usize).distance(t.snd_nxt).max(0) as usize;
    let mut beyond_cwnd = 0;
    let (seq, room) = if t.resend_una {
        // Fast retransmit, or a zero-window probe of one byte.
        t.resend_una = false;
        (
            t.snd_una.max(t.data_start()),
            if t.snd_wnd == 0 { 1 } else { mss },
        )
    } else if t.rec.take_probe() {
        // A tail loss probe: new data if the peer's window takes it, else
        // the last segment sent, again.
        match t.rec.last_sent() {
            _ if t.has_unsent() && peer_room > 0 => (t.snd_nxt, mss.min(peer_room)),
            Some((start, end)) => (start, end.distance(start).max(0) as usize),
            None => return None,
        }
    } else if let Some((start, end)) = t.rec.first_lost().filter(|_| match t.rec.prr_quota() {
        Some(quota) => quota > 0,
        None => t.rec.pipe(t.snd_una, t.snd_max) < cwnd,
    }) {
        // A segment marked lost, before new data. The first
        // unacknowledged one sent again restarts the retransmission timer
        // (as Linux does): its ACK is a round trip away, and a timer armed
        // at the last new ACK would expire before it.
        if start.le(t.snd_una) {
            t.rto_deadline = Some(now + t.rtt.rto());
        }
        (start, (end.distance(start).max(0) as usize).min(mss))
    } else {
        // New data: at most min(cwnd, the peer's window) in flight; in
        // recovery, PRR's quota, or cwnd less the pipe while segments
        // marked lost wait; Limited Transmit's allowance beyond that.
        let within_cwnd = match t.rec.prr_quota() {
            Some(0) => 0,
            Some(_) => mss,
            None if t.rec.has_lost() => {
                cwnd.saturating_sub(t.rec.pipe(t.snd_una, t.snd_max)) as usize
            }
            None => {
                let window_end = t.snd_una + cwnd as usize;
                window_end.distance(t.snd_nxt).max(0) as usize
            }
        };
        let room = (within_cwnd + t.rec.limited() as usize)
            .min(peer_room)
            .min(mss);
        beyond_cwnd = room.saturating_sub(within_cwnd) as u32;
        (t.snd_nxt, room)
    };
    let len = (end_of_data.distance(seq).max(0) as usize).min(room);
    // The FIN goes with the last byte of data, or alone once all is sent.
    let fin = t.fin_seq() == Some(seq + len);
    if len == 0 && !fin {
        return None;
    }
    let mut flags = Flags::empty();
    if fin {
        flags.insert(Flags::FIN);
    }
    if len > 0 && seq + len == end_of_data {
        flags.insert(Flags::PSH);
    }
    let end = seq + len + usize::from(fin);
    let fresh = end.gt(t.snd_max);
    if seq == t.snd_nxt {
        t.snd_nxt = end;
    }
    t.snd_max = t.snd_max.max(end);
    if !fresh && t.rtt_probe.is_some_and(|(p, _)| seq.lt(p) && p.le(end)) {
        // Karn: the timed segment went out again.
        t.rtt_probe = None;
    }
    let rto_at = t.rto_deadline.unwrap_or(now + t.rtt.rto());
    t.rec
        .on_sent(seq, end, now, beyond_cwnd.min(len as u32), rto_at);
    arm_rto(t, now, fresh);
    let sack = t.take_sack();
    t.acked_now();
    t.rcv_adv = t.rcv_nxt + t.offered_wnd() as usize;
    let mut ack = t.rcv_nxt;
    if len > 0 && crate::testing::planted(crate::testing::Plant::AckOneTooFar) {
        ack += 1;
    }
    Some(Outgoing {
        dst,
        seq,
        ack: Some(ack),
        flags,
        window: t.window_field(false),
        mss: None,
        window_scale: None,
        sack_permitted: false,
        sack,
        payload: (seq.distance(buf_seq).max(0) as usize, len),
    })
}

#[cfg(test)]
mod tests {
    //! One connection, segment by segment, in virtual time: the peer's
    //! segments in (built with [`seg`]), ours out (from `poll_transmit`,
    //! compared field by field), the deadline out and the machine's state.
    //! Grouped by the state a segment arrives in, as RFC 9293 3.10.7 is.

    use std::net::Ipv4Addr;

    use super::*;
    use crate::tcp::Spec;
    // WIN: our receive buffer (the window we offer), and the peer's window.
    use crate::wire::test_seg::{IRS, MSS, NXT, Seg, WIN, config, ms, secs, seg};

    /// tcp.fsm without `ESTABLISHED -> CLOSE_WAIT on rcv_fin`.
    mod no_fin {
        crate::machine!("tests/specs/no_fin_in_established.fsm");
    }

    /// tcp.fsm without a `linger_timeout` transition.
    mod no_linger {
        crate::machine!("tests/specs/no_linger.fsm");
    }

    mod congestion;
    mod recovery;
    mod sack;

    const LOCAL: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 1), 80);
    const REMOTE: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 0, 0, 2), 49152);
    const KEY: [u8; 16] = *b"conn.rs test key";

    /// Our SYN: `<SEQ=ISS><CTL=SYN>` with our MSS.
    fn syn(iss: SeqNum) -> Seg {
        seg(iss).syn().mss(MSS)
    }

    /// A reset as we send it: `<SEQ=seq><CTL=RST>`, window 0.
    fn rst(seq: SeqNum) -> Seg {
        seg(seq).rst().win(0)
    }

    /// A connection to [`REMOTE`] and its virtual clock.
    struct TestConn<M: Machine + Default = Spec> {
        conn: Connection<M>,
        isn: IsnGenerator,
        /// The host's epoch: time zero.
        base: Instant,
        now: Instant,
        /// Our ISS, once our SYN (or SYN-ACK) went out.
        iss: SeqNum,
    }

    impl<M: Machine + Default> TestConn<M> {
        fn new(config: Config) -> Self {
            let base = Instant::now();
            TestConn {
                conn: Connection::new(M::default(), LOCAL, Arc::new(config)),
                isn: IsnGenerator::new(KEY),
                base,
                now: base,
                iss: SeqNum(0),
            }
        }

        fn with_env<R>(&mut self, f: impl FnOnce(&mut Connection<M>, &Env<'_>) -> R) -> R {
            let env = Env {
                now: self.now,
                epoch: self.base,
                isn: &self.isn,
            };
            f(&mut self.conn, &env)
        }

        fn state(&self) -> &'static str {
            self.conn.machine.state_name(self.conn.state())
        }

        fn deadline(&self) -> Option<Instant> {
            self.conn.deadline()
        }

        /// The peer's segment arrives.
        fn segment(&mut self, s: Seg) {
            let repr = s.repr(REMOTE.port(), LOCAL.port());
            self.with_env(|c, env| c.on_segment(env, REMOTE, &repr));
        }

        /// Our next segment, if any.
        fn output(&mut self) -> Option<Seg> {
            Some(match self.conn.poll_transmit(self.now)? {
                Segment::Data(o) => {
                    assert_eq!(o.dst, REMOTE);
                    let mut payload = vec![0; o.payload.1];
                    assert_eq!(self.conn.write_payload(&o, &mut payload), payload.len());
                    Seg {
                        seq: o.seq,
                        ack: o.ack,
                        flags: o.flags,
                        window: o.window,
                        mss: o.mss,
                        window_scale: o.window_scale,
                        sack_permitted: o.sack_permitted,
                        sack: o.sack,
                        payload,
                    }
                }
                Segment::Control(c) => {
                    assert_eq!(c.dst, REMOTE);
                    Seg {
                        seq: c.seq,
                        ack: c.ack,
                        flags: c.flags,
                        window: c.window,
                        mss: None,
                        window_scale: None,
                        sack_permitted: false,
                        sack: SackBlocks::EMPTY,
                        payload: Vec::new(),
                    }
                }
            })
        }

        /// Every segment we have to send now.
        /// (sequence number relative to ISS, payload length) of each
        /// segment out.
        fn sent(&mut self) -> Vec<(i32, usize)> {
            let iss = self.iss;
            self.outputs()
                .iter()
                .map(|s| (s.seq.distance(iss), s.payload.len()))
                .collect()
        }

        fn outputs(&mut self) -> Vec<Seg> {
            std::iter::from_fn(|| self.output()).collect()
        }

        fn elapse(&mut self, d: Duration) {
            self.now += d;
        }

        /// Moves the clock to the deadline and runs the timers; returns it.
        fn fire_deadline(&mut self) -> Instant {
            let at = self.deadline().expect("a deadline is armed");
            assert!(at >= self.now, "the deadline is not in the past");
            self.now = at;
            self.with_env(|c, env| c.on_timeout(env));
            at
        }

        fn send(&mut self, data: &[u8]) -> usize {
            self.with_env(|c, env| c.send(env, data))
                .expect("SEND is allowed")
        }

        fn close(&mut self) {
            self.with_env(|c, env| c.close(env))
                .expect("CLOSE is allowed");
        }

        /// Reads what is readable.
        fn read_all(&mut self) -> Vec<u8> {
            let mut out = vec![0; 4096];
            let n = self.conn.recv(&mut out);
            out.truncate(n);
            out
        }

        /// The ISN RFC 6528 gives our end now.
        fn isn_now(&self) -> SeqNum {
            self.isn.isn(self.now - self.base, LOCAL, REMOTE)
        }

        // -- the typical paths, each step checked ----------------------------

        /// CLOSED -> LISTEN.
        fn listen(mut self) -> Self {
            self.with_env(|c, env| c.open_passive(env, None))
                .expect("passive OPEN");
            assert_eq!(self.state(), "LISTEN");
            assert_eq!(self.outputs(), []);
            assert_eq!(self.deadline(), None);
            self
        }

        /// CLOSED -> SYN_SENT: our SYN.
        fn connect(mut self) -> Self {
            self.with_env(|c, env| c.open_active(env, REMOTE, None))
                .expect("active OPEN");
            self.iss = self.isn_now();
            assert_eq!(self.outputs(), [syn(self.iss)]);
            assert_eq!(self.state(), "SYN_SENT");
            self
        }

        /// LISTEN -> SYN_RCVD: the peer's SYN, our SYN-ACK.
        fn take_syn(mut self) -> Self {
            self.segment(seg(IRS).syn().mss(MSS));
            self.iss = self.isn_now();
            assert_eq!(self.outputs(), [syn(self.iss).ack(NXT)]);
            assert_eq!(self.state(), "SYN_RCVD");
            self
        }

        /// SYN_SENT -> ESTABLISHED: the peer's SYN-ACK, our ACK.
        fn establish(mut self) -> Self {
            let iss = self.iss;
            self.segment(seg(IRS).syn().ack(iss + 1).mss(MSS));
            assert_eq!(self.outputs(), [seg(iss + 1).ack(NXT)]);
            assert_eq!(self.state(), "ESTABLISHED");
            self
        }

        /// ESTABLISHED -> FIN_WAIT_1: our FIN.
        fn shutdown(mut self) -> Self {
            let iss = self.iss;
            self.close();
            assert_eq!(self.outputs(), [seg(iss + 1).ack(NXT).fin()]);
            assert_eq!(self.state(), "FIN_WAIT_1");
            self
        }

        /// FIN_WAIT_1 -> FIN_WAIT_2: the ACK of our FIN.
        fn fin_acked(mut self) -> Self {
            let iss = self.iss;
            self.segment(seg(NXT).ack(iss + 2));
            assert_eq!(self.outputs(), []);
            assert_eq!(self.state(), "FIN_WAIT_2");
            self
        }
    }

    fn closed() -> TestConn {
        TestConn::new(config())
    }

    fn listen() -> TestConn {
        closed().listen()
    }

    fn syn_sent() -> TestConn {
        closed().connect()
    }

    fn syn_received() -> TestConn {
        listen().take_syn()
    }

    fn established() -> TestConn {
        syn_sent().establish()
    }

    fn fin_wait_1() -> TestConn {
        established().shutdown()
    }

    fn fin_wait_2() -> TestConn {
        fin_wait_1().fin_acked()
    }

    fn closing() -> TestConn {
        let mut t = fin_wait_1();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "CLOSING");
        t
    }

    fn time_wait() -> TestConn {
        let mut t = fin_wait_2();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 2).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "TIME_WAIT");
        t
    }

    fn close_wait() -> TestConn {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).fin());
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 1)]);
        assert_eq!(t.state(), "CLOSE_WAIT");
        t
    }

    fn last_ack() -> TestConn {
        let mut t = close_wait();
        let iss = t.iss;
        t.close();
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 1).fin()]);
        assert_eq!(t.state(), "LAST_ACK");
        t
    }

    // =========================================================================
    // CLOSED: no TCB (RFC 9293 3.10.7.1)
    // =========================================================================

    #[test]
    fn closed_rst_dropped() {
        let mut t = closed();
        t.segment(seg(SeqNum(5000)).rst());
        t.segment(seg(SeqNum(5000)).rst().ack(SeqNum(77)));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
    }

    #[test]
    fn closed_ack_gets_rst_at_seg_ack() {
        let mut t = closed();
        t.segment(seg(SeqNum(5000)).ack(SeqNum(77)).data(b"abc"));
        assert_eq!(t.outputs(), [rst(SeqNum(77))]);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn closed_no_ack_gets_rst_ack_past_segment() {
        let mut t = closed();
        t.segment(seg(SeqNum(5000)).syn());
        assert_eq!(t.outputs(), [rst(SeqNum(0)).ack(SeqNum(5001))]);
        // SEG.LEN counts the data and the FIN.
        t.segment(seg(SeqNum(6000)).data(b"abc").fin());
        assert_eq!(t.outputs(), [rst(SeqNum(0)).ack(SeqNum(6004))]);
        assert_eq!(t.state(), "CLOSED");
    }

    #[test]
    fn closed_after_reset_answers_with_rst() {
        let mut t = established();
        t.segment(seg(NXT).rst());
        assert_eq!(t.state(), "CLOSED");
        t.segment(seg(NXT).ack(SeqNum(123)));
        assert_eq!(t.outputs(), [rst(SeqNum(123))]);
    }

    // =========================================================================
    // LISTEN (3.10.7.2)
    // =========================================================================

    #[test]
    fn listen_rst_ignored() {
        let mut t = listen();
        t.segment(seg(IRS).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "LISTEN");
        assert!(!t.conn.has_peer());
    }

    #[test]
    fn listen_ack_gets_rst() {
        let mut t = listen();
        t.segment(seg(IRS).ack(SeqNum(4242)));
        assert_eq!(t.outputs(), [rst(SeqNum(4242))]);
        assert_eq!(t.state(), "LISTEN");
        assert!(!t.conn.has_peer());
    }

    #[test]
    fn listen_syn_gets_syn_ack() {
        let t = listen();
        let start = t.now;
        let mut t = t.take_syn();
        assert!(t.conn.has_peer());
        assert!(!t.conn.is_open());
        // The SYN-ACK is retransmitted after the initial RTO.
        assert_eq!(t.deadline(), Some(start + secs(1)));
        assert_eq!(t.outputs(), []);
    }

    #[test]
    fn listen_segment_without_syn_dropped() {
        let mut t = listen();
        t.segment(seg(IRS).data(b"abc").fin());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "LISTEN");
        assert!(!t.conn.has_peer());
    }

    // =========================================================================
    // SYN_SENT (3.10.7.3)
    // =========================================================================

    #[test]
    fn syn_sent_syn_retransmitted_with_back_off() {
        let mut t = syn_sent();
        let (start, iss) = (t.now, t.iss);
        assert_eq!(t.fire_deadline(), start + secs(1));
        assert_eq!(t.outputs(), [syn(iss)]);
        assert_eq!(t.fire_deadline(), start + secs(3));
        assert_eq!(t.outputs(), [syn(iss)]);
        assert_eq!(t.deadline(), Some(start + secs(7)));
        assert_eq!(t.state(), "SYN_SENT");
    }

    #[test]
    fn syn_sent_bad_ack_gets_rst() {
        let mut t = syn_sent();
        let iss = t.iss;
        // SEG.ACK =< ISS
        t.segment(seg(IRS).ack(iss));
        assert_eq!(t.outputs(), [rst(iss)]);
        // SEG.ACK > SND.NXT
        t.segment(seg(IRS).syn().ack(iss + 2));
        assert_eq!(t.outputs(), [rst(iss + 2)]);
        assert_eq!(t.state(), "SYN_SENT");
        assert!(!t.conn.has_peer());
    }

    #[test]
    fn syn_sent_bad_ack_with_rst_dropped() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(IRS).rst().ack(iss + 2));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "SYN_SENT");
        assert_eq!(t.conn.error(), None);
    }

    #[test]
    fn syn_sent_rst_with_acceptable_ack_refused() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(SeqNum(0)).rst().ack(iss + 1));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), Some(ConnError::Refused));
        assert_eq!(t.deadline(), None);
        assert!(t.conn.is_finished());
    }

    #[test]
    fn syn_sent_rst_without_ack_dropped() {
        let mut t = syn_sent();
        let start = t.now;
        t.segment(seg(IRS).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "SYN_SENT");
        assert_eq!(t.conn.error(), None);
        assert_eq!(t.deadline(), Some(start + secs(1)));
    }

    #[test]
    fn syn_sent_syn_ack() {
        let mut t = syn_sent().establish();
        assert!(t.conn.is_open());
        assert_eq!(t.deadline(), None, "nothing in flight");
        assert_eq!(t.outputs(), []);
    }

    #[test]
    fn syn_sent_syn_ack_with_data() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(IRS).syn().ack(iss + 1).mss(MSS).data(b"hi"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 2).win(WIN - 2)]);
        assert_eq!(t.state(), "ESTABLISHED");
        assert_eq!(t.read_all(), b"hi");
    }

    #[test]
    fn syn_sent_syn_simultaneous_open() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(IRS).syn().mss(MSS));
        assert_eq!(t.outputs(), [syn(iss).ack(NXT)]);
        assert_eq!(t.state(), "SYN_RCVD");
        assert!(!t.conn.is_open());
        // The peer's SYN-ACK (RFC 9293 figure 8, line 6).
        t.segment(seg(IRS).syn().ack(iss + 1).mss(MSS));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "ESTABLISHED");
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn syn_sent_fin_dropped() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(IRS).ack(iss + 1).fin());
        t.segment(seg(IRS).fin());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "SYN_SENT");
        assert!(!t.conn.at_eof());
    }

    #[test]
    fn syn_sent_ack_without_syn_dropped() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(IRS).ack(iss + 1).data(b"abc"));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "SYN_SENT");
        assert!(!t.conn.has_peer());
    }

    #[test]
    fn syn_sent_gives_up_after_max_retransmissions() {
        let mut t = TestConn::<Spec>::new(Config {
            max_retransmissions: 2,
            ..config()
        })
        .connect();
        let (start, iss) = (t.now, t.iss);
        for _ in 0..2 {
            t.fire_deadline();
            assert_eq!(t.outputs(), [syn(iss)]);
        }
        assert_eq!(t.fire_deadline(), start + secs(7));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), Some(ConnError::TimedOut));
        assert_eq!(t.deadline(), None);
    }

    // =========================================================================
    // SYN_RCVD (3.10.7.4)
    // =========================================================================

    #[test]
    fn syn_received_ack() {
        let mut t = syn_received();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "ESTABLISHED");
        assert!(t.conn.is_open());
        assert_eq!(t.deadline(), None, "the SYN-ACK is no longer retransmitted");
    }

    #[test]
    fn syn_received_ack_takes_the_window() {
        let mut t = syn_received();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).win(300));
        assert_eq!(t.state(), "ESTABLISHED");
        t.send(&[b'a'; 1000]);
        let sent: usize = t.outputs().iter().map(|s| s.payload.len()).sum();
        assert_eq!(sent, 300);
    }

    #[test]
    fn syn_received_bad_ack_gets_rst() {
        let mut t = syn_received();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss));
        assert_eq!(t.outputs(), [rst(iss)]);
        t.segment(seg(NXT).ack(iss + 5));
        assert_eq!(t.outputs(), [rst(iss + 5)]);
        assert_eq!(t.state(), "SYN_RCVD");
        assert!(!t.conn.is_open());
    }

    #[test]
    fn syn_received_no_ack_dropped() {
        let mut t = syn_received();
        t.segment(seg(NXT).data(b"abc"));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "SYN_RCVD");
        assert_eq!(t.conn.readable(), 0);
    }

    #[test]
    fn syn_received_syn_ack_retransmitted() {
        let mut t = syn_received();
        let (start, iss) = (t.now, t.iss);
        assert_eq!(t.fire_deadline(), start + secs(1));
        assert_eq!(t.outputs(), [syn(iss).ack(NXT)]);
        assert_eq!(t.deadline(), Some(start + secs(3)));
    }

    #[test]
    fn syn_received_rst_passive_back_to_listen() {
        let mut t = syn_received();
        t.segment(seg(NXT).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "LISTEN");
        assert!(!t.conn.has_peer());
        assert_eq!(t.conn.remote(), None);
        assert_eq!(t.conn.error(), None);
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn syn_received_rst_active_refused() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.segment(seg(IRS).syn());
        assert_eq!(t.outputs(), [syn(iss).ack(NXT)]);
        t.segment(seg(NXT).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), Some(ConnError::Refused));
    }

    #[test]
    fn syn_received_fin_with_ack() {
        let mut t = syn_received();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"abc").fin());
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 4).win(WIN - 3)]);
        assert_eq!(t.state(), "CLOSE_WAIT");
        assert_eq!(t.read_all(), b"abc");
        assert!(t.conn.at_eof());
    }

    // =========================================================================
    // ESTABLISHED: acceptability (3.10.7.4, first step, table 6)
    // =========================================================================

    #[test]
    fn established_table6_zero_length_open_window() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"x");
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).psh().data(b"x")]);
        // Before RCV.NXT, and at RCV.NXT+RCV.WND: unacceptable, so an ACK
        // goes back and the segment's ACK is not taken in.
        for seq in [NXT - 1, NXT + 1000] {
            t.segment(seg(seq).ack(iss + 2));
            assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT)], "SEG.SEQ={seq}");
            assert!(!t.conn.all_acked());
        }
        // The last sequence number of the window: acceptable.
        t.segment(seg(NXT + 999).ack(iss + 2));
        assert_eq!(t.outputs(), []);
        assert!(t.conn.all_acked());
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn established_table6_zero_length_zero_window() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"x");
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).psh().data(b"x")]);
        t.segment(seg(NXT).ack(iss + 1).data(&[7; 1000]));
        let nxt = NXT + 1000;
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt).win(0)]);
        // RCV.WND = 0: only SEG.SEQ = RCV.NXT is acceptable.
        t.segment(seg(nxt + 1).ack(iss + 2));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt).win(0)]);
        assert!(!t.conn.all_acked());
        t.segment(seg(nxt).ack(iss + 2));
        assert_eq!(t.outputs(), []);
        assert!(t.conn.all_acked());
    }

    #[test]
    fn established_table6_data_zero_window() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"x");
        assert_eq!(t.outputs().len(), 1);
        t.segment(seg(NXT).ack(iss + 1).data(&[7; 1000]));
        let nxt = NXT + 1000;
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt).win(0)]);
        // RCV.WND = 0: no data is acceptable; an ACK goes back. The ACK
        // field of a segment at RCV.NXT is still taken in (the RFC's
        // "special allowance").
        t.segment(seg(nxt + 1).ack(iss + 1).data(b"y"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt).win(0)]);
        t.segment(seg(nxt).ack(iss + 2).data(b"y"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt).win(0)]);
        assert!(t.conn.all_acked());
        assert_eq!(t.conn.readable(), 1000);
        // Reading opens the window: a window update, then the byte fits.
        assert_eq!(t.read_all(), [7; 1000]);
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt)]);
        t.segment(seg(nxt).ack(iss + 2).data(b"y"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(nxt + 1).win(WIN - 1)]);
    }

    #[test]
    fn established_table6_data_open_window() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"x");
        assert_eq!(t.outputs().len(), 1);
        t.segment(seg(NXT).ack(iss + 1).data(b"0123456789"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 10).win(990)]);
        // Entirely before RCV.NXT: unacceptable, its ACK not taken in.
        t.segment(seg(NXT).ack(iss + 2).data(b"0123456789"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 10).win(990)]);
        assert!(!t.conn.all_acked());
        // Starting before RCV.NXT, ending in the window: the new part is
        // taken in.
        t.segment(seg(NXT + 5).ack(iss + 1).data(b"56789abcde"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 15).win(985)]);
        // At RCV.NXT+RCV.WND: unacceptable.
        t.segment(seg(NXT + 1000).ack(iss + 2).data(b"z"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 15).win(985)]);
        assert!(!t.conn.all_acked());
        // Starting in the window, running past it: acceptable, out of
        // order; what fits is kept.
        t.segment(seg(NXT + 995).ack(iss + 2).data(b"ABCDEFGHIJ"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 15).win(985)]);
        assert!(t.conn.all_acked());
        t.segment(seg(NXT + 15).ack(iss + 2).data(&[b'.'; 980]));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1000).win(0)]);
        let got = t.read_all();
        assert_eq!(&got[..15], b"0123456789abcde");
        assert_eq!(&got[995..], b"ABCDE");
    }

    // =========================================================================
    // ESTABLISHED: RST and SYN (3.10.7.4 second and fourth steps, RFC 5961)
    // =========================================================================

    #[test]
    fn established_rst_at_rcv_nxt_resets() {
        let mut t = established();
        t.send(b"queued");
        t.segment(seg(NXT).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), Some(ConnError::Reset));
        assert_eq!(t.deadline(), None);
        assert!(t.conn.is_finished());
    }

    #[test]
    fn established_rst_in_window_gets_challenge_ack() {
        let mut t = established();
        let iss = t.iss;
        for seq in [NXT + 1, NXT + 999] {
            t.segment(seg(seq).rst());
            assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)], "SEG.SEQ={seq}");
        }
        assert_eq!(t.state(), "ESTABLISHED");
        assert_eq!(t.conn.error(), None);
    }

    #[test]
    fn established_rst_out_of_window_dropped() {
        let mut t = established();
        for seq in [NXT - 1, NXT + 1000] {
            t.segment(seg(seq).rst());
        }
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "ESTABLISHED");
    }

    #[test]
    fn established_syn_gets_challenge_ack() {
        let mut t = established();
        let iss = t.iss;
        for seq in [NXT, NXT + 500] {
            t.segment(seg(seq).syn());
            assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)], "SEG.SEQ={seq}");
        }
        t.segment(seg(NXT).syn().ack(iss + 1));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)]);
        assert_eq!(t.state(), "ESTABLISHED");
    }

    #[test]
    fn established_challenge_acks_rate_limited() {
        let mut t = TestConn::<Spec>::new(Config {
            challenge_ack_limit: 2,
            ..config()
        })
        .connect()
        .establish();
        let (start, iss) = (t.now, t.iss);
        let challenge = seg(iss + 1).ack(NXT);
        for _ in 0..3 {
            t.segment(seg(NXT + 1).rst());
        }
        assert_eq!(t.outputs(), [challenge.clone(), challenge.clone()]);
        // SYNs draw on the same allowance.
        t.segment(seg(NXT).syn());
        t.now = start + ms(999);
        t.segment(seg(NXT + 1).rst());
        assert_eq!(t.outputs(), []);
        // A new second.
        t.now = start + secs(1);
        t.segment(seg(NXT + 1).rst());
        t.segment(seg(NXT).syn());
        assert_eq!(t.outputs(), [challenge.clone(), challenge]);
        t.segment(seg(NXT + 1).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "ESTABLISHED");
    }

    // =========================================================================
    // ESTABLISHED: the ACK (3.10.7.4, fifth step; RFC 5961 5.2)
    // =========================================================================

    #[test]
    fn established_no_ack_dropped() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).data(b"abc"));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.conn.readable(), 0);
        // RCV.NXT did not move: the same bytes with an ACK are new.
        t.segment(seg(NXT).ack(iss + 1).data(b"abc"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 3).win(WIN - 3)]);
    }

    #[test]
    fn established_ack_of_unsent_data_gets_ack() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"x");
        assert_eq!(t.outputs().len(), 1);
        t.segment(seg(NXT).ack(iss + 3).data(b"abc"));
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT)]);
        assert_eq!(t.conn.readable(), 0, "the segment is dropped");
        assert!(!t.conn.all_acked());
        assert_eq!(t.state(), "ESTABLISHED");
    }

    #[test]
    fn established_ack_older_than_largest_window_gets_ack() {
        let mut t = established();
        let iss = t.iss;
        // SND.UNA - MAX.SND.WND = ISS+1 - 1000.
        t.segment(seg(NXT).ack(iss + 1 - 1001).data(b"abc"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)]);
        assert_eq!(t.conn.readable(), 0);
        t.segment(seg(NXT).ack(iss + 1 - 1000).data(b"abc"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 3).win(WIN - 3)]);
        assert_eq!(t.conn.readable(), 3);
    }

    #[test]
    fn established_ack_advances_snd_una() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"hello");
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).psh().data(b"hello")]);
        assert!(t.deadline().is_some());
        t.segment(seg(NXT).ack(iss + 3));
        assert!(!t.conn.all_acked());
        assert!(t.deadline().is_some());
        t.segment(seg(NXT).ack(iss + 6));
        assert!(t.conn.all_acked());
        assert_eq!(t.deadline(), None);
        assert_eq!(t.outputs(), []);
    }

    #[test]
    fn established_duplicate_ack_ignored_text_taken() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"hello");
        assert_eq!(t.outputs().len(), 1);
        t.segment(seg(NXT).ack(iss + 6));
        assert!(t.conn.all_acked());
        // SEG.ACK < SND.UNA: the ACK is ignored, the text is not.
        t.segment(seg(NXT).ack(iss + 1).data(b"abc"));
        assert_eq!(t.outputs(), [seg(iss + 6).ack(NXT + 3).win(WIN - 3)]);
        assert!(t.conn.all_acked());
        assert_eq!(t.deadline(), None, "nothing is retransmitted");
        assert_eq!(t.read_all(), b"abc");
    }

    #[test]
    fn established_three_duplicate_acks_fast_retransmit() {
        let mut t = established();
        let iss = t.iss;
        let data: Vec<u8> = (0..250u8).collect();
        t.send(&data);
        assert_eq!(t.outputs().len(), 3);
        t.segment(seg(NXT).ack(iss + 101));
        for i in 0..3 {
            assert_eq!(t.outputs(), [], "before duplicate ACK {}", i + 1);
            t.segment(seg(NXT).ack(iss + 101));
        }
        assert_eq!(t.outputs(), [seg(iss + 101).ack(NXT).data(&data[100..200])]);
    }

    #[test]
    fn established_data_retransmitted_at_rto() {
        let mut t = established();
        let (iss, sent) = (t.iss, t.now);
        t.send(b"hello");
        let hello = || seg(iss + 1).ack(NXT).psh().data(b"hello");
        assert_eq!(t.outputs(), [hello()]);
        assert_eq!(t.deadline(), Some(sent + secs(1)));
        t.fire_deadline();
        assert_eq!(t.outputs(), [hello()]);
        assert_eq!(t.deadline(), Some(sent + secs(3)), "backed off");
    }

    // -- the send window (SND.WL1, SND.WL2) --------------------------------------

    #[test]
    fn established_window_update_same_seq_same_ack() {
        let mut t = established();
        let iss = t.iss;
        // SND.WL1 < SEG.SEQ: the window closes.
        t.segment(seg(NXT).ack(iss + 1).win(0));
        t.send(b"abc");
        assert_eq!(t.outputs(), []);
        // SND.WL1 = SEG.SEQ and SND.WL2 =< SEG.ACK: it opens to 2.
        t.segment(seg(NXT).ack(iss + 1).win(2));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).data(b"ab")]);
    }

    #[test]
    fn established_window_not_updated_by_older_seq() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"0123456789"));
        assert_eq!(t.outputs().len(), 1);
        // SND.WL1 = RCV.NXT now, the window 200.
        t.segment(seg(NXT + 10).ack(iss + 1).win(200));
        // Earlier data again with more: SEG.SEQ < SND.WL1, its window is
        // not taken.
        t.segment(seg(NXT).ack(iss + 1).win(900).data(&[b'a'; 20]));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 20).win(980)]);
        t.send(&[b'z'; 1000]);
        let sent: usize = t.outputs().iter().map(|s| s.payload.len()).sum();
        assert_eq!(sent, 200);
    }

    #[test]
    fn established_window_not_updated_by_older_ack() {
        let mut t = established();
        let iss = t.iss;
        t.send(&[b'a'; 300]);
        assert_eq!(t.outputs().len(), 3);
        t.segment(seg(NXT).ack(iss + 201).win(100));
        // SEG.ACK < SND.UNA (a reordered ACK): its window is not taken.
        t.segment(seg(NXT).ack(iss + 101).win(1000));
        t.send(&[b'b'; 500]);
        assert_eq!(t.outputs(), [], "the window (100) is full");
        t.segment(seg(NXT).ack(iss + 301).win(100));
        let sent: usize = t.outputs().iter().map(|s| s.payload.len()).sum();
        assert_eq!(sent, 100);
    }

    // =========================================================================
    // ESTABLISHED: the text (3.10.7.4, seventh step)
    // =========================================================================

    #[test]
    fn established_text_taken_in_and_acknowledged() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"hello"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 5).win(WIN - 5)]);
        assert_eq!(t.conn.readable(), 5);
        assert_eq!(t.read_all(), b"hello");
        assert!(!t.conn.at_eof());
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn established_out_of_order_reassembled() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT + 5).ack(iss + 1).data(b"world"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)]);
        assert_eq!(t.conn.readable(), 0);
        t.segment(seg(NXT + 10).ack(iss + 1).data(b"!"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)]);
        t.segment(seg(NXT).ack(iss + 1).data(b"hello"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 11).win(WIN - 11)]);
        assert_eq!(t.read_all(), b"helloworld!");
    }

    // =========================================================================
    // ESTABLISHED: the FIN (3.10.7.4, eighth step)
    // =========================================================================

    #[test]
    fn established_fin() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"bye").fin());
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 4).win(WIN - 3)]);
        assert_eq!(t.state(), "CLOSE_WAIT");
        assert!(!t.conn.at_eof(), "three bytes to read first");
        assert_eq!(t.read_all(), b"bye");
        assert!(t.conn.at_eof());
        assert_eq!(t.deadline(), None);
    }

    #[test]
    fn established_fin_out_of_order_taken_once_the_gap_fills() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT + 3).ack(iss + 1).data(b"def").fin());
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT)]);
        assert_eq!(t.state(), "ESTABLISHED");
        assert!(!t.conn.at_eof());
        t.segment(seg(NXT).ack(iss + 1).data(b"abc"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 7).win(WIN - 6)]);
        assert_eq!(t.state(), "CLOSE_WAIT");
        assert_eq!(t.read_all(), b"abcdef");
        assert!(t.conn.at_eof());
    }

    // =========================================================================
    // FIN_WAIT_1
    // =========================================================================

    #[test]
    fn fin_wait_1_ack_of_fin() {
        let mut t = fin_wait_1();
        t.elapse(ms(10));
        let acked = t.now;
        let mut t = t.fin_acked();
        assert!(t.conn.all_acked());
        // Only the linger timer runs now.
        assert_eq!(t.deadline(), Some(acked + config().linger));
        assert_eq!(t.outputs(), []);
    }

    #[test]
    fn fin_wait_1_ack_of_data_only() {
        let mut t = established();
        let iss = t.iss;
        t.send(b"hello");
        t.close();
        // The FIN rides on the last data.
        let last = seg(iss + 1).ack(NXT).psh().fin().data(b"hello");
        assert_eq!(t.outputs(), [last]);
        assert_eq!(t.state(), "FIN_WAIT_1");
        t.segment(seg(NXT).ack(iss + 6));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "FIN_WAIT_1", "the FIN is not acknowledged");
        assert!(t.deadline().is_some());
        t.segment(seg(NXT).ack(iss + 7));
        assert_eq!(t.state(), "FIN_WAIT_2");
    }

    #[test]
    fn fin_wait_1_send_refused() {
        let mut t = fin_wait_1();
        let refused = t.with_env(|c, env| c.send(env, b"late"));
        assert_eq!(
            refused,
            Err(CallRefused {
                event: Event::Send,
                state: "FIN_WAIT_1".into(),
            })
        );
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "FIN_WAIT_1");
    }

    #[test]
    fn fin_wait_1_fin_retransmitted() {
        let mut t = fin_wait_1();
        let (iss, start) = (t.iss, t.now);
        assert_eq!(t.fire_deadline(), start + secs(1));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).fin()]);
        assert_eq!(t.state(), "FIN_WAIT_1");
    }

    #[test]
    fn fin_wait_1_fin() {
        let mut t = closing();
        // Our FIN is still to be acknowledged.
        assert!(!t.conn.all_acked());
        assert!(t.conn.at_eof());
        assert!(t.deadline().is_some());
        assert_eq!(t.outputs(), []);
    }

    #[test]
    fn fin_wait_1_fin_ack() {
        let mut t = fin_wait_1();
        let iss = t.iss;
        t.elapse(ms(10));
        t.segment(seg(NXT).ack(iss + 2).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "TIME_WAIT");
        assert_eq!(t.deadline(), Some(t.now + config().time_wait()));
    }

    // =========================================================================
    // FIN_WAIT_2
    // =========================================================================

    #[test]
    fn fin_wait_2_fin() {
        let mut t = fin_wait_2();
        let iss = t.iss;
        t.elapse(secs(2));
        t.segment(seg(NXT).ack(iss + 2).data(b"last").fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 5).win(WIN - 4)]);
        assert_eq!(t.state(), "TIME_WAIT");
        assert_eq!(t.deadline(), Some(t.now + config().time_wait()));
        assert_eq!(t.read_all(), b"last");
        assert!(t.conn.at_eof());
    }

    #[test]
    fn fin_wait_2_linger_timeout() {
        let linger = secs(5);
        let mut t = TestConn::<Spec>::new(Config { linger, ..config() })
            .connect()
            .establish()
            .shutdown();
        t.elapse(ms(10));
        let acked = t.now;
        let mut t = t.fin_acked();
        assert_eq!(t.deadline(), Some(acked + linger));
        assert_eq!(t.fire_deadline(), acked + linger);
        // tcp.fsm: FIN_WAIT_2 -> CLOSED on linger_timeout / flush,
        // report_timeout, delete_tcb.
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), Some(ConnError::TimedOut));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.deadline(), None);
        assert!(t.conn.is_finished());
    }

    #[test]
    fn fin_wait_2_no_linger_timer_without_its_transition() {
        let linger = secs(5);
        let mut t = TestConn::<no_linger::Spec>::new(Config { linger, ..config() })
            .connect()
            .establish()
            .shutdown()
            .fin_acked();
        let iss = t.iss;
        assert_eq!(t.deadline(), None);
        // Waiting longer than `linger` changes nothing; the peer's FIN
        // still closes the connection.
        t.elapse(linger * 10);
        t.with_env(|c, env| c.on_timeout(env));
        assert_eq!(t.state(), "FIN_WAIT_2");
        t.segment(seg(NXT).ack(iss + 2).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "TIME_WAIT");
    }

    // =========================================================================
    // CLOSING
    // =========================================================================

    #[test]
    fn closing_ack() {
        let mut t = closing();
        let iss = t.iss;
        t.elapse(ms(10));
        t.segment(seg(NXT + 1).ack(iss + 2));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "TIME_WAIT");
        assert_eq!(t.deadline(), Some(t.now + config().time_wait()));
    }

    #[test]
    fn closing_fin_again_acknowledged() {
        let mut t = closing();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "CLOSING");
    }

    // =========================================================================
    // CLOSE_WAIT and LAST_ACK
    // =========================================================================

    #[test]
    fn close_wait_fin_again_acknowledged() {
        let mut t = close_wait();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).fin());
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 1)]);
        assert_eq!(t.state(), "CLOSE_WAIT");
    }

    #[test]
    fn close_wait_send_still_allowed() {
        let mut t = close_wait();
        let iss = t.iss;
        assert_eq!(t.send(b"reply"), 5);
        assert_eq!(
            t.outputs(),
            [seg(iss + 1).ack(NXT + 1).psh().data(b"reply")]
        );
    }

    #[test]
    fn last_ack_ack() {
        let mut t = last_ack();
        let iss = t.iss;
        assert!(t.deadline().is_some(), "the FIN is retransmitted");
        t.segment(seg(NXT + 1).ack(iss + 2));
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), None);
        assert_eq!(t.deadline(), None);
        assert!(t.conn.is_finished());
    }

    #[test]
    fn last_ack_fin_again_acknowledged() {
        let mut t = last_ack();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "LAST_ACK");
    }

    // =========================================================================
    // TIME_WAIT
    // =========================================================================

    #[test]
    fn time_wait_fin_restarts_2msl() {
        let mut t = time_wait();
        let iss = t.iss;
        let first = t.deadline().expect("2MSL runs");
        t.elapse(secs(100));
        t.segment(seg(NXT).ack(iss + 2).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 1)]);
        assert_eq!(t.state(), "TIME_WAIT");
        assert_eq!(t.deadline(), Some(first + secs(100)));
    }

    #[test]
    fn time_wait_timeout() {
        let mut t = time_wait();
        let entered = t.now;
        assert_eq!(t.fire_deadline(), entered + config().time_wait());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.conn.error(), None);
        assert_eq!(t.deadline(), None);
        assert!(t.conn.is_finished());
        assert!(t.conn.at_eof());
    }

    #[test]
    fn time_wait_rst_closes() {
        let mut t = time_wait();
        t.segment(seg(NXT + 1).rst());
        assert_eq!(t.outputs(), []);
        assert_eq!(t.state(), "CLOSED");
        assert_eq!(t.deadline(), None);
    }

    // =========================================================================
    // The spec decides: an event with no transition changes nothing
    // =========================================================================

    #[test]
    fn no_transition_for_fin_leaves_it_alone() {
        let mut t = TestConn::<no_fin::Spec>::new(config())
            .connect()
            .establish();
        let iss = t.iss;
        let unhandled = t.conn.unhandled();
        t.segment(seg(NXT).ack(iss + 1).fin());
        assert_eq!(t.outputs(), [], "the FIN is not acknowledged");
        assert_eq!(t.state(), "ESTABLISHED");
        assert!(!t.conn.at_eof());
        assert_eq!(t.deadline(), None);
        assert_eq!(t.conn.unhandled(), unhandled + 1);
        // RCV.NXT did not pass the FIN: our next segment says so.
        t.send(b"x");
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).psh().data(b"x")]);
    }

    #[test]
    fn no_transition_for_fin_data_before_it_taken_in() {
        let mut t = TestConn::<no_fin::Spec>::new(config())
            .connect()
            .establish();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"abc").fin());
        // The data is acknowledged (the state is open), the FIN is not.
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 3).win(WIN - 3)]);
        assert_eq!(t.state(), "ESTABLISHED");
        assert_eq!(t.deadline(), None);
        assert_eq!(t.read_all(), b"abc");
        assert!(!t.conn.at_eof());
        // The FIN again, alone: still nothing.
        t.segment(seg(NXT + 3).ack(iss + 1).fin());
        assert_eq!(t.outputs(), []);
        assert!(!t.conn.at_eof());
        assert_eq!(t.state(), "ESTABLISHED");
    }

    // =========================================================================
    // Received bytes outlive the TCB
    // =========================================================================

    #[test]
    fn received_bytes_outlive_time_wait() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"0123456789"));
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 10).win(990)]);
        t.close();
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 10).win(990).fin()]);
        t.segment(seg(NXT + 10).ack(iss + 2).fin());
        assert_eq!(t.outputs(), [seg(iss + 2).ack(NXT + 11).win(990)]);
        assert_eq!(t.state(), "TIME_WAIT");
        t.fire_deadline();
        assert_eq!(t.state(), "CLOSED");
        assert!(t.conn.is_finished(), "the TCB is gone");
        assert_eq!(t.conn.readable(), 10);
        assert!(!t.conn.at_eof());
        let mut part = [0; 4];
        assert_eq!(t.conn.recv(&mut part), 4);
        assert_eq!(&part, b"0123");
        assert_eq!(t.read_all(), b"456789");
        assert_eq!(t.conn.readable(), 0);
        assert!(t.conn.at_eof());
    }

    #[test]
    fn received_bytes_outlive_last_ack() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).data(b"request").fin());
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 8).win(WIN - 7)]);
        t.close();
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT + 8).win(WIN - 7).fin()]);
        t.segment(seg(NXT + 8).ack(iss + 2));
        assert_eq!(t.state(), "CLOSED");
        assert!(t.conn.is_finished(), "the TCB is gone");
        assert_eq!(t.conn.readable(), 7);
        assert!(!t.conn.at_eof());
        assert_eq!(t.read_all(), b"request");
        assert!(t.conn.at_eof());
    }

    // =========================================================================
    // Zero-window probing (RFC 9293 3.8.6.1)
    // =========================================================================

    #[test]
    fn zero_window_probed_with_back_off_while_the_peer_answers() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).win(0));
        assert_eq!(t.send(b"0123456789"), 10);
        assert_eq!(t.outputs(), [], "the window is closed");
        let mut armed = t.now;
        let mut rto = secs(1);
        // Longer than max_retransmissions and the user timeout allow for
        // unanswered segments.
        for probe in 0..20 {
            assert_eq!(t.deadline(), Some(armed + rto), "probe {probe}");
            armed = t.fire_deadline();
            assert_eq!(
                t.outputs(),
                [seg(iss + 1).ack(NXT).data(b"0")],
                "probe {probe}"
            );
            // The peer answers, its window still closed. (That the
            // answer draws nothing is the test below.)
            t.elapse(ms(1));
            t.segment(seg(NXT).ack(iss + 1).win(0));
            let drawn = t.outputs();
            assert!(drawn.iter().all(|s| s.payload == b"0"), "{drawn:?}");
            rto = (rto * 2).min(config().max_rto);
        }
        assert_eq!(t.state(), "ESTABLISHED");
        // The window opens, the probe's byte is acknowledged: the rest goes.
        t.segment(seg(NXT).ack(iss + 2).win(WIN));
        assert_eq!(
            t.outputs(),
            [seg(iss + 2).ack(NXT).psh().data(b"123456789")]
        );
    }

    /// Closed in SYN_RCVD (RFC 9293 3.10.4): our FIN follows our SYN once
    /// that is acknowledged, and the ACK of the SYN alone is not the ACK of
    /// the FIN.
    #[test]
    fn syn_rcvd_close_waits_for_the_ack_of_the_fin() {
        let mut t = syn_received();
        let iss = t.iss;
        t.close();
        assert_eq!(t.state(), "FIN_WAIT_1");
        assert_eq!(t.outputs(), []);
        t.segment(seg(NXT).ack(iss + 1));
        assert_eq!(t.state(), "FIN_WAIT_1", "the ACK of our SYN only");
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).fin()]);
        t.segment(seg(NXT).ack(iss + 2));
        assert_eq!(t.state(), "FIN_WAIT_2");
    }

    #[test]
    fn zero_window_answers_draw_no_probe() {
        let mut t = established();
        let iss = t.iss;
        t.segment(seg(NXT).ack(iss + 1).win(0));
        t.send(b"0123456789");
        assert_eq!(t.outputs(), []);
        for probe in 0..5 {
            t.fire_deadline();
            assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).data(b"0")]);
            t.elapse(ms(1));
            t.segment(seg(NXT).ack(iss + 1).win(0));
            // Probes go at the persist timer only (RFC 9293 3.8.6.1); an
            // answer that keeps the window closed is no sign of loss.
            assert_eq!(t.outputs(), [], "answer to probe {probe}");
        }
    }

    // =========================================================================
    // RFC 6298 5.7: after a SYN timed out, data starts from 3 * initial RTO
    // =========================================================================

    #[test]
    fn syn_retransmitted_data_rto_starts_from_rto_after_syn_loss() {
        let mut t = syn_sent();
        let iss = t.iss;
        t.fire_deadline();
        assert_eq!(t.outputs(), [syn(iss)]);
        t.elapse(ms(500));
        let mut t = t.establish();
        assert_eq!(t.deadline(), None);
        t.elapse(ms(500));
        let sent = t.now;
        t.send(b"data");
        let data = || seg(iss + 1).ack(NXT).psh().data(b"data");
        assert_eq!(t.outputs(), [data()]);
        assert_eq!(t.deadline(), Some(sent + config().rto_after_syn_loss()));
        t.fire_deadline();
        assert_eq!(t.outputs(), [data()]);
    }

    #[test]
    fn syn_ack_retransmitted_data_rto_starts_from_rto_after_syn_loss() {
        let mut t = syn_received();
        let iss = t.iss;
        t.fire_deadline();
        assert_eq!(t.outputs(), [syn(iss).ack(NXT)]);
        t.elapse(ms(500));
        t.segment(seg(NXT).ack(iss + 1));
        assert_eq!(t.state(), "ESTABLISHED");
        t.elapse(ms(500));
        let sent = t.now;
        t.send(b"data");
        assert_eq!(t.outputs(), [seg(iss + 1).ack(NXT).psh().data(b"data")]);
        assert_eq!(t.deadline(), Some(sent + config().rto_after_syn_loss()));
    }
}
