//! A client certificate and its private key, as a bus client authenticates with them
//! ([`crate::net::dial_certificate_handshake`]): PEM files read, the key loaded with
//! `ring`, the handshake transcript signed with the scheme TLS 1.3 would use for it.
//!
//! Keys are what kubectl users hold: PKCS#8 (`PRIVATE KEY`: ECDSA P-256 or P-384,
//! Ed25519, RSA; what `rudderctl kubeconfig` writes) and PKCS#1 (`RSA PRIVATE KEY`).
//! A SEC1 key (`EC PRIVATE KEY`, OpenSSL's default for EC) is refused with the command
//! that converts it.
//!
//! The node answers with its own certificate and signature, checked here against the
//! cluster's CA ([`ClusterAuthority`]) as a TLS client checks a server: chain, time,
//! server auth, the node's name, then the signature of the transcript.

use std::path::Path;
use std::sync::Arc;

use base64::Engine as _;
use ring::rand::SystemRandom;
use ring::signature::{self, EcdsaKeyPair, Ed25519KeyPair, RsaKeyPair};

use rustls_pki_types::{
    CertificateDer, ServerName, SignatureVerificationAlgorithm, TrustAnchor, UnixTime,
};
use webpki::EndEntityCert;

use crate::frame::{CertificateProof, SignatureKind};
use crate::net::{CertificateCredentials, NodeCertificateCheck, TranscriptSigner};

/// The PEM blocks of `text`: label and DER, in order.
pub fn pem_blocks(text: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
    let mut blocks = Vec::new();
    let mut lines = text.lines().map(str::trim);
    while let Some(line) = lines.next() {
        let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        else {
            continue;
        };
        let end = format!("-----END {label}-----");
        let mut body = String::new();
        loop {
            match lines.next() {
                Some(l) if l == end => break,
                Some(l) => body.push_str(l),
                None => return Err(format!("PEM block {label} has no end line")),
            }
        }
        let der = base64::engine::general_purpose::STANDARD
            .decode(body.as_bytes())
            .map_err(|e| format!("PEM block {label}: {e}"))?;
        blocks.push((label.to_owned(), der));
    }
    Ok(blocks)
}

enum Key {
    Ecdsa(EcdsaKeyPair, SignatureKind),
    Ed25519(Ed25519KeyPair),
    Rsa(RsaKeyPair),
}

/// A private key that signs handshake transcripts.
pub struct PrivateKey {
    key: Key,
    rng: SystemRandom,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PrivateKey")
            .field("kind", &self.kind())
            .finish_non_exhaustive()
    }
}

impl PrivateKey {
    /// Loads the first private key of a PEM text.
    pub fn from_pem(text: &str) -> Result<PrivateKey, String> {
        let rng = SystemRandom::new();
        for (label, der) in pem_blocks(text)? {
            let key = match label.as_str() {
                "PRIVATE KEY" => pkcs8(&der, &rng)?,
                "RSA PRIVATE KEY" => Key::Rsa(
                    RsaKeyPair::from_der(&der).map_err(|e| format!("RSA PRIVATE KEY: {e}"))?,
                ),
                "EC PRIVATE KEY" => {
                    return Err("an EC PRIVATE KEY (SEC1) is not read: convert it with \
                         `openssl pkcs8 -topk8 -nocrypt -in KEY -out KEY.pk8`"
                        .into())
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err("the private key is encrypted: decrypt it first".into())
                }
                _ => continue,
            };
            return Ok(PrivateKey { key, rng });
        }
        Err("no private key (a PEM block PRIVATE KEY or RSA PRIVATE KEY)".into())
    }
}

fn pkcs8(der: &[u8], rng: &SystemRandom) -> Result<Key, String> {
    let ecdsa = [
        (
            &signature::ECDSA_P256_SHA256_ASN1_SIGNING,
            SignatureKind::EcdsaP256Sha256,
        ),
        (
            &signature::ECDSA_P384_SHA384_ASN1_SIGNING,
            SignatureKind::EcdsaP384Sha384,
        ),
    ];
    for (alg, kind) in ecdsa {
        if let Ok(k) = EcdsaKeyPair::from_pkcs8(alg, der, rng) {
            return Ok(Key::Ecdsa(k, kind));
        }
    }
    if let Ok(k) = Ed25519KeyPair::from_pkcs8_maybe_unchecked(der) {
        return Ok(Key::Ed25519(k));
    }
    RsaKeyPair::from_pkcs8(der)
        .map(Key::Rsa)
        .map_err(|_| "the PRIVATE KEY is not an ECDSA P-256/P-384, Ed25519 or RSA key".into())
}

impl TranscriptSigner for PrivateKey {
    fn kind(&self) -> SignatureKind {
        match &self.key {
            Key::Ecdsa(_, kind) => *kind,
            Key::Ed25519(_) => SignatureKind::Ed25519,
            Key::Rsa(_) => SignatureKind::RsaPssSha256,
        }
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        match &self.key {
            Key::Ecdsa(k, _) => k
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| e.to_string()),
            Key::Ed25519(k) => Ok(k.sign(message).as_ref().to_vec()),
            Key::Rsa(k) => {
                let mut out = vec![0; k.public().modulus_len()];
                k.sign(&signature::RSA_PSS_SHA256, &self.rng, message, &mut out)
                    .map_err(|e| e.to_string())?;
                Ok(out)
            }
        }
    }
}

#[cfg(test)]
impl PrivateKey {
    /// The public key's bytes as a certificate's subjectPublicKey carries them (only
    /// the tests need it: a node reads the key from the certificate).
    fn public_key(&self) -> Vec<u8> {
        use ring::signature::KeyPair as _;
        match &self.key {
            Key::Ecdsa(k, _) => k.public_key().as_ref().to_vec(),
            Key::Ed25519(k) => k.public_key().as_ref().to_vec(),
            Key::Rsa(k) => k.public_key().as_ref().to_vec(),
        }
    }
}

/// The cluster's CA as a certificate client checks a node's proof against it.
#[derive(Debug)]
pub struct ClusterAuthority {
    anchors: Vec<TrustAnchor<'static>>,
}

/// The signature algorithms a node's certificate chain may use.
const CHAIN_ALGORITHMS: &[&dyn SignatureVerificationAlgorithm] = &[
    webpki::ring::ECDSA_P256_SHA256,
    webpki::ring::ECDSA_P256_SHA384,
    webpki::ring::ECDSA_P384_SHA256,
    webpki::ring::ECDSA_P384_SHA384,
    webpki::ring::ED25519,
    webpki::ring::RSA_PKCS1_2048_8192_SHA256,
    webpki::ring::RSA_PKCS1_2048_8192_SHA384,
    webpki::ring::RSA_PKCS1_2048_8192_SHA512,
    webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
];

impl ClusterAuthority {
    /// The CA certificates (PEM) a node's certificate must chain to.
    pub fn from_pem(text: &str) -> Result<ClusterAuthority, String> {
        let anchors = pem_blocks(text)?
            .into_iter()
            .filter(|(label, _)| label == "CERTIFICATE")
            .map(|(_, der)| {
                webpki::anchor_from_trusted_cert(&CertificateDer::from(der.as_slice()))
                    .map(|a| a.to_owned())
                    .map_err(|e| format!("CA certificate: {e}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if anchors.is_empty() {
            return Err("no CERTIFICATE".into());
        }
        Ok(ClusterAuthority { anchors })
    }
}

impl NodeCertificateCheck for ClusterAuthority {
    fn check(&self, node: &str, proof: &CertificateProof, transcript: &[u8]) -> Result<(), String> {
        let chain: Vec<CertificateDer<'_>> = proof
            .chain
            .iter()
            .map(|der| CertificateDer::from(der.as_slice()))
            .collect();
        let (leaf, intermediates) = chain.split_first().ok_or("no certificate")?;
        let cert = EndEntityCert::try_from(leaf).map_err(|e| format!("its certificate: {e}"))?;
        cert.verify_for_usage(
            CHAIN_ALGORITHMS,
            &self.anchors,
            intermediates,
            UnixTime::now(),
            webpki::KeyUsage::server_auth(),
            None,
            None,
        )
        .map_err(|e| format!("its certificate is not the cluster CA's for a node: {e}"))?;
        let name = ServerName::try_from(node).map_err(|e| format!("node name {node:?}: {e}"))?;
        cert.verify_is_valid_for_subject_name(&name)
            .map_err(|e| format!("its certificate is not for node {node}: {e}"))?;
        let algorithm: &dyn SignatureVerificationAlgorithm = match proof.kind {
            SignatureKind::EcdsaP256Sha256 => webpki::ring::ECDSA_P256_SHA256,
            SignatureKind::EcdsaP384Sha384 => webpki::ring::ECDSA_P384_SHA384,
            SignatureKind::Ed25519 => webpki::ring::ED25519,
            SignatureKind::RsaPssSha256 => webpki::ring::RSA_PSS_2048_8192_SHA256_LEGACY_KEY,
        };
        cert.verify_signature(algorithm, transcript, &proof.signature)
            .map_err(|e| format!("its signature of the handshake does not verify: {e}"))
    }
}

/// Reads a certificate chain file, its key file and the cluster's CA file into the
/// credentials of a bus client for `cluster_id`.
pub fn certificate_credentials(
    cluster_id: &str,
    certificate: &Path,
    key: &Path,
    authority: &Path,
) -> Result<CertificateCredentials, String> {
    let read = |p: &Path| {
        std::fs::read_to_string(p).map_err(|e| format!("cannot read {}: {e}", p.display()))
    };
    let node_check = ClusterAuthority::from_pem(&read(authority)?)
        .map_err(|e| format!("{}: {e}", authority.display()))?;
    let chain: Vec<Vec<u8>> = pem_blocks(&read(certificate)?)?
        .into_iter()
        .filter(|(label, _)| label == "CERTIFICATE")
        .map(|(_, der)| der)
        .collect();
    if chain.is_empty() {
        return Err(format!("{}: no CERTIFICATE", certificate.display()));
    }
    let signer =
        PrivateKey::from_pem(&read(key)?).map_err(|e| format!("{}: {e}", key.display()))?;
    Ok(CertificateCredentials {
        cluster_id: cluster_id.to_owned(),
        chain,
        signer: Arc::new(signer),
        node_check: Arc::new(node_check),
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn pem_blocks_are_read_in_order_and_bad_ones_refused() {
        let text = "junk\n-----BEGIN CERTIFICATE-----\nAQID\n-----END CERTIFICATE-----\n\
                    -----BEGIN PRIVATE KEY-----\nBA==\n-----END PRIVATE KEY-----\n";
        let blocks = pem_blocks(text).unwrap();
        assert_eq!(
            blocks,
            vec![
                ("CERTIFICATE".to_owned(), vec![1, 2, 3]),
                ("PRIVATE KEY".to_owned(), vec![4])
            ]
        );
        assert!(pem_blocks("-----BEGIN X-----\nAQID\n").is_err());
        assert!(pem_blocks("-----BEGIN X-----\n!!\n-----END X-----\n").is_err());
    }

    #[test]
    fn keys_of_every_kind_sign_verifiably() {
        let rng = SystemRandom::new();
        let b64 = |d: &[u8]| base64::engine::general_purpose::STANDARD.encode(d);
        let pem = |d: &[u8]| {
            format!(
                "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
                b64(d)
            )
        };
        let p256 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
        let p384 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P384_SHA384_ASN1_SIGNING, &rng).unwrap();
        let ed = Ed25519KeyPair::generate_pkcs8(&rng).unwrap();
        let cases: [(&[u8], SignatureKind, &dyn signature::VerificationAlgorithm); 3] = [
            (
                p256.as_ref(),
                SignatureKind::EcdsaP256Sha256,
                &signature::ECDSA_P256_SHA256_ASN1,
            ),
            (
                p384.as_ref(),
                SignatureKind::EcdsaP384Sha384,
                &signature::ECDSA_P384_SHA384_ASN1,
            ),
            (ed.as_ref(), SignatureKind::Ed25519, &signature::ED25519),
        ];
        for (der, kind, verify) in cases {
            let key = PrivateKey::from_pem(&pem(der)).unwrap();
            assert_eq!(key.kind(), kind);
            let sig = key.sign(b"transcript").unwrap();
            let public = signature::UnparsedPublicKey::new(verify, key.public_key());
            public.verify(b"transcript", &sig).unwrap();
            assert!(public.verify(b"another", &sig).is_err(), "{kind:?}");
        }
        let sec1 = "-----BEGIN EC PRIVATE KEY-----\nAQID\n-----END EC PRIVATE KEY-----\n";
        assert!(PrivateKey::from_pem(sec1)
            .unwrap_err()
            .contains("openssl pkcs8"));
        assert!(PrivateKey::from_pem(&pem(&[1, 2, 3])).is_err());
        assert!(PrivateKey::from_pem("no pem here").is_err());
    }
}
