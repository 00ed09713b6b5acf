// serve-clients.mjs: drives `llmem serve` with the official clients (npm's
// openai and ollama packages) and prints one TAP line per check
// ("ok - ..." / "not ok - ..."). usage: node serve-clients.mjs BASE_URL
// CHAT_MODEL EMBED_MODEL CLIENTS_DIR
import { createRequire } from 'node:module';

const [base, chatModel, embModel, clientsDir] = process.argv.slice(2);
const require = createRequire(clientsDir + '/package.json');
const OpenAI = require('openai').default ?? require('openai');
const { Ollama } = require('ollama');

let failed = 0;
function ok(cond, what, extra) {
  if (cond) console.log(`ok - ${what}`);
  else {
    failed++;
    console.log(`not ok - ${what}${extra ? ': ' + extra : ''}`);
  }
}
async function check(what, fn) {
  try {
    const r = await fn();
    ok(r === true || r === undefined, what, typeof r === 'string' ? r : undefined);
  } catch (e) {
    ok(false, what, String(e && e.message || e).slice(0, 300));
  }
}

const openai = new OpenAI({ baseURL: base + '/v1', apiKey: 'none', timeout: 120000, maxRetries: 0 });
const ollama = new Ollama({ host: base });

await check('openai: models.list names both models', async () => {
  const ids = [];
  for await (const m of openai.models.list()) ids.push(m.id);
  return ids.includes(chatModel) && ids.includes(embModel) ? true : 'got ' + ids.join(',');
});
await check('openai: chat completion (loads the model on demand)', async () => {
  const r = await openai.chat.completions.create({ model: chatModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8 });
  return r.choices.length === 1 && typeof r.choices[0].message.content === 'string' && r.usage.completion_tokens > 0
    ? true : JSON.stringify(r).slice(0, 200);
});
await check('openai: streamed chat completion', async () => {
  const s = await openai.chat.completions.create({ model: chatModel, messages: [{ role: 'user', content: 'hi' }], max_tokens: 8, stream: true });
  let chunks = 0, finish = null;
  for await (const c of s) {
    chunks++;
    if (c.choices[0]?.finish_reason) finish = c.choices[0].finish_reason;
  }
  return chunks >= 2 && finish ? true : `chunks ${chunks} finish ${finish}`;
});
await check('openai: completion', async () => {
  const r = await openai.completions.create({ model: chatModel, prompt: 'Once upon a time', max_tokens: 8 });
  return typeof r.choices[0].text === 'string' && r.usage.completion_tokens > 0 ? true : JSON.stringify(r).slice(0, 200);
});
await check('openai: streamed completion', async () => {
  const s = await openai.completions.create({ model: chatModel, prompt: 'Once', max_tokens: 8, stream: true });
  let text = '', n = 0;
  for await (const c of s) { n++; text += c.choices[0]?.text ?? ''; }
  return n >= 2 ? true : `events ${n}`;
});
await check('openai: embeddings', async () => {
  const r = await openai.embeddings.create({ model: embModel, input: ['hello', 'world'] });
  return r.data.length === 2 && r.data[0].embedding.length > 8 ? true : JSON.stringify(r).slice(0, 200);
});
await check('openai: unknown model is a 404 error', async () => {
  try {
    await openai.chat.completions.create({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
    return 'no error';
  } catch (e) {
    return e.status === 404 ? true : `status ${e.status}`;
  }
});

await check('ollama: list (tags) has both models', async () => {
  const r = await ollama.list();
  const names = r.models.map((m) => m.name);
  return names.includes(chatModel) && names.includes(embModel) && r.models.every((m) => m.details.format === 'gguf')
    ? true : JSON.stringify(r).slice(0, 300);
});
await check('ollama: show', async () => {
  const r = await ollama.show({ model: chatModel });
  return r.details && r.model_info && r.model_info['general.architecture'] === 'llama' ? true : JSON.stringify(r).slice(0, 300);
});
await check('ollama: chat', async () => {
  const r = await ollama.chat({ model: chatModel, messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 8 } });
  return r.done === true && typeof r.message.content === 'string' && r.eval_count > 0 ? true : JSON.stringify(r).slice(0, 300);
});
await check('ollama: streamed chat ends with done and counts', async () => {
  const s = await ollama.chat({ model: chatModel, messages: [{ role: 'user', content: 'hi' }], options: { num_predict: 8 }, stream: true });
  let parts = 0, last = null;
  for await (const p of s) { parts++; last = p; }
  return parts >= 2 && last.done === true && last.eval_count > 0 && last.done_reason ? true : JSON.stringify(last);
});
await check('ollama: generate', async () => {
  const r = await ollama.generate({ model: chatModel, prompt: 'hi', options: { num_predict: 8 } });
  return r.done === true && typeof r.response === 'string' ? true : JSON.stringify(r).slice(0, 300);
});
await check('ollama: streamed generate', async () => {
  const s = await ollama.generate({ model: chatModel, prompt: 'hi', options: { num_predict: 8 }, stream: true });
  let parts = 0, last = null;
  for await (const p of s) { parts++; last = p; }
  return parts >= 2 && last.done === true ? true : JSON.stringify(last);
});
await check('ollama: embed', async () => {
  const r = await ollama.embed({ model: embModel, input: ['a', 'b', 'c'] });
  return r.embeddings.length === 3 && r.embeddings[0].length > 8 ? true : JSON.stringify(r).slice(0, 300);
});
await check('ollama: ps lists the loaded models with size and context', async () => {
  const r = await ollama.ps();
  const m = r.models.find((x) => x.name === chatModel);
  return m && m.size > 0 && m.size_vram === 0 && m.context_length > 0 && m.expires_at ? true : JSON.stringify(r).slice(0, 300);
});
await check('ollama: keep_alive 0 with an empty prompt unloads', async () => {
  const r = await ollama.generate({ model: chatModel, prompt: '', keep_alive: 0 });
  if (r.done_reason !== 'unload') return JSON.stringify(r);
  for (let i = 0; i < 100; i++) {
    const ps = await ollama.ps();
    if (!ps.models.find((x) => x.name === chatModel)) return true;
    await new Promise((res) => setTimeout(res, 100));
  }
  return 'still loaded after 10 s';
});
await check('ollama: an empty chat loads the model', async () => {
  const r = await ollama.chat({ model: chatModel, messages: [] });
  if (r.done_reason !== 'load') return JSON.stringify(r);
  const ps = await ollama.ps();
  return ps.models.find((x) => x.name === chatModel) ? true : 'not in ps';
});
await check('ollama: keep_alive "2s" expires the model', async () => {
  await ollama.generate({ model: chatModel, prompt: 'hi', options: { num_predict: 2 }, keep_alive: '2s' });
  for (let i = 0; i < 80; i++) {
    await new Promise((res) => setTimeout(res, 100));
    const ps = await ollama.ps();
    if (!ps.models.find((x) => x.name === chatModel)) return i >= 10 ? true : `gone after ${i * 100} ms`;
  }
  return 'still loaded after 8 s';
});
await check('ollama: unknown model is an error', async () => {
  try {
    await ollama.chat({ model: 'no-such-model', messages: [{ role: 'user', content: 'x' }] });
    return 'no error';
  } catch (e) {
    return e.status_code === 404 || /not found/.test(e.message) ? true : String(e.message);
  }
});
process.exit(failed ? 1 : 0);
