//! A forgiving PEM reader, as forgiving as Kafka's `PemParser`: text before, between and after
//! blocks is skipped (e.g. `Bag Attributes` written by `openssl pkcs12`), and line breaks inside a
//! block may be missing or replaced by spaces, as happens when a PEM value is folded onto one line
//! in a `.properties` file.

use super::TlsConfigError;

/// One `-----BEGIN <label>-----` ... `-----END <label>-----` block.
pub(crate) struct PemBlock {
    pub(crate) label: String,
    /// The block has RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`, `DEK-Info: ...`): OpenSSL's
    /// legacy key encryption, which Kafka does not read either.
    pub(crate) has_headers: bool,
    pub(crate) der: Vec<u8>,
}

/// Every PEM block in `text`. `what` names the source in errors; the block contents never
/// appear in them.
pub(crate) fn blocks(text: &str, what: &str) -> Result<Vec<PemBlock>, TlsConfigError> {
    const BEGIN: &str = "-----BEGIN ";
    const DASHES: &str = "-----";
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(BEGIN) {
        let after_begin = &rest[start + BEGIN.len()..];
        let Some(label_end) = after_begin.find(DASHES) else {
            return Err(TlsConfigError::material(what, "PEM BEGIN line is not closed by -----"));
        };
        let label = after_begin[..label_end].trim().to_string();
        let body_and_rest = &after_begin[label_end + DASHES.len()..];
        let end_marker = format!("-----END {label}-----");
        let Some(body_end) = body_and_rest.find(&end_marker) else {
            return Err(TlsConfigError::material(
                what,
                format!("PEM block `{label}` has no END line"),
            ));
        };
        let body = &body_and_rest[..body_end];
        let has_headers = body.contains(':');
        let base64: String = body
            .lines()
            .filter(|line| !line.contains(':'))
            .flat_map(|line| line.chars())
            .filter(|c| !c.is_whitespace())
            .collect();
        let der = decode_base64(&base64)
            .ok_or_else(|| TlsConfigError::material(what, format!("PEM block `{label}` is not valid base64")))?;
        out.push(PemBlock {
            label,
            has_headers,
            der,
        });
        rest = &body_and_rest[body_end + end_marker.len()..];
    }
    Ok(out)
}

/// Standard base64 with optional `=` padding.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    fn value(c: u8) -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        } as u32)
    }
    let bytes = text.trim_end_matches('=').as_bytes();
    if bytes.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(bytes.len() * 3 / 4);
    for chunk in bytes.chunks(4) {
        let mut acc = 0u32;
        for (i, &c) in chunk.iter().enumerate() {
            acc |= value(c)? << (18 - 6 * i);
        }
        let produced = chunk.len() - 1;
        for i in 0..produced {
            out.push((acc >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8h").unwrap(), b"hello!");
        assert_eq!(decode_base64("aGVsbA==").unwrap(), b"hell");
        assert!(decode_base64("a$==").is_none());
    }

    #[test]
    fn folded_and_annotated_blocks() {
        let text = "Bag Attributes\n    friendlyName: x\n-----BEGIN CERTIFICATE----- aGVs bG8= -----END CERTIFICATE-----\n\
                    junk\n-----BEGIN RSA PRIVATE KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-256-CBC,00\n\naGk=\n\
                    -----END RSA PRIVATE KEY-----\n";
        let b = blocks(text, "t").unwrap();
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].label, "CERTIFICATE");
        assert_eq!(b[0].der, b"hello");
        assert!(!b[0].has_headers);
        assert_eq!(b[1].label, "RSA PRIVATE KEY");
        assert!(b[1].has_headers);
        assert_eq!(b[1].der, b"hi");
        assert!(blocks("-----BEGIN X-----\naGk=\n", "t").is_err());
    }
}
