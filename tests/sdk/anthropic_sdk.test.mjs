// Compatibility: the official Anthropic Node SDK (pinned in package.json) against the real
// warden binary's /v1/messages. Only baseURL and apiKey change, as for a user. Behind Warden:
// the built-in echo provider (OpenAI wire format) and a fake Anthropic provider in this process
// that answers with a tool call, so both translation directions are driven by the SDK.
// Run by CTest: WARDEN_BIN=/path/to/warden node --test tests/sdk/anthropic_sdk.test.mjs
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import Anthropic from '@anthropic-ai/sdk';
import { startWarden } from './warden.mjs';

let warden, client, fake;
const received = [];

// A fake Anthropic Messages API: a get_weather tool call, as JSON or as an event stream.
function fakeAnthropic(req, res) {
  let body = '';
  req.on('data', (c) => (body += c));
  req.on('end', () => {
    const json = JSON.parse(body);
    received.push({ path: req.url, headers: req.headers, body: json });
    const usage = { input_tokens: 21, output_tokens: 9 };
    if (!json.stream) {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({
        id: 'msg_fake', type: 'message', role: 'assistant', model: json.model,
        content: [{ type: 'text', text: 'Checking.' },
                  { type: 'tool_use', id: 'toolu_fake', name: 'get_weather', input: { city: 'Paris' } }],
        stop_reason: 'tool_use', stop_sequence: null, usage,
      }));
      return;
    }
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const send = (event, data) => res.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`);
    send('message_start', { type: 'message_start', message: { id: 'msg_fake', type: 'message', role: 'assistant',
      model: json.model, content: [], stop_reason: null, stop_sequence: null, usage: { input_tokens: 21, output_tokens: 1 } } });
    send('content_block_start', { type: 'content_block_start', index: 0, content_block: { type: 'text', text: '' } });
    send('content_block_delta', { type: 'content_block_delta', index: 0, delta: { type: 'text_delta', text: 'Checking.' } });
    send('content_block_stop', { type: 'content_block_stop', index: 0 });
    send('content_block_start', { type: 'content_block_start', index: 1,
      content_block: { type: 'tool_use', id: 'toolu_fake', name: 'get_weather', input: {} } });
    send('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: '{"city": "Pa' } });
    send('content_block_delta', { type: 'content_block_delta', index: 1, delta: { type: 'input_json_delta', partial_json: 'ris"}' } });
    send('content_block_stop', { type: 'content_block_stop', index: 1 });
    send('message_delta', { type: 'message_delta', delta: { stop_reason: 'tool_use', stop_sequence: null }, usage: { output_tokens: 9 } });
    send('message_stop', { type: 'message_stop' });
    res.end();
  });
}

before(async () => {
  fake = createServer(fakeAnthropic);
  await new Promise((r) => fake.listen(0, '127.0.0.1', r));
  warden = await startWarden(`providers:
  - { name: local-echo, kind: echo }
  - { name: claude, kind: anthropic, base_url: "http://127.0.0.1:${fake.address().port}/v1", api_key: sk-ant-fake-0123456789 }
models:
  - alias: claude-via-echo
    deployments: [ { provider: local-echo, model: echo-1 } ]
  - alias: claude-tools
    deployments: [ { provider: claude, model: claude-sonnet-4-5 } ]
`);
  client = new Anthropic({ baseURL: `http://127.0.0.1:${warden.port}`, apiKey: warden.key, maxRetries: 0 });
});

after(async () => {
  await warden?.stop();
  fake?.close();
});

const tools = [{ name: 'get_weather', description: 'Current weather',
  input_schema: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'] } }];

test('message from an OpenAI-format provider', async () => {
  const { data, response } = await client.messages
    .create({ model: 'claude-via-echo', max_tokens: 64, system: 'Be brief.',
      messages: [{ role: 'user', content: 'Say hello to Warden' }] })
    .withResponse();
  assert.equal(data.type, 'message');
  assert.equal(data.role, 'assistant');
  assert.equal(data.model, 'claude-via-echo');
  assert.equal(data.content[0].type, 'text');
  assert.equal(data.content[0].text, 'Say hello to Warden');
  assert.equal(data.stop_reason, 'end_turn');
  assert.ok(data.usage.input_tokens > 0 && data.usage.output_tokens > 0);
  assert.match(response.headers.get('x-request-id'), /^req_[0-9a-f]{24}$/);
});

test('streamed message, through the SDK stream helper', async () => {
  const stream = client.messages.stream({ model: 'claude-via-echo', max_tokens: 64,
    messages: [{ role: 'user', content: 'one two three four' }] });
  let text = '';
  stream.on('text', (t) => (text += t));
  const final = await stream.finalMessage();
  assert.equal(text, 'one two three four');
  assert.equal(final.content[0].text, 'one two three four');
  assert.equal(final.stop_reason, 'end_turn');
  assert.ok(final.usage.output_tokens > 0);
});

test('tool use from an Anthropic provider, both ways, stream and not', async () => {
  const msg = await client.messages.create({ model: 'claude-tools', max_tokens: 128, tools,
    tool_choice: { type: 'auto' }, messages: [{ role: 'user', content: 'Weather in Paris?' }] });
  assert.equal(msg.stop_reason, 'tool_use');
  const call = msg.content.find((b) => b.type === 'tool_use');
  assert.equal(call.name, 'get_weather');
  assert.deepEqual(call.input, { city: 'Paris' });
  assert.deepEqual(msg.usage, { input_tokens: 21, output_tokens: 9 });

  const final = await client.messages.stream({ model: 'claude-tools', max_tokens: 128, tools,
    messages: [{ role: 'user', content: 'Weather in Paris?' },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_0', name: 'get_weather', input: { city: 'Rome' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_0', content: '21C' }] }] }).finalMessage();
  assert.equal(final.stop_reason, 'tool_use');
  assert.deepEqual(final.content.find((b) => b.type === 'tool_use').input, { city: 'Paris' });
  assert.equal(final.content[0].text, 'Checking.');

  // What the provider received: its own model name and key, the tool round trip intact.
  const last = received.at(-1);
  assert.equal(last.path, '/v1/messages');
  assert.equal(last.headers['x-api-key'], 'sk-ant-fake-0123456789');
  assert.equal(last.body.model, 'claude-sonnet-4-5');
  assert.equal(last.body.messages[1].content[0].type, 'tool_use');
  assert.deepEqual(last.body.messages[1].content[0].input, { city: 'Rome' });
  assert.equal(last.body.messages[2].content[0].type, 'tool_result');
  assert.equal(last.body.messages[2].content[0].content, '21C');
  assert.ok(!JSON.stringify(last).includes(warden.key), 'the client key went upstream');
});

test('errors arrive as the SDK typed errors', async () => {
  const bad = new Anthropic({ baseURL: client.baseURL, apiKey: 'wdn_000000000000_nope', maxRetries: 0 });
  await assert.rejects(
    bad.messages.create({ model: 'claude-via-echo', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.AuthenticationError && err.status === 401 && err.error?.error?.type === 'authentication_error',
  );
  await assert.rejects(
    client.messages.create({ model: 'no-such-model', max_tokens: 8, messages: [{ role: 'user', content: 'x' }] }),
    (err) => err instanceof Anthropic.NotFoundError && err.status === 404,
  );
  await assert.rejects(
    client.messages.create({ model: 'claude-via-echo', max_tokens: 8, messages: [] }),
    (err) => err instanceof Anthropic.BadRequestError && err.error?.error?.type === 'invalid_request_error',
  );
});
