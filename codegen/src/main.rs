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
        Command::Rust { file, output } => {
            let spec = load(&file)?;
            let code = fsm_codegen::rust::generate_file(&spec).map_err(|r| r.render())?;
            write_output(output.as_deref(), &code)?;
            Ok(ExitCode::SUCCESS)
        }
    }
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
