//! What the applications do in an exploration: a small script per side.
//!
//! Every scenario runs between a client at 10.0.0.1:1000 and a server at
//! 10.0.0.2:80 (the server listens from the start, except in
//! `simultaneous-open`, where both sides connect at the start). A script
//! is a list of calls, one taken per move of its application whenever it
//! is enabled; see [`Op`] for when each is.

use std::fmt;

/// A scenario: which scripts the two applications run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scenario {
    /// The client connects, writes, half-closes and reads to the end; the
    /// server reads to the end, writes back what it read and closes.
    Echo,
    /// The client connects, writes and reads to the end before it closes;
    /// the server reads the request, writes its answer and closes first.
    ServerClosesFirst,
    /// Both write and close as soon as they can, so that both FINs may
    /// cross (FIN_WAIT_1 to CLOSING).
    SimultaneousClose,
    /// No listener: both connect to each other at the start, so both SYNs
    /// cross (SYN_SENT to SYN_RCVD); then both write, close and read to the
    /// end.
    SimultaneousOpen,
    /// The client connects, writes and aborts; the server writes, closes
    /// and reads to the end, where it must meet the reset.
    Abort,
    /// The echo twice, one connection after the other, between the same
    /// addresses and ports (the client's port is fixed): segments of the
    /// first may still arrive during the second.
    Reuse,
}

impl Scenario {
    /// Every scenario, in the order of the docs.
    pub const ALL: [Scenario; 6] = [
        Scenario::Echo,
        Scenario::ServerClosesFirst,
        Scenario::SimultaneousClose,
        Scenario::SimultaneousOpen,
        Scenario::Abort,
        Scenario::Reuse,
    ];

    /// The name the command line takes: `echo`, `server-closes-first`, …
    pub fn name(self) -> &'static str {
        match self {
            Scenario::Echo => "echo",
            Scenario::ServerClosesFirst => "server-closes-first",
            Scenario::SimultaneousClose => "simultaneous-close",
            Scenario::SimultaneousOpen => "simultaneous-open",
            Scenario::Abort => "abort",
            Scenario::Reuse => "reuse",
        }
    }

    /// The scenario called `name`.
    pub fn named(name: &str) -> Option<Scenario> {
        Scenario::ALL.into_iter().find(|s| s.name() == name)
    }

    /// The two scripts: the client's and the server's.
    pub(crate) fn scripts(self) -> [&'static [Op]; 2] {
        use Op::*;
        match self {
            Scenario::Echo => [
                &[Connect, Write(Data::Own), Close, ReadToEnd, Release],
                &[Accept, ReadToEnd, Write(Data::Echo), Close, Release],
            ],
            Scenario::ServerClosesFirst => [
                &[Connect, Write(Data::Own), ReadToEnd, Close, Release],
                &[
                    Accept,
                    ReadRequest,
                    Write(Data::Own),
                    Close,
                    ReadToEnd,
                    Release,
                ],
            ],
            Scenario::SimultaneousClose => [
                &[Connect, Write(Data::Own), Close, ReadToEnd, Release],
                &[Accept, Write(Data::Own), Close, ReadToEnd, Release],
            ],
            Scenario::SimultaneousOpen => [
                &[Write(Data::Own), Close, ReadToEnd, Release],
                &[Write(Data::Own), Close, ReadToEnd, Release],
            ],
            Scenario::Abort => [
                &[Connect, Write(Data::Own), Abort, Release],
                &[Accept, Write(Data::Own), Close, ReadToEnd, Release],
            ],
            Scenario::Reuse => [
                &[
                    Connect,
                    Write(Data::Own),
                    Close,
                    ReadToEnd,
                    Release,
                    Connect,
                    Write(Data::Own),
                    Close,
                    ReadToEnd,
                    Release,
                ],
                &[
                    Accept,
                    ReadToEnd,
                    Write(Data::Echo),
                    Close,
                    Release,
                    Accept,
                    ReadToEnd,
                    Write(Data::Echo),
                    Close,
                    Release,
                ],
            ],
        }
    }

    /// Whether the server listens (else both sides connect at the start).
    pub(crate) fn listens(self) -> bool {
        self != Scenario::SimultaneousOpen
    }

    /// What `side` must have seen at the end of each of its connections
    /// for the run to be the desired one.
    pub(crate) fn expect(self, side: usize) -> End {
        match (self, side) {
            (Scenario::Abort, 0) => End::Aborted,
            (Scenario::Abort, _) => End::Reset,
            _ => End::Eof,
        }
    }

    /// What `side`'s peer writes on connection `k` (from 1): what `side`
    /// must read a prefix of. The client writes its own bytes; the server
    /// its own or, in the echoes, what it read.
    pub(crate) fn peer_writes(self, side: usize, k: u8, bytes: usize) -> Vec<u8> {
        let echoes = matches!(self, Scenario::Echo | Scenario::Reuse);
        let writer = if side == 1 || echoes { 0 } else { 1 };
        own_data(writer, k, bytes)
    }
}

impl fmt::Display for Scenario {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// The bytes `side` writes of its own on its connection `k` (from 1):
/// letters that name the side and the connection, so that a byte read on
/// the wrong connection shows.
pub(crate) fn own_data(side: usize, k: u8, bytes: usize) -> Vec<u8> {
    let base = match (side, k) {
        (0, 1) => b'a',
        (0, _) => b'A',
        (_, 1) => b'p',
        (_, _) => b'P',
    };
    (0..bytes).map(|i| base + (i % 8) as u8).collect()
}

/// One call of a script.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Op {
    /// Opens a connection from this side's port to the peer's (enabled
    /// when no connection holds that pair of ports).
    Connect,
    /// Takes a connection from the listener (enabled when one waits).
    Accept,
    /// Writes the data (enabled when the connection is open or gone: a
    /// write on a connection that failed fails, and the script goes on).
    Write(Data),
    /// Reads what the client's request holds (`bytes`), or to an error or
    /// the end.
    ReadRequest,
    /// Closes the sending side (a FIN, as the spec has it).
    Close,
    /// Reads until the end of the stream or an error (enabled when there is
    /// something to read, or the end or an error to see).
    ReadToEnd,
    /// Aborts the connection.
    Abort,
    /// Lets go of the connection (the host keeps it until it is over).
    Release,
}

/// What a write writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Data {
    /// This side's own bytes for the connection.
    Own,
    /// What this side read on the connection.
    Echo,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Connect => "connect",
            Op::Accept => "accept",
            Op::Write(Data::Own) => "write",
            Op::Write(Data::Echo) => "write back",
            Op::ReadRequest => "read request",
            Op::Close => "close",
            Op::ReadToEnd => "read to end",
            Op::Abort => "abort",
            Op::Release => "release",
        })
    }
}

/// How a connection ended, as its application saw it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum End {
    /// The end of the stream, after every byte the peer wrote.
    Eof,
    /// The peer reset the connection.
    Reset,
    /// The application aborted it.
    Aborted,
}
