//! Congestion control: the runtime's second machine. Every connection runs
//! a congestion machine beside its connection machine; the connection
//! keeps at most min(cwnd, the peer's window) bytes of new data in flight.
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
//!   [`ThirdDupAck`](Event::ThirdDupAck) instead for the third in a row
//!   (DupThresh, RFC 5681 3.2); the count starts again at each new ACK.
//! * [`Rto`](Event::Rto): the retransmission timer expired, before the
//!   connection goes back to SND.UNA to send again (and also when it
//!   expires for a SYN: RFC 5681 3.1 starts such a connection from one
//!   segment).
//!
//! # What the runtime does without asking
//!
//! Retransmitting after a timeout (going back to SND.UNA, within cwnd),
//! and probing a zero window. Fast retransmit is the spec's
//! [`Retransmit`](Action::Retransmit); a spec without it recovers from
//! losses by timeouts only. The retransmission timer restarts on every
//! ACK of new data (RFC 6298 5.3) except one the spec answered with
//! `retransmit` after an earlier such ACK: only the first partial ACK of
//! a recovery restarts it (RFC 6582 3.2 step 5, the "Impatient"
//! variant), so a window that lost many segments falls back on the timer
//! and slow start instead of repairing one hole per round trip.

use std::fmt;
use std::sync::Arc;

use crate::vocab::{StateRef, StepMark, TransitionInfo, Word, Words, vocabulary};
use crate::wire::SeqNum;

vocabulary! {
    /// What happened, as the congestion machine hears it.
    Event {
        /// An ACK of new data: SND.UNA advanced.
        NewAck = "new_ack",
        /// A duplicate ACK (RFC 5681 section 2), the first or second in a
        /// row, or the fourth and later.
        DupAck = "dup_ack",
        /// The third duplicate ACK in a row.
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
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Group {}

impl fmt::Display for Group {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {}
    }
}

impl Word for Group {
    const ALL: &'static [Group] = &[];

    fn name(self) -> &'static str {
        match self {}
    }

    fn index(self) -> usize {
        match self {}
    }
}

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

/// A transition of the congestion machine that fired.
#[derive(Clone, Copy, Debug)]
pub struct CcFired {
    /// The state it entered.
    pub to: StateRef,
    /// Its actions, in order.
    pub actions: &'static [Action],
    /// Index of the (transition, source state) pair in the spec's table.
    pub transition: u32,
}

/// A congestion spec bound to the runtime: generated by
/// [`congestion_machine!`](crate::congestion_machine), or loaded at run
/// time.
pub trait CongestionMachine: fmt::Debug + Send + Sync + 'static {
    /// The machine's name (`NewReno`).
    fn name(&self) -> &'static str;
    /// The spec's file.
    fn spec(&self) -> &str;
    /// The initial state.
    fn initial(&self) -> StateRef;
    /// How many (transition, source state) pairs the spec has.
    fn pairs(&self) -> usize;
    /// The transition for `event` in `state`, if the spec has one whose
    /// guard holds.
    fn step(
        &self,
        state: StateRef,
        event: Event,
        guards: &dyn Fn(Guard) -> bool,
    ) -> Option<CcFired>;
    /// Describes pair `index`.
    fn transition(&self, index: u32) -> TransitionInfo;
    /// Typical-path steps of pair `index`.
    fn transition_steps(&self, index: u32) -> Vec<StepMark>;
    /// The spec as the generator read it, for a machine loaded at run
    /// time; `None` for one compiled in (its file is [`Self::spec`],
    /// relative to the crate that bound it).
    #[cfg(feature = "load")]
    fn source(&self) -> Option<&fsm_codegen::Spec> {
        None
    }
}

/// The congestion machine of an endpoint's connections. Cheap to clone.
#[derive(Clone)]
pub struct Congestion(Arc<dyn CongestionMachine>);

impl Congestion {
    /// `machine`, for an endpoint's connections.
    pub fn new(machine: impl CongestionMachine) -> Self {
        Congestion(Arc::new(machine))
    }

    /// NewReno, from `congestion.fsm`, compiled in.
    pub fn new_reno() -> Self {
        Congestion::new(new_reno::Spec)
    }

    /// Reads, checks and binds the congestion spec at `path` (see
    /// [`Loaded`](crate::loaded::Loaded) for the connection machine).
    #[cfg(feature = "load")]
    pub fn load(path: impl AsRef<std::path::Path>) -> Result<Self, fsm_codegen::LoadError> {
        let spec = fsm_codegen::load(path)?;
        Congestion::from_spec(spec).map_err(fsm_codegen::LoadError::Rejected)
    }

    /// Checks and binds a congestion spec given as text.
    #[cfg(feature = "load")]
    pub fn compile(file_name: &str, source: &str) -> Result<Self, fsm_codegen::Rejected> {
        Congestion::from_spec(fsm_codegen::compile(file_name, source)?)
    }

    /// Binds a spec the generator accepted, if it fits this vocabulary.
    #[cfg(feature = "load")]
    pub fn from_spec(spec: fsm_codegen::Spec) -> Result<Self, fsm_codegen::Rejected> {
        let bound = crate::loaded::Bound::<CcWords>::bind(spec)?;
        Ok(Congestion::new(bound))
    }

    /// The machine.
    pub fn machine(&self) -> &dyn CongestionMachine {
        &*self.0
    }
}

impl Default for Congestion {
    /// NewReno.
    fn default() -> Self {
        Congestion::new_reno()
    }
}

impl fmt::Debug for Congestion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Congestion({} from {})", self.0.name(), self.0.spec())
    }
}

#[cfg(feature = "load")]
impl CongestionMachine for crate::loaded::Bound<CcWords> {
    fn name(&self) -> &'static str {
        self.name
    }

    fn spec(&self) -> &str {
        &self.file_name
    }

    fn initial(&self) -> StateRef {
        self.initial
    }

    fn pairs(&self) -> usize {
        self.transitions.len()
    }

    fn step(
        &self,
        state: StateRef,
        event: Event,
        guards: &dyn Fn(Guard) -> bool,
    ) -> Option<CcFired> {
        let (to, actions, transition) = crate::loaded::Bound::step(self, state, event, guards)?;
        Some(CcFired {
            to,
            actions,
            transition,
        })
    }

    fn transition(&self, index: u32) -> TransitionInfo {
        self.transitions[index as usize]
    }

    fn transition_steps(&self, index: u32) -> Vec<StepMark> {
        crate::loaded::Bound::transition_steps(self, index).to_vec()
    }

    fn source(&self) -> Option<&fsm_codegen::Spec> {
        Some(self.source())
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
    pub fn new(machine: &dyn CongestionMachine, initial_segments: Option<u32>) -> Self {
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
        $crate::__private::fsm!(
            $path,
            vocabulary = ::fsm_runtime::cc {
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
            }
        );

        /// This congestion spec, bound to the runtime.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Spec;

        impl $crate::cc::CongestionMachine for Spec {
            fn name(&self) -> &'static str {
                MACHINE
            }

            fn spec(&self) -> &str {
                $path
            }

            fn initial(&self) -> $crate::vocab::StateRef {
                $crate::vocab::StateRef::of(State::INITIAL.index(), State::INITIAL.name())
            }

            fn pairs(&self) -> usize {
                TRANSITIONS.len()
            }

            fn step(
                &self,
                state: $crate::vocab::StateRef,
                event: $crate::cc::Event,
                guards: &dyn Fn($crate::cc::Guard) -> bool,
            ) -> Option<$crate::cc::CcFired> {
                // Each pair's actions as vocabulary words, built once.
                static ACTIONS: ::std::sync::OnceLock<Vec<Vec<$crate::cc::Action>>> =
                    ::std::sync::OnceLock::new();
                let from = *State::ALL.get(state.index())?;
                let event = Event::from_vocabulary(event)?;
                let s = step(from, event, &|g: Guard| guards(g.to_vocabulary())).ok()?;
                let actions = ACTIONS.get_or_init(|| {
                    TRANSITIONS
                        .iter()
                        .map(|t| t.actions.iter().map(|a| a.to_vocabulary()).collect())
                        .collect()
                });
                Some($crate::cc::CcFired {
                    to: $crate::vocab::StateRef::of(s.to.index(), s.to.name()),
                    actions: actions
                        .get(s.transition as usize)
                        .map_or(&[], Vec::as_slice),
                    transition: s.transition,
                })
            }

            fn transition(&self, index: u32) -> $crate::vocab::TransitionInfo {
                $crate::__transition_info!(index)
            }

            fn transition_steps(&self, index: u32) -> Vec<$crate::vocab::StepMark> {
                $crate::__step_marks!(TRANSITIONS[index as usize].steps).collect()
            }
        }
    };
}

/// NewReno, generated from `congestion.fsm`: the default congestion
/// machine.
pub mod new_reno {
    crate::congestion_machine!("../congestion.fsm");
}
