using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Fixtures;

/// <summary>
/// Writes random-weight models in HF layout (config.json, model.safetensors, tokenizer.json) for tests and
/// benchmarks. Values come from SplitMix64(seed), so a (family, shape, dtype, seed) names one exact model.
/// </summary>
public static class FixtureWriter
{
    /// <summary>Families a fixture can be made for.</summary>
    public static IReadOnlyList<string> Families { get; } = ["llama", "mpt", "bloom", "gptj", "gpt-neox", "phi", "mixtral"];

    /// <summary>Families made from an existing model folder (<c>--base</c>) rather than from a shape.</summary>
    public static IReadOnlyList<string> BaseFamilies { get; } = ["llama-clex", "phi-clex", "mixtral-clex"];

    /// <summary>Tokenizer and generation files a derived fixture copies from its base folder (those present).</summary>
    private static readonly string[] s_tokenizerFiles =
        ["tokenizer.model", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "added_tokens.json", "vocab.json", "merges.txt", "generation_config.json"];

    /// <summary>
    /// A CLEX checkpoint made from the RoPE model in <paramref name="baseDirectory"/> (family "FAMILY-clex", e.g.
    /// "llama-clex", "phi-clex"; <paramref name="clexFamily"/>, by default the base's family + "-clex", must match it): its
    /// config.json with <c>"rope_scaling": {"type": "clex", "max_factor", "param_factor", "act", "time_dt"}</c> and
    /// <c>"log_scale": false</c> added, its tokenizer files, every tensor it has (same names, same dtype), and the CLEX
    /// layer under the checkpoint's names (algorithms.md 3.2; every CLEX release keeps it at model.clex_layer), with d =
    /// the base family's rotary dim (Phi: the partial rotary dims, not head_dim): <c>model.clex_layer.inv_freq</c> [d/2]
    /// F32 = the base model's 1/rope_theta^(2k/d), <c>proj_func.ode_up_proj</c> [d/2, λd] F32 uniform ±0.5 and
    /// <c>proj_func.ode_down_proj</c> [λd, d/2] F32 uniform ±0.3 from SplitMix64(<paramref name="seed"/>), in that
    /// order. The ODE weights are large enough that the frequencies move well away from the ξ-only (dynamic-NTK)
    /// solution with t, so tests built on the fixture tell the learned dynamics from NTK scaling.
    /// </summary>
    public static void WriteClex(string baseDirectory, ulong seed, string directory, int maxFactor = 8, double paramFactor = 1,
        string act = "tanh", double timeDt = 0.01, string? clexFamily = null)
    {
        if (!Directory.Exists(baseDirectory)) throw new LongLMException($"{baseDirectory}: base model folder not found", baseDirectory);
        if (maxFactor < 1) throw new LongLMException($"max_factor must be at least 1, not {maxFactor}");
        if (act is not ("tanh" or "silu")) throw new LongLMException($"act must be tanh or silu, not '{act}'");
        if (!(timeDt > 0)) throw new LongLMException($"time_dt must be positive, not {timeDt}");
        if (Path.GetFullPath(baseDirectory) == Path.GetFullPath(directory)) throw new LongLMException("the fixture cannot be written over its base folder");
        // The family's own reading of config.json, so d is its rotary dim (partial rotary included).
        var config = ModelRegistry.LoadConfig(baseDirectory);
        string family = ModelRegistry.FamilyOf(config);
        clexFamily ??= family + "-clex";
        if (!BaseFamilies.Contains(clexFamily)) throw new LongLMException($"unknown CLEX fixture family '{clexFamily}' (available: {string.Join(", ", BaseFamilies)})");
        if (ModelRegistry.PositionalEncodingOf(config) != "rope" || family + "-clex" != clexFamily)
            throw new LongLMException($"{baseDirectory}: {clexFamily} fixtures are made from {clexFamily[..^"-clex".Length]} models, not a {family} model (model_type '{config.ModelType}')");
        if (config.RopeScaling is not null)
            throw new LongLMException($"{baseDirectory}: the base model already has rope_scaling '{config.RopeScaling.Type}'");
        int d = config.RotaryDim, m = d / 2;
        double hiddenExact = paramFactor * d;
        if (!(paramFactor > 0) || hiddenExact != Math.Floor(hiddenExact)) throw new LongLMException($"param_factor {paramFactor} times the rotary dim {d} is not a whole MLP width");
        int hidden = (int)hiddenExact;

        Directory.CreateDirectory(directory);
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(baseDirectory, "config.json")))!.AsObject();
        json["rope_scaling"] = new JsonObject
        {
            ["type"] = ClexRope.TypeName,
            ["max_factor"] = maxFactor,
            ["param_factor"] = paramFactor,
            ["act"] = act,
            ["time_dt"] = timeDt,
        };
        json["log_scale"] = false;
        File.WriteAllText(Path.Combine(directory, "config.json"), json.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        foreach (string name in s_tokenizerFiles)
            if (File.Exists(Path.Combine(baseDirectory, name)))
                File.WriteAllBytes(Path.Combine(directory, name), File.ReadAllBytes(Path.Combine(baseDirectory, name))); // not File.Copy: no read-only bits

        using var store = WeightStore.Open(baseDirectory);
        var writer = new SafeTensorsWriter();
        foreach (string name in store.Names.Order(StringComparer.Ordinal))
        {
            var info = store.Info(name);
            if (info.DType is not (DType.F32 or DType.F16 or DType.BF16))
                throw new LongLMException($"{baseDirectory}: tensor '{name}' is {info.DType}; fixtures copy F32, F16 and BF16 tensors only");
            if (name.StartsWith("model.clex_layer.", StringComparison.Ordinal))
                throw new LongLMException($"{baseDirectory}: the base model already holds the CLEX tensor '{name}'");
            writer.Add(name, info.DType, info.Shape, span => store.View(name).ToFloat32().CopyTo(span));
        }
        var invFreq = new float[m];
        for (int k = 0; k < m; k++) invFreq[k] = (float)(1.0 / Math.Pow(config.RopeTheta, 2.0 * k / d));
        var values = new FixtureValues(seed);
        writer.Add(ClexRope.InvFreqTensor, DType.F32, [m], invFreq);
        writer.Add(ClexRope.UpProjTensor, DType.F32, [m, hidden], values.Uniform(0.5f));
        writer.Add(ClexRope.DownProjTensor, DType.F32, [hidden, m], values.Uniform(0.3f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string>
        {
            ["format"] = "pt",
            ["longlm_fixture"] = $"{clexFamily}/{Path.GetFileName(Path.TrimEndingDirectorySeparator(Path.GetFullPath(baseDirectory)))}/seed={seed}",
        });
    }

    /// <summary>Writes the fixture into <paramref name="directory"/> (created if needed).</summary>
    public static void Write(string family, FixtureShape shape, DType dtype, ulong seed, string directory)
    {
        if (!Families.Contains(family))
            throw new LongLMException($"unknown fixture family '{family}' (available: {string.Join(", ", Families)})");
        if (shape.Family != family)
            throw new LongLMException($"fixture shape '{shape.Name}' is a {shape.Family} shape ({family} shapes: {string.Join(", ", FixtureShape.NamesOf(family))})");
        Directory.CreateDirectory(directory);
        switch (family)
        {
            case "llama": WriteLlama(shape, dtype, seed, directory); break;
            case "mpt": WriteMpt(shape, dtype, seed, directory); break;
            case "gptj": GptJFixture.Write(shape, dtype, seed, directory); break;
            case "gpt-neox": GptNeoXFixture.Write(shape, dtype, seed, directory); break;
            case "phi": WritePhi(shape, dtype, seed, directory); break;
            case "mixtral": MixtralFixture.Write(shape, dtype, seed, directory); break;
            default: WriteBloom(shape, dtype, seed, directory); break;
        }
        ByteLevelBpeFixture.Write(directory, shape.Vocab);
    }

    /// <summary>HF MptForCausalLM names and config (MptConfig / MptAttentionConfig), as mpt-7b's config.json spells them.</summary>
    private static void WriteMpt(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        if (s.Intermediate % s.Hidden != 0) throw new LongLMException($"MPT's MLP width must be expansion_ratio * d_model; {s.Intermediate} is not a multiple of {s.Hidden}");
        int eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        bool noBias = !s.AttentionBias;
        FixtureValues.WriteConfig(directory, new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "MptForCausalLM" },
            ["model_type"] = "mpt",
            ["d_model"] = s.Hidden,
            ["n_heads"] = s.Heads,
            ["n_layers"] = s.Layers,
            ["expansion_ratio"] = s.Intermediate / s.Hidden,
            ["max_seq_len"] = s.Context,
            ["vocab_size"] = s.Vocab,
            ["no_bias"] = noBias,
            ["layer_norm_epsilon"] = 1e-5,
            ["norm_type"] = "low_precision_layernorm",
            ["logit_scale"] = null,
            ["attn_config"] = new Dictionary<string, object?>
            {
                ["alibi"] = true,
                ["alibi_bias_max"] = 8,
                ["attn_type"] = "multihead_attention",
                ["clip_qkv"] = null,
                ["qk_ln"] = false,
                ["prefix_lm"] = false,
                ["softmax_scale"] = null,
            },
            ["tie_word_embeddings"] = s.Tied,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        });

        var v = new FixtureValues(seed);
        long d = s.Hidden;
        var writer = new SafeTensorsWriter();
        writer.Add("transformer.wte.weight", dtype, [s.Vocab, d], v.Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"transformer.blocks.{l}.";
            writer.Add(p + "norm_1.weight", dtype, [d], v.NearOne);
            writer.Add(p + "attn.Wqkv.weight", dtype, [3 * d, d], v.Uniform(0.2f));
            writer.Add(p + "attn.out_proj.weight", dtype, [d, d], v.Uniform(0.1f));
            writer.Add(p + "norm_2.weight", dtype, [d], v.NearOne);
            writer.Add(p + "ffn.up_proj.weight", dtype, [s.Intermediate, d], v.Uniform(0.1f));
            writer.Add(p + "ffn.down_proj.weight", dtype, [d, s.Intermediate], v.Uniform(0.1f));
            if (noBias) continue;
            writer.Add(p + "norm_1.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "attn.Wqkv.bias", dtype, [3 * d], v.Uniform(0.1f));
            writer.Add(p + "attn.out_proj.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "norm_2.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "ffn.up_proj.bias", dtype, [s.Intermediate], v.Uniform(0.1f));
            writer.Add(p + "ffn.down_proj.bias", dtype, [d], v.Uniform(0.1f));
        }
        writer.Add("transformer.norm_f.weight", dtype, [d], v.NearOne);
        if (!noBias) writer.Add("transformer.norm_f.bias", dtype, [d], v.Uniform(0.1f));
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, d], v.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"mpt/{s.Name}/seed={seed}" });
    }

    /// <summary>
    /// HF BloomForCausalLM names and config (BloomConfig, spelled as bigscience's config.json: n_embed, n_head, n_layer);
    /// seq_length gives the trained length, which released BLOOM configs mostly leave out.
    /// </summary>
    private static void WriteBloom(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        if (s.Intermediate != 4 * s.Hidden) throw new LongLMException($"BLOOM's MLP width is 4 * hidden_size = {4 * s.Hidden}, not {s.Intermediate}");
        int eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        FixtureValues.WriteConfig(directory, new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "BloomForCausalLM" },
            ["model_type"] = "bloom",
            ["n_embed"] = s.Hidden,
            ["n_head"] = s.Heads,
            ["n_layer"] = s.Layers,
            ["vocab_size"] = s.Vocab,
            ["seq_length"] = s.Context,
            ["layer_norm_epsilon"] = 1e-5,
            ["apply_residual_connection_post_layernorm"] = false,
            ["tie_word_embeddings"] = s.Tied,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        });

        var v = new FixtureValues(seed);
        long d = s.Hidden;
        var writer = new SafeTensorsWriter();
        writer.Add("transformer.word_embeddings.weight", dtype, [s.Vocab, d], v.Uniform(0.5f));
        writer.Add("transformer.word_embeddings_layernorm.weight", dtype, [d], v.NearOne);
        writer.Add("transformer.word_embeddings_layernorm.bias", dtype, [d], v.Uniform(0.1f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"transformer.h.{l}.";
            writer.Add(p + "input_layernorm.weight", dtype, [d], v.NearOne);
            writer.Add(p + "input_layernorm.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "self_attention.query_key_value.weight", dtype, [3 * d, d], v.Uniform(0.2f));
            writer.Add(p + "self_attention.query_key_value.bias", dtype, [3 * d], v.Uniform(0.1f));
            writer.Add(p + "self_attention.dense.weight", dtype, [d, d], v.Uniform(0.1f));
            writer.Add(p + "self_attention.dense.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "post_attention_layernorm.weight", dtype, [d], v.NearOne);
            writer.Add(p + "post_attention_layernorm.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "mlp.dense_h_to_4h.weight", dtype, [s.Intermediate, d], v.Uniform(0.1f));
            writer.Add(p + "mlp.dense_h_to_4h.bias", dtype, [s.Intermediate], v.Uniform(0.1f));
            writer.Add(p + "mlp.dense_4h_to_h.weight", dtype, [d, s.Intermediate], v.Uniform(0.1f));
            writer.Add(p + "mlp.dense_4h_to_h.bias", dtype, [d], v.Uniform(0.1f));
        }
        writer.Add("transformer.ln_f.weight", dtype, [d], v.NearOne);
        writer.Add("transformer.ln_f.bias", dtype, [d], v.Uniform(0.1f));
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, d], v.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"bloom/{s.Name}/seed={seed}" });
    }

    /// <summary>HF PhiForCausalLM names and config (PhiConfig, spelled as microsoft/phi-2's config.json); biases everywhere.</summary>
    private static void WritePhi(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        int headDim = s.Hidden / s.Heads, eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        FixtureValues.WriteConfig(directory, new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "PhiForCausalLM" },
            ["model_type"] = "phi",
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Intermediate,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["partial_rotary_factor"] = 0.5,
            ["vocab_size"] = s.Vocab,
            ["max_position_embeddings"] = s.Context,
            ["layer_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["rope_scaling"] = null,
            ["hidden_act"] = "gelu_new",
            ["qk_layernorm"] = false,
            ["resid_pdrop"] = 0.1,
            ["embd_pdrop"] = 0.0,
            ["attention_dropout"] = 0.0,
            ["tie_word_embeddings"] = s.Tied,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        });

        var v = new FixtureValues(seed);
        long d = s.Hidden, q = (long)s.Heads * headDim, kv = (long)s.KvHeads * headDim;
        var writer = new SafeTensorsWriter();
        writer.Add("model.embed_tokens.weight", dtype, [s.Vocab, d], v.Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            writer.Add(p + "input_layernorm.weight", dtype, [d], v.NearOne);
            writer.Add(p + "input_layernorm.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "self_attn.q_proj.weight", dtype, [q, d], v.Uniform(0.2f));
            writer.Add(p + "self_attn.q_proj.bias", dtype, [q], v.Uniform(0.1f));
            writer.Add(p + "self_attn.k_proj.weight", dtype, [kv, d], v.Uniform(0.2f));
            writer.Add(p + "self_attn.k_proj.bias", dtype, [kv], v.Uniform(0.1f));
            writer.Add(p + "self_attn.v_proj.weight", dtype, [kv, d], v.Uniform(0.2f));
            writer.Add(p + "self_attn.v_proj.bias", dtype, [kv], v.Uniform(0.1f));
            writer.Add(p + "self_attn.dense.weight", dtype, [d, q], v.Uniform(0.1f));
            writer.Add(p + "self_attn.dense.bias", dtype, [d], v.Uniform(0.1f));
            writer.Add(p + "mlp.fc1.weight", dtype, [s.Intermediate, d], v.Uniform(0.1f));
            writer.Add(p + "mlp.fc1.bias", dtype, [s.Intermediate], v.Uniform(0.1f));
            writer.Add(p + "mlp.fc2.weight", dtype, [d, s.Intermediate], v.Uniform(0.1f));
            writer.Add(p + "mlp.fc2.bias", dtype, [d], v.Uniform(0.1f));
        }
        writer.Add("model.final_layernorm.weight", dtype, [d], v.NearOne);
        writer.Add("model.final_layernorm.bias", dtype, [d], v.Uniform(0.1f));
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, d], v.Uniform(0.1f));
        writer.Add("lm_head.bias", dtype, [s.Vocab], v.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"phi/{s.Name}/seed={seed}" });
    }

    private static void WriteLlama(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        int headDim = s.Hidden / s.Heads, eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        var config = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "LlamaForCausalLM" },
            ["model_type"] = "llama",
            ["hidden_size"] = s.Hidden,
            ["intermediate_size"] = s.Intermediate,
            ["num_hidden_layers"] = s.Layers,
            ["num_attention_heads"] = s.Heads,
            ["num_key_value_heads"] = s.KvHeads,
            ["head_dim"] = headDim,
            ["vocab_size"] = s.Vocab,
            ["max_position_embeddings"] = s.Context,
            ["rms_norm_eps"] = 1e-5,
            ["rope_theta"] = 10000.0,
            ["hidden_act"] = "silu",
            ["tie_word_embeddings"] = s.Tied,
            ["attention_bias"] = s.AttentionBias,
            ["mlp_bias"] = false,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        };
        FixtureValues.WriteConfig(directory, config);

        // Uniform(-a, a) with a = 0.035 has std 0.02, HF's initializer_range; norms near 1 so they matter.
        var values = new FixtureValues(seed);
        long q = (long)s.Heads * headDim, kv = (long)s.KvHeads * headDim;
        var writer = new SafeTensorsWriter();
        writer.Add("model.embed_tokens.weight", dtype, [s.Vocab, s.Hidden], values.Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            writer.Add(p + "input_layernorm.weight", dtype, [s.Hidden], values.NearOne);
            writer.Add(p + "self_attn.q_proj.weight", dtype, [q, s.Hidden], values.Uniform(0.2f));
            writer.Add(p + "self_attn.k_proj.weight", dtype, [kv, s.Hidden], values.Uniform(0.2f));
            writer.Add(p + "self_attn.v_proj.weight", dtype, [kv, s.Hidden], values.Uniform(0.2f));
            if (s.AttentionBias)
            {
                writer.Add(p + "self_attn.q_proj.bias", dtype, [q], values.Uniform(0.1f));
                writer.Add(p + "self_attn.k_proj.bias", dtype, [kv], values.Uniform(0.1f));
                writer.Add(p + "self_attn.v_proj.bias", dtype, [kv], values.Uniform(0.1f));
                writer.Add(p + "self_attn.o_proj.bias", dtype, [s.Hidden], values.Uniform(0.1f));
            }
            writer.Add(p + "self_attn.o_proj.weight", dtype, [s.Hidden, q], values.Uniform(0.1f));
            writer.Add(p + "post_attention_layernorm.weight", dtype, [s.Hidden], values.NearOne);
            writer.Add(p + "mlp.gate_proj.weight", dtype, [s.Intermediate, s.Hidden], values.Uniform(0.1f));
            writer.Add(p + "mlp.up_proj.weight", dtype, [s.Intermediate, s.Hidden], values.Uniform(0.1f));
            writer.Add(p + "mlp.down_proj.weight", dtype, [s.Hidden, s.Intermediate], values.Uniform(0.1f));
        }
        writer.Add("model.norm.weight", dtype, [s.Hidden], values.NearOne);
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, s.Hidden], values.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"llama/{s.Name}/seed={seed}" });
    }
}
