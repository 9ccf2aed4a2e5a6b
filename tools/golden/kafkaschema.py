# Licensed under the Apache License, Version 2.0.
"""A small schema-driven Kafka protocol codec (Python stdlib only).

It reads Apache Kafka's message definitions (message/*.json, plus
message-legacy/*.json for versions the current definitions dropped) and
decodes / encodes request and response bodies and headers for any version.

Decoding keeps what is needed to re-encode byte for byte: which tagged
fields were present (even with default values) and the raw bytes of unknown
tagged fields.  `records` fields stay raw bytes.

Used by fakebroker.py (to answer clients) and verify.py (to check that
every captured frame round-trips).
"""

import json
import os
import struct
import uuid as _uuid

REFERENCE = os.environ.get("KAFKA_REFERENCE", "/work/shared/kafka-reference")
SCHEMA_DIRS = [os.path.join(REFERENCE, "message"), os.path.join(REFERENCE, "message-legacy")]

INF = 1 << 30


def parse_range(s):
    if s is None or s == "" or s == "none":
        return (1, 0)  # empty
    s = s.strip()
    if s.endswith("+"):
        return (int(s[:-1]), INF)
    if "-" in s:
        a, b = s.split("-")
        return (int(a), int(b))
    return (int(s), int(s))


def in_range(r, v):
    return r[0] <= v <= r[1]


def _load_json(path):
    with open(path) as fh:
        text = fh.read()
    text = "\n".join(l for l in text.splitlines() if not l.lstrip().startswith("//"))
    return json.loads(text)


class Field:
    def __init__(self, d, structs):
        self.name = d["name"]
        self.type = d["type"]
        self.versions = parse_range(d.get("versions"))
        self.nullable = parse_range(d.get("nullableVersions"))
        self.tagged = parse_range(d.get("taggedVersions"))
        self.tag = d.get("tag")
        self.flex_override = parse_range(d["flexibleVersions"]) if "flexibleVersions" in d else None
        self.default = d.get("default")
        self.is_array = self.type.startswith("[]")
        self.elem = self.type[2:] if self.is_array else self.type
        self.fields = None
        if "fields" in d:
            self.fields = [Field(x, structs) for x in d.get("fields", [])]
        elif self.elem in structs:
            self.fields = structs[self.elem]
        self.is_struct = self.fields is not None

    def default_value(self, v):
        if self.default == "null" or (self.default is None and in_range(self.nullable, v) and self.is_struct and not self.is_array):
            return None
        if self.is_array:
            return []
        t = self.type
        if self.is_struct:
            return {}
        if t == "bool":
            return self.default == "true"
        if t in ("string",):
            return self.default or ""
        if t in ("bytes", "records"):
            return b""
        if t == "uuid":
            return b"\0" * 16
        if t == "float64":
            return float(self.default or 0)
        d = self.default or "0"
        return int(d, 16) if d.lower().startswith("0x") or d.lower().startswith("-0x") else int(d)


class Schema:
    def __init__(self, d):
        self.name = d["name"]
        self.api_key = d.get("apiKey")
        self.kind = d["type"]
        self.valid = parse_range(d.get("validVersions"))
        self.flexible = parse_range(d.get("flexibleVersions"))
        structs = {}
        # commonStructs may reference each other; resolve in order.
        for cs in d.get("commonStructs", []):
            structs[cs["name"]] = None
        for cs in d.get("commonStructs", []):
            structs[cs["name"]] = [Field(x, structs) for x in cs["fields"]]
        self.fields = [Field(x, structs) for x in d.get("fields", [])]


_schemas = {}   # name -> list of Schema (current first, legacy second)
_by_key = {}    # (api_key, kind) -> base name (e.g. "Produce")


def _load_all():
    if _schemas:
        return
    for d in SCHEMA_DIRS:
        if not os.path.isdir(d):
            continue
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".json"):
                continue
            s = Schema(_load_json(os.path.join(d, fn)))
            _schemas.setdefault(s.name, []).append(s)
            if s.api_key is not None and s.kind in ("request", "response"):
                base = s.name[: -len("Request")] if s.kind == "request" else s.name[: -len("Response")]
                _by_key[(s.api_key, s.kind)] = base
    if not _schemas:
        raise RuntimeError("no Kafka message schemas found under %s (set KAFKA_REFERENCE)" % REFERENCE)


def api_name(api_key):
    _load_all()
    return _by_key[(api_key, "request")]


def api_key_of(name):
    _load_all()
    for (k, kind), base in _by_key.items():
        if base == name and kind == "request":
            return k
    raise KeyError(name)


def schema(name, version):
    """Schema named `name` (e.g. "ProduceRequest") that covers `version`."""
    _load_all()
    for s in _schemas.get(name, []):
        if in_range(s.valid, version):
            return s
    raise KeyError("%s v%d not in the reference schemas" % (name, version))


def version_range(name):
    """(min, max) over current+legacy definitions."""
    _load_all()
    lo = min(s.valid[0] for s in _schemas[name])
    hi = max(s.valid[1] for s in _schemas[name])
    return lo, hi


def is_flexible(api_key, version):
    return in_range(schema(api_name(api_key) + "Request", version).flexible, version)


def request_header_version(api_key, version):
    if api_key == 7 and version == 0:  # ControlledShutdown v0
        return 0
    return 2 if is_flexible(api_key, version) else 1


def response_header_version(api_key, version):
    if api_key == 18:  # ApiVersions responses always use header v0
        return 0
    return 1 if is_flexible(api_key, version) else 0


# ---------------------------------------------------------------- primitives

class Reader:
    def __init__(self, buf, pos=0, end=None):
        self.buf = buf
        self.pos = pos
        self.end = len(buf) if end is None else end

    def take(self, n):
        if n < 0 or self.pos + n > self.end:
            raise ValueError("short read: need %d at %d, end %d" % (n, self.pos, self.end))
        b = self.buf[self.pos:self.pos + n]
        self.pos += n
        return bytes(b)

    def unpack(self, fmt):
        n = struct.calcsize(fmt)
        return struct.unpack(fmt, self.take(n))[0]

    def uvarint(self):
        shift = 0
        out = 0
        while True:
            b = self.take(1)[0]
            out |= (b & 0x7F) << shift
            if not b & 0x80:
                return out
            shift += 7
            if shift > 63:
                raise ValueError("varint too long")

    def varint(self):
        u = self.uvarint()
        return (u >> 1) ^ -(u & 1)

    def remaining(self):
        return self.end - self.pos


def uvarint(n):
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


def varint(n):
    return uvarint((n << 1) ^ (n >> 63))


FMT = {"int8": ">b", "int16": ">h", "int32": ">i", "int64": ">q", "uint16": ">H", "uint32": ">I", "float64": ">d"}


# ---------------------------------------------------------------- decode

def _compact(f, v, flexible):
    if f.flex_override is not None:
        return in_range(f.flex_override, v)
    return flexible


def _read_scalar(r, t, f, v, compact):
    nullable = f is not None and in_range(f.nullable, v)
    if t in FMT:
        return r.unpack(FMT[t])
    if t == "bool":
        return r.take(1)[0] != 0
    if t == "uuid":
        return r.take(16)
    if t == "string":
        n = (r.uvarint() - 1) if compact else r.unpack(">h")
        if n < 0:
            if not nullable:
                raise ValueError("null for non-nullable string %s" % (f.name if f else "?"))
            return None
        return r.take(n).decode("utf-8")
    if t in ("bytes", "records"):
        n = (r.uvarint() - 1) if compact else r.unpack(">i")
        if n < 0:
            if not nullable:
                raise ValueError("null for non-nullable bytes %s" % f.name)
            return None
        return r.take(n)
    raise ValueError("unknown type %s" % t)


def _read_field(r, f, v, flexible):
    compact = _compact(f, v, flexible)
    if f.is_array:
        n = (r.uvarint() - 1) if compact else r.unpack(">i")
        if n < 0:
            if not in_range(f.nullable, v):
                raise ValueError("null for non-nullable array %s" % f.name)
            return None
        if f.is_struct:
            return [_read_struct(r, f.fields, v, flexible) for _ in range(n)]
        return [_read_scalar(r, f.elem, None, v, compact) for _ in range(n)]
    if f.is_struct:
        if in_range(f.nullable, v):
            if r.unpack(">b") < 0:
                return None
        return _read_struct(r, f.fields, v, flexible)
    return _read_scalar(r, f.type, f, v, compact)


def _read_struct(r, fields, v, flexible):
    out = {}
    for f in fields:
        if not in_range(f.versions, v) or in_range(f.tagged, v):
            continue
        out[f.name] = _read_field(r, f, v, flexible)
    if flexible:
        tags = []
        n = r.uvarint()
        bytag = {f.tag: f for f in fields if f.tag is not None and in_range(f.tagged, v) and in_range(f.versions, v)}
        for _ in range(n):
            tag = r.uvarint()
            size = r.uvarint()
            if tag in bytag:
                f = bytag[tag]
                sub = Reader(r.buf, r.pos, r.pos + size)
                out[f.name] = _read_field(sub, f, v, flexible)
                if sub.pos != sub.end:
                    raise ValueError("tagged field %s: %d bytes left" % (f.name, sub.end - sub.pos))
                r.pos += size
                tags.append(tag)
            else:
                tags.append((tag, r.take(size)))
        out["_tags"] = tags
    return out


# ---------------------------------------------------------------- encode

def _write_scalar(out, t, f, v, compact, val):
    if t in FMT:
        out += struct.pack(FMT[t], val)
    elif t == "bool":
        out.append(1 if val else 0)
    elif t == "uuid":
        if isinstance(val, str):
            val = _uuid.UUID(val).bytes
        assert len(val) == 16
        out += val
    elif t == "string":
        if val is None:
            out += uvarint(0) if compact else struct.pack(">h", -1)
        else:
            b = val.encode("utf-8")
            out += uvarint(len(b) + 1) if compact else struct.pack(">h", len(b))
            out += b
    elif t in ("bytes", "records"):
        if val is None:
            out += uvarint(0) if compact else struct.pack(">i", -1)
        else:
            out += uvarint(len(val) + 1) if compact else struct.pack(">i", len(val))
            out += val
    else:
        raise ValueError("unknown type %s" % t)


def _write_field(out, f, v, flexible, val):
    compact = _compact(f, v, flexible)
    if f.is_array:
        if val is None:
            out += uvarint(0) if compact else struct.pack(">i", -1)
            return
        out += uvarint(len(val) + 1) if compact else struct.pack(">i", len(val))
        for e in val:
            if f.is_struct:
                _write_struct(out, f.fields, v, flexible, e)
            else:
                _write_scalar(out, f.elem, None, v, compact, e)
        return
    if f.is_struct:
        if in_range(f.nullable, v):
            if val is None:
                out += struct.pack(">b", -1)
                return
            out += struct.pack(">b", 1)
        _write_struct(out, f.fields, v, flexible, val)
        return
    _write_scalar(out, f.type, f, v, compact, val)


def _get(d, f, v):
    if f.name in d:
        return d[f.name]
    return f.default_value(v)


def _write_struct(out, fields, v, flexible, d):
    for f in fields:
        if not in_range(f.versions, v) or in_range(f.tagged, v):
            continue
        _write_field(out, f, v, flexible, _get(d, f, v))
    if flexible:
        bytag = {f.tag: f for f in fields if f.tag is not None and in_range(f.tagged, v) and in_range(f.versions, v)}
        if "_tags" in d:
            entries = d["_tags"]
        else:
            entries = [t for t, f in sorted(bytag.items())
                       if f.name in d and d[f.name] != f.default_value(v)]
        out += uvarint(len(entries))
        for e in entries:
            if isinstance(e, tuple):
                tag, raw = e
            else:
                tag = e
                f = bytag[tag]
                sub = bytearray()
                _write_field(sub, f, v, flexible, _get(d, f, v))
                raw = bytes(sub)
            out += uvarint(tag) + uvarint(len(raw)) + raw


# ---------------------------------------------------------------- public API

def decode_body(name, version, buf, pos=0):
    """Decode a message body. Returns (dict, end_position)."""
    s = schema(name, version)
    r = Reader(buf, pos)
    d = _read_struct(r, s.fields, version, in_range(s.flexible, version))
    return d, r.pos


def encode_body(name, version, d):
    s = schema(name, version)
    out = bytearray()
    _write_struct(out, s.fields, version, in_range(s.flexible, version), d)
    return bytes(out)


def decode_request_header(buf):
    """Returns (header dict, header_version, body_offset)."""
    api_key, api_version = struct.unpack(">hh", buf[:4])
    hv = request_header_version(api_key, api_version)
    s = schema("RequestHeader", max(hv, 1))
    r = Reader(buf)
    if hv == 0:
        d = {"RequestApiKey": r.unpack(">h"), "RequestApiVersion": r.unpack(">h"), "CorrelationId": r.unpack(">i")}
    else:
        d = _read_struct(r, s.fields, hv, in_range(s.flexible, hv))
    return d, hv, r.pos


def encode_request_header(d, hv):
    if hv == 0:
        return struct.pack(">hhi", d["RequestApiKey"], d["RequestApiVersion"], d["CorrelationId"])
    s = schema("RequestHeader", hv)
    out = bytearray()
    _write_struct(out, s.fields, hv, in_range(s.flexible, hv), d)
    return bytes(out)


def decode_response_header(buf, hv):
    s = schema("ResponseHeader", hv)
    r = Reader(buf)
    d = _read_struct(r, s.fields, hv, in_range(s.flexible, hv))
    return d, r.pos


def encode_response_header(d, hv):
    s = schema("ResponseHeader", hv)
    out = bytearray()
    _write_struct(out, s.fields, hv, in_range(s.flexible, hv), d)
    return bytes(out)
