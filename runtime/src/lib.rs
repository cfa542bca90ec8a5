//! A TCP whose every state change is decided by the state machine generated
//! from `tcp.fsm`, carried as IPv4 packets in UDP datagrams.
#![warn(missing_docs)]
#![deny(unsafe_code)]

pub mod buffer;
pub mod config;
pub mod conn;
pub mod endpoint;
pub mod fault;
pub mod host;
pub mod isn;
pub mod pcap;
pub mod rtt;
pub mod trace;
pub mod udp;
pub mod vocab;
pub mod wire;

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
