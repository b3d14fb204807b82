#!/usr/bin/env python3
"""Seeds the fuzz corpora from sample-reports/, at run time (nothing here is
committed but this script and the dictionary).

    python3 fuzz/seed_corpus.py SAMPLES OUT

writes OUT/parse_xml/ (every XML report found, decompressed: plain .xml,
inside .gz, .zip and the attachments of .eml/mbox/Maildir messages) and
OUT/unpack/ and OUT/ingest_one/ (every sample file as it is, one file per
mbox message). Files are named by their SHA-1, as libFuzzer names its own,
so reseeding an existing corpus adds nothing twice.
"""

import email
import email.policy
import gzip
import hashlib
import io
import mailbox
import os
import sys
import zipfile

MAX_SEED = 256 * 1024  # libFuzzer's -max_len is smaller anyway


def xml_inside(data, depth=0):
    """Every XML document inside `data` (gzip, zip, message, or XML)."""
    if depth > 4 or not data:
        return
    if data[:2] == b"\x1f\x8b":
        try:
            yield from xml_inside(gzip.decompress(data), depth + 1)
        except (OSError, EOFError):
            pass
        return
    if data[:4] == b"PK\x03\x04":
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                for name in archive.namelist():
                    yield from xml_inside(archive.read(name), depth + 1)
        except (zipfile.BadZipFile, OSError, EOFError):
            pass
        return
    stripped = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if stripped[:1] == b"<" or data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        yield data
        return
    message = email.message_from_bytes(data, policy=email.policy.compat32)
    if not message.keys():
        return
    for part in message.walk():
        if part.is_multipart():
            continue
        payload = part.get_payload(decode=True)
        if payload:
            yield from xml_inside(payload, depth + 1)


def main():
    samples, out = sys.argv[1], sys.argv[2]
    dirs = {t: os.path.join(out, t) for t in ("parse_xml", "unpack", "ingest_one")}
    for d in dirs.values():
        os.makedirs(d, exist_ok=True)
    counts = dict.fromkeys(dirs, 0)

    def put(target, data):
        if not data or len(data) > MAX_SEED:
            return
        path = os.path.join(dirs[target], hashlib.sha1(data).hexdigest())
        if not os.path.exists(path):
            with open(path, "wb") as f:
                f.write(data)
            counts[target] += 1

    for root, subdirs, files in os.walk(samples):
        subdirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                data = f.read()
            if data.startswith(b"From "):
                inputs = [m.as_bytes() for m in mailbox.mbox(path)]
            else:
                inputs = [data]
            for raw in inputs:
                put("unpack", raw)
                put("ingest_one", raw)
                for xml in xml_inside(raw):
                    put("parse_xml", xml)
    print(" ".join(f"{t}: {n} new seed(s)" for t, n in counts.items()))
    if not all(counts[t] or os.listdir(dirs[t]) for t in dirs):
        sys.exit("seed_corpus.py: no seeds found in " + samples)


if __name__ == "__main__":
    main()
