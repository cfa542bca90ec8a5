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
            last_transition: None,
        }
    }

    /// Feeds everything but the pair traced last to `h` (see
    /// [`crate::fingerprint`]).
    pub(crate) fn fingerprint<H: std::hash::Hasher>(&self, h: &mut H) {
        use std::hash::Hash;
        let Window {
            state,
            cwnd,
            ssthresh,
            recover,
            avoidance,
            initial_segments,
            last_transition: _,
        } = self;
        (state, cwnd, ssthresh, recover, avoidance, initial_segments).hash(h);
    }

    /// The recovery point starts just past the ISS.
    pub fn start(&mut self, iss: SeqNum) {
        self.recover = iss + 1;
    }

    /// cwnd, in bytes, for segments of `smss` bytes.
    pub fn cwnd(&self, smss: u32) -> u32 {
        self.cwnd.unwrap_or_else(|| match self.initial_segments {
            Some(n) => n.max(1).saturating_mul(smss),
            None => initial_window(smss),
        })
    }

    /// The value of `guard` for the event at hand.
    pub fn guard(&self, guard: Guard, facts: &Facts) -> bool {
        match guard {
            Guard::BelowSsthresh => self.cwnd(facts.smss) < self.ssthresh,
            Guard::CoversRecovery => facts.ack.ge(self.recover),
            Guard::BackedOff => facts.backed_off,
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
            guards: [below_ssthresh, covers_recovery, backed_off],
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
                loss_window
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
