//! Specs loaded at run time behave as the same specs compiled in: the
//! loaded machine and the generated one agree on every (state, event,
//! guard values) input of tcp.fsm and of every spec in `examples/specs/`;
//! a spec outside the vocabulary is refused with `machine!`'s message; and
//! a loaded variant runs over loopback against a compiled-in peer.

mod common;
mod variant_specs;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::Path;
use std::thread;
use std::time::Duration;

use fsm_runtime::loaded::Loaded;
use fsm_runtime::vocab::{Event, Group, Guard, Machine};
use fsm_runtime::{Endpoint, Options};
use variant_specs::*;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// What a machine answers to one input, in names and vocabulary words.
type Answer = Option<(
    &'static str,
    Vec<fsm_runtime::vocab::Action>,
    fsm_runtime::vocab::TransitionInfo,
)>;

fn answer<M: Machine>(m: &M, state: M::State, event: Event, bits: u32) -> Answer {
    let holds = |g: Guard| bits >> (g as u32) & 1 == 1;
    m.step(state, event, &holds).map(|f| {
        (
            m.state_name(f.to),
            f.actions.iter().map(|&a| m.action(a)).collect(),
            m.transition(f.transition),
        )
    })
}

/// Every state of a compiled-in machine, found by walking every input
/// from the initial state.
fn states<M: Machine>(m: &M) -> Vec<M::State> {
    let mut seen = vec![m.initial()];
    let mut i = 0;
    while i < seen.len() {
        for &e in Event::ALL {
            for bits in 0..1 << Guard::ALL.len() {
                let holds = |g: Guard| bits >> (g as u32) & 1 == 1;
                if let Some(f) = m.step(seen[i], e, &holds)
                    && !seen.contains(&f.to)
                {
                    seen.push(f.to);
                }
            }
        }
        i += 1;
    }
    seen
}

/// Holds the loaded machine of `file` against the compiled-in `M` on every
/// input; answers how many inputs were compared.
fn agree<M: Machine + Default>(file: &str) -> usize {
    let generated = M::default();
    let loaded = Loaded::load(root().join(file)).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(loaded.name(), generated.name());
    assert_eq!(loaded.pairs(), generated.pairs(), "{file}");
    assert_eq!(loaded.declarations(), generated.declarations(), "{file}");
    assert_eq!(
        loaded.initial().name(),
        generated.state_name(generated.initial())
    );
    for i in 0..generated.pairs() as u32 {
        assert_eq!(loaded.transition(i), generated.transition(i), "{file}");
        assert!(
            loaded.transition_steps(i).eq(generated.transition_steps(i)),
            "{file}: steps of pair {i}"
        );
    }
    let mut inputs = 0;
    // Every state the generated machine can reach; the loaded machine must
    // know each by name, with the same groups and the same answers.
    let reachable = states(&generated);
    for &s in &reachable {
        let name = generated.state_name(s);
        let l = loaded
            .state(name)
            .unwrap_or_else(|| panic!("{file}: no state {name}"));
        for &g in Group::ALL {
            assert_eq!(
                loaded.in_group(l, g),
                generated.in_group(s, g),
                "{name} {g}"
            );
        }
        assert!(loaded.state_steps(l).eq(generated.state_steps(s)));
        for &e in Event::ALL {
            for bits in 0..1 << Guard::ALL.len() {
                assert_eq!(
                    answer(&loaded, l, e, bits),
                    answer(&generated, s, e, bits),
                    "{file}: {name} on {e} with guards {bits:03b}"
                );
                inputs += 1;
            }
        }
    }
    assert_eq!(reachable.len(), loaded.states().len(), "{file}: states");
    inputs
}

/// [`agree`] for one compiled-in machine.
type Agree = fn(&str) -> usize;

#[test]
fn loaded_and_generated_machines_agree_on_every_input() {
    let specs: [(&str, Agree); 11] = [
        ("tcp.fsm", agree::<fsm_runtime::tcp::Spec>),
        (
            "examples/specs/no_time_wait.fsm",
            agree::<no_time_wait::Spec>,
        ),
        (
            "examples/specs/server_closes_on_fin.fsm",
            agree::<server_closes_on_fin::Spec>,
        ),
        (
            "examples/specs/no_simultaneous_open.fsm",
            agree::<no_simultaneous_open::Spec>,
        ),
        (
            "examples/specs/no_syn_rcvd_established.fsm",
            agree::<no_syn_rcvd_established::Spec>,
        ),
        (
            "examples/specs/no_close_wait.fsm",
            agree::<no_close_wait::Spec>,
        ),
        (
            "examples/specs/rst_ignored_in_established.fsm",
            agree::<rst_ignored_in_established::Spec>,
        ),
        ("examples/specs/no_linger.fsm", agree::<no_linger::Spec>),
        (
            "examples/specs/reset_anywhere_in_window.fsm",
            agree::<reset_anywhere_in_window::Spec>,
        ),
        (
            "examples/specs/time_wait_ignores_rst.fsm",
            agree::<time_wait_ignores_rst::Spec>,
        ),
        (
            "examples/specs/rfc793_figure6_open.fsm",
            agree::<rfc793_figure6_open::Spec>,
        ),
    ];
    // Every spec of examples/specs/ is among them.
    let mut listed: Vec<String> = std::fs::read_dir(root().join("examples/specs"))
        .unwrap()
        .map(|e| {
            format!(
                "examples/specs/{}",
                e.unwrap().file_name().to_string_lossy()
            )
        })
        .filter(|f| f.ends_with(".fsm"))
        .collect();
    listed.sort();
    let mut ours: Vec<String> = specs[1..].iter().map(|(f, _)| f.to_string()).collect();
    ours.sort();
    assert_eq!(ours, listed, "bind every spec of examples/specs/ here");
    for (file, check) in specs {
        let n = check(file);
        println!("{file}: {n} inputs agree");
    }
}

/// The `machine!` message for a word outside the vocabulary, as rustc
/// prints it (tests/ui/fail_unknown_word.stderr), holds the loaded
/// machine's message line for line.
#[test]
fn a_word_outside_the_vocabulary_gets_the_macro_message() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/ui");
    let source = std::fs::read_to_string(dir.join("knock.fsm")).unwrap();
    // Named as the macro call writes it.
    let name = "../../../../runtime/tests/ui/knock.fsm";
    let loaded = Loaded::compile(name, &source).unwrap_err().render();
    let stderr = std::fs::read_to_string(dir.join("fail_unknown_word.stderr")).unwrap();
    let stderr: Vec<&str> = stderr.lines().map(str::trim).collect();
    assert!(loaded.contains("knock.fsm:"), "{loaded}");
    for line in loaded.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let line = line.strip_prefix("error: ").unwrap_or(line);
        assert!(
            stderr.iter().any(|l| l.ends_with(line)),
            "`{line}` is not in the macro's message:\n{}",
            stderr.join("\n")
        );
    }
}

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/fail_*.rs");
}

/// A client loaded from no_time_wait.fsm echoes through a compiled-in
/// tcp.fsm server over loopback: every byte back, and no TIME_WAIT.
#[test]
fn a_loaded_variant_talks_to_a_compiled_in_server() {
    let variant = Loaded::load(root().join("examples/specs/no_time_wait.fsm")).unwrap();
    let options = || Options::with_config(common::config());
    let any = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0);
    let server = Endpoint::bind_with(any, options()).unwrap();
    let client = Endpoint::bind_spec(variant, any, options()).unwrap();
    let listener = server.listen(7000, 4).unwrap();
    let data = common::pattern(50_000, 9);
    let echo = thread::spawn(move || {
        let s = listener.accept_timeout(Duration::from_secs(3)).unwrap().0;
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).unwrap();
        (&s).write_all(&got).unwrap();
        s.close(Duration::from_secs(3)).unwrap();
    });
    let to = SocketAddrV4::new(server.inner_addr(), 7000);
    let s = client
        .connect_via(
            to.into(),
            server.local_addr().unwrap(),
            Duration::from_secs(3),
        )
        .unwrap();
    (&s).write_all(&data).unwrap();
    s.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    (&s).read_to_end(&mut back).unwrap();
    assert!(back == data, "{} bytes back of {}", back.len(), data.len());
    let last = s.wait_finished(Duration::from_secs(3)).unwrap();
    assert_eq!(last.name(), "CLOSED");
    echo.join().unwrap();
    let went: Vec<String> = s
        .trace()
        .iter()
        .map(|e| e.transition.to.to_owned())
        .collect();
    assert!(!went.iter().any(|t| t == "TIME_WAIT"), "{went:?}");
    assert!(went.iter().any(|t| t == "FIN_WAIT_2"), "{went:?}");
}
