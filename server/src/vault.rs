//! Encryption at rest for attachments: envelope encryption with AES-256-GCM.
//!
//! Each file gets a fresh random 256-bit key; the file is encrypted under it and the key is
//! wrapped (AES-256-GCM again) by the server's master key. The attachment's id is bound into both
//! as associated data, so a ciphertext or a wrapped key moved to another row fails to open.
//! Rotating the master key means re-wrapping the per-file keys only, never re-encrypting files.
//!
//! The master key is 32 random bytes in `secrets/master.key` in the data directory (mode 0600,
//! written atomically on first start). Losing it loses every attachment: back it up apart from
//! the database (docs/operations.md).

use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use anyhow::Context as _;
use rand::RngCore as _;
use zeroize::Zeroizing;

use crate::pki::{check_key_permissions, write_atomic};

const NONCE_LEN: usize = 12;
const KEY_LEN: usize = 32;

/// The master key that wraps every per-file key.
pub struct Vault {
    master: Aes256Gcm,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Vault(..)")
    }
}

/// A file after encryption: what the database keeps.
#[derive(Debug, Clone)]
pub struct Sealed {
    /// nonce ‖ AES-256-GCM(master, file key) ‖ tag
    pub wrapped_key: Vec<u8>,
    /// nonce ‖ AES-256-GCM(file key, plaintext) ‖ tag
    pub ciphertext: Vec<u8>,
}

/// Why a stored file could not be opened.
#[derive(Debug, thiserror::Error)]
#[error(
    "the stored file cannot be decrypted: it was altered, moved, or the master key is not the one it was written with"
)]
pub struct OpenError;

impl Vault {
    /// The master key's path under a data directory.
    pub fn key_path(data_dir: &Path) -> PathBuf {
        data_dir.join("secrets").join("master.key")
    }

    /// Loads the master key, creating it (0600, atomically) when the data directory has none.
    ///
    /// # Errors
    /// When the key file is readable by others, has the wrong length, or cannot be written.
    pub fn load_or_create(data_dir: &Path) -> anyhow::Result<Self> {
        let path = Self::key_path(data_dir);
        if !path.exists() {
            let dir = path.parent().unwrap_or(data_dir);
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt as _;
                std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
            }
            let mut key = Zeroizing::new([0u8; KEY_LEN]);
            rand::thread_rng().fill_bytes(key.as_mut());
            write_atomic(&path, key.as_ref(), 0o600)?;
            tracing::info!(path = %path.display(), "created the attachment master key; back it up");
        }
        check_key_permissions(&path)?;
        let bytes = Zeroizing::new(
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?,
        );
        Self::from_key(&bytes).with_context(|| {
            format!(
                "{} must hold exactly 32 bytes; restore it from your backup",
                path.display()
            )
        })
    }

    /// A vault over a raw 32-byte master key.
    ///
    /// # Errors
    /// When the key is not 32 bytes.
    pub fn from_key(key: &[u8]) -> anyhow::Result<Self> {
        anyhow::ensure!(key.len() == KEY_LEN, "master key is {} bytes", key.len());
        Ok(Self {
            master: Aes256Gcm::new_from_slice(key).map_err(|_| anyhow::anyhow!("bad key"))?,
        })
    }

    /// Encrypts one file under a fresh key, bound to `id`.
    pub fn seal(&self, id: &str, plaintext: &[u8]) -> Sealed {
        let mut file_key = Zeroizing::new([0u8; KEY_LEN]);
        rand::thread_rng().fill_bytes(file_key.as_mut());
        #[allow(clippy::expect_used)] // a 32-byte slice is always a valid AES-256 key
        let cipher = Aes256Gcm::new_from_slice(file_key.as_ref()).expect("32-byte key");
        Sealed {
            ciphertext: encrypt(&cipher, id.as_bytes(), plaintext),
            wrapped_key: encrypt(&self.master, id.as_bytes(), file_key.as_ref()),
        }
    }

    /// Decrypts a file sealed under `id`.
    ///
    /// # Errors
    /// [`OpenError`] when anything was altered or the id or master key differ.
    pub fn open(&self, id: &str, sealed: &Sealed) -> Result<Vec<u8>, OpenError> {
        let file_key = Zeroizing::new(decrypt(&self.master, id.as_bytes(), &sealed.wrapped_key)?);
        let cipher = Aes256Gcm::new_from_slice(&file_key).map_err(|_| OpenError)?;
        decrypt(&cipher, id.as_bytes(), &sealed.ciphertext)
    }
}

fn encrypt(cipher: &Aes256Gcm, aad: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::thread_rng().fill_bytes(&mut nonce);
    #[allow(clippy::expect_used)] // only fails for inputs over 64 GiB
    let ct = cipher
        .encrypt(Nonce::from_slice(&nonce), Payload { msg, aad })
        .expect("AES-GCM input within limits");
    let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    out
}

fn decrypt(cipher: &Aes256Gcm, aad: &[u8], blob: &[u8]) -> Result<Vec<u8>, OpenError> {
    if blob.len() < NONCE_LEN + 16 {
        return Err(OpenError);
    }
    let (nonce, ct) = blob.split_at(NONCE_LEN);
    cipher
        .decrypt(Nonce::from_slice(nonce), Payload { msg: ct, aad })
        .map_err(|_| OpenError)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vault() -> Vault {
        Vault::from_key(&[7u8; 32]).unwrap()
    }

    #[test]
    fn round_trips_and_hides_the_plaintext() {
        let v = vault();
        let s = v.seal("a1", b"statement of the witness");
        assert!(
            !s.ciphertext
                .windows(9)
                .any(|w| w == b"statement".as_slice())
        );
        assert_eq!(v.open("a1", &s).unwrap(), b"statement of the witness");
        // Two seals of the same file differ (fresh key and nonces).
        assert_ne!(v.seal("a1", b"x").ciphertext, v.seal("a1", b"x").ciphertext);
    }

    #[test]
    fn every_alteration_fails() {
        let v = vault();
        let s = v.seal("a1", b"evidence");
        assert!(v.open("a2", &s).is_err(), "moved to another row");
        for i in 0..s.ciphertext.len() {
            let mut t = s.clone();
            t.ciphertext[i] ^= 1;
            assert!(v.open("a1", &t).is_err(), "ciphertext byte {i}");
        }
        for i in 0..s.wrapped_key.len() {
            let mut t = s.clone();
            t.wrapped_key[i] ^= 0x80;
            assert!(v.open("a1", &t).is_err(), "wrapped key byte {i}");
        }
        let other = Vault::from_key(&[8u8; 32]).unwrap();
        assert!(other.open("a1", &s).is_err(), "another master key");
        let mut short = s.clone();
        short.ciphertext.truncate(5);
        assert!(v.open("a1", &short).is_err());
    }

    #[test]
    fn the_master_key_is_created_private_and_reloaded() {
        let dir = tempfile::tempdir().unwrap();
        let v1 = Vault::load_or_create(dir.path()).unwrap();
        let s = v1.seal("x", b"data");
        let v2 = Vault::load_or_create(dir.path()).unwrap();
        assert_eq!(v2.open("x", &s).unwrap(), b"data");
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(Vault::key_path(dir.path()))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
