//! The TUN device wrapper, shared with the lab's conformance tester.
pub use fsm_lab::netns::tun::*;
