//! Reading key material in the forms Kafka users have it: PEM (plain or encrypted PKCS#8) and
//! PKCS#12, from files or inline settings.

use std::path::Path;

use p12_keystore::Pkcs12Archive;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs1KeyDer, PrivatePkcs8KeyDer, PrivateSec1KeyDer};

use super::TlsConfigError;
use super::pem;
use super::settings::{KeySource, Secret, StoreType, TlsSettings, TrustSource, jks_hint};

/// The bytes of the watched files, read once so that what is hashed is exactly what is parsed.
pub(crate) struct FileContents {
    key: Option<Vec<u8>>,
    trust: Option<Vec<u8>>,
}

impl FileContents {
    /// Reads the key store and trust store files named in `settings` (inline PEM needs none).
    pub(crate) fn read(settings: &TlsSettings) -> Result<FileContents, TlsConfigError> {
        let key = match &settings.key {
            KeySource::File { path, .. } => Some(read_file(path, "key store")?),
            KeySource::InlinePem { .. } => None,
        };
        let trust = match &settings.trust {
            Some(TrustSource::File { path, .. }) => Some(read_file(path, "trust store")?),
            _ => None,
        };
        Ok(FileContents { key, trust })
    }

    /// A SHA-256 digest of each file, to notice a replaced file whatever its modification time
    /// (a symlink swap can expose an older file).
    pub(crate) fn fingerprint(&self) -> Vec<Option<[u8; 32]>> {
        [&self.key, &self.trust]
            .iter()
            .map(|bytes| {
                bytes.as_ref().map(|b| {
                    let digest = ring::digest::digest(&ring::digest::SHA256, b);
                    let mut out = [0u8; 32];
                    out.copy_from_slice(digest.as_ref());
                    out
                })
            })
            .collect()
    }
}

fn read_file(path: &Path, what: &'static str) -> Result<Vec<u8>, TlsConfigError> {
    std::fs::read(path).map_err(|e| TlsConfigError::Io {
        what,
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

/// The server's certificate chain and key, and the certificates trusted to sign client
/// certificates, all parsed but not yet checked against each other.
pub(crate) struct Material {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivateKeyDer<'static>,
    pub(crate) roots: Vec<CertificateDer<'static>>,
}

/// Parses the key and trust material of `settings`, taking file bytes from `files`.
pub(crate) fn load(settings: &TlsSettings, files: &FileContents) -> Result<Material, TlsConfigError> {
    let key_password = settings.key_password.as_ref();
    let (chain, key) = match &settings.key {
        KeySource::InlinePem { chain, key } => {
            let chain = pem_certificates(chain, "ssl.keystore.certificate.chain")?;
            let key = pem_private_key(&key.0, "ssl.keystore.key", key_password)?;
            (chain, key)
        }
        KeySource::File {
            path,
            store_type,
            password,
        } => {
            let bytes = files.key.as_deref().unwrap_or_default();
            let what = format!("key store {}", path.display());
            match store_type {
                StoreType::Pem => {
                    let text = utf8(bytes, &what)?;
                    (
                        pem_certificates(text, &what)?,
                        pem_private_key(text, &what, key_password)?,
                    )
                }
                StoreType::Pkcs12 | StoreType::Jks => {
                    pkcs12_key_store(bytes, &what, *store_type, password.as_ref(), key_password)?
                }
            }
        }
    };
    let roots = match &settings.trust {
        None => Vec::new(),
        Some(TrustSource::InlinePem(text)) => pem_certificates(text, "ssl.truststore.certificates")?,
        Some(TrustSource::File {
            path,
            store_type,
            password,
        }) => {
            let bytes = files.trust.as_deref().unwrap_or_default();
            let what = format!("trust store {}", path.display());
            match store_type {
                StoreType::Pem => pem_certificates(utf8(bytes, &what)?, &what)?,
                StoreType::Pkcs12 | StoreType::Jks => pkcs12_trust_store(bytes, &what, *store_type, password.as_ref())?,
            }
        }
    };
    Ok(Material { chain, key, roots })
}

fn utf8<'a>(bytes: &'a [u8], what: &str) -> Result<&'a str, TlsConfigError> {
    std::str::from_utf8(bytes).map_err(|_| {
        TlsConfigError::material(
            what,
            "not PEM text; if it is a PKCS#12 file, set the store type to PKCS12",
        )
    })
}

/// All `CERTIFICATE` blocks, in order; at least one, as Kafka requires.
pub(crate) fn pem_certificates(text: &str, what: &str) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let certs: Vec<CertificateDer<'static>> = pem::blocks(text, what)?
        .into_iter()
        .filter(|b| b.label == "CERTIFICATE")
        .map(|b| CertificateDer::from(b.der))
        .collect();
    if certs.is_empty() {
        return Err(TlsConfigError::material(what, "no CERTIFICATE found in PEM"));
    }
    for cert in &certs {
        x509_parser::parse_x509_certificate(cert)
            .map_err(|e| TlsConfigError::material(what, format!("a CERTIFICATE is not valid X.509: {e}")))?;
    }
    Ok(certs)
}

/// The one private key in `text`: PKCS#8 (Kafka's form, encrypted or not) and, beyond Kafka,
/// unencrypted PKCS#1 (`RSA PRIVATE KEY`) and SEC1 (`EC PRIVATE KEY`).
pub(crate) fn pem_private_key(
    text: &str,
    what: &str,
    password: Option<&Secret>,
) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let mut keys: Vec<pem::PemBlock> = pem::blocks(text, what)?
        .into_iter()
        .filter(|b| b.label.ends_with("PRIVATE KEY"))
        .collect();
    if keys.len() != 1 {
        return Err(TlsConfigError::material(
            what,
            format!("expected one private key in PEM, found {}", keys.len()),
        ));
    }
    let block = keys.remove(0);
    if block.has_headers {
        return Err(TlsConfigError::material(
            what,
            format!(
                "the `{}` uses OpenSSL's legacy PEM encryption, which Kafka does not read either; convert it with \
                 `openssl pkcs8 -topk8 -v2 aes-256-cbc -in old.pem -out new.pem` and set ssl.key.password",
                block.label
            ),
        ));
    }
    match block.label.as_str() {
        "PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(with_ec_public_key(
            &block.der,
        )))),
        "RSA PRIVATE KEY" => Ok(PrivateKeyDer::Pkcs1(PrivatePkcs1KeyDer::from(block.der))),
        "EC PRIVATE KEY" => Ok(PrivateKeyDer::Sec1(PrivateSec1KeyDer::from(block.der))),
        "ENCRYPTED PRIVATE KEY" => decrypt_pkcs8(&block.der, what, password),
        other => Err(TlsConfigError::material(
            what,
            format!("unsupported private key type `{other}`"),
        )),
    }
}

/// Decrypts an `ENCRYPTED PRIVATE KEY` (PKCS#8 with PBES2, as `openssl pkcs8 -topk8 -v2 ...`
/// writes) with `ssl.key.password`.
fn decrypt_pkcs8(der: &[u8], what: &str, password: Option<&Secret>) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let Some(password) = password else {
        return Err(TlsConfigError::material(
            what,
            "the private key is encrypted but ssl.key.password is not set",
        ));
    };
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| TlsConfigError::material(what, format!("malformed ENCRYPTED PRIVATE KEY: {e}")))?;
    let wrong = || TlsConfigError::material(what, "cannot decrypt the private key: wrong ssl.key.password");
    // pkcs5 reports bad padding after decryption, i.e. a wrong password, as `EncryptFailed`.
    let plain = info.decrypt(password.0.as_bytes()).map_err(|e| match e {
        pkcs8::Error::EncryptedPrivateKey(pkcs8::pkcs5::Error::DecryptFailed | pkcs8::pkcs5::Error::EncryptFailed) => {
            wrong()
        }
        other => TlsConfigError::material(
            what,
            format!(
                "cannot decrypt the private key ({other}); re-encrypt it with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
            ),
        ),
    })?;
    // A wrong password occasionally yields valid padding over garbage: the result must still be
    // a well-formed PKCS#8 structure.
    pkcs8::PrivateKeyInfo::try_from(plain.as_bytes()).map_err(|_| wrong())?;
    Ok(PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(with_ec_public_key(
        plain.as_bytes(),
    ))))
}

/// A PKCS#8 EC key with its public key filled in. Java (keytool, and so most PKCS#12 key stores
/// made for Kafka) omits the optional public key from EC private keys, and ring refuses keys
/// without it; the public key is recomputed from the private scalar. Anything else (RSA, keys
/// that already carry it, curves ring does not sign with) is returned unchanged, and a key that
/// cannot be parsed is left for rustls to report.
fn with_ec_public_key(der: &[u8]) -> Vec<u8> {
    use pkcs8::{DecodePrivateKey, EncodePrivateKey};
    const EC_PUBLIC_KEY: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
    const P256: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
    const P384: pkcs8::ObjectIdentifier = pkcs8::ObjectIdentifier::new_unwrap("1.3.132.0.34");
    let Ok(info) = pkcs8::PrivateKeyInfo::try_from(der) else {
        return der.to_vec();
    };
    if info.algorithm.oid != EC_PUBLIC_KEY {
        return der.to_vec();
    }
    let completed = match info.algorithm.parameters_oid() {
        Ok(P256) => p256::SecretKey::from_pkcs8_der(der)
            .ok()
            .and_then(|k| k.to_pkcs8_der().ok()),
        Ok(P384) => p384::SecretKey::from_pkcs8_der(der)
            .ok()
            .and_then(|k| k.to_pkcs8_der().ok()),
        _ => None,
    };
    completed.map_or_else(|| der.to_vec(), |doc| doc.as_bytes().to_vec())
}

/// Refuses Java's own key store formats, which no Rust library reads, with the conversion hint.
fn refuse_java_store(bytes: &[u8], what: &str, store_type: StoreType) -> Result<(), TlsConfigError> {
    let magic = bytes.get(..4);
    if magic == Some(&[0xFE, 0xED, 0xFE, 0xED]) || magic == Some(&[0xCE, 0xCE, 0xCE, 0xCE]) {
        return Err(TlsConfigError::material(
            what,
            jks_hint("the file is a JKS/JCEKS key store"),
        ));
    }
    if store_type == StoreType::Jks && bytes.first() != Some(&0x30) {
        return Err(TlsConfigError::material(
            what,
            jks_hint("the store type is JKS (Kafka's default)"),
        ));
    }
    Ok(())
}

/// Opens a PKCS#12 archive; the error is a reason for the caller to qualify.
fn open_pkcs12(bytes: &[u8], password: &str) -> Result<Pkcs12Archive, String> {
    Pkcs12Archive::from_pkcs12(bytes, password).map_err(|e| match e {
        p12_keystore::error::Error::MacError(_) => "wrong password: the PKCS#12 integrity check failed".to_string(),
        other => format!("cannot read PKCS#12 (wrong password or damaged file): {other}"),
    })
}

fn pkcs12_key_store(
    bytes: &[u8],
    what: &str,
    store_type: StoreType,
    password: Option<&Secret>,
    key_password: Option<&Secret>,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), TlsConfigError> {
    refuse_java_store(bytes, what, store_type)?;
    let store_password = password.map(|p| p.0.as_str()).unwrap_or("");
    let archive = open_pkcs12(bytes, store_password).map_err(|e| match key_password {
        // PKCS#12 as keytool and openssl write it has one password for the store and its keys;
        // keytool refuses to give a PKCS#12 key a password of its own.
        Some(k) if k.0 != store_password => TlsConfigError::material(
            what,
            format!("{e} (note: a key password different from ssl.keystore.password is not supported for PKCS#12)"),
        ),
        _ => TlsConfigError::material(what, e),
    })?;
    if archive.keys.len() != 1 {
        return Err(TlsConfigError::material(
            what,
            format!("expected exactly one private key entry, found {}", archive.keys.len()),
        ));
    }
    let key_bag = &archive.keys[0];
    let leaf_index = key_bag
        .local_key_id
        .as_ref()
        .and_then(|id| {
            archive
                .certs
                .iter()
                .position(|c| c.local_key_id.as_deref() == Some(id.0.as_slice()))
        })
        .or(if archive.certs.is_empty() { None } else { Some(0) })
        .ok_or_else(|| TlsConfigError::material(what, "the private key has no certificate"))?;
    // The chain: the leaf, then each issuer found among the other certificates.
    let mut used = vec![leaf_index];
    let mut current = &archive.certs[leaf_index].cert;
    while current.issuer() != current.subject() {
        let Some(next) = archive
            .certs
            .iter()
            .enumerate()
            .position(|(i, c)| !used.contains(&i) && c.cert.subject() == current.issuer())
        else {
            break;
        };
        used.push(next);
        current = &archive.certs[next].cert;
    }
    let chain = used
        .iter()
        .map(|&i| CertificateDer::from(archive.certs[i].cert.as_der().to_vec()))
        .collect();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(with_ec_public_key(key_bag.key.as_der())));
    Ok((chain, key))
}

fn pkcs12_trust_store(
    bytes: &[u8],
    what: &str,
    store_type: StoreType,
    password: Option<&Secret>,
) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    refuse_java_store(bytes, what, store_type)?;
    let archive = open_pkcs12(bytes, password.map(|p| p.0.as_str()).unwrap_or("")).map_err(|e| {
        if password.is_none() {
            TlsConfigError::material(what, format!("{e}; set ssl.truststore.password"))
        } else {
            TlsConfigError::material(what, e)
        }
    })?;
    // Every certificate is trusted: keytool marks them with its trusted-certificate attribute,
    // `openssl pkcs12 -export -nokeys` does not, and both are used as Kafka trust stores.
    let certs: Vec<CertificateDer<'static>> = archive
        .certs
        .iter()
        .map(|c| CertificateDer::from(c.cert.as_der().to_vec()))
        .collect();
    if certs.is_empty() {
        return Err(TlsConfigError::material(what, "the trust store holds no certificate"));
    }
    Ok(certs)
}
