#!/usr/bin/env python3
"""Checks template.yaml offline, as `make template-check` runs it (in `make test`):

1. `sam validate --lint` and `cfn-lint` pass on it;
2. each deliberately broken copy (a bad reference, an unknown runtime, a wrong architecture
   name, a dashboard widget naming a metric lambda-lens does not emit) is rejected, so a linter
   or a check that went silent is noticed (cfn-lint does not check a SAM function's runtime: this
   script checks runtimes against cfn-lint's own runtime list);
3. every metric the dashboards and the alarms name exists: lambda-lens's in its catalogue (the
   metric table of docs/metrics.md, which a test keeps equal to the code's catalogue), the others in the
   list of metrics AWS/Lambda publishes;
4. the fleet dashboard (the dashboard of SEARCH expressions) is deployed only with
   FleetDashboard=true, off by default; every SEARCH expression has the one shape the fleet dashboard uses,
   `SORT(SEARCH('{Namespace,FunctionName} MetricName="M"', 'Stat'), FUNCTION, ORDER, N)`, with
   a statistic, a SORT function and order CloudWatch knows, the SORT function of the statistic's
   sense (SUM of sums, MAX of maxima and percentiles, MIN, AVG) and DESC (the worst first), N
   within a search's 500 series, the
   FunctionName schema lambda-lens publishes by default, and, in lambda-lens's namespace, a
   metric the catalogue publishes as a metric by default (the fleet's functions run with their
   own LAMBDA_LENS_METRICS, so a metric that is a log property by default would draw nothing);
5. for every Sink value (and OtlpEndpoint empty or set), the conditions evaluated as
   CloudFormation would: cloudwatch:PutMetricData is granted scoped to the Namespace exactly when
   the sinks have put-metric-data, unscoped exactly when they have otlp and the endpoint is
   CloudWatch's (OTLP requests carry no namespace: a cloudwatch:namespace condition denies
   them), and never otherwise; the function's layer is the OTLP variant exactly when the sinks
   have otlp, deployed under that value, and built by a Makefile target that builds that variant.
5. monitor.yaml passes scripts/check_monitor.py's checks (the linters, its metric names, and
   template.yaml's thresholds, alarms and dashboard for each function it is given).

Run with the project's virtualenv (PyYAML, sam and cfn-lint from requirements-sam.txt).
"""
import json
import os
import re
import subprocess
import sys
import tempfile

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)
ENV = dict(os.environ, AWS_DEFAULT_REGION="us-east-1", SAM_CLI_TELEMETRY="0")

# What AWS/Lambda publishes per function (the CloudWatch documentation's list).
AWS_LAMBDA = {
    "Invocations", "Errors", "Throttles", "Duration", "ConcurrentExecutions",
    "UnreservedConcurrentExecutions", "ProvisionedConcurrencyUtilization",
    "ProvisionedConcurrentExecutions", "ProvisionedConcurrencyInvocations",
    "ProvisionedConcurrencySpilloverInvocations", "IteratorAge", "DeadLetterErrors",
    "DestinationDeliveryFailures", "AsyncEventAge", "AsyncEventsReceived", "AsyncEventsDropped",
    "PostRuntimeExtensionsDuration", "RecursiveInvocationsDropped", "ClaimedAccountConcurrency",
    "OffsetLag",
}


class Loader(yaml.SafeLoader):
    """Reads CloudFormation's short tags (!Ref, !Sub, ...) as plain values."""


def _tag(loader, suffix, node):
    if isinstance(node, yaml.ScalarNode):
        return {suffix: loader.construct_scalar(node)}
    if isinstance(node, yaml.SequenceNode):
        return {suffix: loader.construct_sequence(node, deep=True)}
    return {suffix: loader.construct_mapping(node, deep=True)}


Loader.add_multi_constructor("!", _tag)


def _metric_table():
    text = open(os.path.join(ROOT, "docs", "metrics.md"), encoding="utf-8").read()
    return text.split("<!-- metric-table:begin", 1)[1].split("<!-- metric-table:end -->", 1)[0]


def catalogue():
    return set(re.findall(r"^\| `([A-Za-z]+)` \|", _metric_table(), re.M))


def published_by_default():
    """The catalogue's metrics whose "by default" column is `metric` (the others are log
    properties until LAMBDA_LENS_METRICS selects them)."""
    return set(re.findall(r"^\| `([A-Za-z]+)` \| [^|]+ \| [^|]+ \| metric \|", _metric_table(), re.M))


# The fleet dashboard's one expression shape: a SEARCH of one metric over the FunctionName
# schema, its series sorted by a metric math SORT function and cut to the first N.
SEARCH_SHAPE = re.compile(
    r"""^SORT\(SEARCH\('\{"?(?P<ns>[^",}]+)"?(?P<dims>(?:,[A-Za-z]+)*)\} MetricName="(?P<metric>[A-Za-z]+)"', """
    r"""'(?P<stat>[A-Za-z0-9.]+)'\), (?P<function>[A-Z]+), (?P<order>[A-Z]+), (?P<limit>[0-9]+)\)$""")
# Metric math's SORT functions and orders, and the statistics a SEARCH takes (CloudWatch's
# documentation: the percentiles pNN and pNN.N besides these).
SORT_FUNCTIONS = {"AVG", "MIN", "MAX", "SUM"}
SORT_ORDERS = {"ASC", "DESC"}
# The SORT function that ranks a SEARCH's series in the sense of its statistic: sums by their
# total, maxima by their peak, minima by their low, averages by their mean, percentiles by their
# highest; and the fleet's widgets keep the worst, the highest first (DESC).
SORT_FOR_STATISTIC = {"Sum": "SUM", "SampleCount": "SUM", "Maximum": "MAX", "Minimum": "MIN", "Average": "AVG"}
STATISTICS = {"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
# A search expression returns at most 500 series, and its query may be at most 1024 characters.
SEARCH_MAX_SERIES = 500
SEARCH_MAX_CHARS = 1024


def dashboard_bodies(template):
    """(resource name, parsed body) of each dashboard; the namespace parameter read as "LENS"."""
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Dashboard":
            body = resource["Properties"]["DashboardBody"]["Sub"]
            body = body.replace("${Namespace}", "LENS")
            body = re.sub(r"\$\{[^}]+\}", "X", body)
            yield name, json.loads(body)


def searches(template):
    """(resource, expression, match or None) of each expression with a SEARCH."""
    for name, body in dashboard_bodies(template):
        for widget in body["widgets"]:
            for metric in widget.get("properties", {}).get("metrics", []):
                for item in metric:
                    if isinstance(item, dict) and "SEARCH" in item.get("expression", ""):
                        yield name, item["expression"], SEARCH_SHAPE.match(item["expression"])


def search_problems(template):
    problems = []
    fleet = {name for name, _, _ in searches(template)}
    for name in sorted(fleet):
        # The fleet dashboard is optional: deployed only with FleetDashboard=true (its default
        # false), since it covers functions beyond the template's.
        if template["Resources"][name].get("Condition") != "HasFleetDashboard":
            problems.append(f"{name}: a dashboard of SEARCH expressions without the HasFleetDashboard condition")
    parameter = template["Parameters"].get("FleetDashboard", {})
    if fleet and parameter.get("Default") != "false":
        problems.append("FleetDashboard: the fleet dashboard is not off by default")
    if fleet and template.get("Conditions", {}).get("HasFleetDashboard") != {
            "Equals": [{"Ref": "FleetDashboard"}, "true"]}:
        problems.append("HasFleetDashboard: not FleetDashboard = 'true'")
    by_default = published_by_default()
    for where, expression, m in searches(template):
        if m is None:
            problems.append(f"{where}: {expression!r} is not SORT(SEARCH('{{Namespace,FunctionName}} "
                            f"MetricName=\"M\"', 'Stat'), FUNCTION, ORDER, N)")
            continue
        stat = m["stat"]
        if stat not in STATISTICS and not re.fullmatch(r"p(100|[0-9]{1,2})(\.[0-9]+)?", stat):
            problems.append(f"{where}: {stat} is not a CloudWatch statistic")
        if m["function"] not in SORT_FUNCTIONS:
            problems.append(f"{where}: SORT has no function {m['function']} ({', '.join(sorted(SORT_FUNCTIONS))})")
        if m["order"] not in SORT_ORDERS:
            problems.append(f"{where}: SORT has no order {m['order']} (ASC, DESC)")
        sense = SORT_FOR_STATISTIC.get(stat, "MAX" if stat.startswith("p") else None)
        if sense and m["function"] in SORT_FUNCTIONS and m["function"] != sense:
            problems.append(f"{where}: SORT by {m['function']} of a SEARCH of the {stat} statistic: "
                            f"it ranks by {sense}")
        if m["order"] == "ASC":
            problems.append(f"{where}: SORT ASC keeps the {m['limit']} lowest series, not the worst")
        if not 1 <= int(m["limit"]) <= SEARCH_MAX_SERIES:
            problems.append(f"{where}: SORT keeps {m['limit']} series; a search returns 1 to {SEARCH_MAX_SERIES}")
        if m["dims"] != ",FunctionName":
            problems.append(f"{where}: the search's schema{m['dims']} is not FunctionName alone, "
                            "the dimension set lambda-lens publishes by default")
        search = expression[len("SORT("):expression.index("),") + 1]
        if len(search) > SEARCH_MAX_CHARS:
            problems.append(f"{where}: the search is longer than {SEARCH_MAX_CHARS} characters")
        if m["ns"] == "LENS" and m["metric"] in catalogue() and m["metric"] not in by_default:
            problems.append(f"{where}: lambda-lens publishes {m['metric']} as a log property by default, "
                            "not a metric: the fleet's functions would draw nothing")
    return problems


def named_metrics(template):
    """(namespace, metric) pairs the dashboard and the alarms name; the lambda-lens namespace
    parameter is read as "LENS"."""
    resources = template["Resources"]
    found = []
    for name, body in dashboard_bodies(template):
        for widget in body["widgets"]:
            for metric in widget.get("properties", {}).get("metrics", []):
                if metric and isinstance(metric[0], str):
                    found.append((name, metric[0], metric[1]))
    for name, _, m in searches(template):
        if m is not None:
            found.append((name, m["ns"], m["metric"]))
    for name, resource in resources.items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            metrics = [props] + [m["MetricStat"]["Metric"] for m in props.get("Metrics", []) if "MetricStat" in m]
            for m in metrics:
                if "MetricName" in m:
                    ns = m["Namespace"]
                    found.append((name, "LENS" if ns == {"Ref": "Namespace"} else ns, m["MetricName"]))
    return found


def unknown_metrics(template_text):
    names = catalogue()
    template = yaml.load(template_text, Loader=Loader)
    problems = search_problems(template)
    for where, ns, metric in named_metrics(template):
        if ns == "LENS" and metric not in names:
            problems.append(f"{where}: lambda-lens does not emit {metric}")
        elif ns == "AWS/Lambda" and metric not in AWS_LAMBDA:
            problems.append(f"{where}: AWS/Lambda has no {metric}")
        elif ns not in ("LENS", "AWS/Lambda"):
            problems.append(f"{where}: unexpected namespace {ns}")
    return problems


def lambda_runtimes():
    """The runtimes cfn-lint knows (its own data file of Lambda's runtime lifecycle)."""
    import importlib.resources
    data = importlib.resources.files("cfnlint").joinpath("data/AdditionalSpecs/LmbdRuntimeLifecycle.json")
    return set(json.loads(data.read_text()))


def runtime_problems(template_text):
    """cfn-lint does not check a SAM function's runtime or a layer's compatible runtimes
    (checked: an unknown runtime passes it), so this does, against cfn-lint's own runtime list;
    and the architectures against Lambda's two."""
    template = yaml.load(template_text, Loader=Loader)
    known = lambda_runtimes()
    problems = []
    for name, resource in template["Resources"].items():
        props = resource.get("Properties", {})
        if resource["Type"] == "AWS::Serverless::Function" and props.get("Runtime") not in known:
            problems.append(f"{name}: unknown runtime {props.get('Runtime')}")
        if resource["Type"] == "AWS::Serverless::LayerVersion":
            for runtime in props.get("CompatibleRuntimes", []):
                if runtime not in known:
                    problems.append(f"{name}: unknown compatible runtime {runtime}")
    arch = template["Parameters"]["Architecture"]
    for value in arch["AllowedValues"] + [arch["Default"]]:
        if value not in ("x86_64", "arm64"):
            problems.append(f"Architecture: {value} is not a Lambda architecture (x86_64, arm64)")
    return problems


def evaluate(expr, template, params):
    """A condition or a value of the template as CloudFormation would evaluate it with these
    parameter values (the intrinsics the template uses: Ref, Equals, Not, And, Or, If,
    Condition)."""
    conditions = template.get("Conditions", {})
    if isinstance(expr, list):
        return [evaluate(e, template, params) for e in expr]
    if not isinstance(expr, dict) or len(expr) != 1:
        return expr
    (key, arg), = expr.items()
    if key == "Ref":
        if arg in params:
            return params[arg]
        if arg in template.get("Parameters", {}):
            return template["Parameters"][arg].get("Default")
        return {"Ref": arg}
    if key == "Condition":
        return evaluate(conditions[arg], template, params)
    if key == "Equals":
        left, right = evaluate(arg, template, params)
        return left == right
    if key == "Not":
        return not evaluate(arg[0], template, params)
    if key == "And":
        return all(evaluate(a, template, params) for a in arg)
    if key == "Or":
        return any(evaluate(a, template, params) for a in arg)
    if key == "If":
        name, then, otherwise = arg
        return evaluate(then if evaluate(conditions[name], template, params) else otherwise, template, params)
    return expr


def deployed(resource, template, params):
    condition = resource.get("Condition")
    return condition is None or bool(evaluate(template["Conditions"][condition], template, params))


def put_metric_data_grants(template, params):
    """(resource, scoped to the Namespace parameter) of each statement of a deployed policy that
    grants cloudwatch:PutMetricData."""
    grants = []
    for name, resource in template["Resources"].items():
        if resource["Type"] not in ("AWS::IAM::Policy", "AWS::IAM::RolePolicy", "AWS::IAM::ManagedPolicy"):
            continue
        if not deployed(resource, template, params):
            continue
        for statement in resource.get("Properties", {}).get("PolicyDocument", {}).get("Statement", []):
            actions = statement.get("Action", [])
            actions = [actions] if isinstance(actions, str) else actions
            if statement.get("Effect") != "Allow" or not any(
                    a in ("cloudwatch:PutMetricData", "cloudwatch:*", "*") for a in actions):
                continue
            scope = statement.get("Condition", {}).get("StringEquals", {}).get("cloudwatch:namespace")
            grants.append((name, scope == {"Ref": "Namespace"}, bool(statement.get("Condition"))))
    return grants


# Two values of OtlpEndpoint: CloudWatch's (empty) and another backend's.
OTLP_ENDPOINTS = ("", "https://collector.example.com:4318/v1/metrics")


def cases(template):
    """Every Sink value with each OtlpEndpoint: (label, parameters, the sinks)."""
    for sink in template["Parameters"]["Sink"]["AllowedValues"]:
        for endpoint in OTLP_ENDPOINTS:
            label = f"Sink={sink}" + (f", OtlpEndpoint={endpoint}" if endpoint else "")
            yield label, {"Sink": sink, "OtlpEndpoint": endpoint}, set(sink.split(","))


def policy_problems(template_text):
    """For every Sink value: cloudwatch:PutMetricData scoped to lambda-lens's namespace (a
    cloudwatch:namespace condition on the Namespace parameter) exactly when the sinks have
    put-metric-data; with no condition exactly when they have otlp and the endpoint is
    CloudWatch's (the CloudWatch guide: a namespace condition implicitly denies OTLP ingest);
    never otherwise. The linters check none of it."""
    template = yaml.load(template_text, Loader=Loader)
    problems = []
    for label, params, sinks in cases(template):
        grants = put_metric_data_grants(template, params)
        scoped = [name for name, is_scoped, _ in grants if is_scoped]
        open_ = [name for name, _, conditioned in grants if not conditioned]
        other = [name for name, is_scoped, conditioned in grants if conditioned and not is_scoped]
        if other:
            problems.append(f"{label}: {', '.join(other)} grants PutMetricData under a condition other than the Namespace")
        if "put-metric-data" in sinks and not scoped:
            problems.append(f"{label}: PutMetricData is not granted scoped to the Namespace parameter")
        if "put-metric-data" not in sinks and scoped:
            problems.append(f"{label}: {', '.join(scoped)} grants PutMetricData without the PutMetricData sink")
        wants_otlp = "otlp" in sinks and not params["OtlpEndpoint"]
        if wants_otlp and not open_:
            problems.append(f"{label}: the OTLP endpoint needs cloudwatch:PutMetricData with no namespace condition; not granted")
        if not wants_otlp and open_:
            problems.append(f"{label}: {', '.join(open_)} grants PutMetricData for every namespace "
                            "(only CloudWatch's OTLP endpoint needs that)")
    return problems


def makefile_recipe(target):
    """The recipe lines of a Makefile target ("" if it has none)."""
    text = open(os.path.join(ROOT, "Makefile"), encoding="utf-8").read()
    m = re.search(rf"^{re.escape(target)}:[^\n]*\n((?:\t[^\n]*\n)*)", text, re.M)
    return m.group(0) if m else ""


def layer_problems(template_text):
    """For every Sink value, the function's layer: the OTLP variant exactly when the sinks have
    otlp, a layer deployed under that value, whose `sam build` target (build-<layer>) builds
    that variant."""
    template = yaml.load(template_text, Loader=Loader)
    resources = template["Resources"]
    problems = []
    for label, params, sinks in cases(template):
        for name, resource in resources.items():
            if resource["Type"] != "AWS::Serverless::Function" or not deployed(resource, template, params):
                continue
            props = resource.get("Properties", {})
            env = props.get("Environment", {}).get("Variables", {})
            if env.get("LAMBDA_LENS_SINK") != {"Ref": "Sink"}:
                problems.append(f"{name}: LAMBDA_LENS_SINK is not the Sink parameter")
            for layer in evaluate(props.get("Layers", []), template, params):
                target = layer.get("Ref") if isinstance(layer, dict) else None
                if target not in resources:
                    continue
                if not deployed(resources[target], template, params):
                    problems.append(f"{label}: {name}'s layer {target} is not deployed")
                recipe = makefile_recipe(f"build-{target}")
                otlp_variant = "SINK=otlp" in recipe
                if "otlp" in sinks and not otlp_variant:
                    problems.append(f"{label}: {name}'s layer {target} is not the OTLP variant (make build-{target})")
                if "otlp" not in sinks and otlp_variant:
                    problems.append(f"{label}: {name}'s layer {target} is the OTLP variant without the OTLP sink")
    return problems


def linters_pass(path):
    """Whether `sam validate --lint` and `cfn-lint` both accept the template at `path`."""
    sam = subprocess.run([os.path.join(BIN, "sam"), "validate", "--lint", "-t", path],
                         env=ENV, capture_output=True, text=True, timeout=300)
    lint = subprocess.run([os.path.join(BIN, "cfn-lint"), path],
                          env=ENV, capture_output=True, text=True, timeout=300)
    return sam.returncode == 0 and lint.returncode == 0, (sam.stdout + sam.stderr + lint.stdout + lint.stderr)


BROKEN = {
    "a bad reference": ("!Ref LambdaLensOtlpLayer, !Ref LambdaLensLayer]", "!Ref LambdaLensOtlpLayer, !Ref NoSuchLayer]"),
    "an unknown runtime": ("Runtime: provided.al2023", "Runtime: provided.al2099"),
    "an unknown compatible runtime": ("        - provided.al2\n", "        - provided.al2099\n"),
    "a wrong architecture name": ("Default: x86_64\n    AllowedValues: [x86_64, arm64]",
                                  "Default: x86\n    AllowedValues: [x86, arm64]"),
    "PutMetricData granted for every namespace":
        ("            Condition:\n              StringEquals:\n                cloudwatch:namespace: !Ref Namespace\n", ""),
    "PutMetricData granted with the EMF sink too": ("    Condition: UsesPutMetricData\n", ""),
    "the OTLP permission missing":
        ("            Action: cloudwatch:PutMetricData\n            Resource: '*'\n\n  Dashboard:",
         "            Action: cloudwatch:ListMetrics\n            Resource: '*'\n\n  Dashboard:"),
    "the OTLP permission scoped to the namespace (which denies OTLP ingest)":
        ("            Action: cloudwatch:PutMetricData\n            Resource: '*'\n\n  Dashboard:",
         "            Action: cloudwatch:PutMetricData\n            Resource: '*'\n            Condition:\n"
         "              StringEquals:\n                cloudwatch:namespace: !Ref Namespace\n\n  Dashboard:"),
    "the OTLP permission granted without the OTLP sink": ("    Condition: UsesCloudWatchOtlp\n", ""),
    "the OTLP permission granted for another endpoint too":
        ("    Condition: UsesCloudWatchOtlp\n", "    Condition: UsesOtlp\n"),
    "the OTLP sink with the default layer":
        ("Layers: [!If [UsesOtlp, !Ref LambdaLensOtlpLayer, !Ref LambdaLensLayer]]",
         "Layers: [!If [UsesOtlp, !Ref LambdaLensLayer, !Ref LambdaLensOtlpLayer]]"),
    "the OTLP layer deployed under the wrong condition":
        ("    Condition: UsesOtlp\n    Properties:\n      LayerName: lambda-lens-otlp",
         "    Condition: UsesPutMetricData\n    Properties:\n      LayerName: lambda-lens-otlp"),
    "a widget naming a metric lambda-lens does not emit":
        ('["${Namespace}", "Timeouts"', '["${Namespace}", "TimeOuts"'),
    "a fleet SEARCH naming a metric lambda-lens does not emit":
        ('MetricName=\\"OutOfMemory\\"', 'MetricName=\\"OutOfMemoryKills\\"'),
    "a fleet SEARCH naming a metric AWS/Lambda does not publish":
        ('MetricName=\\"Errors\\"', 'MetricName=\\"Error\\"'),
    "a fleet SEARCH of a metric lambda-lens logs only as a property by default":
        ('MetricName=\\"ColdStarts\\"', 'MetricName=\\"Invocations\\"'),
    "a fleet SEARCH of a dimension set lambda-lens does not publish by default":
        ('FunctionName} MetricName=\\"Timeouts\\"', 'FunctionName,ColdStart} MetricName=\\"Timeouts\\"'),
    "a fleet SORT with a function metric math does not have": ("MAX, DESC, 10)", "PEAK, DESC, 10)"),
    "a fleet SORT keeping more series than a search returns": ("SUM, DESC, 10)", "SUM, DESC, 501)"),
    "the fleet dashboard deployed without its parameter":
        ("    Condition: HasFleetDashboard\n    Properties:\n      DashboardName", "    Properties:\n      DashboardName"),
    "the fleet dashboard on by default": ("    Default: 'false'\n    AllowedValues: ['true', 'false']",
                                          "    Default: 'true'\n    AllowedValues: ['true', 'false']"),
    "a fleet SEARCH with an unknown statistic": ("\"', 'Maximum')", "\"', 'Max')"),
    "a fleet SORT of a SEARCH of maxima by their sum": ("\"', 'Maximum'), MAX, DESC, 10)",
                                                       "\"', 'Maximum'), SUM, DESC, 10)"),
    "a fleet SORT of a SEARCH of sums by their mean": ("\"', 'Sum'), SUM, DESC, 10)", "\"', 'Sum'), AVG, DESC, 10)"),
    "a fleet SORT keeping the lowest series": ("\"', 'Sum'), SUM, DESC, 10)", "\"', 'Sum'), SUM, ASC, 10)"),
}


def main():
    path = os.path.join(ROOT, "template.yaml")
    text = open(path, encoding="utf-8").read()
    failures = []
    ok, output = linters_pass(path)
    if not ok:
        failures.append(f"template.yaml does not pass the linters:\n{output}")
    failures.extend(unknown_metrics(text))
    failures.extend(runtime_problems(text))
    failures.extend(policy_problems(text))
    failures.extend(layer_problems(text))
    template = yaml.load(text, Loader=Loader)
    count = len(named_metrics(template))
    search_count = sum(1 for _ in searches(template))
    for what, (old, new) in BROKEN.items():
        if old not in text:
            failures.append(f"the broken copy with {what} could not be made: {old!r} is not in the template")
            continue
        broken = text.replace(old, new, 1)
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(broken)
        ok, _ = linters_pass(f.name)
        os.unlink(f.name)
        rejected = (not ok) or bool(unknown_metrics(broken)) or bool(runtime_problems(broken)) \
            or bool(policy_problems(broken)) or bool(layer_problems(broken))
        print(f"broken copy with {what}: {'rejected' if rejected else 'ACCEPTED'}")
        if not rejected:
            failures.append(f"the broken copy with {what} was accepted")
    # monitor.yaml (dashboards and alarms for existing functions) checked against the same
    # catalogue and against template.yaml: scripts/check_monitor.py.
    import check_monitor
    failures.extend(check_monitor.check())
    for f in failures:
        print(f, file=sys.stderr)
    if not failures:
        print(f"template.yaml: sam validate --lint and cfn-lint pass; {count} metric references "
              f"({search_count} in SEARCH expressions), all emitted")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
