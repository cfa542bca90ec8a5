//! Congestion control on a bottleneck: bulk flows through a link with a
//! rate, a delay and a drop-tail queue, in virtual time (`fsm_lab::bottleneck`).
//!
//! ```text
//! cargo run --release -p fsm-lab --example bottleneck              # the suite
//! cargo run --release -p fsm-lab --example bottleneck -- --flows 2 --cc-spec examples/specs/congestion/tahoe.fsm
//! ```
//!
//! Without `--flows`, runs the suite BENCHMARKS.md reports: one flow and
//! four flows (1 s apart) over 100 Mbit/s with a 20 ms round trip and a
//! queue of one bandwidth-delay product, each under the congestion spec
//! (NewReno unless `--cc-spec`) and with congestion control switched off.
//! Prints a Markdown table and writes SVG plots of cwnd and of the queue
//! to `--out`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use fsm_lab::bottleneck::{self, Link, Run, Scenario};
use fsm_lab::plot::{Chart, Reference, Series};
use fsm_runtime::cc::Congestion;

#[derive(Parser)]
#[command(about = "Bulk flows through a bottleneck in virtual time, under congestion specs")]
struct Cli {
    /// Link rate, Mbit/s.
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// Round-trip propagation delay, ms (half each way).
    #[arg(long, default_value_t = 20.0)]
    rtt: f64,
    /// Queue size in bandwidth-delay products.
    #[arg(long, default_value_t = 1.0, conflicts_with = "queue_bytes")]
    queue: f64,
    /// Queue size in bytes (instead of --queue).
    #[arg(long)]
    queue_bytes: Option<usize>,
    /// Run only this many flows under --cc-spec (default: the suite).
    #[arg(long)]
    flows: Option<usize>,
    /// Seconds between flow starts.
    #[arg(long, default_value_t = 1.0)]
    gap: f64,
    /// Virtual seconds per run.
    #[arg(long, default_value_t = 20.0)]
    duration: f64,
    /// Send and receive buffers, KiB.
    #[arg(long, default_value_t = 1024)]
    buffer: usize,
    /// Congestion spec for the senders (default: NewReno, compiled in).
    #[arg(long, value_name = "FILE")]
    cc_spec: Option<PathBuf>,
    /// The spec the suite compares with: congestion control switched off.
    #[arg(long, value_name = "FILE")]
    off_spec: Option<PathBuf>,
    /// Where the SVG plots go.
    #[arg(long, default_value = "docs/bottleneck")]
    out: PathBuf,
    /// No progress bar.
    #[arg(long)]
    quiet: bool,
}

/// One run of the suite, named for the table and the files.
struct Job {
    name: String,
    cc: String,
    scenario: Scenario,
}

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn load(path: &Path) -> Result<(String, Congestion), String> {
    let c = Congestion::load(path).map_err(|e| format!("{}: {e}", path.display()))?;
    Ok((c.machine().name().to_owned(), c))
}

fn jobs(cli: &Cli) -> Result<Vec<Job>, String> {
    let delay = Duration::from_secs_f64(cli.rtt / 2000.0);
    let mut link = Link {
        rate: (cli.rate * 1e6) as u64,
        delay,
        queue: 0,
    };
    link.queue = cli
        .queue_bytes
        .unwrap_or((link.bdp() as f64 * cli.queue) as usize);
    let duration = Duration::from_secs_f64(cli.duration);
    let (cc_name, cc) = match &cli.cc_spec {
        Some(p) => load(p)?,
        None => ("NewReno".to_owned(), Congestion::new_reno()),
    };
    let scenario = |flows: usize, congestion: Congestion| {
        let mut s = Scenario::new(link, flows, duration, congestion);
        s.start_gap = Duration::from_secs_f64(cli.gap);
        s.buffer = cli.buffer * 1024;
        s
    };
    let slug = |s: &str| {
        s.to_lowercase()
            .replace(|c: char| !c.is_alphanumeric(), "-")
    };
    let job = |flows: usize, name: &str, congestion: &Congestion| Job {
        name: format!("{}-{}", slug(&self::flows(flows)), slug(name)),
        cc: name.to_owned(),
        scenario: scenario(flows, congestion.clone()),
    };
    if let Some(flows) = cli.flows {
        return Ok(vec![job(flows, &cc_name, &cc)]);
    }
    let off_path = cli
        .off_spec
        .clone()
        .unwrap_or_else(|| workspace().join("examples/specs/congestion/no_congestion_control.fsm"));
    let (_, off) = load(&off_path)?;
    let off_name = "no congestion control";
    Ok(vec![
        job(1, &cc_name, &cc),
        job(1, off_name, &off),
        job(4, &cc_name, &cc),
        job(4, off_name, &off),
    ])
}

/// "1 flow", "4 flows".
fn flows(n: usize) -> String {
    if n == 1 {
        "1 flow".to_owned()
    } else {
        format!("{n} flows")
    }
}

fn mbit(bits_per_second: f64) -> String {
    format!("{:.1}", bits_per_second / 1e6)
}

fn secs(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64())
}

/// A row of the table for `run`.
fn row(job: &Job, run: &Run) -> String {
    let s = &run.scenario;
    let goodput: u64 = run.flows.iter().map(|f| f.delivered).sum();
    let per_flow: Vec<String> = run.throughputs().into_iter().map(mbit).collect();
    let segments: u64 = run.flows.iter().map(|f| f.segments).sum();
    let fairness = if s.flows > 1 {
        format!("{:.3}", run.fairness())
    } else {
        "–".to_owned()
    };
    format!(
        "| {} | {} | {:.1} % | {} | {} | {} ({:.2} %) | {} | {} |",
        s.flows,
        job.cc,
        run.utilisation() * 100.0,
        mbit(goodput as f64 * 8.0 / s.duration.as_secs_f64()),
        run.drops,
        run.retransmissions(),
        run.retransmissions() as f64 * 100.0 / segments.max(1) as f64,
        fairness,
        per_flow.join(" / "),
    )
}

fn header(scenario: &Scenario) -> String {
    format!(
        "| flows | congestion control | utilisation ({}–{} s) | goodput, Mbit/s (0–{} s) | queue drops | retransmitted segments | Jain's index ({}–{} s) | per flow, Mbit/s ({}–{} s) |\n|--:|---|--:|--:|--:|--:|--:|---|",
        secs(scenario.measure_from),
        secs(scenario.duration),
        secs(scenario.duration),
        secs(scenario.fairness_from),
        secs(scenario.duration),
        secs(scenario.fairness_from),
        secs(scenario.duration),
    )
}

/// cwnd of every flow over time, with the BDP and BDP + queue drawn in.
fn cwnd_chart(job: &Job, run: &Run) -> Chart {
    let s = &run.scenario;
    let kb = |b: f64| b / 1000.0;
    let top = kb(s.buffer as f64) * 1.1;
    let series = run
        .flows
        .iter()
        .enumerate()
        .map(|(i, f)| Series {
            name: format!("flow {} (from {} s)", i + 1, secs(f.start)),
            points: f
                .samples
                .iter()
                .map(|x| (x.at.as_secs_f64(), kb(f64::from(x.cwnd))))
                .collect(),
        })
        .collect();
    let bdp = s.link.bdp() as f64;
    Chart {
        title: format!("cwnd, {}, {}", flows(s.flows), job.cc),
        subtitle: format!(
            "{} Mbit/s, {} ms RTT, queue {} kB, MSS {}; a sample every {} ms; cwnd above {:.0} kB (the buffers are {} KiB) drawn at the top",
            s.link.rate as f64 / 1e6,
            (s.link.delay * 2).as_millis(),
            kb(s.link.queue as f64),
            s.mss,
            s.sample_every.as_millis(),
            top,
            s.buffer / 1024
        ),
        x_label: "virtual time, s".into(),
        y_label: "cwnd, kB".into(),
        series,
        references: vec![
            Reference {
                name: "BDP".into(),
                y: kb(bdp),
            },
            Reference {
                name: "BDP + queue".into(),
                y: kb(bdp + s.link.queue as f64),
            },
        ],
        y_max: Some(top),
    }
}

/// The queue's occupancy over time.
fn queue_chart(job: &Job, run: &Run) -> Chart {
    let s = &run.scenario;
    Chart {
        title: format!("Bottleneck queue, {}, {}", flows(s.flows), job.cc),
        subtitle: format!(
            "bytes waiting, sampled every {} ms; {} datagrams dropped in all",
            s.sample_every.as_millis(),
            run.drops
        ),
        x_label: "virtual time, s".into(),
        y_label: "queued, kB".into(),
        series: vec![Series {
            name: "queue".into(),
            points: run
                .link
                .iter()
                .map(|l| (l.at.as_secs_f64(), l.queued as f64 / 1000.0))
                .collect(),
        }],
        references: vec![Reference {
            name: "queue size".into(),
            y: s.link.queue as f64 / 1000.0,
        }],
        y_max: Some(s.link.queue as f64 / 1000.0 * 1.15),
    }
}

fn progress_bar(total: Duration, quiet: bool) -> indicatif::ProgressBar {
    if quiet {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {msg}: {pos}/{len} ms of virtual time, {elapsed} (eta {eta})",
        )
        .expect("a valid template"),
    );
    bar
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(&cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: &Cli) -> Result<(), String> {
    let jobs = jobs(cli)?;
    std::fs::create_dir_all(&cli.out).map_err(|e| format!("{}: {e}", cli.out.display()))?;
    let total = jobs.iter().map(|j| j.scenario.duration).sum();
    let bar = progress_bar(total, cli.quiet);
    let started = Instant::now();
    let mut rows = Vec::new();
    let mut done = Duration::ZERO;
    for job in &jobs {
        bar.set_message(job.name.clone());
        let r = bottleneck::run(&job.scenario, &mut |t| {
            bar.set_position((done + t).as_millis() as u64)
        })?;
        done += job.scenario.duration;
        for (chart, what) in [
            (cwnd_chart(job, &r), "cwnd"),
            (queue_chart(job, &r), "queue"),
        ] {
            let path = cli.out.join(format!("{}-{what}.svg", job.name));
            std::fs::write(&path, chart.svg()).map_err(|e| format!("{}: {e}", path.display()))?;
        }
        rows.push(row(job, &r));
    }
    bar.finish_and_clear();
    let s = &jobs[0].scenario;
    println!(
        "{} Mbit/s, {} ms RTT (BDP {} bytes), drop-tail queue of {} bytes, MSS {}, buffers {} KiB, flows {} s apart, {} s each; took {:.1} s",
        s.link.rate as f64 / 1e6,
        (s.link.delay * 2).as_secs_f64() * 1000.0,
        s.link.bdp(),
        s.link.queue,
        s.mss,
        s.buffer / 1024,
        s.start_gap.as_secs_f64(),
        s.duration.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
    println!();
    println!("{}", header(s));
    for r in rows {
        println!("{r}");
    }
    println!();
    println!("plots: {}/*-cwnd.svg, *-queue.svg", cli.out.display());
    Ok(())
}
