//! TLS on both sides, with rustls and the `ring` provider only.
//!
//! Clients get sluice's own certificate (`[server.tls]`); upstream connections follow libpq's
//! `sslmode` meanings, where `require` encrypts without checking who answers, `verify-ca` checks
//! the chain but not the name, and `verify-full` checks both.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Once};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error as TlsError, SignatureScheme};
use sha2::{Digest, Sha256, Sha384, Sha512};
use tokio::io::{AsyncRead, AsyncWrite};

use crate::config::UpstreamTls;

/// A byte stream that may or may not be TLS; sessions do not care which.
pub trait AsyncStream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> AsyncStream for T {}
/// A boxed [`AsyncStream`].
pub type BoxStream = Box<dyn AsyncStream>;

/// Installs `ring` as the process-wide rustls provider, once. Every TLS config in sluice is built
/// from [`provider`], so there is never a second provider in play.
pub fn install_provider() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // Err means a provider was installed already (by an embedding program); keep it.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// The `ring` crypto provider.
pub fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// A certificate, key or CA file that cannot be used, named as the config names it.
#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error("server.tls.cert_file {}: {source}", path.display())]
    CertFile {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("server.tls.cert_file {}: no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("server.tls.key_file {}: {source}", path.display())]
    KeyFile {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("server.tls: {0}")]
    Server(TlsError),
    /// The crypto provider offers no protocol version rustls accepts.
    #[error("{0}")]
    Protocols(TlsError),
    #[error("upstream_ca_file is required for verify-ca/verify-full")]
    NoCaFile,
    #[error("upstream_ca_file {}: {source}", path.display())]
    CaFile {
        path: PathBuf,
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    #[error("bad upstream host {host:?}: {source}")]
    ServerName {
        host: String,
        source: rustls::pki_types::InvalidDnsNameError,
    },
}

/// What sluice presents to clients.
#[derive(Clone)]
pub struct ServerTls {
    pub acceptor: tokio_rustls::TlsAcceptor,
    /// `tls-server-end-point` channel-binding data for SCRAM-SHA-256-PLUS.
    pub end_point_hash: Vec<u8>,
    /// Refuse clients that do not start TLS.
    pub require: bool,
}

impl ServerTls {
    /// Loads a certificate chain and key from PEM files.
    pub fn load(
        cert_file: &Path,
        key_file: &Path,
        require: bool,
    ) -> Result<ServerTls, TlsSetupError> {
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert_file)
            .and_then(|it| it.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsSetupError::CertFile {
                path: cert_file.to_path_buf(),
                source,
            })?;
        let leaf = certs.first().ok_or_else(|| TlsSetupError::NoCertificate {
            path: cert_file.to_path_buf(),
        })?;
        let end_point_hash = end_point_hash(leaf);
        let key =
            PrivateKeyDer::from_pem_file(key_file).map_err(|source| TlsSetupError::KeyFile {
                path: key_file.to_path_buf(),
                source,
            })?;
        let mut config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .and_then(|b| b.with_no_client_auth().with_single_cert(certs, key))
            .map_err(TlsSetupError::Server)?;
        // PostgreSQL 17 clients require this ALPN for direct TLS; older clients send none.
        config.alpn_protocols = vec![b"postgresql".to_vec()];
        Ok(ServerTls {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
            end_point_hash,
            require,
        })
    }
}

/// RFC 5929 `tls-server-end-point`: the certificate hashed with its signature's hash, SHA-256
/// for MD5/SHA-1/SHA-256 signatures.
pub fn end_point_hash(cert: &CertificateDer<'_>) -> Vec<u8> {
    const SHA384_OIDS: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0c],
    ];
    const SHA512_OIDS: [&[u8]; 2] = [
        &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x04],
        &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0d],
    ];
    let der = cert.as_ref();
    // The signature algorithm OID closes the certificate; look for it in the tail.
    let tail = &der[der.len().saturating_sub(600)..];
    let has = |oids: &[&[u8]]| {
        oids.iter()
            .any(|oid| tail.windows(oid.len()).any(|w| w == *oid))
    };
    if has(&SHA512_OIDS) {
        Sha512::digest(der).to_vec()
    } else if has(&SHA384_OIDS) {
        Sha384::digest(der).to_vec()
    } else {
        Sha256::digest(der).to_vec()
    }
}

/// Builds the client config for connecting upstream in `mode` (not `disable`).
pub fn upstream_client_config(
    mode: UpstreamTls,
    ca_file: Option<&Path>,
) -> Result<Arc<rustls::ClientConfig>, TlsSetupError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(TlsSetupError::Protocols)?;
    let verifier: Arc<dyn ServerCertVerifier> = match mode {
        UpstreamTls::Disable | UpstreamTls::Prefer | UpstreamTls::Require => {
            Arc::new(EncryptOnly(provider()))
        }
        UpstreamTls::VerifyCa | UpstreamTls::VerifyFull => {
            let ca_file = ca_file.ok_or(TlsSetupError::NoCaFile)?;
            let bad_ca = |e: Box<dyn std::error::Error + Send + Sync>| TlsSetupError::CaFile {
                path: ca_file.to_path_buf(),
                source: e,
            };
            let mut roots = rustls::RootCertStore::empty();
            for cert in CertificateDer::pem_file_iter(ca_file).map_err(|e| bad_ca(e.into()))? {
                let cert = cert.map_err(|e| bad_ca(e.into()))?;
                roots.add(cert).map_err(|e| bad_ca(e.into()))?;
            }
            let webpki = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider())
                .build()
                .map_err(|e| bad_ca(e.into()))?;
            if mode == UpstreamTls::VerifyFull {
                webpki
            } else {
                Arc::new(ChainOnly(webpki))
            }
        }
    };
    let config = builder
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// The server name to present and check for `host`.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsSetupError> {
    ServerName::try_from(host.to_string()).map_err(|source| TlsSetupError::ServerName {
        host: host.to_string(),
        source,
    })
}

/// `sslmode=require`: encrypt, check handshake signatures, trust any certificate.
#[derive(Debug)]
struct EncryptOnly(Arc<CryptoProvider>);

impl ServerCertVerifier for EncryptOnly {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        Ok(ServerCertVerified::assertion())
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls12_signature(
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
    ) -> Result<HandshakeSignatureValid, TlsError> {
        verify_tls13_signature(
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

/// `sslmode=verify-ca`: the chain must lead to the CA; the name is not checked.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, TlsError> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(TlsError::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls12_signature(message, cert, dss)
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, TlsError> {
        self.0.verify_tls13_signature(message, cert, dss)
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}
