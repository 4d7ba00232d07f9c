import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AwsSolutionsChecks } from 'cdk-nag';
import { LambdaLensExampleStack } from '../example/stack';
import { LambdaLensLayer, LambdaLensProps } from '../src';
import { REPO } from './helpers';

// The example app as make cdk-synth synthesizes it: the sample function (make layer's
// target/function[-arm64]) on both architectures with the built layers (target/layers).
function example(lens?: Partial<LambdaLensProps>): LambdaLensExampleStack {
  return new LambdaLensExampleStack(new App(), 'LambdaLensExample', { repoRoot: REPO, lens });
}

/** cdk-nag's AWS Solutions checks: each violation as `rule at path`. */
function nag(stack: LambdaLensExampleStack): string[] {
  const report = new AwsSolutionsChecks().validateScope(stack);
  return report.violations.flatMap((v) => v.violatingResources.map((r) => `${v.ruleName} at ${r.constructPath}: ${v.description}`));
}

test('the example app: the built layers on the sample function of each architecture, the dashboards, the alarms', () => {
  const stack = example();
  const t = Template.fromStack(stack);
  t.resourceCountIs('AWS::Lambda::Function', 2);
  t.resourceCountIs('AWS::Lambda::LayerVersion', 2);
  t.resourceCountIs('AWS::CloudWatch::Dashboard', 3);
  t.resourceCountIs('AWS::CloudWatch::Alarm', 12);
  for (const [arch, fn] of [['x86_64', stack.functions[0]], ['arm64', stack.functions[1]]] as const) {
    assert.equal(fn.architecture.name, arch);
    const layer = stack.lens.layers.get(arch);
    assert.ok(layer);
    const props = t.toJSON().Resources[stack.getLogicalId(fn.node.defaultChild as never)].Properties;
    assert.deepEqual(props.Layers, [{ Ref: stack.getLogicalId(layer.node.defaultChild as never) }]);
    assert.deepEqual(props.Architectures, [arch]);
    assert.equal(props.Runtime, 'provided.al2023');
  }
  assert.equal(JSON.stringify(t.toJSON()).includes('cloudwatch:PutMetricData'), false);
});

test("cdk-nag's AWS Solutions checks pass on the example, with no exception", () => {
  assert.deepEqual(nag(example()), []);
});

test("cdk-nag's AWS Solutions checks pass with put-metric-data and with otlp (the construct's exception acknowledged)", () => {
  const arns = (variant: string) =>
    LambdaLensLayer.fromArns({
      x86_64: `arn:aws:lambda:eu-west-1:123456789012:layer:lambda-lens-${variant}-x86_64:1`,
      arm64: `arn:aws:lambda:eu-west-1:123456789012:layer:lambda-lens-${variant}-arm64:1`,
    });
  for (const variant of ['put-metric-data', 'otlp'] as const) {
    const stack = example({ sink: ['emf', variant], layer: arns(variant) });
    assert.ok(JSON.stringify(Template.fromStack(stack).toJSON()).includes('cloudwatch:PutMetricData'));
    assert.deepEqual(nag(stack), [], variant);
  }
});

test("without the construct's acknowledgement cdk-nag flags the PutMetricData statement (the check is live)", () => {
  const stack = example({ sink: 'put-metric-data', layer: LambdaLensLayer.fromArns({ x86_64: 'arn:aws:lambda:eu-west-1:1:layer:lambda-lens-put-metric-data-x86_64:1', arm64: 'arn:aws:lambda:eu-west-1:1:layer:lambda-lens-put-metric-data-arm64:1' }) });
  for (const c of stack.node.findAll()) {
    // Drop every acknowledgement the construct and the example recorded (constructs keeps the
    // entries in _metadata; node.metadata is a copy).
    const node = c.node as unknown as { _metadata?: { type: string }[] };
    node._metadata = node._metadata?.filter((m) => m.type !== 'aws:cdk:acknowledged-rules');
  }
  const found = nag(stack);
  assert.ok(found.some((v) => v.startsWith('AwsSolutions-IAM5[Resource::*] at LambdaLensExample/LambdaLens/PutMetricData')), found.join('\n'));
  assert.equal(found.length, 1, found.join('\n'));
});
