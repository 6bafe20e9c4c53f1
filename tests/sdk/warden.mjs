// Starts the real warden binary for the SDK compatibility tests: a temporary directory, a
// config with the given providers and models, a fresh client key, and the listening port read
// from the access log. WARDEN_BIN and WARDEN_POLICIES come from CTest.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function waitForPort(logFile) {
  for (let i = 0; i < 200; i++) {
    try {
      const m = readFileSync(logFile, 'utf8').match(/"event":"listening".*?"port":(\d+)/);
      if (m) return Number(m[1]);
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('warden did not start');
}

// `providersAndModels`: the YAML of the `providers:` and `models:` sections.
export async function startWarden(providersAndModels) {
  const bin = process.env.WARDEN_BIN;
  assert.ok(bin, 'WARDEN_BIN must point at the warden binary');
  assert.ok(process.env.WARDEN_POLICIES, 'WARDEN_POLICIES must point at the policies directory');
  const dir = mkdtempSync(join(tmpdir(), 'warden-sdk-'));
  const config = join(dir, 'warden.yaml');
  writeFileSync(config, `server:
  listen: 127.0.0.1:0
  access_log: ${join(dir, 'warden.log')}
data_dir: ${join(dir, 'data')}
policies_dir: ${process.env.WARDEN_POLICIES}
${providersAndModels}`);
  const key = execFileSync(bin, ['keys', 'create', '--name', 'sdk', '--config', config], { stdio: ['ignore', 'pipe', 'ignore'] })
    .toString().trim();
  const server = spawn(bin, ['serve', '--config', config], { stdio: 'ignore' });
  const port = await waitForPort(join(dir, 'warden.log'));
  return {
    port,
    key,
    stop() {
      server.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
