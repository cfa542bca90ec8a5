//! Loss recovery: the runtime's third machine. Every connection runs a
//! recovery machine beside its connection machine and its congestion
//! machine ([`crate::cc`]): it decides when a segment is taken as lost,
//! what is sent again, and how much may be sent while a loss is repaired.
//! `recovery.fsm` (RACK-TLP, RFC 8985, with SACK, RFC 2018 and 6675, and
//! PRR, RFC 6937) is the default, compiled in as [`rack_tlp`];
//! `examples/specs/recovery/newreno.fsm` (fast retransmit on the third
//! duplicate ACK and NewReno's partial ACKs, RFC 5681 and RFC 6582, no
//! SACK) is compiled in as [`new_reno`]. A [`Recovery`] in
//! [`Config::recovery`](crate::Config::recovery) selects one per endpoint,
//! or one loaded at run time ([`Recovery::load`](crate::side::Side::load)).
//!
//! The congestion machine keeps the window: it grows cwnd, and it reduces
//! ssthresh and cwnd when it hears `third_dup_ack`, which is raised when
//! the recovery machine runs [`EnterRecovery`](Action::EnterRecovery), and
//! only then.
//!
//! # The scoreboard
//!
//! The runtime keeps one record per segment sent and not yet acknowledged
//! (its sequence range, when it was last sent, whether the peer SACKed it,
//! whether it is marked lost). Keeping it changes nothing that is sent:
//! only the actions below read it to mark segments lost, and a segment
//! marked lost is sent again, once, before new data.
//!
//! A SACK block counts only if it lies within SND.UNA..SND.MAX and is not
//! empty; it marks the segments it covers whole. Other blocks (D-SACK
//! blocks, blocks that lie) are ignored, so a peer that lies in its blocks
//! changes nothing beyond its own blocks' claims on data we did send.
//!
//! # What the runtime does with the marks
//!
//! A segment marked lost goes out again, once, before any new data, when
//! PRR's quota allows (while `prr` runs) or else while the pipe (RFC
//! 6675: outstanding, less SACKed, less marked lost) is below cwnd. When
//! it is the first unacknowledged segment, the retransmission timer
//! restarts (as Linux does): its ACK is a round trip away. Nothing is
//! marked lost but by the spec's actions.
//!
//! # When each event is raised
//!
//! For an ACK that passed the connection's checks, once the SYN is
//! acknowledged, after the scoreboard took the ACK in:
//!
//! * [`NewAck`](Event::NewAck): SND.UNA advanced.
//! * [`DupAck`](Event::DupAck): a duplicate ACK as RFC 5681 section 2
//!   defines it, or an ACK that SACKs data not SACKed before (RFC 6675's
//!   definition).
//! * [`ReorderTimeout`](Event::ReorderTimeout): the reordering timer that
//!   [`MarkLostRack`](Action::MarkLostRack) armed expired.
//! * [`ProbeTimeout`](Event::ProbeTimeout): the probe timer that
//!   [`ArmProbe`](Action::ArmProbe) armed expired (a new ACK disarms it).
//! * [`Rto`](Event::Rto): the retransmission timer expired with data
//!   outstanding and the peer's window open, before the congestion
//!   machine hears its own `rto`. Unless the transition runs
//!   [`MarkAllLost`](Action::MarkAllLost), the runtime then goes back to
//!   SND.UNA and sends everything again (RFC 9293 3.8.1).

use std::collections::VecDeque;
use std::hash::{Hash, Hasher};
use std::time::{Duration, Instant};

use crate::side::{Side, SideMachine};
use crate::vocab::{StateRef, Words, vocabulary};
use crate::wire::{SackBlocks, SeqNum};

vocabulary! {
    /// What happened, as the recovery machine hears it.
    Event {
        /// SND.UNA advanced.
        NewAck = "new_ack",
        /// A duplicate ACK, or an ACK that SACKs new data.
        DupAck = "dup_ack",
        /// The reordering timer expired.
        ReorderTimeout = "reorder_timeout",
        /// The probe timer expired.
        ProbeTimeout = "probe_timeout",
        /// The retransmission timer expired.
        Rto = "rto",
    }
}

vocabulary! {
    /// A condition on the scoreboard, evaluated when a transition asks.
    Guard {
        /// At least DupThresh (3) duplicate ACKs in a row (RFC 5681 3.2).
        DupThreshold = "dup_threshold",
        /// The first unacknowledged segment is lost by RFC 6675's IsLost:
        /// DupThresh segments, or more than (DupThresh - 1) * SMSS bytes,
        /// SACKed above it.
        SackLost = "sack_lost",
        /// RACK (RFC 8985 6.2) takes a segment not yet marked as lost now:
        /// it was sent before a segment since delivered, more than the
        /// RTT plus the reordering window ago.
        RackLost = "rack_lost",
        /// SND.UNA is at or past the recovery point, `recover`, which
        /// starts at ISS+1 and is set by
        /// [`EnterRecovery`](Action::EnterRecovery) and
        /// [`MarkRecovery`](Action::MarkRecovery).
        CoversRecovery = "covers_recovery",
        /// The scoreboard holds SACKed data.
        Sacked = "sacked",
        /// A tail loss probe may be armed (RFC 8985 7.2): SACK was
        /// negotiated, data is outstanding or waits to be sent, and no
        /// probe has gone out since the last new ACK. (With nothing
        /// outstanding, `arm_probe`'s timer starts with the next new data.)
        ProbeAllowed = "probe_allowed",
    }
}

vocabulary! {
    /// What the recovery machine does.
    Action {
        /// recover = SND.MAX; the congestion machine hears
        /// `third_dup_ack`.
        EnterRecovery = "enter_recovery",
        /// Send the first unacknowledged segment again, once, whatever the
        /// window says (fast retransmit, RFC 5681 3.2; a partial ACK, RFC
        /// 6582 3.2). After a partial ACK only the first restarts the
        /// retransmission timer (RFC 6582's "Impatient" variant).
        RetransmitUna = "retransmit_una",
        /// recover = SND.MAX (after a timeout: duplicate ACKs for data sent
        /// before it are no new loss, RFC 6582 4.1).
        MarkRecovery = "mark_recovery",
        /// Marks lost each segment not yet sent again that RFC 6675's
        /// IsLost takes as lost.
        MarkLostSack = "mark_lost_sack",
        /// Marks lost each segment RACK takes as lost (RFC 8985 6.2), and
        /// arms the reordering timer for the first that will be once the
        /// reordering window passes.
        MarkLostRack = "mark_lost_rack",
        /// Every segment outstanding and not SACKed is lost (RFC 8985 6.3);
        /// instead of going back to SND.UNA after a timeout, they are sent
        /// again as the window allows. If the peer
        /// SACKed the segment at SND.UNA yet never acknowledged it, it has
        /// reneged (RFC 2018 8): its SACK marks are forgotten.
        MarkAllLost = "mark_all_lost",
        /// Proportional Rate Reduction (RFC 6937, PRR-SSRB): from now until
        /// [`ExitRecovery`](Action::ExitRecovery), what may be sent is
        /// PRR's quota, computed from the data this ACK delivered, instead
        /// of cwnd; at least one segment until the first has gone out. The
        /// first `prr` after `exit_recovery` (or ever) starts PRR's counts,
        /// with RecoverFS = FlightSize.
        Prr = "prr",
        /// Ends PRR: cwnd limits what is sent again.
        ExitRecovery = "exit_recovery",
        /// Limited Transmit (RFC 3042): one more new segment may go beyond
        /// cwnd, at most two, until the next new ACK.
        LimitedTransmit = "limited_transmit",
        /// Arms the probe timer: PTO = 2 * SRTT (1 s before any sample, at
        /// least 2 ms),
        /// plus 200 ms for the peer's delayed ACK when one segment is in
        /// flight; not armed if the retransmission timer expires first
        /// (RFC 8985 7.2). New data sent before the next new ACK restarts
        /// it, from the flight then (RFC 8985 7.2: "after transmitting new
        /// data"), so an ACK of all but a segment, or of everything, still
        /// leaves a probe behind the burst it clocks out.
        ArmProbe = "arm_probe",
        /// A tail loss probe (RFC 8985 7.3): one new segment if there is
        /// one and the peer's window allows, else the last segment sent,
        /// again; whatever cwnd says. The retransmission timer restarts.
        SendProbe = "send_probe",
    }
}

/// The recovery machine names no groups.
pub type Group = crate::side::NoGroup;

/// The recovery machine's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RecoveryWords {}

impl Words for RecoveryWords {
    type Event = Event;
    type Guard = Guard;
    type Action = Action;
    type Group = Group;
    const PATH: &'static str = "fsm_runtime::recovery";
}

/// A recovery spec bound to the runtime: generated by
/// [`recovery_machine!`](crate::recovery_machine), or loaded at run time.
pub type RecoveryMachine = dyn SideMachine<RecoveryWords>;

/// The recovery machine of an endpoint's connections. Cheap to clone.
pub type Recovery = Side<RecoveryWords>;

impl Side<RecoveryWords> {
    /// RACK-TLP with SACK and PRR, from `recovery.fsm`, compiled in.
    pub fn rack_tlp() -> Self {
        Side::new(rack_tlp::Spec)
    }

    /// Fast retransmit and NewReno's partial ACKs, without SACK, from
    /// `examples/specs/recovery/newreno.fsm`, compiled in.
    pub fn new_reno() -> Self {
        Side::new(new_reno::Spec)
    }
}

impl Default for Side<RecoveryWords> {
    /// RACK-TLP.
    fn default() -> Self {
        Recovery::rack_tlp()
    }
}

/// DupThresh (RFC 5681 3.2, RFC 6675).
const DUP_THRESH: u32 = 3;
/// RFC 8985 7.2's WCDelAckT: what the peer may hold the ACK of a lone
/// segment back for.
const DELAYED_ACK: Duration = Duration::from_millis(200);

/// When a probe timer started `now` expires (RFC 8985 7.2): after `pto`,
/// plus the peer's delayed ACK when `flight` is one segment at most;
/// none with nothing in flight or if the retransmission timer (`rto`)
/// expires first.
fn probe_deadline(
    now: Instant,
    pto: Duration,
    flight: u32,
    smss: u32,
    rto: Option<Instant>,
) -> Option<Instant> {
    let delayed_ack = if flight <= smss {
        DELAYED_ACK
    } else {
        Duration::ZERO
    };
    let at = now + pto + delayed_ack;
    (flight > 0 && rto.is_none_or(|rto| at < rto)).then_some(at)
}

/// What the guards and actions read of the connection when an event is
/// raised.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// Now.
    pub now: Instant,
    /// The connection's segment size.
    pub smss: u32,
    /// SND.UNA, after the ACK at hand.
    pub snd_una: SeqNum,
    /// The highest sequence number sent, plus one.
    pub snd_max: SeqNum,
    /// Duplicate ACKs in a row.
    pub dupacks: u32,
    /// Bytes the ACK at hand acknowledged or SACKed for the first time
    /// (RFC 6937's DeliveredData).
    pub delivered: u32,
    /// The smoothed RTT, once sampled.
    pub srtt: Option<Duration>,
    /// When the retransmission timer expires, if armed.
    pub rto_deadline: Option<Instant>,
    /// Both SYNs carried SACK-permitted.
    pub sack_ok: bool,
    /// ssthresh, from the congestion machine.
    pub ssthresh: u32,
    /// Data waits in the send buffer, not yet sent.
    pub unsent: bool,
}

/// One segment sent and not yet acknowledged.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Sent {
    start: SeqNum,
    end: SeqNum,
    /// When it was last sent.
    at: Instant,
    sacked: bool,
    /// Marked lost and not sent again since.
    lost: bool,
    /// Sent more than once.
    retransmitted: bool,
}

impl Sent {
    fn len(&self) -> u32 {
        self.end.distance(self.start).max(0) as u32
    }
}

/// Proportional Rate Reduction's counts (RFC 6937 3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Prr {
    recover_fs: u32,
    delivered: u32,
    out: u32,
    /// Bytes that may go out now.
    quota: u32,
}

/// What the connection does after the recovery machine's actions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Effects {
    /// The congestion machine hears `third_dup_ack`.
    pub enter_recovery: bool,
    /// The segment at SND.UNA goes out again.
    pub retransmit_una: bool,
    /// Segments were marked lost: no going back after a timeout.
    pub all_lost: bool,
}

/// A connection's recovery state: the machine's state, the scoreboard and
/// the numbers the actions keep.
#[derive(Clone, Debug)]
pub struct Losses {
    /// The machine's state.
    pub state: StateRef,
    board: VecDeque<Sent>,
    sacked_bytes: u32,
    sacked_segments: u32,
    /// Bytes marked lost and not sent again.
    lost_bytes: u32,
    /// The recovery point.
    pub recover: SeqNum,
    /// RACK.xmit_ts and RACK.end_seq: the segment delivered last sent
    /// latest.
    rack: Option<(Instant, SeqNum)>,
    /// RACK.rtt.
    rack_rtt: Duration,
    min_rtt: Option<Duration>,
    /// The RTT the ACK taken in last measured, from a segment sent once.
    sample: Option<Duration>,
    /// A segment was delivered after one sent later (RACK.reord).
    reordering: bool,
    /// When the reordering timer expires, if armed.
    pub reorder_deadline: Option<Instant>,
    /// When the probe timer expires, if armed.
    pub probe_deadline: Option<Instant>,
    /// A probe went out since the last new ACK.
    probed: bool,
    /// A probe waits to go out.
    probe_pending: bool,
    /// The PTO and SMSS `arm_probe` armed the probe timer with since the
    /// last new ACK: new data sent restarts it.
    probe_on_send: Option<(Duration, u32)>,
    prr: Option<Prr>,
    /// Bytes Limited Transmit lets go beyond cwnd.
    limited: u32,
    /// The pair fired last (a self-loop is traced once).
    pub(crate) last_transition: Option<u32>,
}

impl Losses {
    /// Nothing sent, in `machine`'s initial state.
    pub fn new(machine: &RecoveryMachine) -> Self {
        Losses {
            state: machine.initial(),
            board: VecDeque::new(),
            sacked_bytes: 0,
            sacked_segments: 0,
            lost_bytes: 0,
            recover: SeqNum(0),
            rack: None,
            rack_rtt: Duration::ZERO,
            min_rtt: None,
            sample: None,
            reordering: false,
            reorder_deadline: None,
            probe_deadline: None,
            probed: false,
            probe_pending: false,
            probe_on_send: None,
            prr: None,
            limited: 0,
            last_transition: None,
        }
    }

    /// The recovery point starts just past the ISS.
    pub fn start(&mut self, iss: SeqNum) {
        self.recover = iss + 1;
    }

    /// Feeds everything but the pair traced last to `h`, times relative to
    /// `now` (see [`crate::fingerprint`]).
    pub(crate) fn fingerprint<H: Hasher>(&self, now: Instant, h: &mut H) {
        use crate::fingerprint::{opt_time, time};
        let Losses {
            state,
            board,
            sacked_bytes,
            sacked_segments,
            lost_bytes,
            recover,
            rack,
            rack_rtt,
            min_rtt,
            sample,
            reordering,
            reorder_deadline,
            probe_deadline,
            probed,
            probe_pending,
            probe_on_send,
            prr,
            limited,
            last_transition: _,
        } = self;
        (state, sacked_bytes, sacked_segments, lost_bytes, recover).hash(h);
        board.len().hash(h);
        for s in board {
            (s.start, s.end, s.sacked, s.lost, s.retransmitted).hash(h);
            time(h, now, s.at);
        }
        rack.map(|(_, end)| end).hash(h);
        opt_time(h, now, rack.map(|(at, _)| at));
        (rack_rtt, min_rtt, sample, reordering, probed, probe_pending).hash(h);
        (prr, limited, probe_on_send).hash(h);
        opt_time(h, now, *reorder_deadline);
        opt_time(h, now, *probe_deadline);
    }

    // ---- the scoreboard ------------------------------------------------------

    /// The shortest RTT the last ACK measured, from the segments it
    /// delivered that were sent once (none if it delivered none).
    pub fn rtt_sample(&self) -> Option<Duration> {
        self.sample
    }

    /// Bytes in flight by RFC 6675's estimate: outstanding, less what the
    /// peer SACKed and what is marked lost.
    pub fn pipe(&self, snd_una: SeqNum, snd_max: SeqNum) -> u32 {
        let outstanding = snd_max.distance(snd_una).max(0) as u32;
        outstanding.saturating_sub(self.sacked_bytes + self.lost_bytes)
    }

    /// Bytes of data the peer SACKed.
    pub fn sacked_bytes(&self) -> u32 {
        self.sacked_bytes
    }

    /// A probe waits to go out.
    pub fn probe_pending(&self) -> bool {
        self.probe_pending
    }

    /// Takes the probe [`SendProbe`](Action::SendProbe) asked for.
    pub fn take_probe(&mut self) -> bool {
        std::mem::take(&mut self.probe_pending)
    }

    /// Segments are marked lost and wait to be sent again.
    pub fn has_lost(&self) -> bool {
        self.lost_bytes > 0
    }

    /// PRR's quota while it runs.
    pub fn prr_quota(&self) -> Option<u32> {
        self.prr.map(|p| p.quota)
    }

    /// Bytes Limited Transmit lets go beyond cwnd now.
    pub fn limited(&self) -> u32 {
        self.limited
    }

    /// The first segment marked lost: its range.
    pub fn first_lost(&self) -> Option<(SeqNum, SeqNum)> {
        if self.lost_bytes == 0 {
            return None;
        }
        self.board.iter().find(|s| s.lost).map(|s| (s.start, s.end))
    }

    /// The last segment sent: its range.
    pub fn last_sent(&self) -> Option<(SeqNum, SeqNum)> {
        self.board.back().map(|s| (s.start, s.end))
    }

    /// The index of the first record that ends after `seq`.
    fn find(&self, seq: SeqNum) -> usize {
        self.board.partition_point(|s| s.end.le(seq))
    }

    /// Splits the record holding `seq` inside it in two.
    fn split(&mut self, seq: SeqNum) {
        let i = self.find(seq);
        if let Some(&s) = self.board.get(i)
            && s.start.lt(seq)
        {
            let mut head = s;
            head.end = seq;
            self.board[i].start = seq;
            self.board.insert(i, head);
            if s.sacked {
                self.sacked_segments += 1;
            }
        }
    }

    /// `start..end` went out at `now`: a record for new data, or the
    /// records it covers sent again. Sending counts against PRR's quota
    /// and spends Limited Transmit's allowance for new data beyond `cwnd`;
    /// new data restarts a probe timer `arm_probe` armed since the last
    /// new ACK, unless it would expire after the retransmission timer
    /// (`rto_at`).
    pub fn on_sent(
        &mut self,
        start: SeqNum,
        end: SeqNum,
        now: Instant,
        beyond_cwnd: u32,
        rto_at: Instant,
    ) {
        let len = end.distance(start).max(0) as u32;
        if len == 0 {
            return;
        }
        if let Some(p) = self.prr.as_mut() {
            p.out = p.out.saturating_add(len);
            p.quota = p.quota.saturating_sub(len);
        }
        self.limited = self.limited.saturating_sub(beyond_cwnd);
        let tail = self.board.back().map_or(start, |s| s.end);
        if start.ge(tail) {
            self.board.push_back(Sent {
                start,
                end,
                at: now,
                sacked: false,
                lost: false,
                retransmitted: false,
            });
            if let Some((pto, smss)) = self.probe_on_send {
                let flight = end.distance(self.board[0].start).max(0) as u32;
                self.probe_deadline = probe_deadline(now, pto, flight, smss, Some(rto_at));
            }
            return;
        }
        self.split(start);
        self.split(end);
        let mut i = self.find(start);
        while let Some(s) = self.board.get_mut(i)
            && s.end.le(end)
        {
            s.at = now;
            s.retransmitted = true;
            if s.lost {
                s.lost = false;
                self.lost_bytes -= s.len();
            }
            i += 1;
        }
        if end.gt(tail) {
            self.board.push_back(Sent {
                start: tail,
                end,
                at: now,
                sacked: false,
                lost: false,
                retransmitted: false,
            });
        }
    }

    /// Takes in an ACK of everything before `ack` and the SACK blocks it
    /// carries; answers the bytes delivered for the first time (acknowledged
    /// and not SACKed before, or SACKed now).
    pub fn on_ack(
        &mut self,
        ack: SeqNum,
        blocks: &SackBlocks,
        snd_max: SeqNum,
        now: Instant,
        sack_ok: bool,
    ) -> u32 {
        let mut delivered = 0;
        self.sample = None;
        if self.board.front().is_some_and(|s| s.start.lt(ack)) {
            self.split(ack);
            while let Some(&s) = self.board.front()
                && s.end.le(ack)
            {
                self.board.pop_front();
                if s.sacked {
                    self.sacked_bytes -= s.len();
                    self.sacked_segments -= 1;
                } else {
                    delivered += s.len();
                    self.rack_update(&s, now);
                }
                if s.lost {
                    self.lost_bytes -= s.len();
                }
            }
        }
        if !sack_ok {
            return delivered;
        }
        for &(left, right) in blocks.as_slice() {
            // Only blocks within what is outstanding: D-SACK blocks lie
            // below SND.UNA, lies may lie anywhere.
            if !(ack.le(left) && left.lt(right) && right.le(snd_max)) {
                continue;
            }
            let mut i = self.find(left);
            while let Some(&s) = self.board.get(i)
                && s.end.le(right)
            {
                if !s.sacked && s.start.ge(left) {
                    let r = &mut self.board[i];
                    r.sacked = true;
                    if r.lost {
                        r.lost = false;
                        self.lost_bytes -= s.len();
                    }
                    self.sacked_bytes += s.len();
                    self.sacked_segments += 1;
                    delivered += s.len();
                    self.rack_update(&s, now);
                }
                i += 1;
            }
        }
        delivered
    }

    /// RFC 8985 6.2 steps 1 and 2: a segment was delivered.
    fn rack_update(&mut self, s: &Sent, now: Instant) {
        let rtt = now.saturating_duration_since(s.at);
        // A retransmitted segment's ACK may be for an earlier copy: its
        // sample counts only if it is not shorter than the shortest RTT.
        if s.retransmitted && self.min_rtt.is_none_or(|m| rtt < m) {
            return;
        }
        if !s.retransmitted {
            self.min_rtt = Some(self.min_rtt.map_or(rtt, |m| m.min(rtt)));
            self.sample = Some(self.sample.map_or(rtt, |m| m.min(rtt)));
            // Delivered after a segment sent later (step 3).
            if self.rack.is_some_and(|(_, end)| s.end.lt(end)) {
                self.reordering = true;
            }
        }
        self.rack_rtt = rtt;
        let newer = match self.rack {
            None => true,
            Some((at, end)) => s.at > at || (s.at == at && s.end.gt(end)),
        };
        if newer {
            self.rack = Some((s.at, s.end));
        }
    }

    /// RACK's reordering window (RFC 8985 6.2 step 4): none while no
    /// reordering was seen and PRR runs or DupThresh segments are SACKed;
    /// else a quarter of the shortest RTT, at most the smoothed RTT.
    fn reorder_window(&self, srtt: Option<Duration>) -> Duration {
        if !self.reordering && (self.prr.is_some() || self.sacked_segments >= DUP_THRESH) {
            return Duration::ZERO;
        }
        let w = self.min_rtt.unwrap_or_default() / 4;
        srtt.map_or(w, |s| w.min(s))
    }

    /// How long after it was sent RACK takes a segment as lost: RACK.rtt
    /// plus the reordering window.
    fn rack_wait(&self, facts: &Facts) -> Duration {
        self.rack_rtt + self.reorder_window(facts.srtt)
    }

    /// RACK's verdict on `s`: when it is (or was) taken as lost, if it was
    /// sent before the segment delivered last and is neither SACKed nor
    /// marked yet; `wait` is [`Self::rack_wait`].
    fn rack_deadline(&self, s: &Sent, wait: Duration) -> Option<Instant> {
        let (at, end) = self.rack?;
        let before = s.at < at || (s.at == at && s.end.lt(end));
        (!s.sacked && !s.lost && before).then(|| s.at + wait)
    }

    fn mark_lost(&mut self, i: usize) {
        let s = &mut self.board[i];
        if !s.lost && !s.sacked {
            s.lost = true;
            self.lost_bytes += s.len();
        }
    }

    // ---- guards and actions --------------------------------------------------

    /// The value of `guard` for the event at hand.
    pub fn guard(&self, guard: Guard, facts: &Facts) -> bool {
        match guard {
            Guard::DupThreshold => facts.dupacks >= DUP_THRESH,
            Guard::SackLost => self.board.front().is_some_and(|s| {
                !s.sacked
                    && (self.sacked_segments >= DUP_THRESH
                        || self.sacked_bytes > (DUP_THRESH - 1) * facts.smss)
            }),
            Guard::RackLost => {
                let wait = self.rack_wait(facts);
                let due = |s: &Sent| self.rack_deadline(s, wait).is_some_and(|t| t <= facts.now);
                self.board.iter().any(due)
            }
            Guard::CoversRecovery => facts.snd_una.ge(self.recover),
            Guard::Sacked => self.sacked_bytes > 0,
            Guard::ProbeAllowed => {
                facts.sack_ok && (facts.snd_max.gt(facts.snd_una) || facts.unsent) && !self.probed
            }
        }
    }

    /// A new ACK: the probe timer is disarmed, a probe may go out again,
    /// and Limited Transmit's allowance is spent.
    pub fn new_ack(&mut self) {
        self.probe_deadline = None;
        self.probe_on_send = None;
        self.probed = false;
        self.limited = 0;
    }

    /// Carries out `action`, adding to `effects` what the connection does.
    pub fn perform(&mut self, action: Action, facts: &Facts, effects: &mut Effects) {
        let smss = facts.smss.max(1);
        let flight = facts.snd_max.distance(facts.snd_una).max(0) as u32;
        match action {
            Action::EnterRecovery => {
                self.recover = facts.snd_max;
                effects.enter_recovery = true;
            }
            Action::RetransmitUna => effects.retransmit_una = true,
            Action::MarkRecovery => self.recover = facts.snd_max,
            Action::MarkLostSack => {
                // From the top down: a segment is lost once DupThresh
                // segments, or more than (DupThresh - 1) * SMSS bytes,
                // above it are SACKed.
                let (mut segments, mut bytes) = (0u32, 0u32);
                for i in (0..self.board.len()).rev() {
                    let s = self.board[i];
                    if s.sacked {
                        segments += 1;
                        bytes += s.len();
                    } else if !s.retransmitted
                        && (segments >= DUP_THRESH || bytes > (DUP_THRESH - 1) * smss)
                    {
                        self.mark_lost(i);
                    }
                }
            }
            Action::MarkLostRack => {
                let wait = self.rack_wait(facts);
                let mut next = None::<Instant>;
                for i in 0..self.board.len() {
                    match self.rack_deadline(&self.board[i], wait) {
                        Some(t) if t <= facts.now => self.mark_lost(i),
                        Some(t) => next = Some(next.map_or(t, |n| n.min(t))),
                        None => {}
                    }
                }
                self.reorder_deadline = next;
            }
            Action::MarkAllLost => {
                if self.board.front().is_some_and(|s| s.sacked) {
                    for s in &mut self.board {
                        s.sacked = false;
                    }
                    (self.sacked_bytes, self.sacked_segments) = (0, 0);
                }
                for i in 0..self.board.len() {
                    self.mark_lost(i);
                }
                self.reorder_deadline = None;
                effects.all_lost = true;
            }
            Action::Prr => {
                let pipe = self.pipe(facts.snd_una, facts.snd_max);
                let ssthresh = facts.ssthresh;
                // The first starts the counts: RecoverFS = FlightSize.
                let p = self.prr.get_or_insert(Prr {
                    recover_fs: flight.max(1),
                    delivered: 0,
                    out: 0,
                    quota: 0,
                });
                p.delivered = p.delivered.saturating_add(facts.delivered);
                let sndcnt = if pipe > ssthresh {
                    // Proportional: deliver ssthresh / RecoverFS of
                    // what left the network.
                    let share = (u64::from(p.delivered) * u64::from(ssthresh))
                        .div_ceil(u64::from(p.recover_fs));
                    u32::try_from(share)
                        .unwrap_or(u32::MAX)
                        .saturating_sub(p.out)
                } else {
                    // Slow start reduction bound: catch up to ssthresh.
                    let limit = p.delivered.saturating_sub(p.out).max(facts.delivered) + smss;
                    (ssthresh - pipe).min(limit)
                };
                // The first segment of a recovery goes out whatever
                // the ACK delivered, as Linux does (fast retransmit).
                p.quota = if p.out == 0 { sndcnt.max(smss) } else { sndcnt };
            }
            Action::ExitRecovery => self.prr = None,
            Action::LimitedTransmit => self.limited = (self.limited + smss).min(2 * smss),
            Action::ArmProbe => {
                // (At least 2 ms, against the timer's granularity: a
                // loopback SRTT is a few microseconds.)
                let pto = facts
                    .srtt
                    .map_or(Duration::from_secs(1), |s| 2 * s)
                    .max(Duration::from_millis(2));
                // New data sent after this ACK restarts the timer.
                self.probe_on_send = Some((pto, smss));
                self.probe_deadline =
                    probe_deadline(facts.now, pto, flight, smss, facts.rto_deadline);
            }
            Action::SendProbe => {
                self.probe_on_send = None;
                self.probed = true;
                self.probe_pending = true;
                self.probe_deadline = None;
            }
        }
    }
}

/// Binds a recovery spec file to the runtime: generates its machine with
/// `fsm!`, checked against [this vocabulary](self), and a unit struct
/// `Spec` implementing [`SideMachine`]. The path is relative to the
/// calling crate's `CARGO_MANIFEST_DIR`.
///
/// ```
/// mod newreno {
///     fsm_runtime::recovery_machine!("../examples/specs/recovery/newreno.fsm");
/// }
///
/// let mut config = fsm_runtime::Config::default();
/// config.recovery = fsm_runtime::recovery::Recovery::new(newreno::Spec);
/// assert_eq!(config.recovery.machine().name(), "NewRenoRecovery");
/// ```
#[macro_export]
macro_rules! recovery_machine {
    ($path:literal) => {
        $crate::__side_machine!(
            $path,
            recovery,
            RecoveryWords,
            events: [new_ack, dup_ack, reorder_timeout, probe_timeout, rto],
            guards: [
                dup_threshold,
                sack_lost,
                rack_lost,
                covers_recovery,
                sacked,
                probe_allowed
            ],
            actions: [
                enter_recovery,
                retransmit_una,
                mark_recovery,
                mark_lost_sack,
                mark_lost_rack,
                mark_all_lost,
                prr,
                exit_recovery,
                limited_transmit,
                arm_probe,
                send_probe
            ],
            groups: [],
        );
    };
}

/// RACK-TLP, generated from `recovery.fsm`: the default recovery machine.
pub mod rack_tlp {
    crate::recovery_machine!("../recovery.fsm");
}

/// Fast retransmit and NewReno's partial ACKs, without SACK.
pub mod new_reno {
    crate::recovery_machine!("../examples/specs/recovery/newreno.fsm");
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMSS: u32 = 1000;

    fn facts(now: Instant, snd_una: SeqNum, snd_max: SeqNum, rto: Instant) -> Facts {
        Facts {
            now,
            smss: SMSS,
            snd_una,
            snd_max,
            dupacks: 0,
            delivered: 0,
            srtt: Some(Duration::from_micros(100)),
            rto_deadline: (snd_max != snd_una).then_some(rto),
            sack_ok: true,
            ssthresh: u32::MAX,
            unsent: true,
        }
    }

    /// RFC 8985 7.2: the probe timer runs after new data is sent, so an
    /// ACK that leaves one segment (or nothing) outstanding still leaves a
    /// probe behind the burst it clocks out, not only the RTO.
    #[test]
    fn new_data_after_an_arming_ack_restarts_the_probe_timer() {
        let recovery = Recovery::rack_tlp();
        let mut l = Losses::new(recovery.machine());
        let t0 = Instant::now();
        let rto = t0 + Duration::from_millis(20);
        let mut effects = Effects::default();
        let s = |n: u32| SeqNum(1 + n * SMSS);
        l.start(SeqNum(0));
        for n in 0..3 {
            l.on_sent(s(n), s(n + 1), t0, 0, rto);
        }
        // An ACK of all but the last segment: one in flight, so the PTO
        // (with the peer's delayed ACK) falls after the RTO: not armed.
        let t1 = t0 + Duration::from_micros(100);
        l.on_ack(s(2), &Default::default(), s(3), t1, true);
        l.new_ack();
        l.perform(Action::ArmProbe, &facts(t1, s(2), s(3), rto), &mut effects);
        assert_eq!(l.probe_deadline, None);
        // The ACK clocks out two new segments: now the PTO runs.
        l.on_sent(s(3), s(4), t1, 0, rto);
        assert_eq!(l.probe_deadline, Some(t1 + Duration::from_millis(2)));
        l.on_sent(s(4), s(5), t1, 0, rto);
        assert_eq!(l.probe_deadline, Some(t1 + Duration::from_millis(2)));
        // An ACK of everything: nothing in flight, nothing armed...
        let t2 = t1 + Duration::from_micros(100);
        l.on_ack(s(5), &Default::default(), s(5), t2, true);
        l.new_ack();
        l.perform(Action::ArmProbe, &facts(t2, s(5), s(5), rto), &mut effects);
        assert_eq!(l.probe_deadline, None);
        // ...until new data goes out.
        let t3 = t2 + Duration::from_micros(10);
        l.on_sent(s(5), s(6), t3, 0, t3 + Duration::from_millis(20));
        l.on_sent(s(6), s(7), t3, 0, t3 + Duration::from_millis(20));
        assert_eq!(l.probe_deadline, Some(t3 + Duration::from_millis(2)));
        // A probe that would expire after the RTO is not armed.
        l.on_sent(s(7), s(8), t3, 0, t3 + Duration::from_millis(1));
        assert_eq!(l.probe_deadline, None);
        // A new ACK ends it all: no restart without a new arm_probe.
        l.new_ack();
        l.on_sent(s(8), s(9), t3, 0, rto);
        assert_eq!(l.probe_deadline, None);
    }
}
