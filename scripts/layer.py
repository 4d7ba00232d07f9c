#!/usr/bin/env python3
"""Builds and checks a layer zip.

  layer.py zip BINARY ZIP      writes ZIP holding extensions/lambda-lens (mode 0755)
  layer.py check ZIP ARCH [MAX] checks it: one entry extensions/lambda-lens, executable, an ELF
                               binary for ARCH (x86_64 or arm64), statically linked (no program
                               interpreter: static or static-pie), at most MAX bytes (1.8 MB
                               unless given: the default EMF-only layer's budget)
  layer.py readme README ZIP.. rewrites README's layer-size table (between its layer-table
                               markers; `make docs` runs it) from the zips: binary and zip
                               size of each, named by the zip (x86_64, arm64-put-metric-data);
                               an OCI image layout folder (make image) adds its platforms' rows

Standard library only: it runs before any tool is installed.
"""
import io
import os
import stat
import struct
import sys
import zipfile

ENTRY = "extensions/lambda-lens"
MACHINES = {"x86_64": 62, "arm64": 183}
MAX_BYTES = 1_800_000


def write(binary, target):
    info = zipfile.ZipInfo(ENTRY, date_time=(2026, 1, 1, 0, 0, 0))
    info.external_attr = (stat.S_IFREG | 0o755) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as f, zipfile.ZipFile(target, "w") as z:
        z.writestr(info, f.read(), compresslevel=9)


def check(path, arch, max_bytes=MAX_BYTES):
    problems = []
    with zipfile.ZipFile(path) as z:
        names = z.namelist()
        if names != [ENTRY]:
            return [f"entries {names}, expected only {ENTRY}"]
        info = z.getinfo(ENTRY)
        data = z.read(ENTRY)
    mode = info.external_attr >> 16
    if not mode & 0o111:
        problems.append(f"{ENTRY} is not executable (mode {oct(mode)})")
    if len(data) > max_bytes:
        problems.append(f"{ENTRY} is {len(data)} bytes, more than {max_bytes}")
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return problems + ["not a 64-bit little-endian ELF file"]
    machine = struct.unpack_from("<H", data, 18)[0]
    if machine != MACHINES[arch]:
        problems.append(f"ELF machine {machine}, expected {MACHINES[arch]} ({arch})")
    phoff = struct.unpack_from("<Q", data, 32)[0]
    phentsize, phnum = struct.unpack_from("<HH", data, 54)
    for i in range(phnum):
        p_type = struct.unpack_from("<I", data, phoff + i * phentsize)[0]
        if p_type == 3:
            problems.append("it has a program interpreter: dynamically linked")
    return problems


BEGIN = "<!-- layer-table:begin"
END = "<!-- layer-table:end -->"


def table(zips):
    rows = ["| layer | binary (stripped) | zip |", "|---|---:|---:|"]
    for path in zips:
        if os.path.isdir(path):
            # An OCI image layout (make image): a row per platform, its compressed layer.
            import oci_image

            rows.extend(oci_image.table_rows(f"{path}:{oci_image.tag(path)}"))
            continue
        name = os.path.basename(path).removeprefix("lambda-lens-layer-").removesuffix(".zip")
        size = zipfile.ZipFile(path).getinfo(ENTRY).file_size
        rows.append(f"| {name} | {size:,} bytes | {os.path.getsize(path):,} bytes |")
    return "\n".join(rows)


def readme(path, zips):
    with open(path) as f:
        text = f.read()
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        print(f"{path}: no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head = text[: text.index("\n", start) + 1]
    with open(path, "w") as f:
        f.write(head + table(zips) + "\n" + text[end:])
    print(table(zips))
    return 0


def main(argv):
    if len(argv) >= 4 and argv[1] == "readme":
        return readme(argv[2], argv[3:])
    if len(argv) == 4 and argv[1] == "zip":
        write(argv[2], argv[3])
        return 0
    if len(argv) in (4, 5) and argv[1] == "check" and argv[3] in MACHINES:
        limit = int(argv[4]) if len(argv) == 5 else MAX_BYTES
        problems = check(argv[2], argv[3], limit)
        for p in problems:
            print(f"{argv[2]}: {p}", file=sys.stderr)
        if not problems:
            size = zipfile.ZipFile(argv[2]).getinfo(ENTRY).file_size
            print(f"{argv[2]}: {argv[3]}, static, executable, {size} bytes unzipped, "
                  f"{os.path.getsize(argv[2])} bytes zipped")
        return 1 if problems else 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
