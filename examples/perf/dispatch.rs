//! Section 2: ns per event for the generated dynamic `step`, the typestate
//! API and a hand-written `match (state, event)` over the same transitions
//! (codegen/benches/support/baseline.rs, shared with the criterion bench), on the same pseudo-random
//! inputs.
//!
//! Mixes: `uniform` (state and event drawn uniformly; about half have no
//! transition), `walk` (random inputs that follow the machine), `paths`
//! (the typical client and server paths, chosen at random, each event
//! taken from the state the last one reached and its actions run; the
//! typestate API can only do this one). Samples of the variants of a mix
//! alternate, so their ratio is measured side by side.

use std::hint::black_box;
use std::time::{Duration, Instant};

use crate::Plan;
use crate::table::{Table, median, num, ratio, spread};

#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../tcp.fsm");
}

use tcp::{
    Action as A, Closed, Event as E, FinWait1RcvAck, Guard, NoTransition, State as S, Step, Tcp,
    TcpActions,
};

include!("../../codegen/benches/support/baseline.rs");

/// Counts what the actions did; `black_box` keeps each action an opaque
/// step, so that no variant's walk folds into a constant.
#[derive(Debug, Default)]
pub struct Count(pub u64);

impl TcpActions for Count {
    fn send_syn(&mut self) {
        self.0 = black_box(self.0.wrapping_add(1));
    }
    fn send_syn_ack(&mut self) {
        self.0 = black_box(self.0.wrapping_add(2));
    }
    fn send_ack(&mut self) {
        self.0 = black_box(self.0.wrapping_add(3));
    }
    fn send_fin(&mut self) {
        self.0 = black_box(self.0.wrapping_add(4));
    }
    fn reply_rst(&mut self) {
        self.0 = black_box(self.0.wrapping_add(5));
    }
    fn send_rst(&mut self) {
        self.0 = black_box(self.0.wrapping_add(6));
    }
    fn send_challenge_ack(&mut self) {
        self.0 = black_box(self.0.wrapping_add(7));
    }
    fn start_time_wait(&mut self) {
        self.0 = black_box(self.0.wrapping_add(8));
    }
    fn create_tcb(&mut self) {
        self.0 = black_box(self.0.wrapping_add(9));
    }
    fn delete_tcb(&mut self) {
        self.0 = black_box(self.0.wrapping_add(10));
    }
    fn init_rcv(&mut self) {
        self.0 = black_box(self.0.wrapping_add(11));
    }
    fn forget_peer(&mut self) {
        self.0 = black_box(self.0.wrapping_add(12));
    }
    fn queue_data(&mut self) {
        self.0 = black_box(self.0.wrapping_add(13));
    }
    fn flush(&mut self) {
        self.0 = black_box(self.0.wrapping_add(14));
    }
    fn report_reset(&mut self) {
        self.0 = black_box(self.0.wrapping_add(15));
    }
    fn report_refused(&mut self) {
        self.0 = black_box(self.0.wrapping_add(16));
    }
    fn report_timeout(&mut self) {
        self.0 = black_box(self.0.wrapping_add(17));
    }
}

fn perform(c: &mut Count, a: A) {
    match a {
        A::SendSyn => c.send_syn(),
        A::SendSynAck => c.send_syn_ack(),
        A::SendAck => c.send_ack(),
        A::SendFin => c.send_fin(),
        A::ReplyRst => c.reply_rst(),
        A::SendRst => c.send_rst(),
        A::SendChallengeAck => c.send_challenge_ack(),
        A::StartTimeWait => c.start_time_wait(),
        A::CreateTcb => c.create_tcb(),
        A::DeleteTcb => c.delete_tcb(),
        A::InitRcv => c.init_rcv(),
        A::ForgetPeer => c.forget_peer(),
        A::QueueData => c.queue_data(),
        A::Flush => c.flush(),
        A::ReportReset => c.report_reset(),
        A::ReportRefused => c.report_refused(),
        A::ReportTimeout => c.report_timeout(),
    }
}

/// The typical client path, through the typestate API (6 transitions).
#[inline]
fn client(m: Tcp<Closed, Count>) -> Tcp<Closed, Count> {
    let m = m.active_open().rcv_syn_ack().close();
    // The ACK of our FIN: `fin_acked` holds, so FIN_WAIT_2.
    let FinWait1RcvAck::FinWait2(m) = m.rcv_ack(&|g: Guard| g == Guard::FinAcked) else {
        unreachable!("fin_acked holds")
    };
    m.rcv_fin().time_wait_timeout()
}

/// The typical server path, through the typestate API (6 transitions).
#[inline]
fn server(m: Tcp<Closed, Count>) -> Tcp<Closed, Count> {
    m.passive_open()
        .rcv_syn()
        .rcv_ack()
        .rcv_fin()
        .close()
        .rcv_ack()
}

const CLIENT: [E; 6] = [
    E::ActiveOpen,
    E::RcvSynAck,
    E::Close,
    E::RcvAck,
    E::RcvFin,
    E::TimeWaitTimeout,
];
const SERVER: [E; 6] = [
    E::PassiveOpen,
    E::RcvSyn,
    E::RcvAck,
    E::RcvFin,
    E::Close,
    E::RcvAck,
];

/// `walks` typical paths: true for the client's, false for the server's.
fn paths(walks: usize) -> Vec<bool> {
    let mut rng = Rng(0xbeef);
    (0..walks).map(|_| rng.below(2) == 0).collect()
}

/// The paths through `step` (or `hand_written`), each event from the
/// state the previous one reached, running the actions.
fn run_paths(choices: &[bool], f: impl Fn(S, E) -> Result<Step, NoTransition>) -> u64 {
    let mut c = Count(0);
    let mut state = S::INITIAL;
    for &client in choices {
        let events = if client { &CLIENT } else { &SERVER };
        for &e in events {
            if let Ok(step) = f(state, e) {
                state = step.to;
                for &a in step.actions {
                    perform(&mut c, a);
                }
            }
        }
    }
    c.0 + state.index() as u64
}

fn run_paths_typestate(choices: &[bool]) -> u64 {
    let mut m = Tcp::new(Count(0));
    for &c in choices {
        m = if c { client(m) } else { server(m) };
    }
    let state = m.state();
    m.into_data().0 + state.index() as u64
}

/// A variant: its name and one pass over its inputs.
type Variant<'a> = (&'static str, Box<dyn FnMut() -> u64 + 'a>);

/// Times the variants alternately: `samples` samples each of about
/// `sample` long; ns per event for each (`events` per pass).
fn measure(
    variants: &mut [Variant<'_>],
    events: usize,
    samples: usize,
    sample: Duration,
) -> Vec<Vec<f64>> {
    // Calibrate: passes per sample, per variant.
    let mut passes = Vec::new();
    for (_, f) in variants.iter_mut() {
        let mut n = 1u64;
        loop {
            let t = Instant::now();
            for _ in 0..n {
                black_box(f());
            }
            let el = t.elapsed();
            if el >= sample / 4 || n > 1 << 24 {
                let per = el.as_secs_f64() / n as f64;
                passes.push(((sample.as_secs_f64() / per).ceil() as u64).max(1));
                break;
            }
            n *= 2;
        }
    }
    let mut out = vec![Vec::new(); variants.len()];
    for _ in 0..samples {
        for (i, (_, f)) in variants.iter_mut().enumerate() {
            let t = Instant::now();
            for _ in 0..passes[i] {
                black_box(f());
            }
            let ns = t.elapsed().as_secs_f64() * 1e9 / (passes[i] as f64 * events as f64);
            out[i].push(ns);
        }
    }
    out
}

pub fn run(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    // The two must agree on every input before their speed means anything.
    for s in S::ALL {
        for e in E::ALL {
            for bits in 0..8 {
                if tcp::step(s, e, &holds(bits)) != hand_written(s, e, &holds(bits)) {
                    return Err(
                        format!("step and hand_written disagree on {s:?} {e:?} {bits}").into(),
                    );
                }
            }
        }
    }
    const N: usize = 4096;
    let (samples, sample) = if plan.quick {
        (7, Duration::from_millis(5))
    } else {
        (21, Duration::from_millis(20))
    };
    let u = uniform(N);
    let w = walk(N);
    let p = paths(N / 6);
    if run_generated(&u) != run_hand_written(&u) || run_generated(&w) != run_hand_written(&w) {
        return Err("step and hand_written disagree on a mix".into());
    }
    // The typical paths with `fin_acked` holding, as the typestate path
    // takes FIN_WAIT_1 -> FIN_WAIT_2 (the other guards play no part).
    let fin_acked = 1 << Guard::FinAcked.index();
    let by_step = run_paths(&p, |s, e| tcp::step(s, e, &holds(fin_acked)));
    if by_step != run_paths(&p, |s, e| hand_written(s, e, &holds(fin_acked)))
        || by_step != run_paths_typestate(&p)
    {
        return Err("the three disagree on the paths".into());
    }
    type Mix<'a> = (&'static str, usize, Vec<Variant<'a>>);
    let mixes: Vec<Mix<'_>> = vec![
        (
            "uniform",
            N,
            vec![
                (
                    "generated `step`",
                    Box::new(|| run_generated(black_box(&u)) as u64),
                ),
                (
                    "hand-written `match`",
                    Box::new(|| run_hand_written(black_box(&u)) as u64),
                ),
            ],
        ),
        (
            "walk",
            N,
            vec![
                (
                    "generated `step`",
                    Box::new(|| run_generated(black_box(&w)) as u64),
                ),
                (
                    "hand-written `match`",
                    Box::new(|| run_hand_written(black_box(&w)) as u64),
                ),
            ],
        ),
        (
            "paths",
            p.len() * 6,
            vec![
                (
                    "generated `step`",
                    Box::new(|| {
                        run_paths(black_box(&p), |s, e| tcp::step(s, e, &holds(fin_acked)))
                    }),
                ),
                (
                    "hand-written `match`",
                    Box::new(|| {
                        run_paths(black_box(&p), |s, e| hand_written(s, e, &holds(fin_acked)))
                    }),
                ),
                (
                    "typestate API",
                    Box::new(|| run_paths_typestate(black_box(&p))),
                ),
            ],
        ),
    ];
    for (mix, events, mut variants) in mixes {
        eprintln!(
            "  {mix}: {samples} samples of {} ms per variant",
            sample.as_millis()
        );
        let ns = measure(&mut variants, events, samples, sample);
        let base = median(&ns[1]);
        for (i, (name, _)) in variants.iter().enumerate() {
            let m = median(&ns[i]);
            let note = match mix {
                "uniform" => {
                    "4,096 (state, event, guards) drawn uniformly; ~half have no transition"
                }
                "walk" => "4,096 random inputs that follow the machine",
                _ => {
                    "client and server paths (6 transitions each) at random; state threaded, actions run (each a `black_box`ed add)"
                }
            };
            let sp = spread(&ns[i]);
            table.row(
                "2 dispatch",
                &format!("{mix}: {name}"),
                &num(m),
                "ns/event",
                ns[i].len(),
                &if i == 1 {
                    "1× (base)".to_owned()
                } else {
                    ratio(m, base)
                },
                &format!("{note}; {sp} ns"),
            );
        }
    }
    Ok(())
}
