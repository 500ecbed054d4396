using System.CommandLine;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Evaluation;

namespace LongLM.Cli.Commands;

/// <summary>`longlm ppl`: perplexity by position over a long text, for one or several attention modes.</summary>
public static class PplCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = CommonOptions.Model();
        var backend = CommonOptions.Backend();
        var text = new Option<string>("--text") { Description = "UTF-8 text file to score", Required = true };
        var maxTokens = new Option<long?>("--max-tokens", "-n") { Description = "Tokens to score (default: the whole file)" };
        var repeat = new Option<bool>("--repeat") { Description = "Cycle the file's tokens to reach --max-tokens" };
        var chunk = new Option<int>("--chunk") { Description = "Tokens per logical forward call through the KV cache (length-dependent methods see each call's total length; CLEX's protocol uses 4096)", DefaultValueFactory = _ => 512 };
        var prefillChunk = CommonOptions.PrefillChunk();
        var csv = new Option<string?>("--out", "-o") { Description = "Write the per-bucket table as CSV" };
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of NLL against position (every run overlaid)" };
        var json = CommonOptions.Json("Print JSON {buckets, total, tokens_per_second, peak_working_set_bytes} ({runs:[...]} for several modes)");
        var checkWeights = CommonOptions.CheckWeights();
        var threads = CommonOptions.Threads();
        var timings = CommonOptions.Timings();
        var command = new Command("ppl", "Perplexity by position over a long text (comma-separate --attention modes and --rope-scaling values to compare them)")
            { model, backend, text, maxTokens, repeat, chunk, prefillChunk, csv, plot, json, checkWeights, threads, timings };
        var attention = new AttentionFlags(command, topKAlias: true);
        command.SetAction(parse => io.Guard(() =>
        {
            long start = Stopwatch.GetTimestamp();
            long scored = 0;
            string dir = parse.GetValue(model)!, file = parse.GetValue(text)!;
            if (!File.Exists(file)) throw new LongLMException($"{file}: text file not found", file);
            var runs = new List<(string Name, PerplexityResult Result, long PeakBytes)>();
            int[]? fileIds = null;
            // Every --attention mode with every --rope-scaling override: one run each, overlaid in the plot.
            foreach (var (mode, rope) in attention.Modes(parse).SelectMany(m => attention.RopeScalings(parse).Select(r => (m, r))))
            {
                long loadStart = Stopwatch.GetTimestamp();
                using var loaded = io.LoadModel(dir, parse.GetValue(backend)!, attention.ModelOptions(parse, mode, rope) with { CheckWeights = parse.GetValue(checkWeights) }, parse.GetValue(threads));
                double loadMs = PerfReport.Ms(loadStart, Stopwatch.GetTimestamp());
                var lm = loaded.Model;
                // BOS once at the start of the stream; repeats cycle the text's own tokens.
                fileIds ??= lm.Tokenizer.Encode(File.ReadAllText(file));
                int bos = lm.Tokenizer.AddBos && fileIds.Length > 0 && fileIds[0] == lm.Tokenizer.BosId ? 1 : 0;
                long count = parse.GetValue(maxTokens) ?? fileIds.Length;
                if (count > fileIds.Length && !parse.GetValue(repeat))
                    throw new LongLMException($"{file} has {fileIds.Length} tokens; give --repeat to cycle it to {count}");
                int cycle = fileIds.Length - bos;
                if (cycle <= 0) throw new LongLMException($"{file} holds no text tokens");
                var ids = fileIds;
                int TokenAt(long p) => p < ids.Length ? ids[p] : ids[bos + (int)((p - bos) % cycle)];

                string name = lm.Model.Policy + (rope is null ? "" : $", rope {rope}");
                long evalStart = Stopwatch.GetTimestamp();
                PerplexityResult result = ProgressDisplay.WithBar(io, name, count,
                    progress => PerplexityEvaluator.Evaluate(lm.Model, TokenAt, count, parse.GetValue(chunk), progress: progress, prefillChunk: parse.GetValue(prefillChunk)));
                double evalMs = PerfReport.Ms(evalStart, Stopwatch.GetTimestamp());
                if (parse.GetValue(timings))
                {
                    // One run per mode: each has its own load and its own pass over the tokens (all of them prompt eval).
                    string prefix = attention.Modes(parse).Count * attention.RopeScalings(parse).Count > 1 ? $"[{name}] " : "";
                    PerfReport.Load(io, loadMs, prefix);
                    PerfReport.PromptEval(io, evalMs, count, prefix);
                }
                scored += count;
                using var self = Process.GetCurrentProcess();
                runs.Add((name, result, self.PeakWorkingSet64));
            }
            if (parse.GetValue(csv) is string csvPath) WriteCsv(csvPath, runs);
            if (parse.GetValue(plot) is string plotPath) PplPlot.Write(plotPath, runs.Select(r => (r.Name, r.Result)).ToList(), Path.GetFileName(dir));
            if (parse.GetValue(json))
            {
                var objects = runs.Select(r => ToJson(r.Name, r.Result, r.PeakBytes, parse.GetValue(chunk), parse.GetValue(prefillChunk))).ToList();
                io.Out.WriteLine(JsonSerializer.Serialize(objects.Count == 1 ? objects[0] : new Dictionary<string, object> { ["runs"] = objects }));
            }
            else
            {
                PrintTable(io, runs);
            }
            if (parse.GetValue(timings)) PerfReport.Total(io, PerfReport.Ms(start, Stopwatch.GetTimestamp()), scored);
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static Dictionary<string, object> ToJson(string name, PerplexityResult r, long peak, int chunk, int prefillChunk) => new()
    {
        ["attention"] = name,
        ["chunk"] = chunk,
        ["prefill_chunk"] = prefillChunk,
        ["buckets"] = r.Buckets.Select(b => new { start = b.Start, end = b.End, nll = b.Nll, ppl = b.Ppl, count = b.Count }).ToArray(),
        ["total"] = new { nll = r.Total.Nll, ppl = r.Total.Ppl, count = r.Total.Count },
        ["tokens_per_second"] = r.TokensPerSecond,
        ["peak_working_set_bytes"] = peak,
    };

    private static void WriteCsv(string path, List<(string Name, PerplexityResult Result, long PeakBytes)> runs)
    {
        var sb = new StringBuilder("attention,start,end,count,nll,ppl\n");
        foreach (var (name, result, _) in runs)
            foreach (var b in result.Buckets.Append(result.Total with { Start = 0 }))
                sb.Append(CultureInfo.InvariantCulture, $"\"{name}\",{b.Start},{b.End},{b.Count},{b.Nll:F6},{b.Ppl:F4}\n");
        File.WriteAllText(path, sb.ToString());
    }

    private static void PrintTable(CliIO io, List<(string Name, PerplexityResult Result, long PeakBytes)> runs)
    {
        var starts = runs.SelectMany(r => r.Result.Buckets.Select(b => (b.Start, b.End))).Distinct().OrderBy(b => b.Start).ToList();
        io.Out.WriteLine("PPL by position" + string.Concat(runs.Select(r => $" | {r.Name}")));
        foreach (var (start, end) in starts)
            io.Out.WriteLine($"[{start}, {end})" + string.Concat(runs.Select(r =>
                r.Result.Buckets.FirstOrDefault(b => b.Start == start) is { } b ? $" | {b.Ppl:F3}" : " | -")));
        io.Out.WriteLine("total" + string.Concat(runs.Select(r => $" | {r.Result.Total.Ppl:F3} ({r.Result.Total.Count} tokens, {r.Result.TokensPerSecond:F0} tok/s)")));
    }
}
