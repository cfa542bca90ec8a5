//! The generated code, compiled: the random machine's `step` and
//! typestate methods against the model, the sparse table against the dense
//! one, the odd names, the vocabulary binding.

use fsm_build_script_test::{odd, random, tcp, tcp_bound, tcp_sparse, tiny, vocab};
use fsm_codegen::model::{EventId, GuardId, StateId};

#[test]
fn random_step_agrees_with_the_model() {
    let spec = fsm_codegen::load(concat!(env!("OUT_DIR"), "/random.fsm")).unwrap();
    let m = &spec.model;
    assert_eq!(random::State::ALL.len(), m.states.len());
    for s in random::State::ALL {
        for e in random::Event::ALL {
            let candidates = m.candidates(StateId(s.index()), EventId(e.index()));
            for bits in 0u32..1 << m.guards.len() {
                let value = |g: GuardId| bits >> g.0 & 1 == 1;
                let expected = candidates.iter().find(|t| {
                    m.transitions[t.0]
                        .guard
                        .as_ref()
                        .is_none_or(|g| g.eval(&mut |v| value(*v)))
                });
                let got = random::step(s, e, &|g: random::Guard| value(GuardId(g.index())));
                match (got, expected) {
                    (Ok(step), Some(t)) => assert_eq!(step.info().decl as usize, t.0),
                    (Err(no), None) => assert_eq!(no.guarded, !candidates.is_empty()),
                    (got, want) => panic!("{s} on {e}: {got:?} vs {want:?}"),
                }
            }
        }
    }
}

#[test]
fn sparse_and_dense_tables_take_the_same_steps() {
    for s in tcp::State::ALL {
        for e in tcp::Event::ALL {
            for bits in 0u32..8 {
                let dense = tcp::step(s, e, &|g: tcp::Guard| bits >> g.index() & 1 == 1);
                let sparse = tcp_sparse::step(
                    tcp_sparse::State::ALL[s.index()],
                    tcp_sparse::Event::ALL[e.index()],
                    &|g: tcp_sparse::Guard| bits >> g.index() & 1 == 1,
                );
                assert_eq!(
                    dense
                        .map(|s| (s.to.index(), s.transition))
                        .map_err(|n| n.guarded),
                    sparse
                        .map(|s| (s.to.index(), s.transition))
                        .map_err(|n| n.guarded),
                );
            }
        }
    }
}

#[test]
fn a_machine_of_one_state() {
    assert_eq!(tiny::State::ALL, [tiny::State::Only]);
    assert_eq!(tiny::Event::ALL.len(), 0);
    assert_eq!(tiny::TRANSITIONS.len(), 0);
    let m = tiny::Tiny::new(());
    assert_eq!(m.state(), tiny::State::Only);
}

#[test]
fn odd_names_work() {
    struct Count(u32);
    impl odd::OddMachineActions for Count {
        fn r#loop(&mut self) {
            self.0 += 1;
        }
        fn r#yield(&mut self) {
            self.0 += 10;
        }
    }
    let m = odd::OddMachine::new(Count(0)).r#type();
    assert_eq!(m.state(), odd::State::S);
    let m = match m.r#match(&|g: odd::Guard| g == odd::Guard::Dyn) {
        odd::SMatch::F(m) => m,
        odd::SMatch::D(_) => panic!("dyn held"),
    };
    assert_eq!(m.data.0, 12);
    assert_eq!(odd::Event::Type.name(), "type");
    assert_eq!(odd::MACHINE, "odd_machine");
    assert!(odd::State::S.in_loop());
    assert!(!odd::State::F.in_loop());
    assert!(odd::State::ALL.iter().all(|s| s.in_every()));
}

#[test]
fn vocabulary_conversions() {
    assert_eq!(
        tcp_bound::Event::from_vocabulary(vocab::Event::RcvSyn),
        Some(tcp_bound::Event::RcvSyn)
    );
    assert_eq!(
        tcp_bound::Event::from_vocabulary(vocab::Event::RcvUrgent),
        None
    );
    assert_eq!(
        tcp_bound::Action::Flush.to_vocabulary(),
        vocab::Action::Flush
    );
    for s in tcp_bound::State::ALL {
        assert_eq!(
            s.in_vocabulary_group(vocab::Group::Synchronized),
            s.in_synchronized()
        );
    }
    const {
        assert!(tcp_bound::State::Established.in_vocabulary_group(vocab::Group::Synchronized));
    }
    assert!(!tcp_bound::State::SynSent.in_synchronized());
    assert!(tcp_bound::State::TimeWait.in_synchronized());
}
