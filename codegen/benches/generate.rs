//! Generator time for tcp.fsm and for random specs of 1,000 and 10,000
//! states (a ring plus up to three more transitions per state, 8 events,
//! 3 guards; see tests/support/random_spec.rs):
//!
//! - `pipeline`: parse + resolve + check + generate + format, from source
//!   text to the formatted file (`fsm rust` less reading and writing);
//! - `rust`: generate + format alone, from a checked spec;
//! - `tokens`: generate alone (what the `fsm!` macro does after checking).
//!
//! The 10,000-state `pipeline` is timed once (and printed, phase by phase,
//! for every size) rather than sampled: one run takes tens of seconds.
//!
//! `cargo bench -p fsm-codegen --bench generate`

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

#[allow(dead_code)]
mod support {
    include!("../tests/support/random_spec.rs");
}

/// Everything `fsm rust` does after reading the file.
fn pipeline(name: &str, source: &str) -> String {
    let spec = fsm_codegen::compile(name, source).unwrap();
    fsm_codegen::rust::generate_file(&spec).unwrap()
}

/// Each phase once, to say where the time goes.
fn phases(name: &str, source: &str) {
    let ms = |t: Instant| t.elapsed().as_secs_f64() * 1e3;
    let t = Instant::now();
    let tree = fsm_codegen::syntax::parse(source).unwrap();
    let parse = ms(t);
    let t = Instant::now();
    let (model, _) = fsm_codegen::model::resolve(&tree, source);
    let model = model.unwrap();
    let resolve = ms(t);
    let t = Instant::now();
    let diags = fsm_codegen::check::check(&model, source);
    assert!(!diags.iter().any(|d| d.is_error()));
    let check = ms(t);
    let spec = fsm_codegen::compile(name, source).unwrap();
    let t = Instant::now();
    let dot = fsm_codegen::dot::render(&spec.model, &Default::default());
    let dot_ms = ms(t);
    let t = Instant::now();
    let tokens = fsm_codegen::rust::generate(&spec, &Default::default()).unwrap();
    let generate = ms(t);
    let t = Instant::now();
    let text = fsm_codegen::rust::format(tokens, name);
    let format = ms(t);
    eprintln!(
        "{name}: parse {parse:.1} ms, resolve {resolve:.1} ms, check {check:.1} ms, \
         generate {generate:.1} ms (of which DOT {dot_ms:.1} ms, {} bytes), format {format:.1} ms; \
         {} lines, {} bytes of Rust; total {:.1} ms",
        dot.len(),
        text.lines().count(),
        text.len(),
        parse + resolve + check + generate + format,
    );
}

fn bench(c: &mut Criterion) {
    let tcp = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap();
    let mut specs = vec![("tcp.fsm".to_owned(), 11, tcp)];
    for states in [1_000, 10_000] {
        let source = support::random_spec(1, states, 8, 3, 3);
        specs.push((format!("ring-{states}.fsm"), states, source));
    }
    for (name, _, source) in &specs {
        phases(name, source);
    }

    let mut group = c.benchmark_group("generate");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(20));
    for (name, states, source) in &specs {
        group.throughput(Throughput::Elements(*states as u64));
        if *states <= 1_000 {
            group.bench_with_input(BenchmarkId::new("pipeline", name), source, |b, source| {
                b.iter(|| pipeline(name, black_box(source)))
            });
        }
        let spec = fsm_codegen::compile(name, source).unwrap();
        group.bench_with_input(BenchmarkId::new("rust", name), &spec, |b, spec| {
            b.iter(|| fsm_codegen::rust::generate_file(black_box(spec)).unwrap())
        });
        group.bench_with_input(BenchmarkId::new("tokens", name), &spec, |b, spec| {
            b.iter(|| fsm_codegen::rust::generate(black_box(spec), &Default::default()).unwrap())
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
