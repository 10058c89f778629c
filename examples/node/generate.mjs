#!/usr/bin/env node
// Streams one generation from krserve over NATS: publishes a GenerateRequest
// (msgpack, v: 1) on krserve.v1.generate with a reply inbox, prints each token
// as it arrives and then the usage from the final message.
//
//   node generate.mjs --prompt "Once upon a time" --max-tokens 64
//   KRSERVE_NATS_URL=nats://host:4222 node generate.mjs --chat "Tell me a story"
import { parseArgs } from "node:util";
import { connectNATS, subjects, encode, decode, errorOf, newID, createInbox, KrserveError, VERSION } from "./krserve.mjs";

const { values: args } = parseArgs({
  options: {
    prompt: { type: "string", default: process.env.KRSERVE_PROMPT || "Once upon a time" },
    chat: { type: "string" }, // a user message rendered with the model's chat template instead of a raw prompt
    "max-tokens": { type: "string", default: "64" },
    temperature: { type: "string", default: "0" },
    seed: { type: "string" },
    conversation: { type: "string" },
    "idle-timeout": { type: "string", default: "30000" }, // ms without a stream message
  },
});

const request = {
  v: VERSION,
  id: newID(),
  max_tokens: Number(args["max-tokens"]),
  sampling: { temperature: Number(args.temperature) },
};
if (args.seed !== undefined) request.sampling.seed = Number(args.seed);
if (args.chat !== undefined) request.messages = [{ role: "user", content: args.chat }];
else request.prompt = args.prompt;
if (args.conversation) request.conversation_id = args.conversation;

const nc = await connectNATS("krserve-node-generate");
let exitCode = 0;
let timer;
try {
  // Subscribe before publishing so no message of the stream can be missed.
  const inbox = createInbox();
  const sub = nc.subscribe(inbox);
  nc.publish(subjects.generate, encode(request), { reply: inbox });
  // Ctrl-C cancels the request so the engine frees its KV cache at once.
  process.once("SIGINT", () => {
    nc.publish(subjects.cancel(request.id), encode({ v: VERSION, id: request.id, reason: "interrupted" }));
    sub.unsubscribe();
  });
  const idle = Number(args["idle-timeout"]);
  let expect = 0;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      console.error(`\nno stream message for ${idle} ms: worker stuck or gone`);
      exitCode = 1;
      sub.unsubscribe();
    }, idle);
  };
  arm();
  for await (const msg of sub) {
    arm();
    const err = errorOf(msg);
    if (err) throw err;
    const m = decode(msg.data);
    if (m.seq !== expect) throw new Error(`gap in the stream: got seq ${m.seq}, want ${expect}`);
    expect++;
    if (m.kind === "token") {
      process.stdout.write(m.text || "");
    } else if (m.kind === "final") {
      const u = m.usage;
      const t = m.timings || {};
      process.stdout.write("\n");
      console.log(
        `usage: prompt_tokens=${u.prompt_tokens} cached_tokens=${u.cached_tokens} generated_tokens=${u.generated_tokens}` +
          ` finish_reason=${m.finish_reason} worker=${m.worker} variant=${m.variant} ttft_ms=${(t.ttft_us || 0) / 1000}`,
      );
      break;
    } else if (m.kind === "error") {
      throw new KrserveError(m.error.code, m.error.message, m.error.retryable);
    }
  }
} catch (err) {
  console.error(`\n${err.message}`);
  exitCode = 1;
} finally {
  clearTimeout(timer);
  await nc.close();
}
process.exitCode = exitCode;
