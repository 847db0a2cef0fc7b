//! An application signing in with a certificate: a signed JWT client assertion.

use crate::cache::{CachedCredential, through_cache};
use crate::options::{CredentialOptions, check_client_id};
use crate::token_endpoint::{TokenEndpoint, scope_param};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use client_core::{
    AccessToken, CredentialError, CredentialErrorKind, Secret, TokenCredential, async_trait,
};
use ring::signature::{RSA_PKCS1_SHA256, RSA_PSS_SHA256, RsaKeyPair};
use std::fmt;
use std::path::Path;
use std::sync::Arc;

/// How long a client assertion is valid (Entra accepts up to 10 minutes).
const ASSERTION_LIFETIME: time::Duration = time::Duration::minutes(10);

/// The signature algorithm of the client assertion.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum AssertionAlgorithm {
    /// RSASSA-PSS with SHA-256, identified by the certificate's SHA-256 thumbprint
    /// (`x5t#S256`): what Microsoft documents today.
    #[default]
    Ps256,
    /// RSASSA-PKCS1-v1_5 with SHA-256, identified by the SHA-1 thumbprint (`x5t`): the older
    /// form, still accepted.
    Rs256,
}

/// A certificate and its RSA private key, from PEM.
///
/// `Debug` shows the thumbprints only.
#[derive(Clone)]
pub struct ClientCertificate {
    key: Arc<RsaKeyPair>,
    /// DER of every certificate, the leaf (the one matching the key) first.
    chain: Vec<Vec<u8>>,
    x5t: String,
    x5t_s256: String,
}

impl ClientCertificate {
    /// Reads a certificate and key from PEM text: one or more `CERTIFICATE` blocks and a
    /// `PRIVATE KEY` (PKCS#8) or `RSA PRIVATE KEY` (PKCS#1) block, in any order, in one or
    /// two strings (pass the same bytes twice, or concatenate, for a combined file).
    pub fn from_pem(certificate_pem: &[u8], key_pem: &[u8]) -> Result<Self, CredentialError> {
        let mut blocks = pem_blocks(certificate_pem)?;
        if certificate_pem != key_pem {
            blocks.extend(pem_blocks(key_pem)?);
        }
        let mut certs = Vec::new();
        let mut key = None;
        for (label, der) in blocks {
            match label.as_str() {
                "CERTIFICATE" => certs.push(der),
                "PRIVATE KEY" => {
                    key = Some(RsaKeyPair::from_pkcs8(&der).map_err(|e| {
                        invalid(format!("the private key is not a usable RSA key: {e}")).with_hint(
                        "use an RSA key of 2048 to 4096 bits (other key types are not supported)",
                    )
                    })?)
                }
                "RSA PRIVATE KEY" => {
                    key =
                        Some(RsaKeyPair::from_der(&der).map_err(|e| {
                            invalid(format!("the RSA private key is not usable: {e}"))
                        })?)
                }
                "ENCRYPTED PRIVATE KEY" => {
                    return Err(invalid("the private key is encrypted").with_hint(
                        "decrypt it first: openssl pkcs8 -in key.pem -out key-plain.pem (keep the result as secret as the original)",
                    ));
                }
                _ => {}
            }
        }
        let key = key.ok_or_else(|| {
            invalid("no private key found in the PEM").with_hint(
                "the PEM must contain a `-----BEGIN PRIVATE KEY-----` block (convert a .pfx with: openssl pkcs12 -in cert.pfx -out cert.pem -nodes)",
            )
        })?;
        if certs.is_empty() {
            return Err(invalid("no certificate found in the PEM")
                .with_hint("the PEM must contain a `-----BEGIN CERTIFICATE-----` block"));
        }
        // The leaf is the certificate holding this key's public key: its SubjectPublicKeyInfo
        // embeds the DER RSAPublicKey that ring gives us byte for byte.
        let public = key.public().as_ref();
        let leaf = certs
            .iter()
            .position(|c| c.windows(public.len()).any(|w| w == public))
            .ok_or_else(|| {
                invalid("the private key does not belong to any certificate in the PEM")
                    .with_hint("pair the certificate with the key it was issued for")
            })?;
        certs.swap(0, leaf);
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &certs[0]);
        let sha256 = ring::digest::digest(&ring::digest::SHA256, &certs[0]);
        Ok(Self {
            key: Arc::new(key),
            x5t: URL_SAFE_NO_PAD.encode(sha1.as_ref()),
            x5t_s256: URL_SAFE_NO_PAD.encode(sha256.as_ref()),
            chain: certs,
        })
    }

    /// Reads a PEM file holding both the certificate and the key
    /// (`AZURE_CLIENT_CERTIFICATE_PATH`).
    pub fn from_pem_file(path: impl AsRef<Path>) -> Result<Self, CredentialError> {
        let path = path.as_ref();
        if path
            .extension()
            .is_some_and(|e| e.eq_ignore_ascii_case("pfx") || e.eq_ignore_ascii_case("p12"))
        {
            return Err(invalid(format!(
                "{} is a PKCS#12 file; only PEM is supported",
                path.display()
            ))
            .with_hint("convert it: openssl pkcs12 -in cert.pfx -out cert.pem -nodes"));
        }
        let pem = std::fs::read(path).map_err(|e| {
            invalid(format!(
                "cannot read the certificate file {}: {e}",
                path.display()
            ))
        })?;
        Self::from_pem(&pem, &pem)
    }

    /// The base64url SHA-1 thumbprint (`x5t`).
    pub fn x5t(&self) -> &str {
        &self.x5t
    }

    /// The base64url SHA-256 thumbprint (`x5t#S256`).
    pub fn x5t_s256(&self) -> &str {
        &self.x5t_s256
    }

    /// The hex SHA-1 thumbprint, as the Azure portal shows it.
    pub fn thumbprint_hex(&self) -> String {
        let sha1 = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, &self.chain[0]);
        sha1.as_ref().iter().map(|b| format!("{b:02X}")).collect()
    }

    /// A signed client assertion for `audience` (the token endpoint URL).
    pub(crate) fn assertion(
        &self,
        client_id: &str,
        audience: &str,
        now: time::OffsetDateTime,
        algorithm: AssertionAlgorithm,
        send_chain: bool,
    ) -> Result<Secret, CredentialError> {
        let mut header = serde_json::json!({ "typ": "JWT" });
        let padding: &'static dyn ring::signature::RsaEncoding = match algorithm {
            AssertionAlgorithm::Ps256 => {
                header["alg"] = "PS256".into();
                header["x5t#S256"] = self.x5t_s256.clone().into();
                &RSA_PSS_SHA256
            }
            AssertionAlgorithm::Rs256 => {
                header["alg"] = "RS256".into();
                header["x5t"] = self.x5t.clone().into();
                &RSA_PKCS1_SHA256
            }
        };
        if send_chain {
            header["x5c"] = self.chain.iter().map(|c| STANDARD.encode(c)).collect();
        }
        let iat = now.unix_timestamp();
        let claims = serde_json::json!({
            "aud": audience,
            "iss": client_id,
            "sub": client_id,
            "jti": uuid::Uuid::new_v4().to_string(),
            "nbf": iat,
            "iat": iat,
            "exp": (now + ASSERTION_LIFETIME).unix_timestamp(),
        });
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(header.to_string()),
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let mut signature = vec![0u8; self.key.public().modulus_len()];
        self.key
            .sign(
                padding,
                &ring::rand::SystemRandom::new(),
                signing_input.as_bytes(),
                &mut signature,
            )
            .map_err(|_| {
                CredentialError::new(
                    CredentialErrorKind::InvalidConfiguration,
                    "signing the client assertion failed",
                )
            })?;
        Ok(Secret::new(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(signature)
        )))
    }
}

impl fmt::Debug for ClientCertificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificate")
            .field("x5t", &self.x5t)
            .field("x5t#S256", &self.x5t_s256)
            .field("chain_len", &self.chain.len())
            .field("private_key", &"[redacted]")
            .finish()
    }
}

fn invalid(message: impl Into<String>) -> CredentialError {
    CredentialError::new(CredentialErrorKind::InvalidConfiguration, message)
}

/// The `(label, DER)` of every PEM block.
fn pem_blocks(pem: &[u8]) -> Result<Vec<(String, Vec<u8>)>, CredentialError> {
    let text = std::str::from_utf8(pem).map_err(|_| {
        invalid("the certificate data is not PEM text")
            .with_hint("convert DER or PKCS#12 to PEM with openssl")
    })?;
    let mut out = Vec::new();
    let mut current: Option<(String, String)> = None;
    for line in text.lines().map(str::trim) {
        if let Some(label) = line
            .strip_prefix("-----BEGIN ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            current = Some((label.to_owned(), String::new()));
        } else if let Some(label) = line
            .strip_prefix("-----END ")
            .and_then(|l| l.strip_suffix("-----"))
        {
            let Some((begun, body)) = current.take() else {
                return Err(invalid(format!("PEM `END {label}` without a BEGIN")));
            };
            if begun != label {
                return Err(invalid(format!("PEM block `{begun}` ends with `{label}`")));
            }
            let der = STANDARD
                .decode(body.as_bytes())
                .map_err(|_| invalid(format!("the PEM block `{label}` is not valid base64")))?;
            out.push((label.to_owned(), der));
        } else if let Some((_, body)) = current.as_mut() {
            // Skip RFC 1421 headers such as `Proc-Type:` (they mark encrypted legacy keys).
            if line.contains(':') {
                return Err(invalid("the PEM private key is encrypted")
                    .with_hint("decrypt it first: openssl rsa -in key.pem -out key-plain.pem"));
            }
            body.push_str(line);
        }
    }
    if let Some((label, _)) = current {
        return Err(invalid(format!("the PEM block `{label}` has no END line")));
    }
    Ok(out)
}

/// Signs in as an application with a certificate: each token request carries a fresh JWT
/// assertion signed with the private key (PS256 with `x5t#S256` by default, RS256 with `x5t`
/// selectable).
///
/// ```no_run
/// use client_core::TokenCredential;
/// use entra_auth::{ClientCertificate, ClientCertificateCredential, CredentialOptions};
/// # async fn run() -> Result<(), client_core::CredentialError> {
/// let certificate = ClientCertificate::from_pem_file("/etc/app/cert-and-key.pem")?;
/// let credential = ClientCertificateCredential::new(
///     "contoso.onmicrosoft.com",
///     "00000000-0000-0000-0000-000000000001",
///     certificate,
///     CredentialOptions::default(),
/// )?;
/// let token = credential.get_token(&["https://api.powerplatform.com/.default"]).await?;
/// # Ok(()) }
/// ```
pub struct ClientCertificateCredential {
    cached: CachedCredential<CertificateGrant>,
}

/// The uncached client credentials grant with a certificate assertion.
struct CertificateGrant {
    tenant_id: String,
    client_id: String,
    certificate: ClientCertificate,
    algorithm: AssertionAlgorithm,
    send_chain: bool,
    endpoint: TokenEndpoint,
}

impl ClientCertificateCredential {
    /// A credential for application `client_id` in `tenant_id`.
    pub fn new(
        tenant_id: impl Into<String>,
        client_id: impl Into<String>,
        certificate: ClientCertificate,
        options: CredentialOptions,
    ) -> Result<Self, CredentialError> {
        let (tenant_id, client_id) = (tenant_id.into(), client_id.into());
        check_client_id(&client_id)?;
        let endpoint = TokenEndpoint::new(&tenant_id, &options)?;
        let clock = endpoint.clock().clone();
        let grant = CertificateGrant {
            tenant_id,
            client_id,
            certificate,
            algorithm: AssertionAlgorithm::default(),
            send_chain: false,
            endpoint,
        };
        Ok(Self {
            cached: CachedCredential::new(grant, clock),
        })
    }

    /// Signs with `algorithm` (default [`AssertionAlgorithm::Ps256`]).
    pub fn with_algorithm(mut self, algorithm: AssertionAlgorithm) -> Self {
        self.cached.inner_mut().algorithm = algorithm;
        self
    }

    /// Sends the certificate chain in the assertion's `x5c` header, for apps configured for
    /// subject name and issuer authentication.
    pub fn with_certificate_chain(mut self, send: bool) -> Self {
        self.cached.inner_mut().send_chain = send;
        self
    }

    /// The certificate.
    pub fn certificate(&self) -> &ClientCertificate {
        &self.cached.inner().certificate
    }
}

through_cache!(ClientCertificateCredential);

#[async_trait]
impl TokenCredential for CertificateGrant {
    async fn get_token(&self, scopes: &[&str]) -> Result<AccessToken, CredentialError> {
        let scope = scope_param(scopes)?;
        let assertion = self.certificate.assertion(
            &self.client_id,
            self.endpoint.url().as_str(),
            self.endpoint.clock().now(),
            self.algorithm,
            self.send_chain,
        )?;
        tracing::debug!(tenant = %self.tenant_id, client_id = %self.client_id, %scope, x5t = %self.certificate.x5t, "requesting a token with a certificate");
        self.endpoint
            .assertion_grant(&self.client_id, &scope, &assertion)
            .await
    }
}

impl fmt::Debug for CertificateGrant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientCertificateCredential")
            .field("tenant_id", &self.tenant_id)
            .field("client_id", &self.client_id)
            .field("certificate", &self.certificate)
            .field("algorithm", &self.algorithm)
            .field("token_url", &self.endpoint.url().as_str())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CERT: &[u8] = include_bytes!("../tests/fixtures/test-cert.pem");
    const KEY: &[u8] = include_bytes!("../tests/fixtures/test-key.pem");
    const KEY_PKCS1: &[u8] = include_bytes!("../tests/fixtures/test-key-pkcs1.pem");
    const OTHER_KEY: &[u8] = include_bytes!("../tests/fixtures/other-key.pem");

    #[test]
    fn thumbprints_match_openssl() {
        // Values computed with openssl (see tests/fixtures/README.md).
        let c = ClientCertificate::from_pem(CERT, KEY).unwrap();
        assert_eq!(c.x5t(), "JlhqrP_3uGWiZeHWlRUBkhX5How");
        assert_eq!(c.x5t_s256(), "YXV5kHXkigOixgDfdZowUJ4q7LPzCrEV_HWBNCCIyt4");
        assert_eq!(
            c.thumbprint_hex(),
            "26586AACFFF7B865A265E1D69515019215F91E8C"
        );
        let pkcs1 = ClientCertificate::from_pem(CERT, KEY_PKCS1).unwrap();
        assert_eq!(pkcs1.x5t(), c.x5t());
    }

    #[test]
    fn refuses_mismatched_missing_and_encrypted_keys() {
        let e = ClientCertificate::from_pem(CERT, OTHER_KEY).unwrap_err();
        assert!(e.message().contains("does not belong"), "{e}");
        let e = ClientCertificate::from_pem(CERT, CERT).unwrap_err();
        assert!(e.message().contains("no private key"), "{e}");
        let e = ClientCertificate::from_pem(KEY, KEY).unwrap_err();
        assert!(e.message().contains("no certificate"), "{e}");
        let enc =
            b"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n";
        let e = ClientCertificate::from_pem(CERT, enc).unwrap_err();
        assert!(e.hint().unwrap().contains("openssl"), "{e}");
        let e = ClientCertificate::from_pem(
            b"-----BEGIN CERTIFICATE-----\n!!\n-----END CERTIFICATE-----",
            KEY,
        )
        .unwrap_err();
        assert!(e.message().contains("base64"), "{e}");
        assert!(ClientCertificate::from_pem_file("x.pfx").is_err());
    }

    #[test]
    fn debug_hides_the_key() {
        let c = ClientCertificate::from_pem(CERT, KEY).unwrap();
        let d = format!("{c:?}");
        assert!(d.contains("[redacted]") && !d.contains("MII"), "{d}");
    }
}
