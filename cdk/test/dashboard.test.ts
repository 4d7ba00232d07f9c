import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Stack } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { CATALOGUE, LambdaLens, LambdaLensLayer } from '../src';
import { flatten, fn, newStack, samTemplate, template, widgets, Widget } from './helpers';

const X86 = 'arn:aws:lambda:eu-west-1:123456789012:layer:lambda-lens-x86_64:3';

/** template.yaml's dashboard body as the construct's is flattened: ${X} → {X}, the namespace its default. */
function samBody(resource: string, fnPlaceholder = '{FN}'): Widget[] {
  const body = samTemplate().Resources[resource].Properties.DashboardBody as string;
  return widgets(
    body
      .replace(/\$\{([A-Za-z:]+)\}/g, '{$1}')
      .replaceAll('{SampleFunction}', fnPlaceholder)
      .replaceAll('{Namespace}', 'LambdaLens'),
  );
}

function dashboards(stack: Stack): Map<string, { name: string; body: string }> {
  const out = new Map<string, { name: string; body: string }>();
  for (const [id, r] of Object.entries(template(stack).findResources('AWS::CloudWatch::Dashboard'))) {
    const props = (r as { Properties: { DashboardName: unknown; DashboardBody: unknown } }).Properties;
    out.set(id, { name: flatten(props.DashboardName), body: flatten(props.DashboardBody) });
  }
  return out;
}

function lensStack(options: { fleet?: boolean; timeout?: number; memory?: number } = {}) {
  const stack = newStack({ env: { region: 'eu-west-1' } });
  const f = fn(stack, 'Sample', lambda.Architecture.X86_64, options.timeout ?? 10, options.memory ?? 256);
  new LambdaLens(stack, 'Lens', { functions: [f], layer: LambdaLensLayer.fromArn(X86), fleetDashboard: options.fleet });
  const logicalId = stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction);
  return { stack, logicalId };
}

test("the function's dashboard is template.yaml's, widget by widget (a 10 s, 256 MB function as the template's)", () => {
  const { stack, logicalId } = lensStack();
  const found = [...dashboards(stack).values()];
  assert.equal(found.length, 1, 'one dashboard for one function, no fleet dashboard by default');
  assert.equal(found[0].name, `lambda-lens-{${logicalId}}`);
  const ours = widgets(found[0].body.replaceAll(`{${logicalId}}`, '{FN}'));
  assert.deepEqual(ours, samBody('Dashboard'));
});

test("the timeout and memory-size lines are the function's own", () => {
  const { stack, logicalId } = lensStack({ timeout: 3, memory: 1024 });
  const ours = widgets([...dashboards(stack).values()][0].body.replaceAll(`{${logicalId}}`, '{FN}'));
  const duration = ours.find((w) => w.title?.startsWith('How long?'));
  assert.equal(duration?.title, 'How long? (p50, p90, p99, max, against the 3 s timeout)');
  assert.deepEqual(duration?.annotations, [{ label: 'Timeout', value: 3000 }]);
  const memory = ours.find((w) => w.title?.startsWith('How much memory'));
  assert.deepEqual(memory?.annotations, [{ label: 'Memory size', value: 1024 }]);
});

test("every lambda-lens metric a dashboard or alarm names is in the catalogue and a metric by default (or selected)", () => {
  const { stack } = lensStack({ fleet: true });
  const names = new Set<string>();
  for (const { body } of dashboards(stack).values()) {
    for (const w of widgets(body)) {
      for (const line of w.lines) {
        if (line.namespace === 'LambdaLens' && line.metric) names.add(line.metric);
        for (const m of line.expression?.matchAll(/\{"LambdaLens",FunctionName\} MetricName="(\w+)"/g) ?? []) names.add(m[1]);
      }
    }
  }
  for (const r of Object.values(template(stack).findResources('AWS::CloudWatch::Alarm'))) {
    const p = (r as { Properties: { Namespace?: string; MetricName?: string } }).Properties;
    if (p.Namespace === 'LambdaLens' && p.MetricName) names.add(p.MetricName);
  }
  assert.ok(names.size >= 8, `the dashboards and alarms read ${[...names]}`);
  for (const name of names) {
    const def = CATALOGUE.find((d) => d.name === name);
    assert.ok(def, `${name} is not in lambda-lens's catalogue`);
    assert.ok(def.byDefault || name === 'LogsDroppedRecords', `${name} is not a metric by default`);
  }
});

test("the fleet dashboard is template.yaml's FleetDashboard: the same SEARCH expressions, bars over the time range", () => {
  const { stack, logicalId } = lensStack({ fleet: true });
  const all = dashboards(stack);
  assert.equal(all.size, 2);
  const fleet = [...all.values()].find((d) => d.name.startsWith('lambda-lens-fleet-'));
  assert.ok(fleet);
  assert.equal(fleet.name, 'lambda-lens-fleet-{AWS::StackName}');
  const ours = widgets(fleet.body);
  assert.deepEqual(ours, samBody('LambdaLensFleetDashboard', `{${logicalId}}`));
  assert.equal(ours.filter((w) => w.lines.some((l) => l.expression?.startsWith('SORT(SEARCH('))).length, 6);
  for (const w of ours.filter((x) => x.type === 'metric')) {
    assert.equal(w.view, 'bar');
    assert.equal(w.setPeriodToTimeRange, true);
  }
});

test('the fleet dashboard follows the namespace', () => {
  const stack = newStack();
  new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'F')], layer: LambdaLensLayer.fromArn(X86), namespace: 'Team/Orders', fleetDashboard: true });
  const fleet = [...dashboards(stack).values()].find((d) => d.name.startsWith('lambda-lens-fleet-'));
  assert.ok(fleet?.body.includes(`SEARCH('{\\"Team/Orders\\",FunctionName} MetricName=\\"Timeouts\\"', 'Sum')`), fleet?.body);
});

test('dashboard: false and a second fleet dashboard in one stack', () => {
  const stack = newStack();
  new LambdaLens(stack, 'A', { functions: [fn(stack, 'F')], layer: LambdaLensLayer.fromArn(X86), dashboard: false, fleetDashboard: true });
  assert.equal(dashboards(stack).size, 1, 'only the fleet dashboard');
  assert.throws(
    () => new LambdaLens(stack, 'B', { functions: [fn(stack, 'G')], layer: LambdaLensLayer.fromArn(X86), fleetDashboard: true }),
    /already has a fleet dashboard/,
  );
});

test('a dashboard per function, each naming its own function', () => {
  const stack = newStack();
  const fns = [fn(stack, 'A'), fn(stack, 'B'), fn(stack, 'C', lambda.Architecture.ARM_64)];
  const lens = new LambdaLens(stack, 'Lens', {
    functions: fns,
    layer: LambdaLensLayer.fromArns({ x86_64: X86, arm64: X86.replace('x86_64', 'arm64') }),
  });
  assert.equal(lens.dashboards.length, 3);
  const bodies = [...dashboards(stack).values()];
  fns.forEach((f, i) => {
    const id = stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction);
    assert.equal(bodies[i].name, `lambda-lens-{${id}}`);
    assert.ok(bodies[i].body.includes(`"FunctionName","{${id}}"`));
  });
});
