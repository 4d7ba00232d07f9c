import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { RemovalPolicy, Stack, Token } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { Construct } from 'constructs';

/** Lambda's names for the two architectures, as in layer names and `dist/layers.json`. */
export type LambdaLensArchitecture = 'x86_64' | 'arm64';

export const ARCHITECTURES: readonly LambdaLensArchitecture[] = ['x86_64', 'arm64'];

/**
 * A layer variant: `emf` (EMF only; the layer `lambda-lens-<arch>`; `default` is another name for
 * it) or the name of the sink a variant adds (`put-metric-data`, `otlp`; the layer
 * `lambda-lens-<variant>-<arch>`). Every variant writes EMF too.
 */
export type LayerVariant = string;

/**
 * The variant as the construct names it internally: `make publish`, the release and the Makefile's
 * SINK call the default layer `emf`, earlier releases of the construct `default`; both are accepted.
 */
function canonicalVariant(variant: LayerVariant | undefined): LayerVariant | undefined {
  return variant === 'emf' ? 'default' : variant;
}

/** What a function needs of the layer: its architecture, and the variant its sink needs. */
export interface LayerRequest {
  readonly architecture: LambdaLensArchitecture;
  /** The variant the sink needs: `default` when any layer will do (the EMF sink). */
  readonly variant: LayerVariant;
  /** The function it is for, named in errors. */
  readonly functionPath: string;
}

/** A layer for one architecture, as the construct attaches it. */
export interface BoundLayer {
  readonly layer: lambda.ILayerVersion;
  /** Where it came from, for error messages (an ARN, a path). */
  readonly source: string;
}

/** Options of `LambdaLensLayer.fromArn`. */
export interface LayerArnOptions {
  /**
   * The layer's architecture.
   * @default - read from the layer name (`lambda-lens-<arch>`, `lambda-lens-<variant>-<arch>`);
   *   required when the name does not say it
   */
  readonly architecture?: LambdaLensArchitecture;
  /**
   * The layer's variant (`emf`, also called `default`; `put-metric-data`, `otlp`).
   * @default - read from the layer name (`lambda-lens-<variant>-<arch>`); unknown otherwise, and then not checked
   */
  readonly variant?: LayerVariant;
}

/** Options of `LambdaLensLayer.fromManifest`. */
export interface LayerManifestOptions {
  /** @default - the highest version in the manifest */
  readonly version?: string;
  /** @default - the stack's region (which must then be set: `env: { region }`) */
  readonly region?: string;
  /**
   * The layer variant: `emf` (`lambda-lens-<arch>`; `default` is another name for it) or a
   * variant's name (`lambda-lens-<variant>-<arch>`: `put-metric-data`, `otlp`).
   * @default - the variant the sink needs: `emf` for emf, else the sink's (`put-metric-data`, `otlp`)
   */
  readonly variant?: string;
}

/** Options of `LambdaLensLayer.fromAsset`. */
export interface LayerAssetOptions {
  /**
   * With a folder of built layers (`target/layers`), the variant folder to use:
   * `<path>/<arch>-<variant>`.
   * @default - the variant the sink needs: `<path>/<arch>` for emf, else `<path>/<arch>-<sink>`
   */
  readonly variant?: string;
}

/** `dist/layers.json`: version → region → architecture (and variant) → layer version ARN. */
export type LayersManifest = { readonly [version: string]: unknown };

/**
 * Where the lambda-lens layer comes from: published layer versions (ARNs, or the
 * `dist/layers.json` manifest `make publish` writes), or the layer built by `make layer`
 * (`target/layers/<arch>`), deployed as an asset. Each source gives one layer per architecture
 * and refuses, at synth time, a layer of the wrong architecture.
 */
export abstract class LambdaLensLayer {
  /** A published layer version. The architecture comes from its name or from `options`. */
  static fromArn(arn: string, options: LayerArnOptions = {}): LambdaLensLayer {
    return new ArnLayers({ single: { arn, options: { ...options, variant: canonicalVariant(options.variant) } } });
  }

  /** Published layer versions, one per architecture; a function of an architecture left out is an error. */
  static fromArns(arns: { readonly x86_64?: string; readonly arm64?: string }, options: { readonly variant?: LayerVariant } = {}): LambdaLensLayer {
    return new ArnLayers({ perArchitecture: arns, variant: canonicalVariant(options.variant) });
  }

  /** The layer versions `make publish` wrote to `dist/layers.json` (a path, or the parsed JSON). */
  static fromManifest(manifest: string | LayersManifest, options: LayerManifestOptions = {}): LambdaLensLayer {
    const parsed = typeof manifest === 'string' ? readManifest(manifest) : { json: manifest, source: 'the manifest' };
    return new ManifestLayers(parsed.json, parsed.source, { ...options, variant: canonicalVariant(options.variant) });
  }

  /**
   * The layer as built: a folder of layers (`target/layers`, holding `x86_64/`, `arm64/` and
   * the variants' `<arch>-<variant>/`), one layer folder (holding `extensions/lambda-lens`), or
   * a layer zip. The binary's ELF header must name the function's architecture.
   */
  static fromAsset(assetPath: string, options: LayerAssetOptions = {}): LambdaLensLayer {
    return new AssetLayers(path.resolve(assetPath), { ...options, variant: canonicalVariant(options.variant) });
  }

  /** The layer for one architecture, created in `scope` (called once per architecture). */
  abstract bind(scope: Construct, request: LayerRequest): BoundLayer;
}

const ARN_NAME = /^lambda-lens-(?:(.+)-)?(x86_64|arm64)$/;

/** The parts of a layer version ARN, when it is one (not a token). */
function parseLayerArn(arn: string): { region: string; name: string } | undefined {
  if (Token.isUnresolved(arn)) {
    return undefined;
  }
  const parts = arn.split(':');
  if (parts.length !== 8 || parts[0] !== 'arn' || parts[2] !== 'lambda' || parts[5] !== 'layer') {
    return undefined;
  }
  return { region: parts[3], name: parts[6] };
}

function mismatch(request: LayerRequest, source: string, layerArchitecture: string): Error {
  return new Error(
    `lambda-lens: ${request.functionPath} is ${request.architecture}, but the layer ${source} is ${layerArchitecture}: ` +
      'a layer runs only on its own architecture. Give a layer per architecture ' +
      '(LambdaLensLayer.fromArns({ x86_64, arm64 }), fromManifest, or fromAsset of target/layers after `make layers`).',
  );
}

function wrongVariant(request: LayerRequest, source: string, variant: LayerVariant): Error {
  return new Error(
    `lambda-lens: the sink of ${request.functionPath} needs the ${request.variant} layer ` +
      `(lambda-lens-${request.variant}-${request.architecture}, \`make layer SINK=${request.variant}\`), but ${source} is the ` +
      `${variant} layer, which has no ${request.variant} sink (it would log one line and write EMF only).`,
  );
}

/** Whether a layer of `variant` serves the request (undefined: not known, so not checked). */
function serves(request: LayerRequest, variant: LayerVariant | undefined): boolean {
  return request.variant === 'default' || variant === undefined || variant === request.variant;
}

function importArn(scope: Construct, arn: string, request: LayerRequest): lambda.ILayerVersion {
  const parsed = parseLayerArn(arn);
  const stackRegion = Stack.of(scope).region;
  if (parsed !== undefined && !Token.isUnresolved(stackRegion) && parsed.region !== stackRegion) {
    throw new Error(
      `lambda-lens: the layer ${arn} is in ${parsed.region}, but ${request.functionPath} is in ${stackRegion}: ` +
        "Lambda attaches only a layer of the function's own region (the manifest has one ARN per region).",
    );
  }
  return lambda.LayerVersion.fromLayerVersionArn(scope, `Layer-${request.architecture}`, arn);
}

class ArnLayers extends LambdaLensLayer {
  constructor(
    private readonly spec: {
      readonly single?: { readonly arn: string; readonly options: LayerArnOptions };
      readonly perArchitecture?: { readonly x86_64?: string; readonly arm64?: string };
      readonly variant?: LayerVariant;
    },
  ) {
    super();
  }

  bind(scope: Construct, request: LayerRequest): BoundLayer {
    let arn: string;
    let architecture: string | undefined;
    let variant: LayerVariant | undefined = this.spec.variant;
    if (this.spec.single !== undefined) {
      arn = this.spec.single.arn;
      architecture = this.spec.single.options.architecture;
      variant = this.spec.single.options.variant;
    } else {
      const given = this.spec.perArchitecture?.[request.architecture];
      if (given === undefined) {
        const have = Object.keys(this.spec.perArchitecture ?? {}).join(', ') || 'none';
        throw new Error(
          `lambda-lens: ${request.functionPath} is ${request.architecture}, but no ${request.architecture} layer ARN was given ` +
            `(fromArns has: ${have}); a layer runs only on its own architecture.`,
        );
      }
      arn = given;
      architecture = request.architecture;
    }
    const name = parseLayerArn(arn)?.name.match(ARN_NAME);
    if (name) {
      if (architecture !== undefined && architecture !== name[2]) {
        throw new Error(`lambda-lens: the layer ${arn} is named for ${name[2]} but was given as ${architecture}.`);
      }
      architecture = name[2];
      variant = variant ?? canonicalVariant(name[1]) ?? 'default';
    }
    if (architecture === undefined) {
      throw new Error(
        `lambda-lens: the architecture of the layer ${arn} is unknown (its name is not lambda-lens-[<variant>-]<arch>): ` +
          "pass LambdaLensLayer.fromArn(arn, { architecture: 'x86_64' | 'arm64' }).",
      );
    }
    if (architecture !== request.architecture) {
      throw mismatch(request, arn, architecture);
    }
    if (!serves(request, variant)) {
      throw wrongVariant(request, arn, variant ?? 'default');
    }
    return { layer: importArn(scope, arn, request), source: arn };
  }
}

function readManifest(file: string): { json: LayersManifest; source: string } {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`lambda-lens: cannot read the layers manifest ${file} (\`make publish\` writes dist/layers.json): ${(e as Error).message}`);
  }
  try {
    return { json: JSON.parse(text) as LayersManifest, source: file };
  } catch (e) {
    throw new Error(`lambda-lens: the layers manifest ${file} is not JSON: ${(e as Error).message}`);
  }
}

/** Orders versions as semantic versions (numeric parts; a pre-release before its release). */
function compareVersions(a: string, b: string): number {
  const parse = (v: string) => {
    const [core, pre] = v.replace(/^v/, '').split('-', 2);
    return { nums: core.split('.').map((n) => Number.parseInt(n, 10) || 0), pre };
  };
  const x = parse(a);
  const y = parse(b);
  for (let i = 0; i < Math.max(x.nums.length, y.nums.length); i++) {
    const d = (x.nums[i] ?? 0) - (y.nums[i] ?? 0);
    if (d !== 0) {
      return d;
    }
  }
  if (x.pre === y.pre) {
    return 0;
  }
  if (x.pre === undefined) {
    return 1;
  }
  if (y.pre === undefined) {
    return -1;
  }
  return x.pre < y.pre ? -1 : 1;
}

/** Every layer ARN under a manifest's region entry, however the architectures and variants nest. */
function arnsUnder(node: unknown, out: string[] = []): string[] {
  if (typeof node === 'string') {
    if (parseLayerArn(node) !== undefined) {
      out.push(node);
    }
  } else if (node !== null && typeof node === 'object') {
    for (const value of Object.values(node as Record<string, unknown>)) {
      arnsUnder(value, out);
    }
  }
  return out;
}

class ManifestLayers extends LambdaLensLayer {
  constructor(
    private readonly manifest: LayersManifest,
    private readonly source: string,
    private readonly options: LayerManifestOptions,
  ) {
    super();
  }

  bind(scope: Construct, request: LayerRequest): BoundLayer {
    const versions = Object.keys(this.manifest).filter((k) => /^v?\d+\.\d+\.\d+/.test(k));
    const version = this.options.version ?? versions.sort(compareVersions).at(-1);
    const regions = version === undefined ? undefined : this.manifest[version];
    if (version === undefined || regions === null || typeof regions !== 'object') {
      throw new Error(
        `lambda-lens: ${this.source} has no version ${this.options.version ?? ''} (it has: ${versions.join(', ') || 'none'}).`,
      );
    }
    const region = this.options.region ?? Stack.of(scope).region;
    if (Token.isUnresolved(region)) {
      throw new Error(
        'lambda-lens: a layer from the manifest needs a region, and the stack has none: set `env: { region }` on ' +
          'the stack, or pass LambdaLensLayer.fromManifest(manifest, { region }).',
      );
    }
    const entry = (regions as Record<string, unknown>)[region];
    if (entry === undefined) {
      throw new Error(
        `lambda-lens: ${this.source} has no layer for ${region} in version ${version} ` +
          `(its regions: ${Object.keys(regions).join(', ') || 'none'}); publish it there with \`make publish REGIONS=${region}\`.`,
      );
    }
    const candidates = arnsUnder(entry)
      .map((arn) => ({ arn, name: parseLayerArn(arn)?.name.match(ARN_NAME) }))
      .filter((c) => c.name && c.name[2] === request.architecture);
    const wanted = this.options.variant ?? request.variant;
    if (!serves(request, wanted)) {
      throw wrongVariant(request, `the manifest's ${wanted} layer`, wanted);
    }
    const chosen = candidates.filter((c) => (canonicalVariant(c.name?.[1]) ?? 'default') === wanted);
    const what = `${wanted} ${request.architecture} layer`;
    if (chosen.length === 0) {
      throw new Error(
        `lambda-lens: ${this.source} has no ${what} in ${region} for version ${version} ` +
          `(there: ${arnsUnder(entry).join(', ') || 'none'}), which ${request.functionPath} needs.`,
      );
    }
    if (chosen.length > 1) {
      throw new Error(
        `lambda-lens: ${this.source} has several ${what}s in ${region} (${chosen.map((c) => c.arn).join(', ')}): pass { variant }.`,
      );
    }
    const arn = chosen[0].arn;
    return { layer: importArn(scope, arn, request), source: arn };
  }
}

/** ELF e_machine values: EM_X86_64 and EM_AARCH64 (the ELF specification and its processor supplements). */
const ELF_MACHINES: Record<number, LambdaLensArchitecture> = { 62: 'x86_64', 183: 'arm64' };

const EXTENSION = 'extensions/lambda-lens';

/** The architecture an ELF binary's header names, or a description of what it is instead. */
function elfArchitecture(head: Buffer): LambdaLensArchitecture | string {
  if (head.length < 20 || head.readUInt32BE(0) !== 0x7f454c46) {
    return 'not an ELF binary';
  }
  const machine = head[5] === 2 ? head.readUInt16BE(18) : head.readUInt16LE(18);
  return ELF_MACHINES[machine] ?? `ELF machine ${machine}`;
}

/** The first bytes of `extensions/lambda-lens` inside a layer zip (stored or deflated). */
function headFromZip(zip: Buffer, file: string): Buffer {
  const eocd = zip.lastIndexOf(Buffer.from([0x50, 0x4b, 0x05, 0x06]));
  if (eocd < 0) {
    throw new Error(`lambda-lens: ${file} is not a zip file.`);
  }
  const entries = zip.readUInt16LE(eocd + 10);
  let at = zip.readUInt32LE(eocd + 16);
  for (let i = 0; i < entries && zip.readUInt32LE(at) === 0x02014b50; i++) {
    const method = zip.readUInt16LE(at + 10);
    const compressed = zip.readUInt32LE(at + 20);
    const nameLength = zip.readUInt16LE(at + 28);
    const next = at + 46 + nameLength + zip.readUInt16LE(at + 30) + zip.readUInt16LE(at + 32);
    const name = zip.toString('utf8', at + 46, at + 46 + nameLength);
    if (name === EXTENSION) {
      const local = zip.readUInt32LE(at + 42);
      const start = local + 30 + zip.readUInt16LE(local + 26) + zip.readUInt16LE(local + 28);
      const data = zip.subarray(start, start + compressed);
      return method === 0 ? data.subarray(0, 64) : zlib.inflateRawSync(data).subarray(0, 64);
    }
    at = next;
  }
  throw new Error(`lambda-lens: ${file} has no ${EXTENSION}: it is not a lambda-lens layer.`);
}

class AssetLayers extends LambdaLensLayer {
  constructor(
    private readonly assetPath: string,
    private readonly options: LayerAssetOptions,
  ) {
    super();
  }

  /** The layer folder or zip for the request, and its variant when its name says it. */
  private locate(request: LayerRequest): { location: string; variant: LayerVariant | undefined } {
    if (!fs.existsSync(this.assetPath)) {
      throw new Error(`lambda-lens: the layer asset ${this.assetPath} does not exist: build it with \`make layer ARCH=${request.architecture}\`.`);
    }
    if (fs.statSync(this.assetPath).isFile() || fs.existsSync(path.join(this.assetPath, EXTENSION))) {
      // A folder or zip named as `make layer` names them says its variant.
      const named = path.basename(this.assetPath).match(/^(?:lambda-lens-layer-)?(?:x86_64|arm64)(?:-(.+?))?(?:\.zip)?$/);
      return { location: this.assetPath, variant: named ? (canonicalVariant(named[1]) ?? 'default') : undefined };
    }
    // A folder of layers, as `make layer` lays them out: <arch> and <arch>-<variant>.
    const arch = request.architecture;
    const variant = this.options.variant ?? request.variant;
    if (!serves(request, variant)) {
      throw wrongVariant(request, `the ${variant} layer`, variant);
    }
    const location = path.join(this.assetPath, variant === 'default' ? arch : `${arch}-${variant}`);
    if (!fs.existsSync(location)) {
      throw new Error(
        `lambda-lens: ${request.functionPath} needs the ${variant} ${arch} layer, and ${location} does not exist: ` +
          `build it with \`make layer ARCH=${arch}${variant === 'default' ? '' : ` SINK=${variant}`}\`.`,
      );
    }
    return { location, variant };
  }

  bind(scope: Construct, request: LayerRequest): BoundLayer {
    const { location, variant } = this.locate(request);
    let head: Buffer;
    if (fs.existsSync(location) && fs.statSync(location).isFile()) {
      head = headFromZip(fs.readFileSync(location), location);
    } else {
      const binary = path.join(location, EXTENSION);
      if (!fs.existsSync(binary)) {
        throw new Error(
          `lambda-lens: ${location} holds no ${EXTENSION}, so it is not a built layer: run \`make layer ARCH=${request.architecture}\`.`,
        );
      }
      const fd = fs.openSync(binary, 'r');
      try {
        head = Buffer.alloc(64);
        fs.readSync(fd, head, 0, 64, 0);
      } finally {
        fs.closeSync(fd);
      }
    }
    const found = elfArchitecture(head);
    if (found !== request.architecture) {
      throw mismatch(request, location, found);
    }
    if (!serves(request, variant)) {
      throw wrongVariant(request, location, variant ?? 'default');
    }
    const layer = new lambda.LayerVersion(scope, `Layer-${request.architecture}`, {
      code: lambda.Code.fromAsset(location),
      compatibleArchitectures: [request.architecture === 'arm64' ? lambda.Architecture.ARM_64 : lambda.Architecture.X86_64],
      description: 'Per-invocation metrics from the Lambda Telemetry API, as CloudWatch EMF',
      license: 'Apache-2.0',
      // As template.yaml's layer: a deployed function keeps the version it was given.
      removalPolicy: RemovalPolicy.RETAIN,
    });
    return { layer, source: location };
  }
}
