using LongLM.Kernels;
using LongLM.Runtime.Config;

namespace LongLM.Runtime.Attention;

/// <summary>
/// LM-Infinite options as a user gives them (algorithms.md, decisions table): unset values resolve against the
/// model's config.json in <see cref="Resolve"/>.
/// </summary>
public sealed record LambdaAttentionOptions
{
    /// <summary>Most starting tokens G: 65536 tokens' keys per layer, a 64k context's worth (the paper uses 10).</summary>
    public const int MaxGlobalTokens = 1 << 16;

    /// <summary>The attention mode; <see cref="AttentionMode.Lambda"/> is LM-Infinite.</summary>
    public AttentionMode Mode { get; init; } = AttentionMode.Lambda;
    /// <summary>G: starting tokens kept (default 10).</summary>
    public int GlobalTokens { get; init; } = 10;
    /// <summary>L: local window in keys, self included (default: the trained length).</summary>
    public int? LocalWindow { get; init; }
    /// <summary>D: distance ceiling (default L).</summary>
    public int? DistanceLimit { get; init; }
    /// <summary>k middle tokens re-admitted per head on the last row of each call (null: off).</summary>
    public int? TopK { get; init; }
    /// <summary>Distance given to top-k tokens (default L/2, the official 2048 for L = 4096).</summary>
    public int? TopKInsertAt { get; init; }
    /// <summary>First 0-based layer with top-k (default 4).</summary>
    public int TopKFromLayer { get; init; } = 4;
    /// <summary>Layers from TopKFromLayer up to (not including) this one use top-k.</summary>
    public int TopKToLayer { get; init; } = int.MaxValue;

    /// <summary>Plain causal attention, honouring config.json's sliding_window (Mistral).</summary>
    public static AttentionPolicy ModelDefault(ModelConfig config) =>
        config.SlidingWindow is int w and > 0
            ? new AttentionPolicy(AttentionMode.Window, w, 0, w, 0, 0, 0, 0)
            : AttentionPolicy.Vanilla;

    /// <summary>Fills the defaults from <paramref name="config"/> and checks the values.</summary>
    public AttentionPolicy Resolve(ModelConfig config)
    {
        if (Mode == AttentionMode.Vanilla && TopK is null) return AttentionPolicy.Vanilla;
        int window = LocalWindow ?? config.MaxPositionEmbeddings;
        int distance = DistanceLimit ?? window;
        int topK = TopK ?? 0;
        if (window <= 0) throw new LongLMException($"local window L must be positive, got {window}");
        if (GlobalTokens < 0) throw new LongLMException($"global tokens G must be >= 0, got {GlobalTokens}");
        if (distance <= 0) throw new LongLMException($"distance limit D must be positive, got {distance}");
        if (Mode is AttentionMode.Lambda && distance < window)
            throw new LongLMException($"distance limit D ({distance}) below the local window L ({window}) would give starting tokens a distance nearer than local ones");
        if (GlobalTokens > MaxGlobalTokens)
            throw new LongLMException($"global tokens G must be at most {MaxGlobalTokens} (their keys are kept in a store allocated up front), got {GlobalTokens}");
        if (topK < 0 || topK > TopKShape.MaxK)
            throw new LongLMException($"top-k middle tokens must lie in [0, {TopKShape.MaxK}] per head (the kernels' selection list; the paper uses 5), got {topK}");
        if (topK > 0 && Mode != AttentionMode.Lambda) throw new LongLMException("top-k middle tokens need --attention lambda");
        if (TopKFromLayer < 0 || TopKToLayer < TopKFromLayer) throw new LongLMException($"top-k layers [{TopKFromLayer}, {TopKToLayer}) are empty or negative");
        int insertAt = TopKInsertAt ?? window / 2;
        if (insertAt < 0) throw new LongLMException($"top-k insert distance must be >= 0, got {insertAt}");
        return new AttentionPolicy(Mode, window, Mode is AttentionMode.Lambda or AttentionMode.LambdaNoCeiling ? GlobalTokens : 0,
            distance, topK, insertAt, TopKFromLayer, TopKToLayer);
    }
}
