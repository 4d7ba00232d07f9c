/**
 * lambda-lens's metric catalogue as the construct needs it: each metric's name, group and whether
 * it is a custom metric under the default selection. The extension's own list is
 * extension/src/metrics/catalogue.rs; the test suite holds this copy equal to the table of
 * docs/metrics.md, which the extension's docs test holds equal to the code.
 */

export type MetricGroup = 'core' | 'detail' | 'resources' | 'cost' | 'extension';

export interface CatalogueMetric {
  readonly name: string;
  readonly group: MetricGroup;
  /** A custom metric under the default `LAMBDA_LENS_METRICS`; otherwise a property only. */
  readonly byDefault: boolean;
}

const m = (name: string, group: MetricGroup, byDefault = false): CatalogueMetric => ({ name, group, byDefault });

export const CATALOGUE: readonly CatalogueMetric[] = [
  m('Invocations', 'core'),
  m('Errors', 'core'),
  m('Timeouts', 'core', true),
  m('OutOfMemory', 'core', true),
  m('ColdStarts', 'core', true),
  m('ConcurrentInvocations', 'core'),
  m('Duration', 'core'),
  m('BilledDuration', 'core'),
  m('RuntimeDuration', 'detail'),
  m('PostRuntimeDuration', 'detail'),
  m('ResponseLatency', 'detail'),
  m('ResponseDuration', 'detail'),
  m('RuntimeOverhead', 'detail'),
  m('ProducedBytes', 'detail'),
  m('InitDuration', 'core', true),
  m('RestoreDuration', 'core', true),
  m('InitErrors', 'core'),
  m('MemorySize', 'detail'),
  m('MaxMemoryUsed', 'core', true),
  m('MemoryUtilization', 'core', true),
  m('EstimatedCost', 'cost', true),
  m('CpuUserTime', 'resources'),
  m('CpuSystemTime', 'resources'),
  m('CpuTotalTime', 'resources'),
  m('NetworkRxBytes', 'resources'),
  m('NetworkTxBytes', 'resources'),
  m('TmpUsed', 'resources'),
  m('FileDescriptors', 'resources'),
  m('Threads', 'resources'),
  m('Shutdowns', 'extension'),
  m('LogsDroppedRecords', 'extension'),
  m('LogsDroppedBytes', 'extension'),
  m('ExtensionMemory', 'extension'),
  m('TelemetryRecordsRejected', 'extension'),
  m('EmfDocumentsWritten', 'extension'),
  m('ApiRequests', 'extension'),
  m('ApiDataPointsSent', 'extension'),
  m('ApiRetries', 'extension'),
  m('ApiFallbackDataPoints', 'extension'),
  m('ApiUnknownOutcomes', 'extension'),
  m('OtlpRequests', 'extension'),
  m('OtlpDataPointsSent', 'extension'),
  m('OtlpRetries', 'extension'),
  m('OtlpFallbackRecords', 'extension'),
  m('OtlpUnknownOutcomes', 'extension'),
  m('OtlpRejectedDataPoints', 'extension'),
];

const GROUPS: readonly MetricGroup[] = ['core', 'detail', 'resources', 'cost', 'extension'];

/** The outcome of reading a `LAMBDA_LENS_METRICS` value as the extension does. */
export interface MetricSelection {
  /** The metrics written as custom metrics, by name. */
  readonly metrics: ReadonlySet<string>;
  /** Entries that name no metric, group, `default` or `all` (the extension ignores them with a warning). */
  readonly unknown: readonly string[];
}

/**
 * Reads a `LAMBDA_LENS_METRICS` value the way the extension does (extension/src/metrics/
 * selection.rs): comma-separated, case-insensitive; `default`, `all`, a group or a metric name
 * adds, a leading `-` removes, and a list that starts with a removal starts from the default.
 */
export function selectMetrics(value: string): MetricSelection {
  const tokens = value.split(',').map((t) => t.trim()).filter((t) => t.length > 0);
  const selected = new Set<string>(tokens.length > 0 && tokens[0].startsWith('-') ? defaults() : []);
  const unknown: string[] = [];
  for (const token of tokens) {
    const remove = token.startsWith('-');
    const name = (remove ? token.slice(1) : token).trim().toLowerCase();
    let picked: string[];
    if (name === 'all') {
      picked = CATALOGUE.map((d) => d.name);
    } else if (name === 'default') {
      picked = defaults();
    } else if ((GROUPS as readonly string[]).includes(name)) {
      picked = CATALOGUE.filter((d) => d.group === name).map((d) => d.name);
    } else {
      const def = CATALOGUE.find((d) => d.name.toLowerCase() === name);
      if (def === undefined) {
        unknown.push(token);
        continue;
      }
      picked = [def.name];
    }
    for (const p of picked) {
      if (remove) {
        selected.delete(p);
      } else {
        selected.add(p);
      }
    }
  }
  return { metrics: selected, unknown };
}

function defaults(): string[] {
  return CATALOGUE.filter((d) => d.byDefault).map((d) => d.name);
}
