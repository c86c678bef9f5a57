//! The fleet rig: N hosts that behave like machines on a network, for the
//! tests and benchmarks of fleet scale. Needs root (`ip netns`, nft).
//!
//! - Each host is a Linux network namespace with its own address
//!   (10.77.ID.N) and its own real sshd (port 22, its own host key, its
//!   own home bound over this user's, so no rc file of this machine runs
//!   there). All share this machine's Docker engine through each sshd;
//!   berth tells the hosts' containers apart by `berth.host`, as it always
//!   does. The rig's ID is held by a bridge of that name (`berthflID`).
//! - This kernel has no `netem`, so the link is a userspace one: a TUN
//!   device in the host's namespace (`eth0`) and one here
//!   (`berthflIDtN`, which this machine routes 10.77.ID.N to), joined by
//!   the rig, which holds every IP packet for the one-way delay (plus
//!   jitter) before passing it on, in order. TCP sees a real round trip:
//!   its handshake, ACK timing, Nagle, retransmission timeouts and slow
//!   start behave as over a WAN (a relay in front of sshd, the first rig,
//!   hid all of them). Packet loss, and black holes, are nft rules inside
//!   the host's namespace: a black-holed host drops every packet, SYN
//!   included, as a dead machine on a real network does. A hung host is
//!   its sshd stopped (SIGSTOP): the kernel still accepts, nothing answers.
//! - Dropping the rig removes all of it (the TUN devices go with their
//!   file descriptors); `scripts/fleet-rig teardown` removes what a killed
//!   test left (every `berthfl*` namespace, bridge and its processes).

use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

use super::sshd::{Opts, Sshd, keygen};

/// Every name the rig makes starts with this (what teardown looks for).
pub const PREFIX: &str = "berthfl";
/// Where berth connects on each host: its sshd.
pub const PORT: u16 = 22;

/// How a host's link behaves, changeable while the rig runs.
#[derive(Clone, Copy, Debug, Default)]
pub struct Link {
    /// Round-trip time added (half each way).
    pub rtt: Duration,
    /// Up to this much more, at random, per packet (order kept).
    pub jitter: Duration,
}

pub struct RigHost {
    /// `h01`, `h02`, ...: the name in berth's config.
    pub name: String,
    pub netns: String,
    pub addr: String,
    pub sshd: Sshd,
    link: Arc<Mutex<Link>>,
    _home: tempfile::TempDir,
}

pub struct Rig {
    pub id: u8,
    pub bridge: String,
    pub dir: tempfile::TempDir,
    pub client_key: PathBuf,
    /// Every host's key at its address.
    pub known_hosts: PathBuf,
    pub hosts: Vec<RigHost>,
    /// Carries the links' packets.
    links: Option<tokio::runtime::Runtime>,
}

fn ip(args: &[&str]) {
    run("ip", args);
}

fn run(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("the fleet rig needs {program} ({e}): apt-get install iproute2 nftables")
        });
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn in_ns(ns: &str, program: &str, args: &[&str]) {
    let mut all = vec!["netns", "exec", ns, program];
    all.extend_from_slice(args);
    ip(&all);
}

impl Rig {
    /// `n` hosts (at most 200), every link at `link`.
    pub fn start(n: usize, link: Link) -> Rig {
        assert!(n <= 200, "the rig has 200 addresses");
        assert!(
            nix_is_root(),
            "the fleet rig needs root (network namespaces); CI runs as root"
        );
        let dir = tempfile::tempdir().unwrap();
        // A bridge name (and subnet) no other rig on this machine holds.
        let (id, bridge) = loop {
            let id = fastrand::u8(1..=250);
            let bridge = format!("{PREFIX}{id}");
            let ok = Command::new("ip")
                .args(["link", "add", &bridge, "type", "bridge"])
                .output()
                .unwrap()
                .status
                .success();
            if ok {
                break (id, bridge);
            }
        };
        let mut rig = Rig {
            id,
            bridge: bridge.clone(),
            client_key: dir.path().join("client_key"),
            known_hosts: dir.path().join("known_hosts"),
            dir,
            hosts: Vec::new(),
            links: Some(
                tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("rig-link")
                    .enable_all()
                    .build()
                    .unwrap(),
            ),
        };
        keygen(&rig.client_key);
        let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
        let mut known = String::new();
        for i in 1..=n {
            let name = format!("h{i:02}");
            let netns = format!("{PREFIX}{id}-{i}");
            let addr = format!("10.77.{id}.{i}");
            ip(&["netns", "add", &netns]);
            let link = Arc::new(Mutex::new(link));
            rig.link(&netns, i, &addr, link.clone());
            in_ns(&netns, "ip", &["link", "set", "lo", "up"]);
            let host_home = tempfile::tempdir().unwrap();
            let sshd = Sshd::start_with(Opts {
                addr: Some(addr.clone()),
                port: Some(22),
                client_key: Some(rig.client_key.clone()),
                binds: vec![(host_home.path().to_path_buf(), PathBuf::from(&home))],
                netns: Some(netns.clone()),
            });
            let host_pub = std::fs::read_to_string(sshd.dir.path().join("host_key.pub")).unwrap();
            known.push_str(&format!("{addr} {host_pub}"));
            rig.hosts.push(RigHost {
                name,
                netns,
                addr,
                sshd,
                link,
                _home: host_home,
            });
        }
        std::fs::write(&rig.known_hosts, known).unwrap();
        rig
    }

    /// The link of host `i`: a TUN device in its namespace holding its
    /// address, one here routing that address to it, and the rig's
    /// carrier between them, delaying each packet by the link's one-way
    /// time.
    fn link(&self, netns: &str, i: usize, addr: &str, link: Arc<Mutex<Link>>) {
        let here_name = format!("{PREFIX}{}t{i}", self.id);
        let here = tun(&here_name).unwrap_or_else(|e| panic!("TUN {here_name}: {e}"));
        // A device belongs to the namespace of whoever made it: make the
        // host's on a thread that entered its namespace (setns is per thread).
        let path = format!("/run/netns/{netns}");
        let there = std::thread::spawn(move || {
            let ns = std::fs::File::open(&path).unwrap();
            // SAFETY: setns on a valid namespace fd affects this thread only.
            let rc = unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) };
            assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
            tun("eth0")
        })
        .join()
        .unwrap()
        .unwrap_or_else(|e| panic!("TUN eth0 in {netns}: {e}"));
        let gateway = format!("10.77.{}.254", self.id);
        ip(&["addr", "add", &gateway, "peer", addr, "dev", &here_name]);
        ip(&["link", "set", &here_name, "up"]);
        in_ns(
            netns,
            "ip",
            &["addr", "add", addr, "peer", &gateway, "dev", "eth0"],
        );
        in_ns(netns, "ip", &["link", "set", "eth0", "up"]);
        self.links.as_ref().unwrap().spawn(async move {
            let (here, there) = match (Packets::new(here), Packets::new(there)) {
                (Ok(a), Ok(b)) => (Arc::new(a), Arc::new(b)),
                _ => return,
            };
            tokio::spawn(carry(here.clone(), there.clone(), link.clone()));
            carry(there, here, link).await;
        });
    }

    pub fn host(&self, name: &str) -> &RigHost {
        self.hosts.iter().find(|h| h.name == name).unwrap()
    }

    /// The `ssh:` block of a berth host reaching `host`.
    pub fn ssh_yaml(&self, host: &RigHost) -> String {
        format!(
            "{{host: {}, port: {PORT}, user: {}, identity_file: {}, known_hosts: {}}}",
            host.addr,
            host.sshd.user,
            self.client_key.display(),
            self.known_hosts.display()
        )
    }

    /// `hosts:` entries for every host of the rig (state in each host's
    /// own home, as on a real machine).
    pub fn hosts_yaml(&self) -> String {
        self.hosts
            .iter()
            .map(|h| format!("  {}: {{ssh: {}}}\n", h.name, self.ssh_yaml(h)))
            .collect()
    }
}

impl RigHost {
    pub fn set_link(&self, link: Link) {
        *self.link.lock().unwrap() = link;
    }

    /// Every packet to the host dropped, SYN included (undone by `heal`).
    pub fn black_hole(&self) {
        self.nft(&["add", "table", "inet", "berthbh"]);
        self.nft(&[
            "add", "chain", "inet", "berthbh", "in", "{", "type", "filter", "hook", "input",
            "priority", "-300", ";", "policy", "drop", ";", "}",
        ]);
    }

    /// `percent` of the packets to the host dropped at random.
    pub fn lose(&self, percent: u8) {
        self.nft(&["add", "table", "inet", "berthloss"]);
        self.nft(&[
            "add",
            "chain",
            "inet",
            "berthloss",
            "in",
            "{",
            "type",
            "filter",
            "hook",
            "input",
            "priority",
            "-300",
            ";",
            "}",
        ]);
        self.nft(&[
            "add",
            "rule",
            "inet",
            "berthloss",
            "in",
            "numgen",
            "random",
            "mod",
            "100",
            "<",
            &percent.to_string(),
            "drop",
        ]);
    }

    /// Undoes `black_hole` and `lose`.
    pub fn heal(&self) {
        for t in ["berthbh", "berthloss"] {
            let _ = Command::new("ip")
                .args([
                    "netns",
                    "exec",
                    &self.netns,
                    "nft",
                    "delete",
                    "table",
                    "inet",
                    t,
                ])
                .output();
        }
    }

    /// sshd stopped: connections are accepted by the kernel and never
    /// answered (undone by `wake`).
    pub fn hang(&self) {
        self.signal("-STOP");
    }

    pub fn wake(&self) {
        self.signal("-CONT");
    }

    fn signal(&self, sig: &str) {
        let pid = self.sshd.pid().unwrap().to_string();
        run("kill", &[sig, &pid]);
    }

    fn nft(&self, args: &[&str]) {
        in_ns(&self.netns, "nft", args);
    }
}

/// A TUN device named `name` in this thread's network namespace, which
/// lives as long as the descriptor: IP packets, one a read or write.
fn tun(name: &str) -> std::io::Result<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: plain open(2) of a constant path; the result is checked.
    let fd = unsafe {
        libc::open(
            c"/dev/net/tun".as_ptr(),
            libc::O_RDWR | libc::O_NONBLOCK | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `fd` is new and owned from here on.
    let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
    // SAFETY: ifreq is plain data; all zeroes is a valid value.
    let mut req: libc::ifreq = unsafe { std::mem::zeroed() };
    assert!(
        name.len() < req.ifr_name.len(),
        "{name}: too long for a device"
    );
    for (d, s) in req.ifr_name.iter_mut().zip(name.bytes()) {
        *d = s as libc::c_char;
    }
    req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF on a TUN descriptor with a valid ifreq.
    if unsafe { libc::ioctl(fd.as_raw_fd(), libc::TUNSETIFF, &req) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(fd)
}

/// A TUN device's packets, on the rig's runtime.
struct Packets(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>);

impl Packets {
    fn new(fd: std::os::fd::OwnedFd) -> std::io::Result<Self> {
        // SAFETY: the AsyncFd owns `fd`, which stays open as long as it.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        };
        Ok(Packets(fd.map_err(|e| e.into_parts().1)?))
    }

    async fn read(&self, buf: &mut [u8]) -> std::io::Result<usize> {
        loop {
            let mut ready = self.0.readable().await?;
            let read = ready.try_io(|fd| {
                // SAFETY: reads at most `buf.len()` bytes into `buf`.
                let n = unsafe { libc::read(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                usize::try_from(n).map_err(|_| std::io::Error::last_os_error())
            });
            if let Ok(result) = read {
                return result;
            }
        }
    }

    /// Hands a packet to the kernel; one it has no room for is dropped,
    /// as a full queue on a real link drops it.
    fn write(&self, packet: &[u8]) {
        // SAFETY: writes `packet`, a valid slice, to a valid descriptor.
        let _ = unsafe { libc::write(self.0.as_raw_fd(), packet.as_ptr().cast(), packet.len()) };
    }
}

/// One direction of a link: each packet leaves the link's one-way delay
/// (plus jitter) after it came, never before the one before it.
async fn carry(from: Arc<Packets>, to: Arc<Packets>, link: Arc<Mutex<Link>>) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    tokio::spawn(async move {
        let Ok(timer) = Timer::new() else { return };
        while let Some((at, packet)) = rx.recv().await {
            if timer.sleep_until(at).await.is_err() {
                break;
            }
            to.write(&packet);
        }
    });
    let mut last = Instant::now();
    let mut buf = vec![0u8; 65536];
    while let Ok(n) = from.read(&mut buf).await {
        let l = *link.lock().unwrap();
        let jitter = if l.jitter.is_zero() {
            Duration::ZERO
        } else {
            l.jitter.mul_f64(fastrand::f64())
        };
        let at = (Instant::now() + l.rtt / 2 + jitter).max(last);
        last = at;
        if tx.send((at, buf[..n].to_vec())).is_err() {
            break;
        }
    }
}

/// A timer with the kernel's precision. tokio's timer ticks in whole
/// milliseconds and rounds each deadline up, which made a 30 ms link 32 to
/// 33 ms and a 0 ms one add up to 1.5 ms a round trip: the link's delay
/// has to be what it says for a latency figure to mean anything.
struct Timer(tokio::io::unix::AsyncFd<std::os::fd::OwnedFd>);

impl Timer {
    fn new() -> std::io::Result<Self> {
        use std::os::fd::FromRawFd;
        // SAFETY: plain syscall; the fd is checked and then owned.
        let fd = unsafe {
            libc::timerfd_create(
                libc::CLOCK_MONOTONIC,
                libc::TFD_NONBLOCK | libc::TFD_CLOEXEC,
            )
        };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: `fd` is a new descriptor nothing else owns.
        let fd = unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) };
        // SAFETY: the AsyncFd owns `fd`, which stays open as long as it.
        let fd = unsafe {
            tokio::io::unix::AsyncFd::register_with_interest(fd, tokio::io::Interest::READABLE)
        };
        Ok(Timer(fd.map_err(|e| e.into_parts().1)?))
    }

    /// Returns at `at` (at once when it has passed).
    async fn sleep_until(&self, at: Instant) -> std::io::Result<()> {
        let now = Instant::now();
        if at <= now {
            return Ok(());
        }
        let d = at - now;
        let spec = libc::itimerspec {
            it_interval: libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            it_value: libc::timespec {
                tv_sec: d.as_secs() as libc::time_t,
                tv_nsec: d.subsec_nanos() as libc::c_long,
            },
        };
        // SAFETY: a valid timerfd and a valid itimerspec.
        if unsafe { libc::timerfd_settime(self.0.as_raw_fd(), 0, &spec, std::ptr::null_mut()) } < 0
        {
            return Err(std::io::Error::last_os_error());
        }
        loop {
            let mut ready = self.0.readable().await?;
            let mut expirations = [0u8; 8];
            let read = ready.try_io(|fd| {
                // SAFETY: reads at most 8 bytes into an 8-byte buffer.
                let n = unsafe { libc::read(fd.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
                if n < 0 {
                    Err(std::io::Error::last_os_error())
                } else {
                    Ok(())
                }
            });
            if let Ok(result) = read {
                return result;
            }
        }
    }
}

fn nix_is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

impl Drop for Rig {
    fn drop(&mut self) {
        // Stopped sshds get killed stopped; wake them so they exit cleanly.
        for h in &mut self.hosts {
            let _ = Command::new("kill")
                .args(["-CONT", &h.sshd.pid().unwrap_or(0).to_string()])
                .output();
            h.sshd.kill();
        }
        if let Some(rt) = self.links.take() {
            rt.shutdown_background();
        }
        for h in &self.hosts {
            // Sessions still running in the namespace (none should be).
            if let Ok(out) = Command::new("ip")
                .args(["netns", "pids", &h.netns])
                .output()
            {
                for pid in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                    let _ = Command::new("kill").args(["-KILL", pid]).output();
                }
            }
            let _ = Command::new("ip").args(["netns", "del", &h.netns]).output();
        }
        let _ = Command::new("ip")
            .args(["link", "del", &self.bridge])
            .output();
    }
}
