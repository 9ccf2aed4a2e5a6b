//! Whole frames: a request or response header followed by its body.
//!
//! On the wire every frame is preceded by a 4-byte big-endian length; the functions here take and
//! produce the bytes after that length. Reading the length, and bounding it, is the connection's
//! job (it must refuse a frame larger than its limit before reading it).

use crate::codec::{DecodeError, EncodeError, Message};
use crate::generated::{RequestBody, RequestHeader, ResponseBody, ResponseHeader};
use crate::registry::{ApiInfo, api};
use bytes::{BufMut, Bytes, BytesMut};

/// A decoded request: its header and body.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// API key, version, correlation id, client id.
    pub header: RequestHeader,
    /// The body, in the version the header names.
    pub body: RequestBody,
}

/// Reads the API key and version at the start of a request frame without consuming it, so a
/// broker can pick the header version, or answer a request it cannot decode.
pub fn peek_api_key_and_version(frame: &[u8]) -> Option<(i16, i16)> {
    let key = i16::from_be_bytes([*frame.first()?, *frame.get(1)?]);
    let version = i16::from_be_bytes([*frame.get(2)?, *frame.get(3)?]);
    Some((key, version))
}

/// Reads the correlation id of a request frame whose body could not be decoded, so the error
/// response can still be matched to it.
pub fn peek_correlation_id(frame: &[u8]) -> Option<i32> {
    Some(i32::from_be_bytes([
        *frame.get(4)?,
        *frame.get(5)?,
        *frame.get(6)?,
        *frame.get(7)?,
    ]))
}

/// Decodes the header of a request frame, leaving `frame` at the start of the body, and returns
/// the API it names. Fails for unknown API keys and versions the codec does not have.
pub fn decode_request_header(frame: &mut Bytes) -> Result<(RequestHeader, &'static ApiInfo), DecodeError> {
    let (key, version) = peek_api_key_and_version(frame).ok_or(DecodeError::Truncated {
        what: "request header",
        needed: 4,
        remaining: frame.len(),
    })?;
    let info = api(key).ok_or(DecodeError::UnknownApiKey { api_key: key })?;
    if !info.supports(version) {
        return Err(DecodeError::UnsupportedVersion {
            message: info.name,
            version,
        });
    }
    let header = RequestHeader::decode(frame, info.request_header_version(version))?;
    Ok((header, info))
}

/// Decodes a whole request frame; the body must fill the frame exactly.
pub fn decode_request(mut frame: Bytes) -> Result<Request, DecodeError> {
    let (header, info) = decode_request_header(&mut frame)?;
    let body = RequestBody::decode(info.key, header.request_api_version, &mut frame)?;
    if !frame.is_empty() {
        return Err(DecodeError::TrailingBytes {
            message: info.name,
            remaining: frame.len(),
        });
    }
    Ok(Request { header, body })
}

/// Encodes a request frame, length prefix included.
pub fn encode_request(header: &RequestHeader, body: &RequestBody) -> Result<BytesMut, EncodeError> {
    let version = header.request_api_version;
    let info = api(body.api_key()).ok_or(EncodeError::UnsupportedVersion {
        message: "request",
        version,
    })?;
    let header_version = info.request_header_version(version);
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(frame_length(size, "request")?);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    Ok(buf)
}

/// Decodes a response frame to a request of `api_key` at `version` (the caller remembers them by
/// correlation id; the response itself does not carry them).
pub fn decode_response(
    mut frame: Bytes,
    api_key: i16,
    version: i16,
) -> Result<(ResponseHeader, ResponseBody), DecodeError> {
    let info = api(api_key).ok_or(DecodeError::UnknownApiKey { api_key })?;
    let header = ResponseHeader::decode(&mut frame, info.response_header_version(version))?;
    let body = ResponseBody::decode(api_key, version, &mut frame)?;
    if !frame.is_empty() {
        return Err(DecodeError::TrailingBytes {
            message: info.name,
            remaining: frame.len(),
        });
    }
    Ok((header, body))
}

/// Encodes a response frame, length prefix included, with the header version the API and
/// version call for.
pub fn encode_response(correlation_id: i32, body: &ResponseBody, version: i16) -> Result<BytesMut, EncodeError> {
    let info = api(body.api_key()).ok_or(EncodeError::UnsupportedVersion {
        message: "response",
        version,
    })?;
    let header_version = info.response_header_version(version);
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let mut buf = BytesMut::with_capacity(4 + size);
    buf.put_i32(frame_length(size, "response")?);
    header.encode(&mut buf, header_version)?;
    body.encode(&mut buf, version)?;
    Ok(buf)
}

/// An encoded frame in pieces, to be written in order with one vectored write: the encoded
/// header and fields, with large byte strings (a Fetch response's `records`) as the very `Bytes`
/// the response held rather than copies.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GatheredFrame {
    /// The pieces, length prefix first; their concatenation is the frame.
    pub parts: Vec<Bytes>,
}

impl GatheredFrame {
    /// The frame's length on the wire, length prefix included.
    pub fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    /// Whether the frame has no bytes (never true for an encoded frame).
    pub fn is_empty(&self) -> bool {
        self.parts.iter().all(Bytes::is_empty)
    }

    /// The frame as one contiguous buffer (a copy; for tests and small frames).
    pub fn concat(&self) -> BytesMut {
        let mut out = BytesMut::with_capacity(self.len());
        for part in &self.parts {
            out.put_slice(part);
        }
        out
    }
}

/// Most bytes reserved up front for the copied part of a gathered frame; it grows past this only
/// for responses whose copied fields really are larger.
const GATHERED_RESERVE_BYTES_MAX: usize = 64 << 10;

/// [`encode_response`], but byte strings of at least `min_chunk_bytes` are not copied into the
/// frame: they become parts of their own. The concatenated parts are byte for byte what
/// [`encode_response`] produces.
pub fn encode_response_gathered(
    correlation_id: i32,
    body: &ResponseBody,
    version: i16,
    min_chunk_bytes: usize,
) -> Result<GatheredFrame, EncodeError> {
    let info = api(body.api_key()).ok_or(EncodeError::UnsupportedVersion {
        message: "response",
        version,
    })?;
    let header_version = info.response_header_version(version);
    let header = ResponseHeader {
        correlation_id,
        ..Default::default()
    };
    let size = header.encoded_size(header_version) + body.encoded_size(version);
    let mut buf = BytesMut::with_capacity(4 + size.min(GATHERED_RESERVE_BYTES_MAX));
    buf.put_i32(frame_length(size, "response")?);
    let (encoded, chunks) = crate::codec::gathering(min_chunk_bytes, || {
        header.encode(&mut buf, header_version)?;
        body.encode(&mut buf, version)
    });
    encoded?;
    let copied = buf.freeze();
    let mut parts = Vec::with_capacity(2 * chunks.len() + 1);
    let mut at = 0;
    for (position, chunk) in chunks {
        if position > at {
            parts.push(copied.slice(at..position));
        }
        parts.push(chunk);
        at = position;
    }
    if at < copied.len() {
        parts.push(copied.slice(at..));
    }
    Ok(GatheredFrame { parts })
}

fn frame_length(size: usize, field: &'static str) -> Result<i32, EncodeError> {
    i32::try_from(size).map_err(|_| EncodeError::TooLong { field, length: size })
}
