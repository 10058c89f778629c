#!/usr/bin/env node
// Submits a durable batch job to krserve and waits for its result.
//
// The Job (msgpack, v: 1) is published to the JetStream work queue on
// krserve.v1.jobs.<queue> with the Nats-Msg-Id header set to the job id, so
// submitting the same id twice within the duplicate window stores it once.
// Engine workers run it and store a JobResult under the job id in the KV
// bucket krserve_results; this script polls that key.
//
//   node job.mjs --prompt "Once upon a time" --id my-job-1
import { parseArgs } from "node:util";
import { connectNATS, subjects, encode, decode, newID, RESULTS_BUCKET, VERSION } from "./krserve.mjs";

const { values: args } = parseArgs({
  options: {
    id: { type: "string", default: `job-${newID()}` },
    queue: { type: "string", default: "default" },
    prompt: { type: "string", default: process.env.KRSERVE_PROMPT || "Once upon a time" },
    "max-tokens": { type: "string", default: "32" },
    timeout: { type: "string", default: "60000" }, // ms to wait for the result
    "no-wait": { type: "boolean", default: false }, // submit only
  },
});

const job = {
  v: VERSION,
  id: args.id,
  request: { v: VERSION, prompt: args.prompt, max_tokens: Number(args["max-tokens"]) },
  submitted_ms: Date.now(),
  metadata: { source: "examples/node/job.mjs" },
};

// Result keys are job ids with ":" replaced by "/" (KV keys cannot hold ":").
const resultKey = (id) => id.replaceAll(":", "/");

const nc = await connectNATS("krserve-node-job");
let exitCode = 0;
try {
  const js = nc.jetstream();
  let ack;
  try {
    ack = await js.publish(subjects.jobs(args.queue), encode(job), { msgID: job.id });
  } catch (err) {
    throw new Error(`submit failed: ${err.message} (does the KRSERVE_JOBS stream exist? \`krserve up\` creates it)`);
  }
  console.log(`submitted ${job.id}: stream ${ack.stream} seq ${ack.seq}${ack.duplicate ? " (duplicate: already queued)" : ""}`);
  if (!args["no-wait"]) {
    const kv = await waitForBucket(js, Number(args.timeout));
    const result = await pollResult(kv, resultKey(job.id), Number(args.timeout));
    console.log(`status: ${result.status}  deliveries: ${result.deliveries}  worker: ${result.worker || "-"}`);
    if (result.status === "done") {
      console.log(`text: ${result.text}`);
      const u = result.usage || {};
      console.log(`usage: prompt_tokens=${u.prompt_tokens} cached_tokens=${u.cached_tokens} generated_tokens=${u.generated_tokens} finish_reason=${result.finish_reason}`);
    } else {
      console.log(`error ${result.error.code}: ${result.error.message}`);
      exitCode = 1;
    }
  }
} catch (err) {
  console.error(err.message);
  exitCode = 1;
} finally {
  await nc.close();
}
process.exitCode = exitCode;

async function waitForBucket(js, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      // bindOnly: never create the bucket; the deployment owns it.
      return await js.views.kv(RESULTS_BUCKET, { bindOnly: true });
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`results bucket ${RESULTS_BUCKET} not found: ${err.message}`);
      await sleep(200);
    }
  }
}

async function pollResult(kv, key, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const e = await kv.get(key);
    if (e && e.operation === "PUT" && e.value.length > 0) return decode(e.value);
    if (Date.now() > deadline) throw new Error(`no result for ${key} within ${timeoutMs} ms`);
    await sleep(100);
  }
}

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}
