import * as assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { LambdaLens, LambdaLensLayer } from '../src';
import { flatten, functionCode } from './helpers';

const X86 = 'arn:aws:lambda:eu-west-1:123456789012:layer:lambda-lens-x86_64:3';

type Cdk = typeof import('aws-cdk-lib');
type Lambda = typeof import('aws-cdk-lib/aws-lambda');
type Ecr = typeof import('aws-cdk-lib/aws-ecr');
type Assertions = typeof import('aws-cdk-lib/assertions');

/**
 * A second copy of aws-cdk-lib, as an app that depends on this package with `file:` has (its own
 * node_modules/aws-cdk-lib beside ours): the same files hard-linked under another path, so Node
 * loads them as other modules with other classes. It sits under cdk/lib so that its `constructs`
 * resolves to cdk/node_modules's, and so that hard links stay on one file system.
 */
function foreignCopy(): { cdk: Cdk; lambda: Lambda; ecr: Ecr; assertions: Assertions } {
  const ours = path.dirname(require.resolve('aws-cdk-lib/package.json'));
  const root = path.resolve(__dirname, '..', '.foreign-cdk');
  fs.rmSync(root, { recursive: true, force: true });
  fs.mkdirSync(path.join(root, 'node_modules'), { recursive: true });
  process.on('exit', () => fs.rmSync(root, { recursive: true, force: true }));
  const theirs = path.join(root, 'node_modules', 'aws-cdk-lib');
  execFileSync('cp', ['-al', ours, theirs]);
  const load = (sub: string): unknown => require(require.resolve(sub, { paths: [root] }));
  return {
    cdk: load('aws-cdk-lib') as Cdk,
    lambda: load('aws-cdk-lib/aws-lambda') as Lambda,
    ecr: load('aws-cdk-lib/aws-ecr') as Ecr,
    assertions: load('aws-cdk-lib/assertions') as Assertions,
  };
}

test("an app's own copy of aws-cdk-lib: the function's timeout, memory size and package type are still read", () => {
  const { cdk, lambda, ecr, assertions } = foreignCopy();
  const ourLambda = require('aws-cdk-lib/aws-lambda') as Lambda;
  assert.notEqual(lambda.CfnFunction, ourLambda.CfnFunction, 'the copy is another module instance');

  const stack = new cdk.Stack(new cdk.App(), 'Test', { env: { region: 'eu-west-1' } });
  const code = (functionCode() as unknown as { path: string }).path;
  const make = (id: string, seconds: number) =>
    new lambda.Function(stack, id, {
      runtime: lambda.Runtime.PROVIDED_AL2023,
      handler: 'bootstrap',
      code: lambda.Code.fromAsset(code),
      timeout: cdk.Duration.seconds(seconds),
      memorySize: 1024,
    });
  const f = make('Short', 5);
  const long = make('Long', 10);
  assert.ok(!(f.node.defaultChild instanceof ourLambda.CfnFunction));
  // The construct's types are our copy's; the other copy's Function is the same shape.
  new LambdaLens(stack as never, 'Lens', { functions: [f as never, long as never], dashboard: true, layer: LambdaLensLayer.fromArn(X86) });

  const template = assertions.Template.fromStack(stack);
  const bodies = Object.values(template.findResources('AWS::CloudWatch::Dashboard'))
    .map((r) => flatten((r as { Properties: { DashboardBody: unknown } }).Properties.DashboardBody))
    .filter((body) => body.includes('## {Short'));
  assert.equal(bodies.length, 1);
  assert.match(bodies[0], /against the 5 s timeout/);
  assert.match(bodies[0], /"label":"Timeout","value":5000/);
  assert.match(bodies[0], /"label":"Memory size","value":1024/);
  // The default p99 threshold (8000 ms) is above a 5 s timeout: the warning names 5000 ms, not Lambda's default 3 s.
  // A 10 s function (template.yaml's) has no such warning.
  const warned = assertions.Annotations.fromStack(stack).findWarning('*', assertions.Match.stringLikeRegexp('p99 duration alarm of Test/Short is at 8000 ms, and its timeout is 5000 ms'));
  assert.equal(warned.length, 1);
  const falseAlarm = assertions.Annotations.fromStack(stack).findWarning('*', assertions.Match.stringLikeRegexp('p99 duration alarm of Test/Long'));
  assert.deepEqual(falseAlarm, []);

  const repository = ecr.Repository.fromRepositoryName(stack, 'Repository', 'functions');
  const image = new lambda.DockerImageFunction(stack, 'Image', { code: lambda.DockerImageCode.fromEcr(repository) });
  assert.throws(
    () => new LambdaLens(stack as never, 'Lens2', { functions: [image as never], layer: LambdaLensLayer.fromArn(X86) }),
    /container image function.*COPY --from/,
  );
});
