//! A TCP whose every state change is decided by the state machine generated
//! from `tcp.fsm`, carried as IPv4 packets in UDP datagrams.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod buffer;
pub mod cc;
pub mod config;
pub mod conn;
pub mod endpoint;
pub mod fault;
pub mod host;
pub mod isn;
#[cfg(feature = "load")]
pub mod loaded;
pub mod pcap;
pub mod rtt;
pub mod trace;
pub mod udp;
pub mod vocab;
pub mod wire;

// `machine!` names the vocabulary `::fsm_runtime::vocab`, here too.
extern crate self as fsm_runtime;

pub use config::Config;
pub use endpoint::{Endpoint, Listener, Options, Stream};

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
}
