#!/usr/bin/env python3
"""make release's suite (`make release-test`, in `make test`).

It runs `make release` on this tree (RELEASE_ALLOW_DIRTY=1: the tree may carry work in progress;
the layers `make test` built are reused) into target/release-test/dist, then checks what a user
and a scanner rely on: the files and their names, SHA256SUMS (`sha256sum -c`, and a changed byte
caught), each zip as make layer made it and within its budget, each SBOM (CycloneDX JSON for the
binary's target and features, listing every crate the binary says it holds, no build path), the
binaries' dependency lists (cargo-auditable's `.dep-v0`, read by rust-audit-info and decoded
here), and `--version` of every binary (arm64 under qemu). Then in a clean clone of HEAD: that
`make release` refuses uncommitted changes and a version CHANGELOG.md lacks, and
reproducibility: the release of RELEASE_REPRO_SINKS x RELEASE_REPRO_ARCHS built in one clone,
then again in a second clone of the same commit at another path (the extension recompiled),
gives the same SHA256SUMS; and when this tree was clean at that commit, the same as this tree's
release. The clones share a
cargo folder kept between runs (target/release-test/cargo-target: dependencies compiled once);
RELEASE_REPRO_FRESH=1 empties it for a build from nothing.

  test_release.py --make make --tools target/tools/bin
"""
import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import zipfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import release  # noqa: E402  (the release script's ELF reader and version, under test too)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "target", "release-test")
DIST = os.path.join(WORK, "dist")
SINKS = os.environ.get("RELEASE_SINKS", "emf put-metric-data otlp").split()
ARCHS = os.environ.get("RELEASE_ARCHS", "x86_64 arm64").split()
REPRO_SINKS = os.environ.get("RELEASE_REPRO_SINKS", "emf").split()
REPRO_ARCHS = os.environ.get("RELEASE_REPRO_ARCHS", "x86_64").split()
TRIPLES = {"x86_64": "x86_64-unknown-linux-musl", "arm64": "aarch64-unknown-linux-musl"}
# The default layer's budgets (the issue's: 1.8 MB unzipped, 1 MB zipped); the variants' own
# unzipped budgets are make layer's, checked by scripts/layer.py there.
DEFAULT_MAX_UNZIPPED = 1_800_000
DEFAULT_MAX_ZIPPED = 1_000_000
ARGS = None


def run(command, cwd=ROOT, env=None, check=True):
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed ({result.returncode}) in {cwd}:\n"
                             f"{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def make(*args, cwd=ROOT, env=None, check=True):
    tools = ARGS.tools
    return run([*ARGS.make.split(), "--no-print-directory", *args,
                f"AUDITABLE={tools}/cargo-auditable", f"CYCLONEDX={tools}/cargo-cyclonedx"],
               cwd=cwd, env=env, check=check)


def sums(folder):
    with open(os.path.join(folder, "SHA256SUMS")) as f:
        return dict(reversed(line.rstrip("\n").split("  ", 1)) for line in f)


def variants(sinks, archs):
    return [(s, a) for s in sinks for a in archs]


def sinks_built_in(sink):
    """What --version lists for a layer variant: EMF always, and the variant's own sink."""
    return "emf" if sink == "emf" else f"emf, {sink}"


def head():
    return run(["git", "rev-parse", "HEAD"]).stdout.strip()


def clone(path, commit):
    """A clean checkout of COMMIT (the branch may move on while the suite runs)."""
    shutil.rmtree(path, ignore_errors=True)
    run(["git", "clone", "--quiet", "--no-checkout", ROOT, path])
    run(["git", "checkout", "--quiet", commit], cwd=path)
    cargo_target = os.path.join(WORK, "cargo-target")
    os.makedirs(cargo_target, exist_ok=True)
    os.symlink(cargo_target, os.path.join(path, "target"))


class Test1ThisTree(unittest.TestCase):
    version = None

    @classmethod
    def setUpClass(cls):
        cls.version = release.workspace_version(ROOT)
        shutil.rmtree(DIST, ignore_errors=True)
        env = dict(os.environ, RELEASE_ALLOW_DIRTY="1")
        out = make("release", f"DIST={DIST}", f"RELEASE_SINKS={' '.join(SINKS)}",
                   f"RELEASE_ARCHS={' '.join(ARCHS)}", env=env)
        print(out.stdout.split("release ", 1)[-1][:2000], file=sys.stderr)

    def stem(self, sink, arch):
        return f"lambda-lens-{self.version}-{sink}-{arch}"

    def binary(self, sink, arch):
        with zipfile.ZipFile(os.path.join(DIST, self.stem(sink, arch) + ".zip")) as z:
            return z.read(release.ENTRY)

    def test_the_files_are_every_variant_and_architecture_named_with_the_version(self):
        expected = {"SHA256SUMS"}
        for sink, arch in variants(SINKS, ARCHS):
            expected |= {self.stem(sink, arch) + ".zip", self.stem(sink, arch) + ".cdx.json"}
        self.assertEqual(set(os.listdir(DIST)), expected)
        self.assertEqual(set(sums(DIST)), expected - {"SHA256SUMS"})

    def test_sha256sum_verifies_the_sums_and_catches_a_changed_byte(self):
        check = run(["sha256sum", "--strict", "-c", "SHA256SUMS"], cwd=DIST)
        self.assertEqual(check.stdout.count(": OK"), len(sums(DIST)), check.stdout)
        with tempfile.TemporaryDirectory() as tmp:
            for name in os.listdir(DIST):
                shutil.copyfile(os.path.join(DIST, name), os.path.join(tmp, name))
            victim = os.path.join(tmp, self.stem(SINKS[0], ARCHS[0]) + ".zip")
            with open(victim, "r+b") as f:
                f.seek(100)
                byte = f.read(1)
                f.seek(100)
                f.write(bytes([byte[0] ^ 1]))
            tampered = run(["sha256sum", "-c", "SHA256SUMS"], cwd=tmp, check=False)
            self.assertNotEqual(tampered.returncode, 0)
            self.assertIn("FAILED", tampered.stdout)

    def test_each_zip_is_the_layer_make_layer_built_and_within_its_budget(self):
        for sink, arch in variants(SINKS, ARCHS):
            path = os.path.join(DIST, self.stem(sink, arch) + ".zip")
            built = make("-s", "release-info", f"ARCH={arch}", f"SINK={sink}").stdout.split()[0]
            with open(path, "rb") as a, open(os.path.join(ROOT, built), "rb") as b:
                self.assertEqual(a.read(), b.read(), f"{path} against {built}")
            run([sys.executable, "scripts/layer.py", "check", path, arch] +
                ([str(DEFAULT_MAX_UNZIPPED)] if sink == "emf" else ["100000000"]))
            if sink == "emf":
                self.assertLessEqual(os.path.getsize(path), DEFAULT_MAX_ZIPPED, path)

    def test_each_binary_carries_its_dependency_list_for_a_scanner(self):
        for sink, arch in variants(SINKS, ARCHS):
            binary = self.binary(sink, arch)
            with tempfile.NamedTemporaryFile() as f:
                f.write(binary)
                f.flush()
                read = json.loads(run([os.path.join(ARGS.tools, "rust-audit-info"), f.name]).stdout)
            # rust-audit-info (cargo-auditable's reader) and the ELF reader here agree.
            self.assertEqual(read, release.audit_data(binary), (sink, arch))
            packages = {p["name"]: p for p in read["packages"]}
            self.assertEqual(packages["lambda-lens"]["version"], self.version)
            self.assertTrue(packages["lambda-lens"].get("root"), (sink, arch))
            for crate in ("tokio", "serde", "serde_json", "hyper", "tracing"):
                self.assertEqual(packages[crate]["source"], "crates.io", (sink, arch, crate))
            has_sdk = "aws-sdk-cloudwatch" in packages
            self.assertEqual(has_sdk, sink == "put-metric-data", (sink, arch))

    def test_each_sbom_is_cyclonedx_json_listing_what_the_binary_holds(self):
        for sink, arch in variants(SINKS, ARCHS):
            name = self.stem(sink, arch) + ".cdx.json"
            with open(os.path.join(DIST, name)) as f:
                text = f.read()
            doc = json.loads(text)
            self.assertEqual(doc["bomFormat"], "CycloneDX", name)
            self.assertEqual(doc["specVersion"], "1.5", name)
            component = doc["metadata"]["component"]
            self.assertEqual((component["name"], component["version"]),
                             ("lambda-lens", self.version), name)
            props = {p["name"]: p["value"] for p in doc["metadata"]["properties"]}
            self.assertEqual(props["cdx:rustc:sbom:target:triple"], TRIPLES[arch], name)
            self.assertEqual(props["lambda-lens:layer"], self.stem(sink, arch) + ".zip")
            self.assertEqual(props["lambda-lens:layer-sha256"],
                             sums(DIST)[self.stem(sink, arch) + ".zip"])
            self.assertEqual(props["lambda-lens:binary-sha256"],
                             hashlib.sha256(self.binary(sink, arch)).hexdigest())
            listed = {(c["name"], c["version"]) for c in doc["components"]}
            names = {n for n, _ in listed}
            self.assertTrue({"tokio", "serde", "serde_json", "hyper", "lambda-lens-telemetry"}
                            <= names, name)
            self.assertEqual({"aws-sdk-cloudwatch", "rustls", "ring"} <= names,
                             sink == "put-metric-data", name)
            # Every crate compiled into the binary (its own list, build scripts aside) is in
            # the SBOM at the same version.
            held = {(p["name"], p["version"]) for p in release.audit_data(self.binary(sink, arch))
                    ["packages"] if p.get("kind", "runtime") == "runtime" and not p.get("root")}
            self.assertEqual(held - listed, set(), name)
            self.assertNotIn(ROOT, text, f"{name} names the checkout's path")

    def test_version_of_every_binary_is_the_workspace_version(self):
        for sink, arch in variants(SINKS, ARCHS):
            with tempfile.TemporaryDirectory() as tmp:
                path = os.path.join(tmp, "lambda-lens")
                with open(path, "wb") as f:
                    f.write(self.binary(sink, arch))
                os.chmod(path, 0o755)
                command = ([path] if arch == "x86_64" else
                           ["qemu-aarch64", path] if os.uname().machine != "aarch64" else [path])
                out = run([*command, "--version"], env={"PATH": os.environ["PATH"]}).stdout
            self.assertEqual(
                out, f"lambda-lens {self.version} ({arch}; sinks: {sinks_built_in(sink)})\n")


class Test2CleanClones(unittest.TestCase):
    """make release from a clone of HEAD: a clean tree, as a release is made."""

    def test_a_tree_with_changes_or_a_version_without_a_changelog_entry_is_refused(self):
        path = os.path.join(WORK, "refusal")
        clone(path, head())
        with open(os.path.join(path, "stray.txt"), "w") as f:
            f.write("not committed\n")
        out = make("release", "DIST=dist", cwd=path, check=False)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn("changes git has not committed", out.stderr)
        self.assertIn("stray.txt", out.stderr)
        self.assertIn("RELEASE_ALLOW_DIRTY=1", out.stderr)
        self.assertFalse(os.path.exists(os.path.join(path, "dist")))
        os.remove(os.path.join(path, "stray.txt"))
        version = release.workspace_version(path)
        changelog = os.path.join(path, "CHANGELOG.md")
        with open(changelog) as f:
            text = f.read()
        with open(changelog, "w") as f:
            f.write(text.replace(f"## [{version}]", "## [0.0.0-not-this]"))
        env = dict(os.environ, RELEASE_ALLOW_DIRTY="1")
        out = make("release", "DIST=dist", cwd=path, env=env, check=False)
        self.assertNotEqual(out.returncode, 0, out.stdout)
        self.assertIn(f"CHANGELOG.md has no entry for {version}", out.stderr)
        shutil.rmtree(path)

    def test_two_releases_of_the_same_commit_are_the_same_bytes(self):
        if os.environ.get("RELEASE_REPRO_FRESH") == "1":
            shutil.rmtree(os.path.join(WORK, "cargo-target"), ignore_errors=True)
        commit = head()
        results = []
        for name in ("a", "b-at-another-path"):
            path = os.path.join(WORK, name)
            clone(path, commit)
            binary = os.path.join(WORK, "cargo-target", TRIPLES[REPRO_ARCHS[-1]], "layer",
                                  "lambda-lens")
            before = os.stat(binary).st_mtime_ns if os.path.exists(binary) else None
            make("release", "DIST=dist", f"RELEASE_SINKS={' '.join(REPRO_SINKS)}",
                 f"RELEASE_ARCHS={' '.join(REPRO_ARCHS)}", cwd=path)
            # Each clone compiled the extension itself (its sources are newer than any build).
            self.assertNotEqual(os.stat(binary).st_mtime_ns, before, f"{name} rebuilt nothing")
            results.append(sums(os.path.join(path, "dist")))
            # A clone holds manifests: tools that walk the tree for them (cargo machete) should
            # not find another workspace under target/. Its cargo folder stays for the next run.
            shutil.rmtree(path)
        self.assertEqual(len(results[0]), 2 * len(variants(REPRO_SINKS, REPRO_ARCHS)))
        self.assertEqual(results[0], results[1], "two clones of one commit built different files")
        # This tree's release is the same commit's only if it was clean and at that commit
        # (its SBOMs say which commit, marked when the tree had changes).
        sbom = os.path.join(DIST, f"lambda-lens-{release.workspace_version(ROOT)}-"
                            f"{REPRO_SINKS[0]}-{REPRO_ARCHS[0]}.cdx.json")
        built_from = None
        if os.path.exists(sbom):
            with open(sbom) as f:
                built_from = {p["name"]: p["value"] for p in
                              json.load(f)["metadata"]["properties"]}.get("lambda-lens:commit")
        if built_from != commit:
            print(f"this tree's release was built from {built_from}, not from {commit} alone: "
                  "the clones are compared with each other only", file=sys.stderr)
            return
        ours = sums(DIST)
        for name, digest in results[0].items():
            self.assertEqual(ours[name], digest, f"{name}: this tree's release and a clone's")


def main():
    global ARGS
    parser = argparse.ArgumentParser()
    parser.add_argument("--make", default="make")
    parser.add_argument("--tools", required=True)
    ARGS, rest = parser.parse_known_args()
    os.makedirs(WORK, exist_ok=True)
    unittest.main(argv=[sys.argv[0], "-v", *rest])


if __name__ == "__main__":
    main()
