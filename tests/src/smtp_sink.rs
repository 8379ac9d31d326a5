//! An SMTP server for tests: speaks enough real SMTP (RFC 5321) for a real client — EHLO/HELO,
//! STARTTLS (RFC 3207) or TLS from the first byte, AUTH PLAIN (RFC 4616), MAIL FROM, RCPT TO,
//! DATA with dot-unstuffing, RSET, NOOP, QUIT — and records every message it accepts.
//!
//! Its certificate (for `localhost`, `127.0.0.1` and `::1`) is issued by a CA of its own, made
//! with rcgen; [`SmtpSink::ca_pem`] is what a client must trust. A sink can be stopped (the port
//! refuses connections, open ones are cut) and started again on the same port, keeping its
//! record: that is how tests play an SMTP server that is down for a while.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use tokio::io::{
    AsyncBufReadExt as _, AsyncRead, AsyncReadExt as _, AsyncWrite, AsyncWriteExt as _, BufReader,
};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;

/// The longest command or data line accepted (RFC 5321 allows 1000 octets; be lenient).
const MAX_LINE: u64 = 64 * 1024;
/// The largest message accepted.
const MAX_MESSAGE: usize = 50 * 1024 * 1024;

/// How clients reach the sink.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SinkTls {
    /// Plain SMTP; STARTTLS is not offered.
    None,
    /// Plain SMTP that offers STARTTLS.
    StartTls,
    /// TLS from the first byte (port 465 style).
    Implicit,
}

/// One accepted message.
#[derive(Clone, Debug)]
pub struct ReceivedMail {
    /// The envelope sender (MAIL FROM), without angle brackets.
    pub mail_from: String,
    /// The envelope recipients (RCPT TO), without angle brackets.
    pub rcpt_to: Vec<String>,
    /// The message as the client meant it: dot-unstuffed, CRLF line endings kept, without the
    /// final `.` line.
    pub data: Vec<u8>,
    /// Whether the message came over TLS.
    pub tls: bool,
    /// The user name and password of AUTH PLAIN, if the client authenticated.
    pub auth: Option<(String, String)>,
}

impl ReceivedMail {
    /// The message as (lossy) text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

type Record = Arc<Mutex<Vec<ReceivedMail>>>;

/// A running (or stopped) SMTP sink.
pub struct SmtpSink {
    addr: SocketAddr,
    tls: SinkTls,
    acceptor: TlsAcceptor,
    ca_pem: String,
    received: Record,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for SmtpSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmtpSink")
            .field("addr", &self.addr)
            .field("tls", &self.tls)
            .field("running", &self.task.is_some())
            .finish_non_exhaustive()
    }
}

impl SmtpSink {
    /// Starts a sink on a free port of 127.0.0.1.
    ///
    /// # Panics
    /// When no port can be bound or the certificate cannot be made.
    pub async fn start(tls: SinkTls) -> Self {
        Self::start_on(0, tls).await
    }

    /// Starts a sink on `port` of 127.0.0.1 (0: a free one).
    ///
    /// # Panics
    /// When the port cannot be bound or the certificate cannot be made.
    pub async fn start_on(port: u16, tls: SinkTls) -> Self {
        let (acceptor, ca_pem) = tls_identity();
        let mut sink = Self {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            tls,
            acceptor,
            ca_pem,
            received: Record::default(),
            task: None,
        };
        sink.resume().await;
        sink
    }

    /// Listens again on the same port (after [`SmtpSink::stop`]), keeping the record.
    ///
    /// # Panics
    /// When the port cannot be bound (another process took it).
    pub async fn resume(&mut self) {
        if self.task.is_some() {
            return;
        }
        let listener = TcpListener::bind(self.addr)
            .await
            .expect("the SMTP sink binds its port");
        self.addr = listener.local_addr().expect("a bound address");
        let (tls, acceptor, received) = (self.tls, self.acceptor.clone(), self.received.clone());
        self.task = Some(tokio::spawn(async move {
            // Connections live in this set: stopping the sink drops it, which cuts them all.
            let mut connections = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        let (acceptor, received) = (acceptor.clone(), received.clone());
                        connections.spawn(async move {
                            let _ = serve(stream, tls, acceptor, received).await;
                        });
                    }
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
        }));
    }

    /// Stops listening and cuts every open connection; the port refuses connections until
    /// [`SmtpSink::resume`].
    pub async fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
    }

    /// Where the sink listens.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate (PEM) that issued the sink's TLS certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// Every message accepted so far, in order.
    ///
    /// # Panics
    /// When a connection task panicked while holding the record.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.received
            .lock()
            .expect("the record is not poisoned")
            .clone()
    }

    /// Polls until `done` holds for the record, or `deadline` passes; returns the record.
    ///
    /// # Panics
    /// When the deadline passes first.
    pub async fn wait_until(
        &self,
        deadline: Duration,
        what: &str,
        done: impl Fn(&[ReceivedMail]) -> bool,
    ) -> Vec<ReceivedMail> {
        let give_up = tokio::time::Instant::now() + deadline;
        loop {
            let got = self.received();
            if done(&got) {
                return got;
            }
            assert!(
                tokio::time::Instant::now() < give_up,
                "the SMTP sink did not see {what} within {deadline:?}; it has {} message(s)",
                got.len()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

impl Drop for SmtpSink {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// A fresh CA and a server certificate for localhost/127.0.0.1/::1 signed by it.
fn tls_identity() -> (TlsAcceptor, String) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let ca_key = KeyPair::generate().expect("a CA key");
    let mut ca = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
    ca.distinguished_name
        .push(DnType::CommonName, "Assize test SMTP CA");
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    let ca_cert = ca.self_signed(&ca_key).expect("the CA signs itself");

    let key = KeyPair::generate().expect("a server key");
    let mut leaf = CertificateParams::new(vec![
        "localhost".to_string(),
        "127.0.0.1".to_string(),
        "::1".to_string(),
    ])
    .expect("server parameters");
    leaf.distinguished_name
        .push(DnType::CommonName, "Assize test SMTP sink");
    leaf.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ServerAuth];
    let cert = leaf
        .signed_by(&key, &ca_cert, &ca_key)
        .expect("the CA signs the server certificate");

    let config = rustls::ServerConfig::builder_with_provider(assize_server::tls::provider())
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .expect("a TLS configuration");
    (TlsAcceptor::from(Arc::new(config)), ca_cert.pem())
}

trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

/// One SMTP session.
#[derive(Default)]
struct Session {
    greeted: bool,
    tls: bool,
    auth: Option<(String, String)>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

impl Session {
    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }
}

async fn serve(
    stream: TcpStream,
    mode: SinkTls,
    acceptor: TlsAcceptor,
    received: Record,
) -> std::io::Result<()> {
    let mut session = Session::default();
    let io: Box<dyn Io> = if mode == SinkTls::Implicit {
        session.tls = true;
        Box::new(acceptor.accept(stream).await?)
    } else {
        Box::new(stream)
    };
    let mut conn = BufReader::new(io);
    reply(&mut conn, "220 sink.test ESMTP Assize test sink").await?;
    loop {
        let Some(line) = read_line(&mut conn).await? else {
            return Ok(());
        };
        let line = String::from_utf8_lossy(&line);
        let line = line.trim_end_matches(['\r', '\n']);
        let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
        match verb.to_ascii_uppercase().as_str() {
            "EHLO" => {
                session.greeted = true;
                session.reset_transaction();
                let mut lines = vec!["sink.test greets you", "8BITMIME", "SIZE 52428800"];
                if mode == SinkTls::StartTls && !session.tls {
                    lines.push("STARTTLS");
                }
                lines.push("AUTH PLAIN");
                let last = lines.len() - 1;
                let text: String = lines
                    .iter()
                    .enumerate()
                    .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
                    .collect();
                conn.get_mut().write_all(text.as_bytes()).await?;
                conn.get_mut().flush().await?;
            }
            "HELO" => {
                session.greeted = true;
                session.reset_transaction();
                reply(&mut conn, "250 sink.test").await?;
            }
            "STARTTLS" if mode == SinkTls::StartTls && !session.tls => {
                reply(&mut conn, "220 2.0.0 Ready to start TLS").await?;
                // RFC 3207: anything the client sent before the handshake is discarded, and the
                // session starts over (a new EHLO is required).
                let io = conn.into_inner();
                let tls = acceptor.accept(io).await?;
                conn = BufReader::new(Box::new(tls));
                session = Session {
                    tls: true,
                    ..Session::default()
                };
            }
            "STARTTLS" => reply(&mut conn, "454 4.7.0 TLS not available").await?,
            "AUTH" => {
                let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
                if !mechanism.eq_ignore_ascii_case("PLAIN") {
                    reply(&mut conn, "504 5.5.4 Unrecognized authentication type").await?;
                    continue;
                }
                let encoded = if initial.is_empty() {
                    reply(&mut conn, "334 ").await?;
                    let Some(l) = read_line(&mut conn).await? else {
                        return Ok(());
                    };
                    String::from_utf8_lossy(&l).trim().to_string()
                } else {
                    initial.trim().to_string()
                };
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded)
                    .unwrap_or_default();
                let mut fields = decoded.split(|&b| b == 0).skip(1);
                match (fields.next(), fields.next()) {
                    (Some(user), Some(password)) => {
                        session.auth = Some((
                            String::from_utf8_lossy(user).into_owned(),
                            String::from_utf8_lossy(password).into_owned(),
                        ));
                        reply(&mut conn, "235 2.7.0 Authentication successful").await?;
                    }
                    _ => reply(&mut conn, "501 5.5.2 Cannot decode AUTH PLAIN").await?,
                }
            }
            "MAIL" if !session.greeted => reply(&mut conn, "503 5.5.1 EHLO first").await?,
            "MAIL" => match path_argument(arg, "FROM:") {
                Some(from) => {
                    session.reset_transaction();
                    session.mail_from = Some(from);
                    reply(&mut conn, "250 2.1.0 OK").await?;
                }
                None => reply(&mut conn, "501 5.5.4 Syntax: MAIL FROM:<address>").await?,
            },
            "RCPT" if session.mail_from.is_none() => {
                reply(&mut conn, "503 5.5.1 MAIL first").await?;
            }
            "RCPT" => match path_argument(arg, "TO:") {
                Some(to) => {
                    session.rcpt_to.push(to);
                    reply(&mut conn, "250 2.1.5 OK").await?;
                }
                None => reply(&mut conn, "501 5.5.4 Syntax: RCPT TO:<address>").await?,
            },
            "DATA" if session.rcpt_to.is_empty() => {
                reply(&mut conn, "503 5.5.1 RCPT first").await?;
            }
            "DATA" => {
                reply(&mut conn, "354 End data with <CR><LF>.<CR><LF>").await?;
                let Some(data) = read_data(&mut conn).await? else {
                    return Ok(());
                };
                let mail = ReceivedMail {
                    mail_from: session.mail_from.take().unwrap_or_default(),
                    rcpt_to: std::mem::take(&mut session.rcpt_to),
                    data,
                    tls: session.tls,
                    auth: session.auth.clone(),
                };
                let n = {
                    let mut record = received.lock().expect("the record is not poisoned");
                    record.push(mail);
                    record.len()
                };
                reply(&mut conn, &format!("250 2.0.0 OK queued as {n}")).await?;
            }
            "RSET" => {
                session.reset_transaction();
                reply(&mut conn, "250 2.0.0 OK").await?;
            }
            "NOOP" => reply(&mut conn, "250 2.0.0 OK").await?,
            "QUIT" => {
                reply(&mut conn, "221 2.0.0 Bye").await?;
                return Ok(());
            }
            _ => reply(&mut conn, "502 5.5.2 Command not implemented").await?,
        }
    }
}

async fn reply(conn: &mut BufReader<Box<dyn Io>>, line: &str) -> std::io::Result<()> {
    let w = conn.get_mut();
    w.write_all(line.as_bytes()).await?;
    w.write_all(b"\r\n").await?;
    w.flush().await
}

/// One line including its line ending; `None` at end of stream.
async fn read_line(conn: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<Vec<u8>>> {
    let mut line = Vec::new();
    let n = (&mut *conn)
        .take(MAX_LINE)
        .read_until(b'\n', &mut line)
        .await?;
    Ok((n > 0).then_some(line))
}

/// The DATA section up to the lone `.` line, dot-unstuffed (RFC 5321 §4.5.2).
async fn read_data(conn: &mut BufReader<Box<dyn Io>>) -> std::io::Result<Option<Vec<u8>>> {
    let mut data = Vec::new();
    loop {
        let Some(line) = read_line(conn).await? else {
            return Ok(None);
        };
        if line == b".\r\n" || line == b".\n" {
            return Ok(Some(data));
        }
        let unstuffed = line.strip_prefix(b".").unwrap_or(&line);
        if data.len() + unstuffed.len() > MAX_MESSAGE {
            return Err(std::io::Error::other("message too large"));
        }
        data.extend_from_slice(unstuffed);
    }
}

/// The address inside `FROM:<a@b> PARAMS` / `TO:<a@b>`.
fn path_argument(arg: &str, keyword: &str) -> Option<String> {
    let rest = arg.get(..keyword.len())?;
    if !rest.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let inner = rest.strip_prefix('<')?;
    let end = inner.find('>')?;
    Some(inner[..end].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_from_mail_and_rcpt_arguments() {
        assert_eq!(
            path_argument("FROM:<a@b.example> SIZE=10", "FROM:").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            path_argument("to: <c@d.example>", "TO:").as_deref(),
            Some("c@d.example")
        );
        assert_eq!(path_argument("FROM:<>", "FROM:").as_deref(), Some(""));
        assert_eq!(path_argument("FROM:a@b", "FROM:"), None);
        assert_eq!(path_argument("", "TO:"), None);
    }
}
