// tcp.fsm by hand, as one would write it without a generator: the
// baseline for the dispatch benchmarks, with the inputs both benchmarks
// feed it and the generated `step`. `include!`d by
// codegen/benches/dispatch.rs and examples/perf/dispatch.rs, each of which
// expands `fsm!("../tcp.fsm")` into a module `tcp` and imports
// `tcp::{Action as A, Event as E, Guard, NoTransition, State as S, Step}`.
// A change to tcp.fsm needs a change here (both benches first check that
// this agrees with the generated `step` on every input).

/// tcp.fsm by hand, as one would write it without a generator. The last
/// number of each arm is the row of `tcp::TRANSITIONS`, which the generated
/// `step` reports too.
#[inline]
fn hand_written(state: S, event: E, guards: &impl Fn(Guard) -> bool) -> Result<Step, NoTransition> {
    let ok = |to: S, actions: &'static [A], transition: u32| {
        Ok(Step {
            from: state,
            to,
            actions,
            transition,
        })
    };
    let none = |guarded: bool| {
        Err(NoTransition {
            state,
            event,
            guarded,
        })
    };
    const RESET: &[A] = &[A::Flush, A::ReportReset, A::DeleteTcb];
    const TIMEOUT: &[A] = &[A::Flush, A::ReportTimeout, A::DeleteTcb];
    const ABORT_SYNC: &[A] = &[A::SendRst, A::Flush, A::DeleteTcb];
    const ABORT: &[A] = &[A::Flush, A::DeleteTcb];
    const CHALLENGE: &[A] = &[A::SendChallengeAck];
    match (state, event) {
        (S::Closed, E::PassiveOpen) => ok(S::Listen, &[A::CreateTcb], 0),
        (S::Closed, E::ActiveOpen) => ok(S::SynSent, &[A::CreateTcb, A::SendSyn], 1),
        (S::Closed, E::RcvSegment) => ok(S::Closed, &[A::ReplyRst], 2),

        (S::Listen, E::RcvSyn) => ok(S::SynRcvd, &[A::InitRcv, A::SendSynAck], 3),
        (S::Listen, E::RcvRst) => ok(S::Listen, &[], 4),
        (S::Listen, E::Send) => {
            if guards(Guard::PeerKnown) {
                ok(S::SynSent, &[A::SendSyn, A::QueueData], 5)
            } else {
                none(true)
            }
        }
        (S::Listen, E::Close) => ok(S::Closed, &[A::DeleteTcb], 6),
        (S::Listen, E::RcvBadAck) => ok(S::Listen, &[A::ReplyRst], 16),
        (S::Listen, E::Abort) => ok(S::Closed, ABORT, 75),

        (S::SynSent, E::RcvSynAck) => ok(S::Established, &[A::InitRcv, A::SendAck], 7),
        (S::SynSent, E::RcvSyn) => ok(S::SynRcvd, &[A::InitRcv, A::SendSynAck], 8),
        (S::SynSent, E::RcvRst) => ok(S::Closed, &[A::Flush, A::ReportRefused, A::DeleteTcb], 9),
        (S::SynSent, E::Close) => ok(S::Closed, &[A::Flush, A::DeleteTcb], 10),
        (S::SynSent, E::RcvBadAck) => ok(S::SynSent, &[A::ReplyRst], 17),
        (S::SynSent, E::Send) => ok(S::SynSent, &[A::QueueData], 35),
        (S::SynSent, E::Abort) => ok(S::Closed, ABORT, 76),
        (S::SynSent, E::UserTimeout) => ok(S::Closed, TIMEOUT, 80),

        (S::SynRcvd, E::RcvAck) => ok(S::Established, &[], 11),
        (S::SynRcvd, E::RcvRst) => {
            if guards(Guard::Passive) {
                ok(S::Listen, &[A::ForgetPeer], 12)
            } else {
                ok(S::Closed, &[A::Flush, A::ReportRefused, A::DeleteTcb], 13)
            }
        }
        (S::SynRcvd, E::Close) => ok(S::FinWait1, &[A::SendFin], 14),
        (S::SynRcvd, E::RcvFin) => ok(S::CloseWait, &[A::SendAck], 15),
        (S::SynRcvd, E::RcvBadAck) => ok(S::SynRcvd, &[A::ReplyRst], 18),
        (S::SynRcvd, E::Send) => ok(S::SynRcvd, &[A::QueueData], 36),
        (S::SynRcvd, E::RcvRstInWindow) => ok(S::SynRcvd, CHALLENGE, 46),
        (S::SynRcvd, E::RcvSyn) => ok(S::SynRcvd, CHALLENGE, 54),
        (S::SynRcvd, E::RcvUnacceptable) => ok(S::SynRcvd, &[A::SendAck], 62),
        (S::SynRcvd, E::Abort) => ok(S::Closed, ABORT_SYNC, 70),
        (S::SynRcvd, E::UserTimeout) => ok(S::Closed, TIMEOUT, 81),

        (S::Established, E::Close) => ok(S::FinWait1, &[A::SendFin], 19),
        (S::Established, E::RcvFin) => ok(S::CloseWait, &[A::SendAck], 20),
        (S::Established, E::Send) => ok(S::Established, &[A::QueueData], 37),
        (S::Established, E::RcvRst) => ok(S::Closed, RESET, 39),
        (S::Established, E::RcvRstInWindow) => ok(S::Established, CHALLENGE, 47),
        (S::Established, E::RcvSyn) => ok(S::Established, CHALLENGE, 55),
        (S::Established, E::RcvUnacceptable) => ok(S::Established, &[A::SendAck], 63),
        (S::Established, E::Abort) => ok(S::Closed, ABORT_SYNC, 71),
        (S::Established, E::UserTimeout) => ok(S::Closed, TIMEOUT, 82),

        (S::FinWait1, E::RcvAck) => {
            if guards(Guard::FinAcked) {
                ok(S::FinWait2, &[], 21)
            } else {
                ok(S::FinWait1, &[], 22)
            }
        }
        (S::FinWait1, E::RcvFin) => {
            if !guards(Guard::FinAcked) {
                ok(S::Closing, &[A::SendAck], 23)
            } else {
                ok(S::TimeWait, &[A::SendAck, A::StartTimeWait], 24)
            }
        }
        (S::FinWait1, E::RcvRst) => ok(S::Closed, RESET, 40),
        (S::FinWait1, E::RcvRstInWindow) => ok(S::FinWait1, CHALLENGE, 48),
        (S::FinWait1, E::RcvSyn) => ok(S::FinWait1, CHALLENGE, 56),
        (S::FinWait1, E::RcvUnacceptable) => ok(S::FinWait1, &[A::SendAck], 64),
        (S::FinWait1, E::Abort) => ok(S::Closed, ABORT_SYNC, 72),
        (S::FinWait1, E::UserTimeout) => ok(S::Closed, TIMEOUT, 83),

        (S::FinWait2, E::RcvFin) => ok(S::TimeWait, &[A::SendAck, A::StartTimeWait], 25),
        (S::FinWait2, E::LingerTimeout) => ok(S::Closed, TIMEOUT, 26),
        (S::FinWait2, E::RcvRst) => ok(S::Closed, RESET, 41),
        (S::FinWait2, E::RcvRstInWindow) => ok(S::FinWait2, CHALLENGE, 49),
        (S::FinWait2, E::RcvSyn) => ok(S::FinWait2, CHALLENGE, 57),
        (S::FinWait2, E::RcvUnacceptable) => ok(S::FinWait2, &[A::SendAck], 65),
        (S::FinWait2, E::Abort) => ok(S::Closed, ABORT_SYNC, 73),

        (S::CloseWait, E::Close) => ok(S::LastAck, &[A::SendFin], 27),
        (S::CloseWait, E::RcvFin) => ok(S::CloseWait, &[A::SendAck], 32),
        (S::CloseWait, E::Send) => ok(S::CloseWait, &[A::QueueData], 38),
        (S::CloseWait, E::RcvRst) => ok(S::Closed, RESET, 42),
        (S::CloseWait, E::RcvRstInWindow) => ok(S::CloseWait, CHALLENGE, 50),
        (S::CloseWait, E::RcvSyn) => ok(S::CloseWait, CHALLENGE, 58),
        (S::CloseWait, E::RcvUnacceptable) => ok(S::CloseWait, &[A::SendAck], 66),
        (S::CloseWait, E::Abort) => ok(S::Closed, ABORT_SYNC, 74),
        (S::CloseWait, E::UserTimeout) => ok(S::Closed, TIMEOUT, 84),

        (S::Closing, E::RcvAck) => ok(S::TimeWait, &[A::StartTimeWait], 28),
        (S::Closing, E::RcvFin) => ok(S::Closing, &[A::SendAck], 33),
        (S::Closing, E::RcvRst) => ok(S::Closed, &[A::DeleteTcb], 43),
        (S::Closing, E::RcvRstInWindow) => ok(S::Closing, CHALLENGE, 51),
        (S::Closing, E::RcvSyn) => ok(S::Closing, CHALLENGE, 59),
        (S::Closing, E::RcvUnacceptable) => ok(S::Closing, &[A::SendAck], 67),
        (S::Closing, E::Abort) => ok(S::Closed, ABORT, 77),
        (S::Closing, E::UserTimeout) => ok(S::Closed, TIMEOUT, 85),

        (S::LastAck, E::RcvAck) => ok(S::Closed, &[A::DeleteTcb], 29),
        (S::LastAck, E::RcvFin) => ok(S::LastAck, &[A::SendAck], 34),
        (S::LastAck, E::RcvRst) => ok(S::Closed, &[A::DeleteTcb], 44),
        (S::LastAck, E::RcvRstInWindow) => ok(S::LastAck, CHALLENGE, 52),
        (S::LastAck, E::RcvSyn) => ok(S::LastAck, CHALLENGE, 60),
        (S::LastAck, E::RcvUnacceptable) => ok(S::LastAck, &[A::SendAck], 68),
        (S::LastAck, E::Abort) => ok(S::Closed, ABORT, 78),
        (S::LastAck, E::UserTimeout) => ok(S::Closed, TIMEOUT, 86),

        (S::TimeWait, E::TimeWaitTimeout) => ok(S::Closed, &[A::DeleteTcb], 30),
        (S::TimeWait, E::RcvFin) => ok(S::TimeWait, &[A::SendAck, A::StartTimeWait], 31),
        (S::TimeWait, E::RcvRst) => ok(S::Closed, &[A::DeleteTcb], 45),
        (S::TimeWait, E::RcvRstInWindow) => ok(S::TimeWait, CHALLENGE, 53),
        (S::TimeWait, E::RcvSyn) => ok(S::TimeWait, CHALLENGE, 61),
        (S::TimeWait, E::RcvUnacceptable) => ok(S::TimeWait, &[A::SendAck], 69),
        (S::TimeWait, E::Abort) => ok(S::Closed, ABORT, 79),

        _ => none(false),
    }
}

/// An input: state, event, and the guards' values as bits by `Guard::index`.
type Input = (S, E, u8);

struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        // xorshift64*
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 33) as usize % n
    }
}

fn holds(bits: u8) -> impl Fn(Guard) -> bool {
    move |g: Guard| bits >> g.index() & 1 == 1
}

fn uniform(n: usize) -> Vec<Input> {
    let mut rng = Rng(0x5eed);
    (0..n)
        .map(|_| {
            let s = S::ALL[rng.below(S::ALL.len())];
            let e = E::ALL[rng.below(E::ALL.len())];
            (s, e, rng.below(8) as u8)
        })
        .collect()
}

fn walk(n: usize) -> Vec<Input> {
    let mut rng = Rng(0xfeed);
    let mut state = S::INITIAL;
    let mut out = Vec::with_capacity(n);
    while out.len() < n {
        let e = E::ALL[rng.below(E::ALL.len())];
        let bits = rng.below(8) as u8;
        if let Ok(step) = tcp::step(state, e, &holds(bits)) {
            out.push((state, e, bits));
            state = step.to;
        }
    }
    out
}

fn run_generated(inputs: &[Input]) -> usize {
    let mut acc = 0;
    for &(s, e, bits) in inputs {
        match tcp::step(s, e, &holds(bits)) {
            Ok(step) => acc += step.to.index() + step.actions.len() + step.transition as usize,
            Err(no) => acc += usize::from(no.guarded),
        }
    }
    acc
}

fn run_hand_written(inputs: &[Input]) -> usize {
    let mut acc = 0;
    for &(s, e, bits) in inputs {
        match hand_written(s, e, &holds(bits)) {
            Ok(step) => acc += step.to.index() + step.actions.len() + step.transition as usize,
            Err(no) => acc += usize::from(no.guarded),
        }
    }
    acc
}
