using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Evaluation;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Cli.Commands;

/// <summary>`longlm passkey`: passkey retrieval accuracy by length and depth, for one or several attention modes (docs/passkey.md).</summary>
public static class PasskeyCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var lengths = new Option<string>("--lengths") { Description = "Comma list of prompt lengths in tokens, BOS and question included (k = 1024): 1k,2k,4k", Required = true };
        var depths = new Option<string>("--depths") { Description = "Comma list of passkey depths in [0, 1] (0: right after the task prefix, 1: right before the question)", DefaultValueFactory = _ => "0,0.25,0.5,0.75,1" };
        var trials = new Option<int>("--trials") { Description = "Prompts per length and depth (each with its own passkey)", DefaultValueFactory = _ => 5 };
        var seed = new Option<int>("--seed") { Description = "Seed of the passkeys (System.Random(seed + length))", DefaultValueFactory = _ => 0 };
        var answerTokens = new Option<int>("--answer-tokens") { Description = "Greedy tokens generated per answer", DefaultValueFactory = _ => PasskeyEvaluator.DefaultAnswerTokens };
        var pastContext = new Option<bool>("--vanilla-past-context") { Description = "Run vanilla attention past the model's context length anyway (the baseline that fails); without it such a length is an error" };
        var json = new Option<string?>("--json") { Description = "Write the results as JSON to FILE" };
        var plot = new Option<string?>("--plot") { Description = "Write a heatmap PNG of accuracy (rows: mode and length, columns: depth)" };
        var prefillChunk = CommonOptions.PrefillChunk();
        var threads = CommonOptions.Threads();
        var command = new Command("passkey", "Passkey retrieval (Mohtashami and Jaggi 2023, as LM-Infinite builds it): accuracy by length x depth; comma-separate --attention modes to compare them; with --top-k-middle, lambda runs with and without it")
            { model, backend, lengths, depths, trials, seed, answerTokens, pastContext, json, plot, prefillChunk, threads };
        var attention = new AttentionFlags(command, topKAlias: false);
        command.SetAction(parse => io.Guard(() =>
        {
            string dir = parse.GetValue(model)!;
            var lengthList = PasskeyEvaluator.ParseLengths(parse.GetValue(lengths)!);
            var depthList = PasskeyEvaluator.ParseDepths(parse.GetValue(depths)!);
            int trialCount = parse.GetValue(trials), maxNew = parse.GetValue(answerTokens), seedValue = parse.GetValue(seed);
            if (trialCount <= 0) throw new LongLMException($"--trials must be positive, got {trialCount}");
            if (maxNew <= 0) throw new LongLMException($"--answer-tokens must be positive, got {maxNew}");
            var runs = new List<(string Name, IReadOnlyList<PasskeyCell> Cells)>();
            foreach (var options in RunOptions(attention, parse))
            {
                using var loaded = io.LoadModel(dir, parse.GetValue(backend)!, options, parse.GetValue(threads));
                var lm = loaded.Model;
                bool vanilla = lm.Model.Policy.Mode == AttentionMode.Vanilla;
                if (vanilla && !parse.GetValue(pastContext) && lengthList.Max() + maxNew > lm.Model.ContextLength)
                    throw new LongLMException($"length {lengthList.Max()} plus {maxNew} answer tokens is past the model's context length {lm.Model.ContextLength} under vanilla attention; use lengths up to {lm.Model.ContextLength - maxNew}, an LM-Infinite mode (--attention lambda), or --vanilla-past-context to run the failing baseline anyway");
                string name = lm.Model.Policy.ToString();
                var generation = new GenerationOptions { MaxTokens = maxNew, Sampling = SamplingOptions.Greedy, PrefillChunk = parse.GetValue(prefillChunk) };
                string Answer(PasskeyPrompt prompt)
                {
                    using var session = lm.CreateSession();
                    var ids = session.Generate(lm.Tokenizer.Encode(prompt.Text), generation).ToArray();
                    return lm.Tokenizer.Decode(ids);
                }
                var cells = ProgressDisplay.WithBar(io, name, (long)lengthList.Count * depthList.Count * trialCount, progress =>
                    PasskeyEvaluator.Evaluate(lengthList, depthList, trialCount, seedValue, text => lm.Tokenizer.Encode(text).Length, Answer, progress));
                runs.Add((name, cells));
            }
            PrintTable(io, runs, lengthList, depthList, trialCount);
            if (parse.GetValue(json) is string jsonPath)
                File.WriteAllText(jsonPath, JsonSerializer.Serialize(ToJson(runs, lengthList, depthList, trialCount, seedValue, maxNew), new JsonSerializerOptions { WriteIndented = true }));
            if (parse.GetValue(plot) is string plotPath) PasskeyPlot.Write(plotPath, runs, lengthList, depthList, Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)));
            return ExitCodes.Ok;
        }));
        return command;
    }

    /// <summary>One run per --attention mode; with --top-k-middle, lambda runs once without top-k middle tokens and once with them.</summary>
    private static IEnumerable<ModelOptions> RunOptions(AttentionFlags attention, ParseResult parse)
    {
        var ropes = attention.RopeScalings(parse);
        if (ropes.Count != 1) throw new LongLMException("give one --rope-scaling here");
        foreach (var mode in attention.Modes(parse))
        {
            var options = attention.ModelOptions(parse, mode, ropes[0]);
            if (options.Attention is { TopK: not null } lambda)
                yield return options with { Attention = lambda with { TopK = null } };
            yield return options;
        }
    }

    private static void PrintTable(CliIO io, List<(string Name, IReadOnlyList<PasskeyCell> Cells)> runs, IReadOnlyList<int> lengths, IReadOnlyList<double> depths, int trials)
    {
        string Depth(double d) => d.ToString("0.##", CultureInfo.InvariantCulture);
        foreach (var (name, cells) in runs)
        {
            io.Out.WriteLine($"passkey accuracy ({trials} trials per cell): {name}");
            io.Out.WriteLine("length | tokens" + string.Concat(depths.Select(d => $" | depth {Depth(d)}")) + " | mean");
            foreach (int length in lengths)
            {
                var row = depths.Select(d => cells.Single(c => c.Length == length && c.Depth == d)).ToList();
                io.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{length} | {row.Average(c => c.MeanTokens):F0}{string.Concat(row.Select(c => $" | {c.Accuracy:F2}"))} | {row.Average(c => c.Accuracy):F2}"));
            }
        }
    }

    private static Dictionary<string, object> ToJson(List<(string Name, IReadOnlyList<PasskeyCell> Cells)> runs, IReadOnlyList<int> lengths,
        IReadOnlyList<double> depths, int trials, int seed, int answerTokens) => new()
    {
        ["lengths"] = lengths,
        ["depths"] = depths,
        ["trials"] = trials,
        ["seed"] = seed,
        ["answer_tokens"] = answerTokens,
        ["runs"] = runs.Select(r => new Dictionary<string, object>
        {
            ["attention"] = r.Name,
            ["cells"] = r.Cells.Select(c => new Dictionary<string, object>
            {
                ["length"] = c.Length,
                ["depth"] = c.Depth,
                ["trials"] = c.Trials,
                ["correct"] = c.Correct,
                ["accuracy"] = c.Accuracy,
                ["mean_tokens"] = c.MeanTokens,
                ["answers"] = c.Answers,
            }).ToArray(),
        }).ToArray(),
    };
}
