//! The live figure in a real browser: chromium, headless, driven through
//! chromedriver (WebDriver). Screenshots go to target/serve-screens/.
//! Without chromium or chromedriver each test prints `skipped: …` and
//! passes, except with CI=true, where it fails.

mod serve_support;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use serve_support::*;

/// chromedriver on a free port, killed on drop.
struct Driver {
    child: Child,
    addr: SocketAddr,
}

impl Drop for Driver {
    /// Ends chromedriver and the browser it started (its process group:
    /// a test that fails leaves its session open).
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg("--")
            .arg(format!("-{}", self.child.id()))
            .status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|d| d.join(tool))
        .find(|p| p.is_file())
}

/// chromedriver and chromium, or why not.
fn tools() -> Result<(PathBuf, PathBuf), String> {
    let driver = on_path("chromedriver").ok_or("chromedriver is not installed")?;
    let browser = on_path("chromium")
        .or_else(|| on_path("chromium-browser"))
        .ok_or("chromium is not installed")?;
    Ok((driver, browser))
}

fn start_driver(driver: &PathBuf) -> Driver {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    use std::os::unix::process::CommandExt as _;
    let child = Command::new(driver)
        .arg(format!("--port={port}"))
        .process_group(0)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("chromedriver starts");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let d = Driver { child, addr };
    wait_for(TIMEOUT, || TcpStream::connect(addr).ok()).expect("chromedriver listens");
    d
}

async fn browser(driver: &Driver, chromium: &PathBuf) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--window-size=1366,768", "--lang=en-US", "--allow-file-access-from-files"],
        }),
    );
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://{}", driver.addr))
        .await
        .expect("a chromium session")
}

fn screens() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join("target"));
    let dir = target.join("serve-screens");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn screenshot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("a screenshot");
    std::fs::write(screens().join(format!("{name}.png")), png).unwrap();
}

/// Evaluates `expr` (a JavaScript expression) until it is truthy, for at
/// most `limit`; returns its value, or panics saying `what`.
async fn until(c: &Client, limit: Duration, what: &str, expr: &str) -> Value {
    let start = Instant::now();
    let script = format!("return ({expr}) || null;");
    loop {
        if let Ok(v) = c.execute(&script, vec![]).await
            && !v.is_null()
        {
            return v;
        }
        if start.elapsed() > limit {
            let cur = c
                .execute("return document.body.innerText.slice(0, 2000);", vec![])
                .await;
            panic!("{what}: not within {limit:?}; the page says {cur:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Opens tcp.fsm's page and waits for its figure and its event stream.
async fn open_live(c: &Client, served: &Served) {
    c.goto(&served.url("/")).await.unwrap();
    until(
        c,
        TIMEOUT,
        "the figure",
        "document.querySelector('#figure svg #state-CLOSED')",
    )
    .await;
    until(
        c,
        TIMEOUT,
        "the event stream",
        "document.getElementById('status').textContent.startsWith('live')",
    )
    .await;
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

macro_rules! need_tools {
    () => {
        match tools() {
            Ok(t) => t,
            Err(why) => {
                skip(&why);
                return;
            }
        }
    };
}

const CUR: &str = "document.querySelector('#figure [data-state].cur') && document.querySelector('#figure [data-state].cur').id";

#[test]
fn the_page_steps_redraws_on_save_and_shows_errors() {
    let (driver_bin, chromium) = need_tools!();
    let served = Served::start("tcp.fsm", &[]);
    let driver = start_driver(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium).await;
        c.goto(&served.url("/")).await.unwrap();
        until(&c, TIMEOUT, "the figure", "document.querySelector('#figure svg #state-CLOSED')").await;
        assert_eq!(until(&c, TIMEOUT, "CLOSED current", CUR).await, "state-CLOSED");

        // Fire active_open by its button: SYN_SENT, the arrow taken.
        c.find(Locator::Css("#events button[data-event=active_open]"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(&c, TIMEOUT, "SYN_SENT current", &format!("({CUR}) === 'state-SYN_SENT'")).await;
        until(&c, TIMEOUT, "the arrow taken", "document.querySelector('#figure #edge-1-CLOSED.taken')").await;
        let path = c.find(Locator::Css("#path")).await.unwrap().text().await.unwrap();
        assert!(path.contains("CLOSED —active_open→ SYN_SENT"), "{path}");
        let last = c.find(Locator::Css("#last")).await.unwrap().text().await.unwrap();
        assert!(last.contains("create_tcb, send_syn"), "{last}");
        screenshot(&c, "1-stepped").await;

        // By the keyboard: the digit of rcv_syn_ack among SYN_SENT's events.
        let digit = c
            .execute(
                "return [...document.querySelectorAll('#events button')].findIndex(b => b.dataset.event === 'rcv_syn_ack') + 1;",
                vec![],
            )
            .await
            .unwrap();
        let digit = digit.as_u64().unwrap().to_string();
        c.find(Locator::Css("body")).await.unwrap().send_keys(&digit).await.unwrap();
        until(&c, TIMEOUT, "ESTABLISHED current", &format!("({CUR}) === 'state-ESTABLISHED'")).await;
        // Undo, then zoom in: the zoom is kept across a redraw.
        c.find(Locator::Css("#undo")).await.unwrap().click().await.unwrap();
        until(&c, TIMEOUT, "undone", &format!("({CUR}) === 'state-SYN_SENT'")).await;
        c.find(Locator::Css("#zoom-in")).await.unwrap().click().await.unwrap();
        let zoomed = c
            .execute("return document.querySelector('#figure svg').getAttribute('viewBox');", vec![])
            .await
            .unwrap();

        // Save an edit (a renamed state) as an editor does: the new figure.
        let text = std::fs::read_to_string(&served.spec).unwrap();
        let edited = text.replace(
            "state CLOSE_WAIT",
            "state CLOSE_WAIT_RENAMED",
        ).replace("CLOSE_WAIT ", "CLOSE_WAIT_RENAMED ").replace("CLOSE_WAIT,", "CLOSE_WAIT_RENAMED,").replace("CLOSE_WAIT\n", "CLOSE_WAIT_RENAMED\n").replace("_RENAMED_RENAMED", "_RENAMED");
        let saved = Instant::now();
        served.save(&edited);
        until(&c, TIMEOUT, "the new figure", "document.querySelector('#figure svg #state-CLOSE_WAIT_RENAMED')").await;
        println!("the new figure is on the page {:?} after the save", saved.elapsed());
        let kept = c
            .execute("return document.querySelector('#figure svg').getAttribute('viewBox');", vec![])
            .await
            .unwrap();
        assert_eq!(zoomed, kept, "pan and zoom kept across the redraw");
        assert_eq!(until(&c, TIMEOUT, "the state kept", CUR).await, "state-SYN_SENT");
        screenshot(&c, "2-redrawn").await;

        // An error: its diagnostic with line:col, the last good figure kept.
        let broken = edited.replacen("CLOSED   -> SYN_SENT", "CLOSED   -> SYN_SNT", 1);
        served.save(&broken);
        let diag = until(
            &c,
            TIMEOUT,
            "the diagnostic",
            "[...document.querySelectorAll('#diagnostics li.error')].map(li => li.innerText).join('\\n')",
        )
        .await;
        let diag = diag.as_str().unwrap();
        let at = format!("{}:13", line_of("tcp.fsm", "CLOSED   -> SYN_SENT"));
        assert!(diag.contains(&at) && diag.contains("SYN_SNT"), "{diag}");
        until(&c, TIMEOUT, "the figure kept", "document.querySelector('#figure svg #state-CLOSE_WAIT_RENAMED')").await;
        until(&c, TIMEOUT, "the arrow marked", "document.querySelector('#figure #edge-1-CLOSED.diag-error')").await;
        screenshot(&c, "3-error").await;
        c.close().await.unwrap();
    });
}

#[test]
fn the_page_watches_a_handshake_and_draws_its_ladder() {
    let (driver_bin, chromium) = need_tools!();
    let served = Served::start("tcp.fsm", &[]);
    let driver = start_driver(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium).await;
        open_live(&c, &served).await;
        // The tour, two steps of its first sequence: where the server says.
        let (_, tour) = json(served.page, "GET", "/api/tour", "");
        let second = &tour["sequences"][0][1];
        c.find(Locator::Css("#tour-load"))
            .await
            .unwrap()
            .click()
            .await
            .unwrap();
        until(
            &c,
            TIMEOUT,
            "the tour",
            "!document.getElementById('tour').hidden",
        )
        .await;
        for n in 1..=2 {
            c.find(Locator::Css("#tour-next"))
                .await
                .unwrap()
                .click()
                .await
                .unwrap();
            let expr =
                format!("document.getElementById('tour-pos').textContent.startsWith('{n}/')");
            until(&c, TIMEOUT, "a step of the tour", &expr).await;
        }
        let want = format!("({CUR}) === 'state-{}'", second["to"].as_str().unwrap());
        until(&c, TIMEOUT, "the tour's second state", &want).await;
        assert_eq!(
            c.execute(
                "return document.querySelectorAll('#path li').length;",
                vec![]
            )
            .await
            .unwrap(),
            2
        );

        let lines = handshake_lines();
        let marker = |key: &str| {
            format!(
                "document.querySelector('#figure .live-marker[data-key=\"{key}\"]') && \
                 document.querySelector('#figure .live-marker[data-key=\"{key}\"]').dataset.state"
            )
        };
        let client = "client 127.0.0.1:40001 127.0.0.1:40002";
        let server = "server 127.0.0.1:40002 127.0.0.1:40001";
        // The first three lines: the client in SYN_SENT, the server not yet seen.
        stream(served.watch, &lines[..3]);
        assert_eq!(
            until(&c, TIMEOUT, "the client's marker", &marker(client)).await,
            "SYN_SENT"
        );
        // The rest, from another connection to the watch port.
        stream(served.watch, &lines[3..]);
        assert_eq!(
            until(
                &c,
                TIMEOUT,
                "the server's marker",
                &format!("({}) === 'ESTABLISHED' && 'ok'", marker(server))
            )
            .await,
            "ok"
        );
        assert_eq!(
            until(&c, TIMEOUT, "the client's marker", &marker(client)).await,
            "ESTABLISHED"
        );
        // Counts on the arrows.
        until(
            &c,
            TIMEOUT,
            "a count",
            "document.querySelector('#figure [data-count-edge=\"edge-7-SYN_SENT\"]')",
        )
        .await;
        // The ladder of the first connection: three segments, both sides' states.
        c.find(Locator::Css(&format!(
            "#connections li[data-key=\"{client}\"]"
        )))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
        let n = until(
            &c,
            TIMEOUT,
            "the ladder",
            "document.querySelectorAll('#ladder .seg').length === 3 && 3",
        )
        .await;
        assert_eq!(n, 3);
        let ladder = c
            .find(Locator::Css("#ladder"))
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        assert!(ladder.contains("SYN,ACK seq=500 ack=101"), "{ladder}");
        assert!(ladder.contains("SYN_RCVD"), "the peer's states: {ladder}");
        // A malformed line is counted, and nothing breaks.
        stream(served.watch, &["{oops".to_owned()]);
        until(
            &c,
            TIMEOUT,
            "the count of bad lines",
            "document.getElementById('watch-stats').textContent.includes('1 malformed')",
        )
        .await;
        screenshot(&c, "4-watch").await;
        c.close().await.unwrap();
    });
}

#[test]
fn the_chinese_figure_and_the_exported_page_play() {
    let (driver_bin, chromium) = need_tools!();
    let served = Served::start("tcp.fsm", &["--lang", "zh"]);
    let driver = start_driver(&driver_bin);
    runtime().block_on(async {
        let c = browser(&driver, &chromium).await;
        c.goto(&served.url("/")).await.unwrap();
        let title = until(&c, TIMEOUT, "the figure", "document.querySelector('#figure svg title') && document.querySelector('#figure svg title').textContent").await;
        assert!(title.as_str().unwrap().contains("TCP连接管理状态转换图"), "{title}");
        screenshot(&c, "5-zh").await;

        // docs/handshake.html from file://, scripts on: the markers move.
        let page = repo().join("docs/handshake.html").canonicalize().unwrap();
        c.goto(&format!("file://{}", page.display())).await.unwrap();
        until(&c, TIMEOUT, "the figure", "document.querySelector('#figure svg #state-CLOSED')").await;
        let first = until(&c, TIMEOUT, "a marker", "[...document.querySelectorAll('#figure .live-marker')].map(m => m.dataset.state).join(',')").await;
        until(
            &c,
            Duration::from_secs(30),
            "both sides closed",
            "[...document.querySelectorAll('#figure .live-marker')].filter(m => m.dataset.side === 'client' && m.dataset.state === 'CLOSED').length > 0 && document.getElementById('pb-pos').textContent.split(' / ')[0] === document.getElementById('pb-pos').textContent.split(' / ')[1]",
        )
        .await;
        let last = until(&c, TIMEOUT, "the markers", "[...document.querySelectorAll('#figure .live-marker')].map(m => m.dataset.state).join(',')").await;
        assert_ne!(first, last, "the markers moved");
        screenshot(&c, "6-handshake-html").await;

        // The animated SVG as an image, scripts off: it loads and draws.
        let svg = repo().join("docs/handshake-play.svg").canonicalize().unwrap();
        c.goto(&format!("file://{}", svg.display())).await.unwrap();
        until(&c, TIMEOUT, "the animation", "document.querySelector('#clock') && document.querySelectorAll('set').length").await;
        tokio::time::sleep(Duration::from_millis(4000)).await;
        screenshot(&c, "7-handshake-svg").await;
        c.close().await.unwrap();
    });
}

/// A handshake, a line echoed and a close between two endpoints of the
/// runtime, both streaming to `watch`; answers once both are closed.
fn live_echo(watch: SocketAddr) {
    use fsm_runtime::watch::Watch;
    use fsm_runtime::{Config, Endpoint, Options};
    use std::io::{Read, Write};
    let bind = |side: &str| {
        let options = Options {
            watch: Some(Watch::new(watch, side)),
            ..Options::with_config(Config::loopback(Duration::from_millis(20)))
        };
        Endpoint::bind_with("127.0.0.1:0", options).expect("bind")
    };
    let (server, client) = (bind("server"), bind("client"));
    let SocketAddr::V4(to) = server.local_addr().unwrap() else {
        unreachable!("bound to 127.0.0.1")
    };
    let listener = server.listen(to.port(), 1).unwrap();
    let serving = std::thread::spawn(move || {
        let (s, _) = listener.accept_timeout(TIMEOUT).expect("accept");
        let mut line = Vec::new();
        (&s).read_to_end(&mut line).unwrap();
        (&s).write_all(&line).unwrap();
        // Its FIN, then until the client's last ACK.
        s.close(TIMEOUT).unwrap();
    });
    let s = client.connect(to, TIMEOUT).expect("connect");
    (&s).write_all(b"watched live\n").unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut back = Vec::new();
    (&s).read_to_end(&mut back).unwrap();
    assert_eq!(back, b"watched live\n");
    s.wait_finished(TIMEOUT).unwrap();
    serving.join().unwrap();
    // The endpoints' queued lines go out before they are gone.
    drop((s, client, server));
}

#[test]
fn the_page_watches_a_live_echo_walk_both_typical_paths() {
    let (driver_bin, chromium) = need_tools!();
    let served = Served::start("tcp.fsm", &[]);
    let driver = start_driver(&driver_bin);
    let spec = fsm_codegen::compile(
        "tcp.fsm",
        &std::fs::read_to_string(repo().join("tcp.fsm")).unwrap(),
    )
    .expect("tcp.fsm");
    // The arrows of both typical paths: every pair with a path step.
    let model = &spec.model;
    let typical: Vec<String> = model
        .transitions
        .iter()
        .enumerate()
        .filter(|(_, t)| !t.steps.is_empty())
        .flat_map(|(i, t)| {
            t.sources
                .iter()
                .map(move |s| format!("edge-{i}-{}", model.states[s.index()].name.text))
        })
        .collect();
    runtime().block_on(async {
        let c = browser(&driver, &chromium).await;
        open_live(&c, &served).await;
        live_echo(served.watch);
        for id in &typical {
            let expr =
                format!("document.querySelector('#figure [data-count-edge=\"{id}\"]') && 'ok'");
            assert_eq!(
                until(&c, TIMEOUT, &format!("a count on {id}"), &expr).await,
                "ok"
            );
        }
        // Both connections end where they started.
        let markers = "[...document.querySelectorAll('#figure .live-marker')]\
            .map(m => m.dataset.state).join(' ')";
        let ended =
            format!("(({markers}).split(' ').filter(s => s === 'CLOSED').length >= 2) && 'ok'");
        assert_eq!(
            until(&c, TIMEOUT, "both markers back in CLOSED", &ended).await,
            "ok"
        );
        screenshot(&c, "5-live-echo").await;
        c.close().await.unwrap();
    });
}
