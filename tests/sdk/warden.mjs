// Starts the real warden binary for the SDK compatibility tests: a temporary directory, a
// config with the given providers and models, a fresh client key, and the listening port read
// from the access log. WARDEN_BIN and WARDEN_POLICIES come from CTest.
import assert from 'node:assert/strict';
import { spawn, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, readFileSync, rmSync, cpSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

async function waitForPort(logFile) {
  for (let i = 0; i < 200; i++) {
    try {
      const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.includes('"event":"listening"'));
      if (line) {
        const event = JSON.parse(line);
        return { port: event.port, adminPort: event.admin_port };
      }
    } catch {}
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('warden did not start');
}

// `providersAndModels`: the YAML of the `providers:` and `models:` sections.
// `options.adminToken`: also start the admin listener (port 0) with this token;
// `options.keys`: more client keys to create, as {name, policy} (returned in `keys`);
// `options.policies`: more policies, {name: YAML without the name line}, beside the shipped ones.
export async function startWarden(providersAndModels, options = {}) {
  const bin = process.env.WARDEN_BIN;
  assert.ok(bin, 'WARDEN_BIN must point at the warden binary');
  assert.ok(process.env.WARDEN_POLICIES, 'WARDEN_POLICIES must point at the policies directory');
  const dir = mkdtempSync(join(tmpdir(), 'warden-sdk-'));
  const config = join(dir, 'warden.yaml');
  let policies = process.env.WARDEN_POLICIES;
  if (options.policies) {
    const copy = join(dir, 'policies');
    cpSync(policies, copy, { recursive: true });
    for (const [name, yaml] of Object.entries(options.policies)) writeFileSync(join(copy, `${name}.yaml`), `name: ${name}\n${yaml}`);
    policies = copy;
  }
  writeFileSync(config, `server:
  listen: 127.0.0.1:0
  access_log: ${join(dir, 'warden.log')}
data_dir: ${join(dir, 'data')}
policies_dir: ${policies}
${options.adminToken ? `admin:\n  listen: 127.0.0.1:0\n  token_file: ${join(dir, 'admin.token')}\n` : ''}${providersAndModels}`);
  if (options.adminToken) writeFileSync(join(dir, 'admin.token'), options.adminToken, { mode: 0o600 });
  const createKey = (name, policy = 'default') =>
    execFileSync(bin, ['keys', 'create', '--name', name, '--policy', policy, '--config', config],
                 { stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
  const key = createKey('sdk');
  const keys = Object.fromEntries((options.keys || []).map(({ name, policy }) => [name, createKey(name, policy)]));
  const server = spawn(bin, ['serve', '--config', config], { stdio: 'ignore' });
  const { port, adminPort } = await waitForPort(join(dir, 'warden.log'));
  return {
    port,
    adminPort,
    key,
    keys,
    dir,
    // SIGTERM, then the directory goes once the process has exited (it flushes its stores on
    // the way out). A gateway that does not exit within 40 s fails the test that stops it.
    async stop() {
      if (server.exitCode === null && server.signalCode === null) {
        const exited = new Promise((resolve) => server.once('exit', () => resolve(true)));
        server.kill('SIGTERM');
        let timer;
        const late = new Promise((resolve) => { timer = setTimeout(() => resolve(false), 40000); });
        const inTime = await Promise.race([exited, late]);
        clearTimeout(timer);
        if (!inTime) {
          server.kill('SIGKILL');
          throw new Error('warden did not exit within 40 s of SIGTERM');
        }
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
