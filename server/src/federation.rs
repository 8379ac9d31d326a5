//! Calls to other states' Assize servers over mutual TLS.
//!
//! This server presents its federation client certificate (`pki/federation-client.*` in the data
//! directory) and trusts peers' server certificates that chain to `federation.peer_ca_files` (and
//! the public web roots). Today it carries audit checkpoints; the MLA exchange will use the same
//! client.

use std::path::Path;
use std::time::Duration;

use anyhow::Context as _;
use base64::Engine as _;
use serde_json::json;

use crate::pki::{DataDir, check_key_permissions};
use crate::store::CheckpointRow;

/// A mutual-TLS HTTPS client for peer servers.
#[derive(Clone, Debug)]
pub struct FederationClient {
    http: reqwest::Client,
    peers: Vec<String>,
}

impl FederationClient {
    /// Builds the client from this server's federation identity and the CAs it trusts for peers.
    ///
    /// # Errors
    /// When the identity or a CA file cannot be read.
    pub fn new(
        data_dir: &DataDir,
        peer_ca_files: &[String],
        peers: Vec<String>,
    ) -> anyhow::Result<Self> {
        check_key_permissions(&data_dir.client_key)?;
        let mut identity = std::fs::read(&data_dir.client_cert)
            .context("cannot read the federation client certificate")?;
        identity.extend(
            std::fs::read(&data_dir.client_key).context("cannot read the federation client key")?,
        );
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .identity(
                reqwest::Identity::from_pem(&identity)
                    .context("the federation identity is unusable")?,
            )
            .https_only(true)
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(30));
        for file in peer_ca_files {
            let pem = std::fs::read(Path::new(file))
                .with_context(|| format!("cannot read federation.peer_ca_files {file}"))?;
            for cert in reqwest::Certificate::from_pem_bundle(&pem)
                .with_context(|| format!("{file} holds no PEM certificate"))?
            {
                builder = builder.add_root_certificate(cert);
            }
        }
        Ok(Self {
            http: builder.build()?,
            peers,
        })
    }

    /// Posts JSON to a peer server (the MLA delivery uses it).
    ///
    /// # Errors
    /// When the peer cannot be reached or does not answer in time.
    pub async fn post_json<T: serde::Serialize + ?Sized>(
        &self,
        url: &str,
        body: &T,
    ) -> reqwest::Result<reqwest::Response> {
        self.http.post(url).json(body).send().await
    }

    /// The peers checkpoints are pushed to.
    pub fn peers(&self) -> &[String] {
        &self.peers
    }

    /// Hands a checkpoint to every peer. Failures are logged and retried with the next checkpoint
    /// (a later checkpoint supersedes an earlier one for the peer's purposes).
    pub async fn push_checkpoint(&self, checkpoint: &CheckpointRow) {
        let body = json!({
            "note": checkpoint.note,
            "signature": base64::engine::general_purpose::STANDARD.encode(&checkpoint.signature),
        });
        for peer in &self.peers {
            let url = format!(
                "{}/api/v1/federation/checkpoints",
                peer.trim_end_matches('/')
            );
            match self.http.post(&url).json(&body).send().await {
                Ok(r) if r.status().is_success() => {
                    tracing::info!(%peer, tree_size = checkpoint.tree_size, "checkpoint handed to peer");
                }
                Ok(r) => {
                    let status = r.status();
                    let text = r.text().await.unwrap_or_default();
                    tracing::warn!(%peer, %status, answer = %text.chars().take(300).collect::<String>(), "peer refused our checkpoint");
                }
                Err(e) => {
                    tracing::warn!(%peer, error = %e, "cannot reach peer to hand over a checkpoint")
                }
            }
        }
    }
}
