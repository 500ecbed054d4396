using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Chat;

/// <summary>Generation defaults of a model: generation_config.json over LongLM's own (as HF's GenerationConfig applies them).</summary>
public static class GenerationDefaults
{
    /// <summary>
    /// LongLM's defaults (<see cref="GenerationOptions"/>, <see cref="SamplingOptions"/>) with every value the model's
    /// generation_config.json sets: do_sample false means greedy; max_new_tokens sets the budget.
    /// </summary>
    public static GenerationOptions For(LanguageModel model)
    {
        ArgumentNullException.ThrowIfNull(model);
        var options = new GenerationOptions();
        if (model.Generation is not { } g) return options;
        var s = options.Sampling;
        s = s with
        {
            Temperature = g.DoSample == false ? 0f : (float?)g.Temperature ?? s.Temperature,
            TopK = g.TopK ?? s.TopK,
            TopP = (float?)g.TopP ?? s.TopP,
            MinP = (float?)g.MinP ?? s.MinP,
            RepetitionPenalty = (float?)g.RepetitionPenalty ?? s.RepetitionPenalty,
        };
        return options with { Sampling = s, MaxTokens = g.MaxNewTokens ?? options.MaxTokens };
    }
}
