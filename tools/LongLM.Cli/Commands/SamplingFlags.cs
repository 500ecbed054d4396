using System.CommandLine;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime.Inference;

namespace LongLM.Cli.Commands;

/// <summary>
/// Sampling and stopping flags shared by generate and chat (llama.cpp's names). Unset flags keep the model's
/// generation_config.json values, else LongLM's defaults (<see cref="GenerationDefaults"/>).
/// </summary>
public sealed class SamplingFlags
{
    private readonly Option<int?> _maxTokens = new("--max-tokens", "-n") { Description = "Most tokens to generate (default: generation_config.json's max_new_tokens, else 256)" };
    private readonly Option<float?> _temperature = new("--temperature") { Description = "Sampling temperature; 0 is greedy (default: generation_config.json, else 0.8)" };
    private readonly Option<int?> _topK = new("--top-k") { Description = "Top-k filter, 0 disables (default: generation_config.json, else 40)" };
    private readonly Option<float?> _topP = new("--top-p") { Description = "Nucleus filter, 1 disables (default: generation_config.json, else 0.95)" };
    private readonly Option<float?> _minP = new("--min-p") { Description = "Min-p filter, 0 disables (default: generation_config.json, else 0.05)" };
    private readonly Option<float?> _repetitionPenalty = new("--repetition-penalty") { Description = "HF repetition penalty, 1 disables (default: generation_config.json, else 1)" };
    private readonly Option<float?> _frequencyPenalty = new("--frequency-penalty") { Description = "OpenAI frequency penalty over the last 64 ids, 0 disables" };
    private readonly Option<float?> _presencePenalty = new("--presence-penalty") { Description = "OpenAI presence penalty over the last 64 ids, 0 disables" };
    private readonly Option<int?> _seed = new("--seed") { Description = "Seed for reproducible sampling" };
    private readonly Option<string[]> _stop = new("--stop") { Description = "Stop string (repeatable): the text ends just before it", AllowMultipleArgumentsPerToken = false };

    /// <summary>Adds the flags to <paramref name="command"/>.</summary>
    public SamplingFlags(Command command)
    {
        foreach (var option in new Option[] { _maxTokens, _temperature, _topK, _topP, _minP, _repetitionPenalty, _frequencyPenalty, _presencePenalty, _seed, _stop })
            command.Options.Add(option);
    }

    /// <summary>The options the flags give for <paramref name="model"/>, with <paramref name="prefillChunk"/>.</summary>
    public GenerationOptions Options(ParseResult parse, LanguageModel model, int prefillChunk)
    {
        var defaults = GenerationDefaults.For(model);
        var s = defaults.Sampling;
        var options = defaults with
        {
            MaxTokens = parse.GetValue(_maxTokens) ?? defaults.MaxTokens,
            PrefillChunk = prefillChunk,
            StopSequences = parse.GetValue(_stop) ?? [],
            Sampling = s with
            {
                Temperature = parse.GetValue(_temperature) ?? s.Temperature,
                TopK = parse.GetValue(_topK) ?? s.TopK,
                TopP = parse.GetValue(_topP) ?? s.TopP,
                MinP = parse.GetValue(_minP) ?? s.MinP,
                RepetitionPenalty = parse.GetValue(_repetitionPenalty) ?? s.RepetitionPenalty,
                FrequencyPenalty = parse.GetValue(_frequencyPenalty) ?? s.FrequencyPenalty,
                PresencePenalty = parse.GetValue(_presencePenalty) ?? s.PresencePenalty,
                Seed = parse.GetValue(_seed),
            },
        };
        options.Validate();
        return options;
    }
}
