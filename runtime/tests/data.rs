//! Bulk data over real loopback UDP: 1 MiB each way, checked by hash, on a
//! clean network and through 10% loss, duplication and reordering; the
//! close started by either side.

mod common;

use std::io::{Read, Write};
use std::net::Shutdown;
use std::time::Duration;

use common::{Seen, config, endpoint_with, hash, pattern, udp_addr};
use fsm_runtime::fault::FaultConfig;
use fsm_runtime::{Config, Endpoint, Options, Stream};

const MIB: usize = 1 << 20;

/// Which side sends its FIN first.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Closer {
    Client,
    Server,
}

fn endpoint_faulty(seen: &Seen, faults: &str) -> Endpoint {
    let mut o = Options::with_config(Config {
        // Retransmission must outlast a run of losses on a slow machine.
        max_retransmissions: 30,
        user_timeout: Duration::from_secs(60),
        ..config()
    });
    o.faults = faults.parse::<FaultConfig>().expect("fault spec");
    let seen = seen.clone();
    o.on_transition = Some(Box::new(move |e| seen.lock().unwrap().push(e.clone())));
    Endpoint::bind_with(
        std::net::SocketAddrV4::new(std::net::Ipv4Addr::LOCALHOST, 0),
        o,
    )
    .unwrap()
}

/// Sends `out` while receiving everything the peer sends until its FIN.
fn exchange(stream: &Stream, out: &[u8], close_first: bool) -> Vec<u8> {
    std::thread::scope(|scope| {
        let writer = scope.spawn(|| {
            let mut w = stream;
            w.write_all(out).expect("write");
            if close_first {
                stream.shutdown(Shutdown::Write).expect("shutdown");
            }
        });
        let mut got = Vec::with_capacity(out.len());
        let mut r = stream;
        r.read_to_end(&mut got).expect("read");
        writer.join().expect("writer");
        if !close_first {
            stream.shutdown(Shutdown::Write).expect("shutdown");
        }
        got
    })
}

/// 1 MiB each way; `closer` closes first, the other side closes after
/// reading the FIN. Both end CLOSED; the first closer passes TIME_WAIT.
fn transfer(server: Endpoint, client: Endpoint, closer: Closer, seed: u64) {
    let to_server = pattern(MIB, seed);
    let to_client = pattern(MIB, seed ^ 0xffff);
    let (hs, hc) = (hash(&to_server), hash(&to_client));
    let listener = server.listen(udp_addr(&server).port(), 4).unwrap();
    let long = Duration::from_secs(60);
    let server_side = std::thread::spawn(move || {
        let s = listener.accept().unwrap().0;
        let got = exchange(&s, &to_client, closer == Closer::Server);
        let fin = s.wait_finished(long).unwrap().to_string();
        (hash(&got), got.len(), fin, through_time_wait(&s))
    });
    let c = client
        .connect(udp_addr(&server), Duration::from_secs(5))
        .unwrap();
    let got = exchange(&c, &to_server, closer == Closer::Client);
    assert_eq!(
        (got.len(), hash(&got)),
        (MIB, hc),
        "client received the server's bytes"
    );
    assert_eq!(c.wait_finished(long).unwrap().to_string(), "CLOSED");
    let (h, n, fin, server_waited) = server_side.join().unwrap();
    assert_eq!((n, h), (MIB, hs), "server received the client's bytes");
    assert_eq!(fin, "CLOSED");
    // Only the side that closes first waits in TIME_WAIT.
    assert_eq!(through_time_wait(&c), closer == Closer::Client);
    assert_eq!(server_waited, closer == Closer::Server);
}

fn through_time_wait(s: &Stream) -> bool {
    s.trace().iter().any(|e| e.transition.to == "TIME_WAIT")
}

#[test]
fn one_mib_each_way_client_closes_first() {
    let seen = Seen::default();
    transfer(
        endpoint_with(&seen, config()),
        endpoint_with(&seen, config()),
        Closer::Client,
        1,
    );
}

#[test]
fn one_mib_each_way_server_closes_first() {
    let seen = Seen::default();
    transfer(
        endpoint_with(&seen, config()),
        endpoint_with(&seen, config()),
        Closer::Server,
        2,
    );
}

#[test]
fn one_mib_each_way_through_loss_duplication_and_reordering() {
    let seen = Seen::default();
    let faults = "loss=0.1,dup=0.1,reorder=0.1,delay=2ms";
    let server = endpoint_faulty(&seen, &format!("{faults},seed=11"));
    let client = endpoint_faulty(&seen, &format!("{faults},seed=12"));
    let (s2, c2) = (server.clone(), client.clone());
    transfer(server, client, Closer::Client, 3);
    let (fs, fc) = (s2.fault_stats(), c2.fault_stats());
    println!("server faults: {fs}\nclient faults: {fc}");
    assert!(fs.dropped > 50 && fc.dropped > 50, "faults were injected");
    assert!(fs.reordered > 10 && fc.duplicated > 10);
}

#[test]
fn one_mib_each_way_through_faults_server_closes_first() {
    let seen = Seen::default();
    let faults = "loss=0.1,dup=0.1,reorder=0.1,delay=2ms";
    let server = endpoint_faulty(&seen, &format!("{faults},seed=21"));
    let client = endpoint_faulty(&seen, &format!("{faults},seed=22"));
    transfer(server, client, Closer::Server, 4);
}

/// Application threads that wait drive the endpoint themselves; when they
/// stop waiting (busy elsewhere), its I/O thread takes over: data sent to
/// a server that accepted and then does not read is still acknowledged,
/// and many streams waited on at once each get their own bytes.
#[test]
fn acknowledged_while_the_reader_is_busy_and_many_readers_wait_at_once() {
    let seen = Seen::default();
    let (server, client) = (
        endpoint_with(&seen, config()),
        endpoint_with(&seen, config()),
    );
    let listener = server.listen(udp_addr(&server).port(), 64).unwrap();
    let wait = Duration::from_secs(10);

    // One connection: the server accepts (driving while it waits), then
    // sleeps without reading.
    let c = client.connect(udp_addr(&server), wait).unwrap();
    let (s, _) = listener.accept_timeout(wait).unwrap();
    let data = pattern(64 * 1024, 7);
    c.set_write_timeout(Some(wait)).unwrap();
    (&c).write_all(&data).unwrap();
    (&c).flush()
        .expect("the server's endpoint acknowledged with nobody reading");
    let mut got = vec![0; data.len()];
    (&s).read_exact(&mut got).unwrap();
    assert_eq!(hash(&got), hash(&data));

    // Sixteen connections, a reader thread blocked on each; the client
    // writes to them one at a time, in reverse order of accepting.
    const N: usize = 16;
    let streams: Vec<(Stream, Stream)> = (0..N)
        .map(|_| {
            let c = client.connect(udp_addr(&server), wait).unwrap();
            let (s, _) = listener.accept_timeout(wait).unwrap();
            s.set_read_timeout(Some(wait)).unwrap();
            (c, s)
        })
        .collect();
    std::thread::scope(|scope| {
        let readers: Vec<_> = streams
            .iter()
            .enumerate()
            .map(|(i, (_, s))| {
                scope.spawn(move || {
                    let mut got = [0u8; 1024];
                    (&*s).read_exact(&mut got).unwrap();
                    assert!(got.iter().all(|b| *b == i as u8), "stream {i}'s own bytes");
                })
            })
            .collect();
        for (i, (c, _)) in streams.iter().enumerate().rev() {
            (&*c).write_all(&[i as u8; 1024]).unwrap();
        }
        for r in readers {
            r.join().unwrap();
        }
    });
}
