using BenchmarkDotNet.Attributes;
using LongLM.Kernels;

namespace LongLM.Bench.Ops;

/// <summary>
/// Mixtral's expert gather and scatter-add on its hidden width (4096): the rows routed to one expert out of a
/// 512-token prefill with top-2 of 8 (128 rows on average), and one decode token's row.
/// </summary>
public class MoeOps : OpBenchmark
{
    private const int Dim = 4096, Tokens = 512;
    private DeviceBuffer _x = null!, _gathered = null!, _out = null!;
    private int[] _rows = [];
    private float[] _scales = [];

    /// <summary>Rows routed to the expert.</summary>
    [Params(1, 128)]
    public int Rows { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Open();
        _x = Random((long)Tokens * Dim, 1);
        _gathered = Zeros((long)Rows * Dim);
        _out = Zeros((long)Tokens * Dim);
        // Distinct rows spread over the prompt, as a router's choices would be.
        _rows = Enumerable.Range(0, Rows).Select(r => r * (Tokens / Rows)).ToArray();
        _scales = Enumerable.Range(0, Rows).Select(r => 0.5f + r % 2 * 0.25f).ToArray();
    }

    [Benchmark]
    public void GatherRows()
    {
        B.GatherRows(_x, _rows, _gathered, Dim);
        Sync(_gathered);
    }

    [Benchmark]
    public void ScatterAddRows()
    {
        B.ScatterAddRows(_gathered, _rows, _scales, _out, Dim);
        Sync(_out);
    }
}
