//! Streaming to a watcher (`Options::watch`): a client and a server on
//! loopback stream their events and segments to a TCP listener standing
//! in for `fsm serve`'s watch port, which holds what arrives against the
//! run; and a watcher that is not there costs the endpoint nothing.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4, TcpListener};
use std::time::Duration;

use fsm_runtime::watch::Watch;
use fsm_runtime::{Endpoint, Options};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(5);

fn endpoint(watch: Watch) -> Endpoint {
    let options = Options {
        watch: Some(watch),
        ..Options::with_config(common::config())
    };
    Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), options).expect("bind")
}

/// A handshake, a line each way and a close, between two endpoints that
/// stream to `watches` (the client's, the server's); answers once both
/// endpoints are gone.
fn exchange([client, server]: [Watch; 2]) {
    let server = endpoint(server);
    let client = endpoint(client);
    // The inner address is the UDP socket's.
    let to = common::udp_addr(&server);
    let listener = server.listen(to.port(), 1).expect("listen");
    let accepting = std::thread::spawn(move || {
        let (s, _) = listener.accept_timeout(WAIT).expect("accept");
        let mut got = Vec::new();
        (&s).read_to_end(&mut got).expect("server read");
        (&s).write_all(&got).expect("server write");
        s.close(WAIT).expect("server close");
    });
    let c = client.connect(to, WAIT).expect("connect");
    (&c).write_all(b"watched\n").expect("write");
    c.shutdown(Shutdown::Write).expect("shutdown");
    let mut back = Vec::new();
    (&c).read_to_end(&mut back).expect("read");
    assert_eq!(back, b"watched\n");
    accepting.join().expect("server thread");
    let _ = c.wait_finished(WAIT);
    drop((c, client, server));
}

#[test]
fn both_sides_stream_every_event_and_segment_to_the_watcher() {
    let watcher = TcpListener::bind("127.0.0.1:0").unwrap();
    let at = watcher.local_addr().unwrap();
    let reading = std::thread::spawn(move || {
        let mut lines = Vec::new();
        // One connection per endpoint; both stay until their endpoint goes.
        for _ in 0..2 {
            let (s, _) = watcher.accept().unwrap();
            s.set_read_timeout(Some(WAIT)).unwrap();
            lines.push(s);
        }
        lines
            .into_iter()
            .flat_map(|s| BufReader::new(s).lines().map_while(Result::ok))
            .collect::<Vec<String>>()
    });
    exchange([Watch::new(at, "client"), Watch::new(at, "server")]);
    let lines = reading.join().unwrap();
    let values: Vec<Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();

    // Along each connection of the connection machine, each line starts
    // where the last one ended, and both sides walk their typical path.
    let mut at_state: HashMap<(String, String, String), String> = HashMap::new();
    let mut walked: HashMap<String, Vec<String>> = HashMap::new();
    for v in values
        .iter()
        .filter(|v| v["spec"] == "../tcp.fsm" && v.get("event").is_some())
    {
        let key = (
            v["side"].as_str().unwrap().to_owned(),
            v["connection"]["local"].to_string(),
            v["connection"]["remote"].to_string(),
        );
        let (from, to) = (v["from"].as_str().unwrap(), v["to"].as_str().unwrap());
        if let Some(last) = at_state.get(&key) {
            assert_eq!(
                last, from,
                "a line that does not start where its connection was: {v}"
            );
        }
        at_state.insert(key, to.to_owned());
        let path = walked
            .entry(v["side"].as_str().unwrap().to_owned())
            .or_default();
        if path.last().is_none_or(|s| s != to) {
            path.push(to.to_owned());
        }
    }
    let client = walked["client"].join(" ");
    assert!(
        client.starts_with("SYN_SENT ESTABLISHED FIN_WAIT_1"),
        "client walked {client}"
    );
    assert!(
        client.ends_with("TIME_WAIT CLOSED"),
        "client walked {client}"
    );
    let server = walked["server"].join(" ");
    assert!(
        server.contains("SYN_RCVD ESTABLISHED CLOSE_WAIT LAST_ACK CLOSED"),
        "server walked {server}"
    );

    // Segment lines: the client's SYN out, and the server's SYN+ACK both
    // out (server) and in (client), numbers agreeing.
    let segments: Vec<&Value> = values
        .iter()
        .filter(|v| v.get("segment").is_some())
        .collect();
    let flags = |v: &Value| -> Vec<String> {
        v["segment"]["flags"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f.as_str().unwrap().to_owned())
            .collect()
    };
    let syn_out = segments
        .iter()
        .find(|v| v["side"] == "client" && v["segment"]["dir"] == "out" && flags(v) == ["SYN"])
        .expect("the client's SYN");
    let synack = |side: &str, dir: &str| {
        segments
            .iter()
            .find(|v| v["side"] == side && v["segment"]["dir"] == dir && flags(v) == ["SYN", "ACK"])
            .unwrap_or_else(|| panic!("{side}'s SYN+ACK {dir}"))
            .to_owned()
    };
    let (sent, got) = (synack("server", "out"), synack("client", "in"));
    for field in ["seq", "ack", "len", "flags"] {
        assert_eq!(sent["segment"][field], got["segment"][field], "{field}");
    }
    let iss = syn_out["segment"]["seq"].as_u64().unwrap();
    assert_eq!(
        sent["segment"]["ack"].as_u64().unwrap(),
        (iss + 1) % (1 << 32)
    );
    assert_eq!(sent["connection"]["local"], got["connection"]["remote"]);
    // The data: 8 bytes each way.
    assert!(
        segments.iter().any(|v| v["side"] == "client"
            && v["segment"]["dir"] == "out"
            && v["segment"]["len"] == 8),
        "the client's data segment"
    );
    // The side machines stream too.
    assert!(values.iter().any(|v| v["spec"] == "../congestion.fsm"));
}

#[test]
fn a_watcher_that_is_not_there_costs_lines_not_the_connection() {
    // A port nobody listens on: bound, then closed.
    let gone = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let watches = [Watch::new(gone, "client"), Watch::new(gone, "server")];
    let dropped = watches.each_ref().map(Watch::dropped_counter);
    // The exchange goes through (`exchange` asserts it) ...
    exchange(watches);
    // ... and every line of it was dropped and counted.
    for d in dropped {
        assert!(d.load(std::sync::atomic::Ordering::Relaxed) > 10);
    }
}
