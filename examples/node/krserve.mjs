// Shared helpers of the krserve Node examples: the wire contract (docs/wire.md)
// is msgpack maps with a "v": 1 field on versioned NATS subjects.
import { connect, createInbox } from "nats";
import { encode, decode } from "@msgpack/msgpack";

export const VERSION = 1;
export const prefix = process.env.KRSERVE_SUBJECT_PREFIX || "krserve";
export const subjects = {
  generate: `${prefix}.v1.generate`,
  cancel: (id) => `${prefix}.v1.cancel.${id}`,
  jobs: (queue) => `${prefix}.v1.jobs.${queue}`,
};
export const RESULTS_BUCKET = "krserve_results";

export function natsURL() {
  return process.env.KRSERVE_NATS_URL || "nats://127.0.0.1:4222";
}

export async function connectNATS(name) {
  try {
    return await connect({ servers: natsURL(), name });
  } catch (err) {
    throw new Error(`cannot connect to NATS at ${natsURL()} (start one with \`krserve up\`, or set KRSERVE_NATS_URL): ${err.message}`);
  }
}

export { encode, decode, createInbox };

// KrserveError is a typed error of the pipeline: code follows HTTP status
// codes (400 bad request, 404 unknown model, 429 overloaded, 503 no worker…).
export class KrserveError extends Error {
  constructor(code, message, retryable) {
    super(`krserve error ${code}: ${message}`);
    this.code = code;
    this.retryable = !!retryable;
  }
}

// errorOf turns a NATS status or micro service error reply into a KrserveError,
// or returns null when msg is a normal message.
export function errorOf(msg) {
  const h = msg.headers;
  if (!h) return null;
  if (h.code === 503 && msg.data.length === 0) {
    return new KrserveError(503, "no worker subscribes to the generate subject (is krserve up running?)", true);
  }
  const code = h.get("Nats-Service-Error-Code");
  if (code) return new KrserveError(Number(code), h.get("Nats-Service-Error"), false);
  return null;
}

// newID returns a fresh request or job id (a UUID: valid as a subject token).
export function newID() {
  return crypto.randomUUID();
}
