// Independent reference for LongLM's plain tokenization (no chat template): @lenml/tokenizers (transformers.js'
// tokenizers) encodes each text as HF's tokenizer(text).input_ids does (add_special_tokens true: the folder's
// post-processor decides what is added), and decodes the ids back. Writes {source, model, cases: [{text, ids, decoded}]}.
//
//   cd tools/reference/chat-ids && npm ci && node tokenize_ref.mjs TOKENIZER_DIR TEXTS.json OUT.json
import fs from "node:fs";
import path from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, textsFile, out] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const texts = JSON.parse(fs.readFileSync(textsFile, "utf8"));
const cases = texts.map((text) => {
  const ids = Array.from(tokenizer.encode(text), Number);
  return { text, ids, decoded: tokenizer.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }) };
});
const pkg = JSON.parse(fs.readFileSync(new URL("./node_modules/@lenml/tokenizers/package.json", import.meta.url), "utf8"));
fs.writeFileSync(out, JSON.stringify({
  source: `tools/reference/chat-ids/tokenize_ref.mjs: @lenml/tokenizers ${pkg.version} encode (add_special_tokens: true) and decode`,
  model: path.basename(path.resolve(dir)),
  cases,
}, null, 1) + "\n");
console.error(`wrote ${out}: ${cases.length} texts`);
