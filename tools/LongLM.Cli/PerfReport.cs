using System.Diagnostics;
using System.Globalization;

namespace LongLM.Cli;

/// <summary>
/// --timings: llama.cpp's llama_perf_context_print lines on stderr (load, prompt eval, eval, total). Every figure is a
/// <see cref="Stopwatch"/> reading around the real work; nothing is estimated.
/// </summary>
public static class PerfReport
{
    /// <summary>Milliseconds between two <see cref="Stopwatch.GetTimestamp"/> readings.</summary>
    public static double Ms(long start, long end) => (end - start) * 1000.0 / Stopwatch.Frequency;

    /// <summary>"load time = X ms".</summary>
    public static void Load(CliIO io, double ms, string prefix = "") =>
        io.Err.WriteLine(Line(prefix + "load time", ms, ""));

    /// <summary>"prompt eval time = X ms / N tokens (ms per token, tokens per second)".</summary>
    public static void PromptEval(CliIO io, double ms, long tokens, string prefix = "") =>
        io.Err.WriteLine(Line(prefix + "prompt eval time", ms, Rate(ms, tokens, "tokens")));

    /// <summary>"eval time = X ms / N runs (ms per token, tokens per second)": decode forwards, one token each.</summary>
    public static void Eval(CliIO io, double ms, long runs, string prefix = "") =>
        io.Err.WriteLine(Line(prefix + "eval time", ms, Rate(ms, runs, "runs  ")));

    /// <summary>"total time = X ms / N tokens".</summary>
    public static void Total(CliIO io, double ms, long tokens) =>
        io.Err.WriteLine(Line("total time", ms, string.Create(CultureInfo.InvariantCulture, $" / {tokens,6} tokens")));

    private static string Line(string label, double ms, string rest) =>
        string.Create(CultureInfo.InvariantCulture, $"longlm_perf: {label,16} = {ms,10:F2} ms{rest}");

    private static string Rate(double ms, long count, string unit) => count == 0
        ? string.Create(CultureInfo.InvariantCulture, $" / {count,6} {unit}")
        : string.Create(CultureInfo.InvariantCulture, $" / {count,6} {unit} ({ms / count,8:F2} ms per token, {(ms > 0 ? count * 1000.0 / ms : double.PositiveInfinity),8:F2} tokens per second)");
}
