using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ops;
using LongLM.Runtime.Attention;
using static LongLM.Tests.LmInfinite.SyntheticAttention;

namespace LongLM.Tests.LmInfinite;

/// <summary>algorithms.md 7.4 (slopes, and Lambda + ALiBi row 9), values re-derived in float64 by the spec.</summary>
public abstract class AlibiVectorTests : IDisposable
{
    private readonly IBackend _backend;

    protected AlibiVectorTests(IBackend backend) => _backend = backend;

    public void Dispose()
    {
        _backend.Dispose();
        GC.SuppressFinalize(this);
    }

    [Fact]
    public void Slopes_MatchBloomMptAndLlamaCppRules()
    {
        Assert.Equal([0.25f, 0.0625f, 0.015625f, 0.00390625f, 0.5f, 0.125f], AlibiSlopes.Compute(6));
        float[] twelve = [.. Enumerable.Range(1, 8).Select(p => MathF.Pow(2, -p)), 0.707107f, 0.353553f, 0.176777f, 0.0883883f];
        var got = AlibiSlopes.Compute(12);
        for (int h = 0; h < 12; h++) Assert.Equal(twelve[h], got[h], 5);
        var mpt = AlibiSlopes.Compute(32);
        for (int h = 0; h < 32; h++) Assert.Equal(Math.Pow(2, -(h + 1) / 4.0), mpt[h], 6);
    }

    /// <summary>Row 9 of n = 10, one head, m = 0.5, scores q.k / 2 on unrotated inputs.</summary>
    private float[] Row9(bool lambda)
    {
        using var q = _backend.Allocate(4);
        using var keys = _backend.Allocate(40);
        using var values = _backend.Allocate(40);
        using var slopes = _backend.Allocate(1);
        using var output = _backend.Allocate(4);
        _backend.Upload(Rows(Q, 9, 1), q);
        _backend.Upload(Rows(K, 0, 10), keys);
        _backend.Upload(Rows(V, 0, 10), values);
        _backend.Upload(new[] { 0.5f }, slopes);
        var shape = new AttentionShape
        {
            QueryCount = 1, Heads = 1, KvHeads = 1, HeadDim = 4, Scale = 0.5f, FirstQueryPosition = 9, LocalFirstPosition = 0, LocalCount = 10,
        };
        // Lambda with the efficient-path rule: local distances 0..3, starting tokens (raw = unrotated here) at -m*D.
        if (lambda) shape = shape with { Window = 4, FarCount = 2, GlobalLimit = 2, StationaryFrom = 4, AlibiDistanceCap = 4 };
        _backend.Attention(new AttentionBuffers(q, keys, values, output) { FarQuery = q, FarKeys = keys, FarValues = values, AlibiSlopes = slopes }, shape);
        var result = new float[4];
        _backend.Download(output, result);
        return result;
    }

    [Fact]
    public void LambdaAlibi_EfficientPath_Row9()
    {
        var row = Row9(lambda: true);
        double[] expected = [0.45462005, 0.40500158, 0.2807081, 0.13665445];
        for (int c = 0; c < 4; c++) Assert.True(Math.Abs(expected[c] - row[c]) <= 2e-6, $"[{c}] {expected[c]} vs {row[c]}");
        // Contrast: the detailed (D - 1, no Lambda) path, which the project does not implement, gives other numbers.
        double[] detailed = [0.52050307, 0.65057246, 0.64584251, 0.53195476];
        Assert.Contains(Enumerable.Range(0, 4), c => Math.Abs(detailed[c] - row[c]) > 1e-3);
    }

    [Fact]
    public void VanillaAlibi_Row9()
    {
        var row = Row9(lambda: false);
        double[] expected = [0.62676898, 0.42855131, 0.14989282, -0.11649768];
        for (int c = 0; c < 4; c++) Assert.True(Math.Abs(expected[c] - row[c]) <= 2e-6, $"[{c}] {expected[c]} vs {row[c]}");
    }
}

/// <summary>7.4 on the managed SIMD backend.</summary>
public sealed class CpuAlibiVectorTests() : AlibiVectorTests(new CpuBackend());

/// <summary>7.4 on the ILGPU kernels (ILGPU's CPU accelerator).</summary>
public sealed class IlgpuCpuAlibiVectorTests() : AlibiVectorTests(LongLM.Kernels.Ilgpu.IlgpuBackend.CreateCpu());
