//! A real, in-process authoritative DNS server on loopback, and a resolv.conf pointing at it,
//! for the DNS path of HOST arguments. Records are added while a test runs, so a name can
//! start resolving in the middle of a wait; every other name gets NXDOMAIN.
//!
//! resolv.conf cannot name a port, so the server listens on port 53 of an address of its own
//! in 127.0.0.0/8 (one per test process): binding it needs root or CAP_NET_BIND_SERVICE, which
//! CI has.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::Duration;

use hickory_proto::op::{Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{A, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tempfile::TempPath;
use tokio::net::UdpSocket;

/// Names (lower case, no trailing dot) → IPv4 addresses.
type Zone = Arc<Mutex<HashMap<String, Vec<Ipv4Addr>>>>;

pub struct DnsServer {
    pub address: IpAddr,
    zone: Zone,
    /// Every name asked for, in order, for assertions on how often depwait asks.
    queries: Arc<Mutex<Vec<String>>>,
}

impl DnsServer {
    /// The server of this test process, started on first use on port 53 of an address unique
    /// to the process. It runs on a thread of its own, because each `#[tokio::test]` has a
    /// runtime that ends with the test; tests share it and use names of their own.
    pub fn get() -> &'static DnsServer {
        static SERVER: LazyLock<DnsServer> = LazyLock::new(DnsServer::start);
        &SERVER
    }

    fn start() -> Self {
        let pid = std::process::id();
        let address = IpAddr::V4(Ipv4Addr::new(127, 53, (pid >> 8) as u8, pid as u8 | 1));
        let socket = std::net::UdpSocket::bind(SocketAddr::new(address, 53)).unwrap_or_else(|e| {
            panic!(
                "the DNS tests bind {address}:53 (resolv.conf cannot name a port), which needs \
                 root or CAP_NET_BIND_SERVICE: {e}"
            )
        });
        socket.set_nonblocking(true).unwrap();
        let zone = Zone::default();
        let queries = Arc::new(Mutex::new(Vec::new()));
        let (z, q) = (zone.clone(), queries.clone());
        std::thread::spawn(move || {
            tokio::runtime::Builder::new_current_thread()
                .enable_io()
                .build()
                .unwrap()
                .block_on(async move { serve(UdpSocket::from_std(socket).unwrap(), z, q).await })
        });
        Self {
            address,
            zone,
            queries,
        }
    }

    /// Answer `name` (absolute or not; case-insensitive) with `ip` from now on.
    pub fn add(&self, name: &str, ip: Ipv4Addr) {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.zone.lock().unwrap().entry(key).or_default().push(ip);
    }

    /// How many times `name` was asked for (A queries).
    pub fn queries_for(&self, name: &str) -> usize {
        let key = name.trim_end_matches('.').to_ascii_lowercase();
        self.queries
            .lock()
            .unwrap()
            .iter()
            .filter(|q| **q == key)
            .count()
    }

    /// Wait until `name` was asked for at least `count` times, e.g. to see a name asked for
    /// again after its NXDOMAIN. Panics after `limit`: a hang guard, not a timing check.
    pub async fn wait_for_queries(&self, name: &str, count: usize, limit: Duration) {
        let deadline = tokio::time::Instant::now() + limit;
        while self.queries_for(name) < count {
            assert!(
                tokio::time::Instant::now() < deadline,
                "{name} was asked for {} times, not {count}, within {limit:?}",
                self.queries_for(name)
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// A resolv.conf naming this server, with `search` domains and Kubernetes' `ndots:5`, as
    /// the kubelet writes one for a pod in namespace `ns`.
    /// The file is removed when the returned path is dropped.
    pub fn resolv_conf(&self, search: &[String]) -> TempPath {
        let path = tempfile::NamedTempFile::new().unwrap().into_temp_path();
        let mut text = format!("nameserver {}\n", self.address);
        if !search.is_empty() {
            text.push_str(&format!("search {}\n", search.join(" ")));
        }
        text.push_str("options ndots:5\n");
        std::fs::write(&path, text).unwrap();
        path
    }

    /// The search list of a pod in namespace `ns` of a cluster with domain `cluster.local`.
    pub fn pod_search(ns: &str) -> Vec<String> {
        vec![
            format!("{ns}.svc.cluster.local"),
            "svc.cluster.local".into(),
            "cluster.local".into(),
        ]
    }
}

async fn serve(socket: UdpSocket, zone: Zone, queries: Arc<Mutex<Vec<String>>>) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Ok(request) = Message::from_vec(&buf[..len]) else {
            continue;
        };
        let response = answer(&request, &zone, &queries);
        if let Ok(bytes) = response.to_vec() {
            let _ = socket.send_to(&bytes, peer).await;
        }
    }
}

/// An authoritative answer: the A records of a known name (none for other types), NXDOMAIN
/// with an SOA for an unknown one, as a real zone's server gives.
fn answer(request: &Message, zone: &Zone, queries: &Mutex<Vec<String>>) -> Message {
    let mut response = Message::new(request.metadata.id, MessageType::Response, OpCode::Query);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    let Some(query) = request.queries.first() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return response;
    };
    response.add_query(query.clone());
    let name = query.name().to_string();
    let key = name.trim_end_matches('.').to_ascii_lowercase();
    if query.query_type() == RecordType::A {
        queries.lock().unwrap().push(key.clone());
    }
    let known = zone.lock().unwrap().get(&key).cloned();
    match known {
        Some(ips) => {
            if query.query_type() == RecordType::A {
                for ip in ips {
                    response.add_answer(Record::from_rdata(
                        query.name().clone(),
                        0,
                        RData::A(A(ip)),
                    ));
                }
            }
        }
        None => {
            response.metadata.response_code = ResponseCode::NXDomain;
            let origin = Name::from_ascii("test.").unwrap();
            let soa = SOA::new(
                Name::from_ascii("ns.test.").unwrap(),
                Name::from_ascii("admin.test.").unwrap(),
                1,
                60,
                60,
                60,
                // A long negative TTL on purpose: depwait must not cache NXDOMAIN.
                300,
            );
            response.add_authority(Record::from_rdata(origin, 300, RData::SOA(soa)));
        }
    }
    response
}
