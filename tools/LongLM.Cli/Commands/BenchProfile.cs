using LongLM.Kernels.Profiling;

namespace LongLM.Cli.Commands;

/// <summary>One line of a row's profile: an op kind (or "sampling", "other"), per generated or prefilled token.</summary>
/// <param name="Op">snake_case op name.</param>
/// <param name="CallsPerToken">Backend calls per token.</param>
/// <param name="MicrosecondsPerToken">Wall time per token inside those calls.</param>
/// <param name="Share">Fraction of the row's timed wall time.</param>
public sealed record BenchProfileEntry(string Op, double CallsPerToken, double MicrosecondsPerToken, double Share);

/// <summary>
/// `longlm bench --profile`: where a row's time goes, per op kind (cpu backend calls, timed as they run), plus
/// "sampling" (the greedy argmax of tg rows) and "other" (the model's own code between backend calls: wall time
/// minus the rest). Thread wake-ups are inside the op times; <see cref="ParallelRegionsPerToken"/> counts them and
/// <see cref="EmptyRegionMicroseconds"/> is the measured cost of one that does no work, so their product estimates
/// what waking helpers costs per token.
/// </summary>
public sealed record BenchProfile(IReadOnlyList<BenchProfileEntry> Ops, double ParallelRegionsPerToken, double EmptyRegionMicroseconds)
{
    /// <summary>Estimated microseconds per token spent waking helper threads and waiting for them.</summary>
    public double WakeupMicrosecondsPerToken => ParallelRegionsPerToken * EmptyRegionMicroseconds;

    /// <summary>The profile of <paramref name="tokens"/> timed tokens (all repetitions together).</summary>
    public static BenchProfile From(IEnumerable<OpTotals> totals, long tokens, double wallSeconds, double samplingSeconds, double emptyRegionSeconds)
    {
        var calls = new Dictionary<OpKind, long>();
        var seconds = new Dictionary<OpKind, double>();
        long regions = 0;
        foreach (var t in totals)
        {
            regions += t.ParallelRegions;
            foreach (var (kind, (c, s)) in t.ByKind)
            {
                calls[kind] = calls.GetValueOrDefault(kind) + c;
                seconds[kind] = seconds.GetValueOrDefault(kind) + s;
            }
        }
        var ops = seconds.OrderByDescending(p => p.Value)
            .Select(p => Entry(Name(p.Key), calls[p.Key], p.Value, tokens, wallSeconds)).ToList();
        if (samplingSeconds > 0) ops.Add(Entry("sampling", tokens, samplingSeconds, tokens, wallSeconds));
        double other = Math.Max(0, wallSeconds - seconds.Values.Sum() - samplingSeconds);
        ops.Add(Entry("other", 0, other, tokens, wallSeconds));
        return new BenchProfile(ops, regions / (double)tokens, emptyRegionSeconds * 1e6);
    }

    private static BenchProfileEntry Entry(string op, long calls, double seconds, long tokens, double wall) =>
        new(op, calls / (double)tokens, seconds * 1e6 / tokens, wall > 0 ? seconds / wall : 0);

    /// <summary>snake_case name of an op kind ("MatMulAttention" is "matmul_attention").</summary>
    public static string Name(OpKind kind) => kind switch
    {
        OpKind.MatMulAttention => "matmul_attention",
        OpKind.MatMulMlp => "matmul_mlp",
        OpKind.MatMulHead => "matmul_head",
        OpKind.SelectTopK => "select_top_k",
        OpKind.LogSoftmax => "log_softmax",
        OpKind.MoeRouting => "moe_routing",
        OpKind.ClexOde => "clex_ode",
        _ => kind.ToString().ToLowerInvariant(),
    };
}
