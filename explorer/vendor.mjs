// Copies the chart library the explorer page uses from node_modules (pinned by package-lock.json) into the
// service's static files, with its licence. `--check` fails when the committed copy differs from the locked
// package (run by the browser test in CI), so the vendored file always is what the lock file says.
import { createHash } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const target = join(here, '..', 'src', 'Uncertainty.Api', 'wwwroot', 'vendor');
const files = [
  ['node_modules/chart.js/dist/chart.umd.min.js', 'chart.umd.min.js'],
  ['node_modules/chart.js/LICENSE.md', 'chart.js.LICENSE.md'],
];
const sha = (path) => createHash('sha256').update(readFileSync(path)).digest('hex');
const check = process.argv.includes('--check');
let stale = 0;
for (const [from, to] of files) {
  const source = join(here, from);
  const destination = join(target, to);
  if (check) {
    if (!existsSync(destination) || sha(source) !== sha(destination)) {
      console.error(`stale: ${to} differs from ${from} (run: npm ci && npm run vendor)`);
      stale++;
    }
  } else {
    mkdirSync(target, { recursive: true });
    copyFileSync(source, destination);
    console.log(`vendored ${from} -> ${destination}`);
  }
}
process.exit(stale ? 1 : 0);
