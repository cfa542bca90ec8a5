//! Sections 4 and 5: connection rate (handshake, 1 KiB each way, close;
//! sequential and 64 in parallel; ours against the kernel's), and scale
//! (10,000 concurrent connections on one endpoint: time to open them,
//! memory per idle connection, time to close them).

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener, TcpStream};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use fsm_runtime::{Config, Endpoint, Options, Stream};

use crate::Plan;
use crate::table::{Table, int, median, num, spread};

const KIB: usize = 1024;
/// Client and server threads of the parallel test.
pub const PARALLEL: usize = 64;

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// The config of our endpoints here: loopback timers, TIME_WAIT of 20 ms.
fn short_msl() -> Config {
    Config::loopback(Duration::from_millis(10))
}

/// One exchange, client side: 1 KiB out, 1 KiB back, our FIN first,
/// then the peer's.
fn client_exchange(
    mut s: impl Read + Write,
    shutdown: impl FnOnce() -> io::Result<()>,
) -> io::Result<()> {
    let out = [0x42u8; KIB];
    s.write_all(&out)?;
    let mut back = [0u8; KIB];
    s.read_exact(&mut back)?;
    shutdown()?;
    let mut rest = [0u8; 16];
    match s.read(&mut rest)? {
        0 => Ok(()),
        _ => Err(io::Error::other("data after the exchange")),
    }
}

/// One exchange, server side: 1 KiB in, 1 KiB back, wait for the peer's
/// FIN; the caller closes.
fn server_exchange(mut s: impl Read + Write) -> io::Result<()> {
    let mut got = [0u8; KIB];
    s.read_exact(&mut got)?;
    s.write_all(&got)?;
    let mut rest = [0u8; 16];
    match s.read(&mut rest)? {
        0 => Ok(()),
        _ => Err(io::Error::other("data after the exchange")),
    }
}

/// What one rate test did.
#[derive(Clone, Debug, Default)]
pub struct Rate {
    pub done: usize,
    failed: usize,
    pub secs: f64,
    first_error: Option<String>,
}

impl Rate {
    fn per_s(&self) -> f64 {
        self.done as f64 / self.secs
    }
}

/// Runs `clients` client threads until `total` connections are done or
/// `limit` passes; `connect_one` does one whole connection.
fn drive(
    clients: usize,
    total: usize,
    limit: Duration,
    connect_one: &(dyn Fn() -> io::Result<()> + Sync),
) -> Rate {
    let started = AtomicUsize::new(0);
    let done = AtomicUsize::new(0);
    let failed = AtomicUsize::new(0);
    let first_error = Mutex::new(None);
    let start = Instant::now();
    std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while started.fetch_add(1, Ordering::SeqCst) < total && start.elapsed() < limit {
                    match connect_one() {
                        Ok(()) => {
                            done.fetch_add(1, Ordering::SeqCst);
                        }
                        Err(e) => {
                            failed.fetch_add(1, Ordering::SeqCst);
                            first_error.lock().unwrap().get_or_insert(e.to_string());
                        }
                    }
                }
            });
        }
    });
    Rate {
        done: done.into_inner(),
        failed: failed.into_inner(),
        secs: start.elapsed().as_secs_f64(),
        first_error: first_error.into_inner().unwrap(),
    }
}

/// Ours: `clients` client threads against as many server threads.
pub fn ours_rate(clients: usize, total: usize, limit: Duration) -> io::Result<Rate> {
    let server = Endpoint::bind_with(localhost(), Options::with_config(short_msl()))?;
    let client = Endpoint::bind_with(localhost(), Options::with_config(short_msl()))?;
    let listener = server.listen(server.local_addr()?.port(), 256)?;
    let stop = AtomicBool::new(false);
    let to = server.local_addr()?;
    let rate = std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    if let Ok((s, _)) = listener.accept_timeout(Duration::from_millis(100)) {
                        let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                        // Dropping the stream sends our FIN.
                        let _ = server_exchange(&s);
                    }
                }
            });
        }
        let rate = drive(clients, total, limit, &|| {
            let c = client.connect(to, Duration::from_secs(5))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            client_exchange(&c, || c.shutdown(Shutdown::Write))
        });
        stop.store(true, Ordering::SeqCst);
        rate
    });
    Ok(rate)
}

/// The kernel's: the same, with std::net.
fn kernel_rate(clients: usize, total: usize, limit: Duration) -> io::Result<Rate> {
    let listener = TcpListener::bind(localhost())?;
    let to = listener.local_addr()?;
    // Accept with a timeout: a non-blocking listener polled by each thread.
    listener.set_nonblocking(true)?;
    let stop = AtomicBool::new(false);
    let rate = std::thread::scope(|scope| {
        for _ in 0..clients {
            scope.spawn(|| {
                while !stop.load(Ordering::SeqCst) {
                    match listener.accept() {
                        Ok((s, _)) => {
                            let _ = s.set_nonblocking(false);
                            let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                            let _ = server_exchange(&s);
                        }
                        Err(_) => crate::bulk::wait_readable(&listener, Duration::from_millis(100)),
                    }
                }
            });
        }
        let rate = drive(clients, total, limit, &|| {
            let c = TcpStream::connect_timeout(&to, Duration::from_secs(5))?;
            c.set_read_timeout(Some(Duration::from_secs(5)))?;
            client_exchange(&c, || c.shutdown(Shutdown::Write))
        });
        stop.store(true, Ordering::SeqCst);
        rate
    });
    Ok(rate)
}

/// Section 4.
pub fn rate(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    type Test = (
        &'static str,
        &'static str,
        usize,
        usize,
        fn(usize, usize, Duration) -> io::Result<Rate>,
    );
    let tests: [Test; 4] = [
        ("ours", "sequential", 1, plan.seq_conns, ours_rate),
        ("kernel", "sequential", 1, plan.seq_conns, kernel_rate),
        (
            "ours",
            "64 in parallel",
            PARALLEL,
            plan.par_conns,
            ours_rate,
        ),
        (
            "kernel",
            "64 in parallel",
            PARALLEL,
            plan.par_conns,
            kernel_rate,
        ),
    ];
    let mut results: Vec<Vec<Rate>> = vec![Vec::new(); tests.len()];
    for round in 0..plan.rounds {
        for (i, (who, how, clients, total, f)) in tests.iter().enumerate() {
            match f(*clients, *total, plan.conn_limit) {
                Ok(r) => {
                    eprintln!(
                        "  round {} {who} {how}: {} connections in {:.2} s = {}/s, {} failed",
                        round + 1,
                        r.done,
                        r.secs,
                        num(r.per_s()),
                        r.failed
                    );
                    results[i].push(r);
                }
                Err(e) => eprintln!("  round {} {who} {how}: failed: {e}", round + 1),
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    for (i, (who, how, _, total, _)) in tests.iter().enumerate() {
        let rs = &results[i];
        let per: Vec<f64> = rs.iter().map(Rate::per_s).collect();
        let m = median(&per);
        let failed: usize = rs.iter().map(|r| r.failed).sum();
        let done: usize = rs.iter().map(|r| r.done).sum();
        let mut note = format!(
            "up to {} connections per run, {} done, {failed} failed",
            int(*total),
            int(done)
        );
        if let Some(e) = rs.iter().find_map(|r| r.first_error.clone()) {
            note.push_str(&format!(" (first: {e})"));
        }
        if rs.iter().any(|r| r.done + r.failed < *total) {
            note.push_str(&format!(
                "; stopped at the {} s limit",
                plan.conn_limit.as_secs()
            ));
        }
        if *who == "ours" {
            note.push_str("; TIME_WAIT 20 ms");
        }
        let sp = spread(&per);
        if !sp.is_empty() {
            note.push_str(&format!("; {sp}"));
        }
        let r = if *who == "ours" {
            // Side by side: round by round against the kernel's.
            let k: Vec<f64> = results[i + 1].iter().map(Rate::per_s).collect();
            let r: Vec<f64> = per.iter().zip(&k).map(|(a, b)| a / b).collect();
            if r.is_empty() {
                String::new()
            } else {
                format!("{}× of kernel", num(median(&r)))
            }
        } else {
            String::new()
        };
        table.row(
            "4 conns",
            &format!("{who}, {how}: connect, 1 KiB each way, close"),
            &num(m),
            "conn/s",
            rs.len(),
            &r,
            &note,
        );
    }
    Ok(())
}

/// Resident set size of this process, bytes.
fn rss() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    // SAFETY: sysconf reads a constant of the system.
    #[allow(unsafe_code)]
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    pages * usize::try_from(page).unwrap_or(4096)
}

/// What one scale run measured.
#[derive(Clone, Debug, Default)]
struct ScaleRun {
    open_secs: f64,
    opened: usize,
    accepted: usize,
    rss_before: usize,
    rss_after: usize,
    buffers: usize,
    ends: usize,
    close_secs: f64,
    left: usize,
    error: Option<String>,
}

impl ScaleRun {
    fn to_line(&self) -> String {
        format!(
            "scale {} {} {} {} {} {} {} {} {} {}",
            self.open_secs,
            self.opened,
            self.accepted,
            self.rss_before,
            self.rss_after,
            self.buffers,
            self.ends,
            self.close_secs,
            self.left,
            self.error.as_deref().unwrap_or("-")
        )
    }

    fn from_line(line: &str) -> Option<ScaleRun> {
        let f: Vec<&str> = line.split_whitespace().collect();
        let [
            "scale",
            open,
            opened,
            accepted,
            before,
            after,
            buffers,
            ends,
            close,
            left,
            error @ ..,
        ] = f.as_slice()
        else {
            return None;
        };
        let error = error.join(" ");
        Some(ScaleRun {
            open_secs: open.parse().ok()?,
            opened: opened.parse().ok()?,
            accepted: accepted.parse().ok()?,
            rss_before: before.parse().ok()?,
            rss_after: after.parse().ok()?,
            buffers: buffers.parse().ok()?,
            ends: ends.parse().ok()?,
            close_secs: close.parse().ok()?,
            left: left.parse().ok()?,
            error: (error != "-").then_some(error),
        })
    }
}

/// `n` concurrent connections: open, measure, close.
fn measure_scale(n: usize, limit: Duration) -> io::Result<ScaleRun> {
    // Traces off, as the config advises for many long-lived connections;
    // half-open connections bounded by the pipeline below, not evicted.
    let config = Config {
        keep_trace: false,
        syn_backlog: 1024,
        ..short_msl()
    };
    let server = Endpoint::bind_with(localhost(), Options::with_config(config.clone()))?;
    let client = Endpoint::bind_with(localhost(), Options::with_config(config))?;
    let listener = server.listen(server.local_addr()?.port(), n)?;
    let to = server.local_addr()?;
    let mut clients: Vec<Stream> = Vec::with_capacity(n);
    let mut pending = std::collections::VecDeque::with_capacity(512);
    // Warm up the threads and the allocator, then take the baseline.
    {
        let c = client.connect(to, Duration::from_secs(5))?;
        let (s, _) = listener.accept_timeout(Duration::from_secs(5))?;
        drop((c, s));
        let deadline = Instant::now() + Duration::from_secs(5);
        while connections(&server, &client) > 0 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(5));
        }
    }
    std::thread::sleep(Duration::from_millis(50));
    let rss_before = rss();
    let start = Instant::now();
    let deadline = start + limit;
    let stop = AtomicBool::new(false);
    let (servers, error) = std::thread::scope(|scope| {
        let acceptor = scope.spawn(|| {
            let mut v = Vec::with_capacity(n);
            while v.len() < n && Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
                if let Ok((s, _)) = listener.accept_timeout(Duration::from_millis(200)) {
                    v.push(s);
                }
            }
            v
        });
        // At most 256 handshakes in flight, so that bursts of SYNs fit the
        // sockets' queues.
        let mut err = None;
        let mut started = 0;
        while clients.len() < n && Instant::now() < deadline {
            while started < n && pending.len() < 256 {
                match client.start_connect(None, to, to, Duration::from_secs(10)) {
                    Ok(s) => {
                        pending.push_back(s);
                        started += 1;
                    }
                    Err(e) => {
                        err.get_or_insert(e.to_string());
                        break;
                    }
                }
            }
            let Some(s) = pending.pop_front() else { break };
            match s.wait_open(deadline.saturating_duration_since(Instant::now())) {
                Ok(()) => clients.push(s),
                Err(e) => {
                    err.get_or_insert(e.to_string());
                    break;
                }
            }
        }
        if clients.len() < n {
            stop.store(true, Ordering::SeqCst);
        }
        (acceptor.join().unwrap_or_default(), err)
    });
    let open_secs = start.elapsed().as_secs_f64();
    eprintln!(
        "  {} client streams open, {} accepted in {open_secs:.2} s{}",
        clients.len(),
        servers.len(),
        error
            .as_deref()
            .map(|e| format!(" ({e})"))
            .unwrap_or_default()
    );
    // Idle: let the last ACKs land.
    std::thread::sleep(Duration::from_millis(200));
    let rss_after = rss();
    let (sm, cm) = (server.memory(), client.memory());
    let (opened, accepted) = (clients.len(), servers.len());

    // Close them all: the clients first, then the servers.
    let t = Instant::now();
    drop(pending);
    drop(clients);
    drop(servers);
    let close_deadline = Instant::now() + Duration::from_secs(60);
    while connections(&server, &client) > 0 && Instant::now() < close_deadline {
        std::thread::sleep(Duration::from_millis(2));
    }
    let close_secs = t.elapsed().as_secs_f64();
    let left = connections(&server, &client);
    eprintln!("  closed in {close_secs:.2} s, {left} left");
    Ok(ScaleRun {
        open_secs,
        opened,
        accepted,
        rss_before,
        rss_after,
        buffers: sm.buffered + cm.buffered,
        ends: sm.connections + cm.connections,
        close_secs,
        left,
        error: error.map(|e| e.replace('\n', " ")),
    })
}

/// Connections the two endpoints hold.
fn connections(server: &Endpoint, client: &Endpoint) -> usize {
    server.memory().connections + client.memory().connections
}

/// The child of section 5: one scale run in a fresh process (so that the
/// RSS it measures is this run's alone), printed as one line.
pub fn scale_child(n: usize, limit: Duration) -> std::process::ExitCode {
    match measure_scale(n, limit) {
        Ok(r) => {
            println!("{}", r.to_line());
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("scale: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Section 5: `plan.rounds` runs, each in a fresh process.
pub fn scale(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    let n = plan.scale;
    let limit = Duration::from_secs(if plan.quick { 60 } else { 120 });
    let mut runs: Vec<ScaleRun> = Vec::new();
    for round in 0..plan.rounds {
        eprintln!("  round {}: {n} connections in a child process", round + 1);
        let args = [
            "--child-scale".to_owned(),
            n.to_string(),
            "--child-limit".to_owned(),
            limit.as_secs().to_string(),
        ];
        let (cut, ok) = crate::run_self(&args, limit + Duration::from_secs(90), |line| {
            if let Some(r) = ScaleRun::from_line(line) {
                runs.push(r);
            }
        })?;
        if cut || !ok {
            eprintln!(
                "  round {}: the child {}",
                round + 1,
                if cut { "ran out of time" } else { "failed" }
            );
        }
    }
    if runs.is_empty() {
        return Err("no scale run finished".into());
    }
    let k = runs.len();
    let med = |f: &dyn Fn(&ScaleRun) -> f64| median(&runs.iter().map(f).collect::<Vec<_>>());
    let all_ok = runs
        .iter()
        .all(|r| r.opened == n && r.accepted == n && r.error.is_none());
    let status = if all_ok {
        format!(
            "all {} opened and accepted in every run, none failed",
            int(n)
        )
    } else {
        let worst = runs
            .iter()
            .map(|r| r.opened.min(r.accepted))
            .min()
            .unwrap_or(0);
        let why = runs
            .iter()
            .find_map(|r| r.error.clone())
            .unwrap_or_else(|| "time limit".into());
        format!(
            "FAILURES: as few as {} of {} opened ({why})",
            int(worst),
            int(n)
        )
    };
    let open = runs.iter().map(|r| r.open_secs).collect::<Vec<_>>();
    table.row(
        "5 scale",
        &format!(
            "open {} concurrent connections (one client endpoint → one server endpoint)",
            int(n)
        ),
        &num(median(&open)),
        "s",
        k,
        "",
        &format!(
            "{status}; {} conn/s; 256 handshakes in flight; `keep_trace: false`; {}",
            num(n as f64 / median(&open)),
            spread(&open)
        ),
    );
    let per_end: Vec<f64> = runs
        .iter()
        .map(|r| {
            (r.rss_after.saturating_sub(r.rss_before) as f64 - r.buffers as f64)
                / r.ends.max(1) as f64
        })
        .collect();
    table.row(
        "5 scale",
        "memory per idle connection end, buffers excluded (process RSS)",
        &num(median(&per_end)),
        "bytes",
        k,
        "",
        &format!(
            "RSS {} → {} MB for {} TCBs (both ends of each connection are in this process), so {} bytes per connection; `size_of::<Connection>()` = {} bytes; {}",
            num(med(&|r| r.rss_before as f64) / 1e6),
            num(med(&|r| r.rss_after as f64) / 1e6),
            num(med(&|r| r.ends as f64)),
            num(median(&per_end) * 2.0),
            std::mem::size_of::<fsm_runtime::conn::Connection<fsm_runtime::tcp::Spec>>(),
            spread(&per_end)
        ),
    );
    table.row(
        "5 scale",
        "buffer memory per idle connection end (`Endpoint::memory()`)",
        &num(med(&|r| r.buffers as f64 / r.ends.max(1) as f64)),
        "bytes",
        k,
        "",
        &format!(
            "{} bytes in all; rings are allocated on first use",
            num(med(&|r| r.buffers as f64))
        ),
    );
    let left: usize = runs.iter().map(|r| r.left).sum();
    let close = runs.iter().map(|r| r.close_secs).collect::<Vec<_>>();
    table.row(
        "5 scale",
        &format!(
            "close all {} (clients first) until both endpoints hold none",
            int(n)
        ),
        &num(median(&close)),
        "s",
        k,
        "",
        &if left == 0 {
            format!("TIME_WAIT of 20 ms included; {}", spread(&close))
        } else {
            format!("{left} connections still held at the 60 s limit")
        },
    );
    Ok(())
}
