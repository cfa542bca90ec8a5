//! The runtime's vocabulary: the events it raises, the guards it evaluates
//! and the actions it carries out. A spec arranges these words into states
//! and transitions as it likes; [`machine!`](crate::machine) binds a spec to
//! the runtime and rejects, at compile time, a spec that uses a word not
//! listed here (naming the word and its line).
//!
//! The runtime decides *what happened* (which event), the spec decides *what
//! it means* (which transition, which actions). The runtime never asks which
//! state the machine is in.
//!
//! # When each segment event is raised
//!
//! Segments are first classified by what the TCB knows, following RFC 9293
//! section 3.10.7:
//!
//! * **listening TCB** (no peer yet): RST → [`RcvRst`](Event::RcvRst); an
//!   ACK → [`RcvBadAck`](Event::RcvBadAck); a SYN →
//!   [`RcvSyn`](Event::RcvSyn); anything else is dropped.
//! * **our SYN sent, theirs not received**: an ACK outside
//!   ISS < SEG.ACK ≤ SND.NXT → `RcvBadAck` (an RST so acknowledged is
//!   dropped); RST with an acceptable ACK → `RcvRst` (without, dropped);
//!   SYN with an acceptable ACK → [`RcvSynAck`](Event::RcvSynAck); SYN alone
//!   → `RcvSyn`; anything else is dropped.
//! * **synchronized** (the peer's SYN received): a segment failing the
//!   acceptability test of RFC 9293 table 6 →
//!   [`RcvUnacceptable`](Event::RcvUnacceptable) (an RST is dropped); an
//!   RST at exactly RCV.NXT → `RcvRst`, elsewhere in the window →
//!   [`RcvRstInWindow`](Event::RcvRstInWindow) (RFC 5961); a SYN → `RcvSyn`;
//!   no ACK → dropped; while our SYN is unacknowledged an ACK outside
//!   SND.UNA < SEG.ACK ≤ SND.NXT → `RcvBadAck`; an ACK of data not yet sent
//!   or older than the largest window → `RcvUnacceptable` (RFC 5961 5.2).
//!   Otherwise, in RFC 9293's order: the ACK (step 5): what it acknowledges
//!   of our data is taken in, and if it also acknowledges our SYN or our
//!   FIN, [`RcvAck`](Event::RcvAck) is raised; the text (step 7): taken in
//!   and acknowledged if the state is in the spec's group `open`, else
//!   dropped unacknowledged; the FIN (step 8): once reached in sequence (or
//!   the peer's FIN again), [`RcvFin`](Event::RcvFin). A segment that
//!   acknowledges our FIN and brings the peer's FIN with nothing before it
//!   left to take in is the figure's "FIN+ACK": `RcvFin` alone, with
//!   [`FinAcked`](Guard::FinAcked) true, if the spec has a transition for
//!   that; else `RcvAck`, then `RcvFin`.
//! * **no TCB**: anything but an RST → [`RcvSegment`](Event::RcvSegment),
//!   handled by a machine in its initial state.
//!
//! # The spec decides
//!
//! An event the spec has no transition for in the current state changes
//! nothing: a segment's FIN is not taken in (nor acknowledged, nor seen by
//! the application as the end of the stream), the part of an ACK that
//! covers our SYN or FIN is not taken in, a call fails, a timer event is
//! not even armed. What an event carries is taken in only once the spec
//! has answered with a transition, before that transition's actions run.
//!
//! What the runtime does without asking, because no event is involved:
//! taking in the data part of acceptable ACKs (freeing the send buffer,
//! RTT samples, the peer's window), retransmitting and probing what the
//! spec's actions sent, and taking in (and acknowledging) data while the
//! state is in the group `open`. Timers beyond the RFC are events too:
//! [`LingerTimeout`](Event::LingerTimeout) exists only where a spec gives
//! it a transition.
//!
//! # What the runtime reads from the spec's states
//!
//! One group: `open`, the states in which the connection is open. A
//! connect returns, and a listener queues a connection for accept, when it
//! enters one; data arriving is taken in (and so acknowledged) only in
//! one; queued data and our FIN are sent only in one. Bytes taken in stay
//! readable whatever the machine does next, until the application reads
//! them or aborts.

use std::fmt;

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$doc:meta])* $variant:ident = $word:literal,)* }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name {
            $($(#[$doc])* $variant,)*
        }

        impl $name {
            /// Every word, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),*];

            /// The word as a spec writes it.
            pub const fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $word,)*
                }
            }
        }

        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl $crate::vocab::Word for $name {
            const ALL: &'static [$name] = $name::ALL;

            fn name(self) -> &'static str {
                $name::name(self)
            }

            fn index(self) -> usize {
                self as usize
            }
        }
    };
}

// The congestion machine's vocabulary (`cc.rs`) is written the same way.
pub(crate) use vocabulary;

/// A word of a vocabulary: an event, a guard, an action or a group.
pub trait Word:
    Copy + Eq + std::hash::Hash + fmt::Debug + fmt::Display + Send + Sync + 'static
{
    /// Every word, in declaration order.
    const ALL: &'static [Self];
    /// The word as a spec writes it.
    fn name(self) -> &'static str;
    /// Its position in [`Self::ALL`].
    fn index(self) -> usize;

    /// The word a spec calls `name`, if any.
    fn named(name: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|w| w.name() == name)
    }
}

/// A vocabulary: the words a runtime offers the specs bound to it. The
/// runtime has two: [`TcpWords`] for the connection machine (this module)
/// and [`CcWords`](crate::cc::CcWords) for the congestion machine.
pub trait Words: 'static {
    /// What happened.
    type Event: Word;
    /// Conditions the runtime evaluates.
    type Guard: Word;
    /// What the runtime does.
    type Action: Word;
    /// Sets of states the runtime reads.
    type Group: Word;
    /// The vocabulary's path, as messages name it (`fsm_runtime::vocab`).
    const PATH: &'static str;
}

/// The connection machine's vocabulary: [`Event`], [`Guard`], [`Action`],
/// [`Group`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TcpWords {}

impl Words for TcpWords {
    type Event = Event;
    type Guard = Guard;
    type Action = Action;
    type Group = Group;
    const PATH: &'static str = "fsm_runtime::vocab";
}

vocabulary! {
    /// What happened: an application call, a classified segment, a timer.
    Event {
        /// The application listens (`Endpoint::listen`).
        PassiveOpen = "passive_open",
        /// The application connects (`Endpoint::connect`).
        ActiveOpen = "active_open",
        /// The application writes data.
        Send = "send",
        /// The application has no more to send (`shutdown(Write)`, `close`).
        Close = "close",
        /// The application aborts the connection.
        Abort = "abort",
        /// A SYN (see the module docs for each regime).
        RcvSyn = "rcv_syn",
        /// A SYN with an acceptable ACK, while our SYN is outstanding.
        RcvSynAck = "rcv_syn_ack",
        /// An ACK that acknowledged our SYN or our FIN.
        RcvAck = "rcv_ack",
        /// The peer's FIN, reached in sequence, or the same FIN again.
        RcvFin = "rcv_fin",
        /// An acceptable RST.
        RcvRst = "rcv_rst",
        /// An RST in the window but not at RCV.NXT (RFC 5961 3.2).
        RcvRstInWindow = "rcv_rst_in_window",
        /// An ACK of something never sent.
        RcvBadAck = "rcv_bad_ack",
        /// A segment outside the receive window, or acknowledging data not
        /// yet sent.
        RcvUnacceptable = "rcv_unacceptable",
        /// A segment (not an RST) for which no TCB exists.
        RcvSegment = "rcv_segment",
        /// The 2*MSL timer expired.
        TimeWaitTimeout = "time_wait_timeout",
        /// Data (or our SYN or FIN) stayed unacknowledged for the user
        /// timeout, was retransmitted `Config::max_retransmissions` times,
        /// or a connect took longer than its timeout.
        UserTimeout = "user_timeout",
        /// Our FIN is acknowledged and the peer's has not come for
        /// `Config::linger` (beyond the RFC, like Linux's
        /// `tcp_fin_timeout`). Armed only where the spec has a transition
        /// for it.
        LingerTimeout = "linger_timeout",
    }
}

vocabulary! {
    /// A condition the runtime evaluates when a transition asks.
    Guard {
        /// The connection was opened passively: it never sent a SYN of its
        /// own before the peer's (RFC 9293 MUST-11).
        Passive = "passive",
        /// Our FIN has been sent and acknowledged. For an event raised by
        /// an ACK (`rcv_ack`, or `rcv_fin` on a FIN+ACK), that ACK counts:
        /// `FIN_WAIT_1 -> FIN_WAIT_2 on rcv_ack [fin_acked]` is the ACK of
        /// our FIN, not of our SYN.
        FinAcked = "fin_acked",
        /// The remote socket is known (a fully specified passive OPEN).
        PeerKnown = "peer_known",
    }
}

vocabulary! {
    /// A set of states the runtime reads from the spec (see the module
    /// docs).
    Group {
        /// The connection is open: connect returns, accept yields, data is
        /// taken in and sent.
        Open = "open",
    }
}

vocabulary! {
    /// Something the runtime does when a transition says so, in the
    /// spec's order.
    Action {
        /// Choose the ISS if not yet chosen; send `<SEQ=ISS><CTL=SYN>` with
        /// our MSS; SND.UNA=ISS, SND.NXT=ISS+1; start retransmitting it.
        SendSyn = "send_syn",
        /// Choose the ISS if not yet chosen; send
        /// `<SEQ=ISS><ACK=RCV.NXT><CTL=SYN,ACK>`; start retransmitting it.
        SendSynAck = "send_syn_ack",
        /// Send `<SEQ=SND.NXT><ACK=RCV.NXT><CTL=ACK>`.
        SendAck = "send_ack",
        /// Queue a FIN after all data written so far.
        SendFin = "send_fin",
        /// Answer the segment at hand with a reset: `<SEQ=SEG.ACK><CTL=RST>`
        /// if it has an ACK, else `<SEQ=0><ACK=SEG.SEQ+SEG.LEN><CTL=RST,ACK>`.
        ReplyRst = "reply_rst",
        /// Send `<SEQ=SND.NXT><CTL=RST>` (ABORT).
        SendRst = "send_rst",
        /// Send a challenge ACK (RFC 5961), rate-limited.
        SendChallengeAck = "send_challenge_ack",
        /// Start (or restart) the 2*MSL timer; stop retransmitting.
        StartTimeWait = "start_time_wait",
        /// Create the TCB.
        CreateTcb = "create_tcb",
        /// Delete the TCB: the connection is gone.
        DeleteTcb = "delete_tcb",
        /// Take in the peer's SYN: IRS=SEG.SEQ, RCV.NXT=SEG.SEQ+1, its MSS
        /// and window.
        InitRcv = "init_rcv",
        /// Forget the peer: a listening TCB again, which the endpoint drops
        /// (its listener still listens).
        ForgetPeer = "forget_peer",
        /// Queue the data of the SEND call at hand.
        QueueData = "queue_data",
        /// Flush the send queue and the data not yet acknowledged (out of
        /// order). Data acknowledged stays readable: the application reads
        /// it, then sees the error the spec reports, if any.
        Flush = "flush",
        /// Tell the application "connection reset".
        ReportReset = "report_reset",
        /// Tell the application "connection refused".
        ReportRefused = "report_refused",
        /// Tell the application "connection aborted due to user timeout".
        ReportTimeout = "report_timeout",
    }
}

/// A state of a machine known by index and name: a state of a spec
/// loaded at run time, or of a congestion machine.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct StateRef {
    index: u32,
    name: &'static str,
}

impl StateRef {
    /// The state `index` of a spec (in declaration order), called `name`.
    pub fn of(index: usize, name: &'static str) -> Self {
        StateRef {
            index: u32::try_from(index).unwrap_or(u32::MAX),
            name,
        }
    }

    /// Its index among the spec's states, in declaration order.
    pub fn index(self) -> usize {
        self.index as usize
    }

    /// Its name, as the spec writes it.
    pub fn name(self) -> &'static str {
        self.name
    }
}

impl fmt::Debug for StateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

impl fmt::Display for StateRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name)
    }
}

/// A step of a typical path, as the figure marks it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StepMark {
    /// The path's name (`client`).
    pub path: &'static str,
    /// The step number, from 1.
    pub step: u8,
    /// Circled digits (①) for this path, else a boxed number (`[1]`).
    pub circled: bool,
}

impl fmt::Display for StepMark {
    /// `①` or `[1]`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.circled {
            f.write_str(&circled(self.step))
        } else {
            write!(f, "[{}]", self.step)
        }
    }
}

/// Circled digits for step numbers, as the article marks the client path.
pub fn circled(n: u8) -> String {
    match n {
        1..=20 => char::from_u32(0x2460 + u32::from(n) - 1).map_or(n.to_string(), String::from),
        _ => format!("({n})"),
    }
}

/// One transition as the spec declares it, for traces and coverage.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TransitionInfo {
    /// Index of the (transition, source state) pair in the spec's table.
    pub index: u32,
    /// Index of the declaring line among the spec's transition declarations.
    pub decl: u32,
    /// Its line in the spec.
    pub line: u32,
    /// Source state name.
    pub from: &'static str,
    /// Target state name.
    pub to: &'static str,
    /// Event name.
    pub event: &'static str,
    /// The guard as the spec writes it (`!passive`), if any.
    pub guard: Option<&'static str>,
    /// "condition / action", as drawn.
    pub label: &'static str,
    /// RFC section, if the spec gives one.
    pub rfc: Option<&'static str>,
}

/// A transition that fired.
pub struct Fired<M: Machine> {
    /// The state it entered.
    pub to: M::State,
    /// Actions to carry out, in order.
    pub actions: &'static [M::Action],
    /// Index of the (transition, source state) pair in the spec's table.
    pub transition: u32,
}

/// A spec bound to the runtime: the generated `Spec` of
/// [`machine!`](crate::machine) (a unit struct, the machine compiled in),
/// or a [`Loaded`](crate::loaded::Loaded) machine read from a spec file at
/// run time. Both answer [`step`](Self::step) the same way for the same
/// spec.
pub trait Machine: Clone + Send + Sync + 'static {
    /// The spec's states.
    type State: Copy + Eq + fmt::Debug + fmt::Display + Send + Sync + 'static;
    /// The spec's actions.
    type Action: Copy + fmt::Debug + Send + Sync + 'static;

    /// The machine's name (`Tcp`).
    fn name(&self) -> &'static str;
    /// The initial state.
    fn initial(&self) -> Self::State;
    /// How many transition declarations the spec has.
    fn declarations(&self) -> usize;
    /// How many (transition, source state) pairs the spec has: the rows of
    /// its table, which [`Fired::transition`] indexes.
    fn pairs(&self) -> usize;
    /// The spec's file, as given to the macro or the loader.
    fn spec(&self) -> &str;

    /// Looks up the transition for `event` in `state`; `None` when the spec
    /// has none (or does not declare the event, or no guard held).
    fn step(
        &self,
        state: Self::State,
        event: Event,
        guards: &dyn Fn(Guard) -> bool,
    ) -> Option<Fired<Self>>;

    /// The vocabulary word for one of the spec's actions.
    fn action(&self, action: Self::Action) -> Action;

    /// Describes transition `index` (as in [`Fired::transition`]).
    fn transition(&self, index: u32) -> TransitionInfo;

    /// The state's name as the spec writes it.
    fn state_name(&self, state: Self::State) -> &'static str;

    /// Whether `state` is in `group`.
    fn in_group(&self, state: Self::State, group: Group) -> bool;

    /// Typical-path steps of transition `index`.
    fn transition_steps(&self, index: u32) -> impl Iterator<Item = StepMark> + '_;

    /// Typical-path steps that sit on `state` (`client 1` on CLOSED).
    fn state_steps(&self, state: Self::State) -> impl Iterator<Item = StepMark> + '_;
}

/// Binds a spec file to the runtime: generates the spec's machine with
/// `fsm!`, checked against this module's vocabulary, and a unit struct
/// `Spec` implementing [`Machine`].
///
/// The path is relative to the calling crate's `CARGO_MANIFEST_DIR` (here,
/// the runtime's own directory). A spec that uses a word outside this
/// module's vocabulary, or lacks the group `open`, does not compile; the
/// message names the word and its `file:line:col`, as
/// [`Loaded::load`](crate::loaded::Loaded::load) does at run time.
///
/// ```
/// mod variant {
///     fsm_runtime::machine!("../examples/specs/no_simultaneous_open.fsm");
/// }
///
/// use std::net::{Ipv4Addr, SocketAddrV4};
/// use fsm_runtime::{Endpoint, Options};
///
/// let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
/// let endpoint = Endpoint::<variant::Spec>::bind_machine(addr, Options::default())?;
/// assert_eq!(variant::Spec::SPEC, "../examples/specs/no_simultaneous_open.fsm");
/// # drop(endpoint);
/// # Ok::<(), std::io::Error>(())
/// ```
#[macro_export]
macro_rules! machine {
    ($path:literal) => {
        $crate::__private::fsm!(
            $path,
            // Named by the crate's name rather than `$crate`, so that
            // messages name it as users do (see lib.rs).
            vocabulary = ::fsm_runtime::vocab {
                events: [
                    passive_open,
                    active_open,
                    send,
                    close,
                    abort,
                    rcv_syn,
                    rcv_syn_ack,
                    rcv_ack,
                    rcv_fin,
                    rcv_rst,
                    rcv_rst_in_window,
                    rcv_bad_ack,
                    rcv_unacceptable,
                    rcv_segment,
                    time_wait_timeout,
                    user_timeout,
                    linger_timeout
                ],
                guards: [passive, fin_acked, peer_known],
                actions: [
                    send_syn,
                    send_syn_ack,
                    send_ack,
                    send_fin,
                    reply_rst,
                    send_rst,
                    send_challenge_ack,
                    start_time_wait,
                    create_tcb,
                    delete_tcb,
                    init_rcv,
                    forget_peer,
                    queue_data,
                    flush,
                    report_reset,
                    report_refused,
                    report_timeout
                ],
                groups: [open],
            }
        );

        /// This spec, bound to the runtime.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        pub struct Spec;

        #[allow(dead_code)] // for the user of the macro, who may not need them
        impl Spec {
            /// The machine's name.
            pub const NAME: &'static str = MACHINE;
            /// The spec's file, as given to the macro.
            pub const SPEC: &'static str = $path;
            /// How many (transition, source state) pairs the spec has.
            pub const PAIRS: usize = TRANSITIONS.len();
        }

        impl $crate::vocab::Machine for Spec {
            type State = State;
            type Action = Action;

            fn name(&self) -> &'static str {
                MACHINE
            }

            #[inline]
            fn initial(&self) -> State {
                State::INITIAL
            }

            fn declarations(&self) -> usize {
                DECLARATIONS
            }

            fn pairs(&self) -> usize {
                TRANSITIONS.len()
            }

            fn spec(&self) -> &str {
                $path
            }

            #[inline]
            fn step(
                &self,
                state: State,
                event: $crate::vocab::Event,
                guards: &dyn Fn($crate::vocab::Guard) -> bool,
            ) -> Option<$crate::vocab::Fired<Self>> {
                let event = Event::from_vocabulary(event)?;
                let s = step(state, event, &|g: Guard| guards(g.to_vocabulary())).ok()?;
                Some($crate::vocab::Fired {
                    to: s.to,
                    actions: s.actions,
                    transition: s.transition,
                })
            }

            #[inline]
            fn action(&self, action: Action) -> $crate::vocab::Action {
                action.to_vocabulary()
            }

            fn transition(&self, index: u32) -> $crate::vocab::TransitionInfo {
                $crate::__transition_info!(index)
            }

            fn state_name(&self, state: State) -> &'static str {
                state.name()
            }

            #[inline]
            fn in_group(&self, state: State, group: $crate::vocab::Group) -> bool {
                state.in_vocabulary_group(group)
            }

            fn transition_steps(
                &self,
                index: u32,
            ) -> impl Iterator<Item = $crate::vocab::StepMark> + '_ {
                $crate::__step_marks!(TRANSITIONS[index as usize].steps)
            }

            fn state_steps(
                &self,
                state: State,
            ) -> impl Iterator<Item = $crate::vocab::StepMark> + '_ {
                $crate::__step_marks!(state.steps())
            }
        }
    };
}

/// Describes row `index` of the generated `TRANSITIONS` in scope (for
/// [`machine!`](crate::machine) and
/// [`congestion_machine!`](crate::congestion_machine)).
#[doc(hidden)]
#[macro_export]
macro_rules! __transition_info {
    ($index:expr) => {{
        let index: u32 = $index;
        let t = &TRANSITIONS[index as usize];
        $crate::vocab::TransitionInfo {
            index,
            decl: t.decl,
            line: t.line,
            from: t.from.name(),
            to: t.to.name(),
            event: t.event.name(),
            guard: t.guard,
            label: t.label,
            rfc: t.rfc,
        }
    }};
}

/// The generated path steps `steps`, as [`StepMark`]s.
#[doc(hidden)]
#[macro_export]
macro_rules! __step_marks {
    ($steps:expr) => {
        $steps.iter().map(|s| $crate::vocab::StepMark {
            path: s.path.name(),
            step: s.step,
            circled: s.path.circled(),
        })
    };
}
