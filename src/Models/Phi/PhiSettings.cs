using LongLM.Kernels.Ops;
using LongLM.Runtime.Config;

namespace LongLM.Models.Phi;

/// <summary>
/// Phi's config.json as HF PhiConfig reads it, beyond the common <see cref="ModelConfig"/> fields: its own defaults
/// (intermediate_size 8192, partial_rotary_factor 0.5, hidden_act gelu_new, layer_norm_eps 1e-5, head_dim always
/// hidden_size / num_attention_heads) and a clear error for every option this runtime does not compute.
/// </summary>
/// <param name="LayerNormEps">layer_norm_eps (default 1e-5): the input_layernorm and final_layernorm epsilon.</param>
/// <param name="Gelu">hidden_act as a GELU variant: gelu_new (PhiConfig's default) is the tanh form.</param>
public sealed record PhiSettings(double LayerNormEps, GeluApproximation Gelu)
{
    /// <summary>
    /// The family's reading of config.json (the ModelRegistry hook): PhiConfig's defaults where ModelConfig.Parse
    /// applied the Llama ones, and rotary_dim = int(partial_rotary_factor * head_dim) exactly as PhiAttention computes
    /// it (refused when odd, since rotate_half needs pairs). Throws <see cref="ConfigException"/> for refused options.
    /// </summary>
    public static ModelConfig ReadConfig(ModelConfig parsed)
    {
        var raw = RawConfig.Of(parsed);
        Read(parsed); // refusals first, so `longlm info` already names them
        int hidden = parsed.HiddenSize, heads = parsed.NumAttentionHeads;
        // PhiAttention: head_dim = hidden_size // num_attention_heads; PhiConfig has no head_dim of its own.
        if (heads <= 0 || hidden % heads != 0)
            throw raw.Error($"hidden_size {hidden} is not divisible by num_attention_heads {heads}");
        int headDim = hidden / heads;
        double factor = raw.Double("partial_rotary_factor") ?? 0.5;
        if (factor is <= 0 or > 1) throw raw.Error($"partial_rotary_factor {factor} must lie in (0, 1]");
        int rotary = (int)(factor * headDim);
        if (rotary < 2 || rotary % 2 != 0)
            throw raw.Error($"partial_rotary_factor {factor} x head_dim {headDim} gives {rotary} rotary dimensions; RoPE needs an even number of at least 2");
        int intermediate = raw.Has("intermediate_size") ? parsed.IntermediateSize : 8192;
        return parsed with
        {
            // PhiConfig's default trained length when config.json gives none.
            MaxPositionEmbeddings = parsed.MaxPositionEmbeddings > 0 ? parsed.MaxPositionEmbeddings : 2048,
            HeadDim = headDim,
            IntermediateSize = intermediate,
            PartialRotaryFactor = factor,
            RotaryDim = rotary,
            HiddenAct = raw.String("hidden_act") ?? "gelu_new",
            TieWordEmbeddings = raw.Bool("tie_word_embeddings") ?? false,
        };
    }

    /// <summary>Reads and checks the Phi-specific fields of <paramref name="config"/>.</summary>
    public static PhiSettings Read(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        if (raw.Bool("qk_layernorm") == true)
            throw raw.Error("qk_layernorm true (LayerNorm on the queries and keys) is not supported; LongLM runs Phi models without it (phi-1, phi-1.5, phi-2)");
        string act = raw.String("hidden_act") ?? "gelu_new";
        var gelu = act switch
        {
            "gelu_new" or "gelu_pytorch_tanh" or "gelu_fast" => GeluApproximation.Tanh,
            "gelu" => GeluApproximation.None,
            _ => throw raw.Error($"hidden_act '{act}' is not supported for Phi models (supported: gelu_new, gelu_pytorch_tanh, gelu_fast, gelu)"),
        };
        double eps = raw.Double("layer_norm_eps") ?? 1e-5;
        if (eps is < 0 or > 1) throw raw.Error($"layer_norm_eps {eps} is out of range");
        return new PhiSettings(eps, gelu);
    }
}
