//! E-mail: the outbox, the SMTP dispatcher and S/MIME, against a real SMTP conversation
//! (`assize_tests::smtp_sink`). No test depends on how fast anything happens: each polls for
//! the state it expects, with a generous deadline.
// Test helpers may unwrap: a failure is the test failing.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use assize_server::app::Application;
use assize_server::config::{DatabaseKind, MailTls, Settings};
use assize_server::mail::dispatch::{Dispatcher, RetryPolicy, smtp_transport};
use assize_server::mail::{self, MailKind, OutgoingMail, smime};
use assize_server::metrics::Metrics;
use assize_server::pki::DataDir;
use assize_server::policy::Role;
use assize_server::store::{OutboxRecord, Store};
use assize_tests::smtp_sink::{SinkTls, SmtpSink};
use assize_tests::{TestApp, spawn_app, spawn_app_with};

/// Long enough for any machine; the tests poll and finish as soon as the state is reached.
const DEADLINE: Duration = Duration::from_secs(60);

const FROM: &str = "Assize <assize@court.example>";

/// Settings that send to `sink` quickly: short polls, one-second retries.
fn send_to(sink: &SmtpSink, tls: MailTls) -> impl FnOnce(&mut Settings) {
    let port = sink.addr().port();
    move |s: &mut Settings| {
        s.mail.smtp_host = "127.0.0.1".into();
        s.mail.smtp_port = Some(port);
        s.mail.tls = tls;
        s.mail.from = FROM.into();
        s.mail.poll_interval_ms = 100;
        s.mail.retry_initial_secs = 1;
        s.mail.retry_max_secs = 2;
    }
}

fn notice(to: &str, subject: &str) -> OutgoingMail {
    OutgoingMail::notice(
        FROM,
        [to],
        subject,
        "The deadline for request 2026/17 runs out tomorrow.\n",
    )
    .unwrap()
}

/// Polls the outbox row `id` until `done` holds.
async fn wait_for_row(
    app: &TestApp,
    id: &str,
    what: &str,
    done: impl Fn(&OutboxRecord) -> bool,
) -> OutboxRecord {
    let give_up = tokio::time::Instant::now() + DEADLINE;
    loop {
        let row = app.store.outbox_record(id).await.unwrap().expect("the row");
        if done(&row) {
            return row;
        }
        assert!(
            tokio::time::Instant::now() < give_up,
            "{what} did not happen within {DEADLINE:?}: {row:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn mail_queued_while_the_smtp_server_is_down_is_delivered_exactly_once_when_it_comes_up() {
    let mut sink = SmtpSink::start(SinkTls::None).await;
    sink.stop().await;
    let app = spawn_app_with(send_to(&sink, MailTls::None)).await;
    let mail = notice("officer@ca.example", "Deadline tomorrow");

    let id = app.store.enqueue_mail(&mail).await.unwrap();
    let failed = wait_for_row(&app, &id, "a failed attempt", |r| r.attempts >= 1).await;
    assert!(failed.sent_at.is_none());
    assert!(failed.last_error.is_some(), "{failed:?}");
    let queue = app.store.unsent_mail(100).await.unwrap();
    assert_eq!(queue.len(), 1, "the message waits in the outbox: {queue:?}");
    assert_eq!(queue[0].recipients, ["officer@ca.example"]);

    sink.resume().await;
    let sent = wait_for_row(&app, &id, "delivery", |r| r.sent_at.is_some()).await;
    assert!(sent.last_error.is_none());
    // A later message arriving proves the dispatcher went on; the first arrived exactly once.
    let marker = app
        .store
        .enqueue_mail(&notice("officer@ca.example", "Marker"))
        .await
        .unwrap();
    wait_for_row(&app, &marker, "the marker's delivery", |r| {
        r.sent_at.is_some()
    })
    .await;
    let got = sink
        .wait_until(DEADLINE, "two messages", |m| m.len() >= 2)
        .await;
    let copies: Vec<_> = got.iter().filter(|m| m.data == mail.message()).collect();
    assert_eq!(copies.len(), 1, "delivered exactly once, byte for byte");
    assert_eq!(copies[0].mail_from, "assize@court.example");
    assert_eq!(copies[0].rcpt_to, ["officer@ca.example"]);
    assert_eq!(got.len(), 2);
    assert!(app.store.unsent_mail(100).await.unwrap().is_empty());

    // The outbox is visible to monitoring.
    let admin = app.token_client(&[Role::Administrator]).await;
    let give_up = tokio::time::Instant::now() + DEADLINE;
    loop {
        let text = admin
            .http
            .get(format!("{}/metrics", app.url))
            .bearer_auth(admin.bearer.as_ref().unwrap())
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        if text.contains("assize_mail_outbox_depth 0") {
            assert!(text.contains("assize_mail_sent_total 2"), "{text}");
            assert!(
                !text.contains("assize_mail_send_failures_total 0"),
                "{text}"
            );
            break;
        }
        assert!(tokio::time::Instant::now() < give_up, "{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn mail_goes_over_starttls_with_the_password_to_a_server_trusted_through_ca_file() {
    let sink = SmtpSink::start(SinkTls::StartTls).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("smtp-ca.pem");
    std::fs::write(&ca, sink.ca_pem()).unwrap();
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "s3cret pass\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o600)).unwrap();
    let app = spawn_app_with(|s| {
        send_to(&sink, MailTls::Starttls)(s);
        s.mail.smtp_host = "localhost".into();
        s.mail.ca_file = ca.display().to_string();
        s.mail.username = "assize".into();
        s.mail.password_file = password.display().to_string();
    })
    .await;

    // Mail written in a transaction that is rolled back never exists; committed mail is sent.
    let mut conn = <sqlx::AnyConnection as sqlx::Connection>::connect(&app.database_url)
        .await
        .unwrap();
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    let rolled_back = mail::enqueue(&mut tx, &notice("officer@ca.example", "Never"))
        .await
        .unwrap();
    tx.rollback().await.unwrap();
    let mut tx = sqlx::Connection::begin(&mut conn).await.unwrap();
    let committed = mail::enqueue(&mut tx, &notice("officer@ca.example", "Arrival"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    drop(conn);

    wait_for_row(&app, &committed, "delivery", |r| r.sent_at.is_some()).await;
    let got = sink.received();
    assert_eq!(got.len(), 1, "only the committed message");
    assert!(got[0].tls, "sent after STARTTLS");
    assert_eq!(
        got[0].auth,
        Some(("assize".to_string(), "s3cret pass".to_string()))
    );
    assert!(got[0].text().contains("Subject: Arrival\r\n"));
    assert!(
        app.store
            .outbox_record(&rolled_back)
            .await
            .unwrap()
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn mail_goes_over_implicit_tls() {
    let sink = SmtpSink::start(SinkTls::Implicit).await;
    let dir = tempfile::tempdir().unwrap();
    let ca = dir.path().join("smtp-ca.pem");
    std::fs::write(&ca, sink.ca_pem()).unwrap();
    let app = spawn_app_with(|s| {
        send_to(&sink, MailTls::Implicit)(s);
        s.mail.ca_file = ca.display().to_string();
    })
    .await;
    let mail = notice("officer@ca.example", "Arrival");
    let id = app.store.enqueue_mail(&mail).await.unwrap();
    wait_for_row(&app, &id, "delivery", |r| r.sent_at.is_some()).await;
    let got = sink.received();
    assert_eq!(got.len(), 1);
    assert!(got[0].tls && got[0].auth.is_none());
    assert_eq!(got[0].data, mail.message());
    app.stop().await;
}

#[tokio::test]
async fn an_smtp_server_with_an_untrusted_certificate_gets_no_mail_and_the_mail_waits() {
    let sink = SmtpSink::start(SinkTls::StartTls).await;
    // No ca_file: the sink's private CA is not trusted.
    let app = spawn_app_with(send_to(&sink, MailTls::Starttls)).await;
    let id = app
        .store
        .enqueue_mail(&notice("officer@ca.example", "Deadline"))
        .await
        .unwrap();
    let row = wait_for_row(&app, &id, "a failed attempt", |r| r.attempts >= 1).await;
    assert!(row.sent_at.is_none());
    let error = row.last_error.unwrap_or_default().to_lowercase();
    assert!(error.contains("certificate"), "{error}");
    assert!(sink.received().is_empty());
    app.stop().await;
}

#[tokio::test]
async fn an_smime_request_received_by_the_smtp_server_verifies_with_openssl() {
    let sink = SmtpSink::start(SinkTls::None).await;
    let app = spawn_app_with(send_to(&sink, MailTls::None)).await;
    let to = ["central.authority@justice.example"];
    let signed = smime::signed_by_server(
        &DataDir::at(&app.data_dir),
        FROM,
        &to,
        "Request for mutual legal assistance 2026/17",
        "Please find the request attached.\n\n.A line that starts with a dot.\nKind regards\n",
        &[(
            "request.pdf",
            "application/pdf",
            b"%PDF-1.7\n\x00\x01\xfe\xff not really a PDF\n",
        )],
    )
    .unwrap();
    let mail = OutgoingMail::prebuilt(
        MailKind::Signed,
        to,
        "Request for mutual legal assistance 2026/17",
        signed,
    )
    .unwrap();
    let id = app.store.enqueue_mail(&mail).await.unwrap();
    wait_for_row(&app, &id, "delivery", |r| r.sent_at.is_some()).await;
    let got = sink
        .wait_until(DEADLINE, "the request", |m| !m.is_empty())
        .await;
    assert_eq!(got[0].data, mail.message(), "sent unchanged");
    assert_eq!(got[0].rcpt_to, to);

    let dir = tempfile::tempdir().unwrap();
    let ca = app.data_dir.join("pki/ca.crt");
    let verify = |name: &str, bytes: &[u8]| {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        Command::new("openssl")
            .args(["smime", "-verify", "-in"])
            .arg(&path)
            .arg("-CAfile")
            .arg(&ca)
            .arg("-out")
            .arg(dir.path().join(format!("{name}.content")))
            .output()
            .expect("the openssl command runs")
    };
    let ok = verify("request.eml", &got[0].data);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let content = std::fs::read_to_string(dir.path().join("request.eml.content")).unwrap();
    assert!(
        content.contains("Please find the request attached."),
        "{content}"
    );
    assert!(content.contains("filename=\"request.pdf\""), "{content}");

    let text = got[0].text();
    let at = text.find("Please find").unwrap();
    let mut tampered = got[0].data.clone();
    tampered[at] = b'p';
    let bad = verify("tampered.eml", &tampered);
    assert!(
        !bad.status.success(),
        "a one-byte change must break the signature"
    );
    app.stop().await;
}

#[tokio::test]
async fn several_dispatchers_on_one_database_send_each_message_once() {
    let sink = SmtpSink::start(SinkTls::None).await;
    let app = spawn_app_with(send_to(&sink, MailTls::None)).await;
    let mut ids = Vec::new();
    for i in 0..30 {
        let m = notice(&format!("officer{i}@ca.example"), &format!("Notice {i}"));
        ids.push(app.store.enqueue_mail(&m).await.unwrap());
    }
    // Three more dispatchers (as other servers on the same database would run) race the
    // server's own.
    let mut settings = Settings::default();
    send_to(&sink, MailTls::None)(&mut settings);
    let kind = if app.on_postgres() {
        DatabaseKind::Postgres
    } else {
        DatabaseKind::Sqlite
    };
    let mut racers = Vec::new();
    for _ in 0..3 {
        let store = Store::connect(&app.database_url, kind).await.unwrap();
        let transport = smtp_transport(&settings.mail).unwrap().unwrap();
        let dispatcher = Dispatcher::new(
            store.clone(),
            Some(Box::new(transport)),
            "assize@court.example".parse().unwrap(),
            RetryPolicy::from_settings(&settings.mail),
            Arc::new(Metrics::new()),
        );
        racers.push(tokio::spawn(async move {
            while store.mail_outbox_depth().await.unwrap() > 0 {
                dispatcher
                    .send_due(assize_server::store::now())
                    .await
                    .unwrap();
                tokio::task::yield_now().await;
            }
        }));
    }
    for r in racers {
        r.await.unwrap();
    }
    let got = sink
        .wait_until(DEADLINE, "30 messages", |m| m.len() >= 30)
        .await;
    for id in &ids {
        assert!(
            app.store
                .outbox_record(id)
                .await
                .unwrap()
                .unwrap()
                .sent_at
                .is_some()
        );
    }
    let mut recipients: Vec<String> = got.iter().flat_map(|m| m.rcpt_to.clone()).collect();
    recipients.sort();
    recipients.dedup();
    assert_eq!(recipients.len(), 30);
    assert_eq!(got.len(), 30, "no message was sent twice");
    app.stop().await;
}

#[tokio::test]
async fn without_an_smtp_server_mail_waits_in_the_outbox() {
    let app = spawn_app().await;
    let id = app
        .store
        .enqueue_mail(&notice("officer@ca.example", "Deadline"))
        .await
        .unwrap();
    let queue = app.store.unsent_mail(100).await.unwrap();
    assert_eq!(queue.len(), 1);
    assert_eq!(queue[0].id, id);
    assert_eq!(queue[0].kind, "notice");
    assert_eq!(queue[0].attempts, 0);
    app.stop().await;
}

#[tokio::test]
async fn mail_settings_that_cannot_work_stop_the_start_and_name_the_setting() {
    let e = Settings::from_toml_str("[mail]\nsmtp_host = \"smtp.court.example\"\ntls = \"none\"")
        .unwrap_err();
    assert_eq!(e.setting, "mail.tls");
    assert!(e.to_string().contains("starttls"), "{e}");

    let e = Settings::from_toml_str("[mail]\npassword = \"hunter2\"").unwrap_err();
    assert_eq!(e.setting, "mail.password");
    assert!(!e.to_string().contains("hunter2"));

    let dir = tempfile::tempdir().unwrap();
    let password = dir.path().join("smtp-password");
    std::fs::write(&password, "hunter2\n").unwrap();
    std::fs::set_permissions(&password, std::fs::Permissions::from_mode(0o644)).unwrap();
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "not a certificate").unwrap();
    type Configure<'a> = Box<dyn Fn(&mut Settings) + 'a>;
    let cases: [(&str, Configure); 3] = [
        (
            "mail.password_file",
            Box::new(|s: &mut Settings| {
                s.mail.username = "assize".into();
                s.mail.password_file = password.display().to_string();
            }),
        ),
        (
            "mail.ca_file",
            Box::new(|s: &mut Settings| s.mail.ca_file = not_pem.display().to_string()),
        ),
        (
            "mail.tls",
            Box::new(|s: &mut Settings| {
                s.mail.smtp_host = "192.0.2.25".into();
                s.mail.tls = MailTls::None;
            }),
        ),
    ];
    for (setting, configure) in cases {
        let mut s = Settings {
            data_dir: dir.path().join("data"),
            ..Settings::default()
        };
        s.http.listen = "127.0.0.1:0".into();
        s.mail.smtp_host = "smtp.court.example".into();
        configure(&mut s);
        let e = format!("{:#}", Application::build(s).await.unwrap_err());
        assert!(e.contains(setting), "{setting}: {e}");
        assert!(e.contains("fix:"), "{e}");
        assert!(!e.contains("hunter2"), "{e}");
    }
}
