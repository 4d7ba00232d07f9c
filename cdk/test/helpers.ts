import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { App, Duration, Stack, StackProps } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as lambda from 'aws-cdk-lib/aws-lambda';

/** The repository's root (tests run from cdk/lib/test). */
export const REPO = path.resolve(__dirname, '..', '..', '..');

export function newStack(props: StackProps = {}): Stack {
  return new Stack(new App(), 'Test', props);
}

let scratch: string | undefined;
/** A folder for this run's fixtures, removed at exit. */
export function tmp(): string {
  if (scratch === undefined) {
    scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'lambda-lens-cdk-'));
    const dir = scratch;
    process.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }));
  }
  return scratch;
}

/** A function folder with a stand-in bootstrap (the tests synthesize, they do not run it). */
export function functionCode(): lambda.Code {
  const dir = path.join(tmp(), 'function');
  fs.mkdirSync(dir, { recursive: true });
  fs.writeFileSync(path.join(dir, 'bootstrap'), '#!/bin/sh\n', { mode: 0o755 });
  return lambda.Code.fromAsset(dir);
}

export function fn(stack: Stack, id: string, architecture: lambda.Architecture = lambda.Architecture.X86_64, timeout = 10, memorySize = 256): lambda.Function {
  return new lambda.Function(stack, id, {
    runtime: lambda.Runtime.PROVIDED_AL2023,
    handler: 'bootstrap',
    code: functionCode(),
    architecture,
    timeout: Duration.seconds(timeout),
    memorySize,
  });
}

/** The first 64 bytes of a 64-bit little-endian ELF executable for `machine` (62 x86_64, 183 aarch64). */
export function elfHeader(machine: number): Buffer {
  const head = Buffer.alloc(64);
  head.writeUInt32BE(0x7f454c46, 0);
  head[4] = 2; // 64-bit
  head[5] = 1; // little-endian
  head[6] = 1;
  head.writeUInt16LE(2, 16); // ET_EXEC
  head.writeUInt16LE(machine, 18);
  return head;
}

/** A folder laid out as `make layer` lays out target/layers: `<name>/extensions/lambda-lens`, one per entry. */
export function layersFolder(name: string, layers: Record<string, number>): string {
  const root = path.join(tmp(), name);
  for (const [dir, machine] of Object.entries(layers)) {
    fs.mkdirSync(path.join(root, dir, 'extensions'), { recursive: true });
    fs.writeFileSync(path.join(root, dir, 'extensions', 'lambda-lens'), elfHeader(machine), { mode: 0o755 });
  }
  return root;
}

/** The stack's CloudFormation, as the assertions library reads it. */
export function template(stack: Stack): Template {
  return Template.fromStack(stack);
}

/** Resolves the intrinsics a dashboard body or alarm text holds into plain text: Ref X → {X}. */
export function flatten(value: unknown): string {
  if (typeof value === 'string') {
    return value;
  }
  const v = value as Record<string, unknown>;
  if (v['Fn::Join'] !== undefined) {
    const [sep, parts] = v['Fn::Join'] as [string, unknown[]];
    return parts.map(flatten).join(sep);
  }
  if (v.Ref !== undefined) {
    return `{${String(v.Ref)}}`;
  }
  if (v['Fn::GetAtt'] !== undefined) {
    return `{${(v['Fn::GetAtt'] as string[]).join('.')}}`;
  }
  throw new Error(`an intrinsic the tests do not resolve: ${JSON.stringify(value)}`);
}

// The YAML parser aws-cdk-lib bundles (its own pinned dependency): CloudFormation's short tags
// (!Ref, !Sub) are unknown to it and read as their plain values, which is what these tests need.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const YAML = require(path.join(path.dirname(require.resolve('aws-cdk-lib')), 'node_modules', 'yaml')) as {
  parseDocument(text: string): { errors: unknown[]; toJSON(): unknown };
};

/** template.yaml, parsed (its intrinsics as their plain values: `!Ref X` is "X", `!Sub |` its text). */
export function samTemplate(): { Parameters: Record<string, { Default?: unknown }>; Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> } {
  const doc = YAML.parseDocument(fs.readFileSync(path.join(REPO, 'template.yaml'), 'utf8'));
  if (doc.errors.length > 0) {
    throw new Error(`template.yaml does not parse: ${JSON.stringify(doc.errors)}`);
  }
  return doc.toJSON() as ReturnType<typeof samTemplate>;
}

/** One graph line as both dashboards can be compared: what it plots and how. */
export interface Line {
  namespace?: string;
  metric?: string;
  dimensions?: string;
  expression?: string;
  stat?: string;
  period?: number;
  axis: string;
  visible: boolean;
  label?: string;
}

export interface Widget {
  type: string;
  x: number;
  y: number;
  width: number;
  height: number;
  title?: string;
  view?: string;
  setPeriodToTimeRange?: boolean;
  annotations: { label: string; value: number }[];
  lines: Line[];
}

/**
 * A dashboard body's widgets, in a form both template.yaml's hand-written JSON and aws-cdk-lib's
 * generated JSON reduce to: widget-level `stat` and `period` applied to each line, the axis and
 * visibility spelt out, metric ids (which name hidden inputs to an expression) dropped.
 */
export function widgets(body: string): Widget[] {
  const parsed = JSON.parse(body) as { widgets: { type: string; x: number; y: number; width: number; height: number; properties: Record<string, unknown> }[] };
  return parsed.widgets.map((w) => {
    const p = w.properties;
    const annotations = ((p.annotations as { horizontal?: { label: string; value: number }[] } | undefined)?.horizontal ?? []).map((a) => ({
      label: a.label,
      value: a.value,
    }));
    const lines = ((p.metrics as unknown[][] | undefined) ?? []).map((entry): Line => {
      const last = entry[entry.length - 1];
      const options = (typeof last === 'object' && last !== null ? last : {}) as Record<string, unknown>;
      const names = entry.filter((e) => typeof e === 'string') as string[];
      const line: Line = {
        // CloudWatch's defaults, which aws-cdk-lib leaves out: Average, 300 seconds.
        stat: (options.stat as string | undefined) ?? (p.stat as string | undefined) ?? 'Average',
        period: (options.period as number | undefined) ?? (p.period as number | undefined) ?? 300,
        axis: (options.yAxis as string | undefined) ?? 'left',
        visible: options.visible !== false,
      };
      if (options.expression !== undefined) {
        line.expression = options.expression as string;
        delete line.stat;
      } else {
        line.namespace = names[0];
        line.metric = names[1];
        line.dimensions = names.slice(2).join('=');
      }
      if (typeof options.label === 'string' && options.label !== '') {
        line.label = options.label;
      }
      return line;
    });
    return {
      type: w.type,
      x: w.x,
      y: w.y,
      width: w.width,
      height: w.height,
      title: p.title as string | undefined,
      view: p.view as string | undefined,
      setPeriodToTimeRange: p.setPeriodToTimeRange as boolean | undefined,
      annotations,
      lines,
      ...(w.type === 'text' ? { markdown: p.markdown } : {}),
    };
  });
}
