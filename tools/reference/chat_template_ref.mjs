// Second reference renderer for LongLM's chat-template goldens: the npm package @huggingface/jinja (the engine of
// transformers.js), given the same inputs as chat_template_ref.py (messages, tools/documents null when absent,
// add_generation_prompt, special tokens as strings, the fixed clock of conversations.json).
// usage: node chat_template_ref.mjs DATA_DIR OUT_DIR
import fs from "node:fs";
import path from "node:path";
import { Template } from "@huggingface/jinja";

const SPECIAL = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"];
// @huggingface/jinja defines raise_exception and strftime_now itself (from `new Date()`), and a context cannot redefine it, so the
// fixed clock of conversations.json is installed as the global Date: `new Date()` and Date.now() give that instant.
function installFixedClock(iso) {
	const RealDate = Date;
	const fixed = new RealDate(iso).getTime(); // ISO without offset = local time, like Python's naive datetime
	globalThis.Date = class extends RealDate {
		constructor(...args) { if (args.length === 0) super(fixed); else super(...args); }
		static now() { return fixed; }
	};
}

function specialTokens(config) {
	const out = {};
	for (const name of SPECIAL) {
		let v = config[name];
		if (v && typeof v === "object" && !Array.isArray(v)) v = v.content;
		else if (Array.isArray(v)) v = v.map((x) => (typeof x === "object" ? x.content : x));
		if (v !== undefined && v !== null) out[name] = v;
	}
	return out;
}

const [dataDir, outDir] = process.argv.slice(2);
const spec = JSON.parse(fs.readFileSync(path.join(dataDir, "conversations.json"), "utf8"));
installFixedClock(spec.now);
fs.mkdirSync(outDir, { recursive: true });
let count = 0;
const templatesDir = path.join(dataDir, "templates");
for (const tid of fs.readdirSync(templatesDir).sort()) {
	const config = JSON.parse(fs.readFileSync(path.join(templatesDir, tid, "tokenizer_config.json"), "utf8"));
	const renders = {};
	let template = null;
	try {
		template = new Template(config.chat_template);
	} catch (e) {
		for (const conv of spec.conversations) renders[conv.id] = { error: `parse: ${e.message}`, kind: "parse" };
	}
	for (const conv of template ? spec.conversations : []) {
		const tools = conv.tools ? spec.tools[conv.tools] : null;
		try {
			const text = template.render({
				messages: conv.messages,
				tools,
				documents: null,
				add_generation_prompt: conv.add_generation_prompt,
				...specialTokens(config),
			});
			renders[conv.id] = { output: text };
		} catch (e) {
			renders[conv.id] = { error: e.message, kind: "error" };
		}
		count++;
	}
	fs.writeFileSync(path.join(outDir, tid + ".json"), JSON.stringify({ template: tid, reference: "@huggingface/jinja", renders }, null, 1) + "\n");
}
console.log(`${count} renders -> ${outDir}`);
