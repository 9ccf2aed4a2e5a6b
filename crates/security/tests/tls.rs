//! The `tls` module end to end: key material in every form Kafka users hand over, real
//! handshakes with tokio-rustls on both sides, and reload.
//!
//! Certificates are made with rcgen; PKCS#12 files and encrypted PEM keys with the `openssl`
//! command, which these tests require (they fail, not skip, without it).

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, DnValue, IsCa, Issuer, KeyPair, KeyUsagePurpose,
};
use rustls::pki_types::ServerName;
use rustls::pki_types::pem::PemObject;
use sluice_security::tls::{
    ClientAuth, ReloadableTls, TlsConfigError, TlsSettings, client_certificate_subject, client_config,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Parameters with an empty subject (rcgen's default has a CN that would come first).
fn params(sans: &[&str]) -> CertificateParams {
    let mut params = CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    params.distinguished_name = DistinguishedName::new();
    params
}

/// A CA and certificates it signs.
struct Ca {
    params: CertificateParams,
    key: KeyPair,
    pem: String,
}

/// A certificate with its PKCS#8 key, in PEM.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = params(&[]);
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let pem = params.self_signed(&key).unwrap().pem();
        Ca { params, key, pem }
    }

    fn issue(&self, cn: &str, sans: &[&str]) -> Leaf {
        let mut params = params(sans);
        params.distinguished_name.push(DnType::OrganizationName, "Acme");
        params.distinguished_name.push(DnType::CommonName, cn);
        self.issue_with(params)
    }

    fn issue_with(&self, params: CertificateParams) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let issuer = Issuer::from_params(&self.params, &self.key);
        let cert = params.signed_by(&key, &issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }
}

fn settings(pairs: &[(&str, &str)]) -> Result<TlsSettings, TlsConfigError> {
    let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    TlsSettings::from_properties(&|k| map.get(k).cloned())
}

fn write(dir: &Path, name: &str, contents: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_string()
}

fn openssl(args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("these tests need the `openssl` command on PATH");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// What a handshake produced on each side.
struct Outcome {
    /// The server's view: the client's certificate subject (None without one), or the error.
    server: Result<Option<String>, String>,
    /// The client's view: the subject of the certificate the server presented, or the error.
    client: Result<String, String>,
}

/// A full handshake plus one message each way over an in-memory duplex.
async fn handshake(acceptor: TlsAcceptor, client: rustls::ClientConfig) -> Outcome {
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let server = async move {
        let mut tls = acceptor.accept(server_io).await.map_err(|e| e.to_string())?;
        let peer = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|c| c.first())
            .map(|c| client_certificate_subject(c).unwrap());
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        tls.write_all(b"pong").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        Ok::<_, String>(peer)
    };
    let connector = TlsConnector::from(Arc::new(client));
    let client = async move {
        let mut tls = connector
            .connect(ServerName::try_from("localhost").unwrap(), client_io)
            .await
            .map_err(|e| e.to_string())?;
        let server_subject = client_certificate_subject(&tls.get_ref().1.peer_certificates().unwrap()[0]).unwrap();
        tls.write_all(b"ping").await.map_err(|e| e.to_string())?;
        tls.flush().await.map_err(|e| e.to_string())?;
        let mut buf = [0u8; 4];
        tls.read_exact(&mut buf).await.map_err(|e| e.to_string())?;
        assert_eq!(&buf, b"pong");
        Ok::<_, String>(server_subject)
    };
    let (server, client) = tokio::join!(server, client);
    Outcome { server, client }
}

/// A CA, a server certificate for `localhost` in a PEM key store file, and the CA as a PEM
/// trust store file.
struct Pki {
    dir: tempfile::TempDir,
    ca: Ca,
    server: Leaf,
    keystore: String,
    truststore: String,
}

fn pki() -> Pki {
    let dir = tempfile::tempdir().unwrap();
    let ca = Ca::new("Test CA");
    let server = ca.issue("broker", &["localhost"]);
    let keystore = write(
        dir.path(),
        "server.pem",
        &format!("{}{}", server.key_pem, server.cert_pem),
    );
    let truststore = write(dir.path(), "ca.pem", &ca.pem);
    Pki {
        dir,
        ca,
        server,
        keystore,
        truststore,
    }
}

fn pem_listener(pki: &Pki, client_auth: &str) -> ReloadableTls {
    ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &pki.keystore),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &pki.truststore),
            ("ssl.client.auth", client_auth),
        ])
        .unwrap(),
    )
    .unwrap()
}

fn anonymous_client(pki: &Pki) -> rustls::ClientConfig {
    client_config(&pki.ca.pem, None).unwrap()
}

#[tokio::test]
async fn pem_files_serve_a_handshake() {
    let pki = pki();
    let tls = pem_listener(&pki, "none");
    let out = handshake(tls.acceptor(), anonymous_client(&pki)).await;
    assert_eq!(out.server.unwrap(), None);
    assert_eq!(out.client.unwrap(), "CN=broker,O=Acme");
}

#[tokio::test]
async fn inline_pem_serves_a_handshake() {
    let pki = pki();
    let client = pki.ca.issue("alice", &[]);
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.key", &pki.server.key_pem),
            ("ssl.keystore.certificate.chain", &pki.server.cert_pem),
            ("ssl.truststore.type", "PEM"),
            // Folded onto one line, as a .properties continuation leaves it.
            ("ssl.truststore.certificates", &pki.ca.pem.replace('\n', " ")),
            ("ssl.client.auth", "required"),
        ])
        .unwrap(),
    )
    .unwrap();
    let cfg = client_config(&pki.ca.pem, Some((&client.cert_pem, &client.key_pem))).unwrap();
    let out = handshake(tls.acceptor(), cfg).await;
    assert_eq!(out.server.unwrap().as_deref(), Some("CN=alice,O=Acme"));
    assert!(out.client.is_ok());
    // Inline material has no file to watch.
    assert!(!tls.reload_if_changed().unwrap());
}

#[tokio::test]
async fn encrypted_pkcs8_key_needs_the_right_password() {
    let pki = pki();
    let plain = write(pki.dir.path(), "plain.key", &pki.server.key_pem);
    let enc = pki.dir.path().join("enc.key");
    openssl(&[
        "pkcs8",
        "-topk8",
        "-v2",
        "aes-256-cbc",
        "-in",
        &plain,
        "-out",
        enc.to_str().unwrap(),
        "-passout",
        "pass:s3cret-key",
    ]);
    let enc_pem = std::fs::read_to_string(&enc).unwrap();
    assert!(enc_pem.contains("BEGIN ENCRYPTED PRIVATE KEY"));
    let keystore = write(
        pki.dir.path(),
        "enc-server.pem",
        &format!("{enc_pem}{}", pki.server.cert_pem),
    );

    let with_password = |password: Option<&str>| {
        let mut p = vec![
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", keystore.as_str()),
        ];
        if let Some(pw) = password {
            p.push(("ssl.key.password", pw));
        }
        ReloadableTls::new(settings(&p).unwrap())
    };
    let tls = with_password(Some("s3cret-key")).unwrap();
    assert!(handshake(tls.acceptor(), anonymous_client(&pki)).await.client.is_ok());

    let wrong = with_password(Some("not-it")).err().unwrap().to_string();
    assert!(wrong.contains("wrong ssl.key.password"), "{wrong}");
    assert!(
        !wrong.contains("not-it"),
        "the error must not echo the password: {wrong}"
    );
    let missing = with_password(None).err().unwrap().to_string();
    assert!(missing.contains("ssl.key.password is not set"), "{missing}");

    // The inline form takes the same password.
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.key", &enc_pem),
            ("ssl.keystore.certificate.chain", &pki.server.cert_pem),
            ("ssl.key.password", "s3cret-key"),
        ])
        .unwrap(),
    )
    .unwrap();
    assert!(handshake(tls.acceptor(), anonymous_client(&pki)).await.client.is_ok());
}

#[tokio::test]
async fn mismatched_key_and_legacy_encryption_are_refused() {
    let pki = pki();
    let other = pki.ca.issue("other", &["localhost"]);
    let keystore = write(
        pki.dir.path(),
        "mismatch.pem",
        &format!("{}{}", other.key_pem, pki.server.cert_pem),
    );
    let err =
        ReloadableTls::new(settings(&[("ssl.keystore.type", "PEM"), ("ssl.keystore.location", &keystore)]).unwrap())
            .err()
            .unwrap();
    assert!(err.to_string().contains("does not match"), "{err}");

    let plain = write(pki.dir.path(), "plain.key", &pki.server.key_pem);
    let legacy = pki.dir.path().join("legacy.key");
    openssl(&[
        "ec",
        "-in",
        &plain,
        "-out",
        legacy.to_str().unwrap(),
        "-aes256",
        "-passout",
        "pass:pw",
    ]);
    let legacy_pem = std::fs::read_to_string(&legacy).unwrap();
    let keystore = write(
        pki.dir.path(),
        "legacy.pem",
        &format!("{legacy_pem}{}", pki.server.cert_pem),
    );
    let err = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &keystore),
            ("ssl.key.password", "pw"),
        ])
        .unwrap(),
    )
    .err()
    .unwrap();
    assert!(err.to_string().contains("openssl pkcs8 -topk8"), "{err}");
}

fn pkcs12(pki: &Pki, extra: &[&str]) -> (String, String) {
    let dir = pki.dir.path();
    let key = write(dir, "p12.key", &pki.server.key_pem);
    let cert = write(dir, "p12.crt", &pki.server.cert_pem);
    let ks = dir.join(format!("ks{}.p12", extra.len())).to_str().unwrap().to_string();
    let ts = dir.join(format!("ts{}.p12", extra.len())).to_str().unwrap().to_string();
    let mut args = vec![
        "pkcs12",
        "-export",
        "-in",
        &cert,
        "-inkey",
        &key,
        "-certfile",
        &pki.truststore,
        "-name",
        "broker",
        "-out",
        &ks,
        "-passout",
        "pass:store-pw",
    ];
    args.extend_from_slice(extra);
    openssl(&args);
    let mut args = vec![
        "pkcs12",
        "-export",
        "-nokeys",
        "-in",
        &pki.truststore,
        "-out",
        &ts,
        "-passout",
        "pass:trust-pw",
    ];
    args.extend_from_slice(extra);
    openssl(&args);
    (ks, ts)
}

#[tokio::test]
async fn pkcs12_key_store_and_trust_store() {
    let pki = pki();
    // OpenSSL 3's default (PBES2 AES-256-CBC, HMAC-SHA256 MAC, as modern keytool writes) and the
    // older 3DES/SHA-1 form Java 8's keytool wrote.
    for extra in [
        &[][..],
        &[
            "-keypbe",
            "PBE-SHA1-3DES",
            "-certpbe",
            "PBE-SHA1-3DES",
            "-macalg",
            "sha1",
        ][..],
    ] {
        let (ks, ts) = pkcs12(&pki, extra);
        let tls = ReloadableTls::new(
            settings(&[
                ("ssl.keystore.type", "PKCS12"),
                ("ssl.keystore.location", &ks),
                ("ssl.keystore.password", "store-pw"),
                ("ssl.key.password", "store-pw"),
                ("ssl.truststore.type", "PKCS12"),
                ("ssl.truststore.location", &ts),
                ("ssl.truststore.password", "trust-pw"),
                ("ssl.client.auth", "required"),
            ])
            .unwrap(),
        )
        .unwrap_or_else(|e| panic!("{extra:?}: {e}"));
        let client = pki.ca.issue("bob", &[]);
        let cfg = client_config(&pki.ca.pem, Some((&client.cert_pem, &client.key_pem))).unwrap();
        let out = handshake(tls.acceptor(), cfg).await;
        assert_eq!(out.server.unwrap().as_deref(), Some("CN=bob,O=Acme"), "{extra:?}");
        assert_eq!(out.client.unwrap(), "CN=broker,O=Acme");

        // The default type name JKS still reads a PKCS#12 file, as Java does.
        ReloadableTls::new(settings(&[("ssl.keystore.location", &ks), ("ssl.keystore.password", "store-pw")]).unwrap())
            .unwrap();

        let err = ReloadableTls::new(
            settings(&[
                ("ssl.keystore.type", "PKCS12"),
                ("ssl.keystore.location", &ks),
                ("ssl.keystore.password", "wrong-store-pw"),
            ])
            .unwrap(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(err.contains("wrong password"), "{err}");
        assert!(!err.contains("wrong-store-pw"), "{err}");
    }
}

#[tokio::test]
async fn jks_files_are_refused_with_the_conversion_command() {
    let pki = pki();
    // A JKS file starts with the magic 0xFEEDFEED; nothing past it is read.
    let jks = pki.dir.path().join("server.jks");
    std::fs::write(&jks, [0xFE, 0xED, 0xFE, 0xED, 0, 0, 0, 2, 0, 0, 0, 1]).unwrap();
    for store_type in ["JKS", "PKCS12"] {
        let err = ReloadableTls::new(
            settings(&[
                ("ssl.keystore.type", store_type),
                ("ssl.keystore.location", jks.to_str().unwrap()),
                ("ssl.keystore.password", "changeit"),
            ])
            .unwrap(),
        )
        .err()
        .unwrap()
        .to_string();
        assert!(
            err.contains("keytool -importkeystore -srckeystore x.jks -destkeystore x.p12 -deststoretype PKCS12"),
            "{err}"
        );
    }
}

#[tokio::test]
async fn required_client_auth() {
    let pki = pki();
    let tls = pem_listener(&pki, "required");
    // A trusted client certificate passes and is seen by the server.
    let alice = pki.ca.issue("alice", &[]);
    let out = handshake(
        tls.acceptor(),
        client_config(&pki.ca.pem, Some((&alice.cert_pem, &alice.key_pem))).unwrap(),
    )
    .await;
    assert_eq!(out.server.unwrap().as_deref(), Some("CN=alice,O=Acme"));
    // No certificate: refused.
    let out = handshake(tls.acceptor(), anonymous_client(&pki)).await;
    assert!(out.server.is_err());
    assert!(out.client.is_err());
    // A certificate from another CA: refused.
    let mallory = Ca::new("Other CA").issue("mallory", &[]);
    let out = handshake(
        tls.acceptor(),
        client_config(&pki.ca.pem, Some((&mallory.cert_pem, &mallory.key_pem))).unwrap(),
    )
    .await;
    let err = out.server.unwrap_err();
    assert!(err.contains("UnknownIssuer") || err.contains("unknown"), "{err}");
    assert!(out.client.is_err());
}

#[tokio::test]
async fn requested_client_auth() {
    let pki = pki();
    let tls = pem_listener(&pki, "requested");
    let out = handshake(tls.acceptor(), anonymous_client(&pki)).await;
    assert_eq!(out.server.unwrap(), None);
    let alice = pki.ca.issue("alice", &[]);
    let out = handshake(
        tls.acceptor(),
        client_config(&pki.ca.pem, Some((&alice.cert_pem, &alice.key_pem))).unwrap(),
    )
    .await;
    assert_eq!(out.server.unwrap().as_deref(), Some("CN=alice,O=Acme"));
    // A certificate that is presented must still be trusted.
    let mallory = Ca::new("Other CA").issue("mallory", &[]);
    let out = handshake(
        tls.acceptor(),
        client_config(&pki.ca.pem, Some((&mallory.cert_pem, &mallory.key_pem))).unwrap(),
    )
    .await;
    assert!(out.server.is_err());
}

#[tokio::test]
async fn no_client_auth_ignores_client_certificates() {
    let pki = pki();
    let tls = pem_listener(&pki, "none");
    let alice = pki.ca.issue("alice", &[]);
    let out = handshake(
        tls.acceptor(),
        client_config(&pki.ca.pem, Some((&alice.cert_pem, &alice.key_pem))).unwrap(),
    )
    .await;
    assert_eq!(
        out.server.unwrap(),
        None,
        "the server did not ask, so the client sent none"
    );
    assert_eq!(tls.settings().client_auth(), ClientAuth::None);
}

#[tokio::test]
async fn tls13_only_listener_refuses_a_tls12_client() {
    let pki = pki();
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &pki.keystore),
            ("ssl.enabled.protocols", "TLSv1.3"),
        ])
        .unwrap(),
    )
    .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls::pki_types::CertificateDer::from(pki_ca_der(&pki)))
        .unwrap();
    let tls12_only = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_protocol_versions(&[&rustls::version::TLS12])
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let out = handshake(tls.acceptor(), tls12_only.clone()).await;
    assert!(out.server.is_err() && out.client.is_err());

    // The default (TLSv1.2,TLSv1.3) serves the same client.
    let both = pem_listener(&pki, "none");
    assert!(handshake(both.acceptor(), tls12_only).await.client.is_ok());
}

fn pki_ca_der(pki: &Pki) -> Vec<u8> {
    let der = rustls::pki_types::CertificateDer::from_pem_slice(pki.ca.pem.as_bytes());
    der.unwrap().to_vec()
}

#[tokio::test]
async fn restricted_cipher_suites_are_negotiated() {
    let pki = pki();
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &pki.keystore),
            (
                "ssl.cipher.suites",
                "TLS_CHACHA20_POLY1305_SHA256,TLS_RSA_WITH_AES_128_CBC_SHA",
            ),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(tls.settings().dropped_cipher_suites(), ["TLS_RSA_WITH_AES_128_CBC_SHA"]);
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let acceptor = tls.acceptor();
    let connector = TlsConnector::from(Arc::new(anonymous_client(&pki)));
    let (server, client) = tokio::join!(
        acceptor.accept(server_io),
        connector.connect(ServerName::try_from("localhost").unwrap(), client_io)
    );
    server.unwrap();
    let client = client.unwrap();
    assert_eq!(
        client.get_ref().1.negotiated_cipher_suite().unwrap().suite(),
        rustls::CipherSuite::TLS13_CHACHA20_POLY1305_SHA256
    );
}

/// Replaces `path` the way Strimzi and cert-manager do: write elsewhere, then atomically swap a
/// symlink.
fn swap_symlink(link: &Path, target_dir: &Path, name: &str, contents: &str) {
    std::fs::create_dir_all(target_dir).unwrap();
    let target = target_dir.join(name);
    std::fs::write(&target, contents).unwrap();
    let tmp = link.with_extension("tmp-link");
    let _ = std::fs::remove_file(&tmp);
    std::os::unix::fs::symlink(&target, &tmp).unwrap();
    std::fs::rename(&tmp, link).unwrap();
}

#[tokio::test]
async fn reload_swaps_in_a_renewed_certificate_and_keeps_old_connections() {
    let pki = pki();
    let dir = pki.dir.path();
    let link: PathBuf = dir.join("live.pem");
    swap_symlink(
        &link,
        &dir.join("v1"),
        "server.pem",
        &format!("{}{}", pki.server.key_pem, pki.server.cert_pem),
    );
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", link.to_str().unwrap()),
        ])
        .unwrap(),
    )
    .unwrap();
    assert!(!tls.reload_if_changed().unwrap(), "nothing changed yet");

    // A connection opened before the reload.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let connector = TlsConnector::from(Arc::new(anonymous_client(&pki)));
    let (old_server, old_client) = tokio::join!(
        tls.acceptor().accept(server_io),
        connector.connect(ServerName::try_from("localhost").unwrap(), client_io)
    );
    let (mut old_server, mut old_client) = (old_server.unwrap(), old_client.unwrap());
    let old_der = old_client.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    assert_eq!(old_der, pki.server.der);

    // A renewal: same subject and SANs, new key and certificate.
    let renewed = pki.ca.issue("broker", &["localhost"]);
    swap_symlink(
        &link,
        &dir.join("v2"),
        "server.pem",
        &format!("{}{}", renewed.key_pem, renewed.cert_pem),
    );
    assert!(tls.reload_if_changed().unwrap());
    assert!(!tls.reload_if_changed().unwrap(), "a second look sees no change");

    // A new handshake sees the new certificate.
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let (s, c) = tokio::join!(
        tls.acceptor().accept(server_io),
        connector.connect(ServerName::try_from("localhost").unwrap(), client_io)
    );
    s.unwrap();
    assert_eq!(
        c.unwrap().get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        renewed.der
    );

    // The old connection still works both ways.
    old_client.write_all(b"still").await.unwrap();
    old_client.flush().await.unwrap();
    let mut buf = [0u8; 5];
    old_server.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"still");
    old_server.write_all(b"alive").await.unwrap();
    old_server.flush().await.unwrap();
    old_client.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"alive");
}

#[tokio::test]
async fn broken_replacement_keeps_the_old_configuration() {
    let pki = pki();
    let tls = pem_listener(&pki, "none");
    let good = std::fs::read_to_string(&pki.keystore).unwrap();

    // Truncated file (a half-written copy).
    std::fs::write(&pki.keystore, &good[..good.len() / 2]).unwrap();
    assert!(tls.reload_if_changed().is_err());
    // Key and certificate that do not belong together.
    let other = pki.ca.issue("broker", &["localhost"]);
    std::fs::write(&pki.keystore, format!("{}{}", other.key_pem, pki.server.cert_pem)).unwrap();
    let err = tls.reload_if_changed().unwrap_err();
    assert!(err.to_string().contains("does not match"), "{err}");
    // Missing file.
    std::fs::remove_file(&pki.keystore).unwrap();
    assert!(matches!(tls.reload_if_changed(), Err(TlsConfigError::Io { .. })));
    // A different subject, refused by Kafka's ssl.allow.dn.changes rule.
    let renamed = pki.ca.issue("someone-else", &["localhost"]);
    std::fs::write(&pki.keystore, format!("{}{}", renamed.key_pem, renamed.cert_pem)).unwrap();
    let err = tls.reload_if_changed().unwrap_err();
    assert!(matches!(err, TlsConfigError::ReloadRefused(_)), "{err}");
    // Different SANs, refused by ssl.allow.san.changes.
    let more_names = pki.ca.issue("broker", &["localhost", "broker-1.example"]);
    std::fs::write(&pki.keystore, format!("{}{}", more_names.key_pem, more_names.cert_pem)).unwrap();
    let err = tls.reload_if_changed().unwrap_err();
    assert!(err.to_string().contains("ssl.allow.san.changes"), "{err}");

    // Through all of it the old certificate is served.
    let out = handshake(tls.acceptor(), anonymous_client(&pki)).await;
    assert_eq!(out.client.unwrap(), "CN=broker,O=Acme");
    let (server_io, client_io) = tokio::io::duplex(64 * 1024);
    let connector = TlsConnector::from(Arc::new(anonymous_client(&pki)));
    let (_, c) = tokio::join!(
        tls.acceptor().accept(server_io),
        connector.connect(ServerName::try_from("localhost").unwrap(), client_io)
    );
    assert_eq!(
        c.unwrap().get_ref().1.peer_certificates().unwrap()[0].to_vec(),
        pki.server.der
    );

    // Once a good file is back, it is picked up.
    let renewed = pki.ca.issue("broker", &["localhost"]);
    std::fs::write(&pki.keystore, format!("{}{}", renewed.key_pem, renewed.cert_pem)).unwrap();
    assert!(tls.reload_if_changed().unwrap());
}

#[tokio::test]
async fn allowed_dn_change_and_trust_store_reload() {
    let pki = pki();
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.location", &pki.keystore),
            ("ssl.truststore.type", "PEM"),
            ("ssl.truststore.location", &pki.truststore),
            ("ssl.client.auth", "required"),
            ("ssl.allow.dn.changes", "true"),
        ])
        .unwrap(),
    )
    .unwrap();
    let renamed = pki.ca.issue("broker-renamed", &["localhost"]);
    std::fs::write(&pki.keystore, format!("{}{}", renamed.key_pem, renamed.cert_pem)).unwrap();
    assert!(tls.reload_if_changed().unwrap());

    // A client of a newly trusted CA is accepted once the trust store is replaced.
    let new_ca = Ca::new("New CA");
    let carol = new_ca.issue("carol", &[]);
    let carol_cfg = || client_config(&pki.ca.pem, Some((&carol.cert_pem, &carol.key_pem))).unwrap();
    assert!(handshake(tls.acceptor(), carol_cfg()).await.server.is_err());
    std::fs::write(&pki.truststore, format!("{}{}", pki.ca.pem, new_ca.pem)).unwrap();
    assert!(tls.reload_if_changed().unwrap());
    assert_eq!(
        handshake(tls.acceptor(), carol_cfg()).await.server.unwrap().as_deref(),
        Some("CN=carol,O=Acme")
    );
}

#[test]
fn subject_rendering_matches_java() {
    let ca = Ca::new("CA");
    let subject = |dn: Vec<(DnType, DnValue)>| {
        let mut params = params(&[]);
        for (t, v) in dn {
            params.distinguished_name.push(t, v);
        }
        let der = ca.issue_with(params).der;
        // To check these strings against Java: set this and print each file's
        // getSubjectX500Principal().getName().
        if let Ok(dir) = std::env::var("SLUICE_DUMP_SUBJECT_CERTS") {
            let n = std::fs::read_dir(&dir).unwrap().count();
            std::fs::write(Path::new(&dir).join(format!("{n}.der")), &der).unwrap();
        }
        client_certificate_subject(&der).unwrap()
    };
    // Most specific first, no spaces.
    assert_eq!(
        subject(vec![
            (DnType::CountryName, DnValue::PrintableString("US".try_into().unwrap())),
            (DnType::OrganizationName, "Acme".into()),
            (DnType::OrganizationalUnitName, "eng".into()),
            (DnType::CommonName, "client".into()),
        ]),
        "CN=client,OU=eng,O=Acme,C=US"
    );
    // RFC 2253 escapes, Java's extra `=` and `#` escapes, leading and trailing spaces.
    assert_eq!(
        subject(vec![
            (DnType::OrganizationName, "Acme, Inc.".into()),
            (DnType::CommonName, " #1 a+b;c<d>=e\"q\\ ".into()),
        ]),
        "CN=\\ \\#1 a\\+b\\;c\\<d\\>\\=e\\\"q\\\\\\ ,O=Acme\\, Inc."
    );
    // Attributes without an RFC 2253 keyword: dotted OID and the DER value in hex.
    assert_eq!(
        subject(vec![
            (
                DnType::CustomDnType(vec![1, 2, 840, 113549, 1, 9, 1]),
                DnValue::Ia5String("a@b.c".try_into().unwrap())
            ),
            (
                DnType::CustomDnType(vec![2, 5, 4, 5]),
                DnValue::PrintableString("123".try_into().unwrap())
            ),
            (DnType::CommonName, "x".into()),
        ]),
        "CN=x,2.5.4.5=#1303313233,1.2.840.113549.1.9.1=#16056140622e63"
    );
    // UID, ST and L have keywords.
    assert_eq!(
        subject(vec![
            (DnType::StateOrProvinceName, "CA".into()),
            (DnType::LocalityName, "SF".into()),
            (
                DnType::CustomDnType(vec![0, 9, 2342, 19200300, 100, 1, 1]),
                "jdoe".into()
            ),
        ]),
        "UID=jdoe,L=SF,ST=CA"
    );
}

#[test]
fn multi_valued_rdn_subject_matches_java() {
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("k.pem");
    let cert = dir.path().join("c.pem");
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        key.to_str().unwrap(),
        "-out",
        cert.to_str().unwrap(),
        "-days",
        "1",
        "-multivalue-rdn",
        "-subj",
        "/DC=com/DC=example/C=US/O=Acme/OU=eng+UID=jdoe/CN=client",
    ]);
    let der = rustls::pki_types::CertificateDer::from_pem_file(&cert).unwrap();
    if let Ok(dir) = std::env::var("SLUICE_DUMP_SUBJECT_CERTS") {
        std::fs::write(Path::new(&dir).join("multi.der"), &der).unwrap();
    }
    assert_eq!(
        client_certificate_subject(&der).unwrap(),
        "CN=client,OU=eng+UID=jdoe,O=Acme,C=US,DC=example,DC=com"
    );
    assert!(client_certificate_subject(b"not a certificate").is_err());
}

#[tokio::test]
async fn ec_key_without_public_key_as_java_writes_it() {
    // keytool stores EC private keys without the optional public key; ring needs it.
    let pki = pki();
    let plain = write(pki.dir.path(), "plain.key", &pki.server.key_pem);
    let sec1 = pki.dir.path().join("nopub.sec1");
    let pkcs8 = pki.dir.path().join("nopub.p8");
    openssl(&["ec", "-in", &plain, "-no_public", "-out", sec1.to_str().unwrap()]);
    openssl(&[
        "pkcs8",
        "-topk8",
        "-nocrypt",
        "-in",
        sec1.to_str().unwrap(),
        "-out",
        pkcs8.to_str().unwrap(),
    ]);
    let key_pem = std::fs::read_to_string(&pkcs8).unwrap();
    assert!(key_pem.len() < pki.server.key_pem.len(), "the public key was left out");
    let tls = ReloadableTls::new(
        settings(&[
            ("ssl.keystore.type", "PEM"),
            ("ssl.keystore.key", &key_pem),
            ("ssl.keystore.certificate.chain", &pki.server.cert_pem),
        ])
        .unwrap(),
    )
    .unwrap();
    assert_eq!(
        handshake(tls.acceptor(), anonymous_client(&pki)).await.client.unwrap(),
        "CN=broker,O=Acme"
    );
}

#[test]
fn reloadable_tls_can_be_shared_across_tasks() {
    fn shareable<T: Send + Sync + 'static>() {}
    shareable::<ReloadableTls>();
    shareable::<TlsSettings>();
}
