//! `fsm-lab replay` on the Linux kernel's TCP: tshark captures `tun0` in
//! the namespace of `kernel_support` (the kernel's own interface, so the
//! capture is in the order the kernel saw the wire) while the kernel's
//! client talks to our server and closes first, and our client talks to
//! the kernel's server and closes first; the capture, replayed from the
//! kernel's side, agrees with tcp.fsm on both connections, and each
//! replay ends where the kernel's own view (`/proc/net/tcp`) says the
//! connection is. Against `examples/specs/no_close_wait.fsm` the
//! kernel's server is flagged where it acknowledges our FIN.
//!
//! Needs root, `ip`, `/dev/net/tun` and tshark; without them it prints
//! `skipped: <why>` and passes, except with `CI=true`, where it fails.

mod common;
mod kernel_support;

use std::io::{BufRead, BufReader};
use std::net::{Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::pattern;
use fsm_lab::replay::{Capture, Outcome, Side, replay};
use fsm_runtime::loaded::Loaded;
use kernel_support::{KERNEL_IP, Lab, OUR_IP, TUN_NAME, exchange, in_namespace, kernel_view};

const STEP: Duration = Duration::from_secs(20);
const BYTES: usize = 200_000;
const OUR_PORT: u16 = 7100;

/// tshark capturing `tun0` into `file`, started and seen capturing.
fn start_tshark(file: &Path) -> Child {
    let mut child = Command::new("tshark")
        .args(["-i", TUN_NAME, "-F", "pcap", "-w"])
        .arg(file)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start tshark");
    // tshark says "Capturing on 'tun0'" once it captures.
    let stderr = child.stderr.take().expect("tshark's stderr");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            println!("tshark: {line}");
            if line.contains("Capturing on") {
                let _ = tx.send(());
            }
        }
    });
    let deadline = Instant::now() + Duration::from_secs(20);
    let said = rx.recv_timeout(Duration::from_secs(20)).is_ok();
    while std::fs::metadata(file).map_or(0, |m| m.len()) < 24 {
        assert!(Instant::now() < deadline, "tshark wrote no pcap header");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(said, "tshark never said it was capturing");
    child
}

/// Stops tshark (SIGINT, so it writes out what it has) and waits for it.
fn stop_tshark(mut child: Child) {
    let pid = child.id().to_string();
    let _ = Command::new("kill").args(["-INT", &pid]).status();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().expect("wait for tshark").is_none() {
        if Instant::now() >= deadline {
            // Only the child this test started, by its pid.
            let _ = child.kill();
            let _ = child.wait();
            panic!("tshark did not stop on SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn kernel_shutdown(s: &TcpStream) {
    s.shutdown(Shutdown::Write).expect("the kernel's shutdown");
}

fn our_shutdown(s: &fsm_runtime::Stream) {
    s.shutdown(Shutdown::Write).expect("our shutdown");
}

/// The kernel's client to our server, the kernel closing first; returns
/// (the kernel's address, ours).
fn kernel_client(lab: &Lab) -> (SocketAddrV4, SocketAddrV4) {
    let listener = lab.endpoint.listen(OUR_PORT, 1).expect("listen");
    let ours = SocketAddrV4::new(OUR_IP, OUR_PORT);
    let (to_ours, to_kernel) = (pattern(BYTES, 1), pattern(BYTES, 2));
    std::thread::scope(|scope| {
        let kernel = scope.spawn(|| {
            let s = TcpStream::connect_timeout(&ours.into(), STEP).expect("the kernel connects");
            s.set_read_timeout(Some(STEP)).unwrap();
            let SocketAddr::V4(local) = s.local_addr().unwrap() else {
                unreachable!("IPv4")
            };
            assert_eq!(exchange(&s, &to_ours, true, kernel_shutdown), to_kernel);
            local
        });
        let (s, _) = listener.accept_timeout(STEP).expect("accept");
        s.set_read_timeout(Some(STEP)).unwrap();
        assert_eq!(exchange(&s, &to_kernel, false, our_shutdown), to_ours);
        s.wait_finished(STEP).expect("ours finishes");
        (kernel.join().expect("the kernel's side"), ours)
    })
}

/// Our client to the kernel's server, ours closing first.
fn kernel_server(lab: &Lab) -> (SocketAddrV4, SocketAddrV4) {
    let listener = TcpListener::bind((KERNEL_IP, 0)).expect("the kernel listens");
    let SocketAddr::V4(kernel_addr) = listener.local_addr().unwrap() else {
        unreachable!("IPv4")
    };
    let (to_ours, to_kernel) = (pattern(BYTES, 3), pattern(BYTES, 4));
    std::thread::scope(|scope| {
        let kernel = scope.spawn(|| {
            let (s, _) = listener.accept().expect("the kernel accepts");
            s.set_read_timeout(Some(STEP)).unwrap();
            assert_eq!(exchange(&s, &to_ours, false, kernel_shutdown), to_kernel);
        });
        let s = lab
            .endpoint
            .connect_via(kernel_addr.into(), SocketAddr::V4(lab.bridge.addr()), STEP)
            .expect("we connect");
        s.set_read_timeout(Some(STEP)).unwrap();
        let SocketAddr::V4(ours) = s.local_addr().unwrap() else {
            unreachable!("IPv4")
        };
        assert_eq!(exchange(&s, &to_kernel, true, our_shutdown), to_ours);
        s.wait_finished(STEP).expect("ours finishes");
        kernel.join().expect("the kernel's side");
        (kernel_addr, ours)
    })
}

/// The state the kernel holds the connection in, by tcp.fsm's name, after
/// it let go of all but TIME_WAIT (`CLOSED` when nothing is left).
fn kernel_end(kernel: SocketAddrV4, ours: SocketAddrV4) -> String {
    let deadline = Instant::now() + STEP;
    loop {
        let view = kernel_view(kernel, ours);
        match view.as_slice() {
            [] => return "CLOSED".to_owned(),
            [s] if s.replace('-', "_") == "TIME_WAIT" => return "TIME_WAIT".to_owned(),
            _ if Instant::now() >= deadline => panic!("the kernel still holds {view:?}"),
            _ => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

#[test]
fn kernel_captured_on_tun_agrees_with_tcp_fsm() {
    if std::env::var_os(kernel_support::NS_ENV).is_none()
        && Command::new("tshark").arg("--version").output().is_err()
    {
        fsm_runtime::testing::skip("tshark not found");
        return;
    }
    in_namespace(
        "kernel_captured_on_tun_agrees_with_tcp_fsm",
        "replay",
        |lab| {
            let dir = std::env::temp_dir().join(format!("fsm-replay-kernel-{}", lab.ns));
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join("tun0.pcap");
            let tshark = start_tshark(&file);
            let client = kernel_client(lab);
            let server = kernel_server(lab);
            let ends = [
                kernel_end(client.0, client.1),
                kernel_end(server.0, server.1),
            ];
            // What the kernel sent last is on the capture before it stops.
            std::thread::sleep(Duration::from_millis(500));
            stop_tshark(tshark);

            let tcp = Loaded::load(concat!(env!("CARGO_MANIFEST_DIR"), "/../tcp.fsm")).unwrap();
            let capture = Capture::read_file(&file).unwrap_or_else(|e| panic!("{e}"));
            let side = Side {
                addr: KERNEL_IP,
                port: None,
            };
            let report = replay(&tcp, &capture, Some(side)).unwrap_or_else(|e| panic!("{e}"));
            println!("{report}");
            assert!(report.agrees(), "{report}");
            assert_eq!(report.connections.len(), 2, "{report}");
            for (c, ((kernel, ours), end)) in report
                .connections
                .iter()
                .zip([client, server].iter().zip(&ends))
            {
                assert_eq!((c.local, c.remote), (*kernel, *ours), "{report}");
                assert_eq!(c.outcome, Outcome::Agrees, "{report}");
                assert!(c.states.contains(&"ESTABLISHED"), "{report}");
                assert_eq!(c.states.last().copied(), Some(end.as_str()), "{report}");
            }

            // Against a spec without ESTABLISHED -> CLOSE_WAIT, the kernel's
            // server leaves it where it acknowledges our FIN: the first
            // segment from the kernel after our FIN whose ACK covers it.
            let variant = Loaded::load(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../examples/specs/no_close_wait.fsm"
            ))
            .unwrap();
            let (kernel, ours) = server;
            let our_fin = capture
                .frames
                .iter()
                .find(|f| f.src == ours && f.dst == kernel && f.flags.fin())
                .expect("our FIN to the kernel's server");
            let fin_at = our_fin.seq.0.wrapping_add(our_fin.payload_len as u32);
            let expected = capture
                .frames
                .iter()
                .find(|f| {
                    f.number > our_fin.number
                        && f.src == kernel
                        && f.ack.is_some_and(|a| a.0.wrapping_sub(fin_at) as i32 > 0)
                })
                .expect("the kernel's ACK of our FIN")
                .number;
            let report = replay(&variant, &capture, Some(side)).unwrap();
            println!("{report}");
            assert_eq!(report.connections[0].outcome, Outcome::Agrees, "{report}");
            let Outcome::Disagrees(d) = &report.connections[1].outcome else {
                panic!("the kernel's server agrees with no_close_wait.fsm:\n{report}");
            };
            assert_eq!(
                (d.frame, d.state, d.event),
                (expected, "ESTABLISHED", Some("rcv_fin")),
                "{report}"
            );
            let _ = std::fs::remove_dir_all(&dir);
        },
    );
}
