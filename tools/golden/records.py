# Licensed under the Apache License, Version 2.0.
"""Parse Kafka record data: v2 record batches and v0/v1 message sets.

Checks CRCs (CRC-32C for magic 2, CRC-32 for magic 0/1) and decompresses:
gzip with the standard library, snappy (raw or xerial-framed) and lz4 (frame,
including the pre-KIP-57 header checksum of magic-0 sets) with the small
pure-Python decoders below, zstd with the `cramjam` or `zstandard` package
(installed in the venv).  Everything but zstd is standard library only.
"""

import gzip
import struct
import zlib

from kafkaschema import Reader

CODECS = {0: "none", 1: "gzip", 2: "snappy", 3: "lz4", 4: "zstd"}


def _crc32c_table():
    tab = []
    for i in range(256):
        c = i
        for _ in range(8):
            c = (c >> 1) ^ 0x82F63B78 if c & 1 else c >> 1
        tab.append(c)
    return tab


_T = _crc32c_table()


def crc32c(data):
    c = 0xFFFFFFFF
    for b in data:
        c = _T[(c ^ b) & 0xFF] ^ (c >> 8)
    return c ^ 0xFFFFFFFF


XERIAL_MAGIC = b"\x82SNAPPY\x00"

_P1, _P2, _P3, _P4, _P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393
_M = 0xFFFFFFFF


def _rotl(x, r):
    return ((x << r) | (x >> (32 - r))) & _M


def xxh32(data, seed=0):
    n, i = len(data), 0
    if n >= 16:
        v = [(seed + _P1 + _P2) & _M, (seed + _P2) & _M, seed & _M, (seed - _P1) & _M]
        while i + 16 <= n:
            for j in range(4):
                lane = struct.unpack_from("<I", data, i + 4 * j)[0]
                v[j] = (_rotl((v[j] + lane * _P2) & _M, 13) * _P1) & _M
            i += 16
        h = (_rotl(v[0], 1) + _rotl(v[1], 7) + _rotl(v[2], 12) + _rotl(v[3], 18)) & _M
    else:
        h = (seed + _P5) & _M
    h = (h + n) & _M
    while i + 4 <= n:
        h = (_rotl((h + struct.unpack_from("<I", data, i)[0] * _P3) & _M, 17) * _P4) & _M
        i += 4
    while i < n:
        h = (_rotl((h + data[i] * _P5) & _M, 11) * _P1) & _M
        i += 1
    h ^= h >> 15
    h = (h * _P2) & _M
    h ^= h >> 13
    h = (h * _P3) & _M
    h ^= h >> 16
    return h


def snappy_raw(src):
    """Pure-Python decoder for raw (unframed) snappy."""
    r = Reader(src)
    n = r.uvarint()
    out = bytearray()
    while r.remaining():
        tag = r.take(1)[0]
        kind = tag & 3
        if kind == 0:
            ln = tag >> 2
            if ln >= 60:
                ln = int.from_bytes(r.take(ln - 59), "little")
            out += r.take(ln + 1)
            continue
        if kind == 1:
            ln = ((tag >> 2) & 7) + 4
            off = ((tag >> 5) << 8) | r.take(1)[0]
        elif kind == 2:
            ln = (tag >> 2) + 1
            off = int.from_bytes(r.take(2), "little")
        else:
            ln = (tag >> 2) + 1
            off = int.from_bytes(r.take(4), "little")
        if off == 0 or off > len(out):
            raise ValueError("bad snappy copy offset")
        start = len(out) - off
        for k in range(ln):
            out.append(out[start + k])
    if len(out) != n:
        raise ValueError("snappy length mismatch")
    return bytes(out)


def lz4_block(src):
    out = bytearray()
    i = 0
    while i < len(src):
        token = src[i]
        i += 1
        lit = token >> 4
        if lit == 15:
            while True:
                b = src[i]
                i += 1
                lit += b
                if b != 255:
                    break
        out += src[i:i + lit]
        i += lit
        if i >= len(src):
            break
        off = src[i] | (src[i + 1] << 8)
        i += 2
        ml = token & 15
        if ml == 15:
            while True:
                b = src[i]
                i += 1
                ml += b
                if b != 255:
                    break
        ml += 4
        start = len(out) - off
        for k in range(ml):
            out.append(out[start + k])
    return bytes(out)


def lz4_frame(data):
    """Pure-Python LZ4 frame decoder (no dictionary).  Returns (plain, note);
    note says whether the header checksum is the standard one or the broken
    pre-KIP-57 one (computed over the magic number too) that magic-0 Kafka
    message sets carry."""
    if data[:4] != b"\x04\x22\x4d\x18":
        raise ValueError("not an LZ4 frame")
    flg = data[4]
    pos = 6
    if flg & 0x08:
        pos += 8
    if flg & 0x01:
        pos += 4
    hc = data[pos]
    if hc == (xxh32(data[4:pos]) >> 8) & 0xFF:
        note = "lz4(frame)"
    elif hc == (xxh32(data[0:pos]) >> 8) & 0xFF:
        note = "lz4(frame, pre-KIP-57 header checksum)"
    else:
        raise ValueError("lz4 header checksum matches neither form")
    pos += 1
    out = bytearray()
    while True:
        (size,) = struct.unpack_from("<I", data, pos)
        pos += 4
        if size == 0:
            break
        raw, size = size & 0x80000000, size & 0x7FFFFFFF
        blk = data[pos:pos + size]
        pos += size
        out += blk if raw else lz4_block(blk)
        if flg & 0x10:
            pos += 4
    if flg & 0x04:
        (cc,) = struct.unpack_from("<I", data, pos)
        if cc != xxh32(bytes(out)):
            raise ValueError("lz4 content checksum mismatch")
    return bytes(out), note


def decompress(codec, data):
    """Returns (plain bytes, framing note)."""
    if codec == 0:
        return data, ""
    if codec == 1:
        return gzip.decompress(data), "gzip"
    if codec == 2:
        if data.startswith(XERIAL_MAGIC):
            # xerial framing: magic(8) version(4) compat(4) then [int32 len][raw snappy block]...
            pos = 16
            out = bytearray()
            while pos < len(data):
                (n,) = struct.unpack_from(">i", data, pos)
                pos += 4
                out += snappy_raw(data[pos:pos + n])
                pos += n
            return bytes(out), "snappy(xerial-framed)"
        return snappy_raw(data), "snappy(raw)"
    if codec == 3:
        return lz4_frame(data)
    if codec == 4:
        try:
            import cramjam
            return bytes(cramjam.zstd.decompress(data)), "zstd"
        except ImportError:
            import zstandard
            return zstandard.ZstdDecompressor().decompressobj().decompress(data), "zstd"
    raise ValueError("unknown codec %d" % codec)


def parse_record(r):
    length = r.varint()
    end = r.pos + length
    rec = {"attributes": r.take(1)[0], "timestampDelta": r.varint(), "offsetDelta": r.varint()}
    n = r.varint()
    rec["key"] = None if n < 0 else r.take(n)
    n = r.varint()
    rec["value"] = None if n < 0 else r.take(n)
    hdrs = []
    for _ in range(r.varint()):
        kn = r.varint()
        k = r.take(kn).decode()
        vn = r.varint()
        v = None if vn < 0 else r.take(vn)
        hdrs.append((k, v))
    rec["headers"] = hdrs
    if r.pos != end:
        raise ValueError("record length mismatch")
    return rec


def parse_batch_v2(buf):
    r = Reader(buf)
    b = {"baseOffset": r.unpack(">q"), "batchLength": r.unpack(">i"),
         "partitionLeaderEpoch": r.unpack(">i"), "magic": r.unpack(">b"), "crc": r.unpack(">I")}
    crc_start = r.pos
    b["crc_ok"] = crc32c(buf[crc_start:12 + b["batchLength"]]) == b["crc"]
    b.update(attributes=r.unpack(">h"), lastOffsetDelta=r.unpack(">i"), baseTimestamp=r.unpack(">q"),
             maxTimestamp=r.unpack(">q"), producerId=r.unpack(">q"), producerEpoch=r.unpack(">h"),
             baseSequence=r.unpack(">i"))
    count = r.unpack(">i")
    codec = b["attributes"] & 7
    b["codec"] = CODECS[codec]
    b["transactional"] = bool(b["attributes"] & 0x10)
    b["control"] = bool(b["attributes"] & 0x20)
    payload = buf[r.pos:12 + b["batchLength"]]
    plain, note = decompress(codec, payload)
    b["compression"] = note or "none"
    pr = Reader(plain)
    b["records"] = [parse_record(pr) for _ in range(count)]
    if pr.remaining():
        raise ValueError("%d bytes left after records" % pr.remaining())
    return b


def parse_message_v01(buf):
    """One legacy message (offset, size, crc, magic, attributes, [timestamp], key, value)."""
    r = Reader(buf)
    m = {"offset": r.unpack(">q"), "size": r.unpack(">i"), "crc": r.unpack(">I")}
    m["crc_ok"] = (zlib.crc32(buf[16:12 + m["size"]]) & 0xFFFFFFFF) == m["crc"]
    m["magic"] = r.unpack(">b")
    m["attributes"] = r.unpack(">b")
    if m["magic"] == 1:
        m["timestamp"] = r.unpack(">q")
    n = r.unpack(">i")
    m["key"] = None if n < 0 else r.take(n)
    n = r.unpack(">i")
    m["value"] = None if n < 0 else r.take(n)
    codec = m["attributes"] & 7
    m["codec"] = CODECS[codec]
    if codec:
        plain, note = decompress(codec, m["value"])
        m["compression"] = note
        m["inner"] = parse_records(plain)
    return m


def parse_records(buf):
    """Split a records blob into entries. Returns a list of dicts with 'magic'.
    A truncated trailing entry (allowed in Fetch responses) is reported as
    {'partial': n_bytes}."""
    out = []
    pos = 0
    while pos < len(buf):
        if pos + 17 > len(buf):
            out.append({"partial": len(buf) - pos})
            break
        (size,) = struct.unpack_from(">i", buf, pos + 8)
        end = pos + 12 + size
        if end > len(buf):
            out.append({"partial": len(buf) - pos})
            break
        magic = buf[pos + 16]
        entry = buf[pos:end]
        out.append(parse_batch_v2(entry) if magic == 2 else parse_message_v01(entry))
        pos = end
    return out


def flatten(entries):
    """(offset-ish, key, value, headers) for every record, for display."""
    rows = []
    for e in entries:
        if "partial" in e:
            continue
        if e["magic"] == 2:
            for rec in e["records"]:
                rows.append((e["baseOffset"] + rec["offsetDelta"], rec["key"], rec["value"], rec["headers"]))
        elif "inner" in e:
            rows.extend((m[0], m[1], m[2], m[3]) for m in flatten(e["inner"]))
        else:
            rows.append((e["offset"], e["key"], e["value"], []))
    return rows


def all_crcs_ok(entries):
    for e in entries:
        if "partial" in e:
            continue
        if not e["crc_ok"]:
            return False
        if "inner" in e and not all_crcs_ok(e["inner"]):
            return False
    return True
