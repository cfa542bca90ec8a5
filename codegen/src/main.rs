//! `fsm`: check a spec, draw it, generate Rust from it.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use fsm_codegen::dot::DrawOptions;
use fsm_codegen::{LoadError, Spec};

#[derive(Parser)]
#[command(
    name = "fsm",
    version,
    about = "Check, draw and generate code from .fsm state-machine specs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check a spec; print errors and warnings with file:line:col.
    /// Exits 1 when there are errors.
    Check {
        /// The spec file.
        file: PathBuf,
    },
    /// Print the spec as Graphviz DOT.
    Dot(Draw),
    /// Print the spec as a Mermaid stateDiagram-v2.
    Mermaid(Draw),
    /// Draw the spec as SVG, in pure Rust (no Graphviz needed).
    Svg(Draw),
    /// Print counts and each state's in/out degree.
    Stats {
        /// The spec file.
        file: PathBuf,
    },
    /// Print the Rust code generated from the spec, formatted.
    Rust {
        /// The spec file.
        file: PathBuf,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Lay specs out canonically (aligned columns, comments kept), in place.
    /// `-` reads standard input and writes standard output.
    Fmt {
        /// With `--check`: write nothing; list the files that would change
        /// and exit 1 if any would.
        #[arg(long)]
        check: bool,
        /// The spec files, or `-`.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Print a tour: event sequences from the initial state that together
    /// take every (transition, source state) pair and every guard outcome,
    /// each a shortest way to its last event.
    Tour {
        /// The spec file.
        file: PathBuf,
        /// A guard the path decides, not the world: GUARD:SET/CLEAR, true
        /// once a state of SET (`+`-separated) is entered, false again in
        /// CLEAR; e.g. `passive:LISTEN/SYN_SENT` for tcp.fsm.
        #[arg(long, value_name = "GUARD:SET/CLEAR")]
        history: Vec<String>,
        /// One JSON object instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Serve the Language Server Protocol over standard input and output,
    /// for editors: diagnostics, hover, go to definition, references,
    /// rename, completion and the outline of .fsm files.
    Lsp,
}

#[derive(Args)]
struct Draw {
    /// The spec file.
    file: PathBuf,
    /// Write to this file instead of standard output.
    #[arg(short, long)]
    output: Option<PathBuf>,
    /// Language of the labels: `en`, or one the spec translates into (`zh`).
    #[arg(long, default_value = "en")]
    lang: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("fsm: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Command) -> Result<ExitCode, String> {
    match command {
        Command::Check { file } => {
            let spec = load(&file)?;
            for w in &spec.warnings {
                w.eprint(&spec.file_name, &spec.source);
            }
            let m = &spec.model;
            println!(
                "{}: ok: machine {}, {} states, {} events, {} transitions, {} warning{}",
                spec.file_name,
                m.name.text,
                m.states.len(),
                m.events.len(),
                m.transitions.len(),
                spec.warnings.len(),
                if spec.warnings.len() == 1 { "" } else { "s" }
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Dot(d) => draw(d, fsm_codegen::dot::render),
        Command::Mermaid(d) => draw(d, fsm_codegen::mermaid::render),
        Command::Svg(d) => draw(d, fsm_codegen::svg::render),
        Command::Stats { file } => {
            let spec = load(&file)?;
            write_output(
                None,
                &fsm_codegen::stats::Stats::of(&spec.model).to_string(),
            )?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Fmt { check, files } => fmt(check, &files),
        Command::Lsp => fsm_codegen::lsp::run_stdio().map(|()| ExitCode::SUCCESS),
        Command::Tour {
            file,
            history,
            json,
        } => {
            let spec = load(&file)?;
            let model = &spec.model;
            let history = history
                .iter()
                .map(|h| fsm_codegen::tour::History::parse(model, h))
                .collect::<Result<Vec<_>, _>>()?;
            let tour = fsm_codegen::tour::tour(model, &history);
            let text = if json {
                tour_json(&spec, &tour)
            } else {
                tour_text(&spec, &tour)
            };
            write_output(None, &text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Rust { file, output } => {
            let spec = load(&file)?;
            let code = fsm_codegen::rust::generate_file(&spec).map_err(|r| r.render())?;
            write_output(output.as_deref(), &code)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn tour_text(spec: &Spec, tour: &fsm_codegen::tour::Tour) -> String {
    let model = &spec.model;
    let mut out = format!("{}: {}\n", spec.file_name, tour.summary());
    for (i, seq) in tour.sequences.iter().enumerate() {
        let steps: Vec<String> = seq
            .iter()
            .map(|s| fsm_codegen::tour::describe(model, s))
            .collect();
        out.push_str(&format!("{:>4}. {}\n", i + 1, steps.join(", ")));
    }
    let lines: Vec<String> = model
        .edges()
        .enumerate()
        .filter(|(i, _)| tour.untaken.contains(i))
        .map(|(_, e)| {
            let t = &model.transitions[e.transition.index()];
            format!(
                "line {} from {}",
                t.line,
                model.states[e.from.index()].name.text
            )
        })
        .collect();
    if !lines.is_empty() {
        out.push_str(&format!("cannot be taken: {}\n", lines.join("; ")));
    }
    out
}

fn tour_json(spec: &Spec, tour: &fsm_codegen::tour::Tour) -> String {
    let model = &spec.model;
    let name = |s: fsm_codegen::model::StateId| model.states[s.index()].name.text.clone();
    let edges: Vec<_> = model.edges().collect();
    let sequences: Vec<serde_json::Value> = tour
        .sequences
        .iter()
        .map(|seq| {
            seq.iter()
                .map(|s| {
                    let guards: serde_json::Map<String, serde_json::Value> = s
                        .guards
                        .iter()
                        .map(|&(g, v)| (model.guards[g.index()].name.text.clone(), v.into()))
                        .collect();
                    serde_json::json!({
                        "from": name(s.from),
                        "event": model.events[s.event.index()].name.text,
                        "guards": guards,
                        "to": name(s.to),
                        "pair": s.pair,
                        "line": s.pair.map(|p| model.transitions[edges[p].transition.index()].line),
                    })
                })
                .collect()
        })
        .collect();
    let value = serde_json::json!({
        "spec": spec.file_name,
        "pairs": tour.pairs,
        "pairs_taken": tour.pairs_taken,
        "outcomes": tour.outcomes,
        "outcomes_taken": tour.outcomes_taken,
        "events": tour.events(),
        "sequences": sequences,
    });
    format!("{value}\n")
}

fn fmt(check: bool, files: &[PathBuf]) -> Result<ExitCode, String> {
    let mut unformatted = 0;
    for file in files {
        let stdin = file.as_os_str() == "-";
        let source = if stdin {
            std::io::read_to_string(std::io::stdin()).map_err(|e| format!("stdin: {e}"))?
        } else {
            std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?
        };
        let name = if stdin {
            "<stdin>".into()
        } else {
            file.display().to_string()
        };
        let formatted = fsm_codegen::fmt::format(&source)
            .map_err(|d| d.render(&name, &source).trim_end().to_owned())?;
        if check {
            if formatted != source {
                unformatted += 1;
                let line = first_difference(&source, &formatted);
                eprintln!("{name}:{line}: not formatted (`fsm fmt {name}` lays it out)");
                if let Some(expected) = formatted.lines().nth(line - 1) {
                    eprintln!("  expected: {expected}");
                }
            }
        } else if stdin {
            write_output(None, &formatted)?;
        } else if formatted != source {
            std::fs::write(file, formatted).map_err(|e| format!("{name}: {e}"))?;
        }
    }
    Ok(if unformatted > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// The 1-based line where `a` and `b` first differ.
fn first_difference(a: &str, b: &str) -> usize {
    let mut lines = a.split('\n').zip(b.split('\n'));
    lines
        .position(|(x, y)| x != y)
        .unwrap_or_else(|| a.lines().count().min(b.lines().count()))
        + 1
}

/// Loads a spec, printing its diagnostics and turning every failure into
/// one message.
fn load(file: &Path) -> Result<Spec, String> {
    fsm_codegen::load(file).map_err(|e| match e {
        LoadError::Rejected(r) => {
            for d in &r.diagnostics {
                d.eprint(&r.file_name, &r.source);
            }
            let n = r.errors().count();
            format!(
                "{}: {n} error{} found",
                r.file_name,
                if n == 1 { "" } else { "s" }
            )
        }
        other => other.to_string(),
    })
}

fn draw(
    d: Draw,
    render: fn(&fsm_codegen::Model, &DrawOptions) -> String,
) -> Result<ExitCode, String> {
    let spec = load(&d.file)?;
    let langs = spec.model.languages();
    if d.lang != "en" && !langs.contains(&d.lang) {
        return Err(format!(
            "{}: the spec has no `{}` labels (languages: en{})",
            spec.file_name,
            d.lang,
            langs.iter().map(|l| format!(", {l}")).collect::<String>()
        ));
    }
    let text = render(
        &spec.model,
        &DrawOptions {
            lang: d.lang,
            ..DrawOptions::default()
        },
    );
    write_output(d.output.as_deref(), &text)?;
    Ok(ExitCode::SUCCESS)
}

fn write_output(path: Option<&Path>, text: &str) -> Result<(), String> {
    match path {
        Some(p) => std::fs::write(p, text).map_err(|e| format!("{}: {e}", p.display())),
        None => {
            let mut out = std::io::stdout().lock();
            match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
                // A closed pipe (`fsm dot x | head`) is not an error worth a message.
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => Err(format!("stdout: {e}")),
                _ => Ok(()),
            }
        }
    }
}
