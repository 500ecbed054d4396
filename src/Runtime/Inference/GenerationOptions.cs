using LongLM.Runtime.Sampling;

namespace LongLM.Runtime.Inference;

/// <summary>Options of one generation call.</summary>
public sealed record GenerationOptions
{
    /// <summary>Most tokens to generate.</summary>
    public int MaxTokens { get; init; } = 256;
    /// <summary>How each token is chosen.</summary>
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Ids that end generation (not emitted); null uses the model's EOS ids.</summary>
    public IReadOnlySet<int>? StopIds { get; init; }
    /// <summary>Prompt tokens run per forward call during prefill (bounds activation memory).</summary>
    public int PrefillChunk { get; init; } = 512;
}
