using System.Text.Json.Nodes;
using LongLM.Runtime.Config;

namespace LongLM.Tests.RotaryEmbedding;

/// <summary>Minimal Llama config.json files for the RoPE tests, parsed through <see cref="ModelConfig"/>.</summary>
internal static class RopeTestConfig
{
    /// <summary>Writes config.json into <paramref name="dir"/> and parses it.</summary>
    public static ModelConfig Write(TempDirectory dir, JsonObject config)
    {
        File.WriteAllText(dir.File("config.json"), config.ToJsonString());
        return ModelConfig.Load(dir.Path);
    }

    /// <summary>A Llama config with two heads of <paramref name="headDim"/> and the given rope fields.</summary>
    public static JsonObject Llama(int headDim, double ropeTheta, int maxPositionEmbeddings, JsonObject? ropeScaling)
    {
        var config = new JsonObject
        {
            ["architectures"] = new JsonArray("LlamaForCausalLM"),
            ["model_type"] = "llama",
            ["vocab_size"] = 32,
            ["hidden_size"] = 2 * headDim,
            ["intermediate_size"] = 4 * headDim,
            ["num_hidden_layers"] = 1,
            ["num_attention_heads"] = 2,
            ["num_key_value_heads"] = 2,
            ["max_position_embeddings"] = maxPositionEmbeddings,
            ["rope_theta"] = ropeTheta,
        };
        if (ropeScaling is not null) config["rope_scaling"] = ropeScaling;
        return config;
    }
}
