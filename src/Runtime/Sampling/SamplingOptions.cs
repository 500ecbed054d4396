namespace LongLM.Runtime.Sampling;

/// <summary>
/// How the next token is chosen. Temperature 0 is greedy (argmax). Otherwise the HF order applies:
/// repetition penalty, temperature, top-k, top-p, min-p, then a draw from a seeded generator.
/// </summary>
public sealed record SamplingOptions
{
    /// <summary>Softmax temperature; 0 selects greedy decoding.</summary>
    public float Temperature { get; init; } = 0.8f;
    /// <summary>Keep only the K most likely tokens; 0 disables.</summary>
    public int TopK { get; init; } = 40;
    /// <summary>Keep the smallest set whose probability reaches P (nucleus); 1 disables.</summary>
    public float TopP { get; init; } = 0.95f;
    /// <summary>Drop tokens whose probability is below MinP times the most likely one's; 0 disables.</summary>
    public float MinP { get; init; } = 0.05f;
    /// <summary>HF repetition penalty over the prompt and generated ids (1 disables).</summary>
    public float RepetitionPenalty { get; init; } = 1f;
    /// <summary>
    /// OpenAI's frequency penalty: each id's logit drops by this times its count among the last
    /// <see cref="PenaltyLastN"/> ids of the conversation (0 disables; OpenAI's range is [-2, 2]).
    /// </summary>
    public float FrequencyPenalty { get; init; }
    /// <summary>OpenAI's presence penalty: each id seen among the last <see cref="PenaltyLastN"/> ids loses this much once (0 disables).</summary>
    public float PresencePenalty { get; init; }
    /// <summary>How many of the latest ids the frequency and presence penalties look at (llama.cpp's penalty_last_n, 64).</summary>
    public int PenaltyLastN { get; init; } = 64;
    /// <summary>Seed for reproducible sampling; null draws a random seed.</summary>
    public int? Seed { get; init; }

    /// <summary>Greedy decoding.</summary>
    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    /// <summary>Throws when a value is out of range.</summary>
    public void Validate()
    {
        if (!(Temperature >= 0) || float.IsInfinity(Temperature)) throw new LongLMException($"temperature must be >= 0, got {Temperature}");
        if (TopK < 0) throw new LongLMException($"top-k must be >= 0, got {TopK}");
        if (!(TopP > 0 && TopP <= 1)) throw new LongLMException($"top-p must lie in (0, 1], got {TopP}");
        if (!(MinP >= 0 && MinP <= 1)) throw new LongLMException($"min-p must lie in [0, 1], got {MinP}");
        if (!(RepetitionPenalty > 0) || float.IsInfinity(RepetitionPenalty)) throw new LongLMException($"repetition penalty must be > 0, got {RepetitionPenalty}");
        if (!(FrequencyPenalty >= -2 && FrequencyPenalty <= 2)) throw new LongLMException($"frequency penalty must lie in [-2, 2], got {FrequencyPenalty}");
        if (!(PresencePenalty >= -2 && PresencePenalty <= 2)) throw new LongLMException($"presence penalty must lie in [-2, 2], got {PresencePenalty}");
        if (PenaltyLastN is < 0 or > 1 << 20) throw new LongLMException($"penalty window must lie in [0, {1 << 20}], got {PenaltyLastN}");
    }
}
