// The official `openai` npm client against the krserve gateway
// (`krserve gateway` or `krserve up --http`). Run with
//   KRSERVE_GATEWAY_URL=http://127.0.0.1:8080/v1 node --test openai.test.mjs
// KRSERVE_MODEL names the served model (default: the first of models.list()),
// KRSERVE_API_KEY the key when the gateway requires one.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import OpenAI from "openai";

const baseURL = process.env.KRSERVE_GATEWAY_URL || "http://127.0.0.1:8080/v1";
const client = new OpenAI({ baseURL, apiKey: process.env.KRSERVE_API_KEY || "unused", maxRetries: 0, timeout: 30_000 });
let model = process.env.KRSERVE_MODEL;

before(async () => {
  if (!model) {
    const page = await client.models.list();
    model = page.data[0].id;
  }
});

test("models.list names the served model", async () => {
  const page = await client.models.list();
  assert.equal(page.data.length, 1);
  assert.equal(page.data[0].id, model);
  assert.equal(page.data[0].object, "model");
  const one = await client.models.retrieve(model);
  assert.equal(one.id, model);
});

test("chat completion", async () => {
  const r = await client.chat.completions.create({
    model,
    messages: [{ role: "user", content: "Tell me a story about a cat." }],
    temperature: 0,
    max_tokens: 20,
  });
  assert.equal(r.object, "chat.completion");
  assert.match(r.id, /^chatcmpl-/);
  assert.equal(r.choices.length, 1);
  assert.equal(r.choices[0].message.role, "assistant");
  assert.ok(r.choices[0].message.content.length > 0, "empty content");
  assert.ok(["stop", "length"].includes(r.choices[0].finish_reason), r.choices[0].finish_reason);
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 20);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, "number");
});

test("streamed chat completion equals the whole one", async () => {
  const body = { model, messages: [{ role: "user", content: "Once upon a time" }], temperature: 0, max_tokens: 24 };
  const whole = await client.chat.completions.create(body);
  const stream = await client.chat.completions.create({ ...body, stream: true, stream_options: { include_usage: true } });
  let text = "";
  let finish = null;
  let usage = null;
  let chunks = 0;
  for await (const chunk of stream) {
    assert.equal(chunk.object, "chat.completion.chunk");
    chunks++;
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.delta.content ?? "";
      if (c.finish_reason) finish = c.finish_reason;
    }
  }
  assert.ok(chunks > 2, `only ${chunks} chunks`);
  assert.equal(text, whole.choices[0].message.content);
  assert.equal(finish, whole.choices[0].finish_reason);
  assert.equal(usage.completion_tokens, whole.usage.completion_tokens);
  // The same prompt ran just before: its KV blocks are reused.
  assert.ok(usage.prompt_tokens_details.cached_tokens > 0, "no cached tokens on a repeated prompt");
});

test("legacy completions", async () => {
  const r = await client.completions.create({ model, prompt: "Once upon a time", max_tokens: 8, temperature: 0 });
  assert.equal(r.object, "text_completion");
  assert.equal(r.choices[0].finish_reason, "length");
  assert.equal(r.usage.completion_tokens, 8);
});

test("unknown model is a NotFoundError", async () => {
  await assert.rejects(
    client.chat.completions.create({ model: "gpt-nonexistent", messages: [{ role: "user", content: "hi" }] }),
    (err) => {
      assert.ok(err instanceof OpenAI.NotFoundError, `got ${err.constructor.name}: ${err.message}`);
      assert.equal(err.status, 404);
      assert.equal(err.code, "model_not_found");
      return true;
    },
  );
});

test("invalid parameter is a BadRequestError naming it", async () => {
  await assert.rejects(
    client.chat.completions.create({ model, messages: [{ role: "user", content: "hi" }], temperature: 5 }),
    (err) => {
      assert.ok(err instanceof OpenAI.BadRequestError, `got ${err.constructor.name}`);
      assert.equal(err.param, "temperature");
      return true;
    },
  );
});
