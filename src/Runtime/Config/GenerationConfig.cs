namespace LongLM.Runtime.Config;

/// <summary>generation_config.json, when the model ships one: the author's decoding defaults.</summary>
public sealed record GenerationConfig
{
    /// <summary>"do_sample": false means greedy.</summary>
    public bool? DoSample { get; init; }
    /// <summary>"temperature".</summary>
    public double? Temperature { get; init; }
    /// <summary>"top_k".</summary>
    public int? TopK { get; init; }
    /// <summary>"top_p".</summary>
    public double? TopP { get; init; }
    /// <summary>"min_p".</summary>
    public double? MinP { get; init; }
    /// <summary>"repetition_penalty".</summary>
    public double? RepetitionPenalty { get; init; }
    /// <summary>"max_new_tokens".</summary>
    public int? MaxNewTokens { get; init; }
    /// <summary>"bos_token_id".</summary>
    public int? BosTokenId { get; init; }
    /// <summary>"eos_token_id" (an id or a list).</summary>
    public int[] EosTokenIds { get; init; } = [];

    /// <summary>Reads generation_config.json from the folder, or null when there is none.</summary>
    public static GenerationConfig? Load(string modelDirectory)
    {
        string path = Path.Combine(modelDirectory, "generation_config.json");
        if (!File.Exists(path)) return null;
        var f = JsonFields.Load(path);
        return new GenerationConfig
        {
            DoSample = f.OptionalBool("do_sample"),
            Temperature = f.OptionalDouble("temperature"),
            TopK = f.OptionalInt("top_k"),
            TopP = f.OptionalDouble("top_p"),
            MinP = f.OptionalDouble("min_p"),
            RepetitionPenalty = f.OptionalDouble("repetition_penalty"),
            MaxNewTokens = f.OptionalInt("max_new_tokens"),
            BosTokenId = f.OptionalInt("bos_token_id"),
            EosTokenIds = f.IntOrIntList("eos_token_id"),
        };
    }
}
