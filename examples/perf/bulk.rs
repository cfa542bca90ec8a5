//! Section 3: one-way bulk transfer over loopback, a fixed amount of data
//! with a time limit, several ways in the same run:
//!
//! - (a) raw UDP: one thread sends 1500-byte datagrams (1460 bytes of
//!   payload + 40 of headers, as our segments are) to one that counts, one
//!   system call per datagram; (a') the same batched as the runtime batches
//!   (UDP GSO out, `recvmmsg` with GRO in): the ceiling for (b);
//! - (b) our runtime: one connection, client to server; (b') with 1 MiB
//!   buffers;
//! - (c) smoltcp to smoltcp over the same IPv4-in-UDP encapsulation
//!   (perf/smol.rs), 1 MiB buffers; (c') with 256 KiB buffers (ours' default);
//! - (d) the kernel's TCP over loopback; (d') with the MSS clamped to 1460.
//!
//! The rounds alternate the transports, so each round's ratios are measured
//! side by side; the table gives the medians.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use fsm_runtime::{Config, Endpoint, Options};

use crate::Plan;
use crate::table::{Table, median, num, spread};

/// Payload per segment (our MSS) and per raw datagram.
pub const MSS: usize = 1460;
/// An IPv4 header and a TCP header without options.
pub const HEADERS: usize = 40;

/// What one transfer did.
#[derive(Clone, Debug, Default)]
pub struct Xfer {
    /// Bytes the receiving application got.
    pub bytes: u64,
    /// From the first byte sent to the last byte received.
    pub secs: f64,
    /// Segments (datagrams) carrying data, sender to receiver.
    pub segs: u64,
    /// Segments the receiver sent back (ACKs), if known.
    pub acks: Option<u64>,
    /// Datagrams sent (raw UDP), to tell losses.
    pub sent: Option<u64>,
    /// The transfer stopped at its time limit or on an error.
    pub incomplete: Option<String>,
}

impl Xfer {
    pub fn mb_s(&self) -> f64 {
        self.bytes as f64 / self.secs / 1e6
    }
    pub fn segs_s(&self) -> f64 {
        self.segs as f64 / self.secs
    }
}

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// A byte pattern to send.
pub fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 7 + i / 251) as u8).collect()
}

/// (a) Raw UDP: `bytes` of payload in 1500-byte datagrams, as fast as one
/// thread sends them; what the receiver got.
pub fn raw_udp(bytes: usize, limit: Duration) -> std::io::Result<Xfer> {
    let rx = UdpSocket::bind(localhost())?;
    let tx = UdpSocket::bind(localhost())?;
    for s in [&rx, &tx] {
        // The same kernel buffers our endpoints ask for.
        let s = socket2::SockRef::from(s);
        s.set_recv_buffer_size(4 << 20)?;
        s.set_send_buffer_size(4 << 20)?;
    }
    rx.set_read_timeout(Some(Duration::from_millis(20)))?;
    let to = rx.local_addr()?;
    let count = bytes.div_ceil(MSS) as u64;
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let receiver = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 65_536];
            let (mut n, mut last) = (0u64, start);
            while n < count && start.elapsed() < limit + Duration::from_secs(1) {
                match rx.recv_from(&mut buf) {
                    Ok(_) => {
                        n += 1;
                        last = Instant::now();
                    }
                    Err(_)
                        if done.load(Ordering::SeqCst)
                            && last.elapsed() > Duration::from_millis(200) =>
                    {
                        break;
                    }
                    Err(_) => {}
                }
            }
            (n, last)
        })
    };
    let datagram = vec![0x5au8; MSS + HEADERS];
    let mut sent = 0u64;
    while sent < count {
        if sent.is_multiple_of(1024) && start.elapsed() > limit {
            break;
        }
        if tx.send_to(&datagram, to).is_ok() {
            sent += 1;
        }
    }
    done.store(true, Ordering::SeqCst);
    let (n, last) = receiver
        .join()
        .map_err(|_| std::io::Error::other("receiver panicked"))?;
    Ok(Xfer {
        bytes: n * MSS as u64,
        secs: (last - start).as_secs_f64(),
        segs: n,
        acks: None,
        sent: Some(sent),
        incomplete: (sent < count).then(|| "time limit".into()),
    })
}

/// Waits until `fd` is readable, at most `timeout` (whole milliseconds).
pub fn wait_readable(fd: &impl std::os::fd::AsRawFd, timeout: Duration) {
    let mut fds = libc::pollfd {
        fd: fd.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = timeout.as_millis().min(1000) as libc::c_int;
    // SAFETY: one valid pollfd for the duration of the call.
    #[allow(unsafe_code)]
    unsafe {
        libc::poll(&mut fds, 1, ms);
    }
}

/// (a') Raw UDP batched as the runtime batches (runtime/src/udp.rs, by
/// the same library, quinn-udp): the sender hands the kernel runs of up to
/// 43 datagrams (65,000 bytes) in one `sendmsg` with UDP GSO; the receiver
/// takes `recvmmsg` batches with UDP GRO.
pub fn raw_udp_batched(bytes: usize, limit: Duration) -> std::io::Result<Xfer> {
    use quinn_udp::{RecvMeta, Transmit, UdpSockRef, UdpSocketState};
    use std::io::IoSliceMut;
    let rx = UdpSocket::bind(localhost())?;
    let tx = UdpSocket::bind(localhost())?;
    for s in [&rx, &tx] {
        let s = socket2::SockRef::from(s);
        s.set_recv_buffer_size(4 << 20)?;
        s.set_send_buffer_size(4 << 20)?;
    }
    rx.set_nonblocking(true)?;
    let rx_state = UdpSocketState::new(UdpSockRef::from(&rx))?;
    let tx_state = UdpSocketState::new(UdpSockRef::from(&tx))?;
    let to = rx.local_addr()?;
    let count = bytes.div_ceil(MSS) as u64;
    let datagram = MSS + HEADERS;
    let per_run = tx_state.max_gso_segments().clamp(1, 65_000 / datagram);
    let done = Arc::new(AtomicBool::new(false));
    let start = Instant::now();
    let receiver = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut bufs = vec![vec![0u8; 65_536]; quinn_udp::BATCH_SIZE];
            let mut meta = vec![RecvMeta::default(); quinn_udp::BATCH_SIZE];
            let (mut n, mut last) = (0u64, start);
            while n < count && start.elapsed() < limit + Duration::from_secs(1) {
                let mut slices: Vec<IoSliceMut<'_>> =
                    bufs.iter_mut().map(|b| IoSliceMut::new(b)).collect();
                match rx_state.recv(UdpSockRef::from(&rx), &mut slices, &mut meta) {
                    Ok(k) => {
                        for m in &meta[..k] {
                            let stride = if m.stride == 0 {
                                m.len.max(1)
                            } else {
                                m.stride
                            };
                            n += m.len.div_ceil(stride) as u64;
                        }
                        last = Instant::now();
                    }
                    Err(_)
                        if done.load(Ordering::SeqCst)
                            && last.elapsed() > Duration::from_millis(200) =>
                    {
                        break;
                    }
                    Err(_) => wait_readable(&rx, Duration::from_millis(20)),
                }
            }
            (n, last)
        })
    };
    let run = vec![0x5au8; datagram * per_run];
    let mut sent = 0u64;
    while sent < count {
        if start.elapsed() > limit {
            break;
        }
        let k = (count - sent).min(per_run as u64) as usize;
        let t = Transmit {
            destination: to,
            ecn: None,
            contents: &run[..k * datagram],
            segment_size: (k > 1).then_some(datagram),
            src_ip: None,
        };
        if tx_state.try_send(UdpSockRef::from(&tx), &t).is_ok() {
            sent += k as u64;
        }
    }
    done.store(true, Ordering::SeqCst);
    let (n, last) = receiver
        .join()
        .map_err(|_| std::io::Error::other("receiver panicked"))?;
    Ok(Xfer {
        bytes: n * MSS as u64,
        secs: (last - start).as_secs_f64(),
        segs: n,
        acks: None,
        sent: Some(sent),
        incomplete: (sent < count).then(|| "time limit".into()),
    })
}

/// The config of our endpoints for bulk: loopback timers; receive and
/// send buffers of `buffer` bytes (`None`: the defaults).
pub fn bulk_config(buffer: Option<usize>) -> Config {
    let mut c = Config::loopback(Duration::from_millis(10));
    if let Some(b) = buffer {
        c.recv_buffer = b;
        c.send_buffer = b;
    }
    c
}

/// (b) Our runtime: one connection, client to server, `bytes` bytes.
pub fn ours(bytes: usize, limit: Duration, buffer: Option<usize>) -> std::io::Result<Xfer> {
    ours_with(bytes, limit, &|| Options::with_config(bulk_config(buffer)))
}

/// (b) with both endpoints made with `options` (fault injection, say).
pub fn ours_with(
    bytes: usize,
    limit: Duration,
    options: &dyn Fn() -> Options,
) -> std::io::Result<Xfer> {
    let server = Endpoint::bind_with(localhost(), options())?;
    let client = Endpoint::bind_with(localhost(), options())?;
    let listener = server.listen(server.local_addr()?.port(), 1)?;
    let c = client.connect(server.local_addr()?, Duration::from_secs(5))?;
    let (mut s, _) = listener.accept_timeout(Duration::from_secs(5))?;
    let (c0, s0) = (client.counters(), server.counters());
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = vec![0u8; 256 << 10];
        let (mut got, mut last, mut err) = (0u64, Instant::now(), None);
        loop {
            match s.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    got += n as u64;
                    last = Instant::now();
                }
                Err(e) => {
                    err = Some(e.to_string());
                    break;
                }
            }
            if start.elapsed() > limit + Duration::from_secs(2) {
                err = Some("time limit".into());
                break;
            }
        }
        (got, last, err, s)
    });
    let data = pattern(64 << 10);
    let mut sent = 0usize;
    let mut incomplete = None;
    while sent < bytes {
        if start.elapsed() > limit {
            incomplete = Some("time limit".to_owned());
            break;
        }
        let n = (bytes - sent).min(data.len());
        if let Err(e) = (&c).write_all(&data[..n]) {
            incomplete = Some(e.to_string());
            break;
        }
        sent += n;
    }
    let _ = c.shutdown(Shutdown::Write);
    let (got, last, err, s) = reader
        .join()
        .map_err(|_| std::io::Error::other("reader panicked"))?;
    let (c1, s1) = (client.counters(), server.counters());
    drop((c, s, listener));
    Ok(Xfer {
        bytes: got,
        secs: (last - start).as_secs_f64(),
        segs: c1.datagrams_out - c0.datagrams_out,
        acks: Some(s1.datagrams_out - s0.datagrams_out),
        sent: None,
        incomplete: incomplete
            .or(err)
            .or_else(|| (got < bytes as u64).then(|| "short".into())),
    })
}

/// The kernel's count of segments a TCP socket sent: (all, with data).
fn segs_out(s: &TcpStream) -> Option<(u64, u64)> {
    use std::os::fd::AsRawFd;
    // SAFETY: TCP_INFO fills at most `len` bytes of a `tcp_info`, which
    // is plain data; the fd is a live TCP socket.
    #[allow(unsafe_code)]
    unsafe {
        let mut info: libc::tcp_info = std::mem::zeroed();
        let mut len = std::mem::size_of::<libc::tcp_info>() as libc::socklen_t;
        let r = libc::getsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            (&raw mut info).cast(),
            &mut len,
        );
        (r == 0).then_some((
            u64::from(info.tcpi_segs_out),
            u64::from(info.tcpi_data_segs_out),
        ))
    }
}

/// (d) The kernel's TCP over loopback; `mss` clamps the segment size.
pub fn kernel(bytes: usize, limit: Duration, mss: Option<u32>) -> std::io::Result<Xfer> {
    use socket2::{Domain, Socket, Type};
    let l = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(m) = mss {
        l.set_tcp_mss(m)?;
    }
    l.bind(&SocketAddr::V4(localhost()).into())?;
    l.listen(16)?;
    let listener: TcpListener = l.into();
    let addr = listener.local_addr()?;
    let c = Socket::new(Domain::IPV4, Type::STREAM, None)?;
    if let Some(m) = mss {
        c.set_tcp_mss(m)?;
    }
    c.connect(&addr.into())?;
    let mut c: TcpStream = c.into();
    let (s, _) = listener.accept()?;
    let (c_all0, c_data0) = segs_out(&c).unwrap_or_default();
    let (s_all0, _) = segs_out(&s).unwrap_or_default();
    let start = Instant::now();
    let reader = std::thread::spawn(move || {
        let mut s = s;
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        let mut buf = vec![0u8; 256 << 10];
        let (mut got, mut last) = (0u64, Instant::now());
        while let Ok(n) = s.read(&mut buf) {
            if n == 0 {
                break;
            }
            got += n as u64;
            last = Instant::now();
        }
        (got, last, s)
    });
    let data = pattern(64 << 10);
    let mut sent = 0usize;
    let mut incomplete = None;
    while sent < bytes {
        if start.elapsed() > limit {
            incomplete = Some("time limit".to_owned());
            break;
        }
        let n = (bytes - sent).min(data.len());
        if let Err(e) = c.write_all(&data[..n]) {
            incomplete = Some(e.to_string());
            break;
        }
        sent += n;
    }
    let _ = c.shutdown(Shutdown::Write);
    let (got, last, s) = reader
        .join()
        .map_err(|_| std::io::Error::other("reader panicked"))?;
    let (_, c_data1) = segs_out(&c).unwrap_or_default();
    let (s_all1, _) = segs_out(&s).unwrap_or_default();
    let _ = c_all0;
    Ok(Xfer {
        bytes: got,
        secs: (last - start).as_secs_f64(),
        segs: c_data1 - c_data0,
        acks: Some(s_all1 - s_all0),
        sent: None,
        incomplete,
    })
}

/// One transport of the comparison.
struct Transport {
    key: &'static str,
    what: String,
    note: String,
    run: Box<dyn Fn() -> std::io::Result<Xfer>>,
    results: Vec<Xfer>,
}

pub fn run(plan: &Plan, table: &mut Table) -> Result<(), Box<dyn std::error::Error>> {
    let bytes = plan.bulk_bytes;
    let limit = plan.bulk_limit;
    let big = 1 << 20;
    let default_buf = Config::default().recv_buffer;
    let mut ts: Vec<Transport> = vec![
        Transport {
            key: "a",
            what: "(a) raw UDP, 1500-byte datagrams, 1 sender → 1 receiver thread".into(),
            note: "one `send_to` / `recv_from` per datagram, as the runtime did before batching; what the receiver got".into(),
            run: Box::new(move || raw_udp(bytes, limit)),
            results: vec![],
        },
        Transport {
            key: "a'",
            what: "(a') raw UDP batched like the runtime: GSO runs out, recvmmsg + GRO in".into(),
            note: "the ceiling for the batched runtime; quinn-udp, as runtime/src/udp.rs uses it".into(),
            run: Box::new(move || raw_udp_batched(bytes, limit)),
            results: vec![],
        },
        Transport {
            key: "b",
            what: format!(
                "(b) ours, 1 connection, default buffers ({} KiB)",
                default_buf >> 10
            ),
            note: "goodput (bytes the server read); `Config::loopback` timers".into(),
            run: Box::new(move || ours(bytes, limit, None)),
            results: vec![],
        },
        Transport {
            key: "b'",
            what: format!("(b') ours, buffers {} KiB", big >> 10),
            note: "same, buffers as smoltcp's in (c)".into(),
            run: Box::new(move || ours(bytes, limit, Some(big))),
            results: vec![],
        },
        Transport {
            key: "c",
            what: format!(
                "(c) smoltcp ↔ smoltcp, same encapsulation, buffers {} KiB",
                big >> 10
            ),
            note: "a thread per side polling as fast as it can; window scaling".into(),
            run: Box::new(move || crate::smol::transfer(bytes, limit, big)),
            results: vec![],
        },
        Transport {
            key: "c'",
            what: format!("(c') smoltcp ↔ smoltcp, buffers {} KiB", default_buf >> 10),
            note: "same, buffers as ours in (b)".into(),
            run: Box::new(move || crate::smol::transfer(bytes, limit, default_buf)),
            results: vec![],
        },
        Transport {
            key: "d",
            what: "(d) kernel TCP over loopback (std::net)".into(),
            note: "reference; loopback MTU 65536, so 64 KiB segments".into(),
            run: Box::new(move || kernel(bytes, limit, None)),
            results: vec![],
        },
        Transport {
            key: "d'",
            what: "(d') kernel TCP, MSS clamped to 1460".into(),
            note: "TCP_MAXSEG 1460 (GSO still batches on loopback)".into(),
            run: Box::new(move || kernel(bytes, limit, Some(1460))),
            results: vec![],
        },
    ];
    if !plan.transports.is_empty() {
        ts.retain(|t| plan.transports.iter().any(|k| k == t.key));
    }
    for round in 0..plan.rounds {
        for t in ts.iter_mut() {
            match (t.run)() {
                Ok(x) => {
                    eprintln!(
                        "  round {} {}: {} MB/s, {} segments/s{}",
                        round + 1,
                        t.key,
                        num(x.mb_s()),
                        num(x.segs_s()),
                        x.incomplete
                            .as_deref()
                            .map(|i| format!(" ({i})"))
                            .unwrap_or_default()
                    );
                    t.results.push(x);
                }
                Err(e) => eprintln!("  round {} {}: failed: {e}", round + 1, t.key),
            }
            // Let TIME_WAIT and the I/O threads of the last run finish.
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    let mb = |t: &Transport| t.results.iter().map(Xfer::mb_s).collect::<Vec<_>>();
    let get = |k: &str| ts.iter().find(|t| t.key == k);
    // Per-round ratios, then their median.
    let per_round = |a: &str, b: &str| -> Vec<f64> {
        match (get(a), get(b)) {
            (Some(x), Some(y)) => x
                .results
                .iter()
                .zip(&y.results)
                .map(|(p, q)| p.mb_s() / q.mb_s())
                .collect(),
            _ => vec![],
        }
    };
    for t in &ts {
        if t.results.is_empty() {
            table.row("3 bulk", &t.what, "failed", "MB/s", 0, "", &t.note);
            continue;
        }
        let m = median(&mb(t));
        let segs = median(&t.results.iter().map(Xfer::segs_s).collect::<Vec<_>>());
        let mut note = format!("{}; {} data segments/s", t.note, num(segs));
        if let Some(acks) = t
            .results
            .iter()
            .map(|x| x.acks.map(|a| a as f64 / x.secs))
            .collect::<Option<Vec<_>>>()
        {
            note.push_str(&format!(", {} ACKs/s", num(median(&acks))));
        }
        if t.key.starts_with('a') {
            let loss: Vec<f64> = t
                .results
                .iter()
                .filter_map(|x| x.sent.map(|s| 100.0 * (1.0 - x.segs as f64 / s as f64)))
                .collect();
            note.push_str(&format!(", {} % of datagrams lost", num(median(&loss))));
        }
        let bad: Vec<&str> = t
            .results
            .iter()
            .filter_map(|x| x.incomplete.as_deref())
            .collect();
        if !bad.is_empty() {
            note.push_str(&format!("; INCOMPLETE: {}", bad.join(", ")));
        }
        let sp = spread(&mb(t));
        if !sp.is_empty() {
            note.push_str(&format!("; {sp} MB/s"));
        }
        let r = match t.key {
            "a" => "1× (base)".to_owned(),
            k => {
                let r = per_round(k, "a");
                if r.is_empty() {
                    String::new()
                } else {
                    format!("{}× of (a)", num(median(&r)))
                }
            }
        };
        table.row(
            "3 bulk",
            &t.what,
            &num(m),
            "MB/s",
            t.results.len(),
            &r,
            &note,
        );
    }
    for (a, b, what) in [
        ("b", "a", "ratio (b)/(a): ours / raw UDP"),
        (
            "b",
            "a'",
            "ratio (b)/(a'): ours / raw UDP batched the same way",
        ),
        (
            "b",
            "c",
            "ratio (b)/(c): ours / smoltcp, each with its buffers",
        ),
        (
            "b'",
            "c",
            "ratio (b')/(c): ours / smoltcp, both 1 MiB buffers",
        ),
        (
            "b",
            "c'",
            "ratio (b)/(c'): ours / smoltcp, both 256 KiB buffers",
        ),
        ("b", "d", "ratio (b)/(d): ours / kernel TCP"),
    ] {
        let r = per_round(a, b);
        if !r.is_empty() {
            let sp = spread(&r);
            table.row(
                "3 bulk",
                what,
                &num(median(&r)),
                "×",
                r.len(),
                "",
                &format!("median of per-round ratios; {sp}"),
            );
        }
    }
    Ok(())
}
