using LongLM.Runtime.Config;

namespace LongLM.Models.Mixtral;

/// <summary>
/// Mixtral's config.json beyond <see cref="ModelConfig"/> (HF MixtralConfig names and defaults). The training-only
/// fields router_aux_loss_coef, output_router_logits and router_jitter_noise change nothing at inference and are
/// ignored (HF applies the jitter only in training mode).
/// </summary>
/// <param name="NumLocalExperts">num_local_experts (default 8): experts per MoE layer.</param>
/// <param name="NumExpertsPerTok">num_experts_per_tok (default 2): experts each token is routed to.</param>
public sealed record MixtralSettings(int NumLocalExperts, int NumExpertsPerTok)
{
    /// <summary>The most experts per layer accepted (released models have 8; DeepSeek-style 256 would still pass).</summary>
    public const int MaxExperts = 1024;

    /// <summary>
    /// The common fields as MixtralConfig defaults them where config.json leaves them out: intermediate_size 14336,
    /// rms_norm_eps 1e-5, rope_theta 1e6, max_position_embeddings 4096 * 32 (HF's defaults differ from LlamaConfig's).
    /// </summary>
    public static ModelConfig ReadConfig(ModelConfig parsed)
    {
        var raw = RawConfig.Of(parsed);
        var config = parsed with
        {
            IntermediateSize = raw.Has("intermediate_size") ? parsed.IntermediateSize : 14336,
            RmsNormEps = raw.Double("rms_norm_eps") ?? 1e-5,
            RopeTheta = raw.Double("rope_theta") ?? 1e6,
            MaxPositionEmbeddings = parsed.MaxPositionEmbeddings > 0 ? parsed.MaxPositionEmbeddings : 4096 * 32,
        };
        Read(config);
        return config;
    }

    /// <summary>Reads and checks the Mixtral-specific fields of <paramref name="config"/>.</summary>
    public static MixtralSettings Read(ModelConfig config)
    {
        var raw = RawConfig.Of(config);
        int experts = Int(raw, "num_local_experts") ?? 8;
        int perToken = Int(raw, "num_experts_per_tok") ?? 2;
        if (experts is < 1 or > MaxExperts)
            throw raw.Error($"num_local_experts {experts} must lie in [1, {MaxExperts}]");
        if (perToken < 1 || perToken > experts)
            throw raw.Error($"num_experts_per_tok {perToken} must lie in [1, num_local_experts = {experts}]");
        if (config.HiddenAct is not ("silu" or "swish"))
            throw raw.Error($"hidden_act '{config.HiddenAct}' is not supported for Mixtral models (supported: silu)");
        if (config.IntermediateSize <= 0) throw raw.Error($"intermediate_size {config.IntermediateSize} must be positive");
        if (raw.Bool("attention_bias") == true) throw raw.Error("attention_bias is not supported: MixtralAttention's projections have no biases");
        return new MixtralSettings(experts, perToken);
    }

    private static int? Int(RawConfig raw, string field) => raw.Double(field) is double d
        ? d == Math.Floor(d) && d is >= int.MinValue and <= int.MaxValue ? (int)d : throw raw.Error($"field '{field}' must be an integer, found {raw.Text(field)}")
        : null;
}
