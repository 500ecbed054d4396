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
    /// <summary>
    /// Prompt tokens per internal pass through the layers during prefill: bounds activation memory and never changes
    /// a result (the prompt is one logical forward call).
    /// </summary>
    public int PrefillChunk { get; init; } = SequenceState.DefaultPrefillChunk;

    /// <summary>Checks every value; throws a <see cref="LongLMException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (MaxTokens < 0) throw new LongLMException($"max tokens must be >= 0, got {MaxTokens}");
        if (PrefillChunk is <= 0 or > SequenceState.MaxPrefillChunk)
            throw new LongLMException($"prefill chunk must be in [1, {SequenceState.MaxPrefillChunk}], got {PrefillChunk}");
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }
}
