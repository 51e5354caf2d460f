//! TLS through rustls: the server configuration from PEM files, and a listener for
//! `axum::serve` that handshakes without holding up other connections.

use std::fmt;
use std::io;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use rustls::crypto::ring;
use rustls::pki_types::pem::{self, PemObject};
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client has to finish the TLS handshake unless told otherwise.
pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// How many handshakes may be in progress at once; beyond that, no new connection is
/// accepted until one finishes (the kernel's backlog holds them).
pub const MAX_PENDING_HANDSHAKES: usize = 256;

/// A certificate or key file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The file cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// The file is not valid PEM.
    #[error("{} is not valid PEM: {source}", path.display())]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: pem::Error,
    },
    /// The certificate file holds no certificate.
    #[error("{} holds no certificate (no \"BEGIN CERTIFICATE\" block)", path.display())]
    NoCertificate {
        /// The file.
        path: PathBuf,
    },
    /// The key file holds no private key.
    #[error(
        "{} holds no private key (no \"BEGIN PRIVATE KEY\", \"BEGIN RSA PRIVATE KEY\" or \
         \"BEGIN EC PRIVATE KEY\" block)",
        path.display()
    )]
    NoPrivateKey {
        /// The file.
        path: PathBuf,
    },
    /// The private key is of a kind rustls cannot sign with, or is corrupt.
    #[error("the private key in {} cannot be used: {source}", path.display())]
    UnusableKey {
        /// The key file.
        path: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
    /// The private key is not the one the certificate was issued for.
    #[error(
        "the private key in {} does not match the certificate in {}",
        key.display(),
        cert.display()
    )]
    KeyMismatch {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
    },
    /// Anything else rustls refuses.
    #[error("TLS configuration from {} and {}: {source}", cert.display(), key.display())]
    Config {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// rustls's reason.
        source: rustls::Error,
    },
}

/// A TLS server configuration from a PEM certificate chain (end-entity certificate first)
/// and a PEM private key (PKCS#8, PKCS#1 or SEC1), with rustls's `ring` provider, its safe
/// default protocol versions (TLS 1.2 and 1.3), no client certificates, and ALPN
/// `http/1.1`.
///
/// # Errors
///
/// A [`TlsError`] naming the file and what is wrong with it: unreadable, not PEM, no
/// certificate, no private key, an unusable key, or a key that does not match the
/// certificate.
pub fn tls_config(cert_pem: &Path, key_pem: &Path) -> Result<Arc<ServerConfig>, TlsError> {
    let cert_text = read(cert_pem)?;
    let certs = CertificateDer::pem_slice_iter(&cert_text)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|source| TlsError::Pem {
            path: cert_pem.to_owned(),
            source,
        })?;
    if certs.is_empty() {
        return Err(TlsError::NoCertificate {
            path: cert_pem.to_owned(),
        });
    }
    let key_text = read(key_pem)?;
    let key = PrivateKeyDer::from_pem_slice(&key_text).map_err(|e| match e {
        pem::Error::NoItemsFound => TlsError::NoPrivateKey {
            path: key_pem.to_owned(),
        },
        source => TlsError::Pem {
            path: key_pem.to_owned(),
            source,
        },
    })?;
    let config_error = |source| TlsError::Config {
        cert: cert_pem.to_owned(),
        key: key_pem.to_owned(),
        source,
    };
    let mut config = ServerConfig::builder_with_provider(Arc::new(ring::default_provider()))
        .with_safe_default_protocol_versions()
        .map_err(config_error)?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| match e {
            rustls::Error::InconsistentKeys(_) => TlsError::KeyMismatch {
                cert: cert_pem.to_owned(),
                key: key_pem.to_owned(),
            },
            rustls::Error::General(_) => TlsError::UnusableKey {
                path: key_pem.to_owned(),
                source: e,
            },
            other => config_error(other),
        })?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

fn read(path: &Path) -> Result<Vec<u8>, TlsError> {
    std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_owned(),
        source,
    })
}

/// A TLS listener for [`axum::serve()`]: accepts TCP connections and hands on those whose
/// handshake succeeds.
///
/// Handshakes run in their own tasks, at most [`MAX_PENDING_HANDSHAKES`] at once and each
/// within the handshake timeout, so a client that connects and stalls holds up no one. A
/// failed or timed-out handshake is logged at debug level and the listener goes on.
///
/// ```no_run
/// # async fn run(app: axum::Router) -> Result<(), Box<dyn std::error::Error>> {
/// use std::path::Path;
/// let config = tipring_auth::tls_config(Path::new("cert.pem"), Path::new("key.pem"))?;
/// let tcp = tokio::net::TcpListener::bind("0.0.0.0:8443").await?;
/// axum::serve(tipring_auth::TlsListener::new(tcp, config), app).await?;
/// # Ok(()) }
/// ```
pub struct TlsListener {
    tcp: TcpListener,
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    handshakes: JoinSet<Option<(TlsStream<TcpStream>, SocketAddr)>>,
}

impl TlsListener {
    /// Serves TLS with `config` on the connections `tcp` accepts, with the
    /// [`DEFAULT_HANDSHAKE_TIMEOUT`].
    #[must_use]
    pub fn new(tcp: TcpListener, config: Arc<ServerConfig>) -> Self {
        Self {
            tcp,
            acceptor: TlsAcceptor::from(config),
            handshake_timeout: DEFAULT_HANDSHAKE_TIMEOUT,
            handshakes: JoinSet::new(),
        }
    }

    /// Sets how long a client has to finish the handshake.
    #[must_use]
    pub fn with_handshake_timeout(self, timeout: Duration) -> Self {
        Self {
            handshake_timeout: timeout,
            ..self
        }
    }

    fn start_handshake(&mut self, tcp: TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        let timeout = self.handshake_timeout;
        self.handshakes.spawn(async move {
            match tokio::time::timeout(timeout, acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => Some((tls, peer)),
                Ok(Err(e)) => {
                    tracing::debug!("TLS handshake with {peer} failed: {e}");
                    None
                }
                Err(_) => {
                    tracing::debug!(
                        "TLS handshake with {peer} not finished within {} ms; closed",
                        timeout.as_millis()
                    );
                    None
                }
            }
        });
    }
}

impl axum::serve::Listener for TlsListener {
    type Io = TlsStream<TcpStream>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let room = self.handshakes.len() < MAX_PENDING_HANDSHAKES;
            tokio::select! {
                // Both branches are cancel-safe: a dropped `accept` loses nothing.
                Some(done) = self.handshakes.join_next(), if !self.handshakes.is_empty() => {
                    match done {
                        Ok(Some(connection)) => return connection,
                        Ok(None) => {}
                        Err(e) => tracing::debug!("TLS handshake task ended: {e}"),
                    }
                }
                accepted = self.tcp.accept(), if room => match accepted {
                    Ok((tcp, peer)) => self.start_handshake(tcp, peer),
                    Err(e) => accept_error(e).await,
                },
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.tcp.local_addr()
    }
}

impl fmt::Debug for TlsListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsListener")
            .field("tcp", &self.tcp)
            .field("handshake_timeout", &self.handshake_timeout)
            .field("pending_handshakes", &self.handshakes.len())
            .finish_non_exhaustive()
    }
}

/// What axum's own TCP listener does: a connection that went away before it was accepted is
/// nothing; anything else (such as running out of file descriptors) is logged and waited out.
async fn accept_error(e: io::Error) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("TLS listener: accept failed: {e}; retrying in 1 s");
    tokio::time::sleep(Duration::from_secs(1)).await;
}
