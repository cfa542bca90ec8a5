//! The code `fsm_codegen::rust::Builder` generates from tcp.fsm, compiled
//! in a `no_std` crate that denies missing docs: proof that the generated
//! code needs nothing beyond `core` and documents every item.
#![no_std]
#![deny(missing_docs, unsafe_code)]

/// tcp.fsm, dense dispatch table.
pub mod tcp {
    include!(concat!(env!("OUT_DIR"), "/tcp.rs"));
}

/// tcp.fsm, sparse (CSR) dispatch table.
pub mod tcp_sparse {
    include!(concat!(env!("OUT_DIR"), "/tcp_sparse.rs"));
}

/// tcp.fsm bound to [`vocab`].
pub mod tcp_bound {
    include!(concat!(env!("OUT_DIR"), "/tcp_bound.rs"));
}

/// A machine with one state and nothing else.
pub mod tiny {
    include!(concat!(env!("OUT_DIR"), "/tiny.rs"));
}

/// A machine whose names are Rust keywords (`type`, `match`, `gen`, `loop`)
/// or the generated code's generic parameters (`D`, `S`, `F`, `N`), with a
/// group of every state.
pub mod odd {
    include!(concat!(env!("OUT_DIR"), "/odd.rs"));
}

/// A random machine (seed 42; see `codegen/tests/support/random_spec.rs`).
pub mod random {
    include!(concat!(env!("OUT_DIR"), "/random.rs"));
}

/// A runtime's vocabulary, with one event (`rcv_urgent`) tcp.fsm does not use.
pub mod vocab {
    macro_rules! vocabulary_enum {
        ($(#[$doc:meta])* $name:ident { $($variant:ident),* $(,)? }) => {
            $(#[$doc])*
            #[derive(Clone, Copy, Debug, PartialEq, Eq)]
            #[allow(missing_docs)]
            pub enum $name { $($variant),* }
        };
    }
    vocabulary_enum!(
        /// Events the runtime raises.
        Event {
            PassiveOpen, ActiveOpen, Send, Close, Abort, RcvSyn, RcvSynAck, RcvAck, RcvFin,
            RcvRst, RcvRstInWindow, RcvBadAck, RcvUnacceptable, RcvSegment, TimeWaitTimeout,
            UserTimeout, LingerTimeout, RcvUrgent,
        }
    );
    vocabulary_enum!(
        /// Guards the runtime answers.
        Guard { Passive, FinAcked, PeerKnown }
    );
    vocabulary_enum!(
        /// Actions the runtime carries out.
        Action {
            SendSyn, SendSynAck, SendAck, SendFin, ReplyRst, SendRst, SendChallengeAck,
            StartTimeWait, CreateTcb, DeleteTcb, InitRcv, ForgetPeer, QueueData, Flush,
            ReportReset, ReportRefused, ReportTimeout,
        }
    );
    vocabulary_enum!(
        /// Groups of states the runtime reads.
        Group { Synchronized }
    );
}
