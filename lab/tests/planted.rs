//! The explorer finds bugs in the runtime too, not only in specs: a bug
//! planted in conn.rs behind the test-only switch
//! (`fsm_runtime::testing::plant`) is caught under tcp.fsm, which holds
//! without it, with a counterexample that replays. One test, alone in its
//! binary: the switch is the whole process's.

use fsm_lab::explore::{Options, Property, Scenario, Subject, explore, replay};
use fsm_runtime::testing::{Plant, plant};

fn tcp() -> Subject {
    let path = format!("{}/../tcp.fsm", env!("CARGO_MANIFEST_DIR"));
    let machine = fsm_runtime::loaded::Loaded::load(std::path::Path::new(&path)).expect("loads");
    Subject::new("tcp.fsm", machine)
}

#[test]
fn planted_bugs_are_found_with_a_counterexample() {
    let s = tcp();
    let options = Options::new(Scenario::Echo);
    plant(Plant::Nothing);
    let clean = explore([&s, &s], &options, &|_, _| {}).expect("explores");
    assert!(clean.ok(), "{clean}");
    for bug in [Plant::FinCountedTwice, Plant::AckOneTooFar] {
        plant(bug);
        let r = explore([&s, &s], &options, &|_, _| {}).expect("explores");
        let found: Vec<Property> = r.violations.iter().map(|c| c.violation.property).collect();
        let c = r
            .violations
            .first()
            .unwrap_or_else(|| panic!("{bug:?} not found:\n{r}"));
        println!("{bug:?}: {found:?}, shortest: {}", c.violation);
        let played = replay([&s, &s], &options, &c.schedule).expect("replays");
        println!("{played}");
        // A non-progress counterexample is a lasso: its replay comes back
        // to a state it passed.
        if c.violation.property == Property::NonProgress {
            assert!(played.cycle.is_some(), "{bug:?}: no cycle:\n{played}");
        }
        assert!(
            played.failed(),
            "{bug:?}: the replay does not show it:\n{played}"
        );
        plant(Plant::Nothing);
        let healthy = replay([&s, &s], &options, &c.schedule);
        assert!(
            healthy.as_ref().is_ok_and(|p| !p.failed()) || healthy.is_err(),
            "{bug:?}: the same schedule fails without the bug"
        );
    }
}
