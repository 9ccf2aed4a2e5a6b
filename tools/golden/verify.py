#!/usr/bin/env python3
# Licensed under the Apache License, Version 2.0.
"""Check the golden captures and write their manifest.

    verify.py [--manifest] [--show] [GOLDEN_DIR]

For every <NNN>-<Api>-v<V>.(req|resp).bin under GOLDEN_DIR/<capture>/:
  * decode the header (version from the api/version in the file name) and the
    body with the schemas in $KAFKA_REFERENCE, re-encode both, and compare
    with the file byte for byte (everything must be consumed);
  * for Produce requests and Fetch responses, parse the record data: check the
    CRC (CRC-32C for v2 batches, CRC-32 for v0/v1 messages), decompress, and
    check that the records are the driver's (key-N / value / headers).
--manifest rewrites GOLDEN_DIR/manifest.txt.  --show prints the records.
Exit status 1 if anything fails.
"""

import argparse
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import kafkaschema as ks  # noqa: E402
import records  # noqa: E402

NAME_RE = re.compile(r"^(\d{3})-([A-Za-z]+)-v(\d+)\.(req|resp)\.bin$")
CONFIGS = ("modern", "old", "legacy0100", "legacy090")
CODECS = ("none", "gzip", "snappy", "lz4", "zstd")
DEFAULT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                           "crates", "protocol", "tests", "golden")


def split_capture(name):
    parts = name.split("-")
    codec = parts.pop() if parts[-1] in CODECS else ""
    config = parts.pop() if parts[-1] in CONFIGS else ""
    return "-".join(parts), config, codec


def check_file(path, show):
    fn = os.path.basename(path)
    m = NAME_RE.match(fn)
    if not m:
        raise ValueError("bad file name")
    _, api, v, kind = m.group(1), m.group(2), int(m.group(3)), m.group(4)
    key = ks.api_key_of(api)
    data = open(path, "rb").read()
    notes = []
    if kind == "req":
        hdr, hv, pos = ks.decode_request_header(data)
        if (hdr["RequestApiKey"], hdr["RequestApiVersion"]) != (key, v):
            raise ValueError("header says api %d v%d" % (hdr["RequestApiKey"], hdr["RequestApiVersion"]))
        re_hdr = ks.encode_request_header(hdr, hv)
        body, end = ks.decode_body(api + "Request", v, data, pos)
        re_body = ks.encode_body(api + "Request", v, body)
    else:
        hv = ks.response_header_version(key, v)
        hdr, pos = ks.decode_response_header(data, hv)
        re_hdr = ks.encode_response_header(hdr, hv)
        body, end = ks.decode_body(api + "Response", v, data, pos)
        re_body = ks.encode_body(api + "Response", v, body)
    if end != len(data):
        raise ValueError("%d trailing bytes after body" % (len(data) - end))
    if re_hdr + re_body != data:
        raise ValueError("re-encoded bytes differ")
    blobs = []
    if api == "Produce" and kind == "req":
        blobs = [p["Records"] for t in body["TopicData"] for p in t["PartitionData"] if p["Records"]]
    if api == "Fetch" and kind == "resp":
        blobs = [p["Records"] for t in body["Responses"] for p in t["Partitions"] if p["Records"]]
    for blob in blobs:
        entries = records.parse_records(blob)
        if not records.all_crcs_ok(entries):
            raise ValueError("record CRC mismatch")
        rows = records.flatten(entries)
        for off, k, val, hdrs in rows:
            if k is None or not k.startswith(b"key-") or (val is not None and b"golden value" not in val):
                raise ValueError("unexpected record %r=%r" % (k, val))
        desc = []
        for e in entries:
            if "partial" in e:
                desc.append("partial(%d bytes)" % e["partial"])
            elif e["magic"] == 2:
                desc.append("v2 batch %s crc32c=ok %d records pid=%d" % (
                    e["compression"], len(e["records"]), e["producerId"]))
            else:
                desc.append("v%d message %s crc32=ok%s" % (
                    e["magic"], e.get("compression", "none"),
                    " (%d inner)" % len(e["inner"]) if "inner" in e else ""))
        notes.append("; ".join(desc))
        if show:
            for off, k, val, hdrs in rows:
                notes.append("    offset=%d key=%r value=%r headers=%r" % (off, k, val, hdrs))
    return key, api, v, hv, len(data), notes


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=DEFAULT_DIR)
    ap.add_argument("--manifest", action="store_true")
    ap.add_argument("--show", action="store_true")
    args = ap.parse_args()
    root = os.path.normpath(args.dir)
    rows, failures, total = [], 0, 0
    for cap in sorted(os.listdir(root)):
        d = os.path.join(root, cap)
        if not os.path.isdir(d):
            continue
        client, config, codec = split_capture(cap)
        for fn in sorted(os.listdir(d)):
            if not fn.endswith(".bin"):
                continue
            total += 1
            path = os.path.join(d, fn)
            try:
                key, api, v, hv, size, notes = check_file(path, args.show)
            except Exception as e:  # noqa: BLE001
                failures += 1
                print("FAIL %s/%s: %s" % (cap, fn, e))
                continue
            kind = "request" if fn.endswith(".req.bin") else "response"
            rows.append((cap + "/" + fn, client, config, codec or "-", kind, key, api, v, hv, size))
            for n in notes:
                print("%s/%s: %s" % (cap, fn, n))
    print("%d files, %d failed" % (total, failures))
    if args.manifest:
        with open(os.path.join(root, "manifest.txt"), "w") as fh:
            fh.write("# Generated by tools/golden/verify.py --manifest. One line per captured frame.\n")
            fh.write("# header_version: request header v1/v2 or response header v0/v1 (ApiVersions responses: always v0)\n")
            fh.write("# path\tclient\tconfig\tcodec\tdirection\tapi_key\tapi_name\tapi_version\theader_version\tsize_bytes\n")
            for r in rows:
                fh.write("\t".join(str(x) for x in r) + "\n")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
