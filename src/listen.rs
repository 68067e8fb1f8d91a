//! Listening sockets: bound with `SO_REUSEPORT` (so a new process can start on the port before
//! the old one drains), or inherited from a supervisor that passed them (`LISTEN_FDS`, as
//! systemd socket activation does: fd 3 the main port, fd 4 the status port).

use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket};

/// Binds `addr` with `SO_REUSEADDR` and `SO_REUSEPORT`.
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() { TcpSocket::new_v4()? } else { TcpSocket::new_v6()? };
    socket.set_reuseaddr(true)?;
    #[cfg(unix)]
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

/// The sockets passed by a supervisor, if `LISTEN_PID` names this process: the first is the main
/// port, the second (if any) the status port. `env` is the process environment.
pub fn inherited(env: &[(String, String)]) -> std::io::Result<Vec<TcpListener>> {
    let var = |name: &str| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str());
    let ours = var("LISTEN_PID").and_then(|p| p.parse::<u32>().ok()) == Some(std::process::id());
    let count = var("LISTEN_FDS").and_then(|n| n.parse::<i32>().ok()).unwrap_or(0);
    if !ours || count <= 0 {
        return Ok(Vec::new());
    }
    (3..3 + count.min(2)).map(adopt).collect()
}

#[cfg(unix)]
fn adopt(fd: i32) -> std::io::Result<TcpListener> {
    use std::os::fd::FromRawFd;
    // SAFETY: the supervisor passed this descriptor to us (LISTEN_PID is our pid) and nothing
    // else in the process owns it.
    let listener = unsafe { std::net::TcpListener::from_raw_fd(fd) };
    listener.set_nonblocking(true)?;
    TcpListener::from_std(listener)
}

#[cfg(not(unix))]
fn adopt(_fd: i32) -> std::io::Result<TcpListener> {
    Err(std::io::Error::other("inherited sockets need a unix system"))
}
