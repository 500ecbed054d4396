#!/usr/bin/python3
"""Writes a Llama model folder in Hugging Face layout (LongLM's benchmark fixtures: config.json, *.safetensors,
a byte-level BPE tokenizer.json) as one GGUF file for llama.cpp, so both runtimes read the same weights.

    /usr/bin/python3 bench/anchors/hf_to_gguf.py MODEL_DIR OUT.gguf

Only numpy (Debian's python3-numpy). Written from the GGUF specification (ggml's docs/gguf.md: header, typed
key-values, tensor infos, 32-byte-aligned data) and llama.cpp's tensor names for the llama architecture; it is a
benchmark tool, not a general converter: it refuses anything but LlamaForCausalLM with a BPE tokenizer.json.
Dtypes are kept (F32, F16 and BF16 stay as stored, so the GGUF holds the same bytes LongLM reads); 1-D tensors
(the norms) are written as F32, as llama.cpp's own converter does.
"""
import json
import struct
import sys
from pathlib import Path

import numpy as np

# GGUF value types and ggml tensor types (docs/gguf.md).
U32, I32, F32V, BOOL, STRING, ARRAY = 4, 5, 6, 7, 8, 9
GGML_F32, GGML_F16, GGML_BF16 = 0, 1, 30
# llama_ftype values for general.file_type.
FTYPE = {GGML_F32: 0, GGML_F16: 1, GGML_BF16: 32}
ALIGN = 32


def fail(message):
    print(f"hf_to_gguf: {message}", file=sys.stderr)
    sys.exit(2)


def read_safetensors(folder):
    """name -> (dtype string, shape, numpy view of the raw bytes), memory-mapped."""
    tensors = {}
    files = sorted(folder.glob("*.safetensors"))
    if not files:
        fail(f"no *.safetensors in {folder}")
    for path in files:
        raw = np.memmap(path, dtype=np.uint8, mode="r")
        header_len = struct.unpack("<Q", raw[:8].tobytes())[0]
        header = json.loads(raw[8:8 + header_len].tobytes())
        base = 8 + header_len
        for name, info in header.items():
            if name == "__metadata__":
                continue
            start, end = info["data_offsets"]
            tensors[name] = (info["dtype"], info["shape"], raw[base + start:base + end])
    return tensors


def as_array(dtype, shape, raw):
    """(numpy array, ggml type): BF16 stays as raw uint16 words."""
    if dtype == "F32":
        return raw.view(np.float32).reshape(shape), GGML_F32
    if dtype == "F16":
        return raw.view(np.float16).reshape(shape), GGML_F16
    if dtype == "BF16":
        return raw.view(np.uint16).reshape(shape), GGML_BF16
    fail(f"unsupported safetensors dtype {dtype}")


def to_f32(array, ggml_type):
    if ggml_type == GGML_BF16:
        return (array.astype(np.uint32) << 16).view(np.float32)
    return array.astype(np.float32)


def rope_interleave(w, n_head):
    """HF stores q/k rows so that RoPE rotates halves (rotate_half); ggml's llama rotates adjacent pairs.
    Within each head, row i of the first half and row i of the second half become rows 2i and 2i+1."""
    rows = w.shape[0]
    head_dim = rows // n_head
    return w.reshape(n_head, 2, head_dim // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


class Writer:
    def __init__(self):
        self.kv = []
        self.tensors = []

    @staticmethod
    def string(s):
        b = s.encode("utf-8")
        return struct.pack("<Q", len(b)) + b

    def add(self, key, vtype, value):
        self.kv.append(self.string(key) + struct.pack("<I", vtype) + self.value(vtype, value))

    def value(self, vtype, value):
        if vtype == U32:
            return struct.pack("<I", value)
        if vtype == I32:
            return struct.pack("<i", value)
        if vtype == F32V:
            return struct.pack("<f", value)
        if vtype == BOOL:
            return struct.pack("<?", value)
        if vtype == STRING:
            return self.string(value)
        raise ValueError(vtype)

    def add_array(self, key, etype, values):
        body = b"".join(self.value(etype, v) for v in values)
        self.kv.append(self.string(key) + struct.pack("<IIQ", ARRAY, etype, len(values)) + body)

    def add_tensor(self, name, array, ggml_type):
        self.tensors.append((name, np.ascontiguousarray(array), ggml_type))

    def write(self, path):
        infos, offset = [], 0
        for name, array, ggml_type in self.tensors:
            dims = list(reversed(array.shape))  # ggml's ne[0] is the innermost (contiguous) dimension
            infos.append(self.string(name) + struct.pack("<I", len(dims)) + struct.pack(f"<{len(dims)}Q", *dims)
                         + struct.pack("<IQ", ggml_type, offset))
            offset += (array.nbytes + ALIGN - 1) // ALIGN * ALIGN
        with open(path, "wb") as f:
            f.write(b"GGUF" + struct.pack("<IQQ", 3, len(self.tensors), len(self.kv)))
            for item in self.kv + infos:
                f.write(item)
            f.write(b"\0" * (-f.tell() % ALIGN))
            for _, array, _ in self.tensors:
                f.write(array.tobytes())
                f.write(b"\0" * (-array.nbytes % ALIGN))


def main():
    if len(sys.argv) != 3:
        fail("usage: hf_to_gguf.py MODEL_DIR OUT.gguf")
    folder, out = Path(sys.argv[1]), Path(sys.argv[2])
    config = json.loads((folder / "config.json").read_text())
    if config.get("architectures") != ["LlamaForCausalLM"]:
        fail(f"only LlamaForCausalLM is supported, not {config.get('architectures')}")
    tok_path = folder / "tokenizer.json"
    if not tok_path.exists():
        fail("needs a byte-level BPE tokenizer.json (LongLM's fixtures write one)")
    tokenizer = json.loads(tok_path.read_text())
    model = tokenizer["model"]
    if model.get("type") != "BPE":
        fail(f"tokenizer.json model type {model.get('type')} is not BPE")

    hidden = config["hidden_size"]
    n_head = config["num_attention_heads"]
    n_kv = config.get("num_key_value_heads", n_head)
    head_dim = config.get("head_dim", hidden // n_head)
    layers = config["num_hidden_layers"]
    vocab_size = config["vocab_size"]

    tensors = read_safetensors(folder)
    embed_dtype = as_array(*tensors["model.embed_tokens.weight"])[1]

    w = Writer()
    w.add("general.architecture", STRING, "llama")
    w.add("general.name", STRING, folder.name)
    w.add("general.file_type", U32, FTYPE[embed_dtype])
    w.add("general.alignment", U32, ALIGN)
    w.add("llama.vocab_size", U32, vocab_size)
    w.add("llama.context_length", U32, config["max_position_embeddings"])
    w.add("llama.embedding_length", U32, hidden)
    w.add("llama.block_count", U32, layers)
    w.add("llama.feed_forward_length", U32, config["intermediate_size"])
    w.add("llama.attention.head_count", U32, n_head)
    w.add("llama.attention.head_count_kv", U32, n_kv)
    w.add("llama.attention.key_length", U32, head_dim)
    w.add("llama.attention.value_length", U32, head_dim)
    w.add("llama.rope.dimension_count", U32, head_dim)
    w.add("llama.rope.freq_base", F32V, float(config.get("rope_theta", 10000.0)))
    w.add("llama.attention.layer_norm_rms_epsilon", F32V, float(config.get("rms_norm_eps", 1e-6)))

    # Vocabulary: ids 0..vocab_size-1 from the BPE vocab and the added tokens; gaps get a placeholder.
    tokens = [f"[PAD{i}]" for i in range(vocab_size)]
    types = [4] * vocab_size  # user-defined until seen
    for text, i in model["vocab"].items():
        if i < vocab_size:
            tokens[i], types[i] = text, 1  # normal
    for added in tokenizer.get("added_tokens", []):
        if added["id"] < vocab_size:
            tokens[added["id"]], types[added["id"]] = added["content"], 3 if added.get("special") else 4  # control
    merges = [m if isinstance(m, str) else " ".join(m) for m in model["merges"]]
    w.add("tokenizer.ggml.model", STRING, "gpt2")
    w.add("tokenizer.ggml.pre", STRING, "default")
    w.add_array("tokenizer.ggml.tokens", STRING, tokens)
    w.add_array("tokenizer.ggml.token_type", I32, types)
    w.add_array("tokenizer.ggml.merges", STRING, merges)
    for key in ("bos_token_id", "eos_token_id"):
        if isinstance(config.get(key), int):
            w.add(f"tokenizer.ggml.{key}", U32, config[key])
    w.add("tokenizer.ggml.add_bos_token", BOOL, False)

    def put(hf_name, gguf_name, n_heads_for_rope=None):
        dtype, shape, raw = tensors[hf_name]
        array, ggml_type = as_array(dtype, shape, raw)
        if array.ndim == 1:
            array, ggml_type = to_f32(array, ggml_type), GGML_F32
        if n_heads_for_rope:
            array = rope_interleave(array, n_heads_for_rope)
        w.add_tensor(gguf_name, array, ggml_type)

    put("model.embed_tokens.weight", "token_embd.weight")
    for i in range(layers):
        p, b = f"model.layers.{i}.", f"blk.{i}."
        put(p + "input_layernorm.weight", b + "attn_norm.weight")
        put(p + "self_attn.q_proj.weight", b + "attn_q.weight", n_head)
        put(p + "self_attn.k_proj.weight", b + "attn_k.weight", n_kv)
        put(p + "self_attn.v_proj.weight", b + "attn_v.weight")
        put(p + "self_attn.o_proj.weight", b + "attn_output.weight")
        put(p + "post_attention_layernorm.weight", b + "ffn_norm.weight")
        put(p + "mlp.gate_proj.weight", b + "ffn_gate.weight")
        put(p + "mlp.up_proj.weight", b + "ffn_up.weight")
        put(p + "mlp.down_proj.weight", b + "ffn_down.weight")
    put("model.norm.weight", "output_norm.weight")
    if "lm_head.weight" in tensors and not config.get("tie_word_embeddings", False):
        put("lm_head.weight", "output.weight")
    for name in tensors:
        if "bias" in name:
            fail(f"{name}: biases are not written by this converter")
    w.write(out)
    print(f"hf_to_gguf: wrote {out} ({len(w.tensors)} tensors)")


if __name__ == "__main__":
    main()
