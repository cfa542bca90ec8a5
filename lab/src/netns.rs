//! Network namespaces and TUN devices, for tests and tools that put a
//! Linux kernel's TCP on the other side of a TUN device: whether they can
//! run here (root, `ip`, `/dev/net/tun`), a namespace removed on drop,
//! running a program inside one with a deadline, the kernel's sockets as
//! `/proc/net/tcp` lists them, and [`tun::Tun`].

pub mod tun;

use std::io::Read;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::path::Path;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// Why the tests cannot run here, if they cannot.
pub fn why_skip() -> Option<String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    #[allow(unsafe_code)]
    let euid = unsafe { libc::geteuid() };
    if euid != 0 {
        return Some(format!(
            "not root (euid {euid}); network namespaces and TUN need root"
        ));
    }
    match Command::new("ip").arg("-V").output() {
        Ok(o) if o.status.success() => {}
        Ok(o) => return Some(format!("`ip -V` failed: {}", o.status)),
        Err(e) => return Some(format!("`ip` (iproute2) not found: {e}")),
    }
    if !Path::new("/dev/net/tun").exists() {
        return Some("/dev/net/tun does not exist".into());
    }
    None
}

/// Runs `cmd` with `args`, failing with its stderr if it fails.
pub fn run(cmd: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("{cmd} {}: {e}", args.join(" ")))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{cmd} {}: {}: {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

/// A network namespace, deleted on drop.
pub struct Netns {
    name: String,
}

impl Netns {
    /// Creates namespace `name` with `lo` up, after deleting a leftover of
    /// the same name.
    pub fn create(name: &str) -> Netns {
        if Path::new("/run/netns").join(name).exists()
            || Path::new("/var/run/netns").join(name).exists()
        {
            println!("removing leftover namespace {name}");
            let _ = run("ip", &["netns", "del", name]);
        }
        run("ip", &["netns", "add", name]).unwrap_or_else(|e| panic!("{e}"));
        // From here on the guard removes the namespace, whatever happens.
        let ns = Netns {
            name: name.to_string(),
        };
        run("ip", &["-n", name, "link", "set", "lo", "up"]).unwrap_or_else(|e| panic!("{e}"));
        ns
    }

    /// The namespace's name.
    pub fn name(&self) -> &str {
        &self.name
    }
}

impl Drop for Netns {
    fn drop(&mut self) {
        if let Err(e) = run("ip", &["netns", "del", &self.name]) {
            eprintln!("could not remove namespace {}: {e}", self.name);
        }
    }
}

/// Whether namespace `name` exists (by `ip netns list`).
pub fn netns_exists(name: &str) -> bool {
    run("ip", &["netns", "list"])
        .unwrap_or_default()
        .lines()
        .any(|l| l.split_whitespace().next() == Some(name))
}

/// What a program run by [`exec_in`] did.
pub struct Ran {
    /// Its exit status; `None` if it was killed at the deadline.
    pub status: Option<ExitStatus>,
    /// Its standard output.
    pub stdout: String,
    /// Its standard error.
    pub stderr: String,
}

/// Runs `program` with `args` and the environment `env` inside namespace
/// `ns` (`ip netns exec`), killing it if it outlives `deadline`.
pub fn exec_in(
    ns: &Netns,
    program: &Path,
    args: &[&str],
    env: &[(&str, &str)],
    deadline: Duration,
) -> Result<Ran, String> {
    let started = Instant::now();
    let mut child = Command::new("ip")
        .args(["netns", "exec", ns.name()])
        .arg(program)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("ip netns exec {}: {e}", ns.name()))?;
    let collect = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = r.read_to_string(&mut s);
            s
        })
    };
    let out = collect(Box::new(child.stdout.take().expect("stdout")));
    let err = collect(Box::new(child.stderr.take().expect("stderr")));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break Some(s),
            Ok(None) => {}
            Err(e) => return Err(format!("wait: {e}")),
        }
        if started.elapsed() >= deadline {
            // Only the child started here, by its pid.
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    Ok(Ran {
        status,
        stdout: out.join().unwrap_or_default(),
        stderr: err.join().unwrap_or_default(),
    })
}

/// One line of `/proc/net/tcp`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KernelSocket {
    /// The kernel's end.
    pub local: SocketAddrV4,
    /// The peer.
    pub remote: SocketAddrV4,
    /// The state, named as `ss` names it.
    pub state: &'static str,
}

fn tcp_state(code: u8) -> &'static str {
    match code {
        0x01 => "ESTAB",
        0x02 => "SYN-SENT",
        0x03 => "SYN-RECV",
        0x04 => "FIN-WAIT-1",
        0x05 => "FIN-WAIT-2",
        0x06 => "TIME-WAIT",
        0x07 => "CLOSE",
        0x08 => "CLOSE-WAIT",
        0x09 => "LAST-ACK",
        0x0a => "LISTEN",
        0x0b => "CLOSING",
        0x0c => "NEW-SYN-RECV",
        _ => "UNKNOWN",
    }
}

/// `0100C70A:1F90`: the address as the kernel's `__be32` printed in host
/// order, the port in host order.
fn proc_addr(s: &str) -> Option<SocketAddrV4> {
    let (ip, port) = s.split_once(':')?;
    let ip = u32::from_str_radix(ip, 16).ok()?;
    let port = u16::from_str_radix(port, 16).ok()?;
    Some(SocketAddrV4::new(Ipv4Addr::from(ip.to_ne_bytes()), port))
}

/// The kernel's IPv4 TCP sockets in this process's namespace, from
/// `/proc/net/tcp` (TIME_WAIT ones included).
pub fn kernel_sockets() -> Vec<KernelSocket> {
    let text = std::fs::read_to_string("/proc/net/tcp").expect("read /proc/net/tcp");
    text.lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            Some(KernelSocket {
                local: proc_addr(f.get(1)?)?,
                remote: proc_addr(f.get(2)?)?,
                state: tcp_state(u8::from_str_radix(f.get(3)?, 16).ok()?),
            })
        })
        .collect()
}
