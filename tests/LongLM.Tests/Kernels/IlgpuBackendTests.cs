using LongLM.Kernels;
using LongLM.Kernels.Ilgpu;
using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Tests.Kernels;

/// <summary>What the ILGPU backend has beyond <see cref="IBackend"/>, and how it is created.</summary>
public sealed class IlgpuBackendTests : IDisposable
{
    private readonly IlgpuBackend _backend = IlgpuBackend.CreateCpu();

    public void Dispose() => _backend.Dispose();

    private int ArgMax(float[] values)
    {
        using var buffer = _backend.Allocate(values.Length);
        _backend.Upload(values, buffer);
        return _backend.ArgMax(buffer, values.Length);
    }

    [Fact]
    public void ArgMax_MatchesTheFirstMaximumOfTheRow()
    {
        var values = Inputs.Random(1000, 21, 10f);
        Assert.Equal(Array.IndexOf(values, values.Max()), ArgMax(values));
    }

    [Fact]
    public void ArgMax_Ties_TakeTheSmallestIndex()
    {
        var values = new float[300];
        values[7] = values[133] = values[299] = 5f;
        Assert.Equal(7, ArgMax(values));
    }

    [Fact]
    public void ArgMax_IgnoresNaN_AndCountLimitsTheRow()
    {
        var values = Inputs.Random(200, 22);
        values[3] = float.NaN;
        values[150] = 100f;
        Assert.Equal(Array.IndexOf(values, values.Take(100).Max()), ArgMaxOfPrefix(values, 100));
        Assert.Equal(150, ArgMax(values));
    }

    private int ArgMaxOfPrefix(float[] values, int count)
    {
        using var buffer = _backend.Allocate(values.Length);
        _backend.Upload(values, buffer);
        return _backend.ArgMax(buffer, count);
    }

    /// <summary>
    /// Every attention case on the kernel the default dispatch does not pick for it (the parity suite runs the
    /// default), so each case runs through both Attend and AttendTiled on ilgpu-cpu. Head dims above the tiled
    /// kernel's limit stay on Attend.
    /// </summary>
    [Theory]
    [MemberData(nameof(BackendParityTests.AttentionCases), MemberType = typeof(BackendParityTests))]
    public void Attention_OtherKernel_MatchesReference(string name, AttentionShape shape)
    {
        _backend.AttentionKernel = IlgpuBackend.UsesTiledAttention(shape) ? AttentionKernelChoice.PerRow : AttentionKernelChoice.Tiled;
        BackendParityTests.AssertAttentionMatchesReference(_backend, name, shape);
    }

    [Fact]
    public void UsesTiledAttention_ForPrefillUpToHeadDim128()
    {
        var shape = new AttentionShape { QueryCount = 2, Heads = 1, KvHeads = 1, HeadDim = 128, Scale = 1f, FirstQueryPosition = 0, LocalFirstPosition = 0, LocalCount = 2 };
        Assert.True(IlgpuBackend.UsesTiledAttention(shape));
        Assert.False(IlgpuBackend.UsesTiledAttention(shape with { QueryCount = 1, FirstQueryPosition = 1 }));
        Assert.False(IlgpuBackend.UsesTiledAttention(shape with { HeadDim = 256 }));
    }

    [Fact]
    public void Names_AreCudaAndIlgpuCpu()
    {
        Assert.Equal("ilgpu-cpu", _backend.Name);
        Assert.Contains("cuda", Backends.Names);
        Assert.Contains("ilgpu-cpu", Backends.Names);
    }

    [NoGpuFact]
    public void CudaWithoutGpu_IsOneLineLongLMException()
    {
        var e = Assert.Throws<LongLMException>(() => Backends.Create("cuda").Dispose());
        Assert.Contains("--backend cpu", e.Message);
        Assert.DoesNotContain('\n', e.Message);
    }

    [GpuFact]
    public void CudaWithGpu_StartsAndComputesArgMaxOnTheDevice()
    {
        // The counterpart of the test above on a GPU machine: "cuda" starts, and a kernel runs on it (expected: the
        // first maximum of the row, as on ilgpu-cpu above).
        using var cuda = Backends.Create("cuda");
        Assert.Equal("cuda", cuda.Name);
        var values = Inputs.Random(1000, 21, 10f);
        values[7] = values[640] = values.Max() + 1;
        using var buffer = cuda.Allocate(values.Length);
        cuda.Upload(values, buffer);
        Assert.Equal(7, ((IlgpuBackend)cuda).ArgMax(buffer, values.Length));
    }
}
