//! Decodes arbitrary bytes as a request frame (header + body of whichever API key and version the
//! first bytes name) and as a response to that API and version. Nothing may panic, and whatever
//! decodes must re-encode and decode back to the same value, and a response encoded for a vectored
//! write must be the same bytes.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sluice_protocol::frame::{
    decode_request, decode_response, encode_request, encode_response, encode_response_gathered, peek_api_key_and_version,
};

fuzz_target!(|data: &[u8]| {
    let frame = Bytes::copy_from_slice(data);
    if let Ok(request) = decode_request(frame.clone()) {
        let encoded = encode_request(&request.header, &request.body).expect("a decoded request re-encodes");
        let again = decode_request(Bytes::copy_from_slice(&encoded[4..])).expect("re-encoded request decodes");
        assert_eq!(again, request);
    }
    // The same bytes read as a response: its API key and version come from the first four bytes,
    // the rest is a response header and body.
    if let Some((api_key, version)) = peek_api_key_and_version(data) {
        if let Ok((header, body)) = decode_response(frame.slice(4..), api_key, version) {
            let encoded = encode_response(header.correlation_id, &body, version).expect("a decoded response re-encodes");
            // Gathering every byte string, however short, must produce the same frame.
            let gathered = encode_response_gathered(header.correlation_id, &body, version, 1)
                .expect("a decoded response re-encodes gathered");
            assert_eq!(&gathered.concat()[..], &encoded[..]);
            let (_, again) = decode_response(Bytes::copy_from_slice(&encoded[4..]), api_key, version)
                .expect("re-encoded response decodes");
            assert_eq!(again, body);
        }
    }
});
