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
        fsm_runtime::testing::skip("tshark not found");
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
