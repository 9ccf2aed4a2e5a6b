//! Broker-side CPU of one SCRAM-SHA-512 authentication: both server steps of a full exchange
//! with 4,096 iterations (the client's PBKDF2 is done once, outside the measurement; the client
//! proof, a few HMACs, is inside, so the number is an upper bound on the server's share).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use criterion::{Criterion, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha512};
use sluice_security::scram::{ScramCredential, ScramMechanism, ScramServer};
use std::hint::black_box;

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha512>::new_from_slice(key).expect("any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

fn bench(c: &mut Criterion) {
    let mechanism = ScramMechanism::Sha512;
    let salt = b"sluice-bench-salt".to_vec();
    let credential = ScramCredential::from_password(mechanism, "secret", &salt, 4096).expect("credential");
    let mut salted = [0u8; 64];
    pbkdf2::pbkdf2_hmac::<Sha512>(b"secret", &salt, 4096, &mut salted);
    let client_key = hmac(&salted, b"Client Key");
    let stored_key = Sha512::digest(&client_key).to_vec();
    assert_eq!(
        stored_key, credential.stored_key,
        "the bench's client derives the stored key"
    );
    let client_first_bare = "n=alice,r=clientnonce0123456789";
    c.bench_function("scram_sha512_server_exchange", |b| {
        b.iter(|| {
            let cred = credential.clone();
            let mut server = ScramServer::new(mechanism, move |_: &str| Some(cred.clone()));
            let server_first = server
                .evaluate(format!("n,,{client_first_bare}").as_bytes())
                .expect("first");
            let server_first = String::from_utf8(server_first).expect("utf-8");
            let nonce = server_first.split(',').next().expect("r=").trim_start_matches("r=");
            let without_proof = format!("c=biws,r={nonce}");
            let auth_message = format!("{client_first_bare},{server_first},{without_proof}");
            let signature = hmac(&stored_key, auth_message.as_bytes());
            let proof: Vec<u8> = client_key.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
            let client_final = format!("{without_proof},p={}", STANDARD.encode(proof));
            black_box(server.evaluate(client_final.as_bytes()).expect("authenticated"));
            assert_eq!(server.authenticated_user(), Some("alice"));
        })
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
