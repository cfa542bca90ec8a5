//! `fsm fmt`: every spec in the repository is formatted, formatting keeps
//! the model, and formatting twice changes nothing.

use std::path::Path;
use std::process::Command;

use fsm_codegen::fmt::format;
use fsm_codegen::{Model, compile};
use proptest::prelude::*;

/// What formatting must not change: every declaration and transition, with
/// its texts, steps, rfc and label (not its spans).
fn summary(model: &Model) -> String {
    let steps = |steps: &[fsm_codegen::model::PathStep]| {
        steps.iter().map(|s| (s.path, s.step)).collect::<Vec<_>>()
    };
    let mut out = format!("{} {:?}\n", model.name.text, model.title);
    for s in &model.states {
        out += &format!(
            "state {} {:?} {} {:?}\n",
            s.name.text,
            s.text,
            s.initial,
            steps(&s.steps)
        );
    }
    for e in &model.events {
        out += &format!("event {} {:?} {:?}\n", e.name.text, e.kind, e.text);
    }
    for g in &model.guards {
        out += &format!("guard {} {:?}\n", g.name.text, g.text);
    }
    for a in &model.actions {
        out += &format!("action {} {} {:?}\n", a.name.text, a.internal, a.text);
    }
    for t in &model.transitions {
        out += &format!(
            "{:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} {:?} line {}\n",
            t.sources,
            t.source_form,
            t.target,
            t.event,
            t.guard,
            t.actions,
            steps(&t.steps),
            t.rfc,
            t.label,
            t.line
        );
    }
    out
}

fn repo() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// The specs in the repository (`git ls-files '*.fsm'`); empty, with a
/// note, outside a git checkout (never under CI=true).
fn specs() -> Vec<String> {
    let out = Command::new("git")
        .args(["ls-files", "*.fsm"])
        .current_dir(repo())
        .output();
    match out {
        Ok(out) if out.status.success() && !out.stdout.is_empty() => String::from_utf8(out.stdout)
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect(),
        _ => {
            let why = "no git checkout to list the specs of";
            assert!(
                std::env::var("CI").map_or(true, |v| v != "true"),
                "{why}: CI=true"
            );
            println!("skipped: {why}");
            Vec::new()
        }
    }
}

#[test]
fn every_spec_in_the_repository_is_formatted() {
    let specs = specs();
    assert!(
        specs.is_empty() || specs.iter().any(|s| s == "tcp.fsm"),
        "{specs:?}"
    );
    let mut unformatted = Vec::new();
    for spec in &specs {
        let src = std::fs::read_to_string(repo().join(spec)).unwrap();
        match format(&src) {
            // A spec made to fail (a ui test) may not parse.
            Err(_) => {}
            Ok(formatted) if formatted != src => unformatted.push(spec.as_str()),
            Ok(_) => {}
        }
    }
    assert!(
        unformatted.is_empty(),
        "not formatted: {unformatted:?}; run `cargo run --bin fsm -- fmt {}`",
        unformatted.join(" ")
    );
}

#[test]
fn formatting_keeps_every_specs_model_and_lines() {
    for spec in specs() {
        let src = std::fs::read_to_string(repo().join(&spec)).unwrap();
        let Ok(formatted) = format(&src) else {
            continue;
        };
        assert_eq!(
            format(&formatted).unwrap(),
            formatted,
            "{spec}: formatting twice"
        );
        match (compile(&spec, &src), compile(&spec, &formatted)) {
            (Ok(a), Ok(b)) => assert_eq!(summary(&a.model), summary(&b.model), "{spec}"),
            (Err(_), Err(_)) => {}
            (a, b) => panic!("{spec}: compiles {} before, {} after", a.is_ok(), b.is_ok()),
        }
    }
}

/// A random small spec: the same statements with random spacing, comments
/// and blank lines around them.
fn spec() -> impl Strategy<Value = String> {
    let space = prop::sample::select(vec![" ", "  ", "\t", "   "]);
    let gap = prop::sample::select(vec![
        "\n",
        "\n\n",
        "\n\n\n",
        "  // note\n",
        "\n// own line\n",
        "\n  \n// a\n\n",
    ]);
    let transition = (
        prop::sample::select(vec!["A", "B", "LONG_NAME", "A, B", "any", "grp"]),
        prop::sample::select(vec!["A", "B", "same", "LONG_NAME"]),
        prop::sample::select(vec!["go", "stop", "a_long_event"]),
        prop::sample::select(vec!["", "[g]", "[ !g ]", "[g && !g]", "[(g||g)]"]),
        prop::sample::select(vec!["", "/ -", "/ x", "/x ,yy", "/ yy, x"]),
        prop::sample::select(vec![
            "",
            "rfc 3.1",
            "p 2",
            "p 3  rfc 3.10.1",
            "label \"l\" zh \"标\"",
            "\n   label \"l\"",
        ]),
    );
    let transitions = prop::collection::vec((transition, space.clone(), gap.clone()), 1..8);
    let decl = prop::sample::select(vec![
        "state LONG_NAME \"long\" zh \"长\"",
        "event a_long_event timer \"t\"",
        "action yy internal \"y\"",
        "guard g \"g\"",
    ]);
    (transitions, prop::collection::vec((decl, gap.clone()), 0..4), gap, space).prop_map(
        |(transitions, decls, gap, space)| {
            let mut s = format!("machine M \"m\"{gap}path p solid circled \"p\"\nstate A{space}initial \"a\" p 1\nstate B \"b\"\n");
            s += "event go call \"go\"\nevent stop segment \"stop\"\naction x \"x\"\ngroup grp = A,B\n";
            let mut declared = std::collections::HashSet::new();
            for (d, g) in decls {
                if declared.insert(d) {
                    s += d;
                    s += g;
                }
            }
            for d in ["state LONG_NAME \"long\"", "event a_long_event timer \"t\"", "action yy internal \"y\"", "guard g \"g\""] {
                if !declared.iter().any(|x| x.starts_with(&d[..d.len() - 4])) {
                    s += d;
                    s += "\n";
                }
            }
            for ((src, dst, ev, guard, actions, notes), sp, g) in transitions {
                s += &format!("{src}{sp}->{sp}{dst} on {ev}{sp}{guard}{sp}{actions}{sp}{notes}{g}");
            }
            s
        },
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 500, .. ProptestConfig::default() })]

    /// Formatting twice changes nothing, and formatting keeps the model.
    #[test]
    fn formatting_is_idempotent_and_keeps_the_model(src in spec()) {
        let once = format(&src).unwrap();
        prop_assert_eq!(format(&once).unwrap(), once.clone());
        prop_assert_eq!(once.lines().filter(|l| l.contains("//")).count(),
                        src.lines().filter(|l| l.contains("//")).count());
        let (a, b) = (compile("a.fsm", &src), compile("b.fsm", &once));
        prop_assert_eq!(a.is_ok(), b.is_ok());
        if let (Ok(a), Ok(b)) = (a, b) {
            let strip = |s: String| s.lines().map(|l| l.split(" line ").next().unwrap().to_owned()).collect::<Vec<_>>();
            prop_assert_eq!(strip(summary(&a.model)), strip(summary(&b.model)));
        }
    }
}
