//! The async API against other TCPs: 1 MiB each way, checked by hash,
//! with smoltcp (over loopback UDP, as in `smoltcp.rs`) and with the Linux
//! kernel's TCP (through a TUN device in a network namespace of the test's
//! own, as in `kernel.rs`, whose `kernel_support` says how), opened by
//! either side. The kernel's side is tokio's own `TcpStream`, on the same
//! runtime as ours.
//!
//! The kernel tests need root, `ip` and `/dev/net/tun`; without them they
//! print `skipped: <why>` and pass, except with `CI=true`.

mod async_common;
mod common;
mod kernel_support;
mod smoltcp_support;

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_common::{exchange, finish};
use common::{hash, pattern};
use fsm_runtime::{AsyncEndpoint, AsyncStream, Config, Options};
use kernel_support::{KERNEL_IP, Lab, OUR_IP, in_namespace, kernel_view};
use smoltcp::socket::tcp::State as SmolState;
use smoltcp_support::SmolPeer;
use tokio::time::timeout;

const MIB: usize = 1 << 20;

/// Bound of every wait in a transfer.
const LIMIT: Duration = Duration::from_secs(30);

/// Bound of every wait for an open or a close.
const SHORT: Duration = Duration::from_secs(5);

/// smoltcp's polling thread stops by itself after this.
const LIFETIME: Duration = Duration::from_secs(40);

/// smoltcp's TCP buffers.
const SMOL_BUFFER: usize = 256 * 1024;

/// How long the kernel may take to let go of a connection after ours is
/// CLOSED.
const KERNEL_SETTLE: Duration = Duration::from_secs(10);

fn localhost() -> SocketAddrV4 {
    SocketAddrV4::new(Ipv4Addr::LOCALHOST, 0)
}

/// Which side opens.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Opener {
    Ours,
    Theirs,
}

/// The states our connection went through, for messages.
fn path(stream: &AsyncStream) -> String {
    common::path(&stream.trace())
}

// ---- smoltcp ------------------------------------------------------------------

/// 1 MiB each way between our async endpoint and smoltcp, opened by
/// `opener`; `ours_close_first` says whose FIN goes first. Both end
/// closed, ours through TIME_WAIT exactly when it closed first.
async fn smoltcp_transfer(opener: Opener, ours_close_first: bool, seed: u64) {
    let config = Config::loopback(Duration::from_millis(50));
    let ep = AsyncEndpoint::bind_with(localhost(), Options::with_config(config))
        .await
        .expect("bind");
    let SocketAddr::V4(udp) = ep.local_addr().expect("local_addr") else {
        unreachable!("IPv4")
    };
    let smol = Arc::new(SmolPeer::new(udp, SMOL_BUFFER, seed, LIFETIME));
    let stream = match opener {
        Opener::Ours => {
            smol.listen();
            timeout(SHORT, ep.connect(smol.addr()))
                .await
                .expect("connect in time")
                .expect("our connect to smoltcp")
        }
        Opener::Theirs => {
            let listener = ep.listen(udp.port(), 1).expect("listen");
            smol.connect(SocketAddrV4::new(ep.inner_addr(), udp.port()));
            timeout(SHORT, listener.accept())
                .await
                .expect("accept in time")
                .expect("accept smoltcp's connection")
                .0
        }
    };
    let to_smol = pattern(MIB, seed);
    let to_ours = pattern(MIB, seed ^ 0xffff);
    let smol_side = {
        let (smol, out) = (smol.clone(), to_ours.clone());
        tokio::task::spawn_blocking(move || {
            let st = smol.wait_state(SHORT, |s| s == SmolState::Established);
            if st != SmolState::Established {
                return Err(format!("smoltcp's end did not open: {st}"));
            }
            smol.exchange(LIMIT, &out, !ours_close_first)
        })
    };
    let (our_got, stream) = exchange(stream, &to_smol, ours_close_first, LIMIT)
        .await
        .unwrap_or_else(|e| panic!("our side: {e}\n{}", smol.log()));
    let smol_got = timeout(LIMIT, smol_side)
        .await
        .expect("smoltcp's side ends in time")
        .expect("smoltcp's side")
        .unwrap_or_else(|e| panic!("{e}; ours {}\n{}", path(&stream), smol.log()));
    assert_eq!(
        (our_got.len(), hash(&our_got)),
        (MIB, hash(&to_ours)),
        "we received smoltcp's bytes\n{}",
        smol.log()
    );
    assert_eq!(
        (smol_got.len(), hash(&smol_got)),
        (MIB, hash(&to_smol)),
        "smoltcp received our bytes\n{}",
        smol.log()
    );
    let (end, waited) = finish(&stream, SHORT)
        .await
        .unwrap_or_else(|e| panic!("{e}: ours {}\n{}", path(&stream), smol.log()));
    assert_eq!(end, "CLOSED", "ours: {}", path(&stream));
    assert_eq!(waited, ours_close_first, "ours: {}", path(&stream));
    println!("{opener:?} opens: ours {}", path(&stream));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smoltcp_our_async_client_we_close_first() {
    smoltcp_transfer(Opener::Ours, true, 1).await;
}

#[tokio::test(flavor = "current_thread")]
async fn smoltcp_client_our_async_server_smoltcp_closes_first() {
    smoltcp_transfer(Opener::Theirs, false, 2).await;
}

// ---- the kernel -----------------------------------------------------------------

/// Our async endpoint in the lab: inner address [`OUR_IP`], the bridge
/// turned to it.
async fn lab_endpoint(lab: &Lab) -> AsyncEndpoint {
    let mut options = Options::with_config(kernel_support::config());
    options.inner_addr = Some(OUR_IP);
    let ep = AsyncEndpoint::bind_with(localhost(), options)
        .await
        .expect("bind");
    let SocketAddr::V4(udp) = ep.local_addr().expect("local_addr") else {
        unreachable!("IPv4")
    };
    lab.bridge.retarget(udp);
    ep
}

/// 1 MiB each way between our async endpoint and the kernel's TCP (tokio's
/// `TcpStream`), opened by `opener`; `ours_close_first` says whose FIN goes
/// first. Ours ends CLOSED, through TIME_WAIT exactly when it closed first;
/// the kernel's connection ends too (but for its TIME-WAIT when it closed
/// first).
async fn kernel_transfer(lab: &Lab, opener: Opener, ours_close_first: bool, seed: u64) {
    let ep = lab_endpoint(lab).await;
    let to_kernel = pattern(MIB, seed);
    let to_ours = pattern(MIB, seed ^ 0xffff);
    let (ours, kernel) = match opener {
        Opener::Theirs => {
            let port = 7000;
            let listener = ep.listen(port, 4).expect("listen");
            let connect = tokio::net::TcpStream::connect(SocketAddrV4::new(OUR_IP, port));
            let (kernel, ours) =
                tokio::join!(timeout(SHORT, connect), timeout(SHORT, listener.accept()));
            let kernel = kernel
                .expect("the kernel connects in time")
                .expect("the kernel connects");
            (ours.expect("accept in time").expect("accept").0, kernel)
        }
        Opener::Ours => {
            let listener = tokio::net::TcpListener::bind((KERNEL_IP, 0))
                .await
                .expect("the kernel listens");
            let kernel_addr = listener.local_addr().expect("local_addr");
            let bridge = SocketAddr::V4(lab.bridge.addr());
            let (ours, kernel) = tokio::join!(
                timeout(SHORT, ep.connect_via(kernel_addr, bridge)),
                timeout(SHORT, listener.accept())
            );
            let kernel = kernel
                .expect("the kernel accepts in time")
                .expect("the kernel accepts");
            (ours.expect("connect in time").expect("connect"), kernel.0)
        }
    };
    let (SocketAddr::V4(kernel_addr), SocketAddr::V4(our_addr)) =
        (kernel.local_addr().unwrap(), ours.local_addr().unwrap())
    else {
        unreachable!("IPv4")
    };
    let started = Instant::now();
    let (mine, theirs) = tokio::join!(
        exchange(ours, &to_kernel, ours_close_first, LIMIT),
        exchange(kernel, &to_ours, !ours_close_first, LIMIT)
    );
    let (our_got, ours) = mine.expect("our side");
    let (kernel_got, kernel) = theirs.expect("the kernel's side");
    drop(kernel);
    println!("2 MiB moved in {:.2?}", started.elapsed());
    assert_eq!(
        (our_got.len(), hash(&our_got)),
        (MIB, hash(&to_ours)),
        "we received the kernel's bytes"
    );
    assert_eq!(
        (kernel_got.len(), hash(&kernel_got)),
        (MIB, hash(&to_kernel)),
        "the kernel received our bytes"
    );
    let (end, waited) = finish(&ours, LIMIT).await.expect("ours ends");
    assert_eq!(end, "CLOSED", "ours: {}", path(&ours));
    assert_eq!(waited, ours_close_first, "ours: {}", path(&ours));
    let allowed: &[&str] = if ours_close_first {
        &[]
    } else {
        &["TIME-WAIT"]
    };
    let settle = Instant::now() + KERNEL_SETTLE;
    let mut view = kernel_view(kernel_addr, our_addr);
    while view.iter().any(|s| !allowed.contains(s)) && Instant::now() < settle {
        tokio::time::sleep(Duration::from_millis(5)).await;
        view = kernel_view(kernel_addr, our_addr);
    }
    assert!(
        view.iter().all(|s| allowed.contains(s)),
        "the kernel's connection {kernel_addr} <-> {our_addr} has not ended: {view:?}"
    );
    println!(
        "{opener:?} open: ours {}; the kernel's {view:?}",
        path(&ours)
    );
}

/// Runs `f` on a tokio runtime of its own, in the lab.
fn on_runtime(f: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime")
        .block_on(f);
}

#[test]
fn kernel_client_our_async_server_ours_closes_first() {
    in_namespace(
        "kernel_client_our_async_server_ours_closes_first",
        "akc-oc",
        |lab| on_runtime(kernel_transfer(lab, Opener::Theirs, true, 1)),
    );
}

#[test]
fn kernel_client_our_async_server_kernel_closes_first() {
    in_namespace(
        "kernel_client_our_async_server_kernel_closes_first",
        "akc-kc",
        |lab| on_runtime(kernel_transfer(lab, Opener::Theirs, false, 2)),
    );
}

#[test]
fn our_async_client_kernel_server_ours_closes_first() {
    in_namespace(
        "our_async_client_kernel_server_ours_closes_first",
        "aoc-oc",
        |lab| on_runtime(kernel_transfer(lab, Opener::Ours, true, 3)),
    );
}

#[test]
fn our_async_client_kernel_server_kernel_closes_first() {
    in_namespace(
        "our_async_client_kernel_server_kernel_closes_first",
        "aoc-kc",
        |lab| on_runtime(kernel_transfer(lab, Opener::Ours, false, 4)),
    );
}
