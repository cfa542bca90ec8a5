//! The Linux kernel's TCP under test, inside a network namespace of its
//! own: the tester writes and reads raw IPv4 packets on a TUN device
//! (`tun0`, the kernel at 10.199.0.1, the tester at 10.199.0.2), the
//! application side is `socket2` sockets, the state is the namespace's
//! `/proc/net/tcp`.
//!
//! [`column()`] (the *outer* run, as root) creates the namespace and runs
//! the program again inside it (`ip netns exec`), with [`INNER_ENV`]
//! naming a file for the verdicts; that *inner* run ([`inner_main`]) does
//! the work and writes them; the outer run reads them and removes the
//! namespace.

use std::io;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

use fsm_runtime::wire;

use super::matrix::Column;
use super::{Addrs, Call, DATA, Implementation, Spec, Verdict};
use crate::netns::{self, Netns, tun::Tun};

/// The environment variable that makes a run the inner one; its value is
/// the file the verdicts go to.
pub const INNER_ENV: &str = "FSM_CONFORMANCE_LINUX";

/// The kernel's address on `tun0`.
pub const KERNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 1);
/// The tester's address, routed by the kernel into `tun0`.
pub const PEER_IP: Ipv4Addr = Ipv4Addr::new(10, 199, 0, 2);

/// How long the inner run may take.
const DEADLINE: Duration = Duration::from_secs(600);
/// `TCP_USER_TIMEOUT` on every socket.
const USER_TIMEOUT: Duration = Duration::from_millis(1000);
/// `TCP_LINGER2` (the orphaned FIN_WAIT_2 timeout) on every socket.
const LINGER2_SECS: i32 = 1;
/// How long the kernel may stay quiet before what it sent is taken as all.
const QUIET: Duration = Duration::from_millis(50);
/// The longest one collect waits.
const SETTLE: Duration = Duration::from_millis(500);
/// The longest a timer may take to fire.
const TIMER_LIMIT: Duration = Duration::from_secs(8);

/// The kernel's release (`6.8.0-45-generic`), or "?".
pub fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".to_string())
}

/// The column's head: `Linux 6.8`.
pub fn column_name() -> String {
    let r = release();
    let short: Vec<&str> = r.split(['.', '-']).take(2).collect();
    format!("Linux {}", short.join("."))
}

/// The file an inner run writes its verdicts to, if this is one.
pub fn inner_target() -> Option<String> {
    std::env::var(INNER_ENV).ok()
}

/// The Linux column: runs the program again inside a fresh namespace
/// (`program_args` make it an inner run that ends in [`inner_main`]) and
/// reads the verdicts it wrote; "not run: why" where it cannot run.
pub fn column(spec: &Spec, program_args: &[&str]) -> Column {
    Column {
        name: column_name(),
        key: 'L',
        result: outer(spec, program_args),
    }
}

fn outer(spec: &Spec, program_args: &[&str]) -> Result<Vec<Verdict>, String> {
    if let Some(why) = netns::why_skip() {
        return Err(why);
    }
    let name = format!("fsm-conf-{}", std::process::id());
    let ns = Netns::create(&name);
    let file = std::env::temp_dir().join(format!("{name}.verdicts"));
    let _ = std::fs::remove_file(&file);
    let exe = std::env::current_exe().map_err(|e| format!("current_exe: {e}"))?;
    let path = file.to_string_lossy().into_owned();
    let ran = netns::exec_in(
        &ns,
        &exe,
        program_args,
        &[(INNER_ENV, path.as_str()), ("RUST_BACKTRACE", "1")],
        DEADLINE,
    )?;
    drop(ns);
    for line in ran.stdout.lines().chain(ran.stderr.lines()) {
        println!("  | {line}");
    }
    match ran.status {
        None => return Err(format!("the run in {name} took over {DEADLINE:?}; killed")),
        Some(s) if !s.success() => return Err(format!("the run in {name} failed: {s}")),
        Some(_) => {}
    }
    let text = std::fs::read_to_string(&file).map_err(|e| format!("{}: {e}", file.display()))?;
    let _ = std::fs::remove_file(&file);
    let verdicts = decode(&text)?;
    if verdicts.len() != spec.pairs.len() {
        return Err(format!(
            "{} verdicts for {} pairs",
            verdicts.len(),
            spec.pairs.len()
        ));
    }
    Ok(verdicts)
}

/// The inner run: sets up `tun0`, plays every pair against the kernel
/// and writes the verdicts to `file`.
pub fn inner_main(spec: &Spec, file: &str) -> ExitCode {
    match inner(spec, file) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("Linux column: {e}");
            ExitCode::FAILURE
        }
    }
}

fn inner(spec: &Spec, file: &str) -> Result<(), String> {
    let tun = Tun::open("tun0").map_err(|e| format!("open tun0: {e}"))?;
    let dev = tun.name().to_string();
    netns::run(
        "ip",
        &["addr", "add", &format!("{KERNEL_IP}/24"), "dev", &dev],
    )?;
    netns::run("ip", &["link", "set", &dev, "up"])?;
    // No IPv6 chatter on the device.
    let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{dev}/disable_ipv6"), "1");
    let mut linux = Linux::new(tun);
    let started = Instant::now();
    let verdicts = spec.run(&mut linux);
    println!(
        "Linux {}: {} pairs in {:.1?}",
        release(),
        verdicts.len(),
        started.elapsed()
    );
    std::fs::write(file, encode(&verdicts)).map_err(|e| format!("{file}: {e}"))
}

/// One verdict a line: `agree`, `differs\t<text>`, `untestable\t<text>`,
/// the text with `\` and line ends escaped.
fn encode(verdicts: &[Verdict]) -> String {
    let esc = |s: &str| s.replace('\\', "\\\\").replace('\n', "\\n");
    verdicts
        .iter()
        .map(|v| match v {
            Verdict::Agree => "agree\n".to_string(),
            Verdict::Differs(t) => format!("differs\t{}\n", esc(t)),
            Verdict::Untestable(t) => format!("untestable\t{}\n", esc(t)),
        })
        .collect()
}

fn decode(text: &str) -> Result<Vec<Verdict>, String> {
    let unesc = |s: &str| {
        let mut out = String::new();
        let mut chars = s.chars();
        while let Some(c) = chars.next() {
            match (c, c == '\\') {
                (_, true) => match chars.next() {
                    Some('n') => out.push('\n'),
                    Some(o) => out.push(o),
                    None => {}
                },
                (c, false) => out.push(c),
            }
        }
        out
    };
    text.lines()
        .map(|l| {
            let (word, rest) = l.split_once('\t').unwrap_or((l, ""));
            match word {
                "agree" => Ok(Verdict::Agree),
                "differs" => Ok(Verdict::Differs(unesc(rest))),
                "untestable" => Ok(Verdict::Untestable(unesc(rest))),
                _ => Err(format!("unreadable verdict line `{l}`")),
            }
        })
        .collect()
}

/// The kernel's state code (`/proc/net/tcp`) in tcp.fsm's names.
fn name(kernel: &str) -> &'static str {
    match kernel {
        "ESTAB" => "ESTABLISHED",
        "SYN-SENT" => "SYN_SENT",
        "SYN-RECV" | "NEW-SYN-RECV" => "SYN_RCVD",
        "FIN-WAIT-1" => "FIN_WAIT_1",
        "FIN-WAIT-2" => "FIN_WAIT_2",
        "TIME-WAIT" => "TIME_WAIT",
        "CLOSE" => "CLOSED",
        "CLOSE-WAIT" => "CLOSE_WAIT",
        "LAST-ACK" => "LAST_ACK",
        "LISTEN" => "LISTEN",
        "CLOSING" => "CLOSING",
        _ => "UNKNOWN",
    }
}

/// The kernel, one connection per run.
pub struct Linux {
    tun: Tun,
    addrs: Addrs,
    listener: Option<Socket>,
    conn: Option<Socket>,
    /// Whether the connection was opened passively.
    passive: bool,
    /// Whether the connection was seen open (ESTABLISHED or later).
    opened: bool,
    /// Packets from the kernel not yet collected.
    pending: Vec<Vec<u8>>,
}

impl Linux {
    /// The kernel behind `tun`.
    pub fn new(tun: Tun) -> Linux {
        Linux {
            tun,
            addrs: Addrs {
                implementation: SocketAddrV4::new(KERNEL_IP, 20_000),
                peer: SocketAddrV4::new(PEER_IP, 30_000),
            },
            listener: None,
            conn: None,
            passive: false,
            opened: false,
            pending: Vec::new(),
        }
    }

    /// A TCP socket bound to the kernel's address of this run, with the
    /// user and FIN_WAIT_2 timeouts set.
    fn socket(&self) -> io::Result<Socket> {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        s.set_reuse_address(true)?;
        s.set_tcp_user_timeout(Some(USER_TIMEOUT))?;
        set_linger2(&s, LINGER2_SECS)?;
        s.bind(&SockAddr::from(self.addrs.implementation))?;
        s.set_nonblocking(true)?;
        Ok(s)
    }

    /// Takes the connection from the listener once the kernel hands it
    /// over.
    fn accept(&mut self) {
        if self.conn.is_some() || !self.passive {
            return;
        }
        if let Some(l) = &self.listener
            && let Ok((s, _)) = l.accept()
        {
            let _ = s.set_nonblocking(true);
            self.conn = Some(s);
        }
    }

    /// Reads what the kernel sent to the tester for at most `limit`,
    /// ending after [`QUIET`] without a packet.
    fn read(&mut self, limit: Duration) {
        let end = Instant::now() + limit;
        let mut buf = vec![0u8; 65_536];
        loop {
            let now = Instant::now();
            if now >= end {
                break;
            }
            match self.tun.wait_readable(QUIET.min(end - now)) {
                Ok(true) => {}
                _ => break,
            }
            for _ in 0..256 {
                match self.tun.recv(&mut buf) {
                    Ok(n) => self.keep(&buf[..n]),
                    Err(_) => break,
                }
            }
        }
    }

    /// Keeps a packet if it is TCP from this run's kernel socket to the
    /// tester.
    fn keep(&mut self, packet: &[u8]) {
        if let Ok((ip, t)) = wire::parse(packet)
            && ip.src_addr == KERNEL_IP
            && ip.dst_addr == PEER_IP
            && t.src_port == self.addrs.implementation.port()
            && t.dst_port == self.addrs.peer.port()
        {
            self.pending.push(packet.to_vec());
        }
    }

    /// The state of this run's connection as `/proc/net/tcp` shows it.
    fn kernel_state(&self) -> Option<&'static str> {
        netns::kernel_sockets()
            .into_iter()
            .find(|s| s.local == self.addrs.implementation && s.remote == self.addrs.peer)
            .map(|s| name(s.state))
    }

    fn drop_all(&mut self) {
        for s in [self.conn.take(), self.listener.take()]
            .into_iter()
            .flatten()
        {
            let _ = s.set_linger(Some(Duration::ZERO));
        }
    }
}

/// `TCP_LINGER2`: how long an orphaned connection stays in FIN_WAIT_2.
fn set_linger2(s: &Socket, secs: i32) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let v: libc::c_int = secs;
    // SAFETY: a valid descriptor, a pointer to a c_int and its size.
    #[allow(unsafe_code)]
    let r = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_LINGER2,
            (&v as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

const NO_HANDLE: &str = "the sockets API gives the application no handle on a listener's \
connection before accept, which the kernel allows only once the handshake is done";

impl Implementation for Linux {
    fn name(&self) -> String {
        column_name()
    }

    fn cannot(&self, from: &str, event: &str, passive: bool) -> Option<String> {
        Some(match (from, event) {
            ("SYN_RCVD", "send" | "close" | "abort") if passive => NO_HANDLE.to_string(),
            ("SYN_RCVD", "user_timeout") if passive => "a listener's connection in SYN_RCVD \
                 is a request sock: it ends after net.ipv4.tcp_synack_retries SYN-ACKs (about \
                 a minute), with no socket option to shorten it"
                .to_string(),
            ("LISTEN", "send") => "the sockets API has no fully specified passive OPEN: a \
                 listening socket cannot send"
                .to_string(),
            ("CLOSED" | "LISTEN", "user_timeout") => {
                "no timer runs here: the kernel has sent nothing awaiting an ACK".to_string()
            }
            ("FIN_WAIT_2" | "TIME_WAIT", "user_timeout") => "TCP_USER_TIMEOUT runs only \
                 while something sent awaits an ACK (or keep-alive probes go unanswered); here \
                 everything is acknowledged"
                .to_string(),
            ("TIME_WAIT", "time_wait_timeout") => "TIME_WAIT lasts TCP_TIMEWAIT_LEN, 60 s, \
                 fixed when the kernel is compiled: no socket option or sysctl shortens it, \
                 and the run does not wait a minute for one pair"
                .to_string(),
            _ => return None,
        })
    }

    fn begin(&mut self, run: usize) -> Result<Addrs, String> {
        self.drop_all();
        self.passive = false;
        self.opened = false;
        let n = u16::try_from(run % 10_000).unwrap_or(0);
        self.addrs.implementation = SocketAddrV4::new(KERNEL_IP, 20_000 + n);
        self.addrs.peer = SocketAddrV4::new(PEER_IP, 30_000 + n);
        self.read(Duration::from_millis(1));
        self.pending.clear();
        Ok(self.addrs)
    }

    fn call(&mut self, call: Call) -> Result<(), String> {
        self.accept();
        match call {
            Call::Listen => {
                let s = self.socket().map_err(|e| e.to_string())?;
                s.listen(8).map_err(|e| e.to_string())?;
                self.listener = Some(s);
                self.passive = true;
                Ok(())
            }
            Call::Connect => {
                let s = self.socket().map_err(|e| e.to_string())?;
                let to = SockAddr::from(self.addrs.peer);
                match s.connect(&to) {
                    Ok(()) => {}
                    Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
                    Err(e) => return Err(e.to_string()),
                }
                self.conn = Some(s);
                Ok(())
            }
            Call::Send => match &self.conn {
                Some(s) => s.send(DATA).map(|_| ()).map_err(|e| e.to_string()),
                None => Err("no connected socket".to_string()),
            },
            Call::Close => match (&self.conn, &self.listener) {
                (Some(s), _) => s
                    .shutdown(std::net::Shutdown::Write)
                    .map_err(|e| e.to_string()),
                (None, Some(_)) => {
                    self.listener = None;
                    Ok(())
                }
                (None, None) => Err("no socket".to_string()),
            },
            Call::Abort => match (self.conn.take(), self.listener.take()) {
                (Some(s), l) => {
                    self.listener = l;
                    s.set_linger(Some(Duration::ZERO))
                        .map_err(|e| e.to_string())
                }
                (None, Some(l)) => l
                    .set_linger(Some(Duration::ZERO))
                    .map_err(|e| e.to_string()),
                (None, None) => Err("no socket".to_string()),
            },
        }
    }

    fn inject(&mut self, packet: &[u8]) {
        if let Err(e) = self.tun.send(packet) {
            eprintln!("tun0: {e}");
        }
    }

    fn collect(&mut self) -> Vec<Vec<u8>> {
        self.read(SETTLE);
        self.accept();
        std::mem::take(&mut self.pending)
    }

    fn expire(&mut self, timer: &str) -> Result<(), String> {
        if timer == "linger_timeout" {
            // TCP_LINGER2 applies once the application lets go.
            self.accept();
            if let Some(s) = self.conn.take() {
                drop(s);
            }
        }
        let before = self.state();
        let end = Instant::now() + TIMER_LIMIT;
        while Instant::now() < end {
            self.read(Duration::from_millis(100));
            if self.state() != before {
                break;
            }
        }
        Ok(())
    }

    fn state(&mut self) -> String {
        self.accept();
        let s = match self.kernel_state() {
            Some(s) => s,
            // A listener's connection that is gone before it opened: the
            // listener listens on (forget_peer).
            None if self.listener.is_some() && self.passive && !self.opened => "LISTEN",
            None => "CLOSED",
        };
        if !matches!(s, "LISTEN" | "SYN_SENT" | "SYN_RCVD" | "CLOSED") {
            self.opened = true;
        }
        s.to_string()
    }

    fn end(&mut self) {
        self.drop_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verdicts_survive_the_file() {
        let v = vec![
            Verdict::Agree,
            Verdict::Differs("1. a\\b\n   < RST\tx".to_string()),
            Verdict::Untestable("why".to_string()),
        ];
        assert_eq!(decode(&encode(&v)).unwrap(), v);
        assert!(decode("maybe\n").is_err());
    }

    #[test]
    fn kernel_states_have_the_spec_names() {
        assert_eq!(name("SYN-RECV"), "SYN_RCVD");
        assert_eq!(name("NEW-SYN-RECV"), "SYN_RCVD");
        assert_eq!(name("FIN-WAIT-2"), "FIN_WAIT_2");
        assert_eq!(name("CLOSE"), "CLOSED");
    }
}
