//! pcap capture of the inner packets, read back by tshark with checksum
//! validation on: every packet decodes as TCP with good checksums.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use fsm_runtime::{Endpoint, Options};

/// A server on 127.0.0.1 capturing into `server.pcap` in a new directory
/// named after `name`; `None` (the test skipped) without tshark.
fn capturing_server(name: &str) -> Option<(Endpoint, PathBuf, PathBuf)> {
    if Command::new("tshark").arg("--version").output().is_err() {
        fsm_runtime::testing::skip("tshark not found");
        return None;
    }
    let dir = std::env::temp_dir().join(format!("{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("server.pcap");
    let mut o = Options::with_config(common::config());
    o.pcap = Some(file.clone());
    let server = Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), o).unwrap();
    Some((server, dir, file))
}

#[test]
fn tshark_decodes_every_captured_packet_with_good_checksums() {
    let Some((server, dir, file)) = capturing_server("fsm-capture") else {
        return;
    };
    let client = Endpoint::bind_with(
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Options::with_config(common::config()),
    )
    .unwrap();
    let listener = server.listen(common::udp_addr(&server).port(), 4).unwrap();
    let t = std::thread::spawn(move || {
        let mut s = listener.accept().unwrap().0;
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        s.close(Duration::from_secs(5)).unwrap();
    });
    let data = common::pattern(100_000, 9);
    let mut c = client
        .connect(common::udp_addr(&server), Duration::from_secs(2))
        .unwrap();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    t.join().unwrap();
    drop(server); // flushes the capture
    let packets = fsm_runtime::testing::check_with_tshark(&file)
        .unwrap_or_else(|e| panic!("{e}"))
        .expect("tshark was found above");
    assert!(
        packets > 100,
        "a capture of the whole exchange, got {packets} packets"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// SACK as tshark reads it (RFC 2018): both SYNs offer SACK-permitted, and
/// over a link that loses and duplicates the client's datagrams the
/// server's ACKs carry SACK blocks. Each block tshark decodes is a
/// non-empty range past the ACK, or a D-SACK block at or below it (RFC
/// 2883), and at most four ride on one ACK.
#[test]
fn tshark_reads_our_sack_blocks() {
    let Some((server, dir, file)) = capturing_server("fsm-capture-sack") else {
        return;
    };
    let mut lossy = Options::with_config(common::config());
    lossy.faults.loss = 0.05;
    lossy.faults.duplicate = 0.02;
    lossy.faults.seed = 7;
    let client = Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), lossy).unwrap();
    let listener = server.listen(common::udp_addr(&server).port(), 4).unwrap();
    let t = std::thread::spawn(move || {
        let mut s = listener.accept().unwrap().0;
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.close(Duration::from_secs(5)).unwrap();
        got
    });
    let data = common::pattern(300_000, 11);
    let mut c = client
        .connect(common::udp_addr(&server), Duration::from_secs(2))
        .unwrap();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    assert!(t.join().unwrap() == data, "the server read what was sent");
    drop(c);
    drop(server); // flushes the capture
    let out = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-o", "tcp.relative_sequence_numbers:FALSE", "-T", "fields"])
        .args(["-e", "tcp.flags.syn", "-e", "tcp.options.sack_perm"])
        .args([
            "-e",
            "tcp.ack",
            "-e",
            "tcp.options.sack_le",
            "-e",
            "tcp.options.sack_re",
        ])
        .args(["-E", "separator=;"])
        .output()
        .expect("tshark runs");
    assert!(out.status.success(), "{out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    let numbers = |s: &str| -> Vec<u64> {
        s.split(',')
            .filter(|x| !x.is_empty())
            .map(|x| x.parse().expect("a number"))
            .collect()
    };
    let (mut syns, mut syns_offering, mut with_blocks, mut blocks_past_ack) = (0, 0, 0, 0);
    for line in text.lines() {
        let f: Vec<&str> = line.split(';').collect();
        assert_eq!(f.len(), 5, "{line}");
        if f[0] == "1" {
            syns += 1;
            syns_offering += usize::from(!f[1].is_empty());
        }
        let (left, right) = (numbers(f[3]), numbers(f[4]));
        assert_eq!(left.len(), right.len(), "{line}");
        assert!(left.len() <= 4, "{line}");
        if left.is_empty() {
            continue;
        }
        with_blocks += 1;
        let ack = f[2].parse::<u64>().expect("an ACK number");
        for (i, (&l, &r)) in left.iter().zip(&right).enumerate() {
            // (No wrap: the test's ISNs are far from 2^32 for 300 KB.)
            assert!(l < r, "an empty or inverted block: {line}");
            if l > ack {
                blocks_past_ack += 1;
            } else {
                // A D-SACK block: first, and wholly below the ACK.
                assert_eq!(i, 0, "only the first block may be a D-SACK block: {line}");
                assert!(r <= ack, "a block across the ACK: {line}");
            }
        }
    }
    assert!(
        syns >= 2 && syns_offering == syns,
        "every SYN offers SACK:\n{text}"
    );
    assert!(
        with_blocks > 0 && blocks_past_ack > 0,
        "no SACK block seen:\n{text}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
