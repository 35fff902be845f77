#!/usr/bin/env python3
"""Generate flatstream's checksum test vectors and golden frames.

    python3 scripts/make-vectors.py      # rewrites both files, byte-identically

Writes test/vectors/checksums.json and test/golden/frames.json. Every value
comes from code independent of flatstream's own (lib/engine/js, native/):

  crc16     CRC-16/XMODEM   binascii.crc_hqx(data, 0)
  crc32     CRC-32/ISO-HDLC zlib.crc32
  xxhash64  XXH3-64 seed 0  the `xxhsum -H3` CLI (xxHash >= 0.8), batched
  crc32c    CRC-32C         bitwise implementation below
  crc64     CRC-64/XZ       bitwise implementation below

Needs only the standard library and xxhsum on PATH (apt: xxhash).

Input bytes come from a 32-bit LCG so that tests can regenerate them instead
of storing megabytes of hex:

    state = seed
    for each byte: state = (state * 1664525 + 1013904223) mod 2^32
                   byte  = state >> 24

A vector {len, offset, seed, value} is the checksum of bytes
[offset, offset + len) of the first offset + len bytes generated from seed;
short vectors also carry those len bytes as `hex`. Values are "0x" plus
lower-case hex, zero-padded to the checksum width.

The JSON is emitted already in the layout prettier gives it (printWidth 100),
so formatting the repository does not change these files.
"""

import binascii
import json
import os
import re
import struct
import subprocess
import sys
import tempfile
import zlib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LCG_MUL = 1664525
LCG_INC = 1013904223
HEX_MAX = 64  # vectors up to this length also store their input as hex
KAT_INPUT = b"123456789"


def lcg_bytes(seed, n):
    """The first n bytes of the LCG stream for seed (see module docstring)."""
    out = bytearray(n)
    state = seed & 0xFFFFFFFF
    for i in range(n):
        state = (state * LCG_MUL + LCG_INC) & 0xFFFFFFFF
        out[i] = state >> 24
    return bytes(out)


def crc_reflected_bitwise(data, poly, width):
    """Textbook LSB-first CRC, init and xorout all ones (CRC-32C, CRC-64/XZ)."""
    mask = (1 << width) - 1
    crc = mask
    for b in data:
        crc ^= b
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ mask


def crc32c(data):
    return crc_reflected_bitwise(data, 0x82F63B78, 32)


def crc64_xz(data):
    return crc_reflected_bitwise(data, 0xC96C5795D7870F42, 64)


def xxh3_batch(inputs):
    """XXH3-64 of every input, with one xxhsum process for the whole batch."""
    with tempfile.TemporaryDirectory() as tmp:
        paths = []
        for i, data in enumerate(inputs):
            path = os.path.join(tmp, "v%05d" % i)
            with open(path, "wb") as f:
                f.write(data)
            paths.append(path)
        # --tag: BSD lines "XXH3 (path) = <hex>", the big-endian (canonical)
        # rendering of the 64-bit value, in every 0.8.x release.
        out = subprocess.run(
            ["xxhsum", "-H3", "--tag", *paths], check=True, capture_output=True, text=True
        ).stdout
    found = {}
    for line in out.splitlines():
        m = re.fullmatch(r"XXH3 \((.*)\) = ([0-9a-f]{16})", line.strip())
        if m:
            found[m.group(1)] = int(m.group(2), 16)
    if len(found) != len(paths):
        sys.exit("unexpected xxhsum output:\n" + out[:500])
    return [found[p] for p in paths]


WIDTHS = {"none": 0, "crc16": 2, "crc32": 4, "xxhash64": 8, "crc32c": 4, "crc64": 8}
ALGORITHMS = {
    "crc16": ("CRC-16/XMODEM", "binascii.crc_hqx(data, 0)", 0x31C3),
    "crc32": ("CRC-32/ISO-HDLC", "zlib.crc32", 0xCBF43926),
    "xxhash64": ("XXH3-64, seed 0", "xxhsum -H3", 0x72DCB18B67A17DFF),
    "crc32c": ("CRC-32C (Castagnoli)", "bitwise Python", 0xE3069283),
    "crc64": ("CRC-64/XZ", "bitwise Python", 0x995DC9BBDF1939FA),
}
SIMPLE = {
    "crc16": lambda d: binascii.crc_hqx(d, 0),
    "crc32": zlib.crc32,
    "crc32c": crc32c,
    "crc64": crc64_xz,
}


def checksum_all(name, inputs):
    if name == "xxhash64":
        return xxh3_batch(inputs)
    return [SIMPLE[name](d) for d in inputs]


def hex_value(name, value):
    return "0x%0*x" % (2 * WIDTHS[name], value)


def check_kats():
    """Refuse to write anything if a reference disagrees with its known answer."""
    for name, (_, _, kat) in ALGORITHMS.items():
        got = checksum_all(name, [KAT_INPUT])[0]
        if got != kat:
            sys.exit("%s: KAT mismatch: got %#x, want %#x" % (name, got, kat))
    if xxh3_batch([b""])[0] != 0x2D06800538D394C2:
        sys.exit("xxhsum: wrong hash of the empty input (not XXH3-64?)")


BIG_LENGTHS = [511, 512, 1000, 1024, 1025, 2048, 2049, 4095, 4096, 65537, 1048576 + 13]


def make_checksum_vectors():
    vectors = {}
    for name in ALGORITHMS:
        # XXH3 changes code path at 16, 128, 240 and every 64 and 1024 bytes:
        # cover every length through the first block boundary.
        top = 1100 if name == "xxhash64" else 300
        lengths = list(range(top + 1)) + [n for n in BIG_LENGTHS if n > top]
        specs = [(n, n % 4, n) for n in lengths]  # (len, offset, seed)
        inputs = [lcg_bytes(seed, off + n)[off:] for n, off, seed in specs]
        values = checksum_all(name, inputs)
        rows = []
        for (n, off, seed), data, value in zip(specs, inputs, values):
            row = {"len": n, "offset": off, "seed": seed}
            if n <= HEX_MAX:
                row["hex"] = data.hex()
            row["value"] = hex_value(name, value)
            rows.append(row)
        vectors[name] = rows
    return {
        "description": "Checksum test vectors generated by scripts/make-vectors.py from "
        "implementations independent of flatstream (see that script).",
        "generator": {
            "kind": "lcg32",
            "multiplier": LCG_MUL,
            "increment": LCG_INC,
            "rule": "state = seed; per byte: state = (state * multiplier + increment) mod 2^32, "
            "byte = state >>> 24. A vector covers bytes [offset, offset + len) of the first "
            "offset + len bytes generated from its seed.",
        },
        "algorithms": {
            name: {
                "algorithm": alg,
                "width": WIDTHS[name],
                "reference": ref,
                "kat": hex_value(name, kat),
            }
            for name, (alg, ref, kat) in ALGORITHMS.items()
        },
        "vectors": vectors,
    }


FRAME_PAYLOAD_SEED = 1500
STREAM_TAIL = b"flatbuf"  # the 7-byte last payload of every golden stream


def make_golden_frames():
    payloads = [b"", b"abc", lcg_bytes(FRAME_PAYLOAD_SEED, 1500)]
    stream_payloads = payloads + [STREAM_TAIL]
    frames, streams = [], []
    for name, width in WIDTHS.items():
        values = checksum_all(name, stream_payloads) if width else [0] * len(stream_payloads)
        encoded = [
            struct.pack("<I", len(p)) + v.to_bytes(width, "little") + p
            for p, v in zip(stream_payloads, values)
        ]
        for p, v, f in zip(payloads, values, encoded):
            row = {"checksum": name, "width": width}
            if width:
                row["value"] = hex_value(name, v)
            row["payloadHex"] = p.hex()
            row["frameHex"] = f.hex()
            frames.append(row)
        index, offset = [], 0
        for p, f in zip(stream_payloads, encoded):
            index.append(
                {
                    "offset": offset,
                    "length": len(f),
                    "payloadOffset": offset + 4 + width,
                    "payloadLength": len(p),
                }
            )
            offset += len(f)
        stream = b"".join(encoded).hex()
        streams.append({"checksum": name, "width": width, "streamHex": stream, "frames": index})
    return {
        "description": "Golden frames in flatstream's wire format, generated by "
        "scripts/make-vectors.py: frame = [u32 LE payload length][checksum of the payload, "
        "width bytes, little-endian][payload]. Payloads: empty, 'abc', 1500 LCG bytes "
        "(seed 1500, generator as in test/vectors/checksums.json). Each stream is those "
        "three frames then a 7-byte payload 'flatbuf'; in its index, offset/length delimit "
        "a whole frame and payloadOffset/payloadLength its payload.",
        "frames": frames,
        "streams": streams,
    }


# --- JSON in prettier's layout -------------------------------------------------

PRINT_WIDTH = 100


def _compact(value):
    if isinstance(value, dict):
        if not value:
            return "{}"
        return "{ " + ", ".join(json.dumps(k) + ": " + _compact(v) for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_compact(v) for v in value) + "]"
    return json.dumps(value)


def _dump(value, indent, key, suffix):
    """Prettier keeps a flat object on one line when it fits; lists of objects break."""
    head = "  " * indent + ("" if key is None else json.dumps(key) + ": ")
    flat = isinstance(value, dict) and not any(isinstance(v, (dict, list)) for v in value.values())
    if not isinstance(value, (dict, list)) or not value:
        return [head + json.dumps(value) + suffix]
    if flat and len(head + _compact(value) + suffix) <= PRINT_WIDTH:
        return [head + _compact(value) + suffix]
    opening, closing = ("{", "}") if isinstance(value, dict) else ("[", "]")
    items = list(value.items()) if isinstance(value, dict) else [(None, v) for v in value]
    lines = [head + opening]
    for i, (k, v) in enumerate(items):
        lines += _dump(v, indent + 1, k, "," if i < len(items) - 1 else "")
    return lines + ["  " * indent + closing + suffix]


def write_json(rel, value):
    path = os.path.join(ROOT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="\n") as f:
        f.write("\n".join(_dump(value, 0, None, "")) + "\n")
    print("wrote", rel)


def main():
    check_kats()
    write_json("test/vectors/checksums.json", make_checksum_vectors())
    write_json("test/golden/frames.json", make_golden_frames())


if __name__ == "__main__":
    main()
