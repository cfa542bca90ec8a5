//! Section 1: the generator's time on tcp.fsm and on generated specs of
//! 1,000 / 10,000 / 100,000 transitions, and the build cost of the `fsm!`
//! macro against the same code pasted in.
//!
//! Each spec size runs in a child process (this binary with
//! `--child-generate`), which prints one line per repetition; the parent
//! stops reading, and kills the child, when the size's time budget is
//! spent, so a size the generator cannot handle in time costs its budget
//! and no more.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode, Stdio};
use std::time::{Duration, Instant, SystemTime};

use crate::Plan;
use crate::table::{Table, int, median, num, ratio, spread};

/// tcp.fsm, as the other sections see it.
pub const TCP_FSM: &str = include_str!("../../tcp.fsm");

/// A deterministic spec of exactly `transitions` transition rows (a
/// multiple of 4; rounded up): `transitions / 4` states in a ring on
/// `next`, and from each state a guard/negation pair on `poke` and a
/// guarded self-loop on `tick`. Every state is reachable and leads back to
/// the initial one; no two transitions can fire together.
pub fn ring_spec(transitions: usize) -> String {
    let states = transitions.div_ceil(4).max(2);
    let mut s = String::with_capacity(states * 200);
    s.push_str("machine Ring \"generated: a ring with guarded extras\"\n");
    s.push_str("path ring solid circled \"around the ring\"\n");
    for i in 0..states {
        let initial = if i == 0 { " initial" } else { "" };
        let _ = writeln!(s, "state S{i}{initial} \"state {i}\"");
    }
    s.push_str(
        "event next call \"next\"\nevent poke segment \"poke\"\nevent tick timer \"tick\"\n",
    );
    s.push_str("guard ready \"ready\"\nguard late \"late\"\n");
    s.push_str("action a0 \"first\"\naction a1 \"second\"\naction a2 internal \"third\"\n");
    for i in 0..states {
        let step = if i < 3 {
            format!(" ring {}", i + 1)
        } else {
            String::new()
        };
        let _ = writeln!(s, "S{i} -> S{} on next / a0{step}", (i + 1) % states);
        let _ = writeln!(s, "S{i} -> S{} on poke [ready] / a1", (i * 7 + 3) % states);
        let _ = writeln!(
            s,
            "S{i} -> S{} on poke [!ready] / a1, a2",
            (i * 13 + 5) % states
        );
        let _ = writeln!(s, "S{i} -> same on tick [late && !ready] / a2");
    }
    s
}

/// The child: `reps` times parse + check (`compile`) and generate (tokens,
/// unformatted), printing `run COMPILE_MS GENERATE_MS` after each.
pub fn child(transitions: usize, reps: usize) -> ExitCode {
    let (name, source) = if transitions == 0 {
        ("tcp.fsm".to_owned(), TCP_FSM.to_owned())
    } else {
        (format!("ring-{transitions}.fsm"), ring_spec(transitions))
    };
    println!("spec {} bytes", source.len());
    let options = fsm_codegen::rust::RustOptions::default();
    for _ in 0..reps {
        let t = Instant::now();
        let spec = match fsm_codegen::compile(&name, &source) {
            Ok(s) => s,
            Err(r) => {
                eprintln!("{}", r.render());
                return ExitCode::FAILURE;
            }
        };
        let compiled = t.elapsed().as_secs_f64() * 1e3;
        let rows: usize = spec.model.transitions.iter().map(|t| t.sources.len()).sum();
        let t = Instant::now();
        let generated = fsm_codegen::rust::generate(&spec, &options);
        let ms = t.elapsed().as_secs_f64() * 1e3;
        match generated {
            Ok(tokens) => {
                drop((tokens, spec));
                println!("run {compiled} {ms} {rows}");
            }
            Err(r) => {
                // The generator refuses (a size limit): say why, once a run.
                let first = r.render().lines().next().unwrap_or_default().to_owned();
                println!("run {compiled} rejected {rows} {first}");
            }
        }
    }
    ExitCode::SUCCESS
}

/// What one spec size gave.
struct Sized {
    /// Total (parse + check + generate) per run, ms.
    total: Vec<f64>,
    compile: Vec<f64>,
    generate: Vec<f64>,
    bytes: usize,
    rows: usize,
    /// The budget ran out before all repetitions were done.
    cut: bool,
    /// Why the generator refused the spec, if it did.
    rejected: Option<String>,
}

/// Runs `--child-generate transitions` for at most `budget`.
fn run_child(transitions: usize, reps: usize, budget: Duration) -> Result<Sized, String> {
    let mut out = Sized {
        total: vec![],
        compile: vec![],
        generate: vec![],
        bytes: 0,
        rows: 0,
        cut: false,
        rejected: None,
    };
    let args = [
        "--child-generate".to_owned(),
        transitions.to_string(),
        "--child-reps".to_owned(),
        reps.to_string(),
    ];
    let (cut, ok) = crate::run_self(&args, budget, |line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        match f.as_slice() {
            ["spec", b, "bytes"] => out.bytes = b.parse().unwrap_or(0),
            ["run", c, g, rows, rest @ ..] => {
                let c: f64 = c.parse().unwrap_or(f64::NAN);
                out.compile.push(c);
                out.rows = rows.parse().unwrap_or(0);
                if *g == "rejected" {
                    out.rejected = Some(rest.join(" "));
                    eprintln!(
                        "  {transitions} transitions: parse+check {c:.1} ms; generate refused"
                    );
                } else {
                    let g: f64 = g.parse().unwrap_or(f64::NAN);
                    out.generate.push(g);
                    out.total.push(c + g);
                    eprintln!(
                        "  {transitions} transitions: parse+check {c:.1} ms, generate {g:.1} ms"
                    );
                }
            }
            _ => {}
        }
    })?;
    out.cut = cut;
    if !cut && !ok {
        return Err("the generator child failed".into());
    }
    Ok(out)
}

/// Section 1a.
pub fn generator(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    // (transitions, repetitions, budget in s); 0 is tcp.fsm. 64,000 is the
    // largest round size under the generator's u16 limits.
    let sizes: [(usize, usize, u64); 5] = if plan.quick {
        [
            (0, 10, 10),
            (1_000, 5, 10),
            (10_000, 3, 15),
            (64_000, 1, 20),
            (100_000, 1, 20),
        ]
    } else {
        [
            (0, 21, 30),
            (1_000, 11, 60),
            (10_000, 7, 120),
            (64_000, 5, 300),
            (100_000, 5, 300),
        ]
    };
    // (transitions, median parse+check, median total, budget) per size.
    let mut medians: Vec<(usize, f64, f64, f64)> = Vec::new();
    for (n, reps, budget) in sizes {
        let name = if n == 0 {
            "tcp.fsm".to_owned()
        } else {
            format!("ring of {} transitions", int(n))
        };
        eprintln!("  {name}: up to {reps} runs in {budget} s");
        let r = run_child(n, reps, Duration::from_secs(budget))?;
        let budget_ms = budget as f64 * 1e3;
        if r.compile.is_empty() {
            table.row(
                "1 generator",
                &format!("parse+check+generate, {name}"),
                &format!("> {}", num(budget_ms)),
                "ms",
                0,
                "",
                &format!(
                    "no run finished within the {budget} s budget ({} KB of source)",
                    num(r.bytes as f64 / 1e3)
                ),
            );
            medians.push((n, f64::NAN, f64::NAN, budget_ms));
            continue;
        }
        let (mc, mt) = (median(&r.compile), median(&r.total));
        let mut note = format!(
            "{} rows, {} KB of source; ",
            int(r.rows),
            num(r.bytes as f64 / 1e3)
        );
        if let Some(why) = &r.rejected {
            let _ = write!(note, "generate refuses it: {why}");
        } else {
            let _ = write!(
                note,
                "parse+check {} ms, generate {} ms",
                num(mc),
                num(median(&r.generate))
            );
        }
        if r.cut {
            let _ = write!(
                note,
                "; the {budget} s budget ran out after {} runs",
                r.compile.len()
            );
        }
        let (what, value, runs, sp) = if r.rejected.is_some() {
            (
                format!("parse+check only, {name}"),
                mc,
                r.compile.len(),
                spread(&r.compile),
            )
        } else {
            (
                format!("parse+check+generate, {name}"),
                mt,
                r.total.len(),
                spread(&r.total),
            )
        };
        if !sp.is_empty() {
            let _ = write!(note, "; {sp}");
        }
        table.row("1 generator", &what, &num(value), "ms", runs, "", &note);
        medians.push((n, mc, mt, budget_ms));
    }
    // Growth exponent: slope of log time against log size.
    let slope =
        |n0: usize, t0: f64, n1: usize, t1: f64| (t1 / t0).ln() / (n1 as f64 / n0 as f64).ln();
    let at = |n: usize| medians.iter().find(|m| m.0 == n).copied();
    if let Some((_, c1, t1, _)) = at(1_000) {
        // parse+check, 1k → 100k.
        if let Some((n, c, _, b)) = at(100_000) {
            let (value, note) = if c.is_nan() {
                (
                    format!("≥ {}", num(slope(1_000, c1, n, b))),
                    "100k timed out: a bound from its budget".to_owned(),
                )
            } else {
                let mid = at(10_000).map_or(String::new(), |(_, c10, ..)| {
                    format!(
                        "1k→10k {}, 10k→100k {}; ",
                        num(slope(1_000, c1, 10_000, c10)),
                        num(slope(10_000, c10, n, c))
                    )
                });
                (
                    num(slope(1_000, c1, n, c)),
                    format!("{mid}1 = linear, 2 = quadratic"),
                )
            };
            table.row(
                "1 generator",
                "growth exponent of parse+check, 1k → 100k transitions",
                &value,
                "",
                0,
                "",
                &note,
            );
        }
        // parse+check+generate, from 1k to the largest size generated.
        if let Some(&(n, _, t, _)) = medians.iter().rev().find(|m| m.0 > 1_000 && !m.2.is_nan()) {
            let mid = at(10_000)
                .filter(|_| n > 10_000)
                .map_or(String::new(), |(_, _, t10, _)| {
                    format!(
                        "1k→10k {}, 10k→{}k {}; ",
                        num(slope(1_000, t1, 10_000, t10)),
                        n / 1_000,
                        num(slope(10_000, t10, n, t))
                    )
                });
            let why = if n < 100_000 {
                "; 100k: generate refuses more than 65,535 rows (u16 numbering)"
            } else {
                ""
            };
            table.row(
                "1 generator",
                &format!(
                    "growth exponent of parse+check+generate, 1k → {}k transitions",
                    n / 1_000
                ),
                &num(slope(1_000, t1, n, t)),
                "",
                0,
                "",
                &format!("{mid}1 = linear{why}"),
            );
        }
    }
    Ok(())
}

/// Where the fixture crates live.
fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("perf-fixtures")
}

/// `cargo build --release` of `manifest` into `target`, timed, killed
/// after `limit`; cargo's output is shown only on failure.
fn cargo_build(
    manifest: &Path,
    target: &Path,
    env: &[(&str, &str)],
    limit: Duration,
) -> Result<f64, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let log_path = target.join("perf-cargo.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = Command::new(cargo);
    cmd.args(["build", "--release", "--manifest-path"])
        .arg(manifest)
        .arg("--target-dir")
        .arg(target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("CARGO_BUILD_TARGET_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(log);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t = Instant::now();
    let mut child = cmd.spawn().map_err(|e| format!("cargo: {e}"))?;
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| e.to_string())? {
            break status;
        }
        if t.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!(
                "cargo build of {} took over {} s; killed",
                manifest.display(),
                limit.as_secs()
            ));
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    let s = t.elapsed().as_secs_f64();
    if !status.success() {
        return Err(format!(
            "cargo build of {} failed:\n{}",
            manifest.display(),
            std::fs::read_to_string(&log_path).unwrap_or_default()
        ));
    }
    Ok(s)
}

/// A fixture crate to build: where it is, where it builds, with what
/// environment.
struct Fixture<'a> {
    label: &'a str,
    dir: PathBuf,
    target: PathBuf,
    env: &'a [(&'a str, &'a str)],
}

impl Fixture<'_> {
    /// Builds it; `limit` bounds the build.
    fn build(&self, limit: Duration) -> Result<f64, String> {
        std::fs::create_dir_all(&self.target).map_err(|e| e.to_string())?;
        cargo_build(&self.dir.join("Cargo.toml"), &self.target, self.env, limit)
    }
}

/// Sets the file's modification time to now, as `touch` does.
fn touch(path: &Path) -> std::io::Result<()> {
    std::fs::File::options()
        .write(true)
        .open(path)?
        .set_modified(SystemTime::now())
}

/// Section 1b: build cost of `fsm!("tcp.fsm")` against the generated code
/// pasted into the same crate.
pub fn macro_build(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    let target = &plan.fixture_target;
    std::fs::create_dir_all(target)?;
    let macro_crate = fixtures().join("macro");
    // The pasted crate: the fixture's manifest and lib.rs, and src/tcp.rs
    // generated now, in a directory of its own under the target directory.
    let pasted = target.join("pasted-crate");
    std::fs::create_dir_all(pasted.join("src"))?;
    let template = fixtures().join("pasted");
    for f in ["Cargo.toml", "Cargo.lock", "src/lib.rs"] {
        let from = template.join(f);
        let to = pasted.join(f);
        // Copy only when changed, so the warm-up build stays warm.
        let new = std::fs::read(&from)?;
        if std::fs::read(&to).ok().as_deref() != Some(&new[..]) {
            std::fs::write(&to, &new)?;
        }
    }
    let spec = fsm_codegen::compile("tcp.fsm", TCP_FSM).map_err(|r| r.render())?;
    let text = fsm_codegen::rust::generate_file(&spec).map_err(|r| r.render())?;
    let tcp_rs = pasted.join("src/tcp.rs");
    if std::fs::read_to_string(&tcp_rs).ok().as_deref() != Some(&text[..]) {
        std::fs::write(&tcp_rs, &text)?;
    }

    let opt3 = [("CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_OPT_LEVEL", "3")];
    let mut variants = vec![
        Fixture {
            label: "fsm!(\"tcp.fsm\")",
            dir: macro_crate.clone(),
            target: target.join("default"),
            env: &[],
        },
        Fixture {
            label: "generated code pasted",
            dir: pasted.clone(),
            target: target.join("default"),
            env: &[],
        },
    ];
    if !plan.quick {
        variants.push(Fixture {
            label: "fsm!(\"tcp.fsm\"), proc-macro and its deps at opt-level 3",
            dir: macro_crate.clone(),
            target: target.join("opt3"),
            env: &opt3,
        });
    }
    for v in &variants {
        eprintln!(
            "  warm-up build: {} (its dependencies, once per target directory)",
            v.label
        );
        let s = v.build(Duration::from_secs(900))?;
        eprintln!("  warm-up: {s:.1} s");
    }
    let rounds = if plan.quick { 3 } else { 7 };
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); variants.len()];
    // Cargo's own cost: a build with nothing to do.
    let mut noop = Vec::new();
    for round in 0..rounds {
        for (i, v) in variants.iter().enumerate() {
            touch(&v.dir.join("src/lib.rs"))?;
            let s = v.build(Duration::from_secs(300))?;
            eprintln!("  round {}: {}: {s:.2} s", round + 1, v.label);
            times[i].push(s);
        }
        noop.push(variants[1].build(Duration::from_secs(300))?);
    }
    let base = median(&times[1]);
    for (i, v) in variants.iter().enumerate() {
        let m = median(&times[i]);
        let r = if i == 1 {
            "1× (base)".to_owned()
        } else {
            ratio(m, base)
        };
        let note = match i {
            0 => "touch src/lib.rs, `cargo build --release`, wall time; the macro runs fsm-codegen unoptimised (release's build-override default)".to_owned(),
            1 => format!(
                "the same lib.rs with `fsm rust` output ({} lines) pasted as src/tcp.rs; a build with nothing to do takes {} s of these",
                int(text.lines().count()),
                num(median(&noop))
            ),
            _ => "`CARGO_PROFILE_RELEASE_BUILD_OVERRIDE_OPT_LEVEL=3`".to_owned(),
        };
        let sp = spread(&times[i]);
        let note = if sp.is_empty() {
            note
        } else {
            format!("{note}; {sp} s")
        };
        table.row(
            "1 macro",
            &format!("rebuild of the fixture crate, {}", v.label),
            &num(m),
            "s",
            times[i].len(),
            &r,
            &note,
        );
    }
    Ok(())
}
