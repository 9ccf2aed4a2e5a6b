//! Wire primitives shared by every generated message.
//!
//! Decoding reads from a [`Bytes`] cursor: each read advances it, and `bytes` and `records` fields
//! come back as [`Bytes`] slices of the received frame (a reference-count bump, never a copy).
//! Encoding appends to a [`BytesMut`].
//!
//! # Invariants the decoder keeps
//! - No length or count read off the wire is trusted. Every length is checked against the bytes
//!   that remain *before* anything is allocated from it; every array count is checked against the
//!   remaining bytes divided by the smallest wire size one element can have (Kafka's own rule since
//!   CVE-2022-34917), and the first reservation is further capped at [`PREALLOC_ELEMENTS_MAX`].
//!   So a frame of `n` bytes can make the decoder reserve only `O(n)` memory, and an 8-byte frame
//!   only a few hundred bytes.
//! - Varints longer than their type allows (5 bytes for 32 bits, 10 for 64) are errors.
//! - Unknown tagged fields are kept as raw bytes, never an error, and cost memory in proportion
//!   to their wire bytes ([`UnknownTaggedFields`]): a slice of the frame, not one object each.
//! - A tagged-field section announcing more than [`TAGGED_FIELDS_MAX`] fields is an error (the
//!   count is checked in [`get_tagged_count`], which every section goes through).
//! - Nothing here panics on any input: every read is bounds-checked.

use bytes::{BufMut, Bytes, BytesMut};

/// How many elements an array may reserve room for before its elements have actually been read.
/// The count has already been checked against the remaining bytes; this bounds the multiplier
/// between wire bytes and in-memory size for the first allocation. Larger arrays grow as their
/// elements arrive, each of which consumed real bytes.
pub const PREALLOC_ELEMENTS_MAX: usize = 64;

/// The most fields one tagged-field section may announce, as in Kafka 4.4 (the fix for
/// CVE-2026-111115): a section announcing more is a [`DecodeError::TooManyTaggedFields`], in the
/// request header and in every struct of every body alike, and the connection closes the frame
/// as malformed. No schema defines more than a handful of tags, so real clients never come near
/// it. Together with [`UnknownTaggedFields`], which keeps unknown fields as their wire bytes,
/// this bounds what a section costs: at most this many fields are walked, and what is kept is
/// a slice of the frame (or, when known fields sit between unknown ones, one copy of the
/// unknown fields' bytes).
pub const TAGGED_FIELDS_MAX: u32 = 10_000;

/// Why a frame could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The frame ended before a field did.
    #[error("unexpected end of frame reading {what}: needed {needed} bytes, {remaining} left")]
    Truncated {
        what: &'static str,
        needed: usize,
        remaining: usize,
    },
    /// A varint ran past the longest encoding its type allows.
    #[error("varint longer than {max_bytes} bytes")]
    VarintTooLong { max_bytes: usize },
    /// A length prefix was negative (other than -1 for null) or past the end of the frame.
    #[error("invalid length {length} for {what} with {remaining} bytes left")]
    InvalidLength {
        what: &'static str,
        length: i64,
        remaining: usize,
    },
    /// An array count cannot fit in the bytes that remain (or is negative).
    #[error("array of {count} elements cannot fit in the {remaining} bytes left")]
    ArrayTooLong { count: i64, remaining: usize },
    /// A field that is not nullable in this version was sent as null.
    #[error("non-nullable field {field} was null")]
    UnexpectedNull { field: &'static str },
    /// The message does not exist in this version.
    #[error("{message} does not support version {version}")]
    UnsupportedVersion { message: &'static str, version: i16 },
    /// No message is known for this API key.
    #[error("unknown API key {api_key}")]
    UnknownApiKey { api_key: i16 },
    /// A tagged-field section announced more than [`TAGGED_FIELDS_MAX`] fields.
    #[error("tagged-field section of {count} fields exceeds the limit of {max}")]
    TooManyTaggedFields { count: u32, max: u32 },
    /// Bytes remained after the whole message had been read.
    #[error("{remaining} unexpected bytes after the end of {message}")]
    TrailingBytes { message: &'static str, remaining: usize },
}

/// Why a value could not be encoded in the requested version.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EncodeError {
    /// The message does not exist in this version.
    #[error("{message} does not support version {version}")]
    UnsupportedVersion { message: &'static str, version: i16 },
    /// The value sets a field that this version cannot carry, and dropping it would change the
    /// meaning of the message (Kafka's rule for fields that are not `ignorable`).
    #[error("{field} has a non-default value but version {version} cannot carry it")]
    FieldNotInVersion { field: &'static str, version: i16 },
    /// A null value for a field that is not nullable in this version.
    #[error("{field} is null but is not nullable in version {version}")]
    NullNotAllowed { field: &'static str, version: i16 },
    /// A string, bytes or array longer than its length prefix can express.
    #[error("{field} is {length} long, more than its encoding allows")]
    TooLong { field: &'static str, length: usize },
}

/// A Kafka UUID (topic ids, directory ids): 16 raw bytes, shown as Kafka shows them, in URL-safe
/// base64 without padding.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct Uuid(pub [u8; 16]);

impl Uuid {
    /// Kafka's "no id" value.
    pub const ZERO: Uuid = Uuid([0; 16]);

    /// True for the all-zero id that stands for "none".
    pub fn is_zero(&self) -> bool {
        *self == Self::ZERO
    }
}

impl std::fmt::Display for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        // 16 bytes = 5 groups of 3 bytes plus one byte; 22 characters without padding.
        let b = &self.0;
        let mut out = [0u8; 22];
        let mut o = 0;
        for chunk in b.chunks(3) {
            let n = chunk
                .iter()
                .enumerate()
                .fold(0u32, |acc, (i, &x)| acc | (u32::from(x) << (16 - 8 * i)));
            let chars = chunk.len() + 1;
            for i in 0..chars {
                out[o] = ALPHABET[((n >> (18 - 6 * i)) & 63) as usize];
                o += 1;
            }
        }
        // Every character comes from ALPHABET, which is ASCII.
        f.write_str(std::str::from_utf8(&out[..o]).map_err(|_| std::fmt::Error)?)
    }
}

impl std::fmt::Debug for Uuid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Uuid({self})")
    }
}

/// A tagged field this codec does not know, kept so that it survives a decode and re-encode.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RawTaggedField {
    /// The field's tag, from the wire.
    pub tag: u32,
    /// The field's bytes, a slice of the received frame.
    pub data: Bytes,
}

/// The unknown tagged fields of one tagged-field section, kept as their wire bytes: each field's
/// tag varint, size varint and data, back to back, in the order received.
///
/// Stored this way, keeping unknown fields costs memory in proportion to the bytes they took on
/// the wire: when they are contiguous on the wire (the usual case, and always so when the
/// schema knows no tagged field here) they are one [`Bytes`] slice of the frame, with no
/// allocation at all; otherwise their bytes are copied once into one buffer. A list of
/// [`RawTaggedField`] would cost about 40 bytes of heap per field, each of which may be 2 wire
/// bytes (Kafka's CVE-2026-111115 class). Iterate with [`UnknownTaggedFields::iter`] to see
/// them as [`RawTaggedField`]s.
///
/// Every struct of a flexible message has one, and almost all are empty, so the empty value is
/// one null pointer (8 bytes, a third of an empty `Vec`); the slice is boxed only when there is
/// something to keep.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct UnknownTaggedFields {
    /// `None` when there are no fields, never an empty slice (so that equality is equality of
    /// the bytes). Well-formed by construction: a sequence of (uvarint tag, uvarint size,
    /// `size` bytes).
    raw: Option<Box<Bytes>>,
}

/// What [`UnknownTaggedFields`] holds when it holds nothing.
static NO_BYTES: Bytes = Bytes::new();

impl UnknownTaggedFields {
    /// No unknown fields.
    pub const fn new() -> Self {
        Self { raw: None }
    }

    fn from_raw(raw: Bytes) -> Self {
        Self {
            raw: (!raw.is_empty()).then(|| Box::new(raw)),
        }
    }

    fn raw(&self) -> &Bytes {
        self.raw.as_deref().unwrap_or(&NO_BYTES)
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.raw.is_none()
    }

    /// How many fields there are (counted by walking them).
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// The fields, in the order they were received or pushed; each field's data is a slice of
    /// the stored bytes.
    pub fn iter(&self) -> UnknownTaggedFieldsIter {
        UnknownTaggedFieldsIter {
            rest: self.raw().clone(),
        }
    }

    /// Appends a field. This copies the fields kept so far: to build many at once, collect
    /// them from an iterator instead.
    pub fn push(&mut self, field: RawTaggedField) {
        let raw = self.raw();
        let mut buf = BytesMut::with_capacity(raw.len() + tagged_size(field.tag, field.data.len()));
        buf.put_slice(raw);
        put_raw_tagged_field(&mut buf, field.tag, &field.data);
        *self = Self::from_raw(buf.freeze());
    }

    /// The fields' encoded bytes (tag, size and data of each), exactly as they go on the wire.
    pub fn wire_bytes(&self) -> &Bytes {
        self.raw()
    }

    /// Bytes the fields take on the wire.
    pub fn wire_size(&self) -> usize {
        self.raw().len()
    }
}

/// Iterates over [`UnknownTaggedFields`]; it holds its own reference to the bytes.
#[derive(Debug, Clone)]
pub struct UnknownTaggedFieldsIter {
    rest: Bytes,
}

impl Iterator for UnknownTaggedFieldsIter {
    type Item = RawTaggedField;

    fn next(&mut self) -> Option<RawTaggedField> {
        // The bytes are well-formed by construction, so this fails only at the end.
        let (tag, data) = get_tagged_field(&mut self.rest).ok()?;
        Some(RawTaggedField { tag, data })
    }
}

impl IntoIterator for &UnknownTaggedFields {
    type Item = RawTaggedField;
    type IntoIter = UnknownTaggedFieldsIter;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

impl FromIterator<RawTaggedField> for UnknownTaggedFields {
    fn from_iter<I: IntoIterator<Item = RawTaggedField>>(fields: I) -> Self {
        let mut buf = BytesMut::new();
        for f in fields {
            put_raw_tagged_field(&mut buf, f.tag, &f.data);
        }
        Self::from_raw(buf.freeze())
    }
}

impl From<Vec<RawTaggedField>> for UnknownTaggedFields {
    fn from(fields: Vec<RawTaggedField>) -> Self {
        fields.into_iter().collect()
    }
}

impl std::fmt::Debug for UnknownTaggedFields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

/// A message in every version its schema declares.
pub trait Message: Sized + Default + Clone + PartialEq + std::fmt::Debug {
    /// The schema name, e.g. `FetchRequest`.
    const NAME: &'static str;
    /// Lowest and highest version this codec reads and writes.
    const VERSIONS: (i16, i16);
    /// First flexible version (compact encodings and tagged fields), if any.
    const FIRST_FLEXIBLE_VERSION: Option<i16>;

    /// Reads one value of `version`, advancing `buf` past it.
    fn decode(buf: &mut Bytes, version: i16) -> Result<Self, DecodeError>;
    /// Appends the value encoded in `version`.
    fn encode(&self, buf: &mut BytesMut, version: i16) -> Result<(), EncodeError>;
    /// The exact number of bytes [`Message::encode`] writes for `version`.
    fn encoded_size(&self, version: i16) -> usize;

    /// Decodes a value that must fill `buf` exactly.
    fn decode_exact(mut buf: Bytes, version: i16) -> Result<Self, DecodeError> {
        let value = Self::decode(&mut buf, version)?;
        if !buf.is_empty() {
            return Err(DecodeError::TrailingBytes {
                message: Self::NAME,
                remaining: buf.len(),
            });
        }
        Ok(value)
    }

    /// Encodes into a new buffer of exactly the right size.
    fn encode_to_bytes(&self, version: i16) -> Result<Bytes, EncodeError> {
        let mut buf = BytesMut::with_capacity(self.encoded_size(version));
        self.encode(&mut buf, version)?;
        Ok(buf.freeze())
    }

    /// Whether `version` is one this codec reads and writes.
    fn supports_version(version: i16) -> bool {
        version >= Self::VERSIONS.0 && version <= Self::VERSIONS.1
    }
}

/// A request body, bound to its API key and response type.
pub trait Request: Message {
    /// The API key of this request.
    const API_KEY: i16;
    /// The body answered to it.
    type Response: Message;
}

// ---------------------------------------------------------------------------------------------
// Decoding.

#[inline]
fn need(buf: &Bytes, n: usize, what: &'static str) -> Result<(), DecodeError> {
    if buf.len() < n {
        Err(DecodeError::Truncated {
            what,
            needed: n,
            remaining: buf.len(),
        })
    } else {
        Ok(())
    }
}

macro_rules! get_fixed {
    ($name:ident, $ty:ty, $n:expr) => {
        #[doc = concat!("Reads a big-endian `", stringify!($ty), "`.")]
        #[inline]
        pub fn $name(buf: &mut Bytes) -> Result<$ty, DecodeError> {
            need(buf, $n, stringify!($ty))?;
            let mut raw = [0u8; $n];
            raw.copy_from_slice(&buf[..$n]);
            bytes::Buf::advance(buf, $n);
            Ok(<$ty>::from_be_bytes(raw))
        }
    };
}

get_fixed!(get_i8, i8, 1);
get_fixed!(get_i16, i16, 2);
get_fixed!(get_u16, u16, 2);
get_fixed!(get_i32, i32, 4);
get_fixed!(get_u32, u32, 4);
get_fixed!(get_i64, i64, 8);
get_fixed!(get_f64, f64, 8);

/// Reads a boolean: any non-zero byte is true, as in Kafka.
#[inline]
pub fn get_bool(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(get_i8(buf)? != 0)
}

/// Reads a UUID.
#[inline]
pub fn get_uuid(buf: &mut Bytes) -> Result<Uuid, DecodeError> {
    need(buf, 16, "uuid")?;
    let mut raw = [0u8; 16];
    raw.copy_from_slice(&buf[..16]);
    bytes::Buf::advance(buf, 16);
    Ok(Uuid(raw))
}

/// Reads an unsigned varint of at most 5 bytes.
#[inline]
pub fn get_uvarint(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let mut value: u32 = 0;
    for i in 0..5 {
        let byte = *buf.first().ok_or(DecodeError::Truncated {
            what: "varint",
            needed: 1,
            remaining: 0,
        })?;
        bytes::Buf::advance(buf, 1);
        // The fifth byte may only carry the top 4 bits.
        if i == 4 && byte > 0x0f {
            return Err(DecodeError::VarintTooLong { max_bytes: 5 });
        }
        value |= u32::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong { max_bytes: 5 })
}

/// Reads a zig-zag signed varint (32 bits).
#[inline]
pub fn get_varint(buf: &mut Bytes) -> Result<i32, DecodeError> {
    let raw = get_uvarint(buf)?;
    Ok(((raw >> 1) as i32) ^ -((raw & 1) as i32))
}

/// Reads an unsigned varlong of at most 10 bytes.
#[inline]
pub fn get_uvarlong(buf: &mut Bytes) -> Result<u64, DecodeError> {
    let mut value: u64 = 0;
    for i in 0..10 {
        let byte = *buf.first().ok_or(DecodeError::Truncated {
            what: "varlong",
            needed: 1,
            remaining: 0,
        })?;
        bytes::Buf::advance(buf, 1);
        if i == 9 && byte > 0x01 {
            return Err(DecodeError::VarintTooLong { max_bytes: 10 });
        }
        value |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(DecodeError::VarintTooLong { max_bytes: 10 })
}

/// Reads a zig-zag signed varlong (64 bits).
#[inline]
pub fn get_varlong(buf: &mut Bytes) -> Result<i64, DecodeError> {
    let raw = get_uvarlong(buf)?;
    Ok(((raw >> 1) as i64) ^ -((raw & 1) as i64))
}

/// Reads a length prefix: `None` for null (-1, or 0 in compact form), otherwise a length that is
/// known to fit in the remaining bytes.
#[inline]
fn get_length(buf: &mut Bytes, compact: bool, wide: bool, what: &'static str) -> Result<Option<usize>, DecodeError> {
    let length: i64 = if compact {
        i64::from(get_uvarint(buf)?) - 1
    } else if wide {
        i64::from(get_i32(buf)?)
    } else {
        i64::from(get_i16(buf)?)
    };
    if length == -1 {
        return Ok(None);
    }
    if length < 0 || length as u64 > buf.len() as u64 {
        return Err(DecodeError::InvalidLength {
            what,
            length,
            remaining: buf.len(),
        });
    }
    Ok(Some(length as usize))
}

fn bytes_to_string(raw: Bytes) -> String {
    // Kafka decodes strings leniently (invalid sequences become U+FFFD); do the same. Valid
    // strings, which is what every real client sends, cost exactly one copy.
    match String::from_utf8(raw.to_vec()) {
        Ok(s) => s,
        Err(e) => String::from_utf8_lossy(e.as_bytes()).into_owned(),
    }
}

/// Reads a string that may be null.
#[inline]
pub fn get_nullable_string(buf: &mut Bytes, compact: bool) -> Result<Option<String>, DecodeError> {
    match get_length(buf, compact, false, "string")? {
        None => Ok(None),
        Some(n) => Ok(Some(bytes_to_string(buf.split_to(n)))),
    }
}

/// Reads a string that must not be null.
#[inline]
pub fn get_string(buf: &mut Bytes, compact: bool, field: &'static str) -> Result<String, DecodeError> {
    get_nullable_string(buf, compact)?.ok_or(DecodeError::UnexpectedNull { field })
}

/// Reads a byte string that may be null, as a slice of the frame.
#[inline]
pub fn get_nullable_bytes(buf: &mut Bytes, compact: bool) -> Result<Option<Bytes>, DecodeError> {
    Ok(get_length(buf, compact, true, "bytes")?.map(|n| buf.split_to(n)))
}

/// Reads a byte string that must not be null, as a slice of the frame.
#[inline]
pub fn get_bytes(buf: &mut Bytes, compact: bool, field: &'static str) -> Result<Bytes, DecodeError> {
    get_nullable_bytes(buf, compact)?.ok_or(DecodeError::UnexpectedNull { field })
}

/// Reads an array count: `None` for null, otherwise a count whose elements, at `element_min_bytes`
/// each, fit in the remaining bytes.
#[inline]
pub fn get_array_len(buf: &mut Bytes, compact: bool, element_min_bytes: usize) -> Result<Option<usize>, DecodeError> {
    let count: i64 = if compact {
        i64::from(get_uvarint(buf)?) - 1
    } else {
        i64::from(get_i32(buf)?)
    };
    if count == -1 {
        return Ok(None);
    }
    let element_min_bytes = element_min_bytes.max(1) as u64;
    if count < 0 || (count as u64).saturating_mul(element_min_bytes) > buf.len() as u64 {
        return Err(DecodeError::ArrayTooLong {
            count,
            remaining: buf.len(),
        });
    }
    Ok(Some(count as usize))
}

/// Reads an array count that must not be null.
#[inline]
pub fn get_array_len_required(
    buf: &mut Bytes,
    compact: bool,
    element_min_bytes: usize,
    field: &'static str,
) -> Result<usize, DecodeError> {
    get_array_len(buf, compact, element_min_bytes)?.ok_or(DecodeError::UnexpectedNull { field })
}

/// A vector with room for the first elements of an array whose count was already validated.
#[inline]
pub fn vec_for<T>(count: usize) -> Vec<T> {
    Vec::with_capacity(count.min(PREALLOC_ELEMENTS_MAX))
}

/// Reads the header of a tagged-field section: the number of fields, at most
/// [`TAGGED_FIELDS_MAX`] and at most half the remaining bytes.
#[inline]
pub fn get_tagged_count(buf: &mut Bytes) -> Result<u32, DecodeError> {
    let count = get_uvarint(buf)?;
    if count > TAGGED_FIELDS_MAX {
        return Err(DecodeError::TooManyTaggedFields {
            count,
            max: TAGGED_FIELDS_MAX,
        });
    }
    // Each tagged field takes at least two bytes (tag and size).
    if u64::from(count) * 2 > buf.len() as u64 {
        return Err(DecodeError::ArrayTooLong {
            count: i64::from(count),
            remaining: buf.len(),
        });
    }
    Ok(count)
}

/// Reads one tagged field's tag and its data, as a slice of the frame.
#[inline]
pub fn get_tagged_field(buf: &mut Bytes) -> Result<(u32, Bytes), DecodeError> {
    let tag = get_uvarint(buf)?;
    let size = get_uvarint(buf)? as usize;
    need(buf, size, "tagged field")?;
    Ok((tag, buf.split_to(size)))
}

/// Reads one tagged-field section, as every generated `decode` does:
///
/// ```ignore
/// let mut fields = c::TaggedFieldsReader::new(buf)?;
/// while let Some((tag, mut data)) = fields.next_field(buf)? {
///     match tag {
///         0 => { /* decode the known field from `data` */ }
///         _ => fields.keep_unknown(),
///     }
/// }
/// this.unknown_tagged_fields = fields.finish();
/// ```
///
/// [`TaggedFieldsReader::new`] reads the count through [`get_tagged_count`], so the
/// [`TAGGED_FIELDS_MAX`] cap holds for every section. Unknown fields are not kept one object
/// each: the reader notes where they lie in the section and [`TaggedFieldsReader::finish`] makes
/// one [`UnknownTaggedFields`] of them, a slice of the frame when they are contiguous.
#[derive(Debug)]
pub struct TaggedFieldsReader {
    /// Fields still to read.
    remaining: u32,
    /// The section's fields and everything after them (the cursor as it was after the count);
    /// offsets below are from its start.
    section: Bytes,
    /// Where the field last returned by `next_field` lies.
    last: (usize, usize),
    /// The unknown fields kept since the last known field: one contiguous range.
    run: Option<(usize, usize)>,
    /// Unknown fields from earlier ranges, copied, when known fields separate them.
    copied: Option<BytesMut>,
}

impl TaggedFieldsReader {
    /// Reads the section's field count (see [`get_tagged_count`]).
    #[inline]
    pub fn new(buf: &mut Bytes) -> Result<Self, DecodeError> {
        let remaining = get_tagged_count(buf)?;
        Ok(Self {
            remaining,
            section: if remaining == 0 { Bytes::new() } else { buf.clone() },
            last: (0, 0),
            run: None,
            copied: None,
        })
    }

    /// Reads the next field's tag and data (a slice of the frame), or `None` after the last.
    /// `buf` must be the cursor given to [`TaggedFieldsReader::new`].
    #[inline]
    pub fn next_field(&mut self, buf: &mut Bytes) -> Result<Option<(u32, Bytes)>, DecodeError> {
        if self.remaining == 0 {
            return Ok(None);
        }
        self.remaining -= 1;
        let start = self.section.len() - buf.len();
        let field = get_tagged_field(buf)?;
        self.last = (start, self.section.len() - buf.len());
        Ok(Some(field))
    }

    /// Keeps the field last returned by [`TaggedFieldsReader::next_field`] as an unknown field.
    #[inline]
    pub fn keep_unknown(&mut self) {
        let (start, end) = self.last;
        match &mut self.run {
            Some(run) if run.1 == start => run.1 = end,
            run => {
                if let Some((a, b)) = run.take() {
                    self.copied
                        .get_or_insert_with(BytesMut::new)
                        .put_slice(&self.section[a..b]);
                }
                *run = Some((start, end));
            }
        }
    }

    /// The unknown fields kept.
    #[inline]
    pub fn finish(self) -> UnknownTaggedFields {
        let raw = match (self.copied, self.run) {
            (None, None) => Bytes::new(),
            (None, Some((a, b))) => self.section.slice(a..b),
            (Some(copied), None) => copied.freeze(),
            (Some(mut copied), Some((a, b))) => {
                copied.put_slice(&self.section[a..b]);
                copied.freeze()
            }
        };
        UnknownTaggedFields::from_raw(raw)
    }
}

/// Reads a nullable struct's presence marker. Writers send -1 for null and 1 for present; like
/// Kafka's reader, any negative byte means null and any other byte means present.
#[inline]
pub fn get_presence(buf: &mut Bytes) -> Result<bool, DecodeError> {
    Ok(get_i8(buf)? >= 0)
}

// ---------------------------------------------------------------------------------------------
// Encoding.

/// Appends a boolean as one byte.
#[inline]
pub fn put_bool(buf: &mut BytesMut, v: bool) {
    buf.put_u8(u8::from(v));
}

/// Appends a UUID.
#[inline]
pub fn put_uuid(buf: &mut BytesMut, v: &Uuid) {
    buf.put_slice(&v.0);
}

/// Appends an unsigned varint.
#[inline]
pub fn put_uvarint(buf: &mut BytesMut, mut v: u32) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Appends a zig-zag signed varint.
#[inline]
pub fn put_varint(buf: &mut BytesMut, v: i32) {
    put_uvarint(buf, ((v << 1) ^ (v >> 31)) as u32);
}

/// Appends an unsigned varlong.
#[inline]
pub fn put_uvarlong(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

/// Appends a zig-zag signed varlong.
#[inline]
pub fn put_varlong(buf: &mut BytesMut, v: i64) {
    put_uvarlong(buf, ((v << 1) ^ (v >> 63)) as u64);
}

/// Bytes an unsigned varint takes.
#[inline]
pub const fn uvarint_size(v: u32) -> usize {
    match v {
        0..=0x7f => 1,
        0x80..=0x3fff => 2,
        0x4000..=0x1f_ffff => 3,
        0x20_0000..=0xfff_ffff => 4,
        _ => 5,
    }
}

/// Bytes a zig-zag varint takes.
#[inline]
pub const fn varint_size(v: i32) -> usize {
    uvarint_size(((v << 1) ^ (v >> 31)) as u32)
}

/// Bytes an unsigned varlong takes.
#[inline]
pub const fn uvarlong_size(v: u64) -> usize {
    let bits = 64 - (v | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Bytes a zig-zag varlong takes.
#[inline]
pub const fn varlong_size(v: i64) -> usize {
    uvarlong_size(((v << 1) ^ (v >> 63)) as u64)
}

#[inline]
fn put_length(
    buf: &mut BytesMut,
    length: Option<usize>,
    compact: bool,
    wide: bool,
    field: &'static str,
) -> Result<(), EncodeError> {
    match length {
        None if compact => put_uvarint(buf, 0),
        None if wide => buf.put_i32(-1),
        None => buf.put_i16(-1),
        Some(n) if compact => {
            let n = u32::try_from(n)
                .ok()
                .filter(|n| *n < u32::MAX)
                .ok_or(EncodeError::TooLong { field, length: n })?;
            put_uvarint(buf, n + 1);
        }
        Some(n) if wide => buf.put_i32(i32::try_from(n).map_err(|_| EncodeError::TooLong { field, length: n })?),
        Some(n) => buf.put_i16(i16::try_from(n).map_err(|_| EncodeError::TooLong { field, length: n })?),
    }
    Ok(())
}

#[inline]
const fn length_size(length: Option<usize>, compact: bool, wide: bool) -> usize {
    if compact {
        match length {
            None => 1,
            Some(n) => uvarint_size((n as u32).wrapping_add(1)),
        }
    } else if wide {
        4
    } else {
        2
    }
}

/// Appends a string that may be null.
#[inline]
pub fn put_nullable_string(
    buf: &mut BytesMut,
    v: Option<&str>,
    compact: bool,
    field: &'static str,
) -> Result<(), EncodeError> {
    put_length(buf, v.map(str::len), compact, false, field)?;
    if let Some(s) = v {
        buf.put_slice(s.as_bytes());
    }
    Ok(())
}

/// Appends a string.
#[inline]
pub fn put_string(buf: &mut BytesMut, v: &str, compact: bool, field: &'static str) -> Result<(), EncodeError> {
    put_nullable_string(buf, Some(v), compact, field)
}

/// Bytes a string takes (None for null).
#[inline]
pub fn string_size(v: Option<&str>, compact: bool) -> usize {
    length_size(v.map(str::len), compact, false) + v.map_or(0, str::len)
}

/// Appends a byte string that may be null.
#[inline]
pub fn put_nullable_bytes(
    buf: &mut BytesMut,
    v: Option<&[u8]>,
    compact: bool,
    field: &'static str,
) -> Result<(), EncodeError> {
    put_length(buf, v.map(<[u8]>::len), compact, true, field)?;
    if let Some(b) = v {
        buf.put_slice(b);
    }
    Ok(())
}

/// Appends a byte string. Inside [`gathering`], a string of at least its threshold is not copied:
/// only its length prefix is appended, and the string itself is noted as a chunk to be sent after
/// the bytes written so far, so that large `records` reach the socket without a copy.
#[inline]
pub fn put_bytes(buf: &mut BytesMut, v: &Bytes, compact: bool, field: &'static str) -> Result<(), EncodeError> {
    put_length(buf, Some(v.len()), compact, true, field)?;
    let gathered = GATHER.with(|g| match g.borrow_mut().as_mut() {
        Some(gather) if v.len() >= gather.min_bytes => {
            gather.chunks.push((buf.len(), v.clone()));
            true
        }
        _ => false,
    });
    if !gathered {
        buf.put_slice(v);
    }
    Ok(())
}

/// What [`put_bytes`] collects while [`gathering`] runs on this thread.
struct Gather {
    /// Strings shorter than this are copied: below it an extra write segment costs more than the
    /// copy it saves.
    min_bytes: usize,
    /// Each gathered string, with the length the encoded buffer had when it was reached: its
    /// place in the frame.
    chunks: Vec<(usize, Bytes)>,
}

thread_local! {
    /// Set only for the duration of a [`gathering`] call on this thread. A thread local, because
    /// the generated `encode` functions write to a plain `BytesMut` and must stay the same
    /// whether or not the caller gathers.
    static GATHER: std::cell::RefCell<Option<Gather>> = const { std::cell::RefCell::new(None) };
}

/// Runs `encode` (which must write to `buf` only) with byte strings of at least `min_bytes` left
/// out of `buf`, and returns where each belongs: `(position in buf, bytes)` in order. Encoding
/// is synchronous, so no other encode can interleave on this thread; the previous state is
/// restored even if `encode` fails or panics.
pub fn gathering<T>(min_bytes: usize, encode: impl FnOnce() -> T) -> (T, Vec<(usize, Bytes)>) {
    struct Restore(Option<Gather>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            GATHER.with(|g| *g.borrow_mut() = previous);
        }
    }
    let previous = GATHER.with(|g| {
        g.borrow_mut().replace(Gather {
            min_bytes: min_bytes.max(1),
            chunks: Vec::new(),
        })
    });
    let restore = Restore(previous);
    let out = encode();
    let chunks = GATHER.with(|g| g.borrow_mut().take().map(|g| g.chunks).unwrap_or_default());
    drop(restore);
    (out, chunks)
}

/// Bytes a byte string takes (None for null).
#[inline]
pub fn bytes_size(v: Option<&[u8]>, compact: bool) -> usize {
    length_size(v.map(<[u8]>::len), compact, true) + v.map_or(0, <[u8]>::len)
}

/// Appends an array count (None for null).
#[inline]
pub fn put_array_len(
    buf: &mut BytesMut,
    count: Option<usize>,
    compact: bool,
    field: &'static str,
) -> Result<(), EncodeError> {
    put_length(buf, count, compact, true, field)
}

/// Bytes an array count takes (None for null).
#[inline]
pub const fn array_len_size(count: Option<usize>, compact: bool) -> usize {
    length_size(count, compact, true)
}

/// Appends one tagged field: tag, size, data.
#[inline]
fn put_raw_tagged_field(buf: &mut BytesMut, tag: u32, data: &[u8]) {
    put_uvarint(buf, tag);
    put_uvarint(buf, data.len() as u32);
    buf.put_slice(data);
}

/// Appends the unknown tagged fields, from byte offset `next` of their wire bytes, up to the
/// first whose tag is at least `below`, advancing `next` past them, so that known and unknown
/// fields go out in ascending tag order as Kafka writes them. The fields are copied as they
/// were received.
#[inline]
pub fn put_raw_tagged_below(buf: &mut BytesMut, raw: &UnknownTaggedFields, next: &mut usize, below: u64) {
    let Some(raw) = raw.raw.as_deref() else {
        return;
    };
    let start = (*next).min(raw.len());
    let mut rest = raw.slice(start..);
    let mut end = start;
    loop {
        let mut after = rest.clone();
        match get_tagged_field(&mut after) {
            Ok((tag, _)) if u64::from(tag) < below => {
                end = raw.len() - after.len();
                rest = after;
            }
            _ => break,
        }
    }
    buf.put_slice(&raw[start..end]);
    *next = end;
}

/// Bytes the unknown tagged fields take.
#[inline]
pub fn raw_tagged_size(raw: &UnknownTaggedFields) -> usize {
    raw.wire_size()
}

/// Appends a tagged field's tag and size prefix.
#[inline]
pub fn put_tag_header(buf: &mut BytesMut, tag: u32, size: usize) {
    put_uvarint(buf, tag);
    put_uvarint(buf, size as u32);
}

/// Bytes a tagged field takes with its tag and size prefix.
#[inline]
pub const fn tagged_size(tag: u32, size: usize) -> usize {
    uvarint_size(tag) + uvarint_size(size as u32) + size
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip_at_boundaries() {
        for v in [
            0u32,
            1,
            0x7f,
            0x80,
            0x3fff,
            0x4000,
            0x1f_ffff,
            0x20_0000,
            0xfff_ffff,
            0x1000_0000,
            u32::MAX,
        ] {
            let mut b = BytesMut::new();
            put_uvarint(&mut b, v);
            assert_eq!(b.len(), uvarint_size(v), "size of {v}");
            let mut r = b.freeze();
            assert_eq!(get_uvarint(&mut r).unwrap(), v);
            assert!(r.is_empty());
        }
        for v in [
            0i64,
            1,
            -1,
            63,
            -64,
            64,
            i64::MAX,
            i64::MIN,
            i32::MAX as i64,
            i32::MIN as i64,
        ] {
            let mut b = BytesMut::new();
            put_varlong(&mut b, v);
            assert_eq!(b.len(), varlong_size(v), "size of {v}");
            let mut r = b.freeze();
            assert_eq!(get_varlong(&mut r).unwrap(), v);
        }
        for v in [0i32, 1, -1, i32::MAX, i32::MIN] {
            let mut b = BytesMut::new();
            put_varint(&mut b, v);
            assert_eq!(b.len(), varint_size(v));
            assert_eq!(get_varint(&mut b.freeze()).unwrap(), v);
        }
    }

    #[test]
    fn over_long_varints_are_rejected() {
        let mut five_continuations = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(
            get_uvarint(&mut five_continuations),
            Err(DecodeError::VarintTooLong { max_bytes: 5 })
        );
        let mut top_bits = Bytes::from_static(&[0xff, 0xff, 0xff, 0xff, 0x10]);
        assert_eq!(
            get_uvarint(&mut top_bits),
            Err(DecodeError::VarintTooLong { max_bytes: 5 })
        );
        let mut long = Bytes::from_static(&[0xff; 11]);
        assert_eq!(
            get_uvarlong(&mut long),
            Err(DecodeError::VarintTooLong { max_bytes: 10 })
        );
    }

    #[test]
    fn lengths_past_the_frame_are_rejected_before_allocation() {
        let mut b = Bytes::from_static(&[0x7f, 0xff, b'a']);
        assert!(matches!(
            get_string(&mut b, false, "s"),
            Err(DecodeError::InvalidLength { .. })
        ));
        let mut b = Bytes::from_static(&[0x7f, 0xff, 0xff, 0xff]);
        assert!(matches!(
            get_array_len(&mut b, false, 1),
            Err(DecodeError::ArrayTooLong { .. })
        ));
        let mut b = Bytes::from_static(&[0, 0, 0, 2, 1, 2, 3, 4]);
        assert!(matches!(
            get_array_len(&mut b, false, 4),
            Err(DecodeError::ArrayTooLong { .. })
        ));
        let mut b = Bytes::from_static(&[0xff, 0xff, 0xff, 0xfe]);
        assert!(matches!(
            get_array_len(&mut b, false, 1),
            Err(DecodeError::ArrayTooLong { count: -2, .. })
        ));
    }

    /// A tagged-field section of `count` fields with the given tags, each empty.
    fn section(count: u32, tags: impl IntoIterator<Item = u32>) -> Bytes {
        let mut b = BytesMut::new();
        put_uvarint(&mut b, count);
        for tag in tags {
            put_tag_header(&mut b, tag, 0);
        }
        b.freeze()
    }

    /// Reads a section as the generated code does, treating `known` as the only known tag.
    fn read_section(buf: &mut Bytes, known: u32) -> Result<(u32, UnknownTaggedFields), DecodeError> {
        let mut fields = TaggedFieldsReader::new(buf)?;
        let mut known_seen = 0;
        while let Some((tag, _data)) = fields.next_field(buf)? {
            if tag == known {
                known_seen += 1;
            } else {
                fields.keep_unknown();
            }
        }
        Ok((known_seen, fields.finish()))
    }

    #[test]
    fn a_tagged_section_may_announce_at_most_ten_thousand_fields() {
        let max = TAGGED_FIELDS_MAX;
        assert_eq!(max, 10_000);
        let mut ok = section(max, (0..max).map(|i| 100 + i));
        let (_, unknown) = read_section(&mut ok, 0).unwrap();
        assert!(ok.is_empty());
        assert_eq!(unknown.len(), max as usize);
        // One more is refused from the count alone, before any field is read, even though the
        // bytes for every field are there.
        let mut over = section(max + 1, (0..=max).map(|i| 100 + i));
        assert_eq!(
            read_section(&mut over, 0).unwrap_err(),
            DecodeError::TooManyTaggedFields { count: max + 1, max }
        );
        let mut huge = section(5_000_000, std::iter::empty());
        assert_eq!(
            get_tagged_count(&mut huge),
            Err(DecodeError::TooManyTaggedFields { count: 5_000_000, max })
        );
    }

    #[test]
    fn contiguous_unknown_fields_are_a_slice_of_the_frame() {
        let mut b = BytesMut::new();
        put_uvarint(&mut b, 3);
        put_raw_tagged_field(&mut b, 5, &[0xaa, 0xbb]);
        put_raw_tagged_field(&mut b, 9, &[]);
        put_raw_tagged_field(&mut b, 300, &[0xcc]);
        b.put_u8(0x42); // what follows the section
        let frame = b.freeze();
        let mut buf = frame.clone();
        let (_, unknown) = read_section(&mut buf, 0).unwrap();
        assert_eq!(&buf[..], &[0x42]);
        // The same memory as the frame, not a copy.
        assert_eq!(unknown.wire_bytes().as_ptr(), frame[1..].as_ptr());
        assert_eq!(unknown.wire_size(), frame.len() - 2);
        let tags: Vec<(u32, Vec<u8>)> = unknown.iter().map(|f| (f.tag, f.data.to_vec())).collect();
        assert_eq!(tags, vec![(5, vec![0xaa, 0xbb]), (9, vec![]), (300, vec![0xcc])]);
    }

    #[test]
    fn unknown_fields_between_known_ones_are_copied_once_in_order() {
        // unknown 7, known 0, unknown 9, unknown 11, known 0 again, unknown 13.
        let mut frame = section(6, [7, 0, 9, 11, 0, 13]);
        let (known, unknown) = read_section(&mut frame, 0).unwrap();
        assert_eq!(known, 2);
        assert!(frame.is_empty());
        let tags: Vec<u32> = unknown.iter().map(|f| f.tag).collect();
        assert_eq!(tags, vec![7, 9, 11, 13]);
        assert_eq!(unknown.wire_size(), 8);
        // They go back out below and above a known tag in ascending order.
        let mut out = BytesMut::new();
        let mut next = 0;
        put_raw_tagged_below(&mut out, &unknown, &mut next, 10);
        assert_eq!(&out[..], &[7, 0, 9, 0]);
        put_raw_tagged_below(&mut out, &unknown, &mut next, 10);
        assert_eq!(out.len(), 4, "nothing more below 10");
        put_raw_tagged_below(&mut out, &unknown, &mut next, u64::MAX);
        assert_eq!(&out[..], &[7, 0, 9, 0, 11, 0, 13, 0]);
        assert_eq!(next, unknown.wire_size());
    }

    #[test]
    fn unknown_fields_built_by_hand_encode_like_received_ones() {
        // What every struct of a flexible message pays when it has none: one pointer.
        assert_eq!(std::mem::size_of::<UnknownTaggedFields>(), std::mem::size_of::<usize>());
        let mut built = UnknownTaggedFields::new();
        assert!(built.is_empty());
        assert_eq!(built, UnknownTaggedFields::from(Vec::new()));
        built.push(RawTaggedField {
            tag: 5,
            data: Bytes::from_static(&[1, 2]),
        });
        built.push(RawTaggedField {
            tag: 200,
            data: Bytes::new(),
        });
        let collected: UnknownTaggedFields = built.iter().collect();
        assert_eq!(collected, built);
        assert_eq!(built.len(), 2);
        assert_eq!(&built.wire_bytes()[..], &[5, 2, 1, 2, 0xc8, 0x01, 0]);
        assert_eq!(
            format!("{built:?}"),
            "[RawTaggedField { tag: 5, data: b\"\\x01\\x02\" }, RawTaggedField { tag: 200, data: b\"\" }]"
        );
    }

    #[test]
    fn uuid_displays_as_kafka_base64() {
        // Kafka prints Uuid(0, 1) as AAAAAAAAAAAAAAAAAAAAAQ.
        let mut raw = [0u8; 16];
        raw[15] = 1;
        assert_eq!(Uuid(raw).to_string(), "AAAAAAAAAAAAAAAAAAAAAQ");
        assert_eq!(Uuid([0xff; 16]).to_string(), "_____________________w");
    }
}
