//! Congestion control: the runtime's second machine. Every connection runs
//! a congestion machine beside its connection machine and its recovery
//! machine ([`crate::recovery`]); the connection keeps at most min(cwnd,
//! the peer's window) bytes of new data in flight (while a loss is
//! repaired, what the recovery machine's actions say).
//! `congestion.fsm` (NewReno, RFC 5681 and RFC 6582) is the default,
//! compiled in as [`new_reno`]; a [`Congestion`] in
//! [`Config::congestion`](crate::Config::congestion) selects another, per
//! endpoint, compiled in with [`congestion_machine!`](crate::congestion_machine)
//! or loaded from a spec file at run time ([`Congestion::load`]).
//!
//! As with the connection machine, the runtime decides *what happened*
//! (which event) and the spec decides *what it means*; the window
//! arithmetic lives in the actions, each a few lines of [`Window`].
//! A spec may also follow a model of the path rather than its losses:
//! the `model` action keeps a [`PathModel`] (bandwidth, min RTT, ACK
//! aggregation, after BBR) that the `model_window`, `drain_window` and
//! `probe_rtt_window` actions and four guards read
//! (examples/specs/congestion/bbr.fsm).
//!
//! # When each event is raised
//!
//! Only on a connection whose SYN has been acknowledged, for an ACK that
//! passed the connection's own checks (RFC 9293 3.10.7.4):
//!
//! * [`NewAck`](Event::NewAck): the ACK acknowledges new data (or our
//!   FIN): SND.UNA advances. Not raised for the ACK of our SYN.
//! * [`DupAck`](Event::DupAck): a duplicate ACK as RFC 5681 section 2
//!   defines it: data outstanding, no data and no FIN in the segment, the
//!   ACK number equal to SND.UNA and the window unchanged (and not zero).
//! * [`ThirdDupAck`](Event::ThirdDupAck): a loss was found: the recovery
//!   machine ran `enter_recovery` (recovery.fsm on RACK's word, or on the
//!   third duplicate ACK from a peer without SACK;
//!   examples/specs/recovery/newreno.fsm on the third duplicate ACK). It
//!   replaces `dup_ack` for the ACK that found the loss.
//! * [`Rto`](Event::Rto): the retransmission timer expired, before the
//!   connection goes back to SND.UNA to send again (and also when it
//!   expires for a SYN: RFC 5681 3.1 starts such a connection from one
//!   segment).
//!
//! # What the runtime does without asking
//!
//! Retransmitting after a timeout (going back to SND.UNA, within cwnd,
//! unless the recovery machine marked every segment lost), and probing a
//! zero window. What is sent again after a loss is the recovery machine's
//! decision; this machine's [`Retransmit`](Action::Retransmit) sends the
//! segment at SND.UNA once more, for congestion specs that decide it
//! themselves (tahoe.fsm). The retransmission timer restarts on every ACK
//! of new data (RFC 6298 5.3) except one either machine answered with a
//! retransmission after an earlier such ACK: only the first partial ACK
//! of a recovery restarts it (RFC 6582 3.2 step 5, the "Impatient"
//! variant), so a window that lost many segments falls back on the timer
//! and slow start instead of repairing one hole per round trip.

use crate::side::{Side, SideMachine};
use crate::vocab::{StateRef, Words, vocabulary};
use crate::wire::SeqNum;
use std::time::{Duration, Instant};

vocabulary! {
    /// What happened, as the congestion machine hears it.
    Event {
        /// An ACK of new data: SND.UNA advanced.
        NewAck = "new_ack",
        /// A duplicate ACK (RFC 5681 section 2) that found no loss.
        DupAck = "dup_ack",
        /// A loss found: the recovery machine entered recovery.
        ThirdDupAck = "third_dup_ack",
        /// The retransmission timer expired.
        Rto = "rto",
    }
}

vocabulary! {
    /// A condition on the window, evaluated when a transition asks.
    Guard {
        /// cwnd < ssthresh.
        BelowSsthresh = "below_ssthresh",
        /// The ACK number is at or past `recover` (for a duplicate ACK:
        /// SND.UNA is). `recover` starts at ISS+1, so this holds until
        /// [`MarkRecovery`](Action::MarkRecovery) first sets it.
        CoversRecovery = "covers_recovery",
        /// The timer expired again with no new ACK since it last did.
        BackedOff = "backed_off",
        /// The bandwidth estimate grew by less than a quarter in each of
        /// the last three rounds (BBR's full pipe).
        FilledPipe = "filled_pipe",
        /// FlightSize is at most the estimated BDP (bandwidth × min RTT),
        /// or nothing is estimated yet.
        Drained = "drained",
        /// The min RTT was last measured (or lowered) more than 10 s ago.
        MinRttExpired = "min_rtt_expired",
        /// cwnd has been at 4 segments for 200 ms and a round.
        ProbeRttDone = "probe_rtt_done",
    }
}

vocabulary! {
    /// The window arithmetic, in the spec's order. SMSS is the
    /// connection's segment size; FlightSize the bytes sent and not yet
    /// acknowledged when the event was raised.
    Action {
        /// cwnd += bytes acknowledged: byte counting (RFC 3465) without
        /// RFC 5681's limit of one SMSS per ACK (equation 2), as Linux
        /// counts: a receiver that acknowledges a batch of segments at once
        /// (this runtime's, the kernel's with GRO) would otherwise slow the
        /// start down by the batch's size.
        /// An ACK that starts below the recovery point (the data
        /// outstanding at a timeout, being repaired) counts one SMSS at
        /// most (RFC 3465 2.3): it may cover everything the receiver held
        /// beyond a hole.
        GrowSlowStart = "grow_slow_start",
        /// cwnd += SMSS once a cwnd's worth of bytes has been acknowledged
        /// (RFC 5681 3.1, byte counting as RFC 3465).
        GrowAvoidance = "grow_avoidance",
        /// ssthresh = max(FlightSize / 2, 2 * SMSS) (RFC 5681 equation 4).
        ReduceSsthresh = "reduce_ssthresh",
        /// recover = the highest sequence number sent, plus one (RFC 6582).
        MarkRecovery = "mark_recovery",
        /// Retransmit the first unacknowledged segment, whatever cwnd says.
        Retransmit = "retransmit",
        /// cwnd = ssthresh + 3 * SMSS (RFC 5681 3.2, step 4).
        RecoveryWindow = "recovery_window",
        /// cwnd += SMSS (RFC 5681 3.2, step 5).
        Inflate = "inflate",
        /// cwnd -= bytes acknowledged; then cwnd += SMSS if that was at
        /// least SMSS (RFC 6582 3.2, step 5 of a partial ACK). Never below
        /// SMSS.
        DeflatePartial = "deflate_partial",
        /// cwnd = min(ssthresh, max(FlightSize, SMSS) + SMSS) (RFC 6582
        /// 3.2, step 3 of a full ACK).
        Deflate = "deflate",
        /// cwnd = SMSS, the loss window (RFC 5681 3.1).
        LossWindow = "loss_window",
        /// The path model, BBR's: bytes delivered (acknowledged or SACKed
        /// for the first time) counted; a round ends once what was in
        /// flight when it began is delivered, and gives a bandwidth sample
        /// (bytes delivered in the round over its duration), kept as the
        /// maximum of the last 10 rounds; the min RTT the least RTT
        /// measured in 10 s (a new sample replaces an older minimum).
        Model = "model",
        /// cwnd = min(cwnd + delivered, 2 × BDP + extra_acked), at least
        /// 4 × SMSS: grow back towards twice the estimated BDP, never
        /// above it (no cap while nothing is estimated), with room for the
        /// bytes ACKs deliver in bursts beyond the bandwidth (BBR's
        /// extra_acked, the most of the last 10 rounds).
        ModelWindow = "model_window",
        /// cwnd = max(BDP, 4 × SMSS): let the queue that a start built
        /// drain.
        DrainWindow = "drain_window",
        /// cwnd = 4 × SMSS, to measure the RTT with an empty queue; the
        /// first one starts the 200 ms and the round that
        /// [`ProbeRttDone`](Guard::ProbeRttDone) waits for.
        ProbeRttWindow = "probe_rtt_window",
        /// ssthresh = cwnd: a loss does not shrink the window; PRR (the
        /// recovery machine's) sends one for one as the peer delivers.
        KeepWindow = "keep_window",
    }
}

/// The congestion machine names no groups.
pub type Group = crate::side::NoGroup;

/// The congestion machine's vocabulary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CcWords {}

impl Words for CcWords {
    type Event = Event;
    type Guard = Guard;
    type Action = Action;
    type Group = Group;
    const PATH: &'static str = "fsm_runtime::cc";
}

/// A congestion spec bound to the runtime: generated by
/// [`congestion_machine!`](crate::congestion_machine), or loaded at run
/// time.
pub type CongestionMachine = dyn SideMachine<CcWords>;

/// The congestion machine of an endpoint's connections. Cheap to clone.
pub type Congestion = Side<CcWords>;

impl Side<CcWords> {
    /// NewReno, from `congestion.fsm`, compiled in.
    pub fn new_reno() -> Self {
        Side::new(new_reno::Spec)
    }
}

impl Default for Side<CcWords> {
    /// NewReno.
    fn default() -> Self {
        Congestion::new_reno()
    }
}

/// What the guards and actions read of the connection when an event is
/// raised.
#[derive(Clone, Copy, Debug)]
pub struct Facts {
    /// The connection's segment size.
    pub smss: u32,
    /// Bytes sent and not yet acknowledged (after the ACK at hand).
    pub flight: u32,
    /// Bytes the ACK at hand acknowledged (0 but for `new_ack`).
    pub acked: u32,
    /// The ACK number at hand (SND.UNA for duplicate ACKs and timeouts).
    pub ack: SeqNum,
    /// The highest sequence number sent, plus one.
    pub snd_max: SeqNum,
    /// The timer expired before, with no new ACK since.
    pub backed_off: bool,
    /// When the event was raised.
    pub now: Instant,
    /// Bytes the ACK at hand delivered: acknowledged or SACKed for the
    /// first time.
    pub delivered: u32,
    /// The shortest RTT the ACK at hand measured, from segments sent once.
    pub rtt: Option<Duration>,
}

/// BBR's model of the path (draft-ietf-ccwg-bbr 4.1, rounds and samples
/// taken per round trip rather than per packet): what the `model` action
/// keeps and the `model_window`, `drain_window` and `probe_rtt_window`
/// actions and the BBR guards read.
#[derive(Clone, Debug, Default, Hash)]
pub struct PathModel {
    /// Bytes delivered so far.
    pub delivered: u64,
    /// Rounds completed.
    pub rounds: u64,
    /// When the current round began, and `delivered` then.
    round_start: Option<(Instant, u64)>,
    /// The round ends when `delivered` reaches this.
    round_end: u64,
    /// Bandwidth samples of the last 10 rounds, bytes per second.
    samples: [u64; BW_ROUNDS],
    /// The least RTT measured within `MIN_RTT_WINDOW`, and when.
    min_rtt: Option<(Duration, Instant)>,
    /// The bandwidth to beat by a quarter, and the rounds it was not.
    full_bw: u64,
    full_bw_rounds: u32,
    /// Since when, and from which round, cwnd has been at 4 segments.
    probe_rtt: Option<(Instant, u64)>,
    /// The ACK-aggregation epoch: since when, and the bytes delivered
    /// in it.
    epoch: Option<(Instant, u64)>,
    /// The most delivered beyond what the bandwidth explains, per round
    /// of the last 10.
    extra: [u64; BW_ROUNDS],
}

const BW_ROUNDS: usize = 10;
const NANOS: u128 = 1_000_000_000;

/// The bytes `bw` bytes per second carry in `d`.
fn bytes_at(bw: u64, d: Duration) -> u64 {
    u64::try_from(u128::from(bw) * d.as_nanos() / NANOS).unwrap_or(u64::MAX)
}
/// The largest window (RFC 7323 2.3).
const MAX_WINDOW: u32 = 1 << 30;
const MIN_RTT_WINDOW: Duration = Duration::from_secs(10);
const PROBE_RTT_TIME: Duration = Duration::from_millis(200);
/// BBR's smallest window, in segments.
const MIN_SEGMENTS: u32 = 4;

impl PathModel {
    /// The bandwidth estimate, bytes per second (0 before a round ends).
    pub fn bandwidth(&self) -> u64 {
        self.samples.iter().copied().max().unwrap_or(0)
    }

    /// The min RTT, once measured.
    pub fn min_rtt(&self) -> Option<Duration> {
        self.min_rtt.map(|(d, _)| d)
    }

    /// Bandwidth × min RTT, bytes, once both are measured.
    pub fn bdp(&self) -> Option<u32> {
        let bw = self.bandwidth();
        let rtt = self.min_rtt()?;
        (bw > 0).then(|| u32::try_from(bytes_at(bw, rtt)).unwrap_or(u32::MAX))
    }

    /// The bytes ACKs delivered beyond what the bandwidth estimate
    /// explains, the most in the last 10 rounds (BBR's extra_acked: a
    /// receiver that acknowledges in batches, or a host that takes in
    /// datagrams in batches, makes them arrive in bursts).
    pub fn extra_acked(&self) -> u64 {
        self.extra.iter().copied().max().unwrap_or(0)
    }

    fn aggregation(&mut self, now: Instant, delivered: u64) {
        let bw = self.bandwidth();
        let expected = |start: Instant| bytes_at(bw, now.saturating_duration_since(start));
        // The epoch goes on while the ACKs stay ahead of the estimate; a
        // new one starts when they fell back to it (or after 1 MiB, so
        // that one slow estimate does not count forever).
        let (start, acked) = match self.epoch {
            Some((start, acked)) if acked > expected(start) && acked + delivered < 1 << 20 => {
                (start, acked + delivered)
            }
            _ => (now, delivered),
        };
        self.epoch = Some((start, acked));
        let slot = &mut self.extra[(self.rounds % BW_ROUNDS as u64) as usize];
        *slot = (*slot).max(acked.saturating_sub(expected(start)));
    }

    fn update(&mut self, facts: &Facts) {
        let now = facts.now;
        self.delivered += u64::from(facts.delivered);
        if self.bandwidth() > 0 {
            self.aggregation(now, u64::from(facts.delivered));
        }
        if let Some(rtt) = facts.rtt {
            let expired = self.min_rtt.is_none_or(|(m, at)| {
                rtt <= m || now.saturating_duration_since(at) > MIN_RTT_WINDOW
            });
            if expired {
                self.min_rtt = Some((rtt, now));
            }
        }
        let Some((began, delivered_then)) = self.round_start else {
            self.start_round(now, facts.flight);
            return;
        };
        // A round shorter than the min RTT measures a burst of ACKs, not
        // the path (the rate sample's interval rule): it goes on.
        let took = now.saturating_duration_since(began);
        if self.delivered < self.round_end || self.min_rtt().is_none_or(|m| took < m) {
            return;
        }
        let bytes = u128::from(self.delivered - delivered_then);
        let sample = u64::try_from(bytes * NANOS / took.as_nanos().max(1)).unwrap_or(u64::MAX);
        self.rounds += 1;
        let slot = (self.rounds % BW_ROUNDS as u64) as usize;
        self.samples[slot] = sample;
        self.extra[slot] = 0;
        // Full pipe (draft-ietf-ccwg-bbr 4.3.1.2): three rounds without
        // a quarter's growth.
        let bw = self.bandwidth();
        if bw >= self.full_bw.saturating_add(self.full_bw / 4) {
            self.full_bw = bw;
            self.full_bw_rounds = 0;
        } else {
            self.full_bw_rounds += 1;
        }
        self.start_round(now, facts.flight);
    }

    fn start_round(&mut self, now: Instant, flight: u32) {
        self.round_start = Some((now, self.delivered));
        self.round_end = self.delivered + u64::from(flight.max(1));
    }

    fn fingerprint<H: std::hash::Hasher>(&self, now: Instant, h: &mut H) {
        use crate::fingerprint::opt_time;
        use std::hash::Hash;
        let PathModel {
            delivered,
            rounds,
            round_start,
            round_end,
            samples,
            min_rtt,
            full_bw,
            full_bw_rounds,
            probe_rtt,
            epoch,
            extra,
        } = self;
        (
            delivered,
            rounds,
            round_end,
            samples,
            full_bw,
            full_bw_rounds,
        )
            .hash(h);
        round_start.map(|(_, d)| d).hash(h);
        opt_time(h, now, round_start.map(|(at, _)| at));
        min_rtt.map(|(d, _)| d).hash(h);
        opt_time(h, now, min_rtt.map(|(_, at)| at));
        (extra, epoch.map(|(_, a)| a)).hash(h);
        opt_time(h, now, epoch.map(|(at, _)| at));
        probe_rtt.map(|(_, r)| r).hash(h);
        opt_time(h, now, probe_rtt.map(|(at, _)| at));
    }
}

/// A connection's congestion state: the machine's state and the numbers
/// its actions keep.
#[derive(Clone, Debug)]
pub struct Window {
    /// The machine's state.
    pub state: StateRef,
    cwnd: Option<u32>,
    /// The slow start threshold (`u32::MAX`, "arbitrarily high", at
    /// first).
    pub ssthresh: u32,
    /// The recovery point.
    pub recover: SeqNum,
    /// Bytes acknowledged towards the next congestion-avoidance increase.
    avoidance: u32,
    /// The initial window in segments; `None`: RFC 6928's.
    initial_segments: Option<u32>,
    /// BBR's path model, kept by the `model` action.
    pub model: PathModel,
    /// The pair fired last (a self-loop is traced once).
    pub(crate) last_transition: Option<u32>,
}

/// RFC 6928's initial window: min(10 * SMSS, max(2 * SMSS, 14600)).
pub fn initial_window(smss: u32) -> u32 {
    (10 * smss).min((2 * smss).max(14_600))
}

impl Window {
    /// A window in `machine`'s initial state; `initial_segments` overrides
    /// RFC 6928's initial window.
    pub fn new(machine: &CongestionMachine, initial_segments: Option<u32>) -> Self {
        Window {
            state: machine.initial(),
            cwnd: None,
            ssthresh: u32::MAX,
            recover: SeqNum(0),
            avoidance: 0,
            initial_segments,
            model: PathModel::default(),
            last_transition: None,
        }
    }

    /// Feeds everything but the pair traced last to `h`, times relative to
    /// `now` (see [`crate::fingerprint`]).
    pub(crate) fn fingerprint<H: std::hash::Hasher>(&self, now: Instant, h: &mut H) {
        use std::hash::Hash;
        let Window {
            state,
            cwnd,
            ssthresh,
            recover,
            avoidance,
            initial_segments,
            model,
            last_transition: _,
        } = self;
        (state, cwnd, ssthresh, recover, avoidance, initial_segments).hash(h);
        model.fingerprint(now, h);
    }

    /// The recovery point starts just past the ISS.
    pub fn start(&mut self, iss: SeqNum) {
        self.recover = iss + 1;
    }

    /// cwnd, in bytes, for segments of `smss` bytes: at most 2^30, the
    /// largest window TCP can offer (RFC 7323 2.3), whatever a spec's
    /// arithmetic reached.
    pub fn cwnd(&self, smss: u32) -> u32 {
        self.cwnd
            .unwrap_or_else(|| match self.initial_segments {
                Some(n) => n.max(1).saturating_mul(smss),
                None => initial_window(smss),
            })
            .min(MAX_WINDOW)
    }

    /// The value of `guard` for the event at hand.
    pub fn guard(&self, guard: Guard, facts: &Facts) -> bool {
        match guard {
            Guard::BelowSsthresh => self.cwnd(facts.smss) < self.ssthresh,
            Guard::CoversRecovery => facts.ack.ge(self.recover),
            Guard::BackedOff => facts.backed_off,
            Guard::FilledPipe => self.model.full_bw_rounds >= 3,
            Guard::Drained => self.model.bdp().is_none_or(|bdp| facts.flight <= bdp),
            Guard::MinRttExpired => self
                .model
                .min_rtt
                .is_some_and(|(_, at)| facts.now.saturating_duration_since(at) > MIN_RTT_WINDOW),
            Guard::ProbeRttDone => self.model.probe_rtt.is_some_and(|(since, round)| {
                facts.now.saturating_duration_since(since) >= PROBE_RTT_TIME
                    && self.model.rounds > round
            }),
        }
    }

    /// Carries out `action`; answers whether the segment at SND.UNA is to
    /// be retransmitted.
    pub fn perform(&mut self, action: Action, facts: &Facts) -> bool {
        let smss = facts.smss.max(1);
        let cwnd = self.cwnd(smss);
        let set = |w: &mut Window, v: u32| w.cwnd = Some(v.max(smss));
        match action {
            Action::GrowSlowStart => {
                // An ACK that starts below the recovery point after a
                // timeout may cover a hole the retransmission filled and
                // all the data the receiver held beyond it: at most one
                // SMSS for it (RFC 3465 2.3), or the window would leap to
                // a burst that size.
                let repairing = (facts.ack - facts.acked as usize).lt(self.recover);
                let grow = if repairing {
                    facts.acked.min(smss)
                } else {
                    facts.acked
                };
                set(self, cwnd.saturating_add(grow))
            }
            Action::GrowAvoidance => {
                self.avoidance = self.avoidance.saturating_add(facts.acked);
                if self.avoidance >= cwnd {
                    self.avoidance -= cwnd;
                    set(self, cwnd.saturating_add(smss));
                }
            }
            Action::ReduceSsthresh => self.ssthresh = (facts.flight / 2).max(2 * smss),
            Action::MarkRecovery => self.recover = facts.snd_max,
            Action::Retransmit => return true,
            Action::RecoveryWindow => set(self, self.ssthresh.saturating_add(3 * smss)),
            Action::Inflate => set(self, cwnd.saturating_add(smss)),
            Action::DeflatePartial => {
                let mut v = cwnd.saturating_sub(facts.acked);
                if facts.acked >= smss {
                    v = v.saturating_add(smss);
                }
                set(self, v);
            }
            Action::Deflate => set(self, self.ssthresh.min(facts.flight.max(smss) + smss)),
            Action::LossWindow => {
                self.avoidance = 0;
                set(self, smss);
            }
            Action::Model => self.model.update(facts),
            Action::ModelWindow => {
                self.model.probe_rtt = None;
                let floor = MIN_SEGMENTS * smss;
                let grown = cwnd.saturating_add(facts.delivered);
                let extra = u32::try_from(self.model.extra_acked()).unwrap_or(u32::MAX);
                let v = match self.model.bdp() {
                    Some(bdp) => grown.min(bdp.saturating_mul(2).saturating_add(extra).max(floor)),
                    None => grown,
                };
                set(self, v.max(floor));
            }
            Action::DrainWindow => {
                self.model.probe_rtt = None;
                let bdp = self.model.bdp().unwrap_or(cwnd);
                set(self, bdp.max(MIN_SEGMENTS * smss));
            }
            Action::ProbeRttWindow => {
                let round = self.model.rounds;
                self.model.probe_rtt.get_or_insert((facts.now, round));
                set(self, MIN_SEGMENTS * smss);
            }
            Action::KeepWindow => self.ssthresh = cwnd.max(2 * smss),
        }
        false
    }
}

/// Binds a congestion spec file to the runtime: generates its machine with
/// `fsm!`, checked against [this vocabulary](self), and a unit struct
/// `Spec` implementing [`CongestionMachine`]. The path is relative to the
/// calling crate's `CARGO_MANIFEST_DIR`.
///
/// ```
/// mod tahoe {
///     fsm_runtime::congestion_machine!("../examples/specs/congestion/tahoe.fsm");
/// }
///
/// let mut config = fsm_runtime::Config::default();
/// config.congestion = fsm_runtime::cc::Congestion::new(tahoe::Spec);
/// assert_eq!(config.congestion.machine().name(), "Tahoe");
/// ```
#[macro_export]
macro_rules! congestion_machine {
    ($path:literal) => {
        $crate::__side_machine!(
            $path,
            cc,
            CcWords,
            events: [new_ack, dup_ack, third_dup_ack, rto],
            guards: [
                below_ssthresh,
                covers_recovery,
                backed_off,
                filled_pipe,
                drained,
                min_rtt_expired,
                probe_rtt_done
            ],
            actions: [
                grow_slow_start,
                grow_avoidance,
                reduce_ssthresh,
                mark_recovery,
                retransmit,
                recovery_window,
                inflate,
                deflate_partial,
                deflate,
                loss_window,
                model,
                model_window,
                drain_window,
                probe_rtt_window,
                keep_window
            ],
            groups: [],
        );
    };
}

/// NewReno, generated from `congestion.fsm`: the default congestion
/// machine.
pub mod new_reno {
    crate::congestion_machine!("../congestion.fsm");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(acked: u32) -> Facts {
        Facts {
            smss: 1460,
            flight: 0,
            acked,
            ack: SeqNum(acked),
            snd_max: SeqNum(acked),
            backed_off: false,
            now: Instant::now(),
            delivered: acked,
            rtt: None,
        }
    }

    /// However far a spec's arithmetic takes cwnd (a window that only
    /// grows saturates at u32::MAX), the sender sees at most 2^30: a
    /// window of u32::MAX wraps SND.UNA + cwnd round to behind SND.NXT and
    /// would stop the sender.
    #[test]
    fn cwnd_never_exceeds_the_largest_window() {
        let mut w = Window::new(Congestion::new_reno().machine(), None);
        for _ in 0..4 {
            w.perform(Action::GrowSlowStart, &facts(u32::MAX / 2));
        }
        assert_eq!(w.cwnd(1460), MAX_WINDOW);
    }

    /// A round shorter than the min RTT gives no bandwidth sample (a
    /// burst of ACKs would measure the host, not the path), the BDP is
    /// bandwidth × min RTT, and bursts of ACKs beyond the bandwidth are
    /// measured.
    #[test]
    fn the_model_samples_bandwidth_once_per_round_of_at_least_the_min_rtt() {
        let mut m = PathModel::default();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let ack = |now, delivered, flight, rtt| Facts {
            flight,
            now,
            delivered,
            rtt,
            ..facts(0)
        };
        m.update(&ack(t0, 0, 10_000, Some(ms(10))));
        // 10,000 bytes delivered after 1 ms: the round is over by bytes,
        // not by time.
        m.update(&ack(t0 + ms(1), 10_000, 10_000, None));
        assert_eq!((m.rounds, m.bandwidth()), (0, 0));
        // 20,000 after 10 ms: 2 MB/s; BDP 20,000 bytes.
        m.update(&ack(t0 + ms(10), 10_000, 10_000, Some(ms(12))));
        assert_eq!((m.rounds, m.bandwidth()), (1, 2_000_000));
        assert_eq!(m.min_rtt(), Some(ms(10)));
        assert_eq!(m.bdp(), Some(20_000));
        // At 2 MB/s, 1 ms explains 2,000 bytes: an ACK of 10,000 starts
        // an epoch, and one of 6,000 more a millisecond later is 14,000
        // beyond the 2,000 the bandwidth explains (BBR's extra_acked).
        assert_eq!(m.extra_acked(), 0);
        m.update(&ack(t0 + ms(11), 10_000, 10_000, None));
        assert_eq!(m.extra_acked(), 10_000);
        m.update(&ack(t0 + ms(12), 6_000, 10_000, None));
        assert_eq!(m.extra_acked(), 14_000);
    }
}
