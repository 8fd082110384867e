//! A TCP port accepting connections: what a database or broker is ready for before it has any
//! Kubernetes object that says so. The name is resolved as the DNS probe resolves it (pure Rust,
//! the pod's `/etc/resolv.conf`), not through libc.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::ProbeStatus;
use super::dns::Resolver;

/// Resolve `host` and connect to each address in turn; ready at the first accepted connection,
/// which is closed at once (nothing is sent).
pub async fn connect(resolver: &Resolver, host: &str, port: u16) -> ProbeStatus {
    let addresses = match resolver.addresses(host).await {
        Ok(a) => a,
        Err(why) => return ProbeStatus::NotReady(why.0),
    };
    let mut last = String::new();
    for ip in addresses {
        let addr = SocketAddr::new(ip, port);
        match TcpStream::connect(addr).await {
            Ok(_) => return ProbeStatus::Ready(format!("connected to {addr}")),
            Err(e) => last = format!("{addr}: {}", describe(&e)),
        }
    }
    ProbeStatus::NotReady(last)
}

/// `connection refused` rather than `Connection refused (os error 111)`: the progress line
/// must stay stable across attempts and readable.
fn describe(e: &std::io::Error) -> String {
    use std::io::ErrorKind::*;
    match e.kind() {
        ConnectionRefused => "connection refused".into(),
        TimedOut => "connection timed out".into(),
        HostUnreachable => "host unreachable".into(),
        NetworkUnreachable => "network unreachable".into(),
        _ => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_listening_port_is_ready_and_a_closed_one_is_refused() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let resolver = Resolver::from_env();
        let open = connect(&resolver, "127.0.0.1", port).await;
        assert_eq!(
            open,
            ProbeStatus::Ready(format!("connected to 127.0.0.1:{port}"))
        );
        drop(listener);
        let closed = connect(&resolver, "127.0.0.1", port).await;
        assert_eq!(
            closed,
            ProbeStatus::NotReady(format!("127.0.0.1:{port}: connection refused"))
        );
    }
}
