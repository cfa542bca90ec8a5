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
    /// Serve the live figure on 127.0.0.1: redrawn at each save, with the
    /// diagnostics, a stepper, and what endpoints stream to the watch
    /// port (newline-delimited JSON, docs/trace-json.md) on it.
    Serve {
        /// The spec file.
        file: PathBuf,
        /// The page's port; 0 picks a free one.
        #[arg(long, default_value_t = 7878)]
        port: u16,
        /// The watch port (default: the page's port + 1).
        #[arg(long)]
        watch_port: Option<u16>,
        /// The address to bind.
        #[arg(long, default_value = "127.0.0.1")]
        host: String,
        /// Language of the figure: `en`, or one the spec translates into (`zh`).
        #[arg(long, default_value = "en")]
        lang: String,
        /// A `--trace-json` file to open for playback.
        #[arg(long)]
        trace: Option<PathBuf>,
        /// A guard the path decides, for the page's tour (as `fsm tour`).
        #[arg(long, value_name = "GUARD:SET/CLEAR")]
        history: Vec<String>,
    },
    /// Play a `--trace-json` file on the figure, for documentation: a
    /// self-contained HTML page and/or an SVG animated with SMIL.
    Play {
        /// The spec file.
        file: PathBuf,
        /// The trace (`--trace-json` lines).
        trace: PathBuf,
        /// Write the page here.
        #[arg(long)]
        html: Option<PathBuf>,
        /// Write the animated SVG here.
        #[arg(long)]
        svg: Option<PathBuf>,
        /// Only this side's lines (`client`); all sides by default.
        #[arg(long)]
        side: Option<String>,
        /// Language of the figure.
        #[arg(long, default_value = "en")]
        lang: String,
    },
    /// Explore every interleaving of two peers joined by two channels, at
    /// the spec level (messages: `sends` on actions, `on` on events):
    /// report deadlocks, unspecified receptions, non-progress cycles and
    /// pairs never taken, each finding with its shortest schedule.
    /// Exits 1 when something is found.
    Explore {
        #[command(flatten)]
        pair: Pair,
        /// Unordered channels: any message in one may be delivered next.
        #[arg(long)]
        unordered: bool,
        /// Stop after this many global states.
        #[arg(long, default_value_t = 20_000_000)]
        max_states: usize,
        /// Draw a finding's schedule as a message sequence chart.
        #[arg(long, value_name = "FILE")]
        svg: Option<PathBuf>,
        /// Which finding `--svg` draws: its number in the report (`[N]`);
        /// the first, the shortest, by default.
        #[arg(long, value_name = "N", default_value_t = 1)]
        finding: usize,
    },
    /// Write what `fsm explore` searches as a Promela model, for SPIN
    /// (FIFO channels): `spin -a`, then `cc -DSAFETY -DNOREDUCE`, then
    /// `./pan -c0` stores the same states and counts the findings as
    /// errors.
    Promela {
        #[command(flatten)]
        pair: Pair,
        /// Write to this file instead of standard output.
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Serve the Language Server Protocol over standard input and output,
    /// for editors: diagnostics, hover, go to definition, references,
    /// rename, completion and the outline of .fsm files.
    Lsp,
}

/// Two specs joined by a network: what `fsm explore` and `fsm promela`
/// both read.
#[derive(Args)]
struct Pair {
    /// Side A's spec.
    file: PathBuf,
    /// Side B's spec (default: A's again).
    peer: Option<PathBuf>,
    /// Messages each channel holds at most.
    #[arg(long, default_value_t = 2)]
    capacity: usize,
    /// Messages the network may lose, in all.
    #[arg(long, default_value_t = 0)]
    loss: u8,
    /// Messages the network may duplicate, in all.
    #[arg(long, default_value_t = 0)]
    dup: u8,
    /// A guard the path decides (as `fsm tour`), for each side that
    /// declares it.
    #[arg(long, value_name = "GUARD:SET/CLEAR")]
    history: Vec<String>,
}

impl Pair {
    /// The network these options ask for, within what an exploration
    /// holds.
    fn network(
        &self,
        order: fsm_codegen::explore::Order,
    ) -> Result<fsm_codegen::explore::Network, String> {
        use fsm_codegen::explore::{MAX_BUDGET, MAX_CAPACITY, Network};
        if self.capacity == 0 || self.capacity > MAX_CAPACITY {
            return Err(format!(
                "--capacity {}: a channel holds 1 to {MAX_CAPACITY} messages",
                self.capacity
            ));
        }
        if self.loss > MAX_BUDGET || self.dup > MAX_BUDGET {
            return Err(format!(
                "--loss {} --dup {}: each budget is at most {MAX_BUDGET}",
                self.loss, self.dup
            ));
        }
        Ok(Network {
            order,
            capacity: self.capacity,
            loss: self.loss,
            duplication: self.dup,
        })
    }

    /// The two specs, loaded.
    fn load(&self) -> Result<(Spec, Spec), String> {
        load_pair(&self.file, self.peer.as_deref())
    }
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
        Command::Promela { pair, output } => {
            let network = pair.network(fsm_codegen::explore::Order::Fifo)?;
            let (a, b) = pair.load()?;
            let peers = peers(&a, &b, &pair.history)?;
            let text = fsm_codegen::promela::promela(&peers[0], &peers[1], network)?;
            write_output(output.as_deref(), &text)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Explore {
            pair,
            unordered,
            max_states,
            svg,
            finding,
        } => explore(
            &pair,
            if unordered {
                fsm_codegen::explore::Order::Unordered
            } else {
                fsm_codegen::explore::Order::Fifo
            },
            max_states,
            svg.as_deref().map(|s| (s, finding)),
        ),
        Command::Serve {
            file,
            port,
            watch_port,
            host,
            lang,
            trace,
            history,
        } => {
            // Fail early, with the diagnostics, when the spec cannot be read.
            let spec = load(&file)?;
            check_lang(&spec, &lang)?;
            fsm_codegen::serve::run(fsm_codegen::serve::Options {
                spec: file,
                host,
                port,
                watch_port,
                lang,
                trace,
                history,
            })
            .map(|()| ExitCode::SUCCESS)
        }
        Command::Play {
            file,
            trace,
            html,
            svg,
            side,
            lang,
        } => {
            let spec = load(&file)?;
            check_lang(&spec, &lang)?;
            if html.is_none() && svg.is_none() {
                return Err("nothing to write: give --html FILE, --svg FILE or both".into());
            }
            let text =
                std::fs::read_to_string(&trace).map_err(|e| format!("{}: {e}", trace.display()))?;
            let (lines, stats) =
                fsm_codegen::serve::play::read_trace(&spec, &text, side.as_deref());
            if !lines.iter().any(|l| l["kind"] == "event") {
                return Err(format!(
                    "{}: no event of {} in it ({} lines, {} of other machines, {} malformed)",
                    trace.display(),
                    spec.file_name,
                    stats.lines,
                    stats.other,
                    stats.malformed
                ));
            }
            let name = trace
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            if let Some(out) = html {
                let page = fsm_codegen::serve::play::html(&spec, &lang, &name, &lines, stats);
                write_output(Some(&out), &page)?;
            }
            if let Some(out) = svg {
                let svg = fsm_codegen::serve::play::animated_svg(&spec, &lang, &lines);
                write_output(Some(&out), &svg)?;
            }
            Ok(ExitCode::SUCCESS)
        }
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
                format!("{}\n", fsm_codegen::serve::tour_json(&spec, &tour))
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
/// `fsm explore`: the report on standard output, the chart to `svg`.
fn explore(
    pair: &Pair,
    order: fsm_codegen::explore::Order,
    max_states: usize,
    svg: Option<(&Path, usize)>,
) -> Result<ExitCode, String> {
    use fsm_codegen::explore::{chart, describe, explore, report};
    let network = pair.network(order)?;
    let (a, b) = pair.load()?;
    let peers = peers(&a, &b, &pair.history)?;
    let e = explore(&peers[0], &peers[1], network, max_states);
    // A reader that stops early (`| head`) is not an error.
    let _ = std::io::stdout().write_all(report(&peers[0], &peers[1], network, &e).as_bytes());
    if let Some((out, n)) = svg {
        match e.findings.get(n.wrapping_sub(1)) {
            Some(f) => {
                let title = format!("{} against {}: {}", a.file_name, b.file_name, describe(f));
                let c = chart(&peers[0], &peers[1], &e, f, &title);
                let command = std::iter::once("fsm".to_owned())
                    .chain(std::env::args().skip(1))
                    .collect::<Vec<_>>()
                    .join(" ");
                write_output(
                    Some(out),
                    &fsm_codegen::msc::render_with(&c, Some(&command)),
                )?;
            }
            None if e.findings.is_empty() => {
                eprintln!("fsm explore: nothing found, no chart written");
            }
            None => {
                return Err(format!(
                    "--finding {n}: the findings are numbered 1 to {}",
                    e.findings.len()
                ));
            }
        }
    }
    Ok(if e.findings.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// The two specs of an exploration: `file` and `peer`, or `file` twice.
fn load_pair(file: &Path, peer: Option<&Path>) -> Result<(Spec, Spec), String> {
    let a = load(file)?;
    let b = match peer {
        Some(p) => load(p)?,
        None => load(file)?,
    };
    for spec in [&a, &b] {
        if spec.model.messages.is_empty() {
            eprintln!(
                "fsm: {} declares no messages: its peer hears nothing from it \
                 (`message`, `sends` and `on` say what crosses the wire)",
                spec.file_name
            );
        }
    }
    Ok((a, b))
}

/// The sides of an exploration, each with the `--history` guards it
/// declares.
fn peers<'a>(
    a: &'a Spec,
    b: &'a Spec,
    history: &[String],
) -> Result<[fsm_codegen::explore::Peer<'a>; 2], String> {
    for h in history {
        let guard = h.split(':').next().unwrap_or("");
        if ![a, b]
            .iter()
            .any(|s| s.model.guards.iter().any(|g| g.name.text == guard))
        {
            return Err(format!("--history {h}: neither spec has a guard `{guard}`"));
        }
    }
    let histories = |spec: &Spec| -> Result<Vec<fsm_codegen::tour::History>, String> {
        history
            .iter()
            .filter(|h| {
                let guard = h.split(':').next().unwrap_or("");
                spec.model.guards.iter().any(|g| g.name.text == guard)
            })
            .map(|h| fsm_codegen::tour::History::parse(&spec.model, h))
            .collect()
    };
    Ok([
        fsm_codegen::explore::Peer {
            model: &a.model,
            name: format!("A ({})", a.file_name),
            history: histories(a)?,
        },
        fsm_codegen::explore::Peer {
            model: &b.model,
            name: format!("B ({})", b.file_name),
            history: histories(b)?,
        },
    ])
}

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

fn check_lang(spec: &Spec, lang: &str) -> Result<(), String> {
    let langs = spec.model.languages();
    if lang != "en" && !langs.iter().any(|l| l == lang) {
        return Err(format!(
            "{}: the spec has no `{lang}` labels (languages: en{})",
            spec.file_name,
            langs.iter().map(|l| format!(", {l}")).collect::<String>()
        ));
    }
    Ok(())
}

fn draw(
    d: Draw,
    render: fn(&fsm_codegen::Model, &DrawOptions) -> String,
) -> Result<ExitCode, String> {
    let spec = load(&d.file)?;
    check_lang(&spec, &d.lang)?;
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
