//! `fsm serve` and `fsm play`: the figure comes alive.
//!
//! `fsm serve SPEC` serves one page on 127.0.0.1: the spec's figure (the
//! SVG of `fsm svg`, whose states and arrows carry ids, see
//! [`crate::svg`]), redrawn at each save of the spec (its folder is
//! watched, since editors save by rename; the page hears of it by
//! server-sent events), with `fsm check`'s diagnostics listed and marked
//! on the figure. The page steps the machine: [`spec::step`] answers
//! `POST /api/step` with the generated code's dispatch, so the page holds
//! no semantics of its own. A second port, the watch port, takes streams
//! of newline-delimited JSON from running endpoints ([`watch`]): the page
//! shows each connection on its state, counts on the arrows, and a ladder
//! of a connection, its peer and the segments between them.
//!
//! The HTTP interface:
//!
//! | request | answer |
//! |---|---|
//! | `GET /` | the page |
//! | `GET /events` | server-sent events: `spec` (a new read of the spec, as `GET /api/spec` answers), `watch` (a line of the stream, annotated, and the counts); on connecting, every watch line so far |
//! | `GET /api/spec` | [`Snapshot::to_json`] |
//! | `POST /api/step` | [`spec::step_json_request`] |
//! | `GET /api/tour` | the spec's tour, as `fsm tour --json` prints it |
//! | `POST /api/watch` | lines of the stream in the body, as if from the watch port; answers the counts |
//! | `POST /api/annotate` | a trace file in the body; answers its lines annotated and counted, for playback |
//! | `GET /api/trace` | the same for `--trace FILE` |
//! | `GET /api/stats` | the watch port's counts |
//!
//! `fsm play` ([`play`]) writes a trace on the figure as a page that needs
//! no server, and as an SVG animated with SMIL.

pub mod page;
pub mod play;
pub mod spec;
pub mod watch;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use serde_json::{Value, json};

pub use spec::{Snapshot, tour_json};

/// The largest request body taken (a trace file posted for playback).
const MAX_BODY: usize = 64 << 20;
/// The most watch lines kept for pages that connect later; past it the
/// oldest go.
const MAX_KEPT: usize = 200_000;

/// What `fsm serve` was asked.
#[derive(Clone, Debug)]
pub struct Options {
    /// The spec file.
    pub spec: PathBuf,
    /// The address to bind (127.0.0.1 by default).
    pub host: String,
    /// The page's port; 0 picks a free one.
    pub port: u16,
    /// The watch port; `None`: the page's port + 1 (a free one when the
    /// page's port is 0).
    pub watch_port: Option<u16>,
    /// The figure's language.
    pub lang: String,
    /// A trace file to open for playback.
    pub trace: Option<PathBuf>,
    /// History guards for the tour (`passive:LISTEN/SYN_SENT`).
    pub history: Vec<String>,
}

/// A running server: its addresses.
#[derive(Debug)]
pub struct Running {
    /// The page's address.
    pub page: SocketAddr,
    /// The watch port's address.
    pub watch: SocketAddr,
}

struct Inner {
    snapshot: Snapshot,
    lines: std::collections::VecDeque<Value>,
    stats: watch::Stats,
    subscribers: Vec<Sender<String>>,
}

struct Shared {
    opts: Options,
    inner: Mutex<Inner>,
    /// The spec's bytes at the last read (none: it could not be read).
    last_read: Mutex<Option<Vec<u8>>>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A thread that panicked while holding the lock left the data
        // whole (every update is one assignment): carry on with it.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn reload(&self) {
        // The same bytes as last time: nothing to draw again.
        let bytes = std::fs::read(&self.opts.spec).ok();
        let mut last = self.last_read.lock().unwrap_or_else(|p| p.into_inner());
        if bytes.is_some() && *last == bytes {
            return;
        }
        *last = bytes;
        drop(last);
        let loaded = crate::load(&self.opts.spec);
        let mut inner = self.lock();
        inner.snapshot.update(loaded, &self.opts.lang);
        // The whole of it: the page redraws without asking again.
        let msg = sse("spec", &inner.snapshot.to_json());
        broadcast(&mut inner, &msg);
    }

    fn ingest(&self, input: watch::Input<'_>) {
        let mut inner = self.lock();
        let line = match input {
            watch::Input::Line(text) => {
                watch::read_line(inner.snapshot.good.as_ref().map(|s| &s.model), text)
            }
            watch::Input::TooLong => {
                watch::Line::Malformed(format!("a line over {} bytes", watch::MAX_LINE))
            }
        };
        inner.stats.count(&line);
        let value = match line {
            watch::Line::Event(v) | watch::Line::Segment(v) => {
                if inner.lines.len() >= MAX_KEPT {
                    inner.lines.pop_front();
                }
                inner.lines.push_back(v.clone());
                v
            }
            _ => Value::Null,
        };
        let msg = sse(
            "watch",
            &json!({"line": value, "stats": inner.stats.to_json()}),
        );
        broadcast(&mut inner, &msg);
    }
}

fn broadcast(inner: &mut Inner, msg: &str) {
    inner.subscribers.retain(|s| s.send(msg.to_owned()).is_ok());
}

fn sse(event: &str, data: &Value) -> String {
    format!("event: {event}\ndata: {data}\n\n")
}

/// Starts the server: reads the spec, binds both ports, watches the
/// spec's folder; returns once it serves.
pub fn start(opts: Options) -> Result<Running, String> {
    let page_listener = TcpListener::bind((opts.host.as_str(), opts.port))
        .map_err(|e| format!("{}:{}: {e}", opts.host, opts.port))?;
    let page = page_listener.local_addr().map_err(|e| e.to_string())?;
    let watch_port = opts.watch_port.unwrap_or(if opts.port == 0 {
        0
    } else {
        page.port().wrapping_add(1)
    });
    let watch_listener = TcpListener::bind((opts.host.as_str(), watch_port))
        .map_err(|e| format!("watch port {}:{watch_port}: {e}", opts.host))?;
    let watch = watch_listener.local_addr().map_err(|e| e.to_string())?;

    let shared = Arc::new(Shared {
        opts: opts.clone(),
        inner: Mutex::new(Inner {
            snapshot: Snapshot::new(),
            lines: Default::default(),
            stats: Default::default(),
            subscribers: Vec::new(),
        }),
        last_read: Mutex::new(None),
    });
    shared.reload();
    watch_spec(&shared)?;

    let take = {
        let shared = shared.clone();
        Arc::new(move |input: watch::Input<'_>| shared.ingest(input))
    };
    std::thread::Builder::new()
        .name("fsm-watch-port".into())
        .spawn(move || watch::listen(watch_listener, take))
        .map_err(|e| e.to_string())?;

    let server =
        tiny_http::Server::from_listener(page_listener, None).map_err(|e| e.to_string())?;
    std::thread::Builder::new()
        .name("fsm-http".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let shared = shared.clone();
                let _ = std::thread::Builder::new()
                    .name("fsm-request".into())
                    .spawn(move || handle(&shared, request));
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(Running { page, watch })
}

/// `fsm serve`: starts, prints the addresses, serves until killed.
pub fn run(opts: Options) -> Result<(), String> {
    let running = start(opts)?;
    println!("fsm serve: the page at http://{}/", running.page);
    println!(
        "fsm serve: the watch port at {} (newline-delimited JSON: docs/trace-json.md)",
        running.watch
    );
    let _ = std::io::stdout().flush();
    loop {
        std::thread::park();
    }
}

/// Watches the spec's folder (editors save by writing another file and
/// renaming it over the spec) and reads the spec again after each change
/// to it, changes within 15 ms taken as one.
fn watch_spec(shared: &Arc<Shared>) -> Result<(), String> {
    use notify::Watcher as _;
    let spec = shared.opts.spec.clone();
    let folder = match spec.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    let name = spec.file_name().map(|n| n.to_owned());
    let (tx, rx) = mpsc::channel::<()>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        // Changes only: reading the spec is an access to it, which would
        // read it again, and again.
        use notify::EventKind::{Access, Modify};
        use notify::event::ModifyKind::Metadata;
        if let Ok(ev) = res
            && !matches!(ev.kind, Access(_) | Modify(Metadata(_)))
            && ev.paths.iter().any(|p| p.file_name() == name.as_deref())
        {
            let _ = tx.send(());
        }
    })
    .map_err(|e| format!("watching {}: {e}", folder.display()))?;
    watcher
        .watch(&folder, notify::RecursiveMode::NonRecursive)
        .map_err(|e| format!("watching {}: {e}", folder.display()))?;
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("fsm-spec-watch".into())
        .spawn(move || {
            let _watcher = watcher;
            while rx.recv().is_ok() {
                while rx.recv_timeout(Duration::from_millis(15)).is_ok() {}
                shared.reload();
            }
        })
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn header(name: &str, value: &str) -> tiny_http::Header {
    tiny_http::Header::from_bytes(name.as_bytes(), value.as_bytes()).expect("a valid header")
}

fn reply(request: tiny_http::Request, status: u16, kind: &str, body: String) {
    // With its length, not chunked: every client reads it.
    let response = tiny_http::Response::from_string(body)
        .with_chunked_threshold(usize::MAX)
        .with_status_code(status)
        .with_header(header("Content-Type", kind))
        .with_header(header("Cache-Control", "no-store"));
    let _ = request.respond(response);
}

fn reply_json(request: tiny_http::Request, status: u16, value: &Value) {
    reply(request, status, "application/json", value.to_string());
}

fn error(request: tiny_http::Request, status: u16, message: &str) {
    reply_json(request, status, &json!({"error": message}));
}

fn read_body(request: &mut tiny_http::Request) -> Result<String, String> {
    let mut body = Vec::new();
    request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| format!("reading the body: {e}"))?;
    if body.len() > MAX_BODY {
        return Err(format!("the body is over {MAX_BODY} bytes"));
    }
    String::from_utf8(body).map_err(|_| "the body is not UTF-8".to_owned())
}

fn handle(shared: &Shared, mut request: tiny_http::Request) {
    let url = request.url().to_owned();
    let path = url.split('?').next().unwrap_or("");
    let method = request.method().clone();
    use tiny_http::Method::{Get, Post};
    match (&method, path) {
        (Get, "/") | (Get, "/index.html") => reply(
            request,
            200,
            "text/html; charset=utf-8",
            page::html(&json!({"mode": "serve"})),
        ),
        (Get, "/events") => events(shared, request),
        (Get, "/api/spec") => {
            let value = shared.lock().snapshot.to_json();
            reply_json(request, 200, &value);
        }
        (Get, "/api/stats") => {
            let value = shared.lock().stats.to_json();
            reply_json(request, 200, &value);
        }
        (Get, "/api/tour") => {
            let good = shared.lock().snapshot.good.clone();
            let Some(spec) = good else {
                return error(request, 409, "the spec has not loaded");
            };
            let history: Result<Vec<_>, String> = shared
                .opts
                .history
                .iter()
                .map(|h| crate::tour::History::parse(&spec.model, h))
                .collect();
            match history {
                Ok(h) => {
                    let tour = crate::tour::tour(&spec.model, &h);
                    reply_json(request, 200, &tour_json(&spec, &tour));
                }
                Err(e) => error(request, 400, &e),
            }
        }
        (Get, "/api/trace") => {
            let Some(file) = shared.opts.trace.clone() else {
                return error(request, 404, "no --trace file");
            };
            match std::fs::read_to_string(&file) {
                Ok(text) => {
                    let value = annotate(shared, &text, &file.display().to_string());
                    reply_json(request, 200, &value);
                }
                Err(e) => error(request, 500, &format!("{}: {e}", file.display())),
            }
        }
        (Post, "/api/step") => {
            let body = match read_body(&mut request) {
                Ok(b) => b,
                Err(e) => return error(request, 400, &e),
            };
            let Ok(value) = serde_json::from_str::<Value>(&body) else {
                return error(request, 400, "the body is not JSON");
            };
            let good = shared.lock().snapshot.good.clone();
            let Some(spec) = good else {
                return error(request, 409, "the spec has not loaded");
            };
            match spec::step_json_request(&spec.model, &value) {
                Ok(answer) => reply_json(request, 200, &answer),
                Err(e) => error(request, 400, &e),
            }
        }
        (Post, "/api/watch") => match read_body(&mut request) {
            Ok(body) => {
                for line in body.lines().filter(|l| !l.trim().is_empty()) {
                    shared.ingest(watch::Input::Line(line.trim()));
                }
                let value = shared.lock().stats.to_json();
                reply_json(request, 200, &value);
            }
            Err(e) => error(request, 400, &e),
        },
        (Post, "/api/annotate") => match read_body(&mut request) {
            Ok(body) => {
                let value = annotate(shared, &body, "");
                reply_json(request, 200, &value);
            }
            Err(e) => error(request, 400, &e),
        },
        (Get, _) | (Post, _) => error(request, 404, &format!("no such page: {path}")),
        _ => error(request, 405, "only GET and POST"),
    }
}

fn annotate(shared: &Shared, text: &str, name: &str) -> Value {
    let inner = shared.lock();
    let (lines, stats) = watch::read_all(inner.snapshot.good.as_ref().map(|s| &s.model), text);
    json!({"name": name, "lines": lines, "stats": stats.to_json()})
}

/// `GET /events`: the stream of server-sent events, written straight to
/// the socket (so that each event goes out at once), a comment every
/// 15 s to notice a page that left.
fn events(shared: &Shared, request: tiny_http::Request) {
    let (tx, rx): (Sender<String>, Receiver<String>) = mpsc::channel();
    {
        let mut inner = shared.lock();
        // The lines so far, then whatever comes: under one lock, so none
        // is missed or sent twice.
        for line in &inner.lines {
            let _ = tx.send(sse(
                "watch",
                &json!({"line": line, "stats": inner.stats.to_json()}),
            ));
        }
        let _ = tx.send(sse("spec", &inner.snapshot.to_json()));
        inner.subscribers.push(tx);
    }
    let mut out = request.into_writer();
    let head = "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-store\r\n\
                Connection: close\r\n\r\n";
    if out
        .write_all(head.as_bytes())
        .and_then(|()| out.flush())
        .is_err()
    {
        return;
    }
    loop {
        let msg = match rx.recv_timeout(Duration::from_secs(15)) {
            Ok(m) => m,
            Err(RecvTimeoutError::Timeout) => ": keep-alive\n\n".to_owned(),
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // Send what else is waiting along with it.
        let mut batch = msg;
        while let Ok(more) = rx.try_recv() {
            batch.push_str(&more);
            if batch.len() > 1 << 20 {
                break;
            }
        }
        if out
            .write_all(batch.as_bytes())
            .and_then(|()| out.flush())
            .is_err()
        {
            return;
        }
    }
}
