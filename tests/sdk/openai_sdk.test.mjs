// Compatibility: the official OpenAI Node SDK (pinned in package.json) against the real warden
// binary with the built-in echo provider. Only baseURL and apiKey change, as for a user.
// Run by CTest: WARDEN_BIN=/path/to/warden node --test tests/sdk/openai_sdk.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';
import { startWarden } from './warden.mjs';

let warden, client;

before(async () => {
  warden = await startWarden(`providers:
  - { name: local-echo, kind: echo }
models:
  - alias: gpt-4o-mini
    deployments: [ { provider: local-echo, model: echo-1 } ]
  - alias: text-embedding-3-small
    deployments: [ { provider: local-echo, model: echo-embed-1 } ]
`);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${warden.port}/v1`, apiKey: warden.key, maxRetries: 0 });
});

after(async () => { await warden?.stop(); });

test('chat completion', async () => {
  const { data, response } = await client.chat.completions
    .create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'Say hello to Warden' }] })
    .withResponse();
  assert.equal(data.object, 'chat.completion');
  assert.equal(data.model, 'gpt-4o-mini');
  assert.equal(data.choices[0].message.role, 'assistant');
  assert.equal(data.choices[0].message.content, 'Say hello to Warden');
  assert.equal(data.choices[0].finish_reason, 'stop');
  assert.ok(data.usage.total_tokens > 0);
  assert.match(response.headers.get('x-request-id'), /^req_[0-9a-f]{24}$/);
});

test('streaming chat completion', async () => {
  const stream = await client.chat.completions.create({
    model: 'gpt-4o-mini',
    stream: true,
    stream_options: { include_usage: true },
    messages: [{ role: 'user', content: 'one two three four' }],
  });
  let text = '';
  let chunks = 0;
  let usage = null;
  let finish = null;
  for await (const chunk of stream) {
    assert.equal(chunk.object, 'chat.completion.chunk');
    assert.equal(chunk.model, 'gpt-4o-mini');
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta?.content ?? '';
      finish = c.finish_reason ?? finish;
    }
  }
  assert.equal(text, 'one two three four');
  assert.ok(chunks >= 4, `expected one chunk per word, got ${chunks}`);
  assert.equal(finish, 'stop');
  assert.ok(usage && usage.completion_tokens > 0);
});

test('embeddings (SDK default base64 and explicit float)', async () => {
  const b64 = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['alpha', 'beta'] });
  assert.equal(b64.data.length, 2);
  assert.equal(b64.model, 'text-embedding-3-small');
  assert.equal(b64.data[0].embedding.length, 8);
  assert.ok(b64.data[0].embedding.every((x) => typeof x === 'number' && Number.isFinite(x)));
  const flt = await client.embeddings.create({
    model: 'text-embedding-3-small', input: ['alpha', 'beta'], encoding_format: 'float',
  });
  // The same input gives the same vector in both encodings.
  flt.data[0].embedding.forEach((x, i) => assert.ok(Math.abs(x - b64.data[0].embedding[i]) < 1e-6));
});

test('models list and retrieve', async () => {
  const ids = [];
  for await (const m of client.models.list()) ids.push(m.id);
  assert.deepEqual(ids.sort(), ['gpt-4o-mini', 'text-embedding-3-small']);
  const one = await client.models.retrieve('gpt-4o-mini');
  assert.equal(one.id, 'gpt-4o-mini');
});

test('errors arrive as the SDK typed errors', async () => {
  const bad = new OpenAI({ baseURL: client.baseURL, apiKey: 'wdn_000000000000_nope', maxRetries: 0 });
  await assert.rejects(
    bad.chat.completions.create({ model: 'gpt-4o-mini', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof OpenAI.AuthenticationError && err.status === 401 && err.code === 'invalid_api_key',
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof OpenAI.NotFoundError && err.status === 404 && err.code === 'model_not_found' &&
      typeof err.requestID === 'string' && err.requestID.startsWith('req_'),
  );
  await assert.rejects(
    client.chat.completions.create({ model: 'gpt-4o-mini', messages: 'not an array' }),
    (err) => err instanceof OpenAI.BadRequestError && err.param === 'messages',
  );
});
