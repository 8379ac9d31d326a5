//! Janus (the Debian package `janus`, its videoroom plugin) as the reference SFU of the forwarding
//! benchmark: started with a generated configuration, driven over its HTTP API, loaded with the
//! same participants as the Assize SFU ([`crate::load`]).
//!
//! ## Configuration
//! [`JanusProcess::start`] writes a configuration directory into a temporary directory: only the
//! videoroom plugin and the plain-HTTP transport (on a loopback port) are loaded; no event
//! handlers, no loggers; ICE gathers on the one address the load uses (`ice_enforce_list`),
//! half-trickle (Janus puts its candidates into its SDP), mDNS ignored, sessions never time out.
//!
//! ## API
//! One Janus session for the whole load, long-polled by one task (`GET /janus/{session}`) that
//! hands each event to whoever waits for its transaction. Per participant (Janus's model, unlike
//! Assize's one connection per participant): a **publisher** handle whose peer connection sends
//! audio and video (`joinandconfigure` with a full-candidate offer), and a **subscriber** handle
//! whose one peer connection receives every other publisher's streams (Janus 1.x multistream:
//! `join` as subscriber naming the feeds, answer the offer with `start`).

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, anyhow, bail};
use serde_json::{Value, json};
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use webrtc::peer_connection::{PeerConnection, RTCSessionDescription};

use crate::load::{Flowing, Meter, add_outgoing, gathered_description, load_peer};

/// Where the Debian package puts Janus's modules.
pub const JANUS_LIB: &str = "/usr/lib/x86_64-linux-gnu/janus";

/// A running Janus with a generated configuration.
#[derive(Debug)]
pub struct JanusProcess {
    child: std::process::Child,
    /// `http://127.0.0.1:PORT/janus`
    pub url: String,
    _dir: tempfile::TempDir,
}

/// The modules in `folder` other than `keep`, as Janus's `disable` list.
fn all_but(folder: &Path, keep: &str) -> String {
    let mut names: Vec<String> = std::fs::read_dir(folder)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".so") && n != keep)
        .collect();
    names.sort();
    names.join(",")
}

impl JanusProcess {
    /// Starts `janus` (the binary on the `PATH`), pinned to `cpu` with `taskset` when given, with
    /// ICE on `ip` and the HTTP API on `127.0.0.1:http_port`, and waits until the API answers.
    ///
    /// # Errors
    /// When the configuration cannot be written, Janus does not start, or its API does not
    /// answer within 20 s.
    pub async fn start(ip: IpAddr, http_port: u16, cpu: Option<usize>) -> anyhow::Result<Self> {
        let dir = tempfile::tempdir()?;
        let lib = Path::new(JANUS_LIB);
        let conf = dir.path();
        std::fs::write(
            conf.join("janus.jcfg"),
            format!(
                r#"general: {{
	configs_folder = "{conf}"
	plugins_folder = "{lib}/plugins"
	transports_folder = "{lib}/transports"
	events_folder = "{lib}/events"
	loggers_folder = "{lib}/loggers"
	debug_level = 3
	session_timeout = 0
}}
media: {{
	rtp_port_range = "30000-39999"
}}
nat: {{
	nice_debug = false
	full_trickle = false
	ice_enforce_list = "{ip}"
	ignore_mdns = true
}}
plugins: {{
	disable = "{plugins}"
}}
transports: {{
	disable = "{transports}"
}}
loggers: {{
	disable = "{loggers}"
}}
events: {{
	broadcast = false
}}
"#,
                conf = conf.display(),
                lib = lib.display(),
                plugins = all_but(&lib.join("plugins"), "libjanus_videoroom.so"),
                transports = all_but(&lib.join("transports"), "libjanus_http.so"),
                loggers = all_but(&lib.join("loggers"), ""),
            ),
        )?;
        std::fs::write(
            conf.join("janus.transport.http.jcfg"),
            format!(
                "general: {{\n\tjson = \"plain\"\n\tbase_path = \"/janus\"\n\thttp = true\n\tport = {http_port}\n\tip = \"127.0.0.1\"\n\thttps = false\n}}\nadmin: {{\n\tadmin_http = false\n\tadmin_https = false\n}}\n"
            ),
        )?;
        std::fs::write(conf.join("janus.plugin.videoroom.jcfg"), "general: {\n}\n")?;
        let log = std::fs::File::create(conf.join("janus.log"))?;
        let janus_conf = conf.join("janus.jcfg");
        let mut cmd = match cpu {
            Some(c) => {
                let mut t = std::process::Command::new("taskset");
                t.arg("-c").arg(c.to_string()).arg("janus");
                t
            }
            None => std::process::Command::new("janus"),
        };
        let child = cmd
            .arg("-C")
            .arg(&janus_conf)
            .arg("-F")
            .arg(conf)
            .arg("-o")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting janus (apt-get install -y janus)")?;
        let url = format!("http://127.0.0.1:{http_port}/janus");
        let me = Self {
            child,
            url,
            _dir: dir,
        };
        let http = reqwest::Client::new();
        for _ in 0..200 {
            let info = http.get(format!("{}/info", me.url)).send().await;
            if info.is_ok_and(|r| r.status().is_success()) {
                return Ok(me);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let log = std::fs::read_to_string(me._dir.path().join("janus.log")).unwrap_or_default();
        bail!("janus did not answer on {}: {log}", me.url)
    }

    /// The process id (of `janus` itself: `taskset` execs it).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Janus's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self._dir.path().join("janus.log")).unwrap_or_default()
    }
}

impl Drop for JanusProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

type Pending = Arc<Mutex<HashMap<String, oneshot::Sender<Value>>>>;

/// One Janus API session and its long-poll.
#[derive(Debug)]
pub struct JanusApi {
    http: reqwest::Client,
    session_url: String,
    pending: Pending,
    next: AtomicU64,
    poller: JoinHandle<()>,
}

impl Drop for JanusApi {
    fn drop(&mut self) {
        self.poller.abort();
    }
}

impl JanusApi {
    /// Creates a session on the Janus at `url` and starts long-polling its events.
    ///
    /// # Errors
    /// When Janus refuses or does not answer.
    pub async fn connect(url: &str) -> anyhow::Result<Self> {
        let http = reqwest::Client::new();
        let created: Value = http
            .post(url)
            .json(&json!({"janus": "create", "transaction": "create"}))
            .send()
            .await?
            .json()
            .await?;
        let session = created["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("janus did not create a session: {created}"))?;
        let session_url = format!("{url}/{session}");
        let pending: Pending = Arc::default();
        let poller = tokio::spawn(poll_events(
            http.clone(),
            session_url.clone(),
            pending.clone(),
        ));
        Ok(Self {
            http,
            session_url,
            pending,
            next: AtomicU64::new(1),
            poller,
        })
    }

    fn transaction(&self) -> String {
        format!("t{}", self.next.fetch_add(1, Ordering::Relaxed))
    }

    /// Attaches a videoroom handle.
    ///
    /// # Errors
    /// When Janus refuses.
    pub async fn attach(&self) -> anyhow::Result<u64> {
        let reply: Value = self
            .http
            .post(&self.session_url)
            .json(&json!({
                "janus": "attach",
                "plugin": "janus.plugin.videoroom",
                "transaction": self.transaction(),
            }))
            .send()
            .await?
            .json()
            .await?;
        reply["data"]["id"]
            .as_u64()
            .ok_or_else(|| anyhow!("janus did not attach: {reply}"))
    }

    /// A synchronous videoroom request (`create`, `exists`…): the plugin's answer.
    ///
    /// # Errors
    /// When Janus or the plugin refuses.
    pub async fn request(&self, handle: u64, body: Value) -> anyhow::Result<Value> {
        let reply: Value = self
            .http
            .post(format!("{}/{handle}", self.session_url))
            .json(&json!({"janus": "message", "transaction": self.transaction(), "body": body}))
            .send()
            .await?
            .json()
            .await?;
        let data = &reply["plugindata"]["data"];
        if reply["janus"] != "success" || data.get("error").is_some() {
            bail!("janus refused {body}: {reply}");
        }
        Ok(data.clone())
    }

    /// An asynchronous videoroom request (`joinandconfigure`, `join`, `start`), with a JSEP
    /// when given: the event that answers it (plugin data and JSEP).
    ///
    /// # Errors
    /// When Janus or the plugin refuses, or no event comes within 20 s.
    pub async fn message(
        &self,
        handle: u64,
        body: Value,
        jsep: Option<Value>,
    ) -> anyhow::Result<Value> {
        let transaction = self.transaction();
        let (tx, rx) = oneshot::channel();
        self.pending
            .lock()
            .expect("the lock is never held across a panic")
            .insert(transaction.clone(), tx);
        let mut msg = json!({"janus": "message", "transaction": transaction, "body": body});
        if let Some(j) = jsep {
            msg["jsep"] = j;
        }
        let ack: Value = self
            .http
            .post(format!("{}/{handle}", self.session_url))
            .json(&msg)
            .send()
            .await?
            .json()
            .await?;
        if ack["janus"] != "ack" {
            bail!("janus did not take {body}: {ack}");
        }
        let event = tokio::time::timeout(Duration::from_secs(20), rx)
            .await
            .map_err(|_| anyhow!("no janus event for {body}"))??;
        if let Some(e) = event["plugindata"]["data"].get("error") {
            bail!("janus refused {body}: {e}");
        }
        Ok(event)
    }
}

/// Long-polls the session's events and hands each to the waiter of its transaction.
async fn poll_events(http: reqwest::Client, url: String, pending: Pending) {
    loop {
        let got = http.get(format!("{url}?maxev=20")).send().await;
        let Ok(resp) = got else {
            tokio::time::sleep(Duration::from_millis(200)).await;
            continue;
        };
        let Ok(body) = resp.json::<Value>().await else {
            continue;
        };
        let events = match body {
            Value::Array(events) => events,
            one => vec![one],
        };
        for event in events {
            if event["janus"] != "event" {
                continue;
            }
            let Some(t) = event["transaction"].as_str() else {
                continue;
            };
            let waiter = pending
                .lock()
                .expect("the lock is never held across a panic")
                .remove(t);
            if let Some(w) = waiter {
                let _ = w.send(event);
            }
        }
    }
}

/// One participant on Janus: a publishing and a subscribing peer connection.
pub struct JanusParticipant {
    /// Tracks the subscriber receives media on.
    pub flowing: Arc<Flowing>,
    /// The feed id this participant publishes as.
    pub feed: u64,
    publisher: Arc<dyn PeerConnection>,
    subscriber: Option<Arc<dyn PeerConnection>>,
    tasks: Vec<JoinHandle<()>>,
}

impl std::fmt::Debug for JanusParticipant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JanusParticipant")
            .field("feed", &self.feed)
            .finish_non_exhaustive()
    }
}

/// Creates videoroom `room` for `publishers` publishers (VP8 and Opus only).
///
/// # Errors
/// When the plugin refuses.
pub async fn create_room(api: &JanusApi, room: u64, publishers: u64) -> anyhow::Result<()> {
    let handle = api.attach().await?;
    api.request(
        handle,
        json!({
            "request": "create",
            "room": room,
            "publishers": publishers,
            "audiocodec": "opus",
            "videocodec": "vp8",
            "notify_joining": false,
        }),
    )
    .await?;
    Ok(())
}

impl JanusParticipant {
    /// Publishes into `room` as `feed` (participant `number` of the load): `joinandconfigure`
    /// with a full-candidate offer, Janus's answer applied.
    ///
    /// # Errors
    /// Any refused or failed step.
    pub async fn publish(
        api: &JanusApi,
        ip: IpAddr,
        room: u64,
        feed: u64,
        number: u32,
        meter: Arc<Meter>,
        subscribers: u64,
    ) -> anyhow::Result<Self> {
        let handle = api.attach().await?;
        // The publishing connection receives nothing; it shares the meter.
        let (pc, mut gathered) = load_peer(ip, meter.clone(), Arc::default()).await?;
        let outgoing = add_outgoing(&pc, number).await?;
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        let sdp = gathered_description(&pc, &mut gathered).await?;
        let event = api
            .message(
                handle,
                json!({
                    "request": "joinandconfigure",
                    "room": room,
                    "ptype": "publisher",
                    "id": feed,
                    "display": format!("load-{number}"),
                }),
                Some(json!({"type": "offer", "sdp": sdp, "trickle": false})),
            )
            .await?;
        let answer = event["jsep"]["sdp"]
            .as_str()
            .ok_or_else(|| anyhow!("no answer from janus: {event}"))?;
        pc.set_remote_description(RTCSessionDescription::answer(answer.to_string())?)
            .await?;
        let tasks = outgoing.start(number, meter, subscribers).await?;
        Ok(Self {
            flowing: Arc::default(),
            feed,
            publisher: pc,
            subscriber: None,
            tasks,
        })
    }

    /// Subscribes to `feeds` in `room` with one peer connection: `join` as subscriber, answer
    /// Janus's offer with `start`. A feed whose publisher is not up yet is retried for a while.
    ///
    /// # Errors
    /// Any refused or failed step.
    pub async fn subscribe(
        &mut self,
        api: &JanusApi,
        ip: IpAddr,
        room: u64,
        feeds: &[u64],
        meter: Arc<Meter>,
    ) -> anyhow::Result<()> {
        let handle = api.attach().await?;
        let streams: Vec<Value> = feeds.iter().map(|f| json!({"feed": f})).collect();
        let mut tries = 0;
        let event = loop {
            let joined = api
                .message(
                    handle,
                    json!({
                        "request": "join",
                        "room": room,
                        "ptype": "subscriber",
                        "streams": streams,
                    }),
                    None,
                )
                .await;
            match joined {
                Ok(e) if e["jsep"]["sdp"].is_string() => break e,
                Ok(e) if tries >= 50 => bail!("janus offered nothing: {e}"),
                Err(e) if tries >= 50 => return Err(e),
                _ => {
                    tries += 1;
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
            }
        };
        let offer = event["jsep"]["sdp"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let (pc, mut gathered) = load_peer(ip, meter, self.flowing.clone()).await?;
        pc.set_remote_description(RTCSessionDescription::offer(offer)?)
            .await?;
        let answer = pc.create_answer(None).await?;
        pc.set_local_description(answer).await?;
        let sdp = gathered_description(&pc, &mut gathered).await?;
        api.message(
            handle,
            json!({"request": "start", "room": room}),
            Some(json!({"type": "answer", "sdp": sdp, "trickle": false})),
        )
        .await?;
        self.subscriber = Some(pc);
        Ok(())
    }

    /// Stops publishing and closes both peer connections.
    pub async fn close(self) {
        for t in &self.tasks {
            t.abort();
        }
        let _ = self.publisher.close().await;
        if let Some(s) = &self.subscriber {
            let _ = s.close().await;
        }
    }
}
