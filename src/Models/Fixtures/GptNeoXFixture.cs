using System.Text.Json;
using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Models.Fixtures;

/// <summary>
/// Random-weight GPTNeoXForCausalLM folders (HF names and GPTNeoXConfig fields, spelled as EleutherAI's Pythia
/// config.json: rotary_pct, rotary_emb_base, use_parallel_residual). A shape whose name ends in "-seq" is written
/// with use_parallel_residual false, so both residual forms have a fixture.
/// </summary>
internal static class GptNeoXFixture
{
    /// <summary>rotary_pct of every GPT-NeoX fixture (Pythia's value): 4 of 16 dims per head rotate.</summary>
    public const double RotaryPct = 0.25;

    /// <summary>Writes config.json and model.safetensors for <paramref name="s"/> into <paramref name="directory"/>.</summary>
    public static void Write(FixtureShape s, DType dtype, ulong seed, string directory)
    {
        if (s.KvHeads != s.Heads) throw new LongLMException($"GPT-NeoX has multi-head attention: kv heads {s.KvHeads} must equal heads {s.Heads}");
        int eos = ByteLevelBpeFixture.EndOfTextId(s.Vocab);
        bool parallel = !s.Name.EndsWith("-seq", StringComparison.Ordinal);
        var config = new Dictionary<string, object?>
        {
            ["architectures"] = new[] { "GPTNeoXForCausalLM" },
            ["model_type"] = "gpt_neox",
            ["hidden_size"] = s.Hidden,
            ["num_attention_heads"] = s.Heads,
            ["num_hidden_layers"] = s.Layers,
            ["intermediate_size"] = s.Intermediate,
            ["max_position_embeddings"] = s.Context,
            ["vocab_size"] = s.Vocab,
            ["rotary_pct"] = RotaryPct,
            ["rotary_emb_base"] = 10000,
            ["layer_norm_eps"] = 1e-5,
            ["use_parallel_residual"] = parallel,
            ["hidden_act"] = "gelu",
            ["attention_bias"] = true,
            ["tie_word_embeddings"] = s.Tied,
            ["bos_token_id"] = eos,
            ["eos_token_id"] = eos,
            ["torch_dtype"] = FixtureValues.TorchDtype(dtype),
        };
        FixtureValues.WriteConfig(directory, config);

        // Uniform(-a, a) for projections and embeddings, 1 + Uniform(-0.1, 0.1) for LayerNorm weights (FixtureWriter's rule).
        var values = new FixtureValues(seed);
        long d = s.Hidden, ffn = s.Intermediate;
        var writer = new SafeTensorsWriter();
        writer.Add("gpt_neox.embed_in.weight", dtype, [s.Vocab, d], values.Uniform(0.5f));
        for (int l = 0; l < s.Layers; l++)
        {
            string p = $"gpt_neox.layers.{l}.";
            writer.Add(p + "input_layernorm.weight", dtype, [d], values.NearOne);
            writer.Add(p + "input_layernorm.bias", dtype, [d], values.Uniform(0.1f));
            writer.Add(p + "post_attention_layernorm.weight", dtype, [d], values.NearOne);
            writer.Add(p + "post_attention_layernorm.bias", dtype, [d], values.Uniform(0.1f));
            writer.Add(p + "attention.query_key_value.weight", dtype, [3 * d, d], values.Uniform(0.2f));
            writer.Add(p + "attention.query_key_value.bias", dtype, [3 * d], values.Uniform(0.1f));
            writer.Add(p + "attention.dense.weight", dtype, [d, d], values.Uniform(0.1f));
            writer.Add(p + "attention.dense.bias", dtype, [d], values.Uniform(0.1f));
            writer.Add(p + "mlp.dense_h_to_4h.weight", dtype, [ffn, d], values.Uniform(0.1f));
            writer.Add(p + "mlp.dense_h_to_4h.bias", dtype, [ffn], values.Uniform(0.1f));
            writer.Add(p + "mlp.dense_4h_to_h.weight", dtype, [d, ffn], values.Uniform(0.1f));
            writer.Add(p + "mlp.dense_4h_to_h.bias", dtype, [d], values.Uniform(0.1f));
        }
        writer.Add("gpt_neox.final_layer_norm.weight", dtype, [d], values.NearOne);
        writer.Add("gpt_neox.final_layer_norm.bias", dtype, [d], values.Uniform(0.1f));
        if (!s.Tied) writer.Add("embed_out.weight", dtype, [s.Vocab, d], values.Uniform(0.1f));
        writer.Write(Path.Combine(directory, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt", ["longlm_fixture"] = $"gpt-neox/{s.Name}/seed={seed}" });
    }
}
