#!/usr/bin/env python3
"""Checks monitor.yaml offline (called by check_template.py, so by `make template-check`):

1. `sam validate --lint` and `cfn-lint` pass on it (both expand its Fn::ForEach loops, the
   AWS::LanguageExtensions transform);
2. expanded for two functions, every metric its dashboards and alarms name exists (check_template's
   catalogue and AWS/Lambda checks), its fleet dashboard passes check_template's SEARCH checks, and
   it is the same as template.yaml's: the same threshold parameters with the same defaults, each
   of template.yaml's alarms once per function with the same metric, statistic, period,
   comparison and threshold, and each function's dashboard naming the same metrics as
   template.yaml's;
3. each deliberately broken copy is rejected, so a check that went silent is noticed.

Run with the project's virtualenv (PyYAML, sam and cfn-lint from requirements-sam.txt).
"""
import copy
import json
import os
import re
import sys
import tempfile

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import check_template as ct  # noqa: E402

ROOT = ct.ROOT
# Two names as FunctionNames would give them: characters a logical id cannot hold included.
SAMPLE_FUNCTIONS = ["orders-api", "payments_worker"]


def expand(template, names=SAMPLE_FUNCTIONS):
    """The template as the AWS::LanguageExtensions transform makes it for FunctionNames = names:
    each Fn::ForEach::<loop> of Resources and Outputs replaced by its fragment once per name,
    ${Identifier} the name and &{Identifier} the name's letters and digits (a)."""
    out = copy.deepcopy(template)
    for section in ("Resources", "Outputs"):
        expanded = {}
        for key, value in out.get(section, {}).items():
            if not key.startswith("Fn::ForEach::"):
                expanded[key] = value
                continue
            identifier, collection, fragment = value
            if collection != {"Ref": "FunctionNames"}:
                raise ValueError(f"{section}.{key}: loops over {collection}, not FunctionNames")
            for name in names:
                text = json.dumps(fragment)
                text = text.replace("${" + identifier + "}", name)
                text = text.replace("&{" + identifier + "}", re.sub(r"[^A-Za-z0-9]", "", name))
                for logical_id, item in json.loads(text).items():
                    if logical_id in expanded:
                        raise ValueError(f"{section}: {logical_id} made twice")
                    expanded[logical_id] = item
        out[section] = expanded
    return out


def with_defaults(template):
    """Numeric parameters read into dashboard bodies (${DurationP99Threshold}) as their defaults,
    so check_template's dashboard parser reads the JSON."""
    out = copy.deepcopy(template)
    numbers = {k: v["Default"] for k, v in out["Parameters"].items() if v.get("Type") == "Number"}
    for resource in out["Resources"].values():
        body = resource.get("Properties", {}).get("DashboardBody")
        if isinstance(body, dict) and "Sub" in body:
            for name, value in numbers.items():
                body["Sub"] = body["Sub"].replace("${" + name + "}", str(value))
    return out


def normalised_alarm(props):
    """An alarm's properties less what names the function (description, dimension values)."""
    props = copy.deepcopy(props)
    props.pop("AlarmDescription", None)
    props.pop("Dimensions", None)
    for metric in props.get("Metrics", []):
        metric.get("MetricStat", {}).get("Metric", {}).pop("Dimensions", None)
    return props


def alarms_by_name(template):
    """{(logical id less the function part, function or None): normalised properties}."""
    found = {}
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::CloudWatch::Alarm":
            found[name] = normalised_alarm(resource["Properties"])
    return found


def dashboard_metrics(template, name):
    body = dict(ct.dashboard_bodies({"Resources": {name: template["Resources"][name]}}))[name]
    return sorted({(m[0], m[1]) for w in body["widgets"] for m in w.get("properties", {}).get("metrics", [])
                   if m and isinstance(m[0], str)})


def problems(text, reference_text):
    template = yaml.load(text, Loader=ct.Loader)
    reference = yaml.load(reference_text, Loader=ct.Loader)
    found = []
    if template.get("Transform") != "AWS::LanguageExtensions":
        found.append("Transform: Fn::ForEach needs AWS::LanguageExtensions")
    if template["Parameters"].get("FunctionNames", {}).get("Type") != "CommaDelimitedList":
        found.append("FunctionNames: not a CommaDelimitedList")
    try:
        expanded = with_defaults(expand(template))
    except (ValueError, TypeError) as e:
        return found + [f"Fn::ForEach: {e}"]
    found.extend(ct.search_problems(expanded))
    for where, ns, metric in ct.named_metrics(expanded):
        if ns == "LENS" and metric not in ct.catalogue():
            found.append(f"monitor.yaml {where}: lambda-lens does not emit {metric}")
        elif ns == "AWS/Lambda" and metric not in ct.AWS_LAMBDA:
            found.append(f"monitor.yaml {where}: AWS/Lambda has no {metric}")
        elif ns not in ("LENS", "AWS/Lambda"):
            found.append(f"monitor.yaml {where}: unexpected namespace {ns}")
    # The same thresholds as template.yaml's alarms: every threshold parameter, same default.
    for name, parameter in reference["Parameters"].items():
        if name.endswith("Threshold") or name in ("AlarmTopicArn", "Namespace", "FleetDashboard"):
            mine = template["Parameters"].get(name)
            if mine is None:
                found.append(f"monitor.yaml: no parameter {name} (template.yaml has it)")
            elif (mine.get("Type"), mine.get("Default")) != (parameter.get("Type"), parameter.get("Default")):
                found.append(f"monitor.yaml: {name} is {mine.get('Type')} {mine.get('Default')!r}, "
                             f"template.yaml's {parameter.get('Type')} {parameter.get('Default')!r}")
    # Each of template.yaml's alarms, once per function, the same but for the function's name.
    ours = alarms_by_name(expanded)
    for name, props in alarms_by_name(reference).items():
        for function in SAMPLE_FUNCTIONS:
            logical_id = name + re.sub(r"[^A-Za-z0-9]", "", function)
            if logical_id not in ours:
                found.append(f"monitor.yaml: no {logical_id} (template.yaml's {name} for {function})")
            elif ours[logical_id] != props:
                found.append(f"monitor.yaml: {logical_id} differs from template.yaml's {name}")
    extra = len(ours) - len(alarms_by_name(reference)) * len(SAMPLE_FUNCTIONS)
    if extra > 0:
        found.append(f"monitor.yaml: {extra} alarm(s) template.yaml does not have")
    # Each function's dashboard names template.yaml's dashboard's metrics.
    want = dashboard_metrics(reference, "Dashboard")
    for function in SAMPLE_FUNCTIONS:
        logical_id = "Dashboard" + re.sub(r"[^A-Za-z0-9]", "", function)
        if logical_id not in expanded["Resources"]:
            found.append(f"monitor.yaml: no dashboard {logical_id} for {function}")
        elif dashboard_metrics(expanded, logical_id) != want:
            found.append(f"monitor.yaml: {logical_id} names other metrics than template.yaml's Dashboard")
    return found


BROKEN = {
    "a widget naming a metric lambda-lens does not emit":
        ('["${Namespace}", "Timeouts"', '["${Namespace}", "TimeOuts"'),
    "an alarm of a metric AWS/Lambda does not publish":
        ("MetricName: Throttles", "MetricName: Throttled"),
    "a threshold other than template.yaml's": ("    Default: 90\n", "    Default: 95\n"),
    "an alarm with another comparison than template.yaml's":
        ("Threshold: !Ref MemoryUtilizationThreshold", "Threshold: !Ref OutOfMemoryThreshold"),
    # In the text widget, which the metric checks do not read: only the linters see it.
    "a bad reference inside the loop": ("**${Namespace}** (lambda-lens, from the Telemetry API",
                                        "**${NoSuchParameter}** (lambda-lens, from the Telemetry API"),
    "the loop without the transform": ("Transform: AWS::LanguageExtensions\n", ""),
    "one name instead of a list": ("    Type: CommaDelimitedList\n", "    Type: String\n"),
    "an alarm left out": (re.compile(r"\n      DroppedTelemetryAlarm&\{FunctionName\}:.*?\n\n", re.S), "\n\n"),
    "a fleet SEARCH naming a metric lambda-lens does not emit":
        ('MetricName=\\"OutOfMemory\\"', 'MetricName=\\"OutOfMemoryKills\\"'),
    "the fleet dashboard on by default": ("    Default: 'false'\n    AllowedValues: ['true', 'false']",
                                          "    Default: 'true'\n    AllowedValues: ['true', 'false']"),
}


def check():
    """The failures (empty when monitor.yaml passes), printing what each broken copy gave."""
    path = os.path.join(ROOT, "monitor.yaml")
    text = open(path, encoding="utf-8").read()
    reference = open(os.path.join(ROOT, "template.yaml"), encoding="utf-8").read()
    failures = []
    ok, output = ct.linters_pass(path)
    if not ok:
        failures.append(f"monitor.yaml does not pass the linters:\n{output}")
    failures.extend(problems(text, reference))
    for what, (old, new) in BROKEN.items():
        if isinstance(old, re.Pattern):
            broken = old.sub(new, text, count=1)
        else:
            broken = text.replace(old, new, 1)
        if broken == text:
            failures.append(f"monitor.yaml: the broken copy with {what} could not be made: {old!r} is not in it")
            continue
        with tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False) as f:
            f.write(broken)
        # The linters (seconds each) only for a copy the checks here accept.
        rejected = bool(problems(broken, reference)) or not ct.linters_pass(f.name)[0]
        os.unlink(f.name)
        print(f"monitor.yaml, broken copy with {what}: {'rejected' if rejected else 'ACCEPTED'}")
        if not rejected:
            failures.append(f"monitor.yaml: the broken copy with {what} was accepted")
    if not failures:
        expanded = with_defaults(expand(yaml.load(text, Loader=ct.Loader)))
        print(f"monitor.yaml: sam validate --lint and cfn-lint pass; for {len(SAMPLE_FUNCTIONS)} functions "
              f"{len(ct.named_metrics(expanded))} metric references, all emitted, and template.yaml's "
              "thresholds, alarms and dashboard")
    return failures


def main():
    failures = check()
    for f in failures:
        print(f, file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
