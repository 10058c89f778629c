// Regenerates ../special.jsonl: texts with special tokens encoded by the
// reference tiktoken (npm "tiktoken", the Rust core compiled to WASM) in
// both modes: allowed_special = "all" and plain text (encode_ordinary).
// It reuses the pinned install of tokenizerd/bpe/testdata/gen:
//   (cd ../../../bpe/testdata/gen && npm ci) && node gen_special.mjs
import { createRequire } from "node:module";
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const require = createRequire(join(here, "../../../bpe/testdata/gen/package.json"));
const { get_encoding } = require("tiktoken");

const texts = [
  "<|endoftext|>",
  "Hello <|endoftext|> world",
  "<|endoftext|><|endoftext|>",
  "a<|endoftext|>b",
  "<|fim_prefix|>def f():<|fim_suffix|>\n    return 1<|fim_middle|>",
  "<|endofprompt|> after the prompt",
  "<|endoftext",
  "<|endoftext|",
  "<|end|> is not special in cl100k",
  "  <|endoftext|>  spaces around  ",
  "😀<|endoftext|>日本語",
  "<<|endoftext|>>",
  "<|im_start|>user\nhi<|im_end|>",
];

const lines = [];
for (const name of ["cl100k_base", "o200k_base"]) {
  const enc = get_encoding(name);
  for (const text of texts) {
    const all = Array.from(enc.encode(text, "all"));
    const none = Array.from(enc.encode_ordinary(text));
    lines.push(JSON.stringify({ vocab: name, text, all, none }));
  }
  enc.free();
}
writeFileSync(join(here, "..", "special.jsonl"), lines.join("\n") + "\n");
console.log(`wrote ${lines.length} cases`);
