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
    /// Strings that end generation in the text APIs (<see cref="InferenceSession.GenerateTextAsync(string, GenerationOptions, CancellationToken)"/>):
    /// the text stops just before the first one, even when it spans several tokens; nothing after it is emitted.
    /// </summary>
    public IReadOnlyList<string> StopSequences { get; init; } = [];
    /// <summary>
    /// Prompt tokens per internal pass through the layers during prefill: bounds activation memory and never changes
    /// a result (the prompt is one logical forward call).
    /// </summary>
    public int PrefillChunk { get; init; } = SequenceState.DefaultPrefillChunk;

    /// <summary>Most stop strings one call takes (OpenAI allows 4; llama-server has no limit; this bounds the matcher's work).</summary>
    public const int MaxStopSequences = 64;
    /// <summary>Longest stop string accepted (text held back while it may still match is at most this long).</summary>
    public const int MaxStopSequenceLength = 1024;

    /// <summary>Checks every value; throws a <see cref="LongLMException"/> naming the bad one.</summary>
    public void Validate()
    {
        if (MaxTokens < 0) throw new LongLMException($"max tokens must be >= 0, got {MaxTokens}");
        if (PrefillChunk is <= 0 or > SequenceState.MaxPrefillChunk)
            throw new LongLMException($"prefill chunk must be in [1, {SequenceState.MaxPrefillChunk}], got {PrefillChunk}");
        ArgumentNullException.ThrowIfNull(StopSequences);
        if (StopSequences.Count > MaxStopSequences) throw new LongLMException($"at most {MaxStopSequences} stop strings, got {StopSequences.Count}");
        foreach (var stop in StopSequences)
        {
            if (string.IsNullOrEmpty(stop)) throw new LongLMException("a stop string must not be empty");
            if (stop.Length > MaxStopSequenceLength) throw new LongLMException($"a stop string may have at most {MaxStopSequenceLength} characters, got {stop.Length}");
        }
        ArgumentNullException.ThrowIfNull(Sampling);
        Sampling.Validate();
    }
}
