//! The lab: specs of the runtime's vocabulary put side by side under
//! simulated networks.
//!
//! - [`sim`]: a deterministic simulation of two sans-IO hosts in virtual
//!   time, with a seeded fault model, under any [`Machine`] value; every
//!   event and what reaches the applications held against the spec.
//! - [`oracle`]: holds every recorded event against the spec, read afresh
//!   by the generator library.
//! - [`compare`]: runs several specs over the same seeds and network and
//!   tabulates what they did (`fsm-lab compare`).
//! - [`bottleneck`]: bulk flows through a rate-limited link with a
//!   drop-tail queue, in virtual time: what the congestion machine does
//!   with it (`cargo run --release -p fsm-lab --example bottleneck`).
//! - [`plot`]: small SVG line charts, for the bottleneck's figures.
//! - [`conformance`]: the spec's tour played over the wire against an
//!   implementation (the runtime, smoltcp, Linux), pair by pair, and the
//!   matrix of verdicts (CONFORMANCE.md).
//! - [`netns`]: network namespaces and TUN devices, for the Linux column
//!   and the runtime's Linux interop tests.
//! - [`replay`]: holds a packet capture against a spec, connection by
//!   connection, as seen from one side (`fsm-lab replay`).
//! - [`explore`]: every interleaving of two hosts over a lossy,
//!   duplicating, reordering network, held to the properties, with the
//!   shortest counterexamples (`fsm-lab explore`).
//! - [`trace_json`]: every event as a JSON line (`--trace-json`).
//!
//! The runtime's own simulation tests (`runtime/tests/simulation.rs`,
//! `variants.rs`, `mutants.rs`) use [`sim`] and [`oracle`] from here.
//!
//! [`Machine`]: fsm_runtime::vocab::Machine
#![deny(unsafe_code)]
#![warn(missing_docs)]

pub mod bottleneck;
pub mod compare;
pub mod conformance;
pub mod explore;
pub mod netns;
pub mod oracle;
pub mod plot;
pub mod race;
pub mod replay;
pub mod sim;
/// Every event as a JSON line: the runtime's, re-exported.
pub use fsm_runtime::trace_json;
