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
use std::net::SocketAddrV4;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::buffer::{Assembler, Ring};
use crate::config::Config;
use crate::isn::IsnGenerator;
use crate::rtt::RttEstimator;
use crate::trace::{StepRecord, TraceEntry};
use crate::vocab::{Action, Event, Group, Guard, Machine};
use crate::wire::seq::SeqNum;
use crate::wire::tcp::{Flags, TcpRepr};

/// What a connection tells its application.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
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
#[derive(Debug)]
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
    /// Retransmit the segment at SND.UNA once (fast retransmit).
    resend_una: bool,
    /// Challenge ACKs sent in the current one-second window.
    challenge: (Instant, u32),
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
            resend_una: false,
            challenge: (now, 0),
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

    fn window_field(&self, syn: bool) -> u16 {
        let wnd = self.rcv_wnd();
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

    /// Whether data or our FIN waits to be sent for the first time.
    fn has_unsent(&self) -> bool {
        let end_of_data = self.buf_seq() + self.send_buf.len();
        end_of_data.gt(self.snd_nxt) || self.fin_seq().is_some_and(|f| f.ge(self.snd_nxt))
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
    /// Payload: offset into the send buffer and length.
    pub payload: (usize, usize),
}

/// What the application still has to read once the TCB is gone: bytes
/// that were taken in (and acknowledged), and whether the peer's FIN was.
#[derive(Debug)]
struct Leftover {
    data: Ring,
    fin: bool,
}

/// One TCP connection driven by the machine `M`.
pub struct Connection<M: Machine> {
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
}

impl<M: Machine> Connection<M> {
    /// A connection in the machine's initial state, with no TCB.
    pub fn new(local: SocketAddrV4, config: Arc<Config>) -> Self {
        Connection {
            state: M::INITIAL,
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
        }
    }

    /// A fresh copy of a listening connection for a segment from a new
    /// peer: same state and trace, an empty TCB of the same shape.
    pub fn fork(&self, remote: SocketAddrV4, now: Instant) -> Self {
        Connection {
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
        }
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
        M::in_group(self.state, Group::Open)
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
        M::step(self.state, event, &|g| self.guard(g)).is_some()
    }

    // ---- the machine ---------------------------------------------------------

    fn guard(&self, guard: Guard) -> bool {
        match guard {
            Guard::Passive => self.tcb.as_ref().is_none_or(|t| !t.sent_syn),
            Guard::FinAcked => self.tcb.as_ref().is_some_and(Tcb::fin_acked),
            Guard::PeerKnown => self.remote.is_some(),
        }
    }

    /// Raises `event`; answers whether the spec had a transition for it.
    fn fire(&mut self, env: &Env<'_>, event: Event, cause: Cause<'_>) -> bool {
        self.fire_with(env, event, cause, |_| {})
    }

    /// Raises `event`. When the spec has a transition, the machine enters
    /// its target, `take` takes in what the event carries, and the
    /// transition's actions run; when it has none, nothing happens at all.
    fn fire_with(
        &mut self,
        env: &Env<'_>,
        event: Event,
        cause: Cause<'_>,
        take: impl FnOnce(&mut Self),
    ) -> bool {
        let guards = |g: Guard| self.guard(g);
        let fired = M::step(self.state, event, &guards);
        if self.config.record_steps {
            let from = M::state_name(self.state);
            let record = StepRecord {
                at: env.now.saturating_duration_since(env.epoch),
                local: self.local,
                remote: self.remote,
                event,
                guards: Guard::ALL.iter().map(|&g| (g, guards(g))).collect(),
                from,
                to: fired.as_ref().map_or(from, |f| M::state_name(f.to)),
                transition: fired.as_ref().map(|f| M::transition(f.transition)),
                actions: fired
                    .as_ref()
                    .map(|f| f.actions.iter().map(|&a| M::action(a)).collect())
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
                self.perform(env, M::action(a), cause);
            }
            return true;
        }
        let entry = TraceEntry::new::<M>(
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
            self.perform(env, M::action(a), cause);
        }
        true
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
                if t.ack_pending
                    && let Some(dst) = self.remote
                {
                    self.control.push_back(Control {
                        dst,
                        seq: t.snd_nxt,
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
                t.rcv_adv = t.rcv_nxt + t.rcv_wnd() as usize;
                t.peer_mss = seg.mss.unwrap_or(536);
                let offered = self.config.window_shift();
                t.scaling = self.config.window_scaling && seg.window_scale.is_some();
                t.snd_shift = if t.scaling {
                    seg.window_scale.unwrap_or(0)
                } else {
                    0
                };
                t.rcv_shift = if t.scaling { offered } else { 0 };
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
                        seq: t.snd_nxt,
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
                // Out-of-order data was never acknowledged; what was is
                // the application's.
                if let Some(t) = self.tcb.as_mut() {
                    t.send_buf.clear();
                    t.assembler.clear();
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
        let now = env.now;
        let taken = self.fire_with(env, Event::RcvSynAck, cause, |c| {
            c.take_ack(now, ack, &inc);
        });
        if taken && self.has_peer() {
            // Data or a FIN riding on the SYN-ACK.
            let mut rest = inc;
            rest.seq = inc.seq + 1;
            rest.flags.remove(Flags::SYN);
            self.take_text(&rest, payload);
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
        let now = env.now;
        let control = self.tcb.as_ref().and_then(|t| t.unacked_control(ack));
        let data_ack = control.unwrap_or(ack);
        self.take_ack(now, data_ack, &inc);
        if control.is_some() {
            // The figure's FIN+ACK: the same segment brings the peer's FIN
            // with nothing before it left to take in.
            let acks_fin = self
                .tcb
                .as_ref()
                .and_then(Tcb::fin_seq)
                .is_some_and(|f| ack.gt(f));
            let fin_ack = !dup_fin
                && self.fin_in_reach(&inc)
                && M::step(self.state, Event::RcvFin, &|g| match g {
                    Guard::FinAcked => acks_fin,
                    _ => self.guard(g),
                })
                .is_some();
            if fin_ack {
                self.take_ack(now, ack, &inc);
                self.take_text(&inc, payload);
                self.take_fin(env, &inc);
                return;
            }
            self.fire_with(env, Event::RcvAck, cause, |c| {
                c.take_ack(now, ack, &inc);
            });
        }
        if self.tcb.is_none() {
            return;
        }
        // Step 7, the text; step 8, the FIN.
        if dup_fin {
            self.fire(env, Event::RcvFin, cause);
        } else {
            self.take_text(&inc, payload);
            self.take_fin(env, &inc);
        }
    }

    /// Takes in an acceptable ACK up to `ack`: SND.UNA, the send buffer,
    /// RTT, the window.
    fn take_ack(&mut self, now: Instant, ack: SeqNum, inc: &Incoming) {
        let rto_after_syn_loss = self.config.rto_after_syn_loss();
        let Some(t) = self.tcb.as_mut() else {
            return;
        };
        if t.snd_una.lt(ack) {
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
            && u32::from(inc.window) << t.snd_shift == t.snd_wnd
        {
            t.dupacks += 1;
            if t.dupacks == 3 {
                t.resend_una = true;
            }
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
    fn take_text(&mut self, inc: &Incoming, payload: &[u8]) {
        let open = self.in_open();
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
        if !data.is_empty() {
            let offset = (inc.seq + behind).distance(t.rcv_nxt).max(0) as usize;
            let written = t.recv_buf.write_at(t.recv_buf.len() + offset, data);
            if written > 0 && t.assembler.add(offset..offset + written) {
                let n = t.assembler.take_front();
                t.recv_buf.commit(n);
                t.rcv_nxt += n;
            }
            t.ack_pending = true;
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
        self.fire_with(env, Event::RcvFin, seg_cause(inc), |c| {
            if let Some(t) = c.tcb.as_mut() {
                t.rcv_nxt += 1;
                t.fin_received = true;
                t.assembler.clear();
            }
        });
    }

    // ---- timers ----------------------------------------------------------------

    /// Whether the spec has a transition for timer `event` now: a timer
    /// whose event would change nothing is not armed.
    fn armed(&self, event: Event) -> bool {
        self.would_handle(event)
    }

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

    /// The next time [`Self::on_timeout`] has work.
    pub fn deadline(&self) -> Option<Instant> {
        let t = self.tcb.as_ref()?;
        let timer = |d: Option<Instant>, event: Event| d.filter(|_| self.armed(event));
        [
            t.rto_deadline,
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
        let Some(t) = self.tcb.as_ref() else {
            return;
        };
        let due = |d: Option<Instant>| d.is_some_and(|d| d <= now);
        let (time_wait, user, linger) = (
            due(t.time_wait_deadline),
            due(self.user_deadline(t)),
            due(self.linger_deadline(t)),
        );
        if time_wait && self.armed(Event::TimeWaitTimeout) {
            self.fire_with(env, Event::TimeWaitTimeout, Cause::default(), |c| {
                if let Some(t) = c.tcb.as_mut() {
                    t.time_wait_deadline = None;
                }
            });
            return;
        }
        if user && self.armed(Event::UserTimeout) {
            self.fire_with(env, Event::UserTimeout, Cause::default(), |c| {
                if let Some(t) = c.tcb.as_mut() {
                    t.open_deadline = None;
                    t.progress_at = None;
                }
            });
            return;
        }
        if linger && self.armed(Event::LingerTimeout) {
            self.fire_with(env, Event::LingerTimeout, Cause::default(), |c| {
                if let Some(t) = c.tcb.as_mut() {
                    t.fin_acked_at = Some(now);
                }
            });
            return;
        }
        let t = self.tcb.as_mut().expect("present above");
        if t.rto_deadline.is_some_and(|d| d <= now) {
            t.rto_deadline = None;
            if t.retransmissions >= max_retransmissions {
                // Give up, if the spec says how; else stop sending.
                self.fire(env, Event::UserTimeout, Cause::default());
                return;
            }
            t.retransmissions += 1;
            t.rtt.back_off();
            t.rtt_probe = None; // Karn: no samples from retransmitted data
            if !t.syn_acked() {
                t.syn_pending = true;
                t.syn_retransmitted = true;
            }
            // Go back to the oldest unacknowledged byte (or the SYN).
            t.snd_nxt = t.snd_una;
            if t.snd_wnd == 0 && t.in_flight() == 0 {
                // Zero-window probe: one byte past the window.
                t.resend_una = true;
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
            // A SYN offers scaling; a SYN-ACK answers an offer.
            let offer = if ack.is_some() {
                t.scaling
            } else {
                config.window_scaling
            };
            if ack.is_some() {
                t.ack_pending = false;
            }
            return Some(Segment::Data(Outgoing {
                dst,
                seq: iss,
                ack,
                flags: Flags::SYN,
                window: t.window_field(true),
                mss: Some(config.mss),
                window_scale: offer.then(|| config.window_shift()),
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
        if t.ack_pending && t.irs.is_some() {
            t.ack_pending = false;
            t.rcv_adv = t.rcv_nxt + t.rcv_wnd() as usize;
            return Some(Segment::Data(Outgoing {
                dst,
                seq: t.snd_nxt,
                ack: Some(t.rcv_nxt),
                flags: Flags::empty(),
                window: t.window_field(false),
                mss: None,
                window_scale: None,
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
    let (seq, room) = if t.resend_una {
        // Fast retransmit, or a zero-window probe of one byte.
        t.resend_una = false;
        (
            t.snd_una.max(t.data_start()),
            if t.snd_wnd == 0 { 1 } else { mss },
        )
    } else {
        let window_end = t.snd_una + t.snd_wnd as usize;
        (
            t.snd_nxt,
            (window_end.distance(t.snd_nxt).max(0) as usize).min(mss),
        )
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
    arm_rto(t, now, fresh);
    t.ack_pending = false;
    t.rcv_adv = t.rcv_nxt + t.rcv_wnd() as usize;
    Some(Outgoing {
        dst,
        seq,
        ack: Some(t.rcv_nxt),
        flags,
        window: t.window_field(false),
        mss: None,
        window_scale: None,
        payload: (seq.distance(buf_seq).max(0) as usize, len),
    })
}
