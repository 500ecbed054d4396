using System.CommandLine;
using LongLM.Kernels.Cpu;
using LongLM.Runtime;
using LongLM.Runtime.Evaluation;

namespace LongLM.Cli.Commands;

/// <summary>
/// `longlm bench`: llama-bench for LongLM. Rows of prefill (pp) and decode (tg) tokens/s at depths, thread counts and
/// attention modes, measured through the library's forward on a loaded model (load time never counts), with weight
/// GB/s, peak working set and KV-cache bytes; markdown, CSV or JSON; --plot draws decode speed and KV bytes by depth.
/// </summary>
public static class BenchCommand
{
    /// <summary>Builds the command.</summary>
    public static Command Create(CliIO io)
    {
        var model = new Option<string?>("--model", "-m") { Description = "Model folder in Hugging Face layout (not with --from)" };
        var backend = CommonOptions.Backend();
        var prompts = new Option<string>("--n-prompt", "-p") { Description = "Prefill tests: comma list of prompt lengths (k = x1024)", DefaultValueFactory = _ => "512" };
        var gens = new Option<string>("--n-gen", "-n") { Description = "Decode tests: comma list of generated-token counts", DefaultValueFactory = _ => "128" };
        var depths = new Option<string>("--n-depth", "-d") { Description = "Comma list of depths: tokens prefilled (untimed) before each test, e.g. 0,4k,32k", DefaultValueFactory = _ => "0" };
        var threads = new Option<string?>("--threads", "-t") { Description = $"Comma list of cpu-backend thread counts, 1 to {CpuBackend.MaxThreads} (default: every core)" };
        var repetitions = new Option<int>("--repetitions", "-r") { Description = "Timed repetitions per row (mean ± sd over them)", DefaultValueFactory = _ => 5 };
        var only = new Option<string?>("--only") { Description = "Run only the prefill (pp) or only the decode (tg) tests" };
        only.AcceptOnlyFromAmong("pp", "tg");
        var output = new Option<string>("--output", "-o") { Description = "Output format", DefaultValueFactory = _ => "md" };
        output.AcceptOnlyFromAmong([.. BenchOutput.Formats]);
        var noWarmup = new Option<bool>("--no-warmup") { Description = "Skip the untimed warm-up repetition of each row" };
        var prefillChunk = CommonOptions.PrefillChunk();
        var plot = new Option<string?>("--plot") { Description = "Write a PNG of decode tokens/s and KV-cache MiB against depth (tg rows)" };
        var profile = new Option<bool>("--profile") { Description = "Time every backend op of the timed repetitions (cpu backend): per-op µs/token and share, sampling, thread wake-ups" };
        var from = new Option<string?>("--from") { Description = "Comma list of earlier `bench -o json` files: print (and --plot) their rows together instead of running" };
        var command = new Command("bench", "Prefill and decode speed, weight GB/s, peak memory and KV-cache bytes by depth, threads and attention mode (as llama-bench)")
            { model, backend, prompts, gens, depths, threads, repetitions, only, output, noWarmup, prefillChunk, plot, profile, from };
        var attention = new AttentionFlags(command, topKAlias: true);
        command.SetAction(parse => io.Guard(() =>
        {
            string format = parse.GetValue(output)!;
            string? dir = parse.GetValue(model);
            List<BenchRow> rows;
            if (parse.GetValue(from) is string files)
            {
                if (dir is not null) throw new LongLMException("give --model to run a benchmark or --from to print saved rows, not both");
                if (parse.GetValue(profile)) throw new LongLMException("--profile runs a benchmark; it does not apply to --from");
                rows = files.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).SelectMany(BenchOutput.ReadJson).ToList();
            }
            else
            {
                if (dir is null) throw new LongLMException("--model is required (or --from FILE.json to print saved rows)");
                if (parse.GetValue(profile) && parse.GetValue(backend) != "cpu")
                    throw new LongLMException($"--profile times the cpu backend's ops; --backend {parse.GetValue(backend)} runs them asynchronously");
                rows = Run(io, parse, dir, attention, Plan(parse, prompts, gens, depths, repetitions, only, noWarmup, prefillChunk) with { Profile = parse.GetValue(profile) },
                    parse.GetValue(backend)!, ThreadCounts(parse.GetValue(threads), parse.GetValue(backend)!));
            }
            if (parse.GetValue(plot) is string png) BenchPlot.Write(png, rows, string.Join(", ", rows.Select(r => r.Model).Distinct()));
            io.Out.Write(BenchOutput.Format(rows, format));
            return ExitCodes.Ok;
        }));
        return command;
    }

    private static BenchPlan Plan(ParseResult parse, Option<string> prompts, Option<string> gens, Option<string> depths, Option<int> repetitions,
        Option<string?> only, Option<bool> noWarmup, Option<int> prefillChunk)
    {
        string? which = parse.GetValue(only);
        var p = which == "tg" ? [] : TokenCountList.Parse(parse.GetValue(prompts), "-p", 1);
        var n = which == "pp" ? [] : TokenCountList.Parse(parse.GetValue(gens), "-n", 1);
        var d = TokenCountList.Parse(parse.GetValue(depths), "-d", 0);
        int r = parse.GetValue(repetitions);
        if (r < 1) throw new LongLMException($"-r must be at least 1, got {r}");
        int chunk = parse.GetValue(prefillChunk);
        if (chunk is < 1 or > Runtime.Inference.SequenceState.MaxPrefillChunk)
            throw new LongLMException($"--prefill-chunk must be in [1, {Runtime.Inference.SequenceState.MaxPrefillChunk}], got {chunk}");
        return new BenchPlan(p, n, d, r, !parse.GetValue(noWarmup), chunk);
    }

    /// <summary>-t's list (null: the backend's default), checked before any model is loaded.</summary>
    private static IReadOnlyList<int?> ThreadCounts(string? text, string backend)
    {
        if (text is null) return [null];
        if (backend != "cpu") throw new LongLMException($"-t applies to the cpu backend only, not --backend {backend}");
        return TokenCountList.Parse(text, "-t", 1, CpuBackend.MaxThreads).Select(t => (int?)t).ToArray();
    }

    private static List<BenchRow> Run(CliIO io, ParseResult parse, string dir, AttentionFlags attention, BenchPlan plan, string backend, IReadOnlyList<int?> threads)
    {
        var modes = attention.Modes(parse);
        var options = modes.Select(m => attention.ModelOptions(parse, m, attention.RopeScalings(parse) is [var rope] ? rope
            : throw new LongLMException("give one --rope-scaling value to bench"))).ToList();
        // Every mode is checked against the longest row before any timing, so a depth vanilla attention cannot hold
        // fails in a second, not after the other modes have run for minutes.
        foreach (var option in options)
        {
            using var loaded = io.LoadModel(dir, backend, option, threads[0]);
            BenchRunner.CheckFits(loaded.Model, plan);
        }
        var rows = new List<BenchRow>();
        foreach (var option in options)
        {
            foreach (int? t in threads)
            {
                using var loaded = io.LoadModel(dir, backend, option, t, plan.Profile);
                foreach (var row in BenchRunner.Run(loaded, plan, backend))
                {
                    rows.Add(row);
                    if (io.IsVerbose || io.ShowProgress)
                        io.Err.WriteLine(FormattableString.Invariant($"longlm: {row.Attention} t={row.Threads?.ToString() ?? "-"} {row.TestName}: {row.MeanTokensPerSecond:F2} t/s"));
                }
            }
        }
        return rows;
    }
}
