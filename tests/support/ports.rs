//! Ports for servers the tests start.

/// A port nothing listens on right now (bound, then released).
pub fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("bind a free port")
        .port()
}

/// A free port below the kernel's ephemeral range, for a server that is
/// stopped and (re)started on the same port: while it is down, no outgoing
/// connection of this machine can be given that port as its own.
pub fn stable_port() -> u16 {
    let first_ephemeral: u16 = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse().ok())
        .unwrap_or(32768);
    let low = 10_000.min(first_ephemeral / 2);
    for _ in 0..100 {
        let port = rand::random_range(low..first_ephemeral);
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port below {first_ephemeral}");
}
