using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ilgpu;
using LongLM.Kernels.Ops;
using LongLM.Tests.Kernels;

namespace LongLM.Tests.Models.Mixtral;

/// <summary>
/// The mixture-of-experts row ops (IBackend.GatherRows / ScatterAddRows) against their scalar reference
/// (Ops.RowGather) on seeded inputs, per backend; and their refusals.
/// </summary>
public abstract class MoeRowOpsParityTests(IBackend backend) : IDisposable
{
    public void Dispose()
    {
        backend.Dispose();
        GC.SuppressFinalize(this);
    }

    private float[] Download(DeviceBuffer buffer)
    {
        var result = new float[buffer.Length];
        backend.Download(buffer, result);
        return result;
    }

    [BackendTheory]
    [InlineData(7, 64, new[] { 3, 0, 6 })]
    [InlineData(5, 33, new[] { 4 })]
    [InlineData(9, 130, new[] { 8, 1, 2, 5, 0, 7, 3 })]
    public void GatherThenScatterAdd_MatchReference(int tableRows, int dim, int[] rows)
    {
        var x = Inputs.Random(tableRows * dim, 21);
        var gathered = new float[rows.Length * dim];
        RowGather.GatherReference(x, rows, gathered, dim);
        using var dx = backend.UploadNew(x);
        using var dg = backend.Allocate(rows.Length * dim);
        backend.GatherRows(dx, rows, dg, dim);
        Assert.Equal(gathered, Download(dg));

        var scales = Inputs.Random(rows.Length, 22);
        var src = Inputs.Random(rows.Length * dim, 23);
        var expected = Inputs.Random(tableRows * dim, 24);
        var start = (float[])expected.Clone();
        RowGather.ScatterAddReference(src, rows, scales, expected, dim);
        using var ds = backend.UploadNew(src);
        using var dd = backend.UploadNew(start);
        backend.ScatterAddRows(ds, rows, scales, dd, dim);
        Tolerance.AssertClose(expected, Download(dd), 1e-6f, 1e-6f, "scatter-add");
    }

    [BackendFact]
    public void ScatterAdd_RepeatedCallsReuseStagingAndAccumulate()
    {
        // Two experts adding into the same rows one after the other, as MixtralSparseMoeBlock's index_add_ does.
        using var dd = backend.Allocate(4 * 8);
        using var ds = backend.UploadNew(Enumerable.Repeat(1f, 3 * 8).ToArray());
        backend.ScatterAddRows(ds, [0, 2, 3], [0.5f, 0.25f, 1f], dd, 8);
        backend.ScatterAddRows(ds, [2], [0.75f], dd, 8);
        var got = Download(dd);
        Assert.Equal([0.5f, 0f, 1f, 1f], Enumerable.Range(0, 4).Select(r => got[r * 8 + 7]));
    }

    [BackendFact]
    public void BadRowIndices_AreRefused()
    {
        using var dx = backend.Allocate(4 * 8);
        using var dy = backend.Allocate(4 * 8);
        Assert.ThrowsAny<ArgumentException>(() => backend.GatherRows(dx, [4], dy, 8));
        Assert.ThrowsAny<ArgumentException>(() => backend.ScatterAddRows(dx, [1, 1], [1f, 1f], dy, 8));
        Assert.ThrowsAny<ArgumentException>(() => backend.ScatterAddRows(dx, [0, 1], [1f], dy, 8));
        Assert.ThrowsAny<ArgumentException>(() => backend.ScatterAddRows(dx, [-1], [1f], dy, 8));
    }
}

/// <summary>The managed backend.</summary>
public sealed class CpuMoeRowOpsParityTests() : MoeRowOpsParityTests(new CpuBackend());

/// <summary>The ILGPU kernels (RowKernels) on ILGPU's CPU accelerator.</summary>
public sealed class IlgpuCpuMoeRowOpsParityTests() : MoeRowOpsParityTests(IlgpuBackend.CreateCpu());

/// <summary>The ILGPU kernels on the first NVIDIA GPU; skipped unless LONGLM_TEST_CUDA=1.</summary>
[OptInBackend("LONGLM_TEST_CUDA")]
public sealed class CudaMoeRowOpsParityTests() : MoeRowOpsParityTests(IlgpuBackend.CreateCuda());
