import { Aws, Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import { Construct } from 'constructs';

/** What the dashboard of one function needs to know of it. */
export interface FunctionFacts {
  readonly functionName: string;
  /** Milliseconds. */
  readonly timeoutMs: number;
  /** Megabytes. */
  readonly memorySizeMb: number;
}

/** The metrics the dashboards and alarms read from lambda-lens's namespace (a warning names any not selected). */
export const DASHBOARD_METRICS = ['Timeouts', 'OutOfMemory', 'MaxMemoryUsed', 'MemoryUtilization', 'InitDuration', 'ColdStarts', 'EstimatedCost'];
export const ALARM_METRICS = ['MemoryUtilization', 'OutOfMemory', 'LogsDroppedRecords'];
export const FLEET_METRICS = ['Timeouts', 'OutOfMemory', 'ColdStarts', 'MemoryUtilization', 'EstimatedCost'];

const minute = Duration.minutes(1);

/**
 * template.yaml's dashboard for one function: one question per widget, each titled with it, the
 * numbers from AWS/Lambda (what Lambda publishes for free) and from lambda-lens's namespace (what
 * only the Telemetry API gives). The timeout and memory size lines are the function's own.
 */
export function functionDashboard(scope: Construct, id: string, namespace: string, fn: FunctionFacts): cloudwatch.Dashboard {
  const name = fn.functionName;
  const lambdaMetric = (metricName: string, statistic: string, period = minute, label?: string) =>
    new cloudwatch.Metric({ namespace: 'AWS/Lambda', metricName, dimensionsMap: { FunctionName: name }, statistic, period, label });
  const lensMetric = (metricName: string, statistic: string, period = minute, label?: string) =>
    new cloudwatch.Metric({ namespace, metricName, dimensionsMap: { FunctionName: name }, statistic, period, label });
  const graph = (props: cloudwatch.GraphWidgetProps) => new cloudwatch.GraphWidget({ height: 6, view: cloudwatch.GraphWidgetView.TIME_SERIES, ...props });
  const timeoutSeconds = fn.timeoutMs / 1000;

  const dashboard = new cloudwatch.Dashboard(scope, id, { dashboardName: `lambda-lens-${name}` });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      width: 24,
      height: 3,
      markdown:
        `## ${name}\nWhere each number comes from: **AWS/Lambda** (free, published by Lambda itself: invocations, errors with timeouts, ` +
        "duration, throttles, concurrency, iterator age, the extensions' time after the response) and " +
        `**${namespace}** (lambda-lens, from the Telemetry API: timeouts, out-of-memory kills, cold starts and init, memory used, ` +
        "estimated cost; each invocation's document, with its request id, is in the function's log group).",
    }),
  );
  dashboard.addWidgets(
    graph({ title: 'How many invocations?', width: 8, left: [lambdaMetric('Invocations', 'Sum')] }),
    graph({
      title: 'How many failed, and how?',
      width: 8,
      left: [
        lambdaMetric('Errors', 'Sum', minute, 'Errors (timeouts included)'),
        lensMetric('Timeouts', 'Sum'),
        lensMetric('OutOfMemory', 'Sum'),
      ],
    }),
    graph({
      title: 'What share of invocations failed? (%)',
      width: 8,
      left: [
        new cloudwatch.MathExpression({
          expression: '100 * errors / MAX([errors, invocations])',
          label: 'Error rate',
          period: minute,
          usingMetrics: { errors: lambdaMetric('Errors', 'Sum'), invocations: lambdaMetric('Invocations', 'Sum') },
        }),
      ],
    }),
  );
  dashboard.addWidgets(
    graph({
      title: `How long? (p50, p90, p99, max, against the ${timeoutSeconds} s timeout)`,
      width: 12,
      left: ['p50', 'p90', 'p99', 'Maximum'].map((stat) => lambdaMetric('Duration', stat)),
      leftAnnotations: [{ label: 'Timeout', value: fn.timeoutMs }],
    }),
    graph({
      title: 'How much memory is allocated, and how much is used? (MB)',
      width: 12,
      left: [lensMetric('MaxMemoryUsed', 'Maximum'), lensMetric('MaxMemoryUsed', 'p99')],
      right: [lensMetric('MemoryUtilization', 'Maximum')],
      leftAnnotations: [{ label: 'Memory size', value: fn.memorySizeMb }],
    }),
  );
  const fiveMinutes = Duration.minutes(5);
  dashboard.addWidgets(
    graph({
      title: 'How long does init take, and how often are cold starts?',
      width: 12,
      left: [lensMetric('InitDuration', 'p50', fiveMinutes), lensMetric('InitDuration', 'p99', fiveMinutes)],
      right: [lensMetric('ColdStarts', 'Sum', fiveMinutes)],
    }),
    graph({
      title: 'How often is it throttled, and how many run at once?',
      width: 12,
      left: [lambdaMetric('Throttles', 'Sum')],
      right: [lambdaMetric('ConcurrentExecutions', 'Maximum')],
    }),
  );
  dashboard.addWidgets(
    graph({ title: 'How far behind is the stream consumer? (iterator age, ms)', width: 8, left: [lambdaMetric('IteratorAge', 'Maximum')] }),
    graph({
      title: 'What do the extensions cost each invocation? (ms after the response)',
      width: 8,
      left: [lambdaMetric('PostRuntimeExtensionsDuration', 'Average'), lambdaMetric('PostRuntimeExtensionsDuration', 'p99')],
    }),
    graph({ title: 'What does it cost? (USD, estimated)', width: 8, left: [lensMetric('EstimatedCost', 'Sum', Duration.hours(1))] }),
  );
  return dashboard;
}

/**
 * template.yaml's fleet dashboard: every function that publishes to the namespace, the ten worst
 * by each question. SEARCH finds the series that exist when the dashboard is drawn (any that
 * reported in the past two weeks, (a) CloudWatch's search expression documentation), so a
 * function that starts publishing later appears without a redeploy; the schema
 * {Namespace,FunctionName} matches only series whose one dimension is FunctionName, lambda-lens's
 * default set. SORT(..., DESC, 10) keeps the ten highest (a); a search returns at most 500 series
 * (a). Errors come from AWS/Lambda: lambda-lens's Errors is a log property by default.
 */
export function fleetDashboard(scope: Construct, id: string, namespace: string): cloudwatch.Dashboard {
  const search = (ns: string, metricName: string, stat: string, sortBy: string) => {
    const schema = ns === 'AWS/Lambda' ? ns : `"${ns}"`;
    return `SORT(SEARCH('{${schema},FunctionName} MetricName="${metricName}"', '${stat}'), ${sortBy}, DESC, 10)`;
  };
  const bar = (title: string, expression: string) =>
    new cloudwatch.GraphWidget({
      title,
      width: 8,
      height: 7,
      view: cloudwatch.GraphWidgetView.BAR,
      setPeriodToTimeRange: true,
      period: Duration.minutes(5),
      left: [new cloudwatch.MathExpression({ expression, label: '', period: Duration.minutes(5), usingMetrics: {} })],
    });
  const dashboard = new cloudwatch.Dashboard(scope, id, { dashboardName: `lambda-lens-fleet-${Aws.STACK_NAME}` });
  dashboard.addWidgets(
    new cloudwatch.TextWidget({
      width: 24,
      height: 3,
      markdown:
        "## Every function with lambda-lens, the ten worst by each question\nEach bar is one function over the dashboard's time range. " +
        `**${namespace}** (lambda-lens) holds timeouts, out-of-memory kills, cold starts, memory utilisation and estimated cost, ` +
        'for the functions with the layer attached; **AWS/Lambda** holds errors (timeouts and out-of-memory kills included) for every ' +
        'function. A function that starts publishing appears here by itself. The same ranking, with right-sizing savings, from your ' +
        'machine: `lambda-lens-report --all`.',
    }),
  );
  dashboard.addWidgets(
    bar('Which functions fail most? (errors)', search('AWS/Lambda', 'Errors', 'Sum', 'SUM')),
    bar('Which functions time out most? (timeouts)', search(namespace, 'Timeouts', 'Sum', 'SUM')),
    bar('Which functions are killed for memory? (out-of-memory kills)', search(namespace, 'OutOfMemory', 'Sum', 'SUM')),
  );
  dashboard.addWidgets(
    bar('Which functions cold-start most? (cold starts)', search(namespace, 'ColdStarts', 'Sum', 'SUM')),
    bar('Which functions come closest to their memory size? (max utilisation, %)', search(namespace, 'MemoryUtilization', 'Maximum', 'MAX')),
    bar('Which functions cost most? (USD, estimated)', search(namespace, 'EstimatedCost', 'Sum', 'SUM')),
  );
  return dashboard;
}
