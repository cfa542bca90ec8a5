//! The dispatch table that the generated `step` is written from, against
//! the model: for every (state, event) pair, the same candidates in the same
//! order as `Model::candidates`, and under every assignment of the guards the
//! same choice as "the first candidate whose guard holds". For tcp.fsm and
//! for random specs, in both layouts.

#[allow(dead_code)]
mod support {
    include!("support/random_spec.rs");
}

use fsm_codegen::Model;
use fsm_codegen::model::{EventId, GuardId, StateId};
use fsm_codegen::rust::{DispatchTable, TableLayout};

fn tcp() -> fsm_codegen::Spec {
    fsm_codegen::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap()
}

/// Checks `table` against `model` exhaustively; answers how many
/// (state, event, guard values) cases it tried.
fn check_table(model: &Model, table: &DispatchTable) -> usize {
    let guards = model.guards.len();
    assert!(guards <= 12, "too many guards to try them all");
    let mut cases = 0;
    for s in (0..model.states.len()).map(StateId) {
        for e in (0..model.events.len()).map(EventId) {
            let want = model.candidates(s, e);
            let got: Vec<_> = table
                .candidates(s, e)
                .iter()
                .map(|c| c.transition)
                .collect();
            assert_eq!(got, want, "candidates of {s:?} on {e:?}");
            for c in table.candidates(s, e) {
                let t = &model.transitions[c.transition.0];
                assert_eq!((c.from, c.event, c.to), (s, e, t.target_from(s)));
                assert_eq!(c.guard.map(|g| &table.guards[g]), t.guard.as_ref());
                let edge = model.edges().nth(c.edge).unwrap();
                assert_eq!((edge.transition, edge.from), (c.transition, s));
            }
            for bits in 0u32..1 << guards {
                let value = |g: GuardId| bits >> g.0 & 1 == 1;
                let expected = want.iter().copied().find(|t| {
                    model.transitions[t.0]
                        .guard
                        .as_ref()
                        .is_none_or(|g| g.eval(&mut |v| value(*v)))
                });
                let got = table.choose(s, e, &mut |g| value(g));
                match (got, expected) {
                    (Ok(entry), Some(t)) => assert_eq!(entry.transition, t),
                    (Err(guarded), None) => assert_eq!(guarded, !want.is_empty()),
                    (got, want) => panic!("{s:?} on {e:?}, guards {bits:b}: {got:?} vs {want:?}"),
                }
                cases += 1;
            }
        }
    }
    // Every (transition, source) pair is in exactly one cell.
    let mut edges: Vec<usize> = table.entries.iter().map(|e| e.edge).collect();
    edges.sort_unstable();
    assert_eq!(edges, (0..model.edges().count()).collect::<Vec<_>>());
    cases
}

#[test]
fn tcp_table_agrees_with_the_model_in_both_layouts() {
    let spec = tcp();
    for layout in [TableLayout::Dense, TableLayout::Sparse] {
        let table = DispatchTable::build_with(&spec.model, layout);
        assert_eq!(table.layout, layout);
        let cases = check_table(&spec.model, &table);
        assert_eq!(cases, 11 * 17 * 8);
    }
    assert_eq!(DispatchTable::build(&spec.model).layout, TableLayout::Dense);
}

#[test]
fn tcp_guard_expressions_are_numbered_once_each() {
    let spec = tcp();
    let table = DispatchTable::build(&spec.model);
    let mut printed: Vec<String> = table.guards.iter().map(|g| format!("{g:?}")).collect();
    let n = printed.len();
    printed.sort();
    printed.dedup();
    assert_eq!(printed.len(), n);
    // passive, !passive, peer_known, !fin_acked, fin_acked
    assert_eq!(n, 5);
}

#[test]
fn random_specs_agree_with_the_model_in_both_layouts() {
    let mut total = 0;
    for seed in 0..40u64 {
        let states = 1 + (seed as usize * 7) % 60;
        let events = 2 + (seed as usize) % 9;
        let guards = 2 + (seed as usize) % 3;
        let source = support::random_spec(seed, states, events, guards, 1 + seed as usize % 4);
        let spec = fsm_codegen::compile("random.fsm", &source)
            .unwrap_or_else(|r| panic!("seed {seed}: {}\n{source}", r.render()));
        for layout in [TableLayout::Dense, TableLayout::Sparse] {
            let table = DispatchTable::build_with(&spec.model, layout);
            total += check_table(&spec.model, &table);
        }
        // And the generator takes it, and writes Rust that parses.
        let code = fsm_codegen::rust::generate_file(&spec).unwrap();
        assert!(code.contains("pub fn step("), "seed {seed}");
    }
    assert!(total > 10_000, "{total} cases");
}

#[test]
fn layout_follows_size() {
    assert_eq!(TableLayout::for_size(11, 16), TableLayout::Dense);
    assert_eq!(TableLayout::for_size(1 << 10, 1 << 10), TableLayout::Dense);
    assert_eq!(
        TableLayout::for_size(1 << 10, (1 << 10) + 1),
        TableLayout::Sparse
    );
    assert_eq!(TableLayout::for_size(usize::MAX, 2), TableLayout::Sparse);
}

#[test]
fn large_random_spec_uses_the_sparse_layout_and_agrees() {
    // 1,100 states x 1,000 events: more cells than the dense limit.
    let source = support::random_spec(7, 1100, 1000, 2, 2);
    let spec = fsm_codegen::compile("big.fsm", &source).unwrap();
    let table = DispatchTable::build(&spec.model);
    assert_eq!(table.layout, TableLayout::Sparse);
    assert_eq!(table.rows.len(), 1101);
    // Exhaustive over cells would be 1.1M x 4; check every non-empty cell and
    // as many empty ones, against the model's own index.
    let index = spec.model.dispatch_table();
    let mut rng = support::Rng(1);
    let mut cells = 0;
    for (s, e, entries) in table.cells() {
        let got: Vec<_> = entries.iter().map(|c| c.transition).collect();
        assert_eq!(&got, &index[&(s, e)]);
        let other = EventId(rng.below(1000));
        let want = index.get(&(s, other)).cloned().unwrap_or_default();
        let got: Vec<_> = table
            .candidates(s, other)
            .iter()
            .map(|c| c.transition)
            .collect();
        assert_eq!(got, want);
        cells += 1;
    }
    assert_eq!(cells, index.len());
}
