using System.CommandLine;
using System.Text.Json;
using LongLM.Runtime;
using LongLM.Runtime.Evaluation;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm continue-eval`: LM-Infinite's generation-quality protocol (Table 3): greedy continuations of the text's
/// first m tokens, scored with BLEU-4 and ROUGE-L against the text's next tokens, per milestone and attention mode.
/// </summary>
public static class ContinueEvalCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var text = new Option<string>("--text") { Description = "UTF-8 text file: the document whose prefixes are continued", Required = true };
        var milestones = new Option<string>("--milestones") { Description = "Comma list of prefix lengths in tokens (k = x1024), e.g. 512,1k,2k,4k", Required = true };
        var tokens = new Option<int>("--tokens") { Description = "Tokens generated greedily and reference tokens scored per milestone", DefaultValueFactory = _ => 100 };
        var prefillChunk = CommonOptions.PrefillChunk();
        var json = new Option<string?>("--json") { Description = "Write every milestone's scores, prediction and reference as JSON to this file" };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of BLEU-4 and ROUGE-L against the milestone (every mode overlaid)" };
        var threads = CommonOptions.Threads();
        var command = new Command("continue-eval", "Greedy continuation quality by prefix length (BLEU-4 and ROUGE-L, LM-Infinite's Table 3); comma-separate --attention modes to compare them")
            { model, backend, text, milestones, tokens, prefillChunk, json, plot, threads };
        var attention = new AttentionFlags(command, topKAlias: true);
        command.SetAction(parse => io.Guard(() =>
        {
            string dir = parse.GetValue(model)!, file = parse.GetValue(text)!;
            if (!File.Exists(file)) throw new LongLMException($"{file}: text file not found", file);
            var points = ContinuationEvaluator.ParseMilestones(parse.GetValue(milestones)!);
            int count = parse.GetValue(tokens);
            if (count <= 0) throw new LongLMException($"--tokens must be positive, got {count}");
            var modes = attention.Modes(parse);
            var ropes = attention.RopeScalings(parse);
            var runs = new List<(string Name, IReadOnlyList<ContinuationPoint> Points)>();
            int[]? ids = null;
            foreach (var (mode, rope) in modes.SelectMany(m => ropes.Select(r => (m, r))))
            {
                using var loaded = io.LoadModel(dir, parse.GetValue(backend)!, attention.ModelOptions(parse, mode, rope), parse.GetValue(threads));
                var lm = loaded.Model;
                ids ??= lm.Tokenizer.Encode(File.ReadAllText(file));
                // Before any model work: a milestone the text cannot serve is a usage error, named.
                ContinuationEvaluator.CheckFits(points, count, ids.Length);
                string name = lm.Model.Policy + (rope is null ? "" : $", rope {rope}");
                var result = ProgressDisplay.WithBar(io, name, points.Count,
                    progress => ContinuationEvaluator.Evaluate(lm.Model, lm.Tokenizer, lm.StopIds, ids, points, count, parse.GetValue(prefillChunk), progress));
                runs.Add((name, result));
            }
            if (parse.GetValue(json) is string jsonPath) File.WriteAllText(jsonPath, ToJson(runs, count, ids!.Length));
            if (parse.GetValue(plot) is string plotPath) ContinueEvalPlot.Write(plotPath, runs, Path.GetFileName(Path.TrimEndingDirectorySeparator(dir)), count);
            PrintTable(io, runs, count);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static string ToJson(List<(string Name, IReadOnlyList<ContinuationPoint> Points)> runs, int tokens, int textTokens) =>
        JsonSerializer.Serialize(new
        {
            tokens,
            text_tokens = textTokens,
            scoring = "decoded words: BLEU-4 corpus (13a words, no smoothing), ROUGE-L F (beta 1, lower-cased alphanumeric words)",
            runs = runs.Select(r => new
            {
                attention = r.Name,
                milestones = r.Points.Select(p => new
                {
                    milestone = p.Milestone,
                    bleu = p.Bleu.Score,
                    bleu_precisions = p.Bleu.Precisions,
                    brevity_penalty = p.Bleu.BrevityPenalty,
                    rouge_l = p.RougeL.F,
                    rouge_l_precision = p.RougeL.Precision,
                    rouge_l_recall = p.RougeL.Recall,
                    generated_tokens = p.GeneratedIds.Count,
                    stopped_at_eos = p.StoppedAtEos,
                    prediction = p.Prediction,
                    reference = p.Reference,
                }).ToArray(),
            }).ToArray(),
        }, new JsonSerializerOptions { WriteIndented = true });

    private static void PrintTable(CliIO io, List<(string Name, IReadOnlyList<ContinuationPoint> Points)> runs, int tokens)
    {
        io.Out.WriteLine($"BLEU-4 / ROUGE-L of {tokens} greedy tokens (x100)" + string.Concat(runs.Select(r => $" | {r.Name}")));
        foreach (int m in runs[0].Points.Select(p => p.Milestone))
            io.Out.WriteLine($"{m}" + string.Concat(runs.Select(r => r.Points.First(p => p.Milestone == m) is var p
                ? FormattableString.Invariant($" | {100 * p.Bleu.Score:F2} / {100 * p.RougeL.F:F2}{(p.StoppedAtEos ? $" (EOS after {p.GeneratedIds.Count})" : "")}")
                : " | -")));
    }
}
