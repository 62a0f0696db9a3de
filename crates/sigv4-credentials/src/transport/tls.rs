//! The one TLS client setup of the workspace: rustls with the *ring* provider and the platform's
//! root certificates (feature `tls`, on by default).
//!
//! Every HTTPS connection the workspace makes goes through a [`ClientConfig`] built here: the
//! credential sources (https container endpoints, STS, SSO), the `sigv4` command's `curl`, and the
//! proxy's upstream client. [`TlsSettings`] holds the few knobs a caller may turn (extra trusted
//! roots, accepting any certificate for a test server, ALPN).
//!
//! ```
//! use sigv4_credentials::tls::{client_config, TlsSettings};
//!
//! // What the credential sources use (platform roots, HTTP/1.1):
//! # if let Ok(config) =
//! client_config(&TlsSettings::default())
//! # { assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]); }
//! ```

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

pub use rustls;
pub use tokio_rustls;

/// Why a TLS client configuration could not be built.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The platform has no usable root certificates and none were given.
    #[error(
        "no trusted root certificates found on this system: install the ca-certificates package, \
         set SSL_CERT_FILE, or give a CA file"
    )]
    NoRoots,
    /// A PEM file (CA, certificate or key) could not be read or holds nothing usable.
    #[error("PEM file {path:?}: {reason}")]
    CaFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// rustls refused the configuration.
    #[error("TLS setup failed: {0}")]
    Setup(String),
}

/// What a caller may change in the TLS client setup; the default is the platform's roots and
/// HTTP/1.1 over ALPN.
#[derive(Clone, Default)]
pub struct TlsSettings {
    insecure: bool,
    extra_roots: Vec<CertificateDer<'static>>,
    alpn: Option<Vec<Vec<u8>>>,
}

impl fmt::Debug for TlsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsSettings")
            .field("insecure", &self.insecure)
            .field("extra_roots", &self.extra_roots.len())
            .field("alpn", &self.alpn)
            .finish()
    }
}

impl TlsSettings {
    /// Trusts these certificates too, besides the platform's roots.
    pub fn extra_roots(mut self, roots: Vec<CertificateDer<'static>>) -> Self {
        self.extra_roots.extend(roots);
        self
    }

    /// Trusts the certificates of a PEM file too (curl's `--cacert`); see
    /// [`read_pem_certificates`].
    pub fn extra_roots_from_pem_file(self, path: impl AsRef<Path>) -> Result<Self, TlsError> {
        let roots = read_pem_certificates(path.as_ref())?;
        Ok(self.extra_roots(roots))
    }

    /// Accepts any server certificate (curl's `-k`), still checking that the server holds the key
    /// of the certificate it shows. Only for test servers.
    pub fn danger_accept_any_certificate(mut self, insecure: bool) -> Self {
        self.insecure = insecure;
        self
    }

    /// The ALPN protocols to offer (default: `http/1.1` only).
    pub fn alpn(mut self, protocols: Vec<Vec<u8>>) -> Self {
        self.alpn = Some(protocols);
        self
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Builds a rustls client configuration: the *ring* provider, safe default protocol versions
/// (TLS 1.2 and 1.3), the platform's roots plus any extra ones, and the ALPN list.
pub fn client_config(settings: &TlsSettings) -> Result<ClientConfig, TlsError> {
    let provider = provider();
    let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    let mut config = if settings.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCertificate(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(native.certs);
        for cert in &settings.extra_roots {
            roots.add(cert.clone()).map_err(|e| {
                TlsError::Setup(format!("a trusted certificate is not usable: {e}"))
            })?;
        }
        if added == 0 && settings.extra_roots.is_empty() {
            return Err(TlsError::NoRoots);
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = settings
        .alpn
        .clone()
        .unwrap_or_else(|| vec![b"http/1.1".to_vec()]);
    Ok(config)
}

/// The default configuration ([`TlsSettings::default`]), built once per process and shared (reading
/// the platform's roots takes milliseconds).
pub fn default_client_config() -> Result<Arc<ClientConfig>, TlsError> {
    static DEFAULT: OnceLock<Result<Arc<ClientConfig>, TlsError>> = OnceLock::new();
    DEFAULT
        .get_or_init(|| client_config(&TlsSettings::default()).map(Arc::new))
        .clone()
}

/// The certificates of a PEM file (at least one).
pub fn read_pem_certificates(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let ca_error = |reason: String| TlsError::CaFile {
        path: path.to_owned(),
        reason,
    };
    let bytes = std::fs::read(path).map_err(|e| ca_error(format!("cannot read it: {e}")))?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| ca_error(format!("not valid PEM: {e}")))?;
    if certs.is_empty() {
        return Err(ca_error(
            "no CERTIFICATE block found (give a PEM file)".to_owned(),
        ));
    }
    Ok(certs)
}

/// A TLS server configuration (for a listener such as `sigv4 proxy --tls-cert/--tls-key`): the
/// certificate chain of a PEM file and the first private key of another, the *ring* provider,
/// safe default protocol versions, ALPN `h2` and `http/1.1`.
pub fn server_config(cert_pem: &Path, key_pem: &Path) -> Result<rustls::ServerConfig, TlsError> {
    use rustls::pki_types::PrivateKeyDer;
    let certs = read_pem_certificates(cert_pem)?;
    let key_error = |reason: String| TlsError::CaFile {
        path: key_pem.to_owned(),
        reason,
    };
    let bytes = std::fs::read(key_pem).map_err(|e| key_error(format!("cannot read it: {e}")))?;
    let key = PrivateKeyDer::from_pem_slice(&bytes)
        .map_err(|e| key_error(format!("no usable private key: {e}")))?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
        .map_err(|e| TlsError::Setup(e.to_string()))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}

/// The host name or IP address of a URI host as rustls wants it (IPv6 brackets removed).
pub(crate) fn server_name(host: &str) -> Option<ServerName<'static>> {
    ServerName::try_from(host.to_owned()).ok()
}

/// Trusts any certificate, still checking the handshake's signatures (so the peer holds the key of
/// the certificate it shows, whatever that certificate is).
#[derive(Debug)]
struct AcceptAnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_missing_ca_file_is_a_typed_error() {
        let err = TlsSettings::default()
            .extra_roots_from_pem_file("/nonexistent/ca.pem")
            .unwrap_err();
        assert!(matches!(err, TlsError::CaFile { .. }));
        assert!(err.to_string().contains("/nonexistent/ca.pem"));
    }

    #[test]
    fn a_file_without_certificates_is_refused() {
        let dir = std::env::temp_dir().join(format!("sigv4-tls-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("empty.pem");
        std::fs::write(&path, "not a certificate\n").unwrap();
        let err = read_pem_certificates(&path).unwrap_err();
        assert!(err.to_string().contains("no CERTIFICATE block"), "{err}");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn insecure_needs_no_roots_and_offers_the_alpn_asked_for() {
        let config = client_config(
            &TlsSettings::default()
                .danger_accept_any_certificate(true)
                .alpn(vec![b"h2".to_vec(), b"http/1.1".to_vec()]),
        )
        .unwrap();
        assert_eq!(config.alpn_protocols.len(), 2);
    }
}
