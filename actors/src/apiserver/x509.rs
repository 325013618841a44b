//! X.509 pieces of client-certificate authentication and certificate signing requests,
//! pure (no I/O): reading a PKCS#10 request and checking its signature, reading a
//! certificate's subject, and the client CA ([`Signer`]) that issues certificates.
//!
//! DER is read with `yasna` (already built for `rcgen`), signatures are checked with
//! `ring`, certificates are written with `rcgen`. Only what Rudder needs is read: the
//! subject's common name (the user) and organizations (the groups), and the public key
//! with its algorithm (ECDSA P-256/P-384, RSA, Ed25519: what Go's x509 and kubectl's
//! users generate).
//!
//! The CA key is kept (in the store, see [`super::certificates`]), but `rcgen` cannot
//! read a certificate back without its x509 parser; so the CA certificate is written
//! from fixed parameters ([`ca_params`]) and re-made from them and the key when loaded.
//! Certificates it issues name the same subject and key identifier and verify against
//! the stored CA certificate.

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, PublicKeyData, SerialNumber, SignatureAlgorithm,
};
use ring::signature;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateSigningRequestDer;
use yasna::models::ObjectIdentifier;
use yasna::Tag;

/// The common name of the cluster's client CA.
pub const CLIENT_CA_NAME: &str = "rudder-client-ca";

const OID_CN: &[u64] = &[2, 5, 4, 3];
const OID_O: &[u64] = &[2, 5, 4, 10];
const OID_EC_PUBLIC_KEY: &[u64] = &[1, 2, 840, 10045, 2, 1];
const OID_P256: &[u64] = &[1, 2, 840, 10045, 3, 1, 7];
const OID_P384: &[u64] = &[1, 3, 132, 0, 34];
const OID_RSA: &[u64] = &[1, 2, 840, 113549, 1, 1, 1];
const OID_ED25519: &[u64] = &[1, 3, 101, 112];
const OID_ECDSA_SHA256: &[u64] = &[1, 2, 840, 10045, 4, 3, 2];
const OID_ECDSA_SHA384: &[u64] = &[1, 2, 840, 10045, 4, 3, 3];
const OID_RSA_SHA256: &[u64] = &[1, 2, 840, 113549, 1, 1, 11];
const OID_RSA_SHA384: &[u64] = &[1, 2, 840, 113549, 1, 1, 12];
const OID_RSA_SHA512: &[u64] = &[1, 2, 840, 113549, 1, 1, 13];

/// A subject's names that authentication reads.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Subject {
    /// The common name (`CN`): the user.
    pub common_name: String,
    /// The organizations (`O`), in order: the groups.
    pub organizations: Vec<String>,
}

/// The algorithm of a subject public key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyAlgorithm {
    EcdsaP256,
    EcdsaP384,
    Rsa,
    Ed25519,
}

/// A PKCS#10 request whose signature verified.
#[derive(Debug, Clone)]
pub struct Csr {
    /// The requested subject.
    pub subject: Subject,
    algorithm: KeyAlgorithm,
    /// The subjectPublicKey bits.
    public_key: Vec<u8>,
}

impl PublicKeyData for Csr {
    fn der_bytes(&self) -> &[u8] {
        &self.public_key
    }

    fn algorithm(&self) -> &SignatureAlgorithm {
        match self.algorithm {
            KeyAlgorithm::EcdsaP256 => &rcgen::PKCS_ECDSA_P256_SHA256,
            KeyAlgorithm::EcdsaP384 => &rcgen::PKCS_ECDSA_P384_SHA384,
            KeyAlgorithm::Rsa => &rcgen::PKCS_RSA_SHA256,
            KeyAlgorithm::Ed25519 => &rcgen::PKCS_ED25519,
        }
    }
}

fn oid_is(oid: &ObjectIdentifier, want: &[u64]) -> bool {
    oid.components().as_slice() == want
}

/// Reads an X.501 Name (its CN and O attributes; others are skipped).
fn read_name(r: yasna::BERReader<'_, '_>) -> yasna::ASN1Result<Subject> {
    let mut subject = Subject::default();
    r.read_sequence_of(|r| {
        r.read_set_of(|r| {
            r.read_sequence(|r| {
                let oid = r.next().read_oid()?;
                let value = r.next().read_tagged_der()?;
                let text = String::from_utf8_lossy(value.value()).into_owned();
                if oid_is(&oid, OID_CN) {
                    subject.common_name = text;
                } else if oid_is(&oid, OID_O) {
                    subject.organizations.push(text);
                }
                Ok(())
            })
        })
    })?;
    Ok(subject)
}

/// Reads an AlgorithmIdentifier: its OID and, when the parameter is an OID (a curve),
/// that OID.
fn read_algorithm(
    r: yasna::BERReader<'_, '_>,
) -> yasna::ASN1Result<(ObjectIdentifier, Option<ObjectIdentifier>)> {
    r.read_sequence(|r| {
        let oid = r.next().read_oid()?;
        let param = r.read_optional(|r| r.read_der())?;
        let curve = param.and_then(|p| yasna::parse_der(&p, |r| r.read_oid()).ok());
        Ok((oid, curve))
    })
}

/// Skips the rest of a sequence.
fn skip_rest(r: &mut yasna::BERReaderSeq<'_, '_>) -> yasna::ASN1Result<()> {
    while r.read_optional(|r| r.read_der())?.is_some() {}
    Ok(())
}

/// The algorithm of a subjectPublicKeyInfo's key, from its algorithm OID and curve.
fn key_algorithm(
    key_alg: &ObjectIdentifier,
    curve: Option<&ObjectIdentifier>,
) -> Result<KeyAlgorithm, String> {
    if oid_is(key_alg, OID_EC_PUBLIC_KEY) {
        match curve {
            Some(c) if oid_is(c, OID_P256) => Ok(KeyAlgorithm::EcdsaP256),
            Some(c) if oid_is(c, OID_P384) => Ok(KeyAlgorithm::EcdsaP384),
            _ => Err("x509: unsupported elliptic curve".into()),
        }
    } else if oid_is(key_alg, OID_RSA) {
        Ok(KeyAlgorithm::Rsa)
    } else if oid_is(key_alg, OID_ED25519) {
        Ok(KeyAlgorithm::Ed25519)
    } else {
        Err("x509: unknown public key algorithm".into())
    }
}

/// Parses a PEM-encoded PKCS#10 request and checks its signature; the error is worded
/// as Go's x509 package words it (what Kubernetes' validation shows).
pub fn parse_csr_pem(pem: &[u8]) -> Result<Csr, String> {
    let der = CertificateSigningRequestDer::from_pem_slice(pem)
        .map_err(|_| "PEM block type must be CERTIFICATE REQUEST".to_owned())?;
    parse_csr_der(der.as_ref())
}

fn parse_csr_der(der: &[u8]) -> Result<Csr, String> {
    let malformed = |_| "x509: malformed certificate request".to_owned();
    let (info, sig_alg, signature) = yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let info = r.next().read_der()?;
            let (alg, _) = read_algorithm(r.next())?;
            let (sig, _) = r.next().read_bitvec_bytes()?;
            Ok((info, alg, sig))
        })
    })
    .map_err(malformed)?;
    let (subject, (key_alg, curve), public_key) = yasna::parse_der(&info, |r| {
        r.read_sequence(|r| {
            r.next().read_u8()?;
            let subject = read_name(r.next())?;
            let spki = r.next().read_sequence(|r| {
                let alg = read_algorithm(r.next())?;
                let (key, _) = r.next().read_bitvec_bytes()?;
                Ok((alg, key))
            })?;
            // Attributes ([0] IMPLICIT SET): extension requests, not read.
            skip_rest(r)?;
            Ok((subject, spki.0, spki.1))
        })
    })
    .map_err(malformed)?;
    let algorithm = key_algorithm(&key_alg, curve.as_ref())?;
    let verifier: &dyn signature::VerificationAlgorithm = match algorithm {
        KeyAlgorithm::EcdsaP256 if oid_is(&sig_alg, OID_ECDSA_SHA256) => {
            &signature::ECDSA_P256_SHA256_ASN1
        }
        KeyAlgorithm::EcdsaP256 if oid_is(&sig_alg, OID_ECDSA_SHA384) => {
            &signature::ECDSA_P256_SHA384_ASN1
        }
        KeyAlgorithm::EcdsaP384 if oid_is(&sig_alg, OID_ECDSA_SHA256) => {
            &signature::ECDSA_P384_SHA256_ASN1
        }
        KeyAlgorithm::EcdsaP384 if oid_is(&sig_alg, OID_ECDSA_SHA384) => {
            &signature::ECDSA_P384_SHA384_ASN1
        }
        KeyAlgorithm::Rsa if oid_is(&sig_alg, OID_RSA_SHA256) => {
            &signature::RSA_PKCS1_2048_8192_SHA256
        }
        KeyAlgorithm::Rsa if oid_is(&sig_alg, OID_RSA_SHA384) => {
            &signature::RSA_PKCS1_2048_8192_SHA384
        }
        KeyAlgorithm::Rsa if oid_is(&sig_alg, OID_RSA_SHA512) => {
            &signature::RSA_PKCS1_2048_8192_SHA512
        }
        KeyAlgorithm::Ed25519 if oid_is(&sig_alg, OID_ED25519) => &signature::ED25519,
        _ => return Err("x509: cannot verify signature: algorithm unimplemented".into()),
    };
    signature::UnparsedPublicKey::new(verifier, &public_key)
        .verify(&info, &signature)
        .map_err(|_| "x509: signature verification failure".to_owned())?;
    Ok(Csr {
        subject,
        algorithm,
        public_key,
    })
}

/// The subject of a DER certificate.
pub fn certificate_subject(der: &[u8]) -> Result<Subject, String> {
    read_certificate(der).map(|c| c.subject)
}

/// The end of a DER certificate's validity, in Unix seconds.
pub fn certificate_not_after(der: &[u8]) -> Result<i64, String> {
    let c = read_certificate(der)?;
    time_seconds(c.not_after.0, &c.not_after.1)
}

/// What [`read_certificate`] reads of a certificate.
struct CertificateParts {
    subject: Subject,
    /// The end of validity: the tag number (UTCTime or GeneralizedTime) and the text.
    not_after: (u64, Vec<u8>),
    /// The subjectPublicKeyInfo: algorithm and curve, key bits.
    key: ((ObjectIdentifier, Option<ObjectIdentifier>), Vec<u8>),
}

fn read_certificate(der: &[u8]) -> Result<CertificateParts, String> {
    yasna::parse_der(der, |r| {
        r.read_sequence(|r| {
            let read = r.next().read_sequence(|r| {
                // version [0] EXPLICIT (optional), serial, signature, issuer, validity.
                r.read_optional(|r| r.read_tagged(Tag::context(0), |r| r.read_der()))?;
                for _ in 0..3 {
                    r.next().read_der()?;
                }
                let not_after = r.next().read_sequence(|r| {
                    r.next().read_tagged_der()?;
                    let t = r.next().read_tagged_der()?;
                    Ok((t.tag().tag_number, t.value().to_vec()))
                })?;
                let subject = read_name(r.next())?;
                let key = r.next().read_sequence(|r| {
                    let alg = read_algorithm(r.next())?;
                    let (key, _) = r.next().read_bitvec_bytes()?;
                    Ok((alg, key))
                })?;
                skip_rest(r)?;
                Ok(CertificateParts {
                    subject,
                    not_after,
                    key,
                })
            })?;
            skip_rest(r)?;
            Ok(read)
        })
    })
    .map_err(|e| format!("malformed certificate: {e}"))
}

/// An X.509 time (UTCTime `YYMMDDHHMMSSZ`, tag 23, or GeneralizedTime
/// `YYYYMMDDHHMMSSZ`, tag 24, as RFC 5280 requires them) in Unix seconds.
fn time_seconds(tag: u64, text: &[u8]) -> Result<i64, String> {
    let bad = || {
        format!(
            "malformed certificate time {:?}",
            String::from_utf8_lossy(text)
        )
    };
    let text = std::str::from_utf8(text).map_err(|_| bad())?;
    let digits = text.strip_suffix('Z').ok_or_else(bad)?;
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let (year, rest) = match (tag, digits.len()) {
        (23, 12) => {
            let yy: i16 = digits[..2].parse().map_err(|_| bad())?;
            (if yy >= 50 { 1900 + yy } else { 2000 + yy }, &digits[2..])
        }
        (24, 14) => (digits[..4].parse().map_err(|_| bad())?, &digits[4..]),
        _ => return Err(bad()),
    };
    let field = |i: usize| rest[i..i + 2].parse::<i8>().map_err(|_| bad());
    let (month, day, hour, minute, second) =
        (field(0)?, field(2)?, field(4)?, field(6)?, field(8)?);
    jiff::civil::DateTime::new(year, month, day, hour, minute, second, 0)
        .and_then(|at| at.to_zoned(jiff::tz::TimeZone::UTC))
        .map(|z| z.timestamp().as_second())
        .map_err(|_| bad())
}

/// Checks `signature` of `message` by the key of the DER certificate `cert`, made
/// with the scheme `kind` (the proof of a bus client with a certificate: see
/// [`rudder_protocol::frame::CertificateProof`]). The scheme must fit the key.
pub fn verify_key_signature(
    cert: &[u8],
    kind: rudder_protocol::frame::SignatureKind,
    message: &[u8],
    signature: &[u8],
) -> Result<(), String> {
    use rudder_protocol::frame::SignatureKind as K;
    let ((key_alg, curve), key) = read_certificate(cert)?.key;
    let verifier: &dyn signature::VerificationAlgorithm =
        match (key_algorithm(&key_alg, curve.as_ref())?, kind) {
            (KeyAlgorithm::EcdsaP256, K::EcdsaP256Sha256) => &signature::ECDSA_P256_SHA256_ASN1,
            (KeyAlgorithm::EcdsaP384, K::EcdsaP384Sha384) => &signature::ECDSA_P384_SHA384_ASN1,
            (KeyAlgorithm::Ed25519, K::Ed25519) => &signature::ED25519,
            (KeyAlgorithm::Rsa, K::RsaPssSha256) => &signature::RSA_PSS_2048_8192_SHA256,
            (alg, kind) => {
                return Err(format!(
                    "a {kind:?} signature does not fit the certificate's {alg:?} key"
                ))
            }
        };
    signature::UnparsedPublicKey::new(verifier, &key)
        .verify(message, signature)
        .map_err(|_| "the signature does not verify with the certificate's key".to_owned())
}

/// The parameters the client CA certificate is made from (see the module docs).
fn ca_params() -> Result<CertificateParams, rcgen::Error> {
    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca.distinguished_name
        .push(DnType::CommonName, CLIENT_CA_NAME);
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    Ok(ca)
}

/// The cluster's client CA: its certificate and key.
pub struct Signer {
    cert: rcgen::Certificate,
    key: KeyPair,
    cert_pem: String,
}

impl Signer {
    /// A new CA.
    pub fn generate() -> Result<Signer, rcgen::Error> {
        let key = KeyPair::generate()?;
        let cert = ca_params()?.self_signed(&key)?;
        let cert_pem = cert.pem();
        Ok(Signer {
            cert,
            key,
            cert_pem,
        })
    }

    /// The CA whose certificate and key were written by [`Signer::generate`].
    pub fn from_pem(cert_pem: &str, key_pem: &str) -> Result<Signer, rcgen::Error> {
        let key = KeyPair::from_pem(key_pem)?;
        let cert = ca_params()?.self_signed(&key)?;
        Ok(Signer {
            cert,
            key,
            cert_pem: cert_pem.to_owned(),
        })
    }

    /// The CA certificate (PEM), as stored.
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// The CA key (PEM).
    pub fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }

    /// A client certificate (PEM) for `csr`'s subject and key (at most one
    /// organization: `rcgen` writes one attribute per type), valid from
    /// `not_before` to `not_after` (Unix seconds), with the key usages named in
    /// Kubernetes' words (`digital signature`, `key encipherment`, `client auth`, ...;
    /// others are left out).
    pub fn issue(
        &self,
        csr: &Csr,
        usages: &[String],
        not_before: i64,
        not_after: i64,
    ) -> Result<String, rcgen::Error> {
        let mut params = leaf_params(not_before, not_after);
        let mut dn = DistinguishedName::new();
        if !csr.subject.common_name.is_empty() {
            dn.push(DnType::CommonName, csr.subject.common_name.as_str());
        }
        for o in &csr.subject.organizations {
            dn.push(DnType::OrganizationName, o.as_str());
        }
        params.distinguished_name = dn;
        for usage in usages {
            match usage.as_str() {
                "digital signature" => params.key_usages.push(KeyUsagePurpose::DigitalSignature),
                "key encipherment" => params.key_usages.push(KeyUsagePurpose::KeyEncipherment),
                "client auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ClientAuth),
                "server auth" => params
                    .extended_key_usages
                    .push(ExtendedKeyUsagePurpose::ServerAuth),
                _ => {}
            }
        }
        Ok(params.signed_by(csr, &self.cert, &self.key)?.pem())
    }

    /// A node's bus certificate (DER) for `key`: named after the node (CN
    /// `system:rudder:bus:<node>`, DNS name `<node>`), for server auth only, which no
    /// certificate request to this CA can get ([`crate::controllers::csrsigning`]).
    pub fn issue_node(
        &self,
        node: &str,
        key: &KeyPair,
        not_before: i64,
        not_after: i64,
    ) -> Result<Vec<u8>, rcgen::Error> {
        let mut params = leaf_params(not_before, not_after);
        params.subject_alt_names = vec![rcgen::SanType::DnsName(node.try_into()?)];
        params
            .distinguished_name
            .push(DnType::CommonName, format!("system:rudder:bus:{node}"));
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        Ok(params.signed_by(key, &self.cert, &self.key)?.der().to_vec())
    }
}

/// What every certificate the CA issues has: not a CA, its key identifier, the
/// validity from `not_before` to `not_after` (Unix seconds), a random serial.
fn leaf_params(not_before: i64, not_after: i64) -> CertificateParams {
    let mut params = CertificateParams::default();
    params.distinguished_name = DistinguishedName::new();
    params.is_ca = IsCa::ExplicitNoCa;
    params.use_authority_key_identifier_extension = true;
    let epoch = rcgen::date_time_ymd(1970, 1, 1);
    let at = |secs: i64| epoch + std::time::Duration::from_secs(secs.max(0).unsigned_abs());
    params.not_before = at(not_before);
    params.not_after = at(not_after);
    let mut serial = [0u8; 16];
    rand::RngCore::fill_bytes(&mut rand::thread_rng(), &mut serial);
    // Positive and minimal in DER: the high bit clear, the next one set.
    serial[0] = (serial[0] & 0x7f) | 0x40;
    params.serial_number = Some(SerialNumber::from(serial.to_vec()));
    params
}

/// A new key (PEM) and a PKCS#10 request (PEM) for the user `user` in `groups` (at
/// most one: `rcgen` writes one attribute per type): what `rudderctl kubeconfig` sends
/// as a CertificateSigningRequest.
pub fn new_client_request(user: &str, groups: &[String]) -> Result<(String, String), rcgen::Error> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params.distinguished_name = DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, user);
    for g in groups {
        params
            .distinguished_name
            .push(DnType::OrganizationName, g.as_str());
    }
    let csr = params.serialize_request(&key)?;
    Ok((key.serialize_pem(), csr.pem()?))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn a_request_is_read_signed_and_its_subject_kept() {
        let groups = vec!["dev".to_owned()];
        let (_key, pem) = new_client_request("alice", &groups).unwrap();
        let csr = parse_csr_pem(pem.as_bytes()).unwrap();
        assert_eq!(csr.subject.common_name, "alice");
        assert_eq!(csr.subject.organizations, groups);
        let ca = Signer::generate().unwrap();
        let usages = vec!["digital signature".to_owned(), "client auth".to_owned()];
        let cert = ca.issue(&csr, &usages, 0, 4_000_000_000).unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let subject = certificate_subject(der.as_ref()).unwrap();
        assert_eq!(subject, csr.subject);
        // The reloaded CA signs certificates that verify against the stored one.
        let again = Signer::from_pem(ca.cert_pem(), &ca.key_pem()).unwrap();
        assert!(again.issue(&csr, &usages, 0, 4_000_000_000).is_ok());
    }

    #[test]
    fn bad_requests_are_refused_in_gos_words() {
        let cases: &[(&str, &[u8], &str)] = &[
            (
                "not PEM",
                b"hello",
                "PEM block type must be CERTIFICATE REQUEST",
            ),
            (
                "a certificate",
                b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
                "PEM block type must be CERTIFICATE REQUEST",
            ),
            (
                "garbage DER",
                b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
                "x509: malformed certificate request",
            ),
        ];
        for (name, pem, want) in cases {
            let err = parse_csr_pem(pem).unwrap_err();
            assert_eq!(&err, want, "{name}");
        }
        // A tampered request: its signature no longer matches.
        let (_key, pem) = new_client_request("alice", &[]).unwrap();
        let der = CertificateSigningRequestDer::from_pem_slice(pem.as_bytes()).unwrap();
        let mut bytes = der.as_ref().to_vec();
        let at = bytes.windows(5).position(|w| w == b"alice").unwrap();
        bytes[at] = b'm';
        assert_eq!(
            parse_csr_der(&bytes).unwrap_err(),
            "x509: signature verification failure"
        );
    }

    #[test]
    fn a_certificates_key_proves_possession_and_nothing_else_does() {
        use rudder_protocol::frame::SignatureKind;
        use rudder_protocol::keys::PrivateKey;
        use rudder_protocol::net::TranscriptSigner as _;
        let (key_pem, request) = new_client_request("alice", &[]).unwrap();
        let csr = parse_csr_pem(request.as_bytes()).unwrap();
        let ca = Signer::generate().unwrap();
        let usages = vec!["client auth".to_owned()];
        let cert = ca.issue(&csr, &usages, 0, 4_000_000_000).unwrap();
        let der = rustls::pki_types::CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
        let key = PrivateKey::from_pem(&key_pem).unwrap();
        assert_eq!(key.kind(), SignatureKind::EcdsaP256Sha256);
        let sig = key.sign(b"transcript").unwrap();
        verify_key_signature(der.as_ref(), key.kind(), b"transcript", &sig).unwrap();
        // Another message, another key, a scheme that does not fit, garbage.
        assert!(verify_key_signature(der.as_ref(), key.kind(), b"other", &sig).is_err());
        let (other_pem, _) = new_client_request("mallory", &[]).unwrap();
        let other = PrivateKey::from_pem(&other_pem).unwrap();
        let forged = other.sign(b"transcript").unwrap();
        assert!(verify_key_signature(der.as_ref(), key.kind(), b"transcript", &forged).is_err());
        let err = verify_key_signature(der.as_ref(), SignatureKind::Ed25519, b"transcript", &sig)
            .unwrap_err();
        assert!(err.contains("does not fit"), "{err}");
        assert!(verify_key_signature(b"junk", key.kind(), b"transcript", &sig).is_err());
        assert_eq!(certificate_not_after(der.as_ref()).unwrap(), 4_000_000_000);
    }

    #[test]
    fn certificate_times_are_read_in_both_forms() {
        assert_eq!(time_seconds(23, b"700101000000Z").unwrap(), 0);
        assert_eq!(time_seconds(23, b"491231235959Z").unwrap(), 2_524_607_999);
        assert_eq!(time_seconds(24, b"20500101000000Z").unwrap(), 2_524_608_000);
        for (tag, bad) in [
            (23, &b"700101000000"[..]),
            (24, b"700101000000Z"),
            (23, b"701301000000Z"),
            (23, b"7a0101000000Z"),
            (23, b"+70101000000Z"),
            (2, b"700101000000Z"),
        ] {
            assert!(time_seconds(tag, bad).is_err(), "{bad:?}");
        }
    }
}
