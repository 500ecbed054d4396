using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Toolchains.InProcess.Emit;

namespace LongLM.Bench.Ops;

/// <summary>
/// In-process runs (no per-suite project build: the whole op table runs in minutes), 3 warm-ups and 10 measured
/// iterations, median and its quartiles; the suites are for comparing ops and backends, not for nanosecond claims.
/// </summary>
public sealed class OpConfig : ManualConfig
{
    /// <summary>The job and columns.</summary>
    public OpConfig()
    {
        AddJob(Job.Default.WithToolchain(InProcessEmitToolchain.Instance).WithWarmupCount(3).WithIterationCount(10).WithId("ops"));
        AddColumn(StatisticColumn.Median, StatisticColumn.Q1, StatisticColumn.Q3);
        WithOptions(ConfigOptions.JoinSummary);
    }
}
