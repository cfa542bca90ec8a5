//! Dispatch: the generated table-driven `step` for tcp.fsm against a
//! hand-written `match (state, event)` implementing the same transitions,
//! over the same pseudo-random inputs (state, event, guard values).
//!
//! `cargo bench -p fsm-codegen --bench dispatch`
//!
//! Two input mixes of 4,096 inputs each: `uniform` draws state and event
//! uniformly (about half the pairs have no transition), `walk` follows the
//! machine (every input has a transition).

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../tcp.fsm");
}

use tcp::{Action as A, Event as E, Guard, NoTransition, State as S, Step};

include!("support/hand_written.rs");

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

fn bench(c: &mut Criterion) {
    // The two must agree on every input before their speed means anything.
    for s in S::ALL {
        for e in E::ALL {
            for bits in 0..8 {
                assert_eq!(
                    tcp::step(s, e, &holds(bits)),
                    hand_written(s, e, &holds(bits))
                );
            }
        }
    }
    const N: usize = 4096;
    for (mix, inputs) in [("uniform", uniform(N)), ("walk", walk(N))] {
        assert_eq!(run_generated(&inputs), run_hand_written(&inputs));
        let mut group = c.benchmark_group(format!("dispatch/{mix}"));
        group.throughput(Throughput::Elements(N as u64));
        group.bench_function("generated step", |b| {
            b.iter(|| run_generated(black_box(&inputs)))
        });
        group.bench_function("hand-written match", |b| {
            b.iter(|| run_hand_written(black_box(&inputs)))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
