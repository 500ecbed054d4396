using System.Text.Json;
using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Fixtures;

/// <summary>
/// Writes random-weight models in HF layout (config.json, model.safetensors, tokenizer.json) for tests and
/// benchmarks. Values come from SplitMix64(seed), so a (family, shape, dtype, seed) names one exact model.
/// </summary>
public static class FixtureWriter
{
    /// <summary>Families a fixture can be made for.</summary>
    public static IReadOnlyList<string> Families { get; } = ["llama"];

    /// <summary>Writes the fixture into <paramref name="directory"/> (created if needed).</summary>
    public static void Write(string family, FixtureShape shape, DType dtype, ulong seed, string directory)
    {
        if (family != "llama")
            throw new LongLMException($"unknown fixture family '{family}' (available: {string.Join(", ", Families)})");
        Directory.CreateDirectory(directory);
        WriteLlama(shape, dtype, seed, directory);
        ByteLevelBpeFixture.Write(directory, shape.Vocab);
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
            ["torch_dtype"] = dtype switch { DType.F32 => "float32", DType.F16 => "float16", _ => "bfloat16" },
        };
        File.WriteAllText(Path.Combine(directory, "config.json"), JsonSerializer.Serialize(config, new JsonSerializerOptions { WriteIndented = true }));

        var random = new SplitMix64(seed);
        // Uniform(-a, a) with a = 0.035 has std 0.02, HF's initializer_range; norms near 1 so they matter.
        Action<Span<float>> Uniform(float scale) => span =>
        {
            for (int i = 0; i < span.Length; i++) span[i] = random.NextSigned() * scale;
        };
        Action<Span<float>> NearOne = span =>
        {
            for (int i = 0; i < span.Length; i++) span[i] = 1f + random.NextSigned() * 0.1f;
        };
        long q = (long)s.Heads * headDim, kv = (long)s.KvHeads * headDim;
        var writer = new SafeTensorsWriter();
        writer.Add("model.embed_tokens.weight", dtype, [s.Vocab, s.Hidden], Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"model.layers.{l}.";
            writer.Add(p + "input_layernorm.weight", dtype, [s.Hidden], NearOne);
            writer.Add(p + "self_attn.q_proj.weight", dtype, [q, s.Hidden], Uniform(0.2f));
            writer.Add(p + "self_attn.k_proj.weight", dtype, [kv, s.Hidden], Uniform(0.2f));
            writer.Add(p + "self_attn.v_proj.weight", dtype, [kv, s.Hidden], Uniform(0.2f));
            if (s.AttentionBias)
            {
                writer.Add(p + "self_attn.q_proj.bias", dtype, [q], Uniform(0.1f));
                writer.Add(p + "self_attn.k_proj.bias", dtype, [kv], Uniform(0.1f));
                writer.Add(p + "self_attn.v_proj.bias", dtype, [kv], Uniform(0.1f));
                writer.Add(p + "self_attn.o_proj.bias", dtype, [s.Hidden], Uniform(0.1f));
            }
            writer.Add(p + "self_attn.o_proj.weight", dtype, [s.Hidden, q], Uniform(0.1f));
            writer.Add(p + "post_attention_layernorm.weight", dtype, [s.Hidden], NearOne);
            writer.Add(p + "mlp.gate_proj.weight", dtype, [s.Intermediate, s.Hidden], Uniform(0.1f));
            writer.Add(p + "mlp.up_proj.weight", dtype, [s.Intermediate, s.Hidden], Uniform(0.1f));
            writer.Add(p + "mlp.down_proj.weight", dtype, [s.Hidden, s.Intermediate], Uniform(0.1f));
        }
        writer.Add("model.norm.weight", dtype, [s.Hidden], NearOne);
        if (!s.Tied) writer.Add("lm_head.weight", dtype, [s.Vocab, s.Hidden], Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"llama/{s.Name}/seed={seed}" });
    }
}
