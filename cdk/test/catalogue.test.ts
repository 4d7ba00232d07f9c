import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { test } from 'node:test';
import { CATALOGUE, selectMetrics } from '../src';
import { REPO } from './helpers';

/** docs/metrics.md's generated table: metric, group, by default (held equal to the code's catalogue by the extension's docs test). */
function documented(): { name: string; group: string; byDefault: boolean }[] {
  const text = fs.readFileSync(path.join(REPO, 'docs', 'metrics.md'), 'utf8');
  const table = text.slice(text.indexOf('<!-- metric-table:begin'), text.indexOf('<!-- metric-table:end'));
  return table
    .split('\n')
    .filter((l) => l.startsWith('| `'))
    .map((l) => {
      const cells = l.split('|').map((c) => c.trim());
      return { name: cells[1].replaceAll('`', ''), group: cells[3], byDefault: cells[4] === 'metric' };
    });
}

test("the construct's catalogue is docs/metrics.md's table: names, groups, the default set", () => {
  const docs = documented();
  assert.ok(docs.length >= 40, `read ${docs.length} rows`);
  // A metric added to the extension is added to cdk/src/catalogue.ts too, as its row says:
  const rows = docs.map((d) => `  m('${d.name}', '${d.group}'${d.byDefault ? ', true' : ''}),`);
  assert.deepEqual(
    CATALOGUE.map((m) => ({ name: m.name, group: m.group, byDefault: m.byDefault })),
    docs,
    `cdk/src/catalogue.ts differs from docs/metrics.md's table; its list should read:\n${rows.join('\n')}`,
  );
});

test('LAMBDA_LENS_METRICS is read as the extension reads it', () => {
  const names = (v: string) => [...selectMetrics(v).metrics].sort();
  assert.deepEqual(names('default'), ['ColdStarts', 'EstimatedCost', 'InitDuration', 'MaxMemoryUsed', 'MemoryUtilization', 'OutOfMemory', 'RestoreDuration', 'Timeouts']);
  assert.deepEqual(names('-Timeouts'), names('default').filter((n) => n !== 'Timeouts'), 'a list starting with a removal starts from the default');
  assert.deepEqual(names(' CORE , -Invocations,threads'), CATALOGUE.filter((m) => m.group === 'core' && m.name !== 'Invocations').map((m) => m.name).concat('Threads').sort());
  assert.equal(selectMetrics('all,-extension').metrics.size, CATALOGUE.filter((m) => m.group !== 'extension').length);
  assert.deepEqual(selectMetrics('default,Nope,-Bad').unknown, ['Nope', '-Bad']);
  assert.equal(selectMetrics('').metrics.size, 0);
});
