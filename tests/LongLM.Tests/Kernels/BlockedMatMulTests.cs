using System.Runtime.Intrinsics;
using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ops;

namespace LongLM.Tests.Kernels;

/// <summary>
/// The register-tiled prefill GEMM (MatMulTiled) against MatMul.Reference (double accumulation over the widened
/// weights; the expected values of every case come from it) at every vector width, accelerated or not, for shapes
/// whose rows, outputs and inner dimension leave tails; and its split invariance (bit-identical values however the
/// rows and outputs are cut into blocks), which CpuThreadsTests relies on.
/// </summary>
public sealed class BlockedMatMulTests
{
    public enum Width { V128, V256, V512 }

    private static void Block(Width width, float[] x, WeightView w, float[] bias, float[] y, int r0, int r1, int o0, int o1, float[] panel)
    {
        switch (width)
        {
            case Width.V128: MatMulTiled.Block<Vector128<float>, Vector128Ops>(x, w, bias, y, r0, r1, o0, o1, panel); break;
            case Width.V256: MatMulTiled.Block<Vector256<float>, Vector256Ops>(x, w, bias, y, r0, r1, o0, o1, panel); break;
            default: MatMulTiled.Block<Vector512<float>, Vector512Ops>(x, w, bias, y, r0, r1, o0, o1, panel); break;
        }
    }

    /// <summary>Rows 1..513 (tile tails 1, 2, 3 and one row past a block), inner 1..300 (lane tails of every width), outputs 1..300.</summary>
    public static TheoryData<Width, DType, int, int, int, bool> Shapes()
    {
        (int rows, int inDim, int outDim)[] shapes =
        [
            (1, 1, 1), (2, 7, 5), (3, 16, 3), (5, 17, 4), (17, 31, 49), (64, 64, 96), (5, 300, 7), (17, 129, 300), (513, 67, 50),
        ];
        var data = new TheoryData<Width, DType, int, int, int, bool>();
        foreach (var width in Enum.GetValues<Width>())
            foreach (var dtype in new[] { DType.F32, DType.BF16, DType.F16 })
                for (int s = 0; s < shapes.Length; s++)
                    data.Add(width, dtype, shapes[s].rows, shapes[s].inDim, shapes[s].outDim, s % 2 == 0);
        return data;
    }

    [Theory]
    [MemberData(nameof(Shapes))]
    public void Block_MatchesReference(Width width, DType dtype, int rows, int inDim, int outDim, bool withBias)
    {
        var x = Inputs.Random(rows * inDim, 11);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 12), outDim, inDim, dtype);
        float[] bias = withBias ? Inputs.Random(outDim, 13) : [];
        var expected = new float[rows * outDim];
        MatMul.Reference(x, rows, w.View, bias, expected);

        var y = new float[rows * outDim];
        Block(width, x, w.View, bias, y, 0, rows, 0, outDim, new float[MatMulTiled.PanelLength(w.View)]);
        Tolerance.AssertClose(expected, y, 1e-4f, 1e-4f, $"tiled {width} {dtype} {rows}x{inDim}->{outDim} bias={withBias}");
    }

    [Theory]
    [InlineData(DType.F32)]
    [InlineData(DType.BF16)]
    [InlineData(DType.F16)]
    public void Block_AnySplitOfRowsAndOutputs_IsBitIdentical(DType dtype)
    {
        // Cuts that fall inside tiles and blocks: an element must come out the same from whichever block computes it.
        const int rows = 37, inDim = 83, outDim = 101;
        var x = Inputs.Random(rows * inDim, 21);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 22), outDim, inDim, dtype);
        var bias = Inputs.Random(outDim, 23);
        var panel = new float[MatMulTiled.PanelLength(w.View)];
        var whole = new float[rows * outDim];
        MatMulTiled.Block(x, w.View, bias, whole, 0, rows, 0, outDim, panel);

        var pieces = new float[rows * outDim];
        int[] rowCuts = [0, 1, 6, 7, 22, rows], outCuts = [0, 2, 50, 53, 100, outDim];
        for (int a = 0; a + 1 < rowCuts.Length; a++)
            for (int b = 0; b + 1 < outCuts.Length; b++)
                MatMulTiled.Block(x, w.View, bias, pieces, rowCuts[a], rowCuts[a + 1], outCuts[b], outCuts[b + 1], panel);
        Assert.True(whole.AsSpan().SequenceEqual(pieces), "a block split changed a value");
    }

    [Theory]
    [InlineData(DType.F32, 512, 576, 192)]
    [InlineData(DType.BF16, 130, 576, 577)]
    [InlineData(DType.F16, 4, 67, 70)]
    [InlineData(DType.BF16, 5, 1536, 50)]
    public void Backend_Prefill_MatchesReference(DType dtype, int rows, int inDim, int outDim)
    {
        var x = Inputs.Random(rows * inDim, 31);
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 32), outDim, inDim, dtype);
        using var b = new NativeWeight(Inputs.Random(outDim, 33), 1, outDim, DType.F32);
        var expected = new float[rows * outDim];
        MatMul.Reference(x, rows, w.View, b.View.ToFloat32(), expected);

        using var backend = new CpuBackend();
        using var dx = backend.UploadNew(x);
        using var dy = backend.Allocate(rows * outDim);
        using var dw = backend.LoadWeight(w.View);
        using var db = backend.LoadWeight(b.View);
        backend.MatMul(dx, dw, db, dy, rows);
        var got = new float[rows * outDim];
        backend.Download(dy, got);
        // Tolerance grows with the inner dimension (float32 sums of 1536 products of magnitude <= 1).
        Tolerance.AssertClose(expected, got, inDim > 1000 ? 3e-4f : 1e-4f, 1e-4f, $"backend prefill {dtype}");
    }

    [Theory]
    [InlineData(DType.F16)]
    [InlineData(DType.BF16)]
    public void Backend_Prefill_AllocatesNothingPerCall_InSteadyState(DType dtype)
    {
        // One thread, so every chunk (and its F16 panel) runs on the thread whose allocations are counted. Expected 0:
        // the panel is the per-thread scratch, the job is the per-thread reusable one.
        const int rows = 64, inDim = 96, outDim = 100;
        using var w = new NativeWeight(Inputs.Random(outDim * inDim, 61), outDim, inDim, dtype);
        using var backend = new CpuBackend(1);
        using var dx = backend.UploadNew(Inputs.Random(rows * inDim, 62));
        using var dy = backend.Allocate(rows * outDim);
        using var dw = backend.LoadWeight(w.View);
        backend.MatMul(dx, dw, null, dy, rows);
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10; i++) backend.MatMul(dx, dw, null, dy, rows);
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Block_OutsideTheBuffers_Throws()
    {
        using var w = new NativeWeight(Inputs.Random(6 * 8, 41), 6, 8, DType.F32);
        var x = new float[3 * 8];
        var y = new float[3 * 6];
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMulTiled.Block(x, w.View, [], y, 0, 4, 0, 6, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMulTiled.Block(x, w.View, [], y, 0, 3, 0, 7, []));
        Assert.Throws<ArgumentOutOfRangeException>(() => MatMulTiled.Block(x, w.View, new float[5], y, 0, 3, 0, 6, []));
    }

    [Fact]
    public void UsesTiles_FromFourRows_DecodeKeepsTheDotPath()
    {
        Assert.False(MatMul.UsesTiles(1));
        Assert.False(MatMul.UsesTiles(3));
        Assert.Equal(MatMulTiled.IsSupported, MatMul.UsesTiles(4));
    }
}
