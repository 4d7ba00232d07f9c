#!/usr/bin/env python3
"""Writes OCI image layouts without a container engine, byte for byte reproducibly.

  oci_image.py extension OUT [--tag TAG] AMD64_BINARY ARM64_BINARY
        lambda-lens's image (make image): FROM scratch, /opt/extensions/lambda-lens (0755,
        root), for linux/amd64 and linux/arm64, as OUT, an OCI image layout whose index.json
        names one image index (both platforms) by TAG (org.opencontainers.image.ref.name).
        TAG defaults to the workspace's version, read with `cargo metadata`.
  oci_image.py build SPEC.json OUT
        any image from a JSON spec (the tests' function images): {"tag": T, "index": bool,
        "annotations": {..}, "platforms": {"amd64": {"config": {Entrypoint, Cmd, WorkingDir,
        Env, Labels}, "layers": [LAYER, ...]}, ...}} where a LAYER is {"files": {"path/in/image":
        "host/file", ...}} (0755, root), {"whiteouts": ["path"]} (an `.wh.` entry each),
        {"opaque": ["dir"]} (dir/.wh..wh..opq) or {"from": "LAYOUT:TAG"} (that image's layers
        for the same platform, as a Dockerfile's COPY --from of the whole image). With "index"
        false and one platform, the tag names that platform's manifest (what Lambda runs).
  oci_image.py tag LAYOUT
        the tag of the layout's one image (what make image tagged it with).
  oci_image.py table LAYOUT:TAG
        one row per platform for the README's layer table: the extension's size and the
        compressed layer bytes a pull downloads.

Reproducible: tar entries sorted, mtime SOURCE_DATE_EPOCH (0 when unset), uid/gid 0 without
names, ustar headers; gzip without a name or a timestamp; JSON with sorted keys. Standard library
only.
"""
import gzip
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import tarfile
from datetime import datetime, timezone

MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"
EXTENSION_PATH = "opt/extensions/lambda-lens"
ELF_MACHINES = {62: "amd64", 183: "arm64"}


def epoch():
    return int(os.environ.get("SOURCE_DATE_EPOCH", "0"))


def dumps(value):
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


class Layout:
    """An OCI image layout being written: blobs/sha256/, oci-layout, index.json."""

    def __init__(self, path):
        self.path = path
        os.makedirs(os.path.join(path, "blobs", "sha256"), exist_ok=True)

    def blob(self, data, media_type):
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        with open(os.path.join(self.path, "blobs", "sha256", digest[7:]), "wb") as f:
            f.write(data)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def finish(self, descriptor):
        with open(os.path.join(self.path, "oci-layout"), "wb") as f:
            f.write(dumps({"imageLayoutVersion": "1.0.0"}))
        with open(os.path.join(self.path, "index.json"), "wb") as f:
            f.write(dumps({"schemaVersion": 2, "mediaType": INDEX, "manifests": [descriptor]}))


def tar_layer(entries):
    """A gzip'd tar of `entries` ({path: bytes, or None for a directory}), with every parent
    directory; returns (compressed, uncompressed)."""
    paths = {}
    for path, data in entries.items():
        parts = path.strip("/").split("/")
        for i in range(1, len(parts)):
            paths.setdefault("/".join(parts[:i]), None)
        paths["/".join(parts)] = data
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        for path in sorted(paths):
            data = paths[path]
            info = tarfile.TarInfo(path)
            info.mtime = epoch()
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if data is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                # Whiteouts are empty regular files; everything else here is an executable.
                info.mode = 0 if os.path.basename(path).startswith(".wh.") else 0o755
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    uncompressed = raw.getvalue()
    out = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=out, compresslevel=9, mtime=0) as gz:
        gz.write(uncompressed)
    return out.getvalue(), uncompressed


def read_json(layout, digest):
    with open(os.path.join(layout, "blobs", "sha256", digest.split(":", 1)[1]), "rb") as f:
        return json.load(f)


def resolve(reference, architecture):
    """`LAYOUT:TAG` → (layout, manifest, config) for `architecture`."""
    layout, _, tag = reference.rpartition(":")
    with open(os.path.join(layout, "index.json")) as f:
        top = json.load(f)
    found = [d for d in top["manifests"] if d.get("annotations", {}).get(REF_NAME) == tag]
    if len(found) != 1:
        raise SystemExit(f"{reference}: {len(found)} descriptors tagged {tag!r} in index.json")
    descriptor = found[0]
    if descriptor["mediaType"] == INDEX:
        index = read_json(layout, descriptor["digest"])
        matches = [d for d in index["manifests"] if d.get("platform", {}).get("architecture") == architecture]
        if len(matches) != 1:
            raise SystemExit(f"{reference}: no single linux/{architecture} manifest")
        descriptor = matches[0]
    manifest = read_json(layout, descriptor["digest"])
    return layout, manifest, read_json(layout, manifest["config"]["digest"])


def build(spec, out):
    layout = Layout(out)
    created = datetime.fromtimestamp(epoch(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    descriptors = []
    for architecture, platform in spec["platforms"].items():
        layers, diff_ids, history = [], [], []
        for layer in platform["layers"]:
            if "from" in layer:
                source, manifest, config = resolve(layer["from"], architecture)
                for descriptor, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
                    with open(os.path.join(source, "blobs", "sha256", descriptor["digest"][7:]), "rb") as f:
                        layers.append(layout.blob(f.read(), descriptor["mediaType"]))
                    diff_ids.append(diff_id)
                    history.append({"created": created, "created_by": f"COPY --from={layer['from']} / /"})
                continue
            entries = {}
            for path, source in layer.get("files", {}).items():
                with open(source, "rb") as f:
                    entries[path] = f.read()
            for path in layer.get("whiteouts", []):
                head, name = os.path.split(path.strip("/"))
                entries[os.path.join(head, ".wh." + name)] = b""
            for path in layer.get("opaque", []):
                entries[os.path.join(path.strip("/"), ".wh..wh..opq")] = b""
            compressed, uncompressed = tar_layer(entries)
            layers.append(layout.blob(compressed, LAYER))
            diff_ids.append("sha256:" + hashlib.sha256(uncompressed).hexdigest())
            history.append({"created": created, "created_by": layer.get("created_by", "COPY . /")})
        config = {
            "architecture": architecture,
            "os": "linux",
            "created": created,
            "config": platform.get("config", {}),
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
            "history": history,
        }
        manifest = {
            "schemaVersion": 2,
            "mediaType": MANIFEST,
            "config": layout.blob(dumps(config), CONFIG),
            "layers": layers,
        }
        descriptor = layout.blob(dumps(manifest), MANIFEST)
        descriptor["platform"] = {"architecture": architecture, "os": "linux"}
        descriptors.append(descriptor)
    if spec.get("index", True) or len(descriptors) != 1:
        index = {"schemaVersion": 2, "mediaType": INDEX, "manifests": descriptors}
        if spec.get("annotations"):
            index["annotations"] = spec["annotations"]
        top = layout.blob(dumps(index), INDEX)
    else:
        top = dict(descriptors[0])
    top["annotations"] = {REF_NAME: spec["tag"]}
    layout.finish(top)
    return top


def workspace_version():
    out = subprocess.run(
        [os.environ.get("CARGO", "cargo"), "metadata", "--no-deps", "--format-version", "1"],
        check=True, capture_output=True, text=True,
    ).stdout
    for package in json.loads(out)["packages"]:
        if package["name"] == "lambda-lens":
            return package["version"]
    raise SystemExit("cargo metadata lists no package lambda-lens")


def extension(out, tag, amd64, arm64):
    for path, architecture in ((amd64, "amd64"), (arm64, "arm64")):
        with open(path, "rb") as f:
            head = f.read(20)
        machine = int.from_bytes(head[18:20], "little") if head[:4] == b"\x7fELF" else None
        if ELF_MACHINES.get(machine) != architecture:
            raise SystemExit(f"{path} is not a linux/{architecture} executable")
    labels = {
        "org.opencontainers.image.title": "lambda-lens",
        "org.opencontainers.image.description": "lambda-lens, an AWS Lambda extension: COPY --from this image /opt/extensions /opt/extensions",
        "org.opencontainers.image.version": tag,
        "org.opencontainers.image.licenses": "Apache-2.0",
    }
    spec = {
        "tag": tag,
        "annotations": labels,
        "platforms": {
            architecture: {
                "config": {"Labels": labels},
                "layers": [{"files": {EXTENSION_PATH: path}, "created_by": f"COPY lambda-lens /{EXTENSION_PATH}"}],
            }
            for architecture, path in (("amd64", amd64), ("arm64", arm64))
        },
    }
    if os.path.isfile(os.path.join(out, "oci-layout")):
        # An earlier build's blobs would linger: the layout holds this build only.
        shutil.rmtree(out)
    top = build(spec, out)
    print(f"{out}: OCI image layout, {tag} -> {top['digest']} (linux/amd64, linux/arm64)")
    for row in table_rows(f"{out}:{tag}"):
        print(row)


def tag(layout):
    with open(os.path.join(layout, "index.json")) as f:
        tags = [d.get("annotations", {}).get(REF_NAME) for d in json.load(f)["manifests"]]
    if len(tags) != 1 or not tags[0]:
        raise SystemExit(f"{layout}: expected one tagged image in index.json, found {tags}")
    return tags[0]


def table_rows(reference):
    """README rows: `| image linux/ARCH | binary | compressed layer bytes |`."""
    rows = []
    for architecture in ("amd64", "arm64"):
        layout, manifest, _ = resolve(reference, architecture)
        size = 0
        for descriptor in manifest["layers"]:
            with open(os.path.join(layout, "blobs", "sha256", descriptor["digest"][7:]), "rb") as f:
                with tarfile.open(fileobj=io.BytesIO(f.read()), mode="r:gz") as tar:
                    size += sum(m.size for m in tar.getmembers() if m.isfile())
        layer_bytes = sum(d["size"] for d in manifest["layers"])
        rows.append(f"| image linux/{architecture} | {size:,} bytes | {layer_bytes:,} bytes (gzip layer) |")
    return rows


def main(argv):
    args = argv[1:]
    if args[:1] == ["extension"] and len(args) in (4, 6):
        version = None
        if "--tag" in args:
            i = args.index("--tag")
            version = args[i + 1]
            del args[i : i + 2]
        if len(args) == 4:
            extension(args[1], version or workspace_version(), args[2], args[3])
            return 0
    if args[:1] == ["build"] and len(args) == 3:
        with open(args[1]) as f:
            top = build(json.load(f), args[2])
        print(f"{args[2]}: {top['digest']}")
        return 0
    if args[:1] == ["tag"] and len(args) == 2:
        print(tag(args[1]))
        return 0
    if args[:1] == ["table"] and len(args) == 2:
        print("\n".join(table_rows(args[1])))
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
