using BenchmarkDotNet.Attributes;
using LongLM.Kernels;
using LongLM.Kernels.Ops;

namespace LongLM.Bench.Ops;

/// <summary>
/// CLEX's ODE solve as inference runs it when the scale t changes (algorithms.md 3.2-3.3): head_dim 64 (m = 32 pairs),
/// MLP width λd = 64 (param_factor 1) or 128 (2), SiLU, output times 1..16, time_dt 0.01 (1,501 grid points).
/// </summary>
public class ClexOps : OpBenchmark
{
    private const int Pairs = 32, MaxFactor = 16;
    private const float Step = 0.01f;
    private DeviceBuffer _z0 = null!, _up = null!, _down = null!, _grid = null!, _terms = null!, _times = null!, _result = null!;
    private ClexShape _shape;

    /// <summary>λd, the MLP width.</summary>
    [Params(64, 128)]
    public int Hidden { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        Open();
        var times = Enumerable.Range(1, MaxFactor).Select(t => (float)t).ToArray();
        var grid = ClexOde.Grid(times[0], times[^1], Step);
        _shape = new ClexShape(Pairs, Hidden, ClexOdeActivation.Silu, grid.Length, times.Length);
        // z0 = ln(inv_freq) of RoPE with theta 10000: ln(10000^(-2k/d)).
        var z0 = Enumerable.Range(0, Pairs).Select(k => (float)(-2.0 * k / (2 * Pairs) * Math.Log(10000))).ToArray();
        _z0 = Upload(z0);
        _up = Random((long)Pairs * Hidden, 1, 0.1f);
        _down = Random((long)Hidden * Pairs, 2, 0.1f);
        _grid = Upload(grid);
        _terms = Upload(ClexOde.TimeTerms(grid, Pairs));
        _times = Upload(times);
        _result = Zeros((long)times.Length * Pairs);
    }

    [Benchmark]
    public void ClexIntegrate()
    {
        B.ClexIntegrate(_z0, _up, _down, _grid, _terms, _times, _result, _shape);
        Sync(_result);
    }
}
