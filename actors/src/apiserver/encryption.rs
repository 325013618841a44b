//! Encryption at rest: the storage transformer between the API server and the store.
//!
//! Rules this module keeps:
//! - Only values under [`ENCRYPTED_PREFIXES`] (Secrets) are touched; every other key's
//!   value goes to the store and comes back byte for byte.
//! - With keys configured, every value written under those prefixes is sealed with the
//!   **first** key: AES-256-GCM, a fresh random 12-byte nonce per value, the store key as
//!   associated data (a sealed value copied to another key does not open). The stored
//!   form is `k8s:enc:aesgcm:v1:<key name>:` ++ nonce ++ ciphertext and tag, as
//!   Kubernetes' `aesgcm` provider writes it.
//! - Reads open a sealed value with the key it names, whichever position that key has
//!   (rotation: put a new key first, restart, rewrite the Secrets). A value without the
//!   prefix is plaintext written before encryption was turned on and is read as is.
//! - A value that cannot be opened (unknown key, tampered bytes) stays as stored: decoding
//!   it then fails for that object alone ([`undecryptable`] words why), the API server
//!   goes on.
//! - Without keys, values are written as plaintext, as before.
//!
//! The key file (`[apiserver] encryption_keys_file`) is TOML:
//!
//! ```toml
//! [[key]]
//! name = "key2"                   # the first key encrypts
//! secret = "<base64 of 32 bytes>"
//! [[key]]
//! name = "key1"                   # every key decrypts
//! secret = "<base64 of 32 bytes>"
//! ```

use std::path::Path;

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use base64::Engine as _;
use rudder_protocol::messages::store::{
    KeyValue, OpResult, StoreReply, StoreRequest, TxnOp, WatchEvent,
};
use serde::Deserialize;

/// Store key prefixes whose values are encrypted.
pub const ENCRYPTED_PREFIXES: &[&str] = &["/registry/secrets/"];

/// What a sealed value starts with, before the key name.
pub const SEALED_PREFIX: &[u8] = b"k8s:enc:aesgcm:v1:";

const NONCE_LEN: usize = 12;

/// Why the key file is unusable, or a value could not be sealed or opened.
#[derive(Debug, thiserror::Error)]
pub enum EncryptionError {
    /// The key file could not be read.
    #[error("cannot read encryption keys {path}: {source}")]
    Read {
        /// The file.
        path: String,
        /// The error.
        source: std::io::Error,
    },
    /// The key file is not a valid list of keys.
    #[error("invalid encryption keys: {0}")]
    Invalid(String),
    /// The value names a key this API server does not have.
    #[error("value of {key} is encrypted with key {name:?}, which is not configured")]
    UnknownKey {
        /// The store key.
        key: String,
        /// The key name the value carries.
        name: String,
    },
    /// The value does not open with the key it names (damaged, or another key of that name).
    #[error("value of {key} does not decrypt with key {name:?}")]
    Corrupt {
        /// The store key.
        key: String,
        /// The key name the value carries.
        name: String,
    },
    /// Encryption itself failed (the value is too large for AES-GCM).
    #[error("cannot encrypt the value of {key}")]
    Seal {
        /// The store key.
        key: String,
    },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyFile {
    #[serde(default)]
    key: Vec<KeyEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyEntry {
    name: String,
    secret: String,
}

struct NamedKey {
    name: String,
    cipher: Aes256Gcm,
}

/// The configured keys (possibly none) and the sealing and opening of stored values.
#[derive(Default)]
pub struct Encryption {
    keys: Vec<NamedKey>,
}

impl std::fmt::Debug for Encryption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Names only: the keys themselves never reach a log.
        let names: Vec<&str> = self.keys.iter().map(|k| k.name.as_str()).collect();
        f.debug_struct("Encryption").field("keys", &names).finish()
    }
}

impl Encryption {
    /// No keys: values are stored as they are.
    pub fn none() -> Self {
        Self::default()
    }

    /// Reads the key file at `path` (format in the module doc).
    pub fn load(path: &Path) -> Result<Self, EncryptionError> {
        let text = std::fs::read_to_string(path).map_err(|source| EncryptionError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text)
    }

    /// Parses a key file: at least one key, unique names without `:`, 32-byte secrets.
    pub fn parse(text: &str) -> Result<Self, EncryptionError> {
        let file: KeyFile =
            toml::from_str(text).map_err(|e| EncryptionError::Invalid(e.to_string()))?;
        if file.key.is_empty() {
            return Err(EncryptionError::Invalid("no [[key]] entries".into()));
        }
        let mut keys: Vec<NamedKey> = Vec::new();
        for entry in file.key {
            let name = entry.name;
            if name.is_empty() || name.contains(':') || name.contains(char::is_whitespace) {
                return Err(EncryptionError::Invalid(format!(
                    "key name {name:?} must be non-empty, without ':' or spaces"
                )));
            }
            if keys.iter().any(|k| k.name == name) {
                return Err(EncryptionError::Invalid(format!(
                    "key name {name:?} appears twice"
                )));
            }
            let secret = base64::engine::general_purpose::STANDARD
                .decode(entry.secret.trim())
                .map_err(|e| {
                    EncryptionError::Invalid(format!("key {name:?}: secret is not base64: {e}"))
                })?;
            let cipher = Aes256Gcm::new_from_slice(&secret).map_err(|_| {
                EncryptionError::Invalid(format!(
                    "key {name:?}: secret must be 32 bytes, it is {}",
                    secret.len()
                ))
            })?;
            keys.push(NamedKey { name, cipher });
        }
        Ok(Encryption { keys })
    }

    /// True when values are sealed on write.
    pub fn enabled(&self) -> bool {
        !self.keys.is_empty()
    }

    /// The names of the keys, the encrypting one first.
    pub fn key_names(&self) -> Vec<&str> {
        self.keys.iter().map(|k| k.name.as_str()).collect()
    }

    /// The stored form of `value` at `key`.
    pub fn seal(&self, key: &str, value: Vec<u8>) -> Result<Vec<u8>, EncryptionError> {
        let Some(first) = self.keys.first() else {
            return Ok(value);
        };
        if !encrypted(key) {
            return Ok(value);
        }
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = first
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &value,
                    aad: key.as_bytes(),
                },
            )
            .map_err(|_| EncryptionError::Seal {
                key: key.to_owned(),
            })?;
        let mut out = Vec::with_capacity(
            SEALED_PREFIX.len() + first.name.len() + 1 + NONCE_LEN + sealed.len(),
        );
        out.extend_from_slice(SEALED_PREFIX);
        out.extend_from_slice(first.name.as_bytes());
        out.push(b':');
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    /// Whether the stored `value` at `key` should be written again: it is under an
    /// encrypted prefix and not sealed with the encrypting key (sealed with an older key
    /// of a rotation, or stored before encryption was turned on). Kubernetes' "stale"
    /// transformer result, which makes an unchanged update write anyway.
    pub fn is_stale(&self, key: &str, value: &[u8]) -> bool {
        let Some(first) = self.keys.first() else {
            return false;
        };
        encrypted(key) && split_sealed(value).is_none_or(|(name, _)| name != first.name)
    }

    /// The plaintext of the stored `value` at `key`; `None` when it is not sealed.
    pub fn open(&self, key: &str, value: &[u8]) -> Result<Option<Vec<u8>>, EncryptionError> {
        if !encrypted(key) {
            return Ok(None);
        }
        let Some((name, body)) = split_sealed(value) else {
            return Ok(None);
        };
        let Some(k) = self.keys.iter().find(|k| k.name == name) else {
            return Err(EncryptionError::UnknownKey {
                key: key.to_owned(),
                name,
            });
        };
        let corrupt = || EncryptionError::Corrupt {
            key: key.to_owned(),
            name: name.clone(),
        };
        if body.len() < NONCE_LEN {
            return Err(corrupt());
        }
        let (nonce, sealed) = body.split_at(NONCE_LEN);
        k.cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: key.as_bytes(),
                },
            )
            .map(Some)
            .map_err(|_| corrupt())
    }

    /// `req` with every value it writes under an encrypted prefix sealed.
    pub fn seal_request(&self, req: StoreRequest) -> Result<StoreRequest, EncryptionError> {
        if !self.enabled() {
            return Ok(req);
        }
        Ok(match req {
            StoreRequest::Put { key, value, expect } => {
                let value = self.seal(&key, value)?;
                StoreRequest::Put { key, value, expect }
            }
            StoreRequest::Txn(mut txn) => {
                for op in txn.success.iter_mut().chain(txn.failure.iter_mut()) {
                    if let TxnOp::Put { key, value } = op {
                        *value = self.seal(key, std::mem::take(value))?;
                    }
                }
                StoreRequest::Txn(txn)
            }
            other => other,
        })
    }

    /// `reply` with every sealed value it carries opened. A value that does not open is
    /// left as stored (and logged): decoding it fails for that object only.
    pub fn open_reply(&self, reply: StoreReply) -> StoreReply {
        match reply {
            StoreReply::Get { mut kv, revision } => {
                self.open_opt(&mut kv);
                StoreReply::Get { kv, revision }
            }
            StoreReply::Range {
                mut kvs,
                more,
                revision,
            } => {
                kvs.iter_mut().for_each(|kv| self.open_kv(kv));
                StoreReply::Range {
                    kvs,
                    more,
                    revision,
                }
            }
            StoreReply::Written { revision, mut prev } => {
                self.open_opt(&mut prev);
                StoreReply::Written { revision, prev }
            }
            StoreReply::Txn(mut r) => {
                for res in &mut r.results {
                    match res {
                        OpResult::Put { prev } | OpResult::Delete { prev } => self.open_opt(prev),
                        OpResult::Get { kv } => self.open_opt(kv),
                    }
                }
                StoreReply::Txn(r)
            }
            StoreReply::Watch(mut batch) => {
                for WatchEvent { kv, prev, .. } in &mut batch.events {
                    self.open_kv(kv);
                    self.open_opt(prev);
                }
                StoreReply::Watch(batch)
            }
            other => other,
        }
    }

    fn open_opt(&self, kv: &mut Option<KeyValue>) {
        if let Some(kv) = kv {
            self.open_kv(kv);
        }
    }

    fn open_kv(&self, kv: &mut KeyValue) {
        match self.open(&kv.key, &kv.value) {
            Ok(Some(plain)) => kv.value = plain,
            Ok(None) => {}
            Err(e) => tracing::warn!(key = %kv.key, error = %e, "stored value not decrypted"),
        }
    }
}

/// True when values at `key` are encrypted.
pub fn encrypted(key: &str) -> bool {
    ENCRYPTED_PREFIXES.iter().any(|p| key.starts_with(p))
}

/// The key name and the rest of a sealed value.
fn split_sealed(value: &[u8]) -> Option<(String, &[u8])> {
    let rest = value.strip_prefix(SEALED_PREFIX)?;
    let colon = rest.iter().position(|b| *b == b':')?;
    let name = std::str::from_utf8(&rest[..colon]).ok()?;
    Some((name.to_owned(), &rest[colon + 1..]))
}

/// Why a stored value that failed to decode is unreadable, when the reason is that it is
/// still sealed (its key is missing or the bytes are damaged).
pub fn undecryptable(value: &[u8]) -> Option<String> {
    split_sealed(value).map(|(name, _)| {
        format!("it is encrypted with key {name:?}, which this API server does not have or which does not decrypt it")
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rudder_protocol::messages::store::{Expect, Txn, TxnResponse, WatchBatch};

    fn key_file(keys: &[(&str, u8)]) -> String {
        keys.iter()
            .map(|(name, byte)| {
                format!(
                    "[[key]]\nname = \"{name}\"\nsecret = \"{}\"\n",
                    base64::engine::general_purpose::STANDARD.encode([*byte; 32])
                )
            })
            .collect()
    }

    fn enc(keys: &[(&str, u8)]) -> Encryption {
        Encryption::parse(&key_file(keys)).expect("valid keys")
    }

    const SECRET: &str = "/registry/secrets/default/db";
    const PLAIN: &[u8] = br#"{"data":{"password":"aHVudGVyMg=="}}"#;

    fn kv(key: &str, value: Vec<u8>) -> KeyValue {
        KeyValue {
            key: key.into(),
            value,
            create_revision: 1,
            mod_revision: 1,
            version: 1,
        }
    }

    #[test]
    fn sealed_values_carry_the_key_name_and_open_again() {
        let e = enc(&[("k1", 1)]);
        let sealed = e.seal(SECRET, PLAIN.to_vec()).expect("seal");
        assert!(sealed.starts_with(b"k8s:enc:aesgcm:v1:k1:"));
        assert!(!sealed.windows(PLAIN.len()).any(|w| w == PLAIN));
        assert_ne!(
            sealed,
            e.seal(SECRET, PLAIN.to_vec()).expect("seal"),
            "fresh nonce"
        );
        assert_eq!(e.open(SECRET, &sealed).expect("open"), Some(PLAIN.to_vec()));
    }

    #[test]
    fn only_encrypted_prefixes_are_touched() {
        let e = enc(&[("k1", 1)]);
        let cm = "/registry/configmaps/default/db";
        assert_eq!(e.seal(cm, PLAIN.to_vec()).expect("seal"), PLAIN);
        let none = Encryption::none();
        assert_eq!(none.seal(SECRET, PLAIN.to_vec()).expect("seal"), PLAIN);
        // Plaintext written before encryption was turned on is read as is.
        assert_eq!(e.open(SECRET, PLAIN).expect("open"), None);
    }

    #[test]
    fn rotation_reads_old_values_and_writes_with_the_first_key() {
        let old = enc(&[("k1", 1)]);
        let sealed = old.seal(SECRET, PLAIN.to_vec()).expect("seal");
        let rotated = enc(&[("k2", 2), ("k1", 1)]);
        assert_eq!(
            rotated.open(SECRET, &sealed).expect("open"),
            Some(PLAIN.to_vec())
        );
        assert!(rotated
            .seal(SECRET, PLAIN.to_vec())
            .expect("seal")
            .starts_with(b"k8s:enc:aesgcm:v1:k2:"));
    }

    #[test]
    fn values_not_sealed_with_the_first_key_are_stale() {
        let old = enc(&[("key1", 1)]);
        let rotated = enc(&[("key2", 2), ("key1", 1)]);
        let k = "/registry/secrets/ns/s";
        let by_key1 = old.seal(k, b"v".to_vec()).expect("sealed");
        let by_key2 = rotated.seal(k, b"v".to_vec()).expect("sealed");
        assert!(!old.is_stale(k, &by_key1));
        assert!(rotated.is_stale(k, &by_key1));
        assert!(!rotated.is_stale(k, &by_key2));
        assert!(rotated.is_stale(k, b"{\"plain\":true}"));
        assert!(!rotated.is_stale("/registry/configmaps/ns/c", b"{}"));
        assert!(!Encryption::none().is_stale(k, b"{}"));
    }

    #[test]
    fn values_that_do_not_open_are_errors() {
        let sealed = enc(&[("k1", 1)])
            .seal(SECRET, PLAIN.to_vec())
            .expect("seal");
        let cases: Vec<(&str, Encryption, &str, Vec<u8>)> = vec![
            ("unknown key", enc(&[("k2", 2)]), SECRET, sealed.clone()),
            ("no keys at all", Encryption::none(), SECRET, sealed.clone()),
            (
                "same name, other secret",
                enc(&[("k1", 9)]),
                SECRET,
                sealed.clone(),
            ),
            (
                "moved to another key",
                enc(&[("k1", 1)]),
                "/registry/secrets/default/x",
                sealed.clone(),
            ),
            (
                "truncated",
                enc(&[("k1", 1)]),
                SECRET,
                sealed[..sealed.len() - 1].to_vec(),
            ),
            (
                "no nonce",
                enc(&[("k1", 1)]),
                SECRET,
                b"k8s:enc:aesgcm:v1:k1:abc".to_vec(),
            ),
        ];
        for (name, e, key, value) in cases {
            assert!(e.open(key, &value).is_err(), "{name}");
            assert!(undecryptable(&value).is_some(), "{name}");
        }
    }

    #[test]
    fn bad_key_files_are_refused() {
        let cases = [
            ("empty", String::new()),
            (
                "short secret",
                "[[key]]\nname = \"a\"\nsecret = \"AAAA\"\n".to_owned(),
            ),
            (
                "not base64",
                "[[key]]\nname = \"a\"\nsecret = \"%%\"\n".to_owned(),
            ),
            ("colon in name", key_file(&[("a:b", 1)])),
            ("duplicate", key_file(&[("a", 1), ("a", 2)])),
            (
                "unknown field",
                format!("{}extra = 1\n", key_file(&[("a", 1)])),
            ),
        ];
        for (name, text) in cases {
            assert!(Encryption::parse(&text).is_err(), "{name}");
        }
        assert_eq!(enc(&[("new", 2), ("old", 1)]).key_names(), ["new", "old"]);
    }

    #[test]
    fn requests_are_sealed_and_replies_opened() {
        let e = enc(&[("k1", 1)]);
        let req = StoreRequest::Txn(Txn {
            compares: vec![],
            success: vec![
                TxnOp::Put {
                    key: SECRET.into(),
                    value: PLAIN.to_vec(),
                },
                TxnOp::Put {
                    key: "/registry/pods/default/p".into(),
                    value: PLAIN.to_vec(),
                },
            ],
            failure: vec![],
        });
        let StoreRequest::Txn(txn) = e.seal_request(req).expect("seal") else {
            panic!("not a txn")
        };
        let values: Vec<Vec<u8>> = txn
            .success
            .iter()
            .map(|op| match op {
                TxnOp::Put { value, .. } => value.clone(),
                _ => panic!("not a put"),
            })
            .collect();
        assert!(values[0].starts_with(SEALED_PREFIX));
        assert_eq!(values[1], PLAIN);
        let StoreRequest::Put { value, .. } = e
            .seal_request(StoreRequest::Put {
                key: SECRET.into(),
                value: PLAIN.to_vec(),
                expect: Expect::Any,
            })
            .expect("seal")
        else {
            panic!("not a put")
        };
        let sealed = kv(SECRET, value);
        let replies = vec![
            StoreReply::Get {
                kv: Some(sealed.clone()),
                revision: 1,
            },
            StoreReply::Range {
                kvs: vec![sealed.clone()],
                more: false,
                revision: 1,
            },
            StoreReply::Written {
                revision: 2,
                prev: Some(sealed.clone()),
            },
            StoreReply::Txn(TxnResponse {
                succeeded: true,
                revision: 2,
                results: vec![
                    OpResult::Put {
                        prev: Some(sealed.clone()),
                    },
                    OpResult::Get {
                        kv: Some(sealed.clone()),
                    },
                ],
            }),
            StoreReply::Watch(WatchBatch {
                events: vec![WatchEvent {
                    kind: rudder_protocol::messages::store::EventKind::Put,
                    kv: sealed.clone(),
                    prev: Some(sealed.clone()),
                }],
                revision: 2,
                compact_revision: 0,
            }),
        ];
        // Debug prints bytes as numbers: look for the prefix's and the plaintext's.
        let bytes = |b: &[u8]| format!("{b:?}").trim_matches(['[', ']']).to_owned();
        for reply in replies {
            let opened = format!("{:?}", e.open_reply(reply.clone()));
            assert!(
                !opened.contains(&bytes(SEALED_PREFIX)),
                "{reply:?} -> {opened}"
            );
            assert!(opened.contains(&bytes(PLAIN)), "{reply:?} -> {opened}");
        }
    }
}
