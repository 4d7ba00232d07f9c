import * as fs from 'node:fs';
import * as path from 'node:path';
import { CfnOutput, Duration, RemovalPolicy, Stack, StackProps } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import { LambdaLens, LambdaLensLayer, LambdaLensProps } from '../src';

export interface ExampleStackProps extends StackProps {
  /** The repository's root: the layers and the sample function are built under its target/. */
  readonly repoRoot: string;
  /** Passed to the construct as they are (the sink, the thresholds, the fleet dashboard...). */
  readonly lens?: Partial<LambdaLensProps>;
}

/**
 * The sample function (`make layer`'s target/function[-arm64]/bootstrap, provided.al2023) on both
 * architectures, with lambda-lens attached from the built layers (target/layers/<arch>): a mixed
 * fleet gets one layer per architecture. Each function has its own log group and a role that may
 * write to it and to nothing else (EMF needs only that).
 */
export class LambdaLensExampleStack extends Stack {
  readonly lens: LambdaLens;
  readonly functions: lambda.Function[];

  constructor(scope: Construct, id: string, props: ExampleStackProps) {
    super(scope, id, props);
    const target = path.join(props.repoRoot, 'target');
    this.functions = (['x86_64', 'arm64'] as const).map((arch) => {
      const code = path.join(target, arch === 'arm64' ? 'function-arm64' : 'function');
      if (!fs.existsSync(path.join(code, 'bootstrap'))) {
        throw new Error(`the sample function is not built at ${code}: run \`make layer ARCH=${arch}\` (make cdk-synth does).`);
      }
      const logGroup = new logs.LogGroup(this, `SampleFunctionLogs-${arch}`, {
        retention: logs.RetentionDays.ONE_MONTH,
        removalPolicy: RemovalPolicy.DESTROY,
      });
      const role = new iam.Role(this, `SampleFunctionRole-${arch}`, {
        assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
        description: 'The sample function: writes to its own log group only',
      });
      // logs:CreateLogStream and logs:PutLogEvents on this group's streams: what EMF needs.
      logGroup.grantWrite(role);
      return new lambda.Function(this, `SampleFunction-${arch}`, {
        runtime: lambda.Runtime.PROVIDED_AL2023,
        handler: 'bootstrap',
        code: lambda.Code.fromAsset(code),
        architecture: arch === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64,
        // As template.yaml's: enough for every demo payload (a 64 MB allocation, a 1 s sleep).
        memorySize: 256,
        timeout: Duration.seconds(10),
        role,
        logGroup,
      });
    });

    this.lens = new LambdaLens(this, 'LambdaLens', {
      functions: this.functions,
      layer: LambdaLensLayer.fromAsset(path.join(target, 'layers')),
      fleetDashboard: true,
      ...props.lens,
    });

    for (const [arch, layer] of this.lens.layers) {
      new CfnOutput(this, `LayerArn-${arch}`, { value: layer.layerVersionArn, description: `The lambda-lens layer (${arch})` });
    }
    this.functions.forEach((fn, i) => {
      new CfnOutput(this, `FunctionName-${fn.architecture.name}`, { value: fn.functionName });
      new CfnOutput(this, `Dashboard-${fn.architecture.name}`, { value: this.lens.dashboards[i].dashboardName });
    });
  }
}
