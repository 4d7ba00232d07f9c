import * as path from 'node:path';
import { App } from 'aws-cdk-lib';
import { LambdaLensExampleStack } from './stack';

// `node lib/example/app.js [OUTDIR]` (make cdk-synth: target/cdk.out), or `cdk synth` with cdk.json.
// Environment-agnostic: no AWS account or credentials are needed to synthesize it.
const outdir = process.argv[2] ?? process.env.CDK_OUTDIR;
const app = new App(outdir === undefined ? {} : { outdir });
new LambdaLensExampleStack(app, 'LambdaLensExample', { repoRoot: path.resolve(__dirname, '..', '..', '..') });
app.synth();
