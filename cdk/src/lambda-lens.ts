import { Annotations, CfnResource, Names, Stack, Token, Validations } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as sns from 'aws-cdk-lib/aws-sns';
import { Construct } from 'constructs';
import { selectMetrics } from './catalogue';
import { DEFAULT_THRESHOLDS, functionAlarms, LambdaLensAlarms } from './alarms';
import { ALARM_METRICS, DASHBOARD_METRICS, FLEET_METRICS, functionDashboard, fleetDashboard } from './dashboards';
import { LambdaLensArchitecture, LambdaLensLayer } from './layer';

/** Where lambda-lens sends the metrics (`LAMBDA_LENS_SINK`). */
export type LambdaLensSink = 'emf' | 'put-metric-data' | 'otlp';

/**
 * The sinks that send over the network, each built into a layer variant of its own name
 * (`make layer SINK=<sink>`, published as `lambda-lens-<sink>-<arch>`); no variant has both.
 */
export const NETWORKED_SINKS: readonly LambdaLensSink[] = ['put-metric-data', 'otlp'];

const SINKS: readonly LambdaLensSink[] = ['emf', ...NETWORKED_SINKS];

/** The metrics template.yaml selects: the default 8 and dropped telemetry, for its alarm. */
export const DEFAULT_METRICS = 'default,LogsDroppedRecords';

export interface LambdaLensProps {
  /** The functions to attach lambda-lens to (each a `lambda.Function` of this app, x86_64 or arm64). */
  readonly functions: lambda.IFunction[];
  /** Where the layer comes from: `LambdaLensLayer.fromArns`, `fromArn`, `fromManifest` or `fromAsset`. */
  readonly layer: LambdaLensLayer;
  /** `LAMBDA_LENS_NAMESPACE`. @default 'LambdaLens' */
  readonly namespace?: string;
  /**
   * `LAMBDA_LENS_SINK`: one sink or several (emf with one of the others). put-metric-data and
   * otlp each need their layer variant; put-metric-data grants each function's role
   * `cloudwatch:PutMetricData` for the namespace only, otlp to CloudWatch's endpoint (no
   * endpoint given, or a monitoring.<region>.amazonaws.com one; or LAMBDA_LENS_OTLP_AUTH=sigv4)
   * grants it with no namespace condition, otlp elsewhere grants nothing.
   * @default 'emf'
   */
  readonly sink?: LambdaLensSink | LambdaLensSink[];
  /** With otlp: `OTEL_EXPORTER_OTLP_METRICS_ENDPOINT`. @default - the region's CloudWatch OTLP endpoint, signed with SigV4 */
  readonly otlpEndpoint?: string;
  /** With otlp: `OTEL_EXPORTER_OTLP_HEADERS` (key=value pairs), written as plain text into the template and the function's configuration. @default - none */
  readonly otlpHeaders?: string;
  /** `LAMBDA_LENS_METRICS` (names, groups, `default`, `all`, `-` removes). @default 'default,LogsDroppedRecords' */
  readonly metrics?: string | string[];
  /** `LAMBDA_LENS_DIMENSIONS`, as dimension sets of keys. @default - the extension's: [['FunctionName']] */
  readonly dimensions?: string[][];
  /** `LAMBDA_LENS_STATIC_DIMENSIONS`. @default - none */
  readonly staticDimensions?: Record<string, string>;
  /** `LAMBDA_LENS_OUTPUT`. @default - the extension's: 'adaptive' */
  readonly output?: 'adaptive' | 'per-invocation' | 'batched';
  /** Any other of lambda-lens's variables (docs/configuration.md), set as given. @default - none */
  readonly environment?: Record<string, string>;
  /** A dashboard per function (`lambda-lens-<function>`), as template.yaml's. @default true */
  readonly dashboard?: boolean;
  /** The fleet dashboard (`lambda-lens-fleet-<stack>`): every function that publishes to the namespace. @default false */
  readonly fleetDashboard?: boolean;
  /** template.yaml's six alarms for each function. @default true */
  readonly alarms?: boolean;
  /** An SNS topic the alarms notify (template.yaml's AlarmTopicArn). @default - none */
  readonly alarmTopic?: sns.ITopic;
  /** Alarm when more than this percentage of invocations fail. @default 5 */
  readonly errorRateThreshold?: number;
  /** Alarm when at least this many invocations are throttled in 5 minutes. @default 1 */
  readonly throttlesThreshold?: number;
  /** Alarm when the p99 duration exceeds this many milliseconds. @default 8000 */
  readonly durationP99Threshold?: number;
  /** Alarm when an invocation uses more than this percentage of the memory size. @default 90 */
  readonly memoryUtilizationThreshold?: number;
  /** Alarm when at least this many invocations are killed for memory in 5 minutes. @default 1 */
  readonly outOfMemoryThreshold?: number;
  /** Alarm when Lambda drops at least this many telemetry records in 5 minutes. @default 1 */
  readonly droppedTelemetryThreshold?: number;
}

/** What the construct needs of a function: a `lambda.Function` (or anything with its methods) of this app. */
type Attachable = lambda.IFunction & {
  addLayers(...layers: lambda.ILayerVersion[]): void;
  addEnvironment(key: string, value: string): unknown;
};

const NAMESPACE = /^[A-Za-z0-9.\-_/#:]{1,255}$/;
const fleetStacks = new WeakSet<Stack>();

/**
 * lambda-lens on a set of functions: the layer (one per architecture, checked against each
 * function's), its variables, and template.yaml's dashboard and alarms for each function; the
 * fleet dashboard on request; `cloudwatch:PutMetricData` only for a networked sink.
 */
export class LambdaLens extends Construct {
  /** The namespace the functions write to. */
  readonly namespace: string;
  /** `LAMBDA_LENS_SINK` as set. */
  readonly sink: string;
  /** The layer attached to each architecture's functions. */
  readonly layers: ReadonlyMap<LambdaLensArchitecture, lambda.ILayerVersion>;
  /** Each function's dashboard, in the order of `functions`. */
  readonly dashboards: cloudwatch.Dashboard[] = [];
  /** The fleet dashboard, with `fleetDashboard: true`. */
  readonly fleetDashboard?: cloudwatch.Dashboard;
  /** The `cloudwatch:PutMetricData` policy: with put-metric-data, or otlp to CloudWatch's endpoint. */
  readonly putMetricDataPolicy?: iam.Policy;
  private readonly alarmsByFunction = new Map<lambda.IFunction, LambdaLensAlarms>();

  constructor(scope: Construct, id: string, props: LambdaLensProps) {
    super(scope, id);
    if (props.functions.length === 0) {
      throw new Error('lambda-lens: `functions` is empty: give the functions to attach lambda-lens to.');
    }
    this.namespace = props.namespace ?? 'LambdaLens';
    if (!Token.isUnresolved(this.namespace) && (!NAMESPACE.test(this.namespace) || this.namespace.startsWith('AWS/'))) {
      throw new Error(
        `lambda-lens: the namespace "${this.namespace}" is not one lambda-lens accepts (1-255 characters of letters, digits and ` +
          '. - _ / # :, not starting with AWS/): the extension would write to LambdaLens instead, and the dashboards would be empty.',
      );
    }
    const sinks = typeof props.sink === 'string' ? [props.sink] : (props.sink ?? ['emf']);
    for (const s of sinks) {
      if (!SINKS.includes(s)) {
        throw new Error(`lambda-lens: unknown sink "${s}": the sinks are ${SINKS.join(', ')}.`);
      }
    }
    if (sinks.length === 0) {
      throw new Error(`lambda-lens: \`sink\` is empty: give one or more of ${SINKS.join(', ')}.`);
    }
    this.sink = [...new Set(sinks)].join(',');
    const variants = NETWORKED_SINKS.filter((s) => sinks.includes(s));
    if (variants.length > 1) {
      throw new Error(
        `lambda-lens: the sinks ${variants.join(' and ')} are in different layer variants, and a function has one: ` +
          'choose one of them (each with emf if you like).',
      );
    }
    const variant = variants[0] ?? 'default';
    const putMetricData = variant === 'put-metric-data';
    const cloudWatchOtlp = variant === 'otlp' && this.signsForCloudWatch(props);
    if ((props.otlpEndpoint !== undefined || props.otlpHeaders !== undefined) && variant !== 'otlp') {
      throw new Error('lambda-lens: `otlpEndpoint` and `otlpHeaders` are for the otlp sink, which `sink` does not name.');
    }

    const metrics = Array.isArray(props.metrics) ? props.metrics.join(',') : (props.metrics ?? DEFAULT_METRICS);
    const selection = selectMetrics(metrics);
    if (selection.unknown.length > 0) {
      throw new Error(
        `lambda-lens: \`metrics\` names ${selection.unknown.join(', ')}, which are not metrics or groups of lambda-lens ` +
          '(docs/metrics.md lists them; the groups are core, detail, resources, cost, extension, and default, all).',
      );
    }
    if (selection.metrics.size === 0) {
      throw new Error(`lambda-lens: \`metrics\` "${metrics}" selects no metric (to write none, leave the layer out).`);
    }

    const environment: Record<string, string> = {
      LAMBDA_LENS_NAMESPACE: this.namespace,
      LAMBDA_LENS_SINK: this.sink,
      LAMBDA_LENS_METRICS: metrics,
    };
    if (props.dimensions !== undefined) {
      environment.LAMBDA_LENS_DIMENSIONS = props.dimensions.map((set) => set.join(',')).join(';');
      if (!props.dimensions.some((set) => set.length === 1 && set[0] === 'FunctionName')) {
        this.warn(
          'dimensions',
          'the dashboards and alarms read the dimension set {FunctionName}, which `dimensions` leaves out: they would be empty.',
        );
      }
    }
    if (props.staticDimensions !== undefined) {
      environment.LAMBDA_LENS_STATIC_DIMENSIONS = Object.entries(props.staticDimensions)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
    }
    if (props.output !== undefined) {
      environment.LAMBDA_LENS_OUTPUT = props.output;
    }
    if (props.otlpEndpoint !== undefined) {
      environment.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT = props.otlpEndpoint;
    }
    if (props.otlpHeaders !== undefined) {
      environment.OTEL_EXPORTER_OTLP_HEADERS = props.otlpHeaders;
    }
    Object.assign(environment, props.environment ?? {});

    const wantDashboard = props.dashboard ?? true;
    const wantAlarms = props.alarms ?? true;
    const wantFleet = props.fleetDashboard ?? false;
    const read = new Set<string>([
      ...(wantDashboard ? DASHBOARD_METRICS : []),
      ...(wantAlarms ? ALARM_METRICS : []),
      ...(wantFleet ? FLEET_METRICS : []),
    ]);
    const unselected = [...read].filter((name) => !selection.metrics.has(name));
    if (!sinks.includes('emf') && !putMetricData && (wantDashboard || wantAlarms)) {
      this.warn(
        'otlp-only',
        "the dashboards and alarms read the namespace's CloudWatch metrics, which the otlp sink alone does not write: " +
          "they would be empty (sink: ['emf', 'otlp'] keeps them; OTel metrics are queried with PromQL).",
      );
    }
    if (unselected.length > 0) {
      this.warn(
        'metrics',
        `the dashboards or alarms read ${unselected.join(', ')}, which \`metrics\` ("${metrics}") leaves as log properties: ` +
          'those widgets and alarms would have no data.',
      );
    }

    const layers = new Map<LambdaLensArchitecture, lambda.ILayerVersion>();
    const roles = new Map<string, iam.IRole>();
    for (const fn of props.functions) {
      const target = attachable(fn);
      const architecture = architectureOf(fn);
      let layer = layers.get(architecture);
      if (layer === undefined) {
        // One layer per architecture: the first function of each names it in the source's errors.
        layer = props.layer.bind(this, { architecture, variant, functionPath: fn.node.path }).layer;
        layers.set(architecture, layer);
      }
      target.addLayers(layer);
      for (const [key, value] of Object.entries(environment)) {
        target.addEnvironment(key, value);
      }
      if (putMetricData || cloudWatchOtlp) {
        if (fn.role === undefined) {
          throw new Error(`lambda-lens: ${fn.node.path} has no role to grant cloudwatch:PutMetricData to, which its ${variant} sink needs.`);
        }
        roles.set(fn.role.node.path, fn.role);
      }

      const facts = factsOf(fn);
      // Named by the function's id (its unique path only when two functions share an id).
      const shared = props.functions.filter((f) => f.node.id === fn.node.id).length > 1;
      const scope = new Construct(this, shared ? Names.uniqueId(fn) : fn.node.id);
      if (wantDashboard) {
        this.dashboards.push(functionDashboard(scope, 'Dashboard', this.namespace, facts));
      }
      if (wantAlarms) {
        this.alarmsByFunction.set(fn, functionAlarms(scope, this.namespace, facts.functionName, props));
        const threshold = props.durationP99Threshold ?? DEFAULT_THRESHOLDS.durationP99Threshold;
        if (threshold >= facts.timeoutMs) {
          // Lambda stops an invocation at its timeout, so no duration exceeds it.
          this.warn(
            'duration-threshold',
            `the p99 duration alarm of ${fn.node.path} is at ${threshold} ms, and its timeout is ${facts.timeoutMs} ms: ` +
              'it can never fire. Set durationP99Threshold below the timeout (template.yaml uses 80 % of it).',
          );
        }
      }
    }
    this.layers = layers;

    if (putMetricData || cloudWatchOtlp) {
      // Only that one action, as template.yaml grants it: for put-metric-data, for this namespace
      // only; for OTLP to CloudWatch's endpoint, with no condition, since a cloudwatch:namespace
      // condition denies OTLP ingest (its requests carry no namespace: (a) CloudWatch user guide,
      // "Using condition keys to limit access to CloudWatch namespaces"). Until the policy is
      // attached, a refused request is written as EMF instead (the extension's fallback).
      const policy = new iam.Policy(this, putMetricData ? 'PutMetricData' : 'Otlp', {
        statements: [
          new iam.PolicyStatement({
            actions: ['cloudwatch:PutMetricData'],
            resources: ['*'],
            conditions: putMetricData ? { StringEquals: { 'cloudwatch:namespace': this.namespace } } : undefined,
          }),
        ],
      });
      for (const role of roles.values()) {
        policy.attachToRole(role);
      }
      Validations.of(policy).acknowledge({
        id: 'AwsSolutions-IAM5[Resource::*]',
        reason:
          'cloudwatch:PutMetricData has no resource-level permission (IAM: actions, resources and condition keys for CloudWatch, (a)), ' +
          (putMetricData
            ? "so its resource is *; the cloudwatch:namespace condition scopes it to lambda-lens's namespace only."
            : 'so its resource is *; OTLP ingest is refused under a cloudwatch:namespace condition, so it has none.'),
      });
      this.putMetricDataPolicy = policy;
    }

    if (wantFleet) {
      const stack = Stack.of(this);
      if (fleetStacks.has(stack)) {
        throw new Error(
          `lambda-lens: ${stack.node.path} already has a fleet dashboard (lambda-lens-fleet-<stack>); it covers every function, so one a stack is enough.`,
        );
      }
      fleetStacks.add(stack);
      this.fleetDashboard = fleetDashboard(this, 'FleetDashboard', this.namespace);
    }
  }

  /** The six alarms of a function given in `functions` (none with `alarms: false`). */
  alarmsOf(fn: lambda.IFunction): LambdaLensAlarms | undefined {
    return this.alarmsByFunction.get(fn);
  }

  /** Every alarm, for every function. */
  get alarms(): cloudwatch.Alarm[] {
    return [...this.alarmsByFunction.values()].flatMap((a) => Object.values(a) as cloudwatch.Alarm[]);
  }

  /**
   * Whether the OTLP sink signs its exports with the function's credentials, as the extension
   * decides it (docs/configuration.md): `LAMBDA_LENS_OTLP_AUTH`, else SigV4 for CloudWatch's
   * endpoint (no endpoint given, or a `monitoring.<region>.amazonaws.com` host) and none elsewhere.
   */
  private signsForCloudWatch(props: LambdaLensProps): boolean {
    const env = props.environment ?? {};
    const auth = env.LAMBDA_LENS_OTLP_AUTH;
    if (auth !== undefined && !Token.isUnresolved(auth)) {
      return auth.trim().toLowerCase() === 'sigv4';
    }
    const endpoint = props.otlpEndpoint ?? env.OTEL_EXPORTER_OTLP_METRICS_ENDPOINT ?? env.OTEL_EXPORTER_OTLP_ENDPOINT;
    if (endpoint === undefined) {
      return true;
    }
    if (Token.isUnresolved(endpoint)) {
      this.warn(
        'otlp-endpoint',
        'the OTLP endpoint is known only at deploy time, so no permission is granted: for CloudWatch\'s endpoint, grant ' +
          'cloudwatch:PutMetricData to the functions\' roles yourself.',
      );
      return false;
    }
    let url: URL | undefined;
    try {
      url = new URL(endpoint);
    } catch {
      url = undefined;
    }
    if (url === undefined || (url.protocol !== 'http:' && url.protocol !== 'https:')) {
      throw new Error(`lambda-lens: the OTLP endpoint "${endpoint}" is not a URL (http:// or https://).`);
    }
    const host = url.hostname;
    return /^monitoring\.[a-z0-9-]+\.amazonaws\.com(\.cn)?$/.test(host);
  }

  private warn(id: string, message: string): void {
    Annotations.of(this).addWarningV2(`lambda-lens:${id}`, `lambda-lens: ${message}`);
  }
}

function attachable(fn: lambda.IFunction): Attachable {
  const candidate = fn as Partial<Attachable>;
  if (typeof candidate.addLayers !== 'function' || typeof candidate.addEnvironment !== 'function') {
    throw new Error(
      `lambda-lens: ${fn.node.path} is not a function of this app (an imported function cannot be given a layer or variables): ` +
        'attach the layer where the function is defined, or use monitor.yaml for the dashboard and alarms of existing functions.',
    );
  }
  if (cfnFunctionOf(fn)?.packageType === 'Image') {
    throw new Error(
      `lambda-lens: ${fn.node.path} is a container image function, which cannot use layers: copy the extension into the image ` +
        '(COPY --from=<the lambda-lens image> /opt/extensions /opt/extensions), and keep the construct for the others.',
    );
  }
  return candidate as Attachable;
}

/**
 * The function's L1 resource, read by its CloudFormation type rather than `instanceof
 * lambda.CfnFunction`: an app with its own copy of aws-cdk-lib (a `file:` dependency on this
 * package) makes its functions from that copy's classes, which `instanceof` this copy's refuses.
 * CfnFunction's `timeout`, `memorySize` and `packageType` fields are the same on every copy.
 */
function cfnFunctionOf(fn: lambda.IFunction): Partial<Pick<lambda.CfnFunction, 'timeout' | 'memorySize' | 'packageType'>> | undefined {
  const cfn = fn.node.defaultChild;
  if (cfn === undefined || !CfnResource.isCfnResource(cfn) || cfn.cfnResourceType !== lambda.CfnFunction.CFN_RESOURCE_TYPE_NAME) {
    return undefined;
  }
  return cfn as unknown as Partial<Pick<lambda.CfnFunction, 'timeout' | 'memorySize' | 'packageType'>>;
}

function architectureOf(fn: lambda.IFunction): LambdaLensArchitecture {
  const name = fn.architecture?.name;
  if (name === 'x86_64' || name === 'arm64') {
    return name;
  }
  throw new Error(`lambda-lens: ${fn.node.path} has the architecture ${name}; lambda-lens's layers are x86_64 and arm64.`);
}

/** The function's name, timeout and memory size as deployed (Lambda's defaults: 3 s, 128 MB). */
function factsOf(fn: lambda.IFunction): { functionName: string; timeoutMs: number; memorySizeMb: number } {
  const cfn = cfnFunctionOf(fn);
  const timeout = cfn?.timeout;
  const memory = cfn?.memorySize;
  return {
    functionName: fn.functionName,
    timeoutMs: (typeof timeout === 'number' && !Token.isUnresolved(timeout) ? timeout : 3) * 1000,
    memorySizeMb: typeof memory === 'number' && !Token.isUnresolved(memory) ? memory : 128,
  };
}
