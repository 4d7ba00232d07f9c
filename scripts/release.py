#!/usr/bin/env python3
"""make release: what a version ships, in dist/ (docs/releases.md).

  release.py --cyclonedx PATH [--sinks "emf put-metric-data otlp"] [--archs "x86_64 arm64"]
             [--out dist] [--make make]

For each layer variant (SINK) and architecture it runs `make layer`, then writes into the output
folder:

  lambda-lens-VERSION-SINK-ARCH.zip        the layer zip, byte for byte as `make layer` made it
  lambda-lens-VERSION-SINK-ARCH.cdx.json   the CycloneDX SBOM of its binary (cargo-cyclonedx for
                                           that target and those features, build-only crates
                                           left out), with the zip and the binary it describes
  SHA256SUMS                               every file above, as `sha256sum -c SHA256SUMS` reads it

It refuses a tree with changes git has not committed (a release is a commit), unless
RELEASE_ALLOW_DIRTY=1, and a version CHANGELOG.md has no entry for. The zips are reproducible
(the same commit gives the same bytes: scripts/test_release.py builds twice and compares), and
each SBOM is too: its time is the commit's (SOURCE_DATE_EPOCH) and the checkout's path is not in
it. Other files in the output folder (dist/layers.json) are left alone; the release files of an
earlier run are replaced.

Standard library only.
"""
import argparse
import hashlib
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import tomllib
import zipfile
import zlib

ENTRY = "extensions/lambda-lens"
# The release's files in the output folder: anything else there is someone else's.
RELEASE_FILE = re.compile(r"^(lambda-lens-.+\.(zip|cdx\.json)|SHA256SUMS)$")
# Where the SBOMs' sources are copied: cargo-cyclonedx writes beside every manifest of the
# workspace, and the checkout's own tree is not the place for that.
SBOM_SOURCES = "target/release-sbom-src"
# What stands for the copy's path inside an SBOM (cargo-cyclonedx names path crates by it).
SOURCE_ROOT = "/lambda-lens"


class ReleaseError(Exception):
    pass


def git(*args):
    return subprocess.run(["git", *args], capture_output=True, text=True, check=True).stdout


def workspace_version(root="."):
    with open(os.path.join(root, "Cargo.toml"), "rb") as f:
        return tomllib.load(f)["workspace"]["package"]["version"]


def check_tree():
    """Git's word that the tree is the commit (ignored files aside: target/, dist/, .venv)."""
    changes = git("status", "--porcelain", "--untracked-files=normal").splitlines()
    if not changes:
        return False
    if os.environ.get("RELEASE_ALLOW_DIRTY") == "1":
        print(f"release: RELEASE_ALLOW_DIRTY=1: building from a tree with {len(changes)} "
              "uncommitted changes (not a release of the commit)", file=sys.stderr)
        return True
    shown = "\n".join(f"  {line}" for line in changes[:10])
    more = f"\n  ... and {len(changes) - 10} more" if len(changes) > 10 else ""
    raise ReleaseError(
        "make release builds a commit, and this tree has changes git has not committed:\n"
        f"{shown}{more}\n"
        "Commit them (or remove them), or set RELEASE_ALLOW_DIRTY=1 for a build that is not a "
        "release of the commit.")


def check_changelog(version):
    heading = f"## [{version}]"
    with open("CHANGELOG.md") as f:
        if not any(line.startswith(heading) for line in f):
            raise ReleaseError(f"CHANGELOG.md has no entry for {version} (a line starting "
                               f"'{heading}'): write it before releasing")


def make_vars(make, sink, arch):
    """The zip `make layer` writes for SINK and ARCH, its target triple and cargo features."""
    out = subprocess.run([*make, "-s", "--no-print-directory", "release-info", f"ARCH={arch}",
                          f"SINK={sink}"], capture_output=True, text=True, check=True).stdout
    words = out.split()
    if len(words) < 2:
        raise ReleaseError(f"make release-info ARCH={arch} SINK={sink} said {out!r}")
    zip_path, triple, flags = words[0], words[1], words[2:]
    features = []
    for i, word in enumerate(flags):
        if word == "--features" and i + 1 < len(flags):
            features += [f.split("/")[-1] for f in flags[i + 1].split(",") if f]
    return zip_path, triple, features


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def elf_section(data, name):
    """The bytes of the ELF64 (little-endian) section NAME, or None."""
    if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
        return None
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    headers = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    names_at, names_size = headers[shstrndx][4], headers[shstrndx][5]
    names = data[names_at:names_at + names_size]
    for sh_name, _, _, _, offset, size in headers:
        if names[sh_name:names.index(b"\0", sh_name)].decode() == name:
            return data[offset:offset + size]
    return None


def audit_data(binary):
    """cargo-auditable's dependency list in BINARY: the `.dep-v0` section, zlib JSON."""
    section = elf_section(binary, ".dep-v0")
    return None if section is None else json.loads(zlib.decompress(section))


def copy_sources(dest):
    """The tracked files as they are in the working tree (what cargo metadata reads)."""
    shutil.rmtree(dest, ignore_errors=True)
    for path in git("ls-files", "-z").split("\0"):
        if path and os.path.isfile(path) and not os.path.islink(path):
            target = os.path.join(dest, path)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            shutil.copyfile(path, target)


def sbom(cyclonedx, sources, triple, features, epoch, about):
    """The CycloneDX SBOM (JSON, spec 1.5) of the extension's binary for TRIPLE and FEATURES."""
    manifest = os.path.join(sources, "extension", "Cargo.toml")
    written = os.path.join(sources, "extension", "lambda-lens_bin.cdx.json")
    if os.path.exists(written):
        os.remove(written)
    command = [cyclonedx, "cyclonedx", "--manifest-path", manifest, "--describe", "binaries",
               "--target", triple, "--spec-version", "1.5", "--format", "json",
               "--no-build-deps", "-q"]
    if features:
        command += ["--features", ",".join(features)]
    env = dict(os.environ, SOURCE_DATE_EPOCH=str(epoch))
    subprocess.run(command, check=True, env=env)
    with open(written) as f:
        text = f.read()
    # Path crates are named by where the sources were (cargo may give the path with its
    # symbolic links resolved): the same name for every checkout.
    for path in (os.path.realpath(sources), os.path.abspath(sources)):
        text = text.replace(path, SOURCE_ROOT)
    doc = json.loads(text)
    properties = doc.setdefault("metadata", {}).setdefault("properties", [])
    properties += [{"name": f"lambda-lens:{k}", "value": v} for k, v in about.items()]
    return json.dumps(doc, indent=2, ensure_ascii=False) + "\n"


def release(args):
    dirty = check_tree()
    version = workspace_version()
    check_changelog(version)
    commit = git("rev-parse", "HEAD").strip()
    epoch = int(git("log", "-1", "--format=%ct").strip())
    make = args.make.split()
    # What else decides the bytes (docs/releases.md): the compiler, recorded in each SBOM.
    rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True,
                           check=True).stdout.strip()
    builds = []
    for sink in args.sinks.split():
        for arch in args.archs.split():
            subprocess.run([*make, "--no-print-directory", "layer", f"ARCH={arch}", f"SINK={sink}"],
                           check=True)
            builds.append((sink, arch, *make_vars(make, sink, arch)))

    os.makedirs(args.out, exist_ok=True)
    for name in os.listdir(args.out):
        if RELEASE_FILE.match(name):
            os.remove(os.path.join(args.out, name))
    copy_sources(SBOM_SOURCES)
    written = []
    for sink, arch, zip_path, triple, features in builds:
        stem = f"lambda-lens-{version}-{sink}-{arch}"
        zip_name = f"{stem}.zip"
        shutil.copyfile(zip_path, os.path.join(args.out, zip_name))
        with zipfile.ZipFile(zip_path) as z:
            binary = z.read(ENTRY)
        if audit_data(binary) is None:
            raise ReleaseError(f"{zip_path}: its binary has no .dep-v0 section (cargo-auditable's "
                               "dependency list): was it built by make layer?")
        about = {"layer": zip_name, "layer-sha256": sha256(zip_path),
                 "binary": ENTRY, "binary-sha256": hashlib.sha256(binary).hexdigest(),
                 "commit": commit + ("+uncommitted-changes" if dirty else ""),
                 "cargo-features": ",".join(features) or "(default)", "rustc": rustc}
        document = sbom(args.cyclonedx, SBOM_SOURCES, triple, features, epoch, about)
        with open(os.path.join(args.out, f"{stem}.cdx.json"), "w") as f:
            f.write(document)
        written += [zip_name, f"{stem}.cdx.json"]

    # The copy holds manifests: tools that walk the tree for them (cargo machete) should not
    # find a second workspace there.
    shutil.rmtree(SBOM_SOURCES, ignore_errors=True)
    with open(os.path.join(args.out, "SHA256SUMS"), "w") as f:
        for name in sorted(written):
            f.write(f"{sha256(os.path.join(args.out, name))}  {name}\n")
    print(f"release {version} ({commit[:12]}{', uncommitted changes' if dirty else ''}) "
          f"in {args.out}/:")
    for name in sorted(written) + ["SHA256SUMS"]:
        print(f"  {name} ({os.path.getsize(os.path.join(args.out, name)):,} bytes)")


def main(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cyclonedx", required=True, help="the cargo-cyclonedx executable")
    parser.add_argument("--sinks", default="emf put-metric-data otlp")
    parser.add_argument("--archs", default="x86_64 arm64")
    parser.add_argument("--out", default="dist")
    parser.add_argument("--make", default="make")
    args = parser.parse_args(argv[1:])
    try:
        release(args)
    except ReleaseError as err:
        print(f"make release: {err}", file=sys.stderr)
        return 1
    except subprocess.CalledProcessError as err:
        print(f"make release: {' '.join(map(str, err.cmd))} failed ({err.returncode})",
              file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
