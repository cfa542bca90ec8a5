//! `fsm explore` against SPIN: the Promela export of an exploration,
//! searched exhaustively by SPIN (partial-order reduction off), must store
//! exactly the explorer's states and count exactly its violations
//! (unspecified receptions per state, deadlocks) as errors; on every spec
//! in the repository, on the gallery's explorations, and on random specs
//! with messages.
//!
//! Needs `spin` and a C compiler: without them each test prints
//! `skipped: …` and passes, except in CI (`CI=true`), where it fails
//! (`.ci/run` installs Debian's `spin`).

use std::path::{Path, PathBuf};
use std::process::Command;

use fsm_codegen::explore::{Network, Order, Peer, explore};
use fsm_codegen::tour::History;
use fsm_codegen::{Model, compile};

mod support {
    include!("support/random_spec.rs");
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether SPIN and `cc` run here; if not, says why (skip, or fail in CI).
#[track_caller]
fn tools() -> bool {
    let runs = |cmd: &str, arg: &str| {
        Command::new(cmd)
            .arg(arg)
            .output()
            .is_ok_and(|o| o.status.success())
    };
    let missing: Vec<&str> = [("spin", "-V"), ("cc", "--version")]
        .into_iter()
        .filter(|(c, a)| !runs(c, a))
        .map(|(c, _)| c)
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!("{} not installed", missing.join(" and "));
    if std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{why}: with CI=true no test may be skipped (`.ci/run` installs spin)");
    }
    println!("skipped: {why}");
    false
}

/// What SPIN said: states stored, errors.
fn spin(promela: &str, dir: &Path) -> (usize, usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("model.pml"), promela).unwrap();
    let run = |cmd: &mut Command| {
        let out = cmd.current_dir(dir).output().expect("run");
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{cmd:?}: {text}\n{promela}");
        text
    };
    run(Command::new("spin").args(["-a", "model.pml"]));
    run(Command::new("cc").args(["-O1", "-DSAFETY", "-DNOREDUCE", "-o", "pan", "pan.c"]));
    let report = run(Command::new("./pan").args(["-c0", "-m10000000"]));
    assert!(!report.contains("max search depth too small"), "{report}");
    let number_before = |marker: &str| -> usize {
        let at = report
            .find(marker)
            .unwrap_or_else(|| panic!("no `{marker}` in {report}"));
        report[..at]
            .split_whitespace()
            .last()
            .and_then(|w| w.parse().ok())
            .unwrap_or_else(|| panic!("no number before `{marker}` in {report}"))
    };
    let errors = report
        .split("errors: ")
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|w| w.parse().ok())
        .unwrap_or_else(|| panic!("no error count in {report}"));
    (number_before("states, stored"), errors)
}

/// Explores `a` against `b` both ways (ours, SPIN's) and asserts they agree.
fn agree(a: &Peer<'_>, b: &Peer<'_>, network: Network, dir: &Path) {
    let ours = explore(a, b, network, 2_000_000);
    assert!(
        !ours.truncated,
        "{} against {}: too big for the test",
        a.name, b.name
    );
    let promela = fsm_codegen::promela::promela(a, b, network).expect("a FIFO model");
    let (states, errors) = spin(&promela, dir);
    assert_eq!(
        (states, errors),
        (ours.states, ours.violations),
        "{} against {} over {network:?}: SPIN's (states, errors), ours (states, violations)",
        a.name,
        b.name
    );
}

fn model(path: &Path) -> Model {
    let text = std::fs::read_to_string(path).unwrap();
    compile(&path.display().to_string(), &text)
        .unwrap_or_else(|r| panic!("{}: {:#?}", path.display(), r.diagnostics))
        .model
}

fn peer<'a>(model: &'a Model, name: &str, history: &[&str]) -> Peer<'a> {
    Peer {
        model,
        name: name.to_owned(),
        history: history
            .iter()
            .filter(|h| {
                let guard = h.split(':').next().unwrap_or("");
                model.guards.iter().any(|g| g.name.text == guard)
            })
            .map(|h| History::parse(model, h).unwrap())
            .collect(),
    }
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("fsm-spin-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The specs of the repository: the three at the top and those under
/// examples/ and runtime/tests/specs.
fn repository_specs() -> Vec<PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "fsm") {
                out.push(p);
            }
        }
    }
    let mut specs = Vec::new();
    for top in ["tcp.fsm", "congestion.fsm", "recovery.fsm"] {
        specs.push(root().join(top));
    }
    walk(&root().join("examples"), &mut specs);
    walk(&root().join("runtime/tests/specs"), &mut specs);
    specs.sort();
    specs
}

#[test]
fn spin_agrees_on_every_spec_of_the_repository_against_itself() {
    if !tools() {
        return;
    }
    let dir = scratch("repo");
    let mut checked = 0;
    for path in repository_specs() {
        let m = model(&path);
        let name = path
            .strip_prefix(root())
            .unwrap_or(&path)
            .display()
            .to_string();
        let history = ["passive:LISTEN/SYN_SENT"];
        let (a, b) = (
            peer(&m, &format!("A ({name})"), &history),
            peer(&m, &format!("B ({name})"), &history),
        );
        agree(&a, &b, Network::default(), &dir.join(checked.to_string()));
        checked += 1;
    }
    assert!(checked >= 15, "only {checked} specs found");
}

#[test]
fn spin_agrees_on_tcp_with_loss_duplication_and_small_channels() {
    if !tools() {
        return;
    }
    let m = model(&root().join("tcp.fsm"));
    let history = ["passive:LISTEN/SYN_SENT"];
    let (a, b) = (peer(&m, "A", &history), peer(&m, "B", &history));
    let dir = scratch("tcp");
    for (i, network) in [
        Network {
            loss: 1,
            ..Network::default()
        },
        Network {
            duplication: 1,
            ..Network::default()
        },
        Network {
            capacity: 1,
            loss: 1,
            duplication: 1,
            ..Network::default()
        },
    ]
    .into_iter()
    .enumerate()
    {
        agree(&a, &b, network, &dir.join(i.to_string()));
    }
}

#[test]
fn spin_agrees_on_the_gallery() {
    if !tools() {
        return;
    }
    let list = root().join("examples/protocols/gallery.txt");
    let Ok(text) = std::fs::read_to_string(&list) else {
        // The gallery is optional for this test; the gallery's own test
        // insists on it.
        return;
    };
    let dir = scratch("gallery");
    for (i, line) in text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .enumerate()
    {
        let words: Vec<&str> = line.split_whitespace().collect();
        let files: Vec<&str> = words
            .iter()
            .copied()
            .take_while(|w| !w.starts_with("--"))
            .collect();
        let mut network = Network::default();
        let mut history: Vec<&str> = Vec::new();
        let mut options = words[files.len()..].iter().copied();
        while let Some(flag) = options.next() {
            match flag {
                "--unordered" => network.order = Order::Unordered,
                "--capacity" | "--loss" | "--dup" | "--history" => {
                    let value = options
                        .next()
                        .unwrap_or_else(|| panic!("{line}: {flag} needs a value"));
                    match flag {
                        "--capacity" => network.capacity = value.parse().unwrap(),
                        "--loss" => network.loss = value.parse().unwrap(),
                        "--dup" => network.duplication = value.parse().unwrap(),
                        _ => history.push(value),
                    }
                }
                other => panic!("{line}: option {other} is not one the cross-check knows"),
            }
        }
        if network.order != Order::Fifo {
            continue;
        }
        let a = model(&root().join(files[0]));
        let b = model(&root().join(files.get(1).copied().unwrap_or(files[0])));
        agree(
            &peer(&a, "A", &history),
            &peer(&b, "B", &history),
            network,
            &dir.join(i.to_string()),
        );
    }
}

/// A random spec with messages: the segment events raised by random
/// messages, some actions sending one.
fn random_with_messages(seed: u64) -> String {
    let text = support::random_spec(seed, 2 + seed as usize % 4, 6, 2, 1 + seed as usize % 3);
    let mut rng = support::Rng(seed ^ 0x5eed);
    let messages = 1 + rng.below(3);
    let mut out = String::new();
    for line in text.lines() {
        let mut line = line.to_owned();
        if line.starts_with("event ") && line.contains(" segment ") {
            let m = rng.below(messages);
            line = line.replacen(" segment ", &format!(" segment on M{m} "), 1);
        } else if line.starts_with("action ") && !line.contains(" internal ") && rng.below(2) == 0 {
            let m = rng.below(messages);
            let name_end = line[7..].find(' ').map_or(line.len(), |i| i + 7);
            line.insert_str(name_end, &format!(" sends M{m}"));
        }
        out.push_str(&line);
        out.push('\n');
    }
    for m in 0..messages {
        out.push_str(&format!("message M{m} \"message {m}\"\n"));
    }
    out
}

#[test]
fn spin_agrees_on_random_specs_with_messages() {
    if !tools() {
        return;
    }
    let dir = scratch("random");
    for seed in 0..24u64 {
        let (sa, sb) = (
            random_with_messages(seed),
            random_with_messages(seed + 1000),
        );
        let compiled = |s: &str| {
            compile("random.fsm", s)
                .unwrap_or_else(|r| panic!("{s}\n{:#?}", r.diagnostics))
                .model
        };
        let (ma, mb) = (compiled(&sa), compiled(&sb));
        // Kept beside the model, for a failure's reader.
        let here = dir.join(seed.to_string());
        std::fs::create_dir_all(&here).unwrap();
        std::fs::write(here.join("a.fsm"), &sa).unwrap();
        std::fs::write(here.join("b.fsm"), &sb).unwrap();
        let network = Network {
            capacity: 1 + seed as usize % 2,
            loss: (seed % 3 == 1) as u8,
            duplication: (seed % 4 == 2) as u8,
            ..Network::default()
        };
        agree(
            &peer(&ma, "A", &[]),
            &peer(&mb, "B", &[]),
            network,
            &dir.join(seed.to_string()),
        );
    }
}
