import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import * as ecr from 'aws-cdk-lib/aws-ecr';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Match } from 'aws-cdk-lib/assertions';
import { LambdaLens, LambdaLensLayer } from '../src';
import { elfHeader, fn, layersFolder, newStack, template, tmp } from './helpers';

const ARN = (arch: string, variant = '', region = 'eu-west-1') =>
  `arn:aws:lambda:${region}:123456789012:layer:lambda-lens-${variant ? `${variant}-` : ''}${arch}:7`;
const ARM = lambda.Architecture.ARM_64;

/** The layers on a function, as synthesized. */
function layersOf(stack: ReturnType<typeof newStack>, f: lambda.Function): unknown {
  const id = stack.getLogicalId(f.node.defaultChild as lambda.CfnFunction);
  return (template(stack).toJSON().Resources[id].Properties as { Layers?: unknown }).Layers;
}

test('published ARNs: each function gets the layer of its own architecture (x86_64 and arm64)', () => {
  const stack = newStack({ env: { region: 'eu-west-1' } });
  const a = fn(stack, 'A');
  const b = fn(stack, 'B', ARM);
  const c = fn(stack, 'C');
  const lens = new LambdaLens(stack, 'Lens', { functions: [a, b, c], layer: LambdaLensLayer.fromArns({ x86_64: ARN('x86_64'), arm64: ARN('arm64') }) });
  assert.deepEqual(layersOf(stack, a), [ARN('x86_64')]);
  assert.deepEqual(layersOf(stack, b), [ARN('arm64')]);
  assert.deepEqual(layersOf(stack, c), [ARN('x86_64')]);
  assert.equal(lens.layers.size, 2, 'one layer per architecture');
});

test("a function's own layers are kept, lambda-lens's added", () => {
  const stack = newStack();
  const other = lambda.LayerVersion.fromLayerVersionArn(stack, 'Other', 'arn:aws:lambda:eu-west-1:123456789012:layer:other:1');
  const a = new lambda.Function(stack, 'A', { runtime: lambda.Runtime.PYTHON_3_13, handler: 'x.h', code: lambda.Code.fromInline('def h(e, c): pass'), layers: [other] });
  new LambdaLens(stack, 'Lens', { functions: [a], layer: LambdaLensLayer.fromArn(ARN('x86_64')) });
  assert.deepEqual(layersOf(stack, a), ['arn:aws:lambda:eu-west-1:123456789012:layer:other:1', ARN('x86_64')]);
});

test('an arm64 function with an x86_64 layer is a synth-time error naming both', () => {
  const stack = newStack();
  assert.throws(
    () => new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'A'), fn(stack, 'Graviton', ARM)], layer: LambdaLensLayer.fromArn(ARN('x86_64')) }),
    (e: Error) => /Test\/Graviton is arm64, but the layer .*lambda-lens-x86_64:7 is x86_64/.test(e.message) && /its own architecture/.test(e.message),
  );
  assert.throws(
    () => new LambdaLens(newStack(), 'Lens', { functions: [fn(stack, 'B', ARM)], layer: LambdaLensLayer.fromArns({ x86_64: ARN('x86_64') }) }),
    /is arm64, but no arm64 layer ARN was given \(fromArns has: x86_64\)/,
  );
  assert.throws(
    () => new LambdaLens(newStack(), 'Lens', { functions: [fn(stack, 'C', ARM)], layer: LambdaLensLayer.fromArn(ARN('x86_64'), { architecture: 'arm64' }) }),
    /named for x86_64 but was given as arm64/,
  );
});

test('an ARN whose name does not say its architecture needs one, and is checked against it', () => {
  const custom = 'arn:aws:lambda:eu-west-1:123456789012:layer:my-metrics:2';
  const s1 = newStack();
  assert.throws(() => new LambdaLens(s1, 'Lens', { functions: [fn(s1, 'A')], layer: LambdaLensLayer.fromArn(custom) }), /architecture of the layer .*my-metrics:2 is unknown/);
  const s2 = newStack();
  const a = fn(s2, 'A', ARM);
  new LambdaLens(s2, 'Lens', { functions: [a], layer: LambdaLensLayer.fromArn(custom, { architecture: 'arm64' }) });
  assert.deepEqual(layersOf(s2, a), [custom]);
  const s3 = newStack();
  assert.throws(() => new LambdaLens(s3, 'Lens', { functions: [fn(s3, 'A')], layer: LambdaLensLayer.fromArn(custom, { architecture: 'arm64' }) }), /is x86_64, but the layer/);
});

test("a layer of another region than the stack's is refused", () => {
  const stack = newStack({ env: { region: 'us-east-1' } });
  assert.throws(
    () => new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'A')], layer: LambdaLensLayer.fromArn(ARN('x86_64')) }),
    /is in eu-west-1, but Test\/A is in us-east-1/,
  );
});

test("a sink's layer variant: the default layer (or another variant) is refused for put-metric-data and otlp", () => {
  const s1 = newStack();
  assert.throws(
    () => new LambdaLens(s1, 'Lens', { functions: [fn(s1, 'A')], layer: LambdaLensLayer.fromArn(ARN('x86_64')), sink: 'put-metric-data' }),
    /needs the put-metric-data layer \(lambda-lens-put-metric-data-x86_64, `make layer SINK=put-metric-data`\), but .*lambda-lens-x86_64:7 is the default layer/,
  );
  const s0 = newStack();
  assert.throws(
    () => new LambdaLens(s0, 'Lens', { functions: [fn(s0, 'A')], layer: LambdaLensLayer.fromArn(ARN('x86_64', 'put-metric-data')), sink: 'otlp' }),
    /needs the otlp layer .* is the put-metric-data layer, which has no otlp sink/,
  );
  const s3 = newStack();
  assert.throws(
    () => new LambdaLens(s3, 'Lens', { functions: [fn(s3, 'A')], layer: LambdaLensLayer.fromArn(ARN('x86_64', 'otlp')), sink: ['put-metric-data', 'otlp'] }),
    /put-metric-data and otlp are in different layer variants/,
  );
  // Any variant writes EMF: the emf sink takes them all.
  const s4 = newStack();
  new LambdaLens(s4, 'Lens', { functions: [fn(s4, 'A')], layer: LambdaLensLayer.fromArn(ARN('x86_64', 'otlp')) });
  const s2 = newStack();
  const a = fn(s2, 'A');
  new LambdaLens(s2, 'Lens', { functions: [a], layer: LambdaLensLayer.fromArn(ARN('x86_64', 'put-metric-data')), sink: ['emf', 'put-metric-data'] });
  assert.deepEqual(layersOf(s2, a), [ARN('x86_64', 'put-metric-data')]);
});

// As docs/deploy.md shows make publish's dist/layers.json: version → region → the layer name
// less `lambda-lens-` → ARN.
const MANIFEST = {
  '0.1.0': { 'eu-west-1': { x86_64: ARN('x86_64').replace(':7', ':1') } },
  '0.10.0': {
    'eu-west-1': {
      x86_64: ARN('x86_64'),
      arm64: ARN('arm64'),
      'put-metric-data-x86_64': ARN('x86_64', 'put-metric-data'),
      'put-metric-data-arm64': ARN('arm64', 'put-metric-data'),
      'otlp-x86_64': ARN('x86_64', 'otlp'),
      'otlp-arm64': ARN('arm64', 'otlp'),
    },
    'us-east-1': { x86_64: ARN('x86_64', '', 'us-east-1'), arm64: ARN('arm64', '', 'us-east-1') },
  },
  '0.9.0': { 'eu-west-1': { x86_64: ARN('x86_64').replace(':7', ':9') } },
};

test("the manifest: the stack's region, each function's architecture, the newest version, the variant the sink needs", () => {
  const file = path.join(tmp(), 'layers.json');
  fs.writeFileSync(file, JSON.stringify(MANIFEST));
  const stack = newStack({ env: { region: 'eu-west-1' } });
  const a = fn(stack, 'A');
  const b = fn(stack, 'B', ARM);
  new LambdaLens(stack, 'Lens', { functions: [a, b], layer: LambdaLensLayer.fromManifest(file) });
  assert.deepEqual(layersOf(stack, a), [ARN('x86_64')]);
  assert.deepEqual(layersOf(stack, b), [ARN('arm64')]);

  const us = newStack({ env: { region: 'us-east-1' } });
  const c = fn(us, 'C', ARM);
  new LambdaLens(us, 'Lens', { functions: [c], layer: LambdaLensLayer.fromManifest(MANIFEST) });
  assert.deepEqual(layersOf(us, c), [ARN('arm64', '', 'us-east-1')]);

  const net = newStack({ env: { region: 'eu-west-1' } });
  const d = fn(net, 'D', ARM);
  new LambdaLens(net, 'Lens', { functions: [d], layer: LambdaLensLayer.fromManifest(MANIFEST), sink: ['emf', 'otlp'] });
  assert.deepEqual(layersOf(net, d), [ARN('arm64', 'otlp')]);
  const pmd = newStack({ env: { region: 'eu-west-1' } });
  const g = fn(pmd, 'G');
  new LambdaLens(pmd, 'Lens', { functions: [g], layer: LambdaLensLayer.fromManifest(MANIFEST), sink: 'put-metric-data' });
  assert.deepEqual(layersOf(pmd, g), [ARN('x86_64', 'put-metric-data')]);

  const old = newStack();
  const e = fn(old, 'E');
  new LambdaLens(old, 'Lens', { functions: [e], layer: LambdaLensLayer.fromManifest(MANIFEST, { version: '0.1.0', region: 'eu-west-1' }) });
  assert.deepEqual(layersOf(old, e), [ARN('x86_64').replace(':7', ':1')]);
});

test("the manifest's refusals name what it has", () => {
  const lens = (region: string | undefined, options = {}, arch = lambda.Architecture.X86_64, sink?: 'put-metric-data') => {
    const stack = newStack(region ? { env: { region } } : {});
    return () => new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'A', arch)], layer: LambdaLensLayer.fromManifest(MANIFEST, options), sink });
  };
  assert.throws(lens(undefined), /needs a region, and the stack has none/);
  assert.throws(lens('ap-south-1'), /no layer for ap-south-1 in version 0.10.0 \(its regions: eu-west-1, us-east-1\)/);
  assert.throws(lens('eu-west-1', { version: '9.9.9' }), /has no version 9.9.9 \(it has: 0.1.0, 0.10.0, 0.9.0\)/);
  assert.throws(lens('eu-west-1', { version: '0.1.0' }, ARM), /has no default arm64 layer in eu-west-1 for version 0.1.0/);
  assert.throws(lens('us-east-1', {}, ARM, 'put-metric-data'), /has no put-metric-data arm64 layer in us-east-1/);
  assert.throws(lens('eu-west-1', { variant: 'default' }, ARM, 'put-metric-data'), /needs the put-metric-data layer/);
  assert.throws(() => LambdaLensLayer.fromManifest(path.join(tmp(), 'missing.json')), /cannot read the layers manifest .*make publish/);
});

test('the built assets: target/layers/<arch> for each architecture, its binary checked by its ELF header', () => {
  const root = layersFolder('layers-ok', { x86_64: 62, arm64: 183, 'x86_64-put-metric-data': 62 });
  const stack = newStack();
  const a = fn(stack, 'A');
  const b = fn(stack, 'B', ARM);
  new LambdaLens(stack, 'Lens', { functions: [a, b], layer: LambdaLensLayer.fromAsset(root) });
  const t = template(stack);
  t.resourceCountIs('AWS::Lambda::LayerVersion', 2);
  t.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['x86_64'], LicenseInfo: 'Apache-2.0' });
  t.hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'] });
  t.hasResource('AWS::Lambda::LayerVersion', { DeletionPolicy: 'Retain' });
  const layerIds = Object.keys(t.findResources('AWS::Lambda::LayerVersion'));
  const x86Layer = layerIds.find((id) => id.includes('x8664'));
  const armLayer = layerIds.find((id) => id.includes('arm64'));
  assert.deepEqual(layersOf(stack, a), [{ Ref: x86Layer }]);
  assert.deepEqual(layersOf(stack, b), [{ Ref: armLayer }]);

  const net = newStack();
  new LambdaLens(net, 'Lens', { functions: [fn(net, 'A')], layer: LambdaLensLayer.fromAsset(root), sink: 'put-metric-data' });
  // The variant's folder is the asset: its hash differs from the default layer's.
  const assets = template(net).findResources('AWS::Lambda::LayerVersion', { Properties: { Content: { S3Key: Match.anyValue() } } });
  assert.equal(Object.keys(assets).length, 1);
  assert.throws(
    () => new LambdaLens(newStack(), 'Lens', { functions: [fn(newStack(), 'B', ARM)], layer: LambdaLensLayer.fromAsset(root), sink: 'put-metric-data' }),
    /needs the put-metric-data arm64 layer, and .*arm64-put-metric-data does not exist: build it with `make layer ARCH=arm64 SINK=put-metric-data`/,
  );
});

test('an asset whose binary is of the other architecture (or not a layer) is refused', () => {
  const swapped = layersFolder('layers-swapped', { x86_64: 62, arm64: 62 });
  const stack = newStack();
  assert.throws(
    () => new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'Graviton', ARM)], layer: LambdaLensLayer.fromAsset(swapped) }),
    /Test\/Graviton is arm64, but the layer .*layers-swapped\/arm64 is x86_64/,
  );
  const single = layersFolder('one-layer', { x86_64: 62 });
  const s2 = newStack();
  assert.throws(
    () => new LambdaLens(s2, 'Lens', { functions: [fn(s2, 'G', ARM)], layer: LambdaLensLayer.fromAsset(path.join(single, 'x86_64')) }),
    /is arm64, but the layer .*one-layer\/x86_64 is x86_64/,
  );
  const empty = path.join(tmp(), 'empty-layers');
  fs.mkdirSync(path.join(empty, 'x86_64'), { recursive: true });
  const s3 = newStack();
  assert.throws(() => new LambdaLens(s3, 'Lens', { functions: [fn(s3, 'A')], layer: LambdaLensLayer.fromAsset(empty) }), /holds no extensions\/lambda-lens, so it is not a built layer/);
  const s4 = newStack();
  assert.throws(() => new LambdaLens(s4, 'Lens', { functions: [fn(s4, 'A')], layer: LambdaLensLayer.fromAsset(path.join(tmp(), 'nowhere')) }), /does not exist: build it/);
});

/** A zip with one entry, deflated, as a layer zip is (the local header, the central directory, the end record). */
function zipOf(name: string, content: Buffer): Buffer {
  const zlib = require('node:zlib') as typeof import('node:zlib');
  const data = zlib.deflateRawSync(content);
  const n = Buffer.from(name);
  const local = Buffer.alloc(30);
  local.writeUInt32LE(0x04034b50, 0);
  local.writeUInt16LE(20, 4);
  local.writeUInt16LE(8, 8);
  local.writeUInt32LE(data.length, 18);
  local.writeUInt32LE(content.length, 22);
  local.writeUInt16LE(n.length, 26);
  const central = Buffer.alloc(46);
  central.writeUInt32LE(0x02014b50, 0);
  central.writeUInt16LE(8, 10);
  central.writeUInt32LE(data.length, 20);
  central.writeUInt32LE(content.length, 24);
  central.writeUInt16LE(n.length, 28);
  central.writeUInt32LE(0, 42);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(1, 8);
  end.writeUInt16LE(1, 10);
  end.writeUInt32LE(46 + n.length, 12);
  end.writeUInt32LE(30 + n.length + data.length, 16);
  return Buffer.concat([local, n, data, central, n, end]);
}

test('a layer zip: the binary inside is read for its architecture', () => {
  const arm = path.join(tmp(), 'lambda-lens-layer-arm64.zip');
  fs.writeFileSync(arm, zipOf('extensions/lambda-lens', Buffer.concat([elfHeader(183), Buffer.alloc(4096, 7)])));
  const stack = newStack();
  new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'A', ARM)], layer: LambdaLensLayer.fromAsset(arm) });
  template(stack).hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: ['arm64'] });
  const s2 = newStack();
  assert.throws(() => new LambdaLens(s2, 'Lens', { functions: [fn(s2, 'A')], layer: LambdaLensLayer.fromAsset(arm) }), /is x86_64, but the layer .*arm64.zip is arm64/);
  const other = path.join(tmp(), 'other.zip');
  fs.writeFileSync(other, zipOf('bootstrap', elfHeader(62)));
  const s3 = newStack();
  assert.throws(() => new LambdaLens(s3, 'Lens', { functions: [fn(s3, 'A')], layer: LambdaLensLayer.fromAsset(other) }), /has no extensions\/lambda-lens: it is not a lambda-lens layer/);
});

test('the layer zips make layer builds are read (both architectures: make cdk-test builds them)', () => {
  const zips = path.resolve(__dirname, '../../../target/layers');
  for (const [arch, a] of [['x86_64', lambda.Architecture.X86_64], ['arm64', ARM]] as const) {
    const zip = path.join(zips, `lambda-lens-layer-${arch}.zip`);
    assert.ok(fs.existsSync(zip), `${zip} is not built: run \`make layers\` (make cdk-test builds it)`);
    const stack = newStack();
    new LambdaLens(stack, 'Lens', { functions: [fn(stack, 'A', a)], layer: LambdaLensLayer.fromAsset(zip) });
    template(stack).hasResourceProperties('AWS::Lambda::LayerVersion', { CompatibleArchitectures: [arch] });
  }
});

test('functions the construct cannot change are refused with what to do instead', () => {
  const stack = newStack();
  const imported = lambda.Function.fromFunctionArn(stack, 'Imported', 'arn:aws:lambda:eu-west-1:123456789012:function:existing');
  assert.throws(() => new LambdaLens(stack, 'Lens', { functions: [imported], layer: LambdaLensLayer.fromArn(ARN('x86_64')) }), /not a function of this app.*monitor.yaml/);
  const repository = ecr.Repository.fromRepositoryName(stack, 'Repository', 'functions');
  const image = new lambda.DockerImageFunction(stack, 'Image', { code: lambda.DockerImageCode.fromEcr(repository) });
  assert.throws(() => new LambdaLens(stack, 'Lens2', { functions: [image], layer: LambdaLensLayer.fromArn(ARN('x86_64')) }), /container image function.*COPY --from/);
  assert.throws(() => new LambdaLens(stack, 'Lens3', { functions: [], layer: LambdaLensLayer.fromArn(ARN('x86_64')) }), /`functions` is empty/);
});

test('the default layer variant is `emf`, as make publish and the release name it (`default` too)', () => {
  for (const variant of ['emf', 'default']) {
    const stack = newStack({ env: { region: 'eu-west-1' } });
    const a = fn(stack, 'A');
    const b = fn(stack, 'B', ARM);
    new LambdaLens(stack, 'Lens', { functions: [a, b], layer: LambdaLensLayer.fromManifest(MANIFEST, { variant }) });
    assert.deepEqual(layersOf(stack, a), [ARN('x86_64')], variant);
    assert.deepEqual(layersOf(stack, b), [ARN('arm64')], variant);

    const root = layersFolder(`layers-${variant}`, { x86_64: 62, 'x86_64-put-metric-data': 62 });
    const asset = newStack();
    new LambdaLens(asset, 'Lens', { functions: [fn(asset, 'A')], layer: LambdaLensLayer.fromAsset(root, { variant }) });
    template(asset).resourceCountIs('AWS::Lambda::LayerVersion', 1);

    // Named `emf`, the default layer is still refused for a sink it lacks.
    const net = newStack();
    assert.throws(
      () =>
        new LambdaLens(net, 'Lens', {
          functions: [fn(net, 'A')],
          layer: LambdaLensLayer.fromArn('arn:aws:lambda:eu-west-1:123456789012:layer:my-layer:7', { architecture: 'x86_64', variant }),
          sink: 'put-metric-data',
        }),
      /needs the put-metric-data layer .* is the default layer/,
    );
    const arns = newStack();
    assert.throws(
      () =>
        new LambdaLens(arns, 'Lens', {
          functions: [fn(arns, 'A')],
          layer: LambdaLensLayer.fromArns({ x86_64: 'arn:aws:lambda:eu-west-1:123456789012:layer:my-layer:7' }, { variant }),
          sink: 'put-metric-data',
        }),
      /needs the put-metric-data layer .* is the default layer/,
      variant,
    );
  }
});
