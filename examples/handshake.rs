//! A client and a server in one process, over loopback UDP: the client
//! connects, sends a line, reads the answer and closes; the server echoes
//! and closes after it. Prints both transition traces side by side and
//! checks that the article's client steps ①-⑦ and server steps [1]-[7]
//! happened in order.
//!
//! ```text
//! cargo run --release --example handshake
//! ```

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use clap::Parser;
use fsm_examples::Timeline;
use fsm_runtime::{Config, Endpoint, Options};

/// Run a TCP handshake, a little data and a close between two endpoints in
/// this process, and show the state machine's steps on both sides.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// Maximum segment lifetime in milliseconds; TIME_WAIT lasts twice this.
    #[arg(long, default_value_t = 250)]
    msl_ms: u64,
    /// Write the inner packets of both sides to this pcap file.
    #[arg(long)]
    pcap: Option<std::path::PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    match run(&args) {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::FAILURE,
        Err(e) => {
            eprintln!("handshake: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: &Args) -> std::io::Result<bool> {
    let timeline = Arc::new(Mutex::new(
        Timeline::new(Instant::now(), "client", "server")
            .with_paths([Some("client"), Some("server")]),
    ));
    let endpoint = |column: usize, pcap: Option<std::path::PathBuf>| {
        let mut options =
            Options::with_config(Config::loopback(Duration::from_millis(args.msl_ms)));
        options.pcap = pcap;
        let timeline = timeline.clone();
        options.on_transition = Some(Box::new(move |e| {
            timeline.lock().unwrap().push(column, e.clone());
        }));
        Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), options)
    };
    let server = endpoint(1, args.pcap.clone())?;
    let client = endpoint(0, None)?;
    println!(
        "client {} and server {} exchange IPv4 packets in UDP datagrams; TIME_WAIT = 2*MSL = {} ms\n",
        client.local_addr(),
        server.local_addr(),
        2 * args.msl_ms
    );

    let listener = server.listen(server.local_addr().port(), 1)?;
    let serving = std::thread::spawn(move || -> std::io::Result<()> {
        let mut conn = listener.accept()?;
        let mut line = Vec::new();
        conn.read_to_end(&mut line)?; // until the client's FIN
        conn.write_all(&line)?;
        conn.close(Duration::from_secs(10))?;
        Ok(())
    });

    let mut conn = client.connect(server.local_addr(), Duration::from_secs(5))?;
    conn.write_all(b"hello over a spec-driven TCP\n")?;
    conn.shutdown(Shutdown::Write)?;
    let mut answer = Vec::new();
    conn.read_to_end(&mut answer)?;
    let final_state = conn.wait_finished(Duration::from_millis(4 * args.msl_ms + 5000))?;
    serving
        .join()
        .map_err(|_| std::io::Error::other("server thread panicked"))??;

    let timeline = timeline.lock().unwrap();
    print!("{}", timeline.render(&fsm_runtime::tcp::Spec));
    println!(
        "\nclient read back {:?}; final state {final_state}",
        String::from_utf8_lossy(&answer).trim_end()
    );
    let mut ok = true;
    for (column, path) in [(0, "client"), (1, "server")] {
        let steps = timeline.steps(&fsm_runtime::tcp::Spec, column, path);
        let want: Vec<u8> = (1..=7).collect();
        if steps == want {
            println!("{path} steps 1-7 completed in order");
        } else {
            println!("{path} steps {steps:?}, expected {want:?}");
            ok = false;
        }
    }
    Ok(ok)
}
