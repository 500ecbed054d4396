#!/usr/bin/env python3
"""Reference renderer for LongLM's chat-template goldens: Debian's python3-jinja2 configured exactly like
transformers' apply_chat_template (src/transformers/utils/chat_template_utils.py, _compile_jinja_template):
ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker,
jinja2.ext.loopcontrols]), tojson = json.dumps(ensure_ascii=False, indent, separators, sort_keys),
raise_exception -> TemplateError, strftime_now -> datetime.strftime, here of a FIXED clock (conversations.json
"now") so the goldens do not depend on the day they were made.

The render call mirrors render_jinja_template: template.render(messages=..., tools=..., documents=...,
add_generation_prompt=..., **special_tokens) with tools/documents None when absent, and special tokens as
transformers' special_tokens_map gives them (strings; AddedToken reduced to its content; unset ones absent).

usage: chat_template_ref.py DATA_DIR OUT_DIR   (DATA_DIR = tests/data/chat-templates)
"""
import json, os, sys
from datetime import datetime

import jinja2
import jinja2.ext
from jinja2.ext import Extension
from jinja2.sandbox import ImmutableSandboxedEnvironment

SPECIAL = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token", "additional_special_tokens"]


class AssistantTracker(Extension):
    """transformers' {% generation %} tag; rendering only (no index tracking is needed for a golden)."""
    tags = {"generation"}

    def parse(self, parser):
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(["name:endgeneration"], drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_generation_support"), [], [], body).set_lineno(lineno)

    @jinja2.pass_eval_context
    def _generation_support(self, context, caller):
        return caller()


def make_env(now):
    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators, sort_keys=sort_keys)

    def strftime_now(format):
        return now.strftime(format)

    env = ImmutableSandboxedEnvironment(trim_blocks=True, lstrip_blocks=True, extensions=[AssistantTracker, jinja2.ext.loopcontrols])
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    return env


def special_tokens(config):
    out = {}
    for name in SPECIAL:
        value = config.get(name)
        if isinstance(value, dict):
            value = value["content"]
        elif isinstance(value, list):
            value = [v["content"] if isinstance(v, dict) else v for v in value]
        if value is not None:
            out[name] = value
    return out


def render_all(data_dir):
    spec = json.load(open(os.path.join(data_dir, "conversations.json"), encoding="utf-8"))
    env = make_env(datetime.fromisoformat(spec["now"]))
    results = {}
    templates_dir = os.path.join(data_dir, "templates")
    for tid in sorted(os.listdir(templates_dir)):
        config = json.load(open(os.path.join(templates_dir, tid, "tokenizer_config.json"), encoding="utf-8"))
        template = env.from_string(config["chat_template"])
        renders = {}
        for conv in spec["conversations"]:
            tools = spec["tools"][conv["tools"]] if "tools" in conv else None
            try:
                text = template.render(messages=conv["messages"], tools=tools, documents=None,
                                       add_generation_prompt=conv["add_generation_prompt"], **special_tokens(config))
                renders[conv["id"]] = {"output": text}
            except jinja2.exceptions.TemplateError as e:
                # TemplateError itself is raise_exception; subclasses (UndefinedError, ...) are Jinja's own errors.
                kind = "raise_exception" if type(e) is jinja2.exceptions.TemplateError else type(e).__name__
                renders[conv["id"]] = {"error": str(e), "kind": kind}
            except Exception as e:  # TypeError etc. from Python operators inside the template
                renders[conv["id"]] = {"error": str(e), "kind": type(e).__name__}
        results[tid] = renders
    return spec["now"], results


def main():
    data_dir, out_dir = sys.argv[1], sys.argv[2]
    now, results = render_all(data_dir)
    os.makedirs(out_dir, exist_ok=True)
    for tid, renders in results.items():
        with open(os.path.join(out_dir, tid + ".json"), "w", encoding="utf-8") as f:
            json.dump({"template": tid, "reference": f"python3-jinja2 {jinja2.__version__}", "now": now, "renders": renders},
                      f, ensure_ascii=False, indent=1, sort_keys=True)
            f.write("\n")
    print(f"{len(results)} templates, {sum(len(r) for r in results.values())} renders -> {out_dir}")


if __name__ == "__main__":
    main()
