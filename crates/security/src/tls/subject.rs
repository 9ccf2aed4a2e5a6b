//! A certificate subject rendered as Java's `X500Principal.getName()` (RFC 2253 form), the exact
//! string Kafka gives `ssl.principal.mapping.rules` and uses as the default principal name, so
//! ACLs written for Kafka keep matching.

use super::TlsConfigError;

/// The subject DN of a DER certificate, as Java's `X500Principal.getName()` renders it.
///
/// Java's rules, which this follows byte for byte so that `User:CN=...` ACLs carry over:
/// - RDNs most specific first (the reverse of the DER order), joined by `,` with no spaces; the
///   attributes of a multi-valued RDN joined by `+` in their DER order.
/// - Keywords only for RFC 2253's set: `CN C L ST O OU STREET DC UID`. Every other attribute
///   (`emailAddress`, `serialNumber`, ...) is its dotted OID with the value as `#` and the
///   lower-case hex of its DER encoding, as are values not of a string type.
/// - In string values, `, = + < > # ; " \` are escaped with a backslash wherever they occur, NUL
///   is written `\00`, and leading and trailing spaces are escaped.
///
/// Errors when the bytes are not an X.509 certificate; nothing of the certificate is echoed.
pub fn client_certificate_subject(cert_der: &[u8]) -> Result<String, TlsConfigError> {
    let (_, cert) = x509_parser::parse_x509_certificate(cert_der)
        .map_err(|e| TlsConfigError::material("client certificate", format!("not valid X.509: {e}")))?;
    render_name(cert.tbs_certificate.subject.as_raw())
        .ok_or_else(|| TlsConfigError::material("client certificate", "malformed subject name"))
}

/// Renders a DER `Name` (SEQUENCE OF SET OF AttributeTypeAndValue).
pub(crate) fn render_name(der: &[u8]) -> Option<String> {
    let (tag, name, rest) = tlv(der)?;
    if tag != 0x30 || !rest.is_empty() {
        return None;
    }
    let mut rdns = Vec::new();
    let mut remaining = name;
    while !remaining.is_empty() {
        let (tag, set, rest) = tlv(remaining)?;
        if tag != 0x31 {
            return None;
        }
        remaining = rest;
        let mut avas = Vec::new();
        let mut in_set = set;
        while !in_set.is_empty() {
            let (tag, ava, rest) = tlv(in_set)?;
            if tag != 0x30 {
                return None;
            }
            in_set = rest;
            avas.push(render_ava(ava)?);
        }
        rdns.push(avas.join("+"));
    }
    rdns.reverse();
    Some(rdns.join(","))
}

fn render_ava(ava: &[u8]) -> Option<String> {
    let (tag, oid, value_tlv) = tlv(ava)?;
    if tag != 0x06 {
        return None;
    }
    let (value_tag, value, rest) = tlv(value_tlv)?;
    if !rest.is_empty() {
        return None;
    }
    let oid = oid_string(oid)?;
    let keyword = match oid.as_str() {
        "2.5.4.3" => Some("CN"),
        "2.5.4.6" => Some("C"),
        "2.5.4.7" => Some("L"),
        "2.5.4.8" => Some("ST"),
        "2.5.4.10" => Some("O"),
        "2.5.4.11" => Some("OU"),
        "2.5.4.9" => Some("STREET"),
        "0.9.2342.19200300.100.1.25" => Some("DC"),
        "0.9.2342.19200300.100.1.1" => Some("UID"),
        _ => None,
    };
    let text = match value_tag {
        // UTF8String, PrintableString, IA5String, GeneralString: Java reads the bytes as UTF-8.
        0x0c | 0x13 | 0x16 | 0x1b => Some(String::from_utf8_lossy(value).into_owned()),
        // TeletexString: Java reads it as Latin-1.
        0x14 => Some(value.iter().map(|&b| b as char).collect()),
        // BMPString: UTF-16BE.
        0x1e if value.len() % 2 == 0 => {
            let units: Vec<u16> = value.chunks(2).map(|c| u16::from_be_bytes([c[0], c[1]])).collect();
            Some(String::from_utf16_lossy(&units))
        }
        _ => None,
    };
    match (keyword, text) {
        (Some(k), Some(text)) => Some(format!("{k}={}", escape(&text))),
        (k, _) => {
            let mut out = format!("{}=#", k.unwrap_or(&oid));
            for b in value_tlv {
                out.push_str(&format!("{b:02x}"));
            }
            Some(out)
        }
    }
}

/// Java's `AVA.toRFC2253String` escaping.
fn escape(value: &str) -> String {
    let mut escaped: Vec<char> = Vec::with_capacity(value.len());
    for c in value.chars() {
        if ",=+<>#;\"\\".contains(c) {
            escaped.push('\\');
            escaped.push(c);
        } else if c == '\0' {
            escaped.extend(['\\', '0', '0']);
        } else {
            escaped.push(c);
        }
    }
    let is_space = |c: &char| *c == ' ' || *c == '\r';
    let lead = escaped.iter().take_while(|c| is_space(c)).count();
    let trail_start = escaped.len() - escaped.iter().rev().take_while(|c| is_space(c)).count();
    let mut out = String::with_capacity(escaped.len() + 4);
    for (i, c) in escaped.iter().enumerate() {
        if i < lead || i >= trail_start {
            out.push('\\');
        }
        out.push(*c);
    }
    out
}

/// Splits one DER TLV off `input`: (tag byte, contents, rest). Only low tag numbers, as names use.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    if tag & 0x1f == 0x1f {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        first as usize
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n].iter().fold(0usize, |acc, &b| (acc << 8) | b as usize);
        rest = &rest[n..];
        len
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

fn oid_string(bytes: &[u8]) -> Option<String> {
    let mut arcs: Vec<u64> = Vec::new();
    let mut acc: u64 = 0;
    for &b in bytes {
        acc = acc.checked_mul(128)? | (b & 0x7f) as u64;
        if b & 0x80 == 0 {
            arcs.push(acc);
            acc = 0;
        }
    }
    if acc != 0 || arcs.is_empty() {
        return None;
    }
    let first = arcs[0];
    let (a, b) = if first < 40 {
        (0, first)
    } else if first < 80 {
        (1, first - 40)
    } else {
        (2, first - 80)
    };
    let mut out = format!("{a}.{b}");
    for arc in &arcs[1..] {
        out.push_str(&format!(".{arc}"));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_like_java() {
        assert_eq!(escape("a,b"), "a\\,b");
        assert_eq!(escape("#x"), "\\#x");
        assert_eq!(escape("a#b=c"), "a\\#b\\=c");
        assert_eq!(escape(" lead and trail  "), "\\ lead and trail\\ \\ ");
        assert_eq!(escape("q\"<>;+\\"), "q\\\"\\<\\>\\;\\+\\\\");
        assert_eq!(escape("nul\0"), "nul\\00");
        assert_eq!(escape("Ünïcødé@x_y"), "Ünïcødé@x_y");
    }

    #[test]
    fn oids() {
        assert_eq!(oid_string(&[0x55, 0x04, 0x03]).unwrap(), "2.5.4.3");
        assert_eq!(
            oid_string(&[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01]).unwrap(),
            "1.2.840.113549.1.9.1"
        );
        assert_eq!(
            oid_string(&[0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19]).unwrap(),
            "0.9.2342.19200300.100.1.25"
        );
    }
}
