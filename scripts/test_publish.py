#!/usr/bin/env python3
"""`make publish` against a local Lambda API: ministack (pinned in requirements-cloudwatch.txt,
its virtualenv `LAMBDA_LENS_CLOUDWATCH_VENV` or .venv-cloudwatch), which serves PublishLayerVersion,
ListLayerVersions, GetLayerVersion (with Content.CodeSha256), AddLayerVersionPermission and
GetLayerVersionPolicy per account and region, and checks IAM policies with AUTH=true.

Run by `make publish-test` (in `make test`) with the publishing virtualenv's Python. Each test
runs scripts/publish.py as `make publish` does (a process, the endpoint and credentials in the
environment) with its own account (ministack scopes its state by a 12-digit access key), and
checks what it did through the same API.
"""
import base64
import hashlib
import http.client
import http.server
import io
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.request
import zipfile

import boto3

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import publish  # noqa: E402

VENV = os.environ.get("LAMBDA_LENS_CLOUDWATCH_VENV", os.path.join(ROOT, ".venv-cloudwatch"))
VERSION = "9.8.7"
KEYS = ["x86_64", "arm64", "put-metric-data-x86_64", "put-metric-data-arm64"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Ministack:
    """ministack serving Lambda, IAM and STS on a free port, checking credentials and IAM."""

    def __init__(self):
        self.port = free_port()
        self.log = tempfile.NamedTemporaryFile(prefix="publish-ministack-", suffix=".log", delete=False)
        env = dict(os.environ, GATEWAY_PORT=str(self.port), BIND_HOST="127.0.0.1", SERVICES="lambda,iam,sts",
                   AUTH="true", LOG_LEVEL="WARNING")
        self.process = subprocess.Popen([os.path.join(VENV, "bin", "ministack")], env=env,
                                         stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"{self.url}/_ministack/health", timeout=2).read()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"ministack did not start: {open(self.log.name).read()}")
                time.sleep(0.2)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class RefusingProxy:
    """Forwards to the local API, but answers AddLayerVersionPermission (a POST to a layer
    version's policy) as Lambda answers a caller without that permission: 403, AccessDeniedException.
    ministack's IAM cannot refuse it alone (it checks every layer POST as PublishLayerVersion)."""

    def __init__(self, upstream_port):
        upstream = upstream_port

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def _forward(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                path = self.path.split("?", 1)[0]
                if self.command == "POST" and "/layers/" in path and path.rstrip("/").endswith("/policy"):
                    message = json.dumps({"Message": "User: arn:aws:iam::111111111111:user/publisher is not "
                                          "authorized to perform: lambda:AddLayerVersionPermission"}).encode()
                    self.send_response(403)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("x-amzn-ErrorType", "AccessDeniedException")
                    self.send_header("Content-Length", str(len(message)))
                    self.end_headers()
                    self.wfile.write(message)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", upstream, timeout=30)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "host"}
                conn.request(self.command, self.path, body=body, headers=headers)
                answer = conn.getresponse()
                data = answer.read()
                self.send_response(answer.status)
                for k, v in answer.getheaders():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                conn.close()

            do_GET = do_POST = do_PUT = do_DELETE = _forward

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def layer_zip(text):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        info = zipfile.ZipInfo("extensions/lambda-lens", date_time=(2026, 1, 1, 0, 0, 0))
        info.external_attr = 0o755 << 16
        z.writestr(info, text)
    return buf.getvalue()


def git_tree(path):
    """A committed git tree at `path`; returns its short commit."""
    os.makedirs(path, exist_ok=True)
    env = dict(os.environ, GIT_AUTHOR_NAME="t", GIT_AUTHOR_EMAIL="t@example.com", GIT_COMMITTER_NAME="t",
               GIT_COMMITTER_EMAIL="t@example.com")
    for args in (["init", "-q"], ["commit", "-q", "--allow-empty", "-m", "release"]):
        subprocess.run(["git", "-C", path, *args], check=True, env=env, capture_output=True)
    return subprocess.run(["git", "-C", path, "rev-parse", "--short", "HEAD"], check=True, capture_output=True,
                          text=True).stdout.strip()


def sha(data):
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class Publish(unittest.TestCase):
    api = None
    accounts = itertools.count(210000000001, 1111)  # one account per test

    @classmethod
    def setUpClass(cls):
        cls.api = Ministack()
        # The tree each run names: a clean commit of its own, whatever state this checkout is in.
        cls.tree = tempfile.mkdtemp(prefix="publish-tree-")
        cls.commit = git_tree(cls.tree)

    @classmethod
    def tearDownClass(cls):
        cls.api.stop()
        shutil.rmtree(cls.tree, ignore_errors=True)

    def setUp(self):
        self.account = str(next(self.accounts))
        self.dir = tempfile.mkdtemp(prefix="publish-test-")
        self.addCleanup(shutil.rmtree, self.dir)
        self.dist = os.path.join(self.dir, "dist")
        os.makedirs(self.dist)
        self.zips = {}
        for variant in publish.DEFAULT_VARIANTS:
            for arch in publish.ARCHITECTURES:
                self.write_zip(variant, arch, f"{variant} {arch} build 1")

    def write_zip(self, variant, arch, text):
        data = layer_zip(text)
        with open(os.path.join(self.dist, f"lambda-lens-{VERSION}-{variant}-{arch}.zip"), "wb") as f:
            f.write(data)
        self.zips[publish.manifest_key(variant, arch)] = data

    def client(self, region, key=None, secret="test"):
        return boto3.client("lambda", region_name=region, endpoint_url=self.api.url,
                            aws_access_key_id=key or self.account, aws_secret_access_key=secret)

    def env(self, endpoint=None, key=None, secret="test", **extra):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "PUBLISH_"))}
        env.update(AWS_ENDPOINT_URL=endpoint or self.api.url, AWS_ACCESS_KEY_ID=key or self.account,
                   AWS_SECRET_ACCESS_KEY=secret, AWS_CONFIG_FILE=os.devnull,
                   AWS_SHARED_CREDENTIALS_FILE=os.devnull, AWS_MAX_ATTEMPTS="1", **extra)
        return env

    def publish(self, *args, endpoint=None, key=None, secret="test", tree=None, env=None, wait=True):
        command = [sys.executable, os.path.join(HERE, "publish.py"), "--version", VERSION, "--dist", self.dist,
                   "--tree", tree or self.tree, *args]
        env = self.env(endpoint, key, secret, **(env or {}))
        if not wait:
            return subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        return subprocess.run(command, env=env, capture_output=True, text=True, timeout=120)

    def manifest(self):
        with open(os.path.join(self.dist, "layers.json")) as f:
            return json.load(f)

    def test_every_layer_is_published_in_two_regions_and_the_manifest_names_each_version(self):
        run = self.publish("--regions", "eu-west-1 us-east-1")
        self.assertEqual(run.returncode, 0, run.stderr)
        manifest = self.manifest()
        self.assertEqual(list(manifest), [VERSION])
        self.assertEqual(sorted(manifest[VERSION]), ["eu-west-1", "us-east-1"])
        for region, layers in manifest[VERSION].items():
            self.assertEqual(sorted(layers), sorted(KEYS))
            lam = self.client(region)
            for key, arn in layers.items():
                arch = key.rsplit("-", 1)[-1] if key.endswith("arm64") else "x86_64"
                self.assertEqual(arn, f"arn:aws:lambda:{region}:{self.account}:layer:lambda-lens-{key}:1")
                got = lam.get_layer_version_by_arn(Arn=arn)
                self.assertEqual(got["Content"]["CodeSha256"], sha(self.zips[key]), key)
                self.assertEqual(got["CompatibleArchitectures"], [arch])
                self.assertEqual(got.get("CompatibleRuntimes", []), [])
                self.assertEqual(got["LicenseInfo"], "Apache-2.0")
                self.assertIn(f"lambda-lens {VERSION} ({self.commit}):", got["Description"])
                # Private by default: no policy on the version.
                with self.assertRaises(lam.exceptions.ResourceNotFoundException):
                    lam.get_layer_version_policy(LayerName=f"lambda-lens-{key}", VersionNumber=1)
        self.assertEqual(run.stdout.count(" published version 1 "), 8, run.stdout)

    def test_a_second_run_publishes_nothing_and_a_changed_zip_a_new_version(self):
        first = self.publish("--regions", "eu-west-1 us-east-1")
        self.assertEqual(first.returncode, 0, first.stderr)
        before = self.manifest()
        again = self.publish("--regions", "eu-west-1 us-east-1")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertEqual(self.manifest(), before)
        self.assertEqual(again.stdout.count("unchanged, version 1 holds the same code"), 8, again.stdout)
        self.assertNotIn(" published ", again.stdout)
        for region in ("eu-west-1", "us-east-1"):
            for key in KEYS:
                versions = self.client(region).list_layer_versions(LayerName=f"lambda-lens-{key}")["LayerVersions"]
                self.assertEqual([v["Version"] for v in versions], [1], (region, key))
        # New bytes for one layer: that one gets version 2, in each region; the others stay.
        self.write_zip("emf", "arm64", "emf arm64 build 2")
        changed = self.publish("--regions", "eu-west-1 us-east-1")
        self.assertEqual(changed.returncode, 0, changed.stderr)
        for region in ("eu-west-1", "us-east-1"):
            layers = self.manifest()[VERSION][region]
            self.assertTrue(layers["arm64"].endswith(":layer:lambda-lens-arm64:2"), layers)
            self.assertEqual({k: v for k, v in layers.items() if k != "arm64"},
                             {k: v for k, v in before[VERSION][region].items() if k != "arm64"})
            got = self.client(region).get_layer_version_by_arn(Arn=layers["arm64"])
            self.assertEqual(got["Content"]["CodeSha256"], sha(self.zips["arm64"]))

    def policy(self, region, key, version=1):
        text = self.client(region).get_layer_version_policy(LayerName=f"lambda-lens-{key}",
                                                            VersionNumber=version)["Policy"]
        return json.loads(text)["Statement"]

    def readable_by(self, account, arn):
        """Whether `account` may read the layer version (ministack evaluates the version's policy
        for another account's GetLayerVersion, as Lambda does)."""
        region = arn.split(":")[3]
        try:
            self.client(region, key=account).get_layer_version_by_arn(Arn=arn)
            return True
        except self.client(region).exceptions.ClientError as e:
            self.assertEqual(e.response["Error"]["Code"], "AccessDeniedException")
            return False

    def test_principal_and_org_grant_what_they_say_once(self):
        private = self.publish("--regions", "eu-west-1")
        self.assertEqual(private.returncode, 0, private.stderr)
        arn = self.manifest()[VERSION]["eu-west-1"]["x86_64"]
        self.assertTrue(self.readable_by(self.account, arn))
        self.assertFalse(self.readable_by("999000000001", arn))
        run = self.publish("--regions", "eu-west-1", "--principal", "*")
        self.assertEqual(run.returncode, 0, run.stderr)
        self.assertTrue(self.readable_by("999000000001", arn))
        for key in KEYS:
            [statement] = self.policy("eu-west-1", key)
            self.assertEqual((statement["Principal"], statement["Action"], statement["Effect"]),
                             ("*", "lambda:GetLayerVersion", "Allow"))
            self.assertNotIn("Condition", statement)
        # Again: the same grant is found, not added twice.
        again = self.publish("--regions", "eu-west-1", "--principal", "*")
        self.assertEqual(again.returncode, 0, again.stderr)
        self.assertIn("already granted to every account", again.stdout)
        self.assertEqual(len(self.policy("eu-west-1", "x86_64")), 1)

        org = self.publish("--regions", "us-east-1", "--org", "o-abcdef1234")
        self.assertEqual(org.returncode, 0, org.stderr)
        for key in KEYS:
            [statement] = self.policy("us-east-1", key)
            self.assertEqual(statement["Principal"], "*")
            self.assertEqual(statement["Condition"], {"StringEquals": {"aws:PrincipalOrgID": "o-abcdef1234"}})

        account = self.publish("--regions", "eu-west-2", "--principal", "123456789012", "--variants", "emf")
        self.assertEqual(account.returncode, 0, account.stderr)
        [statement] = self.policy("eu-west-2", "arm64")
        self.assertEqual(statement["Principal"], {"AWS": "arn:aws:iam::123456789012:root"})
        shared = self.manifest()[VERSION]["eu-west-2"]["arm64"]
        self.assertTrue(self.readable_by("123456789012", shared))
        self.assertFalse(self.readable_by("999000000001", shared))

    def test_a_broader_grant_left_by_an_earlier_run_is_warned_of(self):
        public = self.publish("--regions", "eu-west-1", "--principal", "*", "--variants", "emf", "--archs", "x86_64")
        self.assertEqual(public.returncode, 0, public.stderr)
        self.assertNotIn("warning", public.stderr)
        org = self.publish("--regions", "eu-west-1", "--org", "o-abcdef1234", "--variants", "emf", "--archs", "x86_64")
        self.assertEqual(org.returncode, 0, org.stderr)
        [warning] = [line for line in org.stderr.splitlines() if line.startswith("warning:")]
        self.assertIn("eu-west-1 lambda-lens-x86_64:1: statement 'lambda-lens-public' also grants "
                      "lambda:GetLayerVersion to \"*\"", warning)
        self.assertIn("aws lambda remove-layer-version-permission --region eu-west-1 --layer-name "
                      "lambda-lens-x86_64 --version-number 1 --statement-id lambda-lens-public", warning)
        self.assertNotIn("lambda-lens-org-", warning)
        # A private run (no grant asked) warns of both.
        private = self.publish("--regions", "eu-west-1", "--variants", "emf", "--archs", "x86_64")
        self.assertEqual(private.returncode, 0, private.stderr)
        self.assertEqual(sum(line.startswith("warning:") for line in private.stderr.splitlines()), 2, private.stderr)

    def test_a_dirty_tree_is_refused_unless_allowed_and_then_marked(self):
        tree = os.path.join(self.dir, "tree")
        commit = git_tree(tree)
        with open(os.path.join(tree, "uncommitted.rs"), "w") as f:
            f.write("fn main() {}\n")
        run = self.publish("--regions", "eu-west-1", tree=tree)
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("the tree has changes git has not committed (?? uncommitted.rs)", run.stderr)
        self.assertIn("PUBLISH_ALLOW_DIRTY=1", run.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dist, "layers.json")))
        self.assertEqual(self.client("eu-west-1").list_layers()["Layers"], [])
        allowed = self.publish("--regions", "eu-west-1", "--variants", "emf", "--archs", "x86_64", tree=tree,
                               env={"PUBLISH_ALLOW_DIRTY": "1"})
        self.assertEqual(allowed.returncode, 0, allowed.stderr)
        arn = self.manifest()[VERSION]["eu-west-1"]["x86_64"]
        got = self.client("eu-west-1").get_layer_version_by_arn(Arn=arn)
        self.assertTrue(got["Description"].startswith(f"lambda-lens {VERSION} ({commit}+uncommitted-changes): "),
                        got["Description"])

    def test_concurrent_runs_for_different_regions_keep_each_others_entries(self):
        regions = ["eu-west-1", "us-east-1", "eu-west-2", "ap-southeast-2"]
        runs = [self.publish("--regions", region, wait=False) for region in regions]
        for run in runs:
            _, err = run.communicate(timeout=180)
            self.assertEqual(run.returncode, 0, err)
        manifest = self.manifest()
        self.assertEqual(sorted(manifest[VERSION]), sorted(regions))
        for region in regions:
            self.assertEqual(sorted(manifest[VERSION][region]), sorted(KEYS), region)
        self.assertEqual([f for f in os.listdir(self.dist) if f.endswith(".tmp")], [])

    def test_make_publish_passes_its_variables(self):
        # The recipe itself, with the workspace's version (the recipe's default), the zips in a
        # temporary PUBLISH_DIST, and this checkout's tree allowed dirty (other work may be under way).
        version = publish.workspace_version()
        for arch in publish.ARCHITECTURES:
            with open(os.path.join(self.dist, f"lambda-lens-{version}-emf-{arch}.zip"), "wb") as f:
                f.write(layer_zip(f"make publish emf {arch}"))
        head = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              check=True).stdout.strip()
        run = subprocess.run(["make", "-C", ROOT, "--no-print-directory", "publish", "REGIONS=eu-west-1 us-east-1",
                              "PRINCIPAL=*", "VARIANTS=emf", f"PUBLISH_DIST={self.dist}"],
                             env=self.env(PUBLISH_ALLOW_DIRTY="1"), capture_output=True, text=True, timeout=300)
        self.assertEqual(run.returncode, 0, run.stdout + run.stderr)
        self.assertNotIn("cargo", run.stdout + run.stderr)  # dist/ held the zips: nothing built
        layers = self.manifest()[version]
        self.assertEqual(sorted(layers), ["eu-west-1", "us-east-1"])
        for region in layers:
            self.assertEqual(sorted(layers[region]), ["arm64", "x86_64"])
            [statement] = self.policy(region, "arm64")
            self.assertEqual(statement["Principal"], "*")
            got = self.client(region).get_layer_version_by_arn(Arn=layers[region]["arm64"])
            self.assertRegex(got["Description"], rf"^lambda-lens {version} \({head}(\+uncommitted-changes)?\): ")

    def test_an_org_with_an_account_principal_is_refused(self):
        run = self.publish("--regions", "eu-west-1", "--principal", "123456789012", "--org", "o-abcdef1234")
        self.assertEqual(run.returncode, 1)
        self.assertIn("with the principal * only", run.stderr)
        bad = self.publish("--regions", "eu-west-1", "--org", "my-org")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("ORG='my-org' is not an organisation id", bad.stderr)

    def test_the_otlp_variant_when_asked_and_an_unknown_variant_refused(self):
        for arch in publish.ARCHITECTURES:
            self.write_zip("otlp", arch, f"otlp {arch} build 1")
        run = self.publish("--regions", "eu-west-1", "--variants", "otlp")
        self.assertEqual(run.returncode, 0, run.stderr)
        layers = self.manifest()[VERSION]["eu-west-1"]
        self.assertEqual(sorted(layers), ["otlp-arm64", "otlp-x86_64"])
        self.assertTrue(layers["otlp-arm64"].endswith(":layer:lambda-lens-otlp-arm64:1"))
        got = self.client("eu-west-1").get_layer_version_by_arn(Arn=layers["otlp-x86_64"])
        self.assertEqual(got["Content"]["CodeSha256"], sha(self.zips["otlp-x86_64"]))
        bad = self.publish("--regions", "eu-west-1", "--variants", "default")
        self.assertEqual(bad.returncode, 1)
        self.assertIn("unknown variant 'default': VARIANTS takes emf, put-metric-data, otlp", bad.stderr)

    def test_an_unknown_region_is_refused_before_anything_is_published(self):
        run = self.publish("--regions", "eu-west-1 eu-nowhere-1")
        self.assertEqual(run.returncode, 1)
        self.assertIn("unknown region 'eu-nowhere-1'", run.stderr)
        self.assertIn("eu-west-1", run.stderr)  # the regions like it
        self.assertFalse(os.path.exists(os.path.join(self.dist, "layers.json")))
        self.assertEqual(self.client("eu-west-1").list_layers()["Layers"], [])

    def test_a_refused_add_layer_version_permission_is_named(self):
        proxy = RefusingProxy(self.api.port)
        self.addCleanup(proxy.stop)
        run = self.publish("--regions", "eu-west-1", "--principal", "*", endpoint=proxy.url)
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("eu-west-1: sharing arn:aws:lambda:eu-west-1:", run.stderr)
        self.assertIn("refused: the credentials lack lambda:AddLayerVersionPermission", run.stderr)
        for action in publish.ACTIONS.values():
            self.assertIn(action, run.stderr)
        # What was published stays in the manifest; a run without the refusal resumes.
        self.assertEqual(list(self.manifest()[VERSION]["eu-west-1"]), ["x86_64"])
        resumed = self.publish("--regions", "eu-west-1", "--principal", "*")
        self.assertEqual(resumed.returncode, 0, resumed.stderr)
        self.assertIn("lambda-lens-x86_64: unchanged, version 1", resumed.stdout)

    def iam_user(self, actions):
        """Keys of a user of this test's account allowed `actions` (ministack checks them)."""
        iam = boto3.client("iam", region_name="us-east-1", endpoint_url=self.api.url,
                           aws_access_key_id=self.account, aws_secret_access_key="test")
        name = f"publisher-{len(actions)}"
        iam.create_user(UserName=name)
        if actions:
            iam.put_user_policy(UserName=name, PolicyName="publish", PolicyDocument=json.dumps({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}]}))
        key = iam.create_access_key(UserName=name)["AccessKey"]
        return key["AccessKeyId"], key["SecretAccessKey"]

    def test_a_refused_publish_or_list_is_named_from_the_apis_own_iam(self):
        # No permission at all: the first call, ListLayerVersions, is refused.
        key, secret = self.iam_user([])
        run = self.publish("--regions", "eu-west-1", key=key, secret=secret)
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("eu-west-1: listing the versions of lambda-lens-x86_64: refused: the credentials lack "
                      "lambda:ListLayerVersions", run.stderr)
        # Reading allowed, publishing not.
        key, secret = self.iam_user(["lambda:ListLayerVersions", "lambda:GetLayerVersion", "lambda:ListLayers"])
        run = self.publish("--regions", "eu-west-1", key=key, secret=secret)
        self.assertEqual(run.returncode, 1, run.stdout)
        self.assertIn("eu-west-1: publishing lambda-lens-x86_64: refused: the credentials lack "
                      "lambda:PublishLayerVersion", run.stderr)
        self.assertIn("not authorized to perform: lambda:PublishLayerVersion", run.stderr)

    def test_unknown_credentials_are_named(self):
        run = self.publish("--regions", "eu-west-1", key="AKIANOSUCHKEY", secret="nope")
        self.assertEqual(run.returncode, 1)
        self.assertIn("the credentials are not valid in eu-west-1", run.stderr)


class Zips(unittest.TestCase):
    """Which zips a run takes: the release's for this version, else the ones make layer built."""

    def test_the_release_zip_then_the_built_one(self):
        d = tempfile.mkdtemp()
        self.addCleanup(shutil.rmtree, d)
        dist, layers = os.path.join(d, "dist"), os.path.join(d, "layers")
        os.makedirs(dist)
        os.makedirs(layers)
        with self.assertRaises(publish.PublishError) as e:
            publish.find_zip(dist, layers, "1.2.3", "put-metric-data", "arm64")
        self.assertIn("make release", str(e.exception))
        self.assertIn("make layer ARCH=arm64 SINK=put-metric-data", str(e.exception))
        built = os.path.join(layers, "lambda-lens-layer-arm64-put-metric-data.zip")
        open(built, "wb").close()
        self.assertEqual(publish.find_zip(dist, layers, "1.2.3", "put-metric-data", "arm64"), built)
        released = os.path.join(dist, "lambda-lens-1.2.3-put-metric-data-arm64.zip")
        open(released, "wb").close()
        self.assertEqual(publish.find_zip(dist, layers, "1.2.3", "put-metric-data", "arm64"), released)
        self.assertFalse(publish.zips_in_dist(dist, "1.2.3", ["put-metric-data"]))
        open(os.path.join(dist, "lambda-lens-1.2.3-put-metric-data-x86_64.zip"), "wb").close()
        self.assertTrue(publish.zips_in_dist(dist, "1.2.3", ["put-metric-data"]))
        self.assertFalse(publish.zips_in_dist(dist, "1.2.4", ["put-metric-data"]))

    def test_layer_names_and_the_digest_lambda_reports(self):
        self.assertEqual(publish.layer_name("emf", "x86_64"), "lambda-lens-x86_64")
        self.assertEqual(publish.layer_name("otlp", "x86_64"), "lambda-lens-otlp-x86_64")
        self.assertEqual(publish.layer_name("put-metric-data", "arm64"), "lambda-lens-put-metric-data-arm64")
        # Lambda's CodeSha256 is base64 of the digest, not hex.
        self.assertEqual(publish.code_sha256(b""), "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=")

    def test_the_version_is_the_workspaces(self):
        self.assertRegex(publish.workspace_version(), r"^\d+\.\d+\.\d+")


if __name__ == "__main__":
    unittest.main()
