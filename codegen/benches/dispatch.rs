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

include!("support/baseline.rs");

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
