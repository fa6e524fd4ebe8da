//! TLS for the public HTTPS listener: rustls with certificates chosen by SNI.
//!
//! Each configured certificate serves the names it is valid for (checked with
//! webpki against the SNI name); the first one is the default, for clients that send
//! no SNI or a name no certificate covers. TLS 1.2 and 1.3 only; ALPN offers `h2`
//! then `http/1.1`.

use std::sync::Arc;

use rustls::crypto::aws_lc_rs::sign::any_supported_type;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

use crate::config::CertificatePaths;

/// Why the certificates could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File {
        /// Which of the pair is at fault, for locating the error in the configuration.
        part: PairPart,
        path: String,
        reason: String,
    },
    #[error("no certificates configured")]
    Empty,
    #[error("TLS settings: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The two files of a certificate pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PairPart {
    Cert,
    Key,
}

impl PairPart {
    /// The configuration key that names the file.
    pub fn field(self) -> &'static str {
        match self {
            PairPart::Cert => "cert",
            PairPart::Key => "key",
        }
    }
}

struct Entry {
    key: Arc<CertifiedKey>,
    end_entity: CertificateDer<'static>,
}

/// Picks a certificate by SNI.
struct SniResolver {
    entries: Vec<Entry>,
}

impl std::fmt::Debug for SniResolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SniResolver({} certificates)", self.entries.len())
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let default = self.entries.first().map(|e| e.key.clone());
        let Some(name) = hello.server_name() else {
            return default;
        };
        let Ok(name) = ServerName::try_from(name.to_owned()) else {
            return default;
        };
        self.entries
            .iter()
            .find(|e| {
                webpki::EndEntityCert::try_from(&e.end_entity)
                    .is_ok_and(|cert| cert.verify_is_valid_for_subject_name(&name).is_ok())
            })
            .map(|e| e.key.clone())
            .or(default)
    }
}

/// Whether a certificate and key load and match in kind (for `consentry check`).
pub fn check_certificate(paths: &CertificatePaths) -> Result<(), TlsError> {
    load_entry(paths).map(|_| ())
}

fn load_entry(paths: &CertificatePaths) -> Result<Entry, TlsError> {
    let fail = |part: PairPart, reason: String| TlsError::File {
        part,
        path: match part {
            PairPart::Cert => paths.cert.display().to_string(),
            PairPart::Key => paths.key.display().to_string(),
        },
        reason,
    };
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&paths.cert)
        .map_err(|e| fail(PairPart::Cert, e.to_string()))?
        .collect::<Result<_, _>>()
        .map_err(|e| fail(PairPart::Cert, e.to_string()))?;
    let Some(end_entity) = chain.first().cloned() else {
        return Err(fail(PairPart::Cert, "holds no PEM certificate".into()));
    };
    // PKCS#8, PKCS#1 (RSA) and SEC1 (EC) keys are all read by `from_pem_file`.
    let key = PrivateKeyDer::from_pem_file(&paths.key).map_err(|e| match e {
        rustls::pki_types::pem::Error::NoItemsFound => {
            fail(PairPart::Key, "holds no PEM private key".into())
        }
        e => fail(PairPart::Key, e.to_string()),
    })?;
    let signing = any_supported_type(&key).map_err(|e| fail(PairPart::Key, e.to_string()))?;
    let certified = CertifiedKey::new(chain, signing);
    // A key that is not the certificate's would fail every handshake for its names: a
    // renewal caught half written, or a wrong pair. (A key whose public half cannot be
    // read is let through: there is nothing to compare.)
    if let Err(rustls::Error::InconsistentKeys(rustls::InconsistentKeys::KeyMismatch)) =
        certified.keys_match()
    {
        return Err(fail(
            PairPart::Key,
            format!("is not the key of the certificate {}", paths.cert.display()),
        ));
    }
    Ok(Entry {
        key: Arc::new(certified),
        end_entity,
    })
}

/// Builds the server configuration from the configured certificates.
pub fn server_config(
    certificates: &[CertificatePaths],
) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    if certificates.is_empty() {
        return Err(TlsError::Empty);
    }
    let entries = certificates
        .iter()
        .map(load_entry)
        .collect::<Result<Vec<_>, _>>()?;
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(SniResolver { entries }));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
