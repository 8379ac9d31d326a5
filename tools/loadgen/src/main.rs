//! An external load generator for the RFC 3161 TSA (`POST /tsa`), used by `tools/bench-tsa.sh`.
//!
//! It opens `--connections` HTTP/1.1 connections over TLS (rustls, trusting only `--ca`), keeps
//! each alive, and on each sends one `TimeStampReq` after another for `--seconds`: a SHA-256
//! imprint, `certReq` true and a fresh random 64-bit nonce per request (the request is built once;
//! only the nonce bytes change). A response counts as a token only when it is `200` with
//! `application/timestamp-reply` and its body is a `TimeStampResp` whose status is granted (0) or
//! grantedWithMods (1) and that carries a token; anything else is counted and reported apart.
//!
//! Running outside the server's process lets the benchmark pin the server and the client to
//! different cores and measure the server's own CPU time.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use clap::Parser;
use http_body_util::{BodyExt as _, Full};
use hyper::Request;
use hyper::header::{CONTENT_TYPE, HOST};
use hyper_util::rt::TokioIo;
use rand::RngCore as _;
use rustls::pki_types::ServerName;
use sha2::{Digest as _, Sha256};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Load generator for an RFC 3161 time-stamping authority over HTTPS.
#[derive(Debug, Parser)]
struct Args {
    /// The TSA's URL, e.g. https://127.0.0.1:8443/tsa
    #[arg(long)]
    url: String,
    /// PEM file of the CA that issued the server's TLS certificate (the only root trusted).
    #[arg(long)]
    ca: PathBuf,
    /// Keep-alive connections, each with one request in flight.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    /// Duration of the measurement in seconds (connection set-up is excluded).
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Tokio worker threads of the load generator.
    #[arg(long, default_value_t = 1)]
    threads: usize,
}

/// Offset of the nonce's 8 value bytes in [`request_template`].
const NONCE_AT: usize = 2 + 3 + 2 + 49 + 2;

/// A DER `TimeStampReq` { version 1, messageImprint (SHA-256), nonce (8 bytes), certReq TRUE }.
fn request_template() -> Vec<u8> {
    let imprint = Sha256::digest(b"assize loadgen document");
    let mut der = vec![0x30, 0x43, 0x02, 0x01, 0x01];
    // MessageImprint { AlgorithmIdentifier { id-sha256, NULL }, OCTET STRING (32) }
    der.extend_from_slice(&[0x30, 0x31, 0x30, 0x0d, 0x06, 0x09]);
    der.extend_from_slice(&[
        0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00,
    ]);
    der.extend_from_slice(&[0x04, 0x20]);
    der.extend_from_slice(&imprint);
    der.extend_from_slice(&[0x02, 0x08]);
    debug_assert_eq!(der.len(), NONCE_AT);
    der.extend_from_slice(&[0x01; 8]);
    der.extend_from_slice(&[0x01, 0x01, 0xff]);
    debug_assert_eq!(der.len(), 2 + 0x43);
    der
}

/// The template with a fresh positive, minimally encoded 8-byte nonce.
fn with_fresh_nonce(template: &[u8]) -> Bytes {
    let mut der = template.to_vec();
    let nonce = &mut der[NONCE_AT..NONCE_AT + 8];
    rand::thread_rng().fill_bytes(nonce);
    // First byte 0x01–0x7f: positive, and no redundant leading zero (DER).
    nonce[0] = (nonce[0] & 0x7f).max(1);
    Bytes::from(der)
}

/// Reads a DER header at `at`: (tag, content start, content length).
fn header(der: &[u8], at: usize) -> Option<(u8, usize, usize)> {
    let tag = *der.get(at)?;
    let first = *der.get(at + 1)?;
    if first < 0x80 {
        return Some((tag, at + 2, usize::from(first)));
    }
    let n = usize::from(first & 0x7f);
    if n == 0 || n > 4 {
        return None;
    }
    let mut len = 0usize;
    for i in 0..n {
        len = (len << 8) | usize::from(*der.get(at + 2 + i)?);
    }
    Some((tag, at + 2 + n, len))
}

/// Whether `body` is a `TimeStampResp` with status granted/grantedWithMods and a token.
fn is_granted_token(body: &[u8]) -> bool {
    let Some((0x30, start, len)) = header(body, 0) else {
        return false;
    };
    if start + len != body.len() {
        return false;
    }
    let Some((0x30, status_start, status_len)) = header(body, start) else {
        return false;
    };
    let granted = matches!(
        body.get(status_start..status_start + 3),
        Some([0x02, 0x01, 0x00 | 0x01])
    );
    let token_at = status_start + status_len;
    granted && matches!(header(body, token_at), Some((0x30, s, l)) if s + l == body.len() && l > 0)
}

#[derive(Debug, Default)]
struct Counts {
    granted: AtomicU64,
    not_granted: AtomicU64,
}

struct Target {
    host: String,
    port: u16,
    authority: String,
    path: String,
    server_name: ServerName<'static>,
    tls: TlsConnector,
}

fn target(args: &Args) -> anyhow::Result<Target> {
    let uri: hyper::Uri = args.url.parse().context("--url is not a URL")?;
    if uri.scheme_str() != Some("https") {
        bail!("--url must be https://HOST:PORT/tsa");
    }
    let authority = uri.authority().context("--url has no host")?.clone();
    let host = authority.host().trim_matches(['[', ']']).to_owned();
    let port = authority.port_u16().unwrap_or(443);
    let pem = std::fs::read(&args.ca)
        .with_context(|| format!("cannot read --ca {}", args.ca.display()))?;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_pemfile::certs(&mut pem.as_slice()) {
        roots
            .add(cert.context("--ca holds an unreadable certificate")?)
            .context("--ca holds a certificate rustls refuses")?;
    }
    if roots.is_empty() {
        bail!("--ca {} holds no PEM certificate", args.ca.display());
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Target {
        server_name: ServerName::try_from(host.clone()).context("--url host")?,
        host,
        port,
        authority: authority.to_string(),
        path: uri
            .path_and_query()
            .map_or("/tsa".into(), |p| p.as_str().to_owned()),
        tls: TlsConnector::from(Arc::new(config)),
    })
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(t: &Target) -> anyhow::Result<Sender> {
    let tcp = TcpStream::connect((t.host.as_str(), t.port))
        .await
        .with_context(|| format!("cannot connect to {}:{}", t.host, t.port))?;
    tcp.set_nodelay(true)?;
    let tls = t
        .tls
        .connect(t.server_name.clone(), tcp)
        .await
        .context("TLS handshake failed")?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            eprintln!("loadgen: connection ended: {e}");
        }
    });
    Ok(sender)
}

async fn run_connection(
    t: Arc<Target>,
    mut sender: Sender,
    template: Arc<Vec<u8>>,
    counts: Arc<Counts>,
    deadline: Instant,
) -> anyhow::Result<()> {
    while Instant::now() < deadline {
        sender.ready().await?;
        let req = Request::post(t.path.as_str())
            .header(HOST, t.authority.as_str())
            .header(CONTENT_TYPE, "application/timestamp-query")
            .body(Full::new(with_fresh_nonce(&template)))?;
        let resp = sender.send_request(req).await?;
        let ok_status = resp.status() == hyper::StatusCode::OK
            && resp.headers().get(CONTENT_TYPE).map(|v| v.as_bytes())
                == Some(b"application/timestamp-reply");
        let body = resp.into_body().collect().await?.to_bytes();
        if ok_status && is_granted_token(&body) {
            counts.granted.fetch_add(1, Ordering::Relaxed);
        } else if counts.not_granted.fetch_add(1, Ordering::Relaxed) == 0 {
            eprintln!(
                "loadgen: first response that is not a granted token: {} bytes, starts {:02x?}",
                body.len(),
                &body[..body.len().min(32)]
            );
        }
    }
    Ok(())
}

async fn run(args: Args) -> anyhow::Result<()> {
    let t = Arc::new(target(&args)?);
    let template = Arc::new(request_template());
    let counts = Arc::new(Counts::default());
    // Open every connection first, so that the measured interval is steady-state keep-alive.
    let mut senders = Vec::with_capacity(args.connections);
    for _ in 0..args.connections {
        senders.push(connect(&t).await?);
    }
    let started = Instant::now();
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let tasks: Vec<_> = senders
        .into_iter()
        .map(|sender| {
            tokio::spawn(run_connection(
                t.clone(),
                sender,
                template.clone(),
                counts.clone(),
                deadline,
            ))
        })
        .collect();
    let mut failed = 0;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                failed += 1;
                eprintln!("loadgen: a connection failed: {e:#}");
            }
            Err(e) => {
                failed += 1;
                eprintln!("loadgen: a connection task failed: {e}");
            }
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let granted = counts.granted.load(Ordering::Relaxed);
    let other = counts.not_granted.load(Ordering::Relaxed);
    print_result(&format!(
        "connections={} seconds={elapsed:.2} tokens={granted} not_granted={other} failed_connections={failed} tokens_per_s={:.0}",
        args.connections,
        granted as f64 / elapsed
    ));
    if other > 0 || failed > 0 {
        bail!("{other} responses were not granted tokens and {failed} connections failed");
    }
    Ok(())
}

/// The result: one line, key=value, on standard output for tools/bench-tsa.sh to read.
#[allow(clippy::print_stdout)]
fn print_result(line: &str) {
    println!("{line}");
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if args.connections == 0
        || args.threads == 0
        || args.seconds.partial_cmp(&0.0).is_none_or(|o| o.is_le())
    {
        bail!("--connections, --threads and --seconds must be positive");
    }
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads)
        .enable_all()
        .build()?
        .block_on(run(args))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_request_is_the_der_openssl_would_parse() {
        let req = with_fresh_nonce(&request_template());
        assert_eq!(req.len(), 69);
        assert_eq!(header(&req, 0), Some((0x30, 2, 0x43)));
        // The nonce INTEGER is 8 bytes, positive and minimal.
        assert_eq!(&req[NONCE_AT - 2..NONCE_AT], &[0x02, 0x08]);
        assert!((0x01..=0x7f).contains(&req[NONCE_AT]));
        assert_eq!(&req[req.len() - 3..], &[0x01, 0x01, 0xff]);
    }

    #[test]
    fn openssl_reads_the_request_as_sha256_with_nonce_and_cert_req() {
        let path = std::env::temp_dir().join(format!("assize-loadgen-{}.tsq", std::process::id()));
        std::fs::write(&path, with_fresh_nonce(&request_template())).unwrap();
        let out = std::process::Command::new("openssl")
            .args(["ts", "-query", "-text", "-in"])
            .arg(&path)
            .output()
            .expect("the openssl CLI must be installed for this test");
        std::fs::remove_file(&path).ok();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("Hash Algorithm: sha256"), "{text}");
        assert!(text.contains("Nonce: 0x"), "{text}");
        assert!(text.contains("Certificate required: yes"), "{text}");
    }

    #[test]
    fn only_granted_responses_with_a_token_count() {
        // status granted + a (toy) token SEQUENCE
        assert!(is_granted_token(&[
            0x30, 0x09, 0x30, 0x03, 0x02, 0x01, 0x00, 0x30, 0x02, 0x05, 0x00
        ]));
        // rejection (2) without token
        assert!(!is_granted_token(&[
            0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x02
        ]));
        // granted but no token
        assert!(!is_granted_token(&[
            0x30, 0x05, 0x30, 0x03, 0x02, 0x01, 0x00
        ]));
        // truncated
        assert!(!is_granted_token(&[
            0x30, 0x09, 0x30, 0x03, 0x02, 0x01, 0x00
        ]));
        assert!(!is_granted_token(&[]));
    }
}
