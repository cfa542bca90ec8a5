//! pcap capture of the inner packets, read back by tshark with checksum
//! validation on: every packet decodes as TCP with good checksums.

mod common;

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddrV4};
use std::process::Command;
use std::time::Duration;

use fsm_runtime::{Endpoint, Options};

#[test]
fn tshark_decodes_every_captured_packet_with_good_checksums() {
    if Command::new("tshark").arg("--version").output().is_err() {
        println!("skipped: tshark not found (CI installs it)");
        return;
    }
    let dir = std::env::temp_dir().join(format!("fsm-capture-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("server.pcap");
    let mut o = Options::with_config(common::config());
    o.pcap = Some(file.clone());
    let server = Endpoint::bind_with(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0), o).unwrap();
    let client = Endpoint::bind_with(
        SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0),
        Options::with_config(common::config()),
    )
    .unwrap();
    let listener = server.listen(server.local_addr().port(), 4).unwrap();
    let t = std::thread::spawn(move || {
        let mut s = listener.accept().unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        s.write_all(&got).unwrap();
        s.close(Duration::from_secs(5)).unwrap();
    });
    let data = common::pattern(100_000, 9);
    let mut c = client
        .connect(server.local_addr(), Duration::from_secs(2))
        .unwrap();
    c.write_all(&data).unwrap();
    c.shutdown(Shutdown::Write).unwrap();
    let mut back = Vec::new();
    c.read_to_end(&mut back).unwrap();
    assert_eq!(back, data);
    t.join().unwrap();
    drop(server); // flushes the capture
    let out = Command::new("tshark")
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-r",
        ])
        .arg(&file)
        .args([
            "-T",
            "fields",
            "-e",
            "frame.protocols",
            "-e",
            "tcp.checksum.status",
            "-e",
            "ip.checksum.status",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = text.lines().collect();
    assert!(
        lines.len() > 100,
        "a capture of the whole exchange, got {} packets",
        lines.len()
    );
    for l in &lines {
        let cols: Vec<&str> = l.split('\t').collect();
        assert!(cols[0].starts_with("raw:ip:tcp"), "not TCP: {l}");
        // Status 1 is "Good" in tshark's checksum status fields (0 bad, 2 unverified).
        assert_eq!(&cols[1..], ["1", "1"], "bad checksum: {l}");
    }
    let verbose = Command::new("tshark")
        .args([
            "-o",
            "tcp.check_checksum:TRUE",
            "-o",
            "ip.check_checksum:TRUE",
            "-r",
        ])
        .arg(&file)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&verbose.stdout);
    assert!(!summary.contains("Malformed"), "{summary}");
    assert!(!summary.contains("Bad"), "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}
