using LongLM.Kernels.Ops;
using LongLM.Runtime.Config;

namespace LongLM.Models.GptNeoX;

/// <summary>
/// GPT-NeoX's config.json beyond <see cref="ModelConfig"/> (HF GPTNeoXConfig names and defaults), with a clear
/// error for every option this runtime does not compute.
/// </summary>
/// <param name="LayerNormEps">layer_norm_eps (default 1e-5).</param>
/// <param name="UseParallelResidual">use_parallel_residual (default true: x + attn(ln1(x)) + mlp(ln2(x))).</param>
/// <param name="Gelu">hidden_act (default "gelu", exact erf) as the GELU form it names.</param>
public sealed record GptNeoXSettings(double LayerNormEps, bool UseParallelResidual, GeluApproximation Gelu)
{
    /// <summary>
    /// The common fields as GPTNeoXConfig defines them: rotary dims int(head_size * rotary_pct) (rotary_pct default
    /// 0.25; newer configs spell it partial_rotary_factor), rotary base rotary_emb_base (newer: rope_theta, default
    /// 10000), attention_bias default true, tie_word_embeddings default false, hidden_act default "gelu". Used as
    /// the family's ModelRegistry ReadConfig hook, so `longlm info` and the rope tables see the family's values.
    /// </summary>
    public static ModelConfig ReadConfig(ModelConfig parsed)
    {
        var raw = RawConfig.Of(parsed);
        double pct = Either(raw, "rotary_pct", "partial_rotary_factor") ?? 0.25;
        if (pct is <= 0 or > 1) throw raw.Error($"rotary_pct {pct} must lie in (0, 1]");
        double theta = Either(raw, "rotary_emb_base", "rope_theta") ?? 10000;
        if (theta <= 0) throw raw.Error($"rotary_emb_base {theta} must be positive");
        // HF: rotary_ndims = int(head_size * rotary_pct) (truncation, as Python's int()).
        int rotary = (int)(parsed.HeadDim * pct);
        if (rotary < 2 || rotary % 2 != 0)
            throw raw.Error($"rotary_pct {pct} x head size {parsed.HeadDim} gives {rotary} rotary dimensions; RoPE needs an even count of at least 2");
        return parsed with
        {
            // GPTNeoXConfig's default trained length when config.json gives none.
            MaxPositionEmbeddings = parsed.MaxPositionEmbeddings > 0 ? parsed.MaxPositionEmbeddings : 2048,
            PartialRotaryFactor = pct,
            RotaryDim = rotary,
            RopeTheta = theta,
            AttentionBias = raw.Bool("attention_bias") ?? true,
            MlpBias = true,
            TieWordEmbeddings = raw.Bool("tie_word_embeddings") ?? false,
            HiddenAct = raw.String("hidden_act") ?? "gelu",
        };
    }

    /// <summary>Reads and checks the GPT-NeoX-specific fields of <paramref name="config"/> (already through <see cref="ReadConfig"/>).</summary>
    public static GptNeoXSettings Read(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        if (config.NumKeyValueHeads != config.NumAttentionHeads)
            throw raw.Error($"num_key_value_heads {config.NumKeyValueHeads} differs from num_attention_heads {config.NumAttentionHeads}; GPT-NeoX has multi-head attention only");
        // query_key_value is split per head: hidden_size must be whole heads (GPTNeoXConfig has no head size of its own).
        if ((long)config.NumAttentionHeads * config.HeadDim != config.HiddenSize)
            throw raw.Error($"num_attention_heads {config.NumAttentionHeads} x head_dim {config.HeadDim} must equal hidden_size {config.HiddenSize} for GPT-NeoX");
        if (config.IntermediateSize <= 0) throw raw.Error("missing required field 'intermediate_size'");
        double eps = raw.Double("layer_norm_eps") ?? 1e-5;
        if (eps is < 0 or > 1) throw raw.Error($"layer_norm_eps {eps} is out of range");
        var gelu = config.HiddenAct switch
        {
            "gelu" => GeluApproximation.None,
            // gelu_new, gelu_fast and gelu_pytorch_tanh are one formula: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))).
            "gelu_new" or "gelu_fast" or "gelu_pytorch_tanh" => GeluApproximation.Tanh,
            _ => throw raw.Error($"field 'hidden_act' '{config.HiddenAct}' is not supported for GPT-NeoX (supported: gelu, gelu_new, gelu_fast, gelu_pytorch_tanh)"),
        };
        return new GptNeoXSettings(eps, raw.Bool("use_parallel_residual") ?? true, gelu);
    }

    /// <summary>A field spelled two ways (old and new transformers); both present with different values is ambiguous.</summary>
    private static double? Either(RawConfig raw, string old, string current)
    {
        double? a = raw.Double(old), b = raw.Double(current);
        if (a is { } x && b is { } y && x != y)
            throw raw.Error($"fields '{old}' ({x}) and '{current}' ({y}) disagree; they are the same GPT-NeoX setting");
        return a ?? b;
    }
}
