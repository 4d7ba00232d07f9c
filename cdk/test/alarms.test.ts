import * as assert from 'node:assert/strict';
import { test } from 'node:test';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { DEFAULT_THRESHOLDS, LambdaLens, LambdaLensLayer, LambdaLensProps } from '../src';
import { flatten, fn, newStack, samTemplate, template } from './helpers';

const X86 = 'arn:aws:lambda:eu-west-1:123456789012:layer:lambda-lens-x86_64:3';
const ALARMS = ['ErrorRateAlarm', 'ThrottlesAlarm', 'DurationAlarm', 'MemoryAlarm', 'OutOfMemoryAlarm', 'DroppedTelemetryAlarm'];

type Alarm = { Properties: Record<string, unknown> };

function lens(props: Partial<LambdaLensProps> = {}) {
  const stack = newStack();
  const f = fn(stack, 'Sample');
  const construct = new LambdaLens(stack, 'Lens', { functions: [f], layer: LambdaLensLayer.fromArn(X86), ...props });
  const fnId = stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction);
  const alarms = template(stack).findResources('AWS::CloudWatch::Alarm') as Record<string, Alarm>;
  const byName = new Map<string, Alarm>();
  for (const name of ALARMS) {
    const found = Object.entries(alarms).filter(([id]) => new RegExp(`^LensSample${name}[0-9A-F]{8}$`).test(id));
    assert.equal(found.length, 1, `one ${name}`);
    byName.set(name, found[0][1]);
  }
  return { stack, construct, fnId, alarms, byName, f };
}

/** What both templates say of an alarm, references to the function and the parameters resolved. */
function shape(p: Record<string, unknown>, thresholdOf: (v: unknown) => unknown, fnRef: (v: unknown) => unknown) {
  const dims = (d: unknown) => (d as { Name: string; Value: unknown }[] | undefined)?.map((x) => `${x.Name}=${fnRef(x.Value)}`);
  return {
    Namespace: p.Namespace === 'Namespace' ? 'LambdaLens' : p.Namespace,
    MetricName: p.MetricName,
    Dimensions: dims(p.Dimensions),
    Statistic: p.Statistic,
    ExtendedStatistic: p.ExtendedStatistic,
    Period: p.Period,
    EvaluationPeriods: p.EvaluationPeriods,
    ComparisonOperator: p.ComparisonOperator,
    TreatMissingData: p.TreatMissingData,
    Threshold: thresholdOf(p.Threshold),
    Metrics: (p.Metrics as Record<string, unknown>[] | undefined)?.map((m) => {
      const stat = m.MetricStat as { Metric: Record<string, unknown>; Period: number; Stat: string } | undefined;
      return {
        // aws-cdk-lib names the expression itself (expr_1); the inputs keep their names.
        Id: m.Expression === undefined ? m.Id : undefined,
        Expression: m.Expression,
        Label: m.Label,
        ReturnData: m.ReturnData === false ? false : true,
        MetricStat: stat && { Namespace: stat.Metric.Namespace, MetricName: stat.Metric.MetricName, Dimensions: dims(stat.Metric.Dimensions), Period: stat.Period, Stat: stat.Stat },
      };
    }),
  };
}

test("every alarm of template.yaml, with its defaults as the thresholds, for each function", () => {
  const sam = samTemplate();
  const { byName, fnId } = lens();
  for (const name of ALARMS) {
    const expected = sam.Resources[name].Properties;
    const param = sam.Parameters[expected.Threshold as string];
    assert.ok(param, `${name}'s threshold is a parameter of template.yaml`);
    const ours = shape(byName.get(name)!.Properties, (v) => v, (v) => (JSON.stringify(v) === JSON.stringify({ Ref: fnId }) ? 'FN' : v));
    const theirs = shape(expected, () => param.Default, (v) => (v === 'SampleFunction' ? 'FN' : v));
    assert.deepEqual(ours, theirs, name);
  }
});

test("the defaults are template.yaml's parameters' defaults", () => {
  const params = samTemplate().Parameters;
  for (const [key, value] of Object.entries(DEFAULT_THRESHOLDS)) {
    const param = key[0].toUpperCase() + key.slice(1);
    assert.equal(params[param]?.Default, value, `${key} against template.yaml's ${param}`);
  }
});

test('each threshold is a property', () => {
  const set = { errorRateThreshold: 2, throttlesThreshold: 10, durationP99Threshold: 2500, memoryUtilizationThreshold: 75, outOfMemoryThreshold: 3, droppedTelemetryThreshold: 50 };
  const { byName } = lens(set);
  const expected: Record<string, number> = {
    ErrorRateAlarm: 2, ThrottlesAlarm: 10, DurationAlarm: 2500, MemoryAlarm: 75, OutOfMemoryAlarm: 3, DroppedTelemetryAlarm: 50,
  };
  for (const [name, value] of Object.entries(expected)) {
    assert.equal(byName.get(name)!.Properties.Threshold, value, name);
  }
  assert.match(flatten(byName.get('ErrorRateAlarm')!.Properties.AlarmDescription), /^More than 2 % of the invocations of \{Sample\w+\} failed$/);
});

test('the alarm topic is every alarm\'s action; none without one', () => {
  const { alarms } = lens();
  for (const a of Object.values(alarms)) assert.equal(a.Properties.AlarmActions, undefined);
  const stack = newStack();
  const topic = new sns.Topic(stack, 'Topic');
  const f = fn(stack, 'Sample');
  const l = new LambdaLens(stack, 'Lens', { functions: [f], layer: LambdaLensLayer.fromArn(X86), alarmTopic: topic });
  const topicId = stack.getLogicalId(topic.node.defaultChild as sns.CfnTopic);
  const found = Object.values(template(stack).findResources('AWS::CloudWatch::Alarm')) as Alarm[];
  assert.equal(found.length, 6);
  for (const a of found) assert.deepEqual(a.Properties.AlarmActions, [{ Ref: topicId }]);
  assert.equal(l.alarms.length, 6);
  assert.ok(l.alarmsOf(f)?.duration);
});

test('six alarms a function; none with alarms: false', () => {
  const stack = newStack();
  new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'A'), fn(stack, 'B'), fn(stack, 'C')], layer: LambdaLensLayer.fromArn(X86) });
  template(stack).resourceCountIs('AWS::CloudWatch::Alarm', 18);
  const quiet = newStack();
  new LambdaLens(quiet, 'Lens', { functions: [fn(quiet, 'A')], layer: LambdaLensLayer.fromArn(X86), alarms: false });
  template(quiet).resourceCountIs('AWS::CloudWatch::Alarm', 0);
});

test('a p99 threshold at or above the timeout, which could never fire, is a warning', () => {
  const stack = newStack();
  new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'Short', lambda.Architecture.X86_64, 3)], layer: LambdaLensLayer.fromArn(X86) });
  const found = Annotations.fromStack(stack).findWarning('*', Match.stringLikeRegexp('p99 duration alarm of Test/Short is at 8000 ms, and its timeout is 3000 ms'));
  assert.equal(found.length, 1);
  const fine = newStack();
  new LambdaLens(fine, 'Lens', { functions: [fn(fine, 'Short', lambda.Architecture.X86_64, 3)], layer: LambdaLensLayer.fromArn(X86), durationP99Threshold: 2400 });
  Annotations.fromStack(fine).hasNoWarning('*', Match.anyValue());
  const template10s = newStack();
  new LambdaLens(template10s, 'Lens', { functions: [fn(template10s, 'Sample')], layer: LambdaLensLayer.fromArn(X86) });
  Annotations.fromStack(template10s).hasNoWarning('*', Match.anyValue());
});
