//! The stream's timeouts and addresses as `std::net::TcpStream` has them:
//! a zero timeout is refused with `InvalidInput`; a read with nothing to
//! read, a write with a full send buffer and a flush with data the peer has
//! not acknowledged wait about the timeout and fail with `WouldBlock` (as on
//! Linux), and go on once the peer reads; addresses outside IPv4 are
//! refused.

mod common;

use std::io::{ErrorKind, Read, Write};
use std::time::{Duration, Instant};

use common::{Seen, config, endpoint_with, udp_addr};
use fsm_runtime::{Config, Endpoint, Stream};

const WAIT: Duration = Duration::from_secs(5);
const SHORT: Duration = Duration::from_millis(200);

/// Small buffers, so that a peer that does not read stops a writer soon.
fn small_buffers() -> Config {
    Config {
        send_buffer: 16 << 10,
        recv_buffer: 16 << 10,
        ..config()
    }
}

/// A connected pair: the client's stream and the server's, with the
/// endpoints that must outlive them.
fn pair() -> (Stream, Stream, [Endpoint; 2]) {
    let seen = Seen::default();
    let server = endpoint_with(&seen, small_buffers());
    let client = endpoint_with(&seen, small_buffers());
    let listener = server.listen(udp_addr(&server).port(), 1).expect("listen");
    let c = client.connect(udp_addr(&server), WAIT).expect("connect");
    let (s, peer) = listener.accept_timeout(WAIT).expect("accept");
    assert_eq!(c.local_addr().expect("local_addr"), peer);
    assert_eq!(c.peer_addr().expect("peer_addr"), s.local_addr().unwrap());
    (c, s, [server, client])
}

/// Runs `f`, which must fail with `kind`, and returns how long it took.
fn fails_after(kind: ErrorKind, f: impl FnOnce() -> std::io::Result<()>) -> Duration {
    let start = Instant::now();
    let err = f().expect_err("the call fails");
    assert_eq!(err.kind(), kind, "{err}");
    start.elapsed()
}

#[test]
fn a_zero_timeout_is_refused_and_none_is_forever() {
    let (c, _s, _eps) = pair();
    assert_eq!(c.read_timeout().unwrap(), None);
    assert_eq!(c.write_timeout().unwrap(), None);
    type Setter = fn(&Stream, Option<Duration>) -> std::io::Result<()>;
    let setters: [Setter; 2] = [Stream::set_read_timeout, Stream::set_write_timeout];
    for set in setters {
        let err = set(&c, Some(Duration::ZERO)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    }
    c.set_read_timeout(Some(SHORT)).unwrap();
    c.set_write_timeout(Some(WAIT)).unwrap();
    assert_eq!(c.read_timeout().unwrap(), Some(SHORT));
    assert_eq!(c.write_timeout().unwrap(), Some(WAIT));
    c.set_read_timeout(None).unwrap();
    assert_eq!(c.read_timeout().unwrap(), None);
}

#[test]
fn a_read_with_nothing_to_read_would_block_after_its_timeout() {
    let (c, s, _eps) = pair();
    c.set_read_timeout(Some(SHORT)).unwrap();
    let took = fails_after(ErrorKind::WouldBlock, || {
        (&c).read(&mut [0; 8]).map(|n| panic!("read {n} bytes"))
    });
    assert!(took >= SHORT && took < WAIT, "{took:?}");
    // The stream is still good: data that comes is read.
    (&s).write_all(b"late").unwrap();
    let mut got = [0; 4];
    (&c).read_exact(&mut got).unwrap();
    assert_eq!(&got, b"late");
}

#[test]
fn a_write_and_a_flush_would_block_while_the_peer_does_not_read() {
    let (c, s, _eps) = pair();
    c.set_write_timeout(Some(SHORT)).unwrap();
    // The peer's receive buffer and our send buffer fill; then the write
    // waits its timeout out.
    let chunk = vec![7u8; 4 << 10];
    let mut written = 0;
    let took = fails_after(ErrorKind::WouldBlock, || {
        loop {
            written += (&c).write(&chunk)?;
            assert!(written < 1 << 20, "the buffers hold {written} bytes");
        }
    });
    assert!(took < WAIT, "{took:?}");
    assert!(written >= 16 << 10, "only {written} bytes before blocking");
    // What was written is not acknowledged yet: flush waits, then fails.
    let took = fails_after(ErrorKind::WouldBlock, || (&c).flush());
    assert!(took >= SHORT && took < WAIT, "{took:?}");
    // Once the peer reads, everything gets through and flush returns.
    s.set_read_timeout(Some(WAIT)).unwrap();
    let reader = std::thread::spawn(move || {
        let mut got = vec![0u8; written];
        (&s).read_exact(&mut got).expect("the peer reads");
        s
    });
    c.set_write_timeout(Some(WAIT)).unwrap();
    (&c).flush().expect("flush once the peer reads");
    drop(reader.join().unwrap());
}

#[test]
fn ipv6_addresses_are_refused() {
    let err = Endpoint::bind("[::1]:0").expect_err("IPv6 refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    let (c, _s, [_, client]) = pair();
    let err = client.connect("[::1]:7000", SHORT).expect_err("refused");
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
    drop(c);
}
