import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { LambdaLens, LambdaLensLayer, LambdaLensProps } from '../src';
import { fn, newStack, samTemplate, template } from './helpers';

const ARN = (arch: string, variant = '') => `arn:aws:lambda:eu-west-1:123456789012:layer:lambda-lens-${variant ? `${variant}-` : ''}${arch}:7`;
const layerFor = (variant = '') => LambdaLensLayer.fromArns({ x86_64: ARN('x86_64', variant), arm64: ARN('arm64', variant) });

function lens(props: Partial<LambdaLensProps> = {}, variant = '') {
  const stack = newStack();
  const fns = [fn(stack, 'A'), fn(stack, 'B', lambda.Architecture.ARM_64)];
  const construct = new LambdaLens(stack, 'Lens', { functions: fns, layer: layerFor(variant), ...props });
  const vars = fns.map((f) => {
    const id = stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction);
    return (template(stack).toJSON().Resources[id].Properties as { Environment: { Variables: Record<string, string> } }).Environment.Variables;
  });
  return { stack, construct, vars, fns };
}

/** Every statement granting cloudwatch:PutMetricData in the stack, with the roles its policy is on. */
function putMetricData(stack: ReturnType<typeof newStack>) {
  const found: { statement: Record<string, unknown>; roles: unknown }[] = [];
  for (const r of Object.values(template(stack).findResources('AWS::IAM::Policy'))) {
    const p = (r as { Properties: { PolicyDocument: { Statement: Record<string, unknown>[] }; Roles: unknown } }).Properties;
    for (const st of p.PolicyDocument.Statement) {
      const actions = ([] as unknown[]).concat(st.Action);
      if (actions.some((a) => a === 'cloudwatch:PutMetricData' || a === 'cloudwatch:*' || a === '*')) found.push({ statement: st, roles: p.Roles });
    }
  }
  return found;
}

test("the variables, as template.yaml sets them by default, on every function", () => {
  const { vars } = lens();
  const sam = samTemplate().Resources.SampleFunction.Properties as { Environment: { Variables: Record<string, unknown> } };
  const samVars = sam.Environment.Variables;
  for (const v of vars) {
    assert.deepEqual(v, { LAMBDA_LENS_NAMESPACE: 'LambdaLens', LAMBDA_LENS_SINK: 'emf', LAMBDA_LENS_METRICS: 'default,LogsDroppedRecords' });
    assert.equal(v.LAMBDA_LENS_METRICS, samVars.LAMBDA_LENS_METRICS, "template.yaml's metric selection");
    for (const key of Object.keys(v)) assert.ok(key in samVars, `${key} is one template.yaml sets`);
  }
});

test('each property is its variable', () => {
  const { vars } = lens({
    namespace: 'Team/Orders',
    sink: ['emf', 'put-metric-data'],
    metrics: ['core', '-Invocations', 'EstimatedCost', 'LogsDroppedRecords'],
    dimensions: [['FunctionName'], ['FunctionName', 'ColdStart']],
    staticDimensions: { Team: 'orders', Stage: 'prod' },
    output: 'per-invocation',
    environment: { LAMBDA_LENS_KEEP_SLOWEST: '5' },
  }, 'put-metric-data');
  assert.deepEqual(vars[1], {
    LAMBDA_LENS_NAMESPACE: 'Team/Orders',
    LAMBDA_LENS_SINK: 'emf,put-metric-data',
    LAMBDA_LENS_METRICS: 'core,-Invocations,EstimatedCost,LogsDroppedRecords',
    LAMBDA_LENS_DIMENSIONS: 'FunctionName;FunctionName,ColdStart',
    LAMBDA_LENS_STATIC_DIMENSIONS: 'Team=orders,Stage=prod',
    LAMBDA_LENS_OUTPUT: 'per-invocation',
    LAMBDA_LENS_KEEP_SLOWEST: '5',
  });
  const otlp = lens({ sink: 'otlp', otlpEndpoint: 'https://collector.example.com:4318/v1/metrics', otlpHeaders: 'x-team=KEY' }, 'otlp');
  assert.equal(otlp.vars[0].OTEL_EXPORTER_OTLP_METRICS_ENDPOINT, 'https://collector.example.com:4318/v1/metrics');
  assert.equal(otlp.vars[0].OTEL_EXPORTER_OTLP_HEADERS, 'x-team=KEY');
  assert.throws(() => lens({ otlpEndpoint: 'https://x' }), /`otlpEndpoint` and `otlpHeaders` are for the otlp sink/);
});

test('values the extension would refuse are synth-time errors', () => {
  assert.throws(() => lens({ namespace: 'AWS/Lambda' }), /the namespace "AWS\/Lambda" is not one lambda-lens accepts/);
  assert.throws(() => lens({ namespace: 'has space' }), /is not one lambda-lens accepts/);
  assert.throws(() => lens({ metrics: 'default,Latency' }), /names Latency, which are not metrics or groups/);
  assert.throws(() => lens({ metrics: '-all' }), /selects no metric/);
  assert.throws(() => lens({ sink: 'api' as never }), /unknown sink "api"/);
  assert.throws(() => lens({ sink: [] }), /`sink` is empty/);
});

test('a selection or dimension set that leaves the dashboards empty is a warning', () => {
  const quiet = lens();
  Annotations.fromStack(quiet.stack).hasNoWarning('*', Match.anyValue());
  const narrow = lens({ metrics: 'Timeouts,ColdStarts', dimensions: [['FunctionName', 'ColdStart']] });
  const warnings = Annotations.fromStack(narrow.stack).findWarning('*', Match.anyValue()).map((w) => String(w.entry.data));
  assert.ok(warnings.some((w) => /read OutOfMemory, MaxMemoryUsed, MemoryUtilization, InitDuration, EstimatedCost, LogsDroppedRecords, which `metrics`/.test(w)), warnings.join('\n'));
  assert.ok(warnings.some((w) => /dimension set \{FunctionName\}/.test(w)), warnings.join('\n'));
  const otlpOnly = lens({ sink: 'otlp' }, 'otlp');
  assert.ok(Annotations.fromStack(otlpOnly.stack).findWarning('*', Match.stringLikeRegexp('otlp sink alone')).length > 0);
  const both = lens({ sink: ['emf', 'otlp'] }, 'otlp');
  Annotations.fromStack(both.stack).hasNoWarning('*', Match.anyValue());
});

test('no cloudwatch:PutMetricData with the EMF sink, nor with otlp to another endpoint', () => {
  assert.deepEqual(putMetricData(lens().stack), []);
  assert.deepEqual(putMetricData(lens({ sink: ['emf'] }, 'put-metric-data').stack), [], 'the variant alone grants nothing');
  assert.deepEqual(putMetricData(lens({ sink: 'otlp', otlpEndpoint: 'https://collector.example.com:4318/v1/metrics' }, 'otlp').stack), []);
  assert.deepEqual(putMetricData(lens({ sink: 'otlp', environment: { OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' } }, 'otlp').stack), []);
  assert.deepEqual(putMetricData(lens({ sink: 'otlp', otlpEndpoint: 'https://monitoring.eu-west-1.amazonaws.com/v1/metrics', environment: { LAMBDA_LENS_OTLP_AUTH: 'none' } }, 'otlp').stack), []);
  assert.equal(lens().construct.putMetricDataPolicy, undefined);
  assert.throws(() => lens({ sink: 'otlp', otlpEndpoint: 'collector:4318' }, 'otlp'), /is not a URL/);
});

test('put-metric-data: cloudwatch:PutMetricData for the namespace only, on each function\'s role', () => {
  for (const sink of ['put-metric-data', ['emf', 'put-metric-data']] as const) {
    const { stack, fns } = lens({ sink: sink as never, namespace: 'Team/Orders' }, 'put-metric-data');
    const found = putMetricData(stack);
    assert.equal(found.length, 1);
    assert.deepEqual(found[0].statement, {
      Action: 'cloudwatch:PutMetricData',
      Effect: 'Allow',
      Resource: '*',
      Condition: { StringEquals: { 'cloudwatch:namespace': 'Team/Orders' } },
    });
    const roles = fns.map((f) => ({ Ref: stack.getLogicalId(f.role!.node.defaultChild as iam.CfnRole) }));
    assert.deepEqual(found[0].roles, roles);
  }
});

test("otlp to CloudWatch's endpoint: cloudwatch:PutMetricData with no namespace condition, as template.yaml's", () => {
  const { stack } = lens({ sink: ['emf', 'otlp'] }, 'otlp');
  const found = putMetricData(stack);
  assert.equal(found.length, 1);
  assert.deepEqual(found[0].statement, { Action: 'cloudwatch:PutMetricData', Effect: 'Allow', Resource: '*' });
  // CloudWatch's endpoint named, or SigV4 asked for, is the same.
  for (const props of [{ otlpEndpoint: 'https://monitoring.us-east-1.amazonaws.com/v1/metrics' }, { otlpEndpoint: 'https://gateway.internal/v1/metrics', environment: { LAMBDA_LENS_OTLP_AUTH: 'sigv4' } }]) {
    assert.equal(putMetricData(lens({ sink: 'otlp', ...props }, 'otlp').stack).length, 1, JSON.stringify(props));
  }
  const sam = samTemplate().Resources.OtlpPolicy?.Properties as { PolicyDocument: { Statement: Record<string, unknown>[] } } | undefined;
  if (sam !== undefined) {
    assert.deepEqual(sam.PolicyDocument.Statement, [found[0].statement]);
  }
});

test('a shared role is granted once', () => {
  const stack = newStack();
  const role = new iam.Role(stack, 'Shared', { assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com') });
  const mk = (id: string) => new lambda.Function(stack, id, { runtime: lambda.Runtime.PYTHON_3_13, handler: 'x.h', code: lambda.Code.fromInline('def h(e, c): pass'), role });
  new LambdaLens(stack, 'Lens', { functions: [mk('A'), mk('B')], layer: layerFor('put-metric-data'), sink: 'put-metric-data' });
  const found = putMetricData(stack);
  assert.equal(found.length, 1);
  assert.deepEqual(found[0].roles, [{ Ref: stack.getLogicalId(role.node.defaultChild as iam.CfnRole) }]);
});
