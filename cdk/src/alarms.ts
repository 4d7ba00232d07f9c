import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as cloudwatchActions from 'aws-cdk-lib/aws-cloudwatch-actions';
import { Construct } from 'constructs';
import type { LambdaLensProps } from './lambda-lens';

/** template.yaml's alarm thresholds, as its parameters' defaults. */
export const DEFAULT_THRESHOLDS = {
  /** Percent of invocations that fail (AWS/Lambda Errors ÷ Invocations), 5-minute periods. */
  errorRateThreshold: 5,
  /** Throttled invocations in 5 minutes. */
  throttlesThreshold: 1,
  /** p99 duration, milliseconds (template.yaml's function has a 10 s timeout). */
  durationP99Threshold: 8000,
  /** Percent of the memory size one invocation used. */
  memoryUtilizationThreshold: 90,
  /** Invocations killed for memory in 5 minutes. */
  outOfMemoryThreshold: 1,
  /** Telemetry records Lambda dropped in 5 minutes. */
  droppedTelemetryThreshold: 1,
} as const;

/** The alarms of one function, by template.yaml's names. */
export interface LambdaLensAlarms {
  readonly errorRate: cloudwatch.Alarm;
  readonly throttles: cloudwatch.Alarm;
  readonly duration: cloudwatch.Alarm;
  readonly memory: cloudwatch.Alarm;
  readonly outOfMemory: cloudwatch.Alarm;
  readonly droppedTelemetry: cloudwatch.Alarm;
}

/**
 * template.yaml's six alarms for one function, each over 5 minutes, one period, missing data not
 * breaching: the error rate (metric math on AWS/Lambda), throttles and the p99 duration
 * (AWS/Lambda), memory utilisation, out-of-memory kills and dropped telemetry (lambda-lens).
 */
export function functionAlarms(scope: Construct, namespace: string, name: string, props: LambdaLensProps): LambdaLensAlarms {
  const t = { ...DEFAULT_THRESHOLDS, ...definedOnly(props) };
  const period = Duration.minutes(5);
  const dims = { FunctionName: name };
  const lambdaMetric = (metricName: string, statistic: string) =>
    new cloudwatch.Metric({ namespace: 'AWS/Lambda', metricName, dimensionsMap: dims, statistic, period });
  const lensMetric = (metricName: string, statistic: string) =>
    new cloudwatch.Metric({ namespace: namespace, metricName, dimensionsMap: dims, statistic, period });
  const common = { evaluationPeriods: 1, treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING };
  const above = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD;
  const atLeast = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD;
  const alarms: LambdaLensAlarms = {
    errorRate: new cloudwatch.MathExpression({
      expression: '100 * errors / MAX([errors, invocations])',
      label: 'Error rate (%)',
      period,
      usingMetrics: { errors: lambdaMetric('Errors', 'Sum'), invocations: lambdaMetric('Invocations', 'Sum') },
    }).createAlarm(scope, 'ErrorRateAlarm', {
      ...common,
      alarmDescription: `More than ${t.errorRateThreshold} % of the invocations of ${name} failed`,
      comparisonOperator: above,
      threshold: t.errorRateThreshold,
    }),
    throttles: lambdaMetric('Throttles', 'Sum').createAlarm(scope, 'ThrottlesAlarm', {
      ...common,
      alarmDescription: `Invocations of ${name} were throttled`,
      comparisonOperator: atLeast,
      threshold: t.throttlesThreshold,
    }),
    duration: lambdaMetric('Duration', 'p99').createAlarm(scope, 'DurationAlarm', {
      ...common,
      alarmDescription: `The p99 duration of ${name} is near its timeout`,
      comparisonOperator: above,
      threshold: t.durationP99Threshold,
    }),
    memory: lensMetric('MemoryUtilization', 'Maximum').createAlarm(scope, 'MemoryAlarm', {
      ...common,
      alarmDescription: `An invocation of ${name} used most of its memory`,
      comparisonOperator: above,
      threshold: t.memoryUtilizationThreshold,
    }),
    outOfMemory: lensMetric('OutOfMemory', 'Sum').createAlarm(scope, 'OutOfMemoryAlarm', {
      ...common,
      alarmDescription: `Invocations of ${name} were killed for memory`,
      comparisonOperator: atLeast,
      threshold: t.outOfMemoryThreshold,
    }),
    droppedTelemetry: lensMetric('LogsDroppedRecords', 'Sum').createAlarm(scope, 'DroppedTelemetryAlarm', {
      ...common,
      alarmDescription: `Lambda dropped telemetry of ${name}; some metrics are incomplete`,
      comparisonOperator: atLeast,
      threshold: t.droppedTelemetryThreshold,
    }),
  };
  if (props.alarmTopic !== undefined) {
    const action = new cloudwatchActions.SnsAction(props.alarmTopic);
    for (const alarm of Object.values(alarms) as cloudwatch.Alarm[]) {
      alarm.addAlarmAction(action);
    }
  }
  return alarms;
}

function definedOnly(props: LambdaLensProps): Partial<Record<keyof typeof DEFAULT_THRESHOLDS, number>> {
  const out: Partial<Record<keyof typeof DEFAULT_THRESHOLDS, number>> = {};
  for (const key of Object.keys(DEFAULT_THRESHOLDS) as (keyof typeof DEFAULT_THRESHOLDS)[]) {
    const value = props[key];
    if (value !== undefined) {
      out[key] = value;
    }
  }
  return out;
}
