#!/usr/bin/env python3
"""Publishes lambda-lens's layers in AWS regions and writes the manifest, dist/layers.json.

`make publish REGIONS="eu-west-1 us-east-1" [PRINCIPAL=* | PRINCIPAL=<account> | ORG=o-...]` runs
it in the virtualenv the Makefile makes (boto3 pinned in requirements-publish.txt). For each
region, each variant (the Makefile's SINK: emf, the default layer, and the networked
put-metric-data and otlp; emf and put-metric-data unless told) and each architecture, it
publishes the layer's zip as `lambda-lens-<arch>` (emf) or `lambda-lens-<variant>-<arch>`, unless a version of that layer already holds the same bytes;
then it grants `lambda:GetLayerVersion` to the principal or organisation given (nobody else by
default), and records the version's ARN in the manifest:

    {"<version>": {"<region>": {"x86_64": ARN, "arm64": ARN,
                                "put-metric-data-x86_64": ARN, "put-metric-data-arm64": ARN}}}

The keys under a region are the layer names less `lambda-lens-`. The manifest is merged, not
replaced: other versions and regions stay, and each entry is merged under an flock on
`<manifest>.lock`, so concurrent runs (one per region) keep each other's.

A tree with uncommitted changes is refused unless PUBLISH_ALLOW_DIRTY=1; each layer's Description
names the commit (`+uncommitted-changes` when allowed dirty). Grants on a version other than the
one asked for (a broader one from an earlier run) are warned of, with the command removing them.

Credentials, region endpoints and `AWS_ENDPOINT_URL` come from boto3's usual chain (the
`AWS_*` variables, `AWS_PROFILE`, the config files, an instance role). Each failure ends the run
with one line naming what failed and the fix (the IAM action refused, the region unknown, the zip
missing); what was published before it stays in the manifest, and running again resumes, since
a layer already holding the same bytes is not published twice.
"""
import argparse
import base64
import fcntl
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ARCHITECTURES = ("x86_64", "arm64")
# The layer variants, by the Makefile's SINK: emf (the default layer, EMF only) and the networked
# put-metric-data and otlp. A variant's name is its part of the zip's name in target/layers and
# dist/; the layer name leaves out emf's.
VARIANTS = ("emf", "put-metric-data", "otlp")
# What a run publishes unless told: emf and put-metric-data. `make release` packages otlp too
# (its RELEASE_SINKS); VARIANTS="emf put-metric-data otlp" publishes all it packages.
DEFAULT_VARIANTS = ("emf", "put-metric-data")
LICENSE = "Apache-2.0"
# The IAM actions publishing needs, each named in the error when it is refused.
ACTIONS = {
    "ListLayerVersions": "lambda:ListLayerVersions",
    "GetLayerVersion": "lambda:GetLayerVersion",
    "PublishLayerVersion": "lambda:PublishLayerVersion",
    "AddLayerVersionPermission": "lambda:AddLayerVersionPermission",
    "GetLayerVersionPolicy": "lambda:GetLayerVersionPolicy",
}
# (a) Lambda's AddLayerVersionPermission: a principal is an account id, an account's root ARN
# or `*`; an organisation id only with `*`.
PRINCIPAL = re.compile(r"^(\*|\d{12}|arn:aws[a-zA-Z-]*:iam::\d{12}:root)$")
ORGANIZATION = re.compile(r"^o-[a-z0-9]{10,32}$")


class PublishError(Exception):
    """A failure of the run, worded for the person who ran it."""


def workspace_version(root=ROOT):
    """The version of the crate `lambda-lens` (its own, or the workspace's it inherits)."""
    with open(os.path.join(root, "extension", "Cargo.toml"), "rb") as f:
        version = tomllib.load(f)["package"]["version"]
    if isinstance(version, dict):
        with open(os.path.join(root, "Cargo.toml"), "rb") as f:
            version = tomllib.load(f)["workspace"]["package"]["version"]
    return version


def tree_commit(tree, allow_dirty):
    """The commit the layers are published as: `git status --porcelain` (as scripts/release.py
    checks) must be empty, unless PUBLISH_ALLOW_DIRTY=1, which marks it +uncommitted-changes."""
    def git(*args):
        try:
            return subprocess.run(["git", "-C", tree, *args], capture_output=True, text=True,
                                  check=True).stdout
        except (OSError, subprocess.CalledProcessError) as e:
            raise PublishError(f"{tree}: git {' '.join(args)} failed ({getattr(e, 'stderr', '') or e}): "
                               "make publish names the commit it publishes") from None
    commit = git("rev-parse", "--short", "HEAD").strip()
    changes = git("status", "--porcelain", "--untracked-files=normal").splitlines()
    if not changes:
        return commit
    if allow_dirty:
        print(f"make publish: PUBLISH_ALLOW_DIRTY=1: publishing from a tree with {len(changes)} uncommitted "
              f"changes, described as {commit}+uncommitted-changes", file=sys.stderr)
        return f"{commit}+uncommitted-changes"
    shown = "; ".join(line.strip() for line in changes[:5]) + (f"; ... {len(changes) - 5} more" if len(changes) > 5 else "")
    raise PublishError(f"the tree has changes git has not committed ({shown}): the layers would be published "
                       f"as lambda-lens of commit {commit} without being it. Commit them (or remove them), "
                       "or set PUBLISH_ALLOW_DIRTY=1 to publish them marked +uncommitted-changes")


def layer_name(variant, arch):
    """The published layer's name; Lambda's layer names allow letters, digits, - and _ (a)."""
    return f"lambda-lens-{arch}" if variant == "emf" else f"lambda-lens-{variant}-{arch}"


def manifest_key(variant, arch):
    return layer_name(variant, arch)[len("lambda-lens-"):]


def release_zips(dist, version, variant, arch):
    """Where `make release` puts this variant's zip for `version` (scripts/release.py's name)."""
    return [os.path.join(dist, f"lambda-lens-{version}-{variant}-{arch}.zip")]


def built_zip(layers, variant, arch):
    """Where `make layer ARCH=arch SINK=variant` puts its zip."""
    suffix = "" if variant == "emf" else f"-{variant}"
    return os.path.join(layers, f"lambda-lens-layer-{arch}{suffix}.zip")


def find_zip(dist, layers, version, variant, arch):
    """The release's zip when `make release` made one for this version, else the built one."""
    for path in release_zips(dist, version, variant, arch):
        if os.path.isfile(path):
            return path
    path = built_zip(layers, variant, arch)
    if os.path.isfile(path):
        return path
    raise PublishError(
        f"no zip of the {variant} layer for {arch}: neither {release_zips(dist, version, variant, arch)[0]} "
        f"(make release) nor {path} (make layer ARCH={arch}"
        f"{'' if variant == 'emf' else ' SINK=' + variant}); make publish builds them when dist/ lacks them")


def zips_in_dist(dist, version, variants):
    """Whether dist/ holds every zip of `variants` for `version` (then nothing is built)."""
    return all(any(os.path.isfile(p) for p in release_zips(dist, version, v, a))
               for v in variants for a in ARCHITECTURES)


def code_sha256(data):
    """The digest as Lambda reports it in Content.CodeSha256: base64 of the SHA-256 (a)."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def known_regions(session):
    """Every region botocore's pinned endpoint data lists for Lambda, in every partition."""
    regions = set()
    for partition in session.get_available_partitions():
        regions.update(session.get_available_regions("lambda", partition_name=partition))
    return regions


def check_regions(regions, known, botocore_version):
    if not regions:
        raise PublishError('no region given: make publish REGIONS="eu-west-1 us-east-1"')
    for region in regions:
        if region not in known:
            near = sorted(r for r in known if r.split("-")[0] == region.split("-")[0]) or sorted(known)
            raise PublishError(
                f"unknown region {region!r}: Lambda has no such region in botocore {botocore_version}'s "
                f"endpoint data (regions like it: {', '.join(near[:12])}); a region opened after that "
                "release needs a newer pin in requirements-publish.txt")


def check_grant(principal, org):
    """The (principal, organisation) to grant, or None for a private layer."""
    if org and principal not in (None, "", "*"):
        raise PublishError(f"ORG={org} shares with an organisation's accounts: Lambda takes it with the "
                           f"principal * only, not PRINCIPAL={principal}")
    if org:
        if not ORGANIZATION.match(org):
            raise PublishError(f"ORG={org!r} is not an organisation id (o- and 10 to 32 lowercase letters or digits)")
        return ("*", org)
    if principal:
        if not PRINCIPAL.match(principal):
            raise PublishError(f"PRINCIPAL={principal!r} is not *, an account id (12 digits) or "
                               "arn:aws:iam::<account>:root")
        return (principal, None)
    return None


def statement_id(principal, org):
    """One statement id per grantee, so a second run finds its grant instead of adding another."""
    if org:
        return f"lambda-lens-org-{org}"
    if principal == "*":
        return "lambda-lens-public"
    return "lambda-lens-account-" + re.sub(r"\D", "", principal)


class Region:
    """One region's Lambda API, with each error turned into a PublishError that names the fix."""

    def __init__(self, session, region):
        import botocore.config
        self.region = region
        self.client = session.client("lambda", region_name=region,
                                     config=botocore.config.Config(retries={"mode": "standard"}))

    def call(self, operation, what, **params):
        import botocore.exceptions as bx
        try:
            return getattr(self.client, _snake(operation))(**params)
        except (bx.ClientError, bx.NoCredentialsError, bx.EndpointConnectionError, bx.ConnectTimeoutError,
                bx.ReadTimeoutError) as e:
            raise self.explain(operation, what, e) from None

    def explain(self, operation, what, e):
        """The PublishError that says what a botocore exception means and what fixes it."""
        import botocore.exceptions as bx
        if isinstance(e, bx.NoCredentialsError):
            return PublishError("no AWS credentials: set AWS_PROFILE, or AWS_ACCESS_KEY_ID and "
                                "AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN)")
        if not isinstance(e, bx.ClientError):
            return PublishError(f"{self.region}: {what}: no answer from the Lambda API ({e}); "
                                "check the network, or AWS_ENDPOINT_URL if it is set")
        code = e.response.get("Error", {}).get("Code", "")
        message = e.response.get("Error", {}).get("Message", "")
        if code in ("AccessDeniedException", "AccessDenied", "UnauthorizedOperation"):
            return PublishError(
                f"{self.region}: {what}: refused: the credentials lack {ACTIONS[operation]} "
                f"({message}). Publishing needs {', '.join(ACTIONS.values())} on "
                f"arn:aws:lambda:{self.region}:<account>:layer:lambda-lens-*")
        if code in ("UnrecognizedClientException", "InvalidClientTokenId"):
            return PublishError(
                f"{self.region}: {what}: the credentials are not valid in {self.region} ({message}): "
                "check the access key, or enable the region for the account if it is an opt-in region")
        return PublishError(f"{self.region}: {what}: {code}: {message}")

    def version_holding(self, name, sha):
        """The version of layer `name` whose code has this SHA-256, if one does (newest first)."""
        marker = None
        while True:
            params = {"LayerName": name, **({"Marker": marker} if marker else {})}
            try:
                page = self.call("ListLayerVersions", f"listing the versions of {name}", **params)
            except PublishError as e:
                # (d) a layer never published is listed as no versions (ministack does so); should
                # Lambda answer ResourceNotFoundException instead, that means the same.
                if "ResourceNotFoundException" in str(e):
                    return None
                raise
            for item in page.get("LayerVersions", []):
                got = self.call("GetLayerVersion", f"reading {item['LayerVersionArn']}",
                                LayerName=name, VersionNumber=item["Version"])
                if got.get("Content", {}).get("CodeSha256") == sha:
                    return got
            marker = page.get("NextMarker")
            if not marker:
                return None

    def publish(self, name, data, sha, description, arch):
        existing = self.version_holding(name, sha)
        if existing is not None:
            return existing, False
        published = self.call("PublishLayerVersion", f"publishing {name}", LayerName=name,
                              Description=description, Content={"ZipFile": data},
                              CompatibleArchitectures=[arch], LicenseInfo=LICENSE)
        stored = published.get("Content", {}).get("CodeSha256")
        if stored != sha:
            raise PublishError(f"{self.region}: {published['LayerVersionArn']} holds code {stored}, "
                               f"not the zip's {sha}: the upload was changed on the way")
        return published, True

    def grant(self, name, version, arn, principal, org):
        import botocore.exceptions as bx
        sid = statement_id(principal, org)
        params = {"LayerName": name, "VersionNumber": version, "StatementId": sid,
                  "Action": "lambda:GetLayerVersion", "Principal": principal}
        if org:
            params["OrganizationId"] = org
        try:
            self.client.add_layer_version_permission(**params)
            return True
        except bx.ClientError as e:
            # (a) AddLayerVersionPermission answers ResourceConflictException when the statement
            # already exists: this grantee's statement id was added by an earlier run.
            if e.response.get("Error", {}).get("Code") == "ResourceConflictException":
                return False
            raise self.explain("AddLayerVersionPermission", f"sharing {arn}", e) from None
        except (bx.NoCredentialsError, bx.EndpointConnectionError, bx.ConnectTimeoutError,
                bx.ReadTimeoutError) as e:
            raise self.explain("AddLayerVersionPermission", f"sharing {arn}", e) from None

    def other_grants(self, name, version, arn, asked):
        """Warnings, one line each, for the version's policy statements other than the one asked
        for (statement id `asked`, or None for a private layer): a run never removes a grant, so a
        broader one from an earlier run (PRINCIPAL='*' before ORG=) would stay unnoticed."""
        try:
            policy = self.call("GetLayerVersionPolicy", f"reading the policy of {arn}", LayerName=name,
                               VersionNumber=version)
        except PublishError as e:
            # (a) GetLayerVersionPolicy answers ResourceNotFoundException when the version has no policy.
            if "ResourceNotFoundException" in str(e):
                return []
            return [f"warning: {e}: its other grants are not checked"]
        try:
            statements = json.loads(policy.get("Policy") or "{}").get("Statement", [])
        except (ValueError, AttributeError):
            return [f"warning: {self.region}: the policy of {arn} is not JSON: its other grants are not checked"]
        if isinstance(statements, dict):
            statements = [statements]
        warnings = []
        for st in statements:
            sid = st.get("Sid", "")
            if sid == asked:
                continue
            condition = json.dumps(st["Condition"], sort_keys=True) if st.get("Condition") else ""
            warnings.append(
                f"warning: {self.region} {name}:{version}: statement {sid!r} also grants "
                f"{st.get('Action')} to {json.dumps(st.get('Principal'))}{' if ' + condition if condition else ''}, "
                f"not asked for by this run; remove it with: aws lambda remove-layer-version-permission "
                f"--region {self.region} --layer-name {name} --version-number {version} --statement-id {sid}")
        return warnings


def _shown(path):
    """A path as the reader typed it: relative inside the repository, else whole."""
    path = os.path.abspath(path)
    return os.path.relpath(path, ROOT) if path.startswith(ROOT + os.sep) else path


def _snake(operation):
    return re.sub(r"(?<!^)(?=[A-Z])", "_", operation).lower()


def load_manifest(path):
    if not os.path.exists(path):
        return {}
    try:
        with open(path, encoding="utf-8") as f:
            manifest = json.load(f)
    except (OSError, ValueError) as e:
        raise PublishError(f"{path}: not a manifest this script wrote ({e}); move it away to start anew") from None
    if not isinstance(manifest, dict):
        raise PublishError(f"{path}: not a manifest this script wrote (not an object)")
    return manifest


def write_manifest(path, manifest):
    """Written whole to a file beside it, then renamed, so a stopped run never leaves half a file."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump(manifest, f, indent=2, sort_keys=True)
            f.write("\n")
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def record(path, version, region, key, arn):
    """Merges one ARN into the manifest under an flock on `<manifest>.lock`: the file is re-read
    under the lock, so concurrent runs (one CI job per region) keep each other's entries."""
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            manifest = load_manifest(path)
            manifest.setdefault(version, {}).setdefault(region, {})[key] = arn
            write_manifest(path, manifest)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def run(args, session, out=sys.stdout):
    import botocore
    version = args.version or workspace_version()
    regions = args.regions.split()
    check_regions(regions, known_regions(session), botocore.__version__)
    grant = check_grant(args.principal, args.org)
    variants = args.variants.split()
    for variant in variants:
        if variant not in VARIANTS:
            raise PublishError(f"unknown variant {variant!r}: VARIANTS takes {', '.join(VARIANTS)}")
    archs = args.archs.split()
    for arch in archs:
        if arch not in ARCHITECTURES:
            raise PublishError(f"unknown architecture {arch!r}: Lambda's are {', '.join(ARCHITECTURES)}")
    zips = {}
    for variant in variants:
        for arch in archs:
            path = find_zip(args.dist, args.layers, version, variant, arch)
            with open(path, "rb") as f:
                data = f.read()
            zips[(variant, arch)] = (path, data, code_sha256(data))
    load_manifest(args.manifest)  # a file this script did not write is refused before publishing
    commit = tree_commit(args.tree, os.environ.get("PUBLISH_ALLOW_DIRTY") == "1")
    for region in regions:
        api = Region(session, region)
        for (variant, arch), (path, data, sha) in zips.items():
            name = layer_name(variant, arch)
            description = (f"lambda-lens {version} ({commit}): per-invocation metrics from the Lambda Telemetry API "
                           f"({variant} variant, {arch})")
            layer, new = api.publish(name, data, sha, description, arch)
            arn = layer["LayerVersionArn"]
            print(f"{region} {name}: {'published' if new else 'unchanged,'} version {layer['Version']}"
                  f"{'' if new else ' holds the same code'} ({_shown(path)}, {sha}): {arn}", file=out)
            record(args.manifest, version, region, manifest_key(variant, arch), arn)
            if grant is not None:
                principal, org = grant
                added = api.grant(name, layer["Version"], arn, principal, org)
                whom = f"the organisation {org}" if org else ("every account" if principal == "*" else principal)
                print(f"{region} {name}: lambda:GetLayerVersion {'granted to' if added else 'already granted to'} "
                      f"{whom}", file=out)
            asked = statement_id(*grant) if grant is not None else None
            for warning in api.other_grants(name, layer["Version"], arn, asked):
                print(warning, file=sys.stderr)
    print(f"{args.manifest}: version {version}, {len(regions)} region(s), {len(zips)} layer(s) each", file=out)


def parse(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--regions", default="", help='space-separated regions, "eu-west-1 us-east-1"')
    p.add_argument("--principal", default=None, help="* or an account id: who may use the layers")
    p.add_argument("--org", default=None, help="an organisation id, o-...: its accounts may use the layers")
    p.add_argument("--variants", default=" ".join(DEFAULT_VARIANTS),
                   help=f"space-separated, of {' '.join(VARIANTS)} (default: {' '.join(DEFAULT_VARIANTS)})")
    p.add_argument("--archs", default=" ".join(ARCHITECTURES), help="space-separated: x86_64 arm64")
    p.add_argument("--version", default=None, help="the version to publish (default: the workspace's)")
    p.add_argument("--dist", default=os.path.join(ROOT, "dist"), help="where make release put the zips")
    p.add_argument("--layers", default=os.path.join(ROOT, "target", "layers"), help="where make layer puts them")
    p.add_argument("--manifest", default=None, help="default: <dist>/layers.json")
    p.add_argument("--tree", default=ROOT, help="the git tree whose commit the layers are (default: this one)")
    p.add_argument("--zips-in-dist", action="store_true",
                   help="only say (exit status 0 or 1) whether dist/ holds this version's zips")
    args = p.parse_args(argv)
    if args.manifest is None:
        args.manifest = os.path.join(args.dist, "layers.json")
    return args


def main(argv=None):
    args = parse(sys.argv[1:] if argv is None else argv)
    try:
        if args.zips_in_dist:
            version = args.version or workspace_version()
            return 0 if zips_in_dist(args.dist, version, args.variants.split()) else 1
        import boto3
        run(args, boto3.session.Session())
    except PublishError as e:
        print(f"make publish: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
