using System.Diagnostics;
using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Bench;

/// <summary>
/// End-to-end greedy decode on a model folder: per-token wall time after a short prefill, median over the run,
/// and the weight bytes a token reads (every projection, the norms and the output head) divided by that time.
/// </summary>
internal static class DecodeHarness
{
    public static int Run(string[] args)
    {
        string dir = Stats.Arg(args, "--model", "");
        int tokens = int.Parse(Stats.Arg(args, "--tokens", "64"));
        int runs = int.Parse(Stats.Arg(args, "--runs", "3"));
        using var lm = LanguageModel.Load(dir);
        var c = lm.Config;
        // Bytes per token: every stored tensor except the embedding table (one row is gathered), plus the output
        // head, which is the embedding table itself when tied.
        long bytes = lm.Weights.Files.SelectMany(f => f.Tensors.Values)
            .Where(t => t.Name != "model.embed_tokens.weight")
            .Sum(t => t.End - t.Begin);
        var embed = lm.Weights.Info("model.embed_tokens.weight");
        if (c.TieWordEmbeddings) bytes += embed.End - embed.Begin;

        // Bandwidth is measured inside each run, right before its tokens, so the ratio compares like with like on
        // a noisy machine; the reported ratio is the median of the per-run ratios.
        var bandwidthBuffer = BandwidthHarness.Buffer(1024);
        var perToken = new List<double>();
        var ratios = new List<double>();
        var bandwidths = new List<double>();
        var logits = new float[c.VocabSize];
        for (int run = 0; run < runs; run++)
        {
            double bandwidth = BandwidthHarness.Measure(bandwidthBuffer, 5);
            var runTimes = new List<double>();
            using var cache = lm.Model.CreateSequence();
            lm.Model.Forward([c.BosTokenId ?? 0, 1, 2, 3], cache, logits, LogitsRows.Last);
            for (int i = 0; i < tokens; i++)
            {
                int next = Sampler.ArgMax(logits);
                var sw = Stopwatch.StartNew();
                lm.Model.Forward([next], cache, logits, LogitsRows.Last);
                sw.Stop();
                if (run > 0 || i >= 4) runTimes.Add(sw.Elapsed.TotalSeconds); // first tokens of the first run warm the JIT
            }
            perToken.AddRange(runTimes);
            bandwidths.Add(bandwidth);
            ratios.Add(bytes / Stats.Median(runTimes) / 1e9 / bandwidth);
        }
        double median = Stats.Median(perToken);
        Console.WriteLine($"model {Path.GetFileName(Path.TrimEndingDirectorySeparator(dir))}: {lm.ParameterCount / 1e6:F1}M parameters, {bytes / 1e6:F1} MB read per token");
        Console.WriteLine($"decode: median {median * 1e3:F2} ms/token = {1 / median:F2} tokens/s, {bytes / median / 1e9:F2} GB/s of weights ({perToken.Count} tokens, {Environment.ProcessorCount} threads)");
        Console.WriteLine($"read bandwidth in the same runs: median {Stats.Median(bandwidths):F2} GB/s (per run: {string.Join(", ", bandwidths.Select(b => b.ToString("F1")))})");
        Console.WriteLine($"decode / bandwidth: median {Stats.Median(ratios):P0} (per run: {string.Join(", ", ratios.Select(r => r.ToString("P0")))})");
        return 0;
    }
}
