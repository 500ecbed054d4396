using System.CommandLine;
using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Cli.Commands;

/// <summary>`longlm generate`: stream a continuation of a prompt.</summary>
public static class GenerateCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var prompt = new Option<string>("--prompt", "-p") { Description = "Prompt text (BOS is added as the tokenizer says; empty means just BOS)", DefaultValueFactory = _ => "" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "Most tokens to generate", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float?>("--temperature") { Description = "Sampling temperature; 0 is greedy (default: generation_config.json, else 0.8)" };
        var topK = new Option<int?>("--top-k") { Description = "Top-k filter, 0 disables (default: generation_config.json, else 40)" };
        var topP = new Option<float?>("--top-p") { Description = "Nucleus filter, 1 disables (default: generation_config.json, else 0.95)" };
        var minP = new Option<float?>("--min-p") { Description = "Min-p filter, 0 disables (default: 0.05)" };
        var repetitionPenalty = new Option<float?>("--repetition-penalty") { Description = "HF repetition penalty, 1 disables (default: generation_config.json, else 1)" };
        var seed = new Option<int?>("--seed") { Description = "Seed for reproducible sampling" };
        var json = CommonOptions.Json("Print one JSON object {prompt_ids, ids, text} instead of streaming text");
        var prefillChunk = CommonOptions.PrefillChunk();
        var checkWeights = CommonOptions.CheckWeights();
        var command = new Command("generate", "Generate text from a prompt") { model, backend, prompt, maxTokens, temperature, topK, topP, minP, repetitionPenalty, seed, json, prefillChunk, checkWeights };
        var attention = new AttentionFlags(command, topKAlias: false);
        command.SetAction(parse => io.Guard(() =>
        {
            using var lm = io.LoadModel(parse.GetValue(model)!, parse.GetValue(backend)!, attention.Single(parse) with { CheckWeights = parse.GetValue(checkWeights) });
            var g = lm.Generation;
            bool greedyByDefault = g?.DoSample == false;
            var sampling = new SamplingOptions
            {
                Temperature = parse.GetValue(temperature) ?? (greedyByDefault ? 0f : (float?)g?.Temperature ?? 0.8f),
                TopK = parse.GetValue(topK) ?? g?.TopK ?? 40,
                TopP = parse.GetValue(topP) ?? (float?)g?.TopP ?? 0.95f,
                MinP = parse.GetValue(minP) ?? (float?)g?.MinP ?? 0.05f,
                RepetitionPenalty = parse.GetValue(repetitionPenalty) ?? (float?)g?.RepetitionPenalty ?? 1f,
                Seed = parse.GetValue(seed),
            };
            var options = new GenerationOptions { MaxTokens = parse.GetValue(maxTokens), Sampling = sampling, PrefillChunk = parse.GetValue(prefillChunk) };
            string text = parse.GetValue(prompt)!;
            var promptIds = lm.Tokenizer.Encode(text);
            if (promptIds.Length == 0)
                throw new LongLMException("the prompt is empty and this tokenizer adds no BOS token: give a prompt");
            using var session = lm.CreateSession();
            if (parse.GetValue(json))
            {
                var ids = session.Generate(promptIds, options).ToArray();
                io.Out.WriteLine(JsonSerializer.Serialize(new { prompt_ids = promptIds, ids, text = lm.Tokenizer.Decode(ids) }));
                return ExitCodes.Ok;
            }
            var decoder = lm.Tokenizer.CreateStreamingDecoder();
            foreach (int id in session.Generate(promptIds, options))
            {
                io.Out.Write(decoder.Push(id));
                io.Out.Flush();
            }
            io.Out.WriteLine(decoder.Flush());
            return ExitCodes.Ok;
        }));
        return command;
    }
}
