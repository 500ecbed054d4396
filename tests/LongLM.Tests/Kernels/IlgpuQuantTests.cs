using System.Runtime.InteropServices;
using ILGPU;
using ILGPU.Runtime;
using ILGPU.Runtime.CPU;
using Half = System.Half;
using LongLM.Kernels;
using LongLM.Kernels.Ilgpu;
using LongLM.Kernels.Quant;

namespace LongLM.Tests.Kernels;

/// <summary>
/// The ILGPU q8_0/q4_0 kernels (<see cref="QuantKernels"/>) on ILGPU's CPU accelerator; their PTX is compiled by
/// PtxCompileTests with every other [KernelEntry]. Expected values come from outside the kernels: .NET's Half conversion
/// for the fp16 rounding, ggml's quantize_row_q8_0_ref (BlockQ8_0.QuantizeRowReference, checked by hand in QuantTests)
/// for the activation bytes, and float64 sums over the blocks dequantized on the host (ElementConvert) for the matmul.
/// </summary>
public sealed unsafe class IlgpuQuantTests : IDisposable
{
    private readonly IlgpuBackend _backend = IlgpuBackend.CreateCpu();

    public void Dispose() => _backend.Dispose();

    /// <summary>
    /// The kernels' float-to-fp16 rounding equals .NET's (Half) conversion (round to nearest even) on every half value,
    /// every midpoint between neighbouring halves (the ties) and the floats one ulp either side of it, and a sweep of
    /// float bit patterns: overflow, subnormal halves and zeros included. NaN only has to stay NaN.
    /// </summary>
    [Fact]
    public void SingleToHalfBits_RoundsAsDotNetHalf()
    {
        static void Check(float f)
        {
            ushort expected = BitConverter.HalfToUInt16Bits((Half)f), actual = QuantKernels.SingleToHalfBits(f);
            if (float.IsNaN(f)) Assert.True(Half.IsNaN(BitConverter.UInt16BitsToHalf(actual)), $"NaN 0x{BitConverter.SingleToUInt32Bits(f):X8} -> 0x{actual:X4}");
            else Assert.True(expected == actual, $"{f:R} (0x{BitConverter.SingleToUInt32Bits(f):X8}): 0x{actual:X4} vs 0x{expected:X4}");
        }
        for (int bits = 0; bits < 0x7C00; bits++)
        {
            float h = (float)BitConverter.UInt16BitsToHalf((ushort)bits), next = (float)BitConverter.UInt16BitsToHalf((ushort)(bits + 1));
            float mid = (float)(((double)h + next) / 2); // exact: halves have 11 significant bits
            foreach (float f in new[] { h, mid, MathF.BitDecrement(mid), MathF.BitIncrement(mid) })
            {
                Check(f);
                Check(-f);
            }
        }
        for (long bits = 0; bits <= uint.MaxValue; bits += 4093) Check(BitConverter.UInt32BitsToSingle((uint)bits));
        foreach (float f in new[] { 65504f, 65519.996f, 65520f, 1e30f, float.PositiveInfinity, float.NegativeInfinity, float.NaN, 1e-45f, 2.98e-8f, 2.99e-8f })
            Check(f);
    }

    /// <summary>The kernels' fp16 widening equals .NET's (float)Half bit for bit on all 63,488 finite halves.</summary>
    [Fact]
    public void HalfBitsToSingle_IsExactForEveryFiniteHalf()
    {
        for (int bits = 0; bits <= 0xFFFF; bits++)
        {
            Half h = BitConverter.UInt16BitsToHalf((ushort)bits);
            if (!Half.IsFinite(h)) continue;
            Assert.Equal(BitConverter.SingleToUInt32Bits((float)h), BitConverter.SingleToUInt32Bits(QuantKernels.HalfBitsToSingle((ushort)bits)));
        }
    }

    /// <summary>Rows of x for the activation tests: random at several scales, then a block of exact ties (d = 1, x/d = k + 1/2), a zero block and values whose scale underflows fp16.</summary>
    private static float[] ActivationRows(int rows, int cols, int seed)
    {
        float[] x = Inputs.Random(rows * cols, seed, 3f);
        for (int j = 0; j < 32; j++) x[j] = j == 0 ? 127f : (j % 2 == 0 ? 1 : -1) * (j % 100 + 0.5f); // ties round away from zero
        if (x.Length >= 96)
        {
            for (int j = 32; j < 64; j++) x[j] = 0f;
            for (int j = 64; j < 96; j++) x[j] = (j % 2 == 0 ? 1 : -1) * 1e-30f * j; // the fp16 scale underflows to 0
        }
        return x;
    }

    /// <summary>
    /// The device's q8_0 activation quantization writes ggml's bytes (quantize_row_q8_0_ref) and each block's fp16 scale
    /// widened, for rows with ties, zero blocks, subnormal-sized values and random values. Launched directly on an ILGPU CPU
    /// accelerator, since the backend keeps the quantized rows internal.
    /// </summary>
    [Fact]
    public void QuantizeRows_WritesGgmlsQ8_0Bytes()
    {
        const int rows = 3, cols = 128, blocks = rows * cols / 32;
        float[] x = ActivationRows(rows, cols, 5);
        var device = new CPUDevice(numThreadsPerWarp: 32, numWarpsPerMultiprocessor: 4, numMultiprocessors: 1);
        using var context = Context.Create(builder => builder.CPU(device));
        using var accelerator = device.CreateCPUAccelerator(context, CPUAcceleratorMode.Parallel);
        using var dx = accelerator.Allocate1D(x);
        using var dq = accelerator.Allocate1D<Quad>(2 * blocks);
        using var ds = accelerator.Allocate1D<float>(blocks);
        var kernel = accelerator.LoadStreamKernel<ArrayView<float>, ArrayView<Quad>, ArrayView<float>, int>(QuantKernels.QuantizeRows);
        kernel(new KernelConfig(1, 128), dx.View, dq.View, ds.View, blocks);
        Quad[] quads = dq.GetAsArray1D();
        float[] scales = ds.GetAsArray1D();
        byte[] expected = new byte[DType.Q8_0.RowByteLength(rows * cols)];
        BlockQ8_0.QuantizeRowReference(x, expected);
        byte[] quantBytes = MemoryMarshal.AsBytes(quads.AsSpan()).ToArray();
        for (int b = 0; b < blocks; b++)
        {
            Assert.Equal(BlockQ8_0.ReadScale(expected.AsSpan(34 * b, 2)), scales[b]);
            Assert.True(expected.AsSpan(34 * b + 2, 32).SequenceEqual(quantBytes.AsSpan(32 * b, 32)), $"block {b}: quants differ");
        }
    }

    public static TheoryData<DType, int, int, int, bool> MatMulCases() => new()
    {
        { DType.Q8_0, 1, 64, 37, true },     // decode; outputs not a multiple of four
        { DType.Q4_0, 1, 64, 37, true },
        { DType.Q8_0, 3, 1056, 9, false },   // 33 blocks: lanes take two
        { DType.Q4_0, 3, 1056, 9, true },
        { DType.Q8_0, 17, 96, 70, true },    // prefill rows
        { DType.Q4_0, 17, 96, 70, false },
    };

    /// <summary>
    /// y against float64 sums over the blocks: weight blocks dequantized on the host (ElementConvert), the activation
    /// quantized by ggml's reference rule and dequantized likewise. Each block's product is an exact integer times two
    /// fp16 scales in both, so they differ only by float32 rounding of the per-block products and their sums (a lane's
    /// blocks, then 32 lanes, then the bias): at most (blocks + 36) 2^-23 (sum_b |block_b| + |bias|).
    /// </summary>
    [Theory, MemberData(nameof(MatMulCases))]
    public void MatMul_MatchesFloat64BlockSums(DType dtype, int rows, int inDim, int outDim, bool withBias)
    {
        float[] wf = Inputs.Random(outDim * inDim, 21, 0.5f), x = ActivationRows(rows, inDim, 22), bias = Inputs.Random(outDim, 23);
        using var weight = new QuantizedWeight(wf, outDim, inDim, dtype);
        float[] wd = weight.View.ToFloat32();
        float[] xd = new float[rows * inDim];
        byte[] xq = new byte[DType.Q8_0.RowByteLength(rows * inDim)];
        BlockQ8_0.QuantizeRowReference(x, xq);
        BlockQ8_0.DequantizeRow(xq, xd);

        using var dx = _backend.UploadNew(x);
        using var dy = _backend.Allocate(rows * outDim);
        using var dw = _backend.LoadWeight(weight.View);
        using var biasWeight = new NativeWeight(bias, 1, outDim, DType.F32);
        using var db = _backend.LoadWeight(biasWeight.View);
        _backend.MatMul(dx, dw, withBias ? db : null, dy, rows);
        var y = new float[rows * outDim];
        _backend.Download(dy, y);

        int blocks = inDim / 32;
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double expected = withBias ? bias[o] : 0, magnitude = withBias ? Math.Abs(bias[o]) : 0;
                for (int b = 0; b < blocks; b++)
                {
                    double block = 0;
                    for (int j = b * 32; j < b * 32 + 32; j++) block += (double)wd[o * inDim + j] * xd[r * inDim + j];
                    expected += block;
                    magnitude += Math.Abs(block);
                }
                double bound = (blocks + 36) * Math.Pow(2, -23) * magnitude + 1e-30;
                Assert.True(Math.Abs(y[r * outDim + o] - expected) <= bound, $"{dtype} [{r},{o}]: {y[r * outDim + o]} vs {expected} (bound {bound})");
            }
    }

    /// <summary>A quantized embedding table (a tied head quantized with the output) gathers the host's dequantized rows bit for bit.</summary>
    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void Embedding_QuantizedTable_GathersTheDequantizedRows(DType dtype)
    {
        const int vocab = 11, dim = 64;
        using var table = new QuantizedWeight(Inputs.Random(vocab * dim, 31), vocab, dim, dtype);
        float[] all = table.View.ToFloat32();
        int[] ids = [3, 0, 10, 3];
        using var dt = _backend.LoadWeight(table.View);
        using var dst = _backend.Allocate(ids.Length * dim);
        _backend.Embedding(dt, ids, dst);
        var got = new float[ids.Length * dim];
        _backend.Download(dst, got);
        for (int r = 0; r < ids.Length; r++)
            Assert.Equal(all.AsSpan(ids[r] * dim, dim).ToArray(), got.AsSpan(r * dim, dim).ToArray());
    }
}
