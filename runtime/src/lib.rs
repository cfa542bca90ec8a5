//! A TCP whose every state change is decided by the state machine generated
//! from `tcp.fsm`, carried as IPv4 packets in UDP datagrams.
//!
//! Applications use [`Endpoint`] (one UDP socket, many connections), with
//! [`Listener`] and [`Stream`] shaped like `std::net`'s `TcpListener` and
//! `TcpStream`; [`Endpoint`]'s documentation has an example to start from.
//! With the feature `tokio`, the module `asynch` has the same for tokio:
//! `AsyncEndpoint`, `AsyncListener` and `AsyncStream` (`AsyncRead` and
//! `AsyncWrite`), on the same sans-IO host.
//! Under them is a sans-IO layer, public for simulations and tests that
//! bring their own clock and network: [`host::Host`] (many connections on
//! one address), [`conn::Connection`] (one TCB), [`wire`] (the packet
//! formats), [`vocab`] (what a spec compiles to) and [`trace`].
#![warn(missing_docs)]
#![deny(unsafe_code)]

#[cfg(feature = "tokio")]
pub mod asynch;
mod buffer;
pub mod cc;
pub mod config;
pub mod conn;
mod driver;
pub mod endpoint;
pub mod fault;
pub mod fingerprint;
pub mod host;
pub mod isn;
#[cfg(feature = "load")]
pub mod loaded;
pub mod pcap;
pub mod recovery;
mod rtt;
pub mod side;
pub mod trace;
pub mod trace_json;
mod udp;
pub mod vocab;
pub mod watch;
pub mod wire;

// `machine!` names the vocabulary `::fsm_runtime::vocab`, here too.
extern crate self as fsm_runtime;

#[cfg(feature = "tokio")]
pub use asynch::{AsyncEndpoint, AsyncListener, AsyncStream};
pub use config::Config;
pub use endpoint::{Endpoint, Listener, Memory, Options, Stream};

/// The TCP machine generated from `tcp.fsm`, bound to this runtime.
pub mod tcp {
    crate::machine!("../tcp.fsm");
}

#[doc(hidden)]
pub mod __private {
    pub use fsm_macros::fsm;
}

/// Support for the tests of this crate and of crates built on it; not part
/// of the API.
#[doc(hidden)]
pub mod testing {
    /// Whether the tests run in CI: the environment variable `CI` is
    /// `true`, as CI services set it (and `.ci/run` does).
    pub fn in_ci() -> bool {
        std::env::var("CI").is_ok_and(|v| v == "true")
    }

    /// For a test that cannot run here because `why` (what is missing):
    /// prints `skipped: WHY`, and the caller returns, so the test passes.
    /// In CI nothing may be skipped: panics saying what is missing instead.
    #[track_caller]
    pub fn skip(why: &str) {
        if in_ci() {
            panic!(
                "{why}: with CI=true no test may be skipped, so CI must install what is \
                 missing (`.ci/run` installs graphviz, tshark and iproute2, and runs as root)"
            );
        }
        println!("skipped: {why}");
    }

    /// Reads a capture back with tshark, if it is installed: `Ok(None)`
    /// when it is not, `Ok(Some(n))` when all `n` packets decode as TCP
    /// over IPv4 with good checksums, else an error naming the first that
    /// does not.
    pub fn check_with_tshark(path: &std::path::Path) -> Result<Option<usize>, String> {
        crate::pcap::check_with_tshark(path)
    }

    /// A bug planted in `conn.rs`, for the tests that must find it (the
    /// explorer's: `lab/tests/planted.rs`). Off unless a test turns one on,
    /// for the whole process: such a test runs alone in its binary.
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    #[repr(u8)]
    pub enum Plant {
        /// None: the runtime as it is.
        Nothing = 0,
        /// The peer's FIN, taken in, counts as two sequence numbers.
        FinCountedTwice = 1,
        /// Segments that carry data acknowledge one byte more than arrived.
        AckOneTooFar = 2,
    }

    static PLANTED: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

    /// Plants `plant` (or, with [`Plant::Nothing`], takes it out).
    pub fn plant(plant: Plant) {
        PLANTED.store(plant as u8, std::sync::atomic::Ordering::Relaxed);
    }

    /// Whether `plant` is planted.
    #[inline]
    pub(crate) fn planted(plant: Plant) -> bool {
        PLANTED.load(std::sync::atomic::Ordering::Relaxed) == plant as u8
    }
}
