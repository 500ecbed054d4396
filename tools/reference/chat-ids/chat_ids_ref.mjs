// Independent reference for LongLM's chat prompt ids: @lenml/tokenizers (transformers.js' tokenizers) renders a
// conversation with the folder's chat_template and tokenizes it as HF's apply_chat_template(tokenize=True) does
// (add_special_tokens=false: the template writes BOS). Writes {source, model, conversations: [{messages, add_generation_prompt, text, ids}]}.
//
//   cd tools/reference/chat-ids && npm ci && node chat_ids_ref.mjs MODEL_DIR CONVERSATIONS.json OUT.json
import fs from "node:fs";
import path from "node:path";
import { TokenizerLoader } from "@lenml/tokenizers";

const [dir, conversationsFile, out] = process.argv.slice(2);
const tokenizer = TokenizerLoader.fromPreTrained({
  tokenizerJSON: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer.json"), "utf8")),
  tokenizerConfig: JSON.parse(fs.readFileSync(path.join(dir, "tokenizer_config.json"), "utf8")),
});
const conversations = JSON.parse(fs.readFileSync(conversationsFile, "utf8"));
const results = conversations.map(({ messages, add_generation_prompt }) => {
  const text = tokenizer.apply_chat_template(messages, { add_generation_prompt, tokenize: false });
  const ids = Array.from(tokenizer.apply_chat_template(messages, { add_generation_prompt, tokenize: true }), Number);
  return { messages, add_generation_prompt, text, ids };
});
const pkg = JSON.parse(fs.readFileSync(new URL("./node_modules/@lenml/tokenizers/package.json", import.meta.url), "utf8"));
fs.writeFileSync(out, JSON.stringify({
  source: `tools/reference/chat-ids/chat_ids_ref.mjs: @lenml/tokenizers ${pkg.version} apply_chat_template(tokenize: true)`,
  model: path.basename(path.resolve(dir)),
  conversations: results,
}, null, 1) + "\n");
console.error(`wrote ${out}: ${results.length} conversations`);
