//! The gallery of RFC state machines, `examples/protocols/`: every spec
//! compiles with no warning, and each exploration listed in
//! `examples/protocols/gallery.txt` finds exactly what the header comment
//! of its first spec says (`// found: …` and `// pairs never taken: …`,
//! under the line's own `fsm explore …` command), so that the comments
//! stay true when the specs or the explorer change.

use std::path::{Path, PathBuf};

use fsm_codegen::explore::{Exploration, Finding, Network, Order, Peer, explore};
use fsm_codegen::tour::History;
use fsm_codegen::{Model, compile};

/// As `fsm explore`'s default `--max-states`.
const MAX_STATES: usize = 20_000_000;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("codegen/ sits in the workspace")
        .to_owned()
}

fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn load(relative: &str) -> (String, Model) {
    let source = read(&root().join(relative));
    match compile(relative, &source) {
        Ok(spec) => {
            assert!(spec.warnings.is_empty(), "{relative}: {:#?}", spec.warnings);
            (source, spec.model)
        }
        Err(r) => panic!("{relative}: {:#?}", r.diagnostics),
    }
}

/// One line of gallery.txt: the specs (one, explored against itself, or
/// two), the network and the `--history` options.
#[derive(Debug)]
struct Line {
    text: String,
    specs: Vec<String>,
    network: Network,
    history: Vec<String>,
}

fn parse_line(text: &str) -> Line {
    let mut line = Line {
        text: text.to_owned(),
        specs: Vec::new(),
        network: Network::default(),
        history: Vec::new(),
    };
    let mut args = text.split_whitespace();
    while let Some(arg) = args.next() {
        let mut value = |name: &str| -> String {
            args.next()
                .unwrap_or_else(|| panic!("{text}: {name} wants a value"))
                .to_owned()
        };
        let number = |name: &str, v: String| -> u64 {
            v.parse()
                .unwrap_or_else(|e| panic!("{text}: {name} {v}: {e}"))
        };
        match arg {
            "--unordered" => line.network.order = Order::Unordered,
            "--capacity" => line.network.capacity = number(arg, value(arg)) as usize,
            "--loss" => line.network.loss = number(arg, value(arg)) as u8,
            "--dup" => line.network.duplication = number(arg, value(arg)) as u8,
            "--history" => line.history.push(value(arg)),
            option if option.starts_with("--") => panic!("{text}: unknown option {option}"),
            spec => line.specs.push(spec.to_owned()),
        }
    }
    assert!(
        (1..=2).contains(&line.specs.len()),
        "{text}: one or two specs"
    );
    line
}

fn gallery_lines() -> Vec<Line> {
    let lines: Vec<Line> = read(&root().join("examples/protocols/gallery.txt"))
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(parse_line)
        .collect();
    assert!(
        lines.len() >= 5,
        "gallery.txt lists {} explorations",
        lines.len()
    );
    lines
}

/// What a header comment states an exploration finds.
#[derive(Debug, Default, PartialEq, Eq)]
struct Stated {
    states: usize,
    deadlocks: usize,
    unspecified: usize,
    cycles: usize,
    never_taken: [usize; 2],
}

fn number(text: &str) -> usize {
    text.replace(',', "")
        .parse()
        .unwrap_or_else(|e| panic!("`{text}`: {e}"))
}

/// Reads `// found: 9,482 states, 568 deadlocks, 28 unspecified
/// receptions, 333 non-progress cycles.` and `// pairs never taken: A 0,
/// B 0 …` from a spec's comments.
fn stated(spec: &str, source: &str) -> Stated {
    let mut s = Stated::default();
    let found = source
        .lines()
        .find_map(|l| l.strip_prefix("// found: "))
        .unwrap_or_else(|| panic!("{spec}: no `// found:` line"));
    let mut kinds = 0;
    for part in found.trim_end_matches('.').split(", ") {
        let (n, kind) = part
            .split_once(' ')
            .unwrap_or_else(|| panic!("{spec}: `{part}`"));
        let slot = match kind {
            "states" => &mut s.states,
            "deadlocks" => &mut s.deadlocks,
            "unspecified receptions" => &mut s.unspecified,
            "non-progress cycles" => &mut s.cycles,
            _ => panic!("{spec}: unknown kind `{kind}` in `// found:`"),
        };
        *slot = number(n);
        kinds += 1;
    }
    assert_eq!(
        kinds, 4,
        "{spec}: `// found:` names states and the three kinds"
    );
    let never = source
        .lines()
        .find_map(|l| l.strip_prefix("// pairs never taken: "))
        .unwrap_or_else(|| panic!("{spec}: no `// pairs never taken:` line"));
    for (side, letter) in ["A ", "B "].iter().enumerate() {
        let at = never
            .find(letter)
            .unwrap_or_else(|| panic!("{spec}: `{never}` names no {letter}"));
        let digits: String = never[at + 2..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        s.never_taken[side] = number(&digits);
    }
    s
}

fn measured(e: &Exploration) -> Stated {
    let count = |f: fn(&Finding) -> bool| e.findings.iter().filter(|x| f(x)).count();
    Stated {
        states: e.states,
        deadlocks: count(|f| matches!(f, Finding::Deadlock { .. })),
        unspecified: count(|f| matches!(f, Finding::UnspecifiedReception { .. })),
        cycles: count(|f| matches!(f, Finding::NonProgressCycle { .. })),
        never_taken: [e.untaken[0].len(), e.untaken[1].len()],
    }
}

/// The `--history` options a model declares the guard of, as `fsm
/// explore` gives them to each side.
fn histories(model: &Model, history: &[String]) -> Vec<History> {
    history
        .iter()
        .filter(|h| {
            let guard = h.split(':').next().unwrap_or("");
            model.guards.iter().any(|g| g.name.text == guard)
        })
        .map(|h| History::parse(model, h).unwrap_or_else(|e| panic!("--history {h}: {e}")))
        .collect()
}

#[test]
fn every_gallery_spec_compiles_without_a_warning() {
    let dir = root().join("examples/protocols");
    let mut specs: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "fsm"))
        .collect();
    specs.sort();
    assert!(specs.len() >= 8, "{specs:?}");
    let listed: String = gallery_lines()
        .iter()
        .map(|l| l.text.clone())
        .collect::<Vec<_>>()
        .join("\n");
    for spec in specs {
        let relative = format!(
            "examples/protocols/{}",
            spec.file_name().and_then(|n| n.to_str()).expect("a name")
        );
        load(&relative);
        assert!(
            listed.contains(&relative),
            "{relative} is in no exploration of gallery.txt"
        );
    }
}

#[test]
fn each_exploration_finds_what_its_header_says() {
    let mut wrong = Vec::new();
    for line in gallery_lines() {
        let (source, a) = load(&line.specs[0]);
        let b = line.specs.get(1).map(|spec| load(spec).1);
        let b = b.as_ref().unwrap_or(&a);
        let peers = [
            Peer {
                model: &a,
                name: "A".to_owned(),
                history: histories(&a, &line.history),
            },
            Peer {
                model: b,
                name: "B".to_owned(),
                history: histories(b, &line.history),
            },
        ];
        for h in &line.history {
            assert!(
                peers.iter().any(|p| p
                    .history
                    .iter()
                    .any(|x| h.starts_with(&p.model.guards[x.guard.index()].name.text))),
                "{}: --history {h}: neither spec has the guard",
                line.text
            );
        }
        let e = explore(&peers[0], &peers[1], line.network, MAX_STATES);
        assert!(!e.truncated, "{}: truncated", line.text);
        assert!(
            source.contains(&format!("//   fsm explore {}\n", line.text)),
            "{}: its header does not give the command `fsm explore {}`",
            line.specs[0],
            line.text
        );
        let said = stated(&line.specs[0], &source);
        let found = measured(&e);
        println!("{}: {found:?}", line.text);
        if said != found {
            wrong.push(format!(
                "{}\n  the header says {said:?}\n  the explorer finds {found:?}",
                line.text
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
