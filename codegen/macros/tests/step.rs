//! The compiled `step` of tcp.fsm against the model: every (state, event)
//! pair under every assignment of the guards.

#[allow(dead_code)]
mod tcp {
    fsm_macros::fsm!("../../tcp.fsm");
}

use fsm_codegen::model::{EventId, GuardId, StateId};

fn spec() -> fsm_codegen::Spec {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tcp.fsm");
    fsm_codegen::load(path).unwrap()
}

#[test]
fn names_and_order_match_the_spec() {
    let spec = spec();
    let m = &spec.model;
    assert_eq!(tcp::MACHINE, m.name.text);
    assert_eq!(tcp::State::ALL.len(), m.states.len());
    for (s, ms) in tcp::State::ALL.iter().zip(&m.states) {
        assert_eq!(s.name(), ms.name.text);
        assert_eq!(s.description(), ms.text.en);
        assert_eq!(s.to_string(), ms.name.text);
        assert_eq!(tcp::State::from_name(s.name()), Some(*s));
        assert_eq!(s.translation("zh"), ms.text.translated("zh"));
        assert_eq!(s.translation("en"), Some(s.description()));
    }
    assert_eq!(tcp::State::Closed.translation("fr"), None);
    for (e, me) in tcp::Event::ALL.iter().zip(&m.events) {
        assert_eq!(e.name(), me.name.text);
        assert_eq!(e.kind().name(), me.kind.keyword());
    }
    for (a, ma) in tcp::Action::ALL.iter().zip(&m.actions) {
        assert_eq!(a.name(), ma.name.text);
        assert_eq!(a.is_internal(), ma.internal);
    }
    assert_eq!(tcp::State::INITIAL.index(), m.initial().0);
    assert_eq!(tcp::DECLARATIONS, m.transitions.len());
    assert_eq!(tcp::TRANSITIONS.len(), m.edges().count());
    assert_eq!(tcp::State::from_name("NOT_A_STATE"), None);
}

#[test]
fn transitions_table_lists_every_edge_in_declaration_order() {
    let spec = spec();
    let m = &spec.model;
    for (row, edge) in tcp::TRANSITIONS.iter().zip(m.edges()) {
        let t = &m.transitions[edge.transition.0];
        assert_eq!(row.from.index(), edge.from.0);
        assert_eq!(row.to.index(), edge.to.0);
        assert_eq!(row.event.index(), t.event.0);
        assert_eq!(row.decl as usize, edge.transition.0);
        assert_eq!(row.line as usize, t.line);
        assert_eq!(row.rfc, t.rfc.as_deref());
        assert_eq!(row.label, m.transition_label(t, "en"));
        let actions: Vec<usize> = row.actions.iter().map(|a| a.index()).collect();
        assert_eq!(actions, t.actions.iter().map(|a| a.0).collect::<Vec<_>>());
        assert_eq!(row.guard.is_some(), t.guard.is_some());
    }
}

#[test]
fn step_agrees_with_the_model_everywhere() {
    let spec = spec();
    let m = &spec.model;
    let guards = m.guards.len();
    let mut checked = 0;
    for s in tcp::State::ALL {
        for e in tcp::Event::ALL {
            let candidates = m.candidates(StateId(s.index()), EventId(e.index()));
            for bits in 0u32..1 << guards {
                let value = |g: GuardId| bits >> g.0 & 1 == 1;
                // The model: the first candidate whose guard holds.
                let expected = candidates.iter().find(|t| {
                    m.transitions[t.0]
                        .guard
                        .as_ref()
                        .is_none_or(|g| g.eval(&mut |v| value(*v)))
                });
                let asked = std::cell::Cell::new(0);
                let holds = |g: tcp::Guard| {
                    asked.set(asked.get() + 1);
                    value(GuardId(g.index()))
                };
                match (tcp::step(s, e, &holds), expected) {
                    (Ok(step), Some(t)) => {
                        let info = step.info();
                        let to = m.transitions[t.0].target_from(StateId(s.index()));
                        assert_eq!(info.decl as usize, t.0, "{s} on {e}");
                        assert_eq!((step.from, info.from), (s, s));
                        assert_eq!(step.to.index(), to.0);
                        assert_eq!(step.actions, info.actions);
                    }
                    (Err(no), None) => {
                        assert_eq!((no.state, no.event), (s, e));
                        assert_eq!(no.guarded, !candidates.is_empty(), "{s} on {e}");
                    }
                    (got, want) => {
                        panic!("{s} on {e} with guards {bits:b}: {got:?}, model says {want:?}")
                    }
                }
                // Guards are asked only where a candidate has one.
                let guarded = candidates
                    .iter()
                    .any(|t| m.transitions[t.0].guard.is_some());
                if !guarded {
                    assert_eq!(asked.get(), 0, "{s} on {e} asked a guard");
                }
                checked += 1;
            }
        }
    }
    assert_eq!(checked, (m.states.len() * m.events.len()) << guards);
}

#[test]
fn guards_from_arrays_slices_closures_and_trait_objects() {
    let passive = [true, false, false];
    let (s, e) = (tcp::State::SynRcvd, tcp::Event::RcvRst);
    let a = tcp::step(s, e, &passive).unwrap();
    let b = tcp::step(s, e, &passive[..]).unwrap();
    let c = tcp::step(s, e, &|g| g == tcp::Guard::Passive).unwrap();
    let d = tcp::step(s, e, &passive as &dyn tcp::Guards).unwrap();
    assert_eq!([a, b, c], [d; 3]);
    assert_eq!(a.to, tcp::State::Listen);
}
