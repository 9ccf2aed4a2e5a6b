//! SASL/OAUTHBEARER end to end: real keys (made with the `openssl` command, which these tests
//! require), JWKS documents on disk and behind loopback HTTP and HTTPS servers, tokens signed with
//! jsonwebtoken, and the whole exchange through `OAuthBearerServer`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};
use sluice_security::oauth::{
    ALLOWED_URLS_CONFIG, EXPECTED_AUDIENCE_CONFIG, EXPECTED_ISSUER_CONFIG, JWKS_ENDPOINT_REFRESH_MS_CONFIG,
    JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS_CONFIG, JWKS_ENDPOINT_RETRY_BACKOFF_MS_CONFIG, JWKS_ENDPOINT_TRUSTSTORE_CONFIG,
    JWKS_ENDPOINT_URL_CONFIG, JwtValidator, JwtValidatorConfig, OAuthBearerServer, SaslError, Step, TokenValidator,
    system_now_ms,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

const ISSUER: &str = "https://idp.test";
const AUDIENCE: &str = "kafka-broker";
const INVALID_TOKEN_JSON: &str = r#"{"status":"invalid_token"}"#;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

fn openssl(args: &[&str]) -> Vec<u8> {
    let out = Command::new("openssl")
        .args(args)
        .output()
        .expect("these tests need the `openssl` command to generate keys; install it");
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A signing key with its public half as a JWK.
struct TestKey {
    alg: Algorithm,
    kid: String,
    encoding: EncodingKey,
    jwk: Value,
}

fn tempdir() -> &'static tempfile::TempDir {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().unwrap())
}

fn fresh_path(name: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    tempdir().path().join(format!("{n}-{name}"))
}

fn public_der(private: &Path) -> Vec<u8> {
    openssl(&["pkey", "-in", private.to_str().unwrap(), "-pubout", "-outform", "DER"])
}

impl TestKey {
    fn rsa(kid: &str, alg: Algorithm) -> TestKey {
        let path = fresh_path("rsa.pem");
        openssl(&[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            path.to_str().unwrap(),
        ]);
        let modulus =
            String::from_utf8(openssl(&["rsa", "-in", path.to_str().unwrap(), "-noout", "-modulus"])).unwrap();
        let hex = modulus.trim().strip_prefix("Modulus=").unwrap();
        let n: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let pem = std::fs::read(&path).unwrap();
        TestKey {
            alg,
            kid: kid.into(),
            encoding: EncodingKey::from_rsa_pem(&pem).unwrap(),
            jwk: json!({"kty": "RSA", "kid": kid, "use": "sig", "n": b64(&n), "e": "AQAB"}),
        }
    }

    fn ec(kid: &str) -> TestKey {
        let path = fresh_path("ec.pem");
        openssl(&[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            path.to_str().unwrap(),
        ]);
        let der = public_der(&path);
        let point = &der[der.len() - 65..];
        assert_eq!(point[0], 4);
        let pem = std::fs::read(&path).unwrap();
        TestKey {
            alg: Algorithm::ES256,
            kid: kid.into(),
            encoding: EncodingKey::from_ec_pem(&pem).unwrap(),
            jwk: json!({"kty": "EC", "kid": kid, "crv": "P-256", "alg": "ES256",
                        "x": b64(&point[1..33]), "y": b64(&point[33..])}),
        }
    }

    fn ed25519(kid: &str) -> TestKey {
        let path = fresh_path("ed.pem");
        openssl(&["genpkey", "-algorithm", "ed25519", "-out", path.to_str().unwrap()]);
        let der = public_der(&path);
        let pem = std::fs::read(&path).unwrap();
        TestKey {
            alg: Algorithm::EdDSA,
            kid: kid.into(),
            encoding: EncodingKey::from_ed_pem(&pem).unwrap(),
            jwk: json!({"kty": "OKP", "kid": kid, "crv": "Ed25519", "x": b64(&der[der.len() - 32..])}),
        }
    }

    fn sign(&self, claims: &Value) -> String {
        self.sign_as(&self.kid, self.alg, claims)
    }

    fn sign_as(&self, kid: &str, alg: Algorithm, claims: &Value) -> String {
        let mut header = Header::new(alg);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(&header, claims, &self.encoding).unwrap()
    }
}

/// One RSA key shared by the tests that don't care which key they use (generation is slow).
fn rsa_key() -> &'static TestKey {
    static KEY: OnceLock<TestKey> = OnceLock::new();
    KEY.get_or_init(|| TestKey::rsa("rsa-1", Algorithm::RS256))
}

fn jwks(keys: &[&TestKey]) -> String {
    json!({"keys": keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>()}).to_string()
}

fn write_jwks(keys: &[&TestKey]) -> PathBuf {
    let path = fresh_path("jwks.json");
    std::fs::write(&path, jwks(keys)).unwrap();
    path
}

fn now_s() -> i64 {
    system_now_ms() / 1000
}

fn claims(sub: &str) -> Value {
    json!({"sub": sub, "iss": ISSUER, "aud": [AUDIENCE, "other"], "iat": now_s(), "exp": now_s() + 600,
           "scope": ["produce", "consume"]})
}

fn config_for(url: &str, extra: &[(&str, &str)]) -> JwtValidatorConfig {
    let mut props: HashMap<String, String> = HashMap::new();
    props.insert(JWKS_ENDPOINT_URL_CONFIG.into(), url.into());
    props.insert(ALLOWED_URLS_CONFIG.into(), url.into());
    props.insert(EXPECTED_AUDIENCE_CONFIG.into(), AUDIENCE.into());
    props.insert(EXPECTED_ISSUER_CONFIG.into(), ISSUER.into());
    props.insert(JWKS_ENDPOINT_RETRY_BACKOFF_MS_CONFIG.into(), "10".into());
    props.insert(JWKS_ENDPOINT_RETRY_BACKOFF_MAX_MS_CONFIG.into(), "50".into());
    for (k, v) in extra {
        props.insert(k.to_string(), v.to_string());
    }
    JwtValidatorConfig::from_properties(&|k| props.get(k).cloned()).unwrap()
}

fn file_url(path: &Path) -> String {
    format!("file://{}", path.display())
}

async fn started(url: &str, extra: &[(&str, &str)]) -> Arc<JwtValidator> {
    let validator = JwtValidator::start(&config_for(url, extra)).unwrap();
    assert!(
        validator.keys().wait_loaded(Duration::from_secs(10)).await,
        "JWKS did not load from {url}"
    );
    validator
}

fn first_message(token: &str, authzid: &str) -> Vec<u8> {
    let gs2 = if authzid.is_empty() {
        "n,,".to_string()
    } else {
        format!("n,a={authzid},")
    };
    format!("{gs2}\x01auth=Bearer {token}\x01traceId=abc 123\x01\x01").into_bytes()
}

fn server(validator: &Arc<JwtValidator>) -> OAuthBearerServer {
    let v: Arc<dyn TokenValidator> = validator.clone();
    OAuthBearerServer::new(v)
}

fn assert_accepted(validator: &Arc<JwtValidator>, token: &str, principal: &str) -> OAuthBearerServer {
    let mut s = server(validator);
    assert_eq!(s.evaluate(&first_message(token, "")).unwrap(), Step::Complete);
    assert_eq!(s.authorization_id(), Some(principal));
    s
}

/// Kafka's failure flow: the error JSON as a challenge, then, on the client's 0x01, an
/// authentication failure carrying the same JSON. `why` must appear in the validator's (logged,
/// never sent) reason, so each case is refused for the reason it tests.
fn assert_refused(validator: &Arc<JwtValidator>, token: &str, why: &str) {
    let reason = validator.validate(token, system_now_ms()).unwrap_err().reason;
    assert!(reason.contains(why), "expected a refusal for {why:?}, got {reason:?}");
    let mut s = server(validator);
    let step = s.evaluate(&first_message(token, "")).unwrap();
    assert_eq!(step, Step::Challenge(INVALID_TOKEN_JSON.as_bytes().to_vec()), "{why}");
    assert!(!s.is_complete());
    assert_eq!(
        s.evaluate(b"\x01"),
        Err(SaslError::Authentication(INVALID_TOKEN_JSON.into())),
        "{why}"
    );
}

#[tokio::test]
async fn valid_tokens_are_accepted_with_principal_scopes_and_lifetime() {
    let rsa = rsa_key();
    let ps = TestKey {
        alg: Algorithm::PS256,
        kid: rsa.kid.clone(),
        encoding: rsa.encoding.clone(),
        jwk: Value::Null,
    };
    let ec = TestKey::ec("ec-1");
    let ed = TestKey::ed25519("ed-1");
    let path = write_jwks(&[rsa, &ec, &ed]);
    let validator = started(&file_url(&path), &[]).await;

    let exp = now_s() + 600;
    let mut c = claims("alice");
    c["exp"] = json!(exp);
    let s = assert_accepted(&validator, &rsa.sign(&c), "alice");
    let token = s.token().unwrap();
    assert_eq!(token.scope, ["consume".to_string(), "produce".to_string()].into());
    assert_eq!(s.credential_lifetime_ms(), Some(exp * 1000));
    assert_eq!(token.start_time_ms, Some(c["iat"].as_i64().unwrap() * 1000));
    assert_eq!(
        s.extensions().unwrap().get("traceId").map(String::as_str),
        Some("abc 123")
    );
    assert!(
        !format!("{token:?}").contains(&token.value),
        "Debug must not print the token"
    );

    assert_accepted(&validator, &ps.sign(&claims("bob")), "bob");
    assert_accepted(&validator, &ec.sign(&claims("carol")), "carol");
    assert_accepted(&validator, &ed.sign(&claims("dave")), "dave");

    // A matching authzid is fine; a different one fails with Kafka's message.
    let mut s = server(&validator);
    assert_eq!(
        s.evaluate(&first_message(&rsa.sign(&claims("alice")), "alice"))
            .unwrap(),
        Step::Complete
    );
    let mut s = server(&validator);
    let err = s
        .evaluate(&first_message(&rsa.sign(&claims("alice")), "admin"))
        .unwrap_err();
    assert_eq!(
        err,
        SaslError::Authentication(
            "Authentication failed: Client requested an authorization id (admin) that is different from the token's principal name (alice)".into()
        )
    );
}

#[tokio::test]
async fn bad_tokens_are_refused_with_kafkas_error_flow() {
    let rsa = rsa_key();
    let path = write_jwks(&[rsa]);
    let validator = started(&file_url(&path), &[]).await;
    let now = now_s();

    let with = |f: &dyn Fn(&mut Value)| {
        let mut c = claims("alice");
        c["iat"] = json!(now - 300);
        f(&mut c);
        rsa.sign(&c)
    };
    assert_refused(&validator, &with(&|c| c["exp"] = json!(now - 31)), "no longer valid");
    assert_accepted(&validator, &with(&|c| c["exp"] = json!(now - 20)), "alice");
    assert_refused(&validator, &with(&|c| c["nbf"] = json!(now + 120)), "not yet valid");
    assert_accepted(&validator, &with(&|c| c["nbf"] = json!(now + 10)), "alice");
    assert_refused(
        &validator,
        &with(&|c| c["iat"] = json!(now + 1000)),
        "cannot be before the Issued At",
    );
    assert_refused(
        &validator,
        &with(&|c| c["aud"] = json!("someone-else")),
        "acceptable identifier",
    );
    assert_refused(
        &validator,
        &with(&|c| c.as_object_mut().unwrap().retain(|k, _| k != "aud")),
        "No Audience",
    );
    assert_refused(
        &validator,
        &with(&|c| c["iss"] = json!("https://evil.test")),
        "Issuer (iss)",
    );
    assert_refused(
        &validator,
        &with(&|c| c.as_object_mut().unwrap().retain(|k, _| k != "sub")),
        "sub value must be non-null",
    );
    assert_refused(
        &validator,
        &with(&|c| c.as_object_mut().unwrap().retain(|k, _| k != "exp")),
        "No Expiration Time",
    );
    assert_refused(
        &validator,
        &with(&|c| c.as_object_mut().unwrap().retain(|k, _| k != "iat")),
        "No Issued At",
    );

    // Bad signature: another key claiming the trusted kid; and a tampered payload.
    let other = TestKey::rsa("rsa-1", Algorithm::RS256);
    assert_refused(&validator, &other.sign(&claims("alice")), "signature is invalid");
    let good = rsa.sign(&claims("alice"));
    let parts: Vec<&str> = good.split('.').collect();
    let forged_claims = b64(claims("admin").to_string().as_bytes());
    assert_refused(
        &validator,
        &format!("{}.{forged_claims}.{}", parts[0], parts[2]),
        "signature is invalid",
    );

    assert_refused(
        &validator,
        &rsa.sign_as("unknown-kid", Algorithm::RS256, &claims("alice")),
        "Unable to find a suitable verification key",
    );

    // alg none, under the secure validator.
    let none_header = b64(br#"{"alg":"none","kid":"rsa-1"}"#);
    let payload = b64(claims("alice").to_string().as_bytes());
    assert_refused(
        &validator,
        &format!("{none_header}.{payload}.c2ln"),
        "'none' is not allowed",
    );

    // HS256 keyed with something an attacker can know (the public modulus).
    let mut hs = Header::new(Algorithm::HS256);
    hs.kid = Some("rsa-1".into());
    let secret = rsa.jwk["n"].as_str().unwrap().as_bytes().to_vec();
    let hs_token = jsonwebtoken::encode(&hs, &claims("alice"), &EncodingKey::from_secret(&secret)).unwrap();
    assert_refused(&validator, &hs_token, "HS256 (a shared-secret MAC)");

    // The header's alg swapped after signing: the key would fit, the signature does not.
    let swapped = b64(br#"{"alg":"PS256","kid":"rsa-1","typ":"JWT"}"#);
    assert_refused(
        &validator,
        &format!("{swapped}.{}.{}", parts[1], parts[2]),
        "signature is invalid",
    );

    for malformed in [
        "abc",
        "a.b.c",
        "a.b",
        "eyJhbGciOiJSUzI1NiJ9.e30.",
        "....",
        "e30.e30.e30",
    ] {
        let reason = validator.validate(malformed, system_now_ms()).unwrap_err().reason;
        assert!(
            reason.to_lowercase().contains("malformed") || reason.contains("'alg'"),
            "{malformed}: {reason}"
        );
        assert_refused(&validator, malformed, "");
    }

    // A malformed client message is a protocol error, reported generically.
    let mut s = server(&validator);
    let err = s.evaluate(b"n,,\x01auth=Bearer\x01\x01").unwrap_err();
    assert!(matches!(err, SaslError::Protocol(_)));
    assert_eq!(
        err.client_message(false),
        "Authentication failed during authentication due to invalid credentials with SASL mechanism OAUTHBEARER"
    );
    // 0x01 with no error outstanding is just a malformed message.
    assert!(matches!(
        server(&validator).evaluate(b"\x01"),
        Err(SaslError::Protocol(_))
    ));
}

#[tokio::test]
async fn a_token_without_aud_needs_no_expected_audience_and_one_with_aud_needs_one() {
    let rsa = rsa_key();
    let path = write_jwks(&[rsa]);
    let url = file_url(&path);
    let mut props: HashMap<String, String> = HashMap::new();
    props.insert(JWKS_ENDPOINT_URL_CONFIG.into(), url.clone());
    props.insert(ALLOWED_URLS_CONFIG.into(), url);
    let config = JwtValidatorConfig::from_properties(&|k| props.get(k).cloned()).unwrap();
    let validator = JwtValidator::start(&config).unwrap();
    assert!(validator.keys().wait_loaded(Duration::from_secs(10)).await);
    let mut c = claims("alice");
    c.as_object_mut().unwrap().remove("aud");
    assert_accepted(&validator, &rsa.sign(&c), "alice");
    assert_refused(&validator, &rsa.sign(&claims("alice")), "no expected audience");
}

#[tokio::test]
async fn never_loaded_jwks_refuses_everything() {
    // Nothing listens on a port we bound and closed.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let url = format!("http://127.0.0.1:{port}/jwks");
    let validator = JwtValidator::start(&config_for(&url, &[])).unwrap();
    assert!(!validator.keys().wait_loaded(Duration::from_millis(300)).await);
    assert_refused(&validator, &rsa_key().sign(&claims("alice")), "no JWKS has been loaded");
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_last_good_keys() {
    let rsa = rsa_key();
    let path = write_jwks(&[rsa]);
    let validator = started(&file_url(&path), &[]).await;
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");

    std::fs::write(&path, "{ this is not a key set").unwrap();
    assert!(validator.keys().refresh_now().await.is_err());
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");
    std::fs::remove_file(&path).unwrap();
    assert!(validator.keys().refresh_now().await.is_err());
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");

    // A successful load that drops the key does take effect: revocation works.
    std::fs::write(&path, r#"{"keys":[]}"#).unwrap();
    assert_eq!(validator.keys().refresh_now().await, Ok(0));
    assert_refused(&validator, &rsa.sign(&claims("alice")), "Unable to find");
}

#[tokio::test]
async fn an_unknown_kid_triggers_an_early_refresh() {
    let rsa = rsa_key();
    let ec = TestKey::ec("rotated-in");
    let path = write_jwks(&[rsa]);
    // A refresh interval far longer than the test: only the unknown kid can cause a reload.
    let validator = started(&file_url(&path), &[(JWKS_ENDPOINT_REFRESH_MS_CONFIG, "3600000")]).await;
    let token = ec.sign(&claims("erin"));
    std::fs::write(&path, jwks(&[rsa, &ec])).unwrap();
    assert_refused(&validator, &token, "Unable to find");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        if validator.validate(&token, system_now_ms()).is_ok() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the unknown kid never caused a refresh"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_accepted(&validator, &token, "erin");
}

#[test]
fn the_allow_list_refuses_urls_not_in_it() {
    let path = write_jwks(&[]);
    let url = file_url(&path);
    for allowed in [
        None,
        Some(""),
        Some("file:///etc/other.json"),
        Some("https://idp.test/jwks"),
    ] {
        let props: HashMap<&str, String> = [(JWKS_ENDPOINT_URL_CONFIG, url.clone())]
            .into_iter()
            .chain(allowed.map(|a| (ALLOWED_URLS_CONFIG, a.to_string())))
            .collect();
        let err = JwtValidatorConfig::from_properties(&|k| props.get(k).cloned()).unwrap_err();
        assert!(err.0.contains("is not allowed"), "{allowed:?}: {err}");
    }
}

/// A one-route HTTP/1.1 server: answers every request with the current JWKS, or 500 when told
/// to fail. Generic over the stream so the same code serves plain TCP and TLS.
async fn serve<S>(mut stream: S, body: Arc<std::sync::Mutex<String>>, fail: Arc<AtomicBool>)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let mut request = Vec::new();
    let mut buf = [0u8; 1024];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buf[..n]),
        }
        if request.len() > 64 * 1024 {
            return;
        }
    }
    let (status, body) = if fail.load(Ordering::SeqCst) {
        ("500 Internal Server Error", "oops".to_string())
    } else {
        ("200 OK", body.lock().unwrap().clone())
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.shutdown().await;
}

struct TestServer {
    url: String,
    body: Arc<std::sync::Mutex<String>>,
    fail: Arc<AtomicBool>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn start_server(jwks_body: String, tls: Option<Arc<tokio_rustls::rustls::ServerConfig>>) -> TestServer {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let scheme = if tls.is_some() { "https" } else { "http" };
    let body = Arc::new(std::sync::Mutex::new(jwks_body));
    let fail = Arc::new(AtomicBool::new(false));
    let (b, f) = (body.clone(), fail.clone());
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let task = tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let (b, f, acceptor) = (b.clone(), f.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(acceptor) => {
                        if let Ok(tls) = acceptor.accept(stream).await {
                            serve(tls, b, f).await;
                        }
                    }
                    None => serve(stream, b, f).await,
                }
            });
        }
    });
    TestServer {
        url: format!("{scheme}://127.0.0.1:{port}/jwks"),
        body,
        fail,
        task,
    }
}

#[tokio::test]
async fn http_jwks_loads_and_survives_a_failing_endpoint() {
    let rsa = rsa_key();
    let server = start_server(jwks(&[rsa]), None).await;
    let validator = started(&server.url, &[]).await;
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");

    server.fail.store(true, Ordering::SeqCst);
    let err = validator.keys().refresh_now().await.unwrap_err();
    assert!(err.0.contains("500"), "{err}");
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");

    server.fail.store(false, Ordering::SeqCst);
    *server.body.lock().unwrap() = "[]".into();
    assert!(
        validator.keys().refresh_now().await.is_err(),
        "a document without keys is a failed load"
    );
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");
}

struct Pki {
    ca_pem_path: PathBuf,
    server_config: Arc<tokio_rustls::rustls::ServerConfig>,
}

fn pki() -> Pki {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair, KeyUsagePurpose};
    use tokio_rustls::rustls;

    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Sluice test CA");
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);

    let leaf_key = KeyPair::generate().unwrap();
    let leaf_params = CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
    let leaf_cert = leaf_params.signed_by(&leaf_key, &issuer).unwrap();

    let ca_pem_path = fresh_path("ca.pem");
    std::fs::write(&ca_pem_path, ca_cert.pem()).unwrap();

    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let server_config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf_cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .unwrap();
    Pki {
        ca_pem_path,
        server_config: Arc::new(server_config),
    }
}

#[tokio::test]
async fn https_jwks_with_a_configured_ca() {
    let rsa = rsa_key();
    let pki = pki();
    let server = start_server(jwks(&[rsa]), Some(pki.server_config.clone())).await;

    let ca = pki.ca_pem_path.to_str().unwrap();
    let validator = started(&server.url, &[(JWKS_ENDPOINT_TRUSTSTORE_CONFIG, ca)]).await;
    assert_accepted(&validator, &rsa.sign(&claims("alice")), "alice");

    // Without the CA, the server's certificate is not trusted: nothing loads, nothing passes.
    let untrusting = JwtValidator::start(&config_for(&server.url, &[])).unwrap();
    assert!(!untrusting.keys().wait_loaded(Duration::from_millis(500)).await);
    assert!(untrusting.keys().refresh_now().await.is_err());
    assert_refused(&untrusting, &rsa.sign(&claims("alice")), "no JWKS has been loaded");
}
