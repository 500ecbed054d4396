using System.Diagnostics;
using LongLM.Models;
using LongLM.Runtime.Inference;

namespace LongLM.Bench;

/// <summary>
/// End-to-end prefill: one forward call over an N-token prompt (512 by default) on a fresh sequence, logits of the
/// last row only (what generate does before its first token), after one untimed warm-up call; median tokens/s.
/// </summary>
internal static class PrefillHarness
{
    public static int Run(string[] args)
    {
        string dir = Stats.Arg(args, "--model", "");
        int tokens = int.Parse(Stats.Arg(args, "--tokens", "512"));
        int runs = int.Parse(Stats.Arg(args, "--runs", "3"));
        using var lm = LanguageModel.Load(dir);
        var c = lm.Config;
        // Any fixed ids do: prefill cost does not depend on them.
        int[] ids = [c.BosTokenId ?? 0, .. Enumerable.Range(1, tokens - 1).Select(i => 3 + i * 7 % (c.VocabSize - 3))];
        var logits = new float[c.VocabSize];
        var seconds = new List<double>();
        for (int run = -1; run < runs; run++)
        {
            using var cache = lm.Model.CreateSequence();
            var sw = Stopwatch.StartNew();
            lm.Model.Forward(ids, cache, logits, LogitsRows.Last);
            sw.Stop();
            if (run >= 0) seconds.Add(sw.Elapsed.TotalSeconds);
        }
        double median = Stats.Median(seconds);
        Console.WriteLine($"prefill {Path.GetFileName(Path.TrimEndingDirectorySeparator(dir))}: {tokens} tokens, median {median * 1e3:F1} ms = {tokens / median:F1} tokens/s ({runs} runs: {string.Join(", ", seconds.Select(s => (tokens / s).ToString("F1")))} tokens/s, {Environment.ProcessorCount} threads)");
        return 0;
    }
}
