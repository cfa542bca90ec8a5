//! Writes CONFORMANCE.md: tcp.fsm's tour played against our runtime,
//! smoltcp and the Linux kernel's TCP, pair by pair.
//!
//! ```text
//! cargo run -p fsm-lab --example conformance            # as root for the Linux column
//! cargo run -p fsm-lab --example conformance -- --out FILE
//! ```
//!
//! The Linux column needs root, `ip` and `/dev/net/tun`; without them it
//! is marked "not run: <why>", and with `CI=true` in the environment that
//! is an error.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use fsm_lab::conformance::matrix::{self, Totals};
use fsm_lab::conformance::{self, Spec, findings, linux};

const INTRO: &str = "# Conformance

<!-- Written by `cargo run -p fsm-lab --example conformance` (as root for the Linux
column); do not edit by hand. -->

Every (transition, source state) pair of `tcp.fsm`, played over the wire against three
TCPs. For each pair the tester takes the shortest event sequence from CLOSED that ends
with that pair (`fsm tour tcp.fsm --history passive:LISTEN/SYN_SENT`, going round the
steps an implementation cannot be driven through), and plays it: an application call
for a call event, a concrete segment computed from the implementation's sequence numbers
as seen so far for a segment event (`lab/src/conformance/mod.rs`, `Peer`; the rules are
`runtime/src/vocab.rs`'s), a timer driven to expiry for a timer event. After each step
the state the implementation reports and the segments it sent are held against the
step's target state and send actions (`send_syn`: a SYN; `send_ack`, `send_challenge_ack`:
an ACK; `send_fin`: a FIN, unless it waits behind an unacknowledged SYN; `reply_rst`,
`send_rst`: an RST; an RST, SYN or SYN-ACK the step does not send is a difference).

A cell *agrees*, *differs* (its evidence below: the segments exchanged, `>` to the
implementation and `<` from it, sequence numbers relative to the sender's ISS, `p` the
tester's and `i` the implementation's; the state seen after each step; the spec's line),
or is *untestable* (with the reason). A pair whose way there goes elsewhere is tried again
round the step that did; it is untestable only if no way is left.

- **our runtime**: `fsm_runtime::host::Host` with tcp.fsm compiled in, driven sans-IO in
  virtual time (every timer testable); a passive OPEN is `Host::listen_for` (a fully
  specified passive OPEN, one TCB), the state is the connection's; with
  `Config::record_steps` it says which events it raised, and each step's own
  transition must be among them.
- **smoltcp 0.14**: an `Interface` on a queue device (`Medium::Ip`), one `tcp::Socket`,
  virtual time; `set_timeout(30 s)` is its user timeout; `close()` is CLOSE, `abort()` is
  ABORT; the state is `Socket::state()`.
- **Linux**: the kernel's TCP in a network namespace the command creates, behind a TUN
  device the tester reads and writes raw IPv4 packets on; the application side is
  `socket2` sockets (`listen`, non-blocking `connect`, `send`, `shutdown(Write)` for
  CLOSE, `SO_LINGER` 0 and `close` for ABORT; the connection under test is the accepted
  one once accepted); `TCP_USER_TIMEOUT` is the user timeout and `TCP_LINGER2` the
  FIN_WAIT_2 timeout; the state is the namespace's `/proc/net/tcp` (a listener's child
  that is gone before it opened is LISTEN again, as tcp.fsm's forget_peer). The column
  is the kernel the command ran on (its head names the release); no TCP sysctl is changed.

Reproduce: `sudo -E cargo run -p fsm-lab --example conformance` (`cargo test -p fsm-lab
--test conformance` checks the runtime's column and that this file's deterministic columns
are current).";

fn main() -> ExitCode {
    if let Some(file) = linux::inner_target() {
        // Inside the namespace `linux::column` made.
        return linux::inner_main(&Spec::tcp(), &file);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("the lab is in the workspace");
    let mut out = root.join("CONFORMANCE.md");
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--out" => match args.next() {
                Some(p) => out = PathBuf::from(p),
                None => {
                    eprintln!("--out needs a file");
                    return ExitCode::FAILURE;
                }
            },
            other => {
                eprintln!("unknown argument `{other}` (expected --out FILE)");
                return ExitCode::FAILURE;
            }
        }
    }
    let spec = Spec::tcp();
    let mut columns = conformance::deterministic_columns(&spec);
    let linux = linux::column(&spec, &[]);
    if let Err(why) = &linux.result
        && std::env::var("CI").is_ok_and(|v| v == "true")
    {
        eprintln!("the Linux column did not run in CI: {why}");
        return ExitCode::FAILURE;
    }
    columns.push(linux);
    let text = matrix::markdown(&spec, &columns, INTRO, &findings::class);
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("{}: {e}", out.display());
        return ExitCode::FAILURE;
    }
    println!("wrote {}", out.display());
    for c in &columns {
        match &c.result {
            Ok(v) => {
                let t = Totals::of(v);
                println!(
                    "  {}: {} agree, {} differ, {} untestable ({:.0}% testable)",
                    c.name,
                    t.agree,
                    t.differs,
                    t.untestable,
                    t.percent_testable()
                );
            }
            Err(why) => println!("  {}: not run: {why}", c.name),
        }
    }
    ExitCode::SUCCESS
}
