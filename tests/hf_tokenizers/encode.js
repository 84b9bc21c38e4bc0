// Encodes texts with Hugging Face tokenizers (the Rust core, through the npm
// package @anush008/tokenizers) from a tokenizer.json, as transformers'
// fast tokenizer does: special tokens added ([CLS] ... [SEP]).
// Usage: node encode.js NODE_MODULES_DIR TOKENIZER_JSON INPUTS OUTPUT
// INPUTS: one JSON string per line. OUTPUT: one line of space-separated ids
// per input, in order.
"use strict";
const fs = require("fs");
const path = require("path");
const [modules, tokPath, inPath, outPath] = process.argv.slice(2);
const { Tokenizer } = require(path.resolve(modules, "@anush008", "tokenizers"));

async function main() {
  const tok = Tokenizer.fromFile(tokPath);
  const texts = fs.readFileSync(inPath, "utf8").split("\n").filter((l) => l.length)
    .map((l) => JSON.parse(l));
  const out = [];
  for (let i = 0; i < texts.length; i += 2000) {
    const encs = await tok.encodeBatch(texts.slice(i, i + 2000));
    for (const e of encs) out.push(e.getIds().join(" "));
  }
  fs.writeFileSync(outPath, out.join("\n") + "\n");
}
main().catch((e) => { console.error("encode.js: " + (e && e.stack || e)); process.exit(1); });
