//! An S3 endpoint that fails or stalls in the middle of an upload, through a
//! fault-injecting proxy between the server and moto: the upload is refused with a
//! clear storage error, the server goes on, the table keeps its previous version
//! (never part of the new month), the audit chain holds, and the month can be sent
//! again once the store is back.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicU8, AtomicU64, Ordering};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::s3::{Moto, count, parcels, upload};
use crate::server::Server;

/// What the proxy does to the traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(crate) enum Fault {
    /// Forwards everything.
    None = 0,
    /// Forwards until the first write of a parcels data file, then fails from there on.
    FailAtDataWrite = 1,
    /// Forwards until the first write of a parcels data file, then stalls from there on.
    StallAtDataWrite = 2,
    /// Every connection is cut and new ones are closed at once.
    Failing = 3,
    /// Nothing is forwarded; connections are held open without an answer.
    Stalled = 4,
}

impl Fault {
    fn from_u8(value: u8) -> Fault {
        [
            Fault::None,
            Fault::FailAtDataWrite,
            Fault::StallAtDataWrite,
            Fault::Failing,
            Fault::Stalled,
        ][usize::from(value)]
    }
}

/// A TCP proxy in front of moto that injects [`Fault`]s.
pub(crate) struct FaultProxy {
    pub(crate) endpoint: String,
    fault: Arc<AtomicU8>,
    /// Bumped when the fault is lifted: connections of the faulty time are closed so
    /// that nothing they held is delivered late.
    generation: Arc<AtomicU64>,
}

impl FaultProxy {
    pub(crate) fn start(upstream: &str) -> FaultProxy {
        let upstream = upstream.trim_start_matches("http://").to_owned();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let fault = Arc::new(AtomicU8::new(Fault::None as u8));
        let generation = Arc::new(AtomicU64::new(0));
        let (f, g) = (fault.clone(), generation.clone());
        std::thread::spawn(move || {
            for client in listener.incoming().flatten() {
                if Fault::from_u8(f.load(Ordering::SeqCst)) == Fault::Failing {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(&upstream) else {
                    continue;
                };
                let born = g.load(Ordering::SeqCst);
                for (from, to, outbound) in [
                    (
                        client.try_clone().unwrap(),
                        server.try_clone().unwrap(),
                        true,
                    ),
                    (server, client, false),
                ] {
                    let (f, g) = (f.clone(), g.clone());
                    std::thread::spawn(move || pump(from, to, outbound, &f, &g, born));
                }
            }
        });
        FaultProxy {
            endpoint,
            fault,
            generation,
        }
    }

    pub(crate) fn set(&self, fault: Fault) {
        if fault == Fault::None {
            self.generation.fetch_add(1, Ordering::SeqCst);
        }
        self.fault.store(fault as u8, Ordering::SeqCst);
    }

    pub(crate) fn fault(&self) -> Fault {
        Fault::from_u8(self.fault.load(Ordering::SeqCst))
    }
}

/// Whether a chunk going to S3 starts the write of a parcels data file (a PUT, or the
/// POST of a multipart upload, of a Parquet file; not a commit to `_delta_log`).
fn writes_parcels_data(chunk: &[u8]) -> bool {
    let head = String::from_utf8_lossy(&chunk[..chunk.len().min(300)]);
    let line = head.lines().next().unwrap_or("");
    (line.starts_with("PUT ") || line.starts_with("POST "))
        && line.contains("/tables/logistics/parcels/")
        && !line.contains("_delta_log")
}

/// Copies one direction of a connection, applying the fault.
fn pump(
    mut from: TcpStream,
    mut to: TcpStream,
    outbound: bool,
    fault: &AtomicU8,
    generation: &AtomicU64,
    born: u64,
) {
    let close = |a: &TcpStream, b: &TcpStream| {
        let _ = a.shutdown(Shutdown::Both);
        let _ = b.shutdown(Shutdown::Both);
    };
    from.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buffer = vec![0u8; 64 << 10];
    loop {
        if generation.load(Ordering::SeqCst) != born {
            return close(&from, &to);
        }
        match Fault::from_u8(fault.load(Ordering::SeqCst)) {
            Fault::Failing => return close(&from, &to),
            Fault::Stalled => {
                std::thread::sleep(Duration::from_millis(50));
                continue;
            }
            _ => {}
        }
        let n = match from.read(&mut buffer) {
            Ok(0) => {
                let _ = to.shutdown(Shutdown::Write);
                return;
            }
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(_) => return close(&from, &to),
        };
        if outbound && writes_parcels_data(&buffer[..n]) {
            let armed = Fault::from_u8(fault.load(Ordering::SeqCst));
            let next = match armed {
                Fault::FailAtDataWrite => Some(Fault::Failing),
                Fault::StallAtDataWrite => Some(Fault::Stalled),
                _ => None,
            };
            if let Some(next) = next {
                fault.store(next as u8, Ordering::SeqCst);
                continue; // this chunk never reaches S3
            }
        }
        if to.write_all(&buffer[..n]).is_err() {
            return close(&from, &to);
        }
    }
}

#[test]
fn an_s3_endpoint_failing_or_stalling_mid_upload_leaves_the_previous_version() {
    let moto = Moto::start();
    let proxy = FaultProxy::start(&moto.endpoint);
    let work = tempfile::tempdir().unwrap();
    let (post, analyst) = moto.county_with_towns(work.path());
    // The server reaches S3 through the proxy only, and gives up on a request after 3 s.
    let mut command = moto.sannong_at(crate::s3::DATA);
    command
        .env("AWS_ENDPOINT_URL", &proxy.endpoint)
        .env("SANNONG_S3_TIMEOUT", "3");
    let server = Server::spawn(command, &work.path().join("server.log"), &[]);
    upload(&server, &post, "2021-03", parcels("A", "2021-03", 50));
    assert_eq!(count(&server, &analyst), 50);

    for (armed, struck) in [
        (Fault::FailAtDataWrite, Fault::Failing),
        (Fault::StallAtDataWrite, Fault::Stalled),
    ] {
        proxy.set(armed);
        let response = server
            .post(
                "/api/uploads?duty=parcels&period=2021-04&file_name=april.csv",
                Some(&post),
            )
            .body(parcels("B", "2021-04", 200_000))
            .send()
            .unwrap();
        assert_eq!(
            proxy.fault(),
            struck,
            "the fault struck while the data was being written"
        );
        let status = response.status();
        let body: Value = response.json().unwrap();
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{armed:?}: {body}");
        assert_eq!(body["error"]["code"], "storage", "{body}");
        let message = body["error"]["message_en"].as_str().unwrap();
        assert!(
            message.contains("committing to logistics.parcels")
                && message.contains("/_period%3D2021-04/"),
            "the upload's own failure is told, naming the table and the write: {message}"
        );
        proxy.set(Fault::None);
        // The server went on; the table is at its previous version, nothing of April.
        assert_eq!(
            server.get("/api/health", None).send().unwrap().status(),
            StatusCode::OK
        );
        assert_eq!(count(&server, &analyst), 50, "{armed:?}");
    }
    // The store is back: the month can be sent again, and the audit chain holds.
    upload(&server, &post, "2021-04", parcels("B", "2021-04", 20));
    assert_eq!(count(&server, &analyst), 70);
    drop(server);
    let verified = moto.run(&["audit", "verify"]);
    assert!(verified.contains("verified"), "{verified}");
}
