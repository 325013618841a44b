//! Service-account tokens: the cluster's signing key, the JWTs it issues, and their
//! verification, as Kubernetes' `pkg/serviceaccount` shapes them.
//!
//! - The key is an ECDSA P-256 pair (tokens are `ES256` JWS, which kube-apiserver also
//!   issues from an EC key). It is generated once per cluster at bootstrap and kept in
//!   the store as the Secret `kube-system/rudder-serviceaccount-key` (so every API server
//!   of the cluster signs and verifies with the same key, and it is sealed at rest when
//!   encryption is configured); [`SigningKey::generate`] and [`SigningKey::from_pkcs8`].
//! - Claims follow Kubernetes' bound tokens: `iss`, `sub`
//!   (`system:serviceaccount:<ns>:<name>`), `aud`, `exp`, `iat`, `nbf`, `jti`, and the
//!   private `kubernetes.io` claim naming the namespace, the service account and the
//!   object the token is bound to (a Pod, a Secret or a Node) with their UIDs.
//! - [`SigningKey::verify`] checks the signature, the issuer, the audience and the time
//!   window; whether the bound objects still exist is the caller's question
//!   ([`super::authn`]), since it needs the cluster's state.
//! - [`SigningKey::jwks`] and [`discovery`] are what `/openid/v1/jwks` and
//!   `/.well-known/openid-configuration` serve, so other systems can verify the tokens.
//!
//! JWS compact serialisation is three base64url parts; the cryptography is `ring`'s.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{
    EcdsaKeyPair, KeyPair as _, UnparsedPublicKey, ECDSA_P256_SHA256_FIXED,
    ECDSA_P256_SHA256_FIXED_SIGNING,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// The issuer of the cluster's tokens (kubeadm's default).
pub const ISSUER: &str = "https://kubernetes.default.svc.cluster.local";
/// Where the signing key is kept: `kube-system/<this>`.
pub const KEY_SECRET: &str = "rudder-serviceaccount-key";
/// The key of the Secret's data holding the PKCS#8 document.
pub const KEY_DATA: &str = "key.pkcs8";
/// Clock skew allowed on `nbf` and `exp` (Kubernetes allows a minute).
const LEEWAY_SECS: i64 = 60;
/// The JWS algorithm.
const ALG: &str = "ES256";

/// Why a token was not accepted, or a key not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not three base64url parts with JSON in the first two.
    #[error("malformed token: {0}")]
    Malformed(&'static str),
    /// Not signed by this cluster's key.
    #[error("invalid signature")]
    Signature,
    /// Another issuer's token.
    #[error("token issuer {0:?} is not {ISSUER:?}")]
    Issuer(String),
    /// None of the token's audiences is accepted here.
    #[error("token audiences {0:?} are invalid for the target audiences")]
    Audience(Vec<String>),
    /// Outside its time window.
    #[error("token has expired")]
    Expired,
    /// Not valid yet.
    #[error("token is not valid yet")]
    NotYetValid,
    /// The key could not be made or read.
    #[error("service account signing key: {0}")]
    Key(String),
}

/// The object a token is bound to (name and UID).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BoundRef {
    /// Its name.
    pub name: String,
    /// Its UID.
    pub uid: String,
}

/// The private `kubernetes.io` claim.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct KubernetesClaim {
    /// The service account's namespace.
    pub namespace: String,
    /// The service account.
    pub serviceaccount: Option<BoundRef>,
    /// The pod the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pod: Option<BoundRef>,
    /// The Secret the token is bound to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret: Option<BoundRef>,
    /// The node the token is bound to (or the bound pod's node).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node: Option<BoundRef>,
}

/// A token's claims.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Issuer.
    pub iss: String,
    /// Subject: `system:serviceaccount:<ns>:<name>`.
    pub sub: String,
    /// Audiences.
    pub aud: Vec<String>,
    /// Expiry (Unix seconds).
    pub exp: i64,
    /// Issued at.
    pub iat: i64,
    /// Not before.
    pub nbf: i64,
    /// Token id.
    #[serde(default)]
    pub jti: String,
    /// Who and what the token is for.
    #[serde(rename = "kubernetes.io")]
    pub kubernetes: KubernetesClaim,
}

impl Claims {
    /// Claims for the service account `name` of `namespace` (UID `uid`), valid for
    /// `seconds` from `now`.
    pub fn new(
        namespace: &str,
        name: &str,
        uid: &str,
        audiences: Vec<String>,
        now: i64,
        seconds: i64,
    ) -> Claims {
        Claims {
            iss: ISSUER.to_owned(),
            sub: subject(namespace, name),
            aud: audiences,
            exp: now.saturating_add(seconds),
            iat: now,
            nbf: now,
            jti: super::core::new_uid(),
            kubernetes: KubernetesClaim {
                namespace: namespace.to_owned(),
                serviceaccount: Some(BoundRef {
                    name: name.to_owned(),
                    uid: uid.to_owned(),
                }),
                ..KubernetesClaim::default()
            },
        }
    }

    /// The service account's name, from the claim (or the subject of an older token).
    pub fn service_account(&self) -> Option<(&str, &str)> {
        let rest = self.sub.strip_prefix("system:serviceaccount:")?;
        rest.split_once(':')
    }
}

/// The user name of a service account.
pub fn subject(namespace: &str, name: &str) -> String {
    format!("system:serviceaccount:{namespace}:{name}")
}

/// The cluster's token signing key.
pub struct SigningKey {
    pair: EcdsaKeyPair,
    pkcs8: Vec<u8>,
    kid: String,
    rng: SystemRandom,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .finish()
    }
}

impl SigningKey {
    /// A new random key.
    pub fn generate() -> Result<SigningKey, TokenError> {
        let rng = SystemRandom::new();
        let doc = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            .map_err(|_| TokenError::Key("generating a P-256 key failed".into()))?;
        SigningKey::from_pkcs8(doc.as_ref())
    }

    /// The key in a PKCS#8 document (as [`Self::pkcs8`] gives it).
    pub fn from_pkcs8(pkcs8: &[u8]) -> Result<SigningKey, TokenError> {
        let rng = SystemRandom::new();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8, &rng)
            .map_err(|e| TokenError::Key(format!("not a P-256 PKCS#8 key: {e}")))?;
        // The key id: a digest of the public key, as Kubernetes derives one.
        let digest = ring::digest::digest(&ring::digest::SHA256, pair.public_key().as_ref());
        let kid = URL_SAFE_NO_PAD.encode(digest.as_ref());
        Ok(SigningKey {
            pair,
            pkcs8: pkcs8.to_vec(),
            kid,
            rng,
        })
    }

    /// The PKCS#8 document, to store.
    pub fn pkcs8(&self) -> &[u8] {
        &self.pkcs8
    }

    /// The key id tokens name in their header.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// A signed token with these claims.
    pub fn sign(&self, claims: &Claims) -> Result<String, TokenError> {
        let header = json!({"alg": ALG, "kid": self.kid});
        let signing_input = format!("{}.{}", b64_json(&header)?, b64_json(claims)?);
        let signature = self
            .pair
            .sign(&self.rng, signing_input.as_bytes())
            .map_err(|_| TokenError::Key("signing failed".into()))?;
        Ok(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature.as_ref())
        ))
    }

    /// The claims of `token` if this key signed it, it is this cluster's, it is for one
    /// of `audiences`, and `now` is inside its window.
    pub fn verify(&self, token: &str, audiences: &[&str], now: i64) -> Result<Claims, TokenError> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(TokenError::Malformed("not a JWS in compact form"));
        };
        let decode = |s: &str| {
            URL_SAFE_NO_PAD
                .decode(s)
                .map_err(|_| TokenError::Malformed("a part is not base64url"))
        };
        let header: Value = serde_json::from_slice(&decode(header)?)
            .map_err(|_| TokenError::Malformed("the header is not JSON"))?;
        if header.get("alg").and_then(Value::as_str) != Some(ALG) {
            return Err(TokenError::Signature);
        }
        let signing_input_len = token.len() - signature.len() - 1;
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, self.pair.public_key().as_ref())
            .verify(&token.as_bytes()[..signing_input_len], &decode(signature)?)
            .map_err(|_| TokenError::Signature)?;
        let claims: Claims = serde_json::from_slice(&decode(payload)?)
            .map_err(|_| TokenError::Malformed("the claims are not a service account's"))?;
        if claims.iss != ISSUER {
            return Err(TokenError::Issuer(claims.iss));
        }
        if !claims.aud.iter().any(|a| audiences.contains(&a.as_str())) {
            return Err(TokenError::Audience(claims.aud));
        }
        if now > claims.exp.saturating_add(LEEWAY_SECS) {
            return Err(TokenError::Expired);
        }
        if now.saturating_add(LEEWAY_SECS) < claims.nbf {
            return Err(TokenError::NotYetValid);
        }
        Ok(claims)
    }

    /// The JSON Web Key Set with the public key (`/openid/v1/jwks`).
    pub fn jwks(&self) -> Value {
        let point = self.pair.public_key().as_ref();
        // An uncompressed P-256 point: 0x04, then 32 bytes of x and 32 of y.
        let (x, y) = if point.len() == 65 {
            (&point[1..33], &point[33..65])
        } else {
            (&point[..0], &point[..0])
        };
        json!({"keys": [{
            "use": "sig", "kty": "EC", "kid": self.kid, "crv": "P-256", "alg": ALG,
            "x": URL_SAFE_NO_PAD.encode(x), "y": URL_SAFE_NO_PAD.encode(y),
        }]})
    }
}

/// The OpenID provider configuration (`/.well-known/openid-configuration`) of an API
/// server reached at `server` (`https://host:port`).
pub fn discovery(server: &str) -> Value {
    json!({
        "issuer": ISSUER,
        "jwks_uri": format!("{server}/openid/v1/jwks"),
        "response_types_supported": ["id_token"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": [ALG],
    })
}

/// The base64url form of a value's JSON.
fn b64_json(v: &impl Serialize) -> Result<String, TokenError> {
    let bytes = serde_json::to_vec(v).map_err(|e| TokenError::Key(e.to_string()))?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn claims(aud: &[&str]) -> Claims {
        Claims::new(
            "team",
            "builder",
            "uid-1",
            aud.iter().map(|s| s.to_string()).collect(),
            NOW,
            3600,
        )
    }

    #[test]
    fn a_signed_token_verifies_and_round_trips_its_claims() {
        let key = SigningKey::generate().unwrap();
        let mut c = claims(&[ISSUER]);
        c.kubernetes.pod = Some(BoundRef {
            name: "web-0".into(),
            uid: "pod-uid".into(),
        });
        let token = key.sign(&c).unwrap();
        assert_eq!(token.split('.').count(), 3);
        let got = key.verify(&token, &[ISSUER], NOW + 10).unwrap();
        assert_eq!(got, c);
        assert_eq!(got.service_account(), Some(("team", "builder")));
        // The stored key signs tokens the first one verifies.
        let again = SigningKey::from_pkcs8(key.pkcs8()).unwrap();
        assert_eq!(again.kid(), key.kid());
        assert!(key.verify(&again.sign(&c).unwrap(), &[ISSUER], NOW).is_ok());
    }

    #[test]
    fn tokens_are_refused_for_each_reason() {
        let key = SigningKey::generate().unwrap();
        let other = SigningKey::generate().unwrap();
        let token = key.sign(&claims(&["vault"])).unwrap();
        let cases: Vec<(&str, String, Vec<&str>, i64, TokenError)> = vec![
            (
                "another key",
                other.sign(&claims(&["vault"])).unwrap(),
                vec!["vault"],
                NOW,
                TokenError::Signature,
            ),
            (
                "wrong audience",
                token.clone(),
                vec![ISSUER],
                NOW,
                TokenError::Audience(vec!["vault".into()]),
            ),
            (
                "expired",
                token.clone(),
                vec!["vault"],
                NOW + 3600 + LEEWAY_SECS + 1,
                TokenError::Expired,
            ),
            (
                "not yet valid",
                token.clone(),
                vec!["vault"],
                NOW - LEEWAY_SECS - 1,
                TokenError::NotYetValid,
            ),
            (
                "two parts",
                "a.b".into(),
                vec!["vault"],
                NOW,
                TokenError::Malformed("not a JWS in compact form"),
            ),
            (
                "garbage",
                "!!.??.**".into(),
                vec!["vault"],
                NOW,
                TokenError::Malformed("a part is not base64url"),
            ),
        ];
        for (name, token, aud, now, want) in cases {
            assert_eq!(key.verify(&token, &aud, now), Err(want), "{name}");
        }
        // A tampered payload fails the signature even with a valid shape.
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut forged = claims(&["vault"]);
        forged.sub = subject("kube-system", "admin");
        parts[1] = URL_SAFE_NO_PAD.encode(serde_json::to_vec(&forged).unwrap());
        assert_eq!(
            key.verify(&parts.join("."), &["vault"], NOW),
            Err(TokenError::Signature)
        );
        // Another issuer, signed with the right key.
        let mut foreign = claims(&["vault"]);
        foreign.iss = "https://elsewhere".into();
        assert_eq!(
            key.verify(&key.sign(&foreign).unwrap(), &["vault"], NOW),
            Err(TokenError::Issuer("https://elsewhere".into()))
        );
    }

    #[test]
    fn the_key_set_describes_the_public_key() {
        let key = SigningKey::generate().unwrap();
        let set = key.jwks();
        let k = &set["keys"][0];
        assert_eq!(k["kid"], key.kid());
        assert_eq!(k["crv"], "P-256");
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(k["x"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        assert_eq!(
            URL_SAFE_NO_PAD
                .decode(k["y"].as_str().unwrap())
                .unwrap()
                .len(),
            32
        );
        let d = discovery("https://127.0.0.1:6443");
        assert_eq!(d["jwks_uri"], "https://127.0.0.1:6443/openid/v1/jwks");
        assert_eq!(d["issuer"], ISSUER);
    }
}
