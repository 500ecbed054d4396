using System.Runtime.InteropServices;
using LongLM.Kernels;
using LongLM.Kernels.Ops;
using LongLM.Kernels.Quant;

namespace LongLM.Tests.Kernels;

/// <summary>
/// ggml's q8_0 / q4_0 block formats and the int8 block dot products. Expected values: hand computations from
/// ggml's definitions (quantize_row_q8_0_ref / quantize_row_q4_0_ref, block layouts in ggml-common.h) for the
/// formats, and float64 references written here over the dequantized blocks for the kernels.
/// </summary>
public sealed unsafe class QuantTests
{
    [Fact]
    public void RowByteLengthCountsBlocks()
    {
        // 34 and 18 bytes per block of 32 (ggml-common.h static_asserts); 172 columns (stories260K's down_proj) do not divide.
        Assert.Equal(68, DType.Q8_0.RowByteLength(64));
        Assert.Equal(36, DType.Q4_0.RowByteLength(64));
        Assert.Equal(256, DType.F32.RowByteLength(64));
        Assert.Throws<ArgumentOutOfRangeException>(() => DType.Q8_0.RowByteLength(172));
    }

    [Fact]
    public void Q8_0MatchesHandComputedBlock()
    {
        // x_j = j - 16: amax = 16, d = 16/127, q_j = roundf((j - 16) * 127 / 16), half away from zero.
        float[] x = Enumerable.Range(0, 32).Select(j => (float)(j - 16)).ToArray();
        var block = new byte[34];
        BlockQ8_0.QuantizeRow(x, block);
        Assert.Equal(BitConverter.HalfToUInt16Bits((Half)(16f / 127f)), (ushort)(block[0] | block[1] << 8));
        Assert.Equal(-127, (sbyte)block[2]);        // j = 0: -16 * 127/16
        Assert.Equal(8, (sbyte)block[2 + 17]);      // j = 17: 7.9375 -> 8
        Assert.Equal(-8, (sbyte)block[2 + 15]);     // j = 15: -7.9375 -> -8
        Assert.Equal(0, (sbyte)block[2 + 16]);
        Assert.Equal(119, (sbyte)block[2 + 31]);    // j = 31: 15 * 127/16 = 119.0625 -> 119
        var back = new float[32];
        BlockQ8_0.DequantizeRow(block, back);
        Assert.Equal(119 * (float)(Half)(16f / 127f), back[31]);
    }

    [Theory, InlineData(1), InlineData(-1)]
    public void Q4_0MatchesHandComputedBlock(int sign)
    {
        // x_j = sign (j - 16): the signed max is -16 sign (first of largest magnitude), d = -16 sign / -8 = 2 sign,
        // id = 0.5 sign, so x_j id = (j - 16) / 2 for both signs and
        // q_j = min(15, trunc((j - 16) / 2 + 8.5)) = min(15, floor(j / 2 + 0.5)); element j low nibble of qs[j], j + 16 high.
        float[] x = Enumerable.Range(0, 32).Select(j => (float)(sign * (j - 16))).ToArray();
        var block = new byte[18];
        BlockQ4_0.QuantizeRow(x, block);
        Assert.Equal(0x00, block[0]);
        Assert.Equal(sign > 0 ? 0x40 : 0xC0, block[1]); // fp16 2.0 = 0x4000, -2.0 = 0xC000
        for (int j = 0; j < 16; j++)
        {
            int lo = Math.Min(15, (int)Math.Floor(j / 2.0 + 0.5)), hi = Math.Min(15, (int)Math.Floor((j + 16) / 2.0 + 0.5));
            Assert.Equal((byte)(lo | hi << 4), block[2 + j]);
        }
        var back = new float[32];
        BlockQ4_0.DequantizeRow(block, back);
        Assert.Equal(-16f * sign, back[0]);  // (0 - 8) * 2 sign: the max itself is exact
        Assert.Equal(14f * sign, back[31]);  // (15 - 8) * 2 sign: the other end is clamped
    }

    /// <summary>
    /// The vectorised quantizers write the reference loops' bytes (ggml's quantize_row_*_ref, checked by hand above):
    /// random rows at several magnitudes, exact halves (d = 1, so x id = k + 0.5 is a tie that rounds away from zero),
    /// zero blocks, a block whose largest magnitudes are equal with both signs (q4_0 keeps the first), negative zeros,
    /// subnormal-sized values and 1e30.
    /// </summary>
    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void VectorQuantizerWritesTheReferenceBytes(DType dtype)
    {
        var rows = new List<float[]>();
        foreach (float scale in new[] { 1e-30f, 1e-3f, 1f, 300f, 1e30f }) rows.Add(Inputs.Random(32 * 9, 50 + rows.Count, scale));
        var ties = new float[64];
        for (int j = 0; j < 32; j++) ties[j] = j == 0 ? 127f : (j % 2 == 0 ? 1 : -1) * (j + 0.5f); // q8_0: d = 1, ties at k + 1/2
        for (int j = 32; j < 64; j++) ties[j] = j == 32 ? -8f : (j % 2 == 0 ? 1 : -1) * ((j - 32) % 8 + 0.5f) / 2; // q4_0: d = 1, x id + 8.5 on integers
        rows.Add(ties);
        var special = new float[96];
        for (int j = 32; j < 64; j++) special[j] = j == 40 ? -5f : j == 50 ? 5f : j % 3 - 1; // equal magnitudes, both signs
        for (int j = 64; j < 96; j++) special[j] = j % 2 == 0 ? -0f : 1e-40f;
        rows.Add(special);
        foreach (float[] x in rows)
        {
            byte[] expected = new byte[dtype.RowByteLength(x.Length)], actual = new byte[expected.Length];
            if (dtype == DType.Q8_0) { BlockQ8_0.QuantizeRowReference(x, expected); BlockQ8_0.QuantizeRow(x, actual); }
            else { BlockQ4_0.QuantizeRowReference(x, expected); BlockQ4_0.QuantizeRow(x, actual); }
            Assert.Equal(expected, actual);
        }
    }

    /// <summary>The kernel paths of <see cref="QuantDot"/>: what the CPU dispatches to, and each instruction-set path on its own.</summary>
    public enum DotPath { Dispatched, Scalar, Avx2, Vnni }

    public static TheoryData<DType, int, DotPath> DotCases()
    {
        var cases = new TheoryData<DType, int, DotPath>();
        foreach (DType dtype in new[] { DType.Q8_0, DType.Q4_0 })
        {
            foreach (int n in new[] { 32, 288, 4096 }) cases.Add(dtype, n, DotPath.Dispatched);
            foreach (DotPath path in new[] { DotPath.Scalar, DotPath.Avx2, DotPath.Vnni }) cases.Add(dtype, 288, path);
        }
        return cases;
    }

    /// <summary>
    /// The block dot (dispatched, or one path) against sum_b d_w d_x sum_j q_w q_x in float64: the integer part
    /// is exact in both, so they differ only by float32 rounding of the per-block products and their sum, bounded by
    /// (blocks + 2) * 2^-23 * sum_b |d_w d_x isum_b|. A path the CPU lacks is skipped (it cannot run here).
    /// </summary>
    [Theory, MemberData(nameof(DotCases))]
    public void BlockDotMatchesFloat64Reference(DType dtype, int n, DotPath path)
    {
        if (path == DotPath.Avx2 && !System.Runtime.Intrinsics.X86.Avx2.IsSupported) return;
        if (path == DotPath.Vnni && !System.Runtime.Intrinsics.X86.AvxVnni.IsSupported) return;
        float[] w = Inputs.Random(n, 7, 0.3f), x = Inputs.Random(n, 8, 2f);
        byte[] wq = new byte[dtype.RowByteLength(n)];
        Quantize(dtype, w, wq);
        float[] scratch = new float[QuantDot.ScratchFloats(n)];
        fixed (float* ps = scratch)
        fixed (byte* pw = wq)
        {
            var xa = QuantActivation.Prepare(x, ps, scratch.Length);
            float[] wd = new float[n], xd = new float[n];
            ElementConvert.ToSingle(wq, dtype, wd);
            BlockQ8_0.DequantizeRow(new ReadOnlySpan<byte>(xa.Blocks, (int)DType.Q8_0.RowByteLength(n)), xd);
            double expected = 0, magnitude = 0;
            for (int b = 0; b < n / 32; b++)
            {
                double block = 0;
                for (int j = b * 32; j < b * 32 + 32; j++) block += (double)wd[j] * xd[j];
                expected += block;
                magnitude += Math.Abs(block);
            }
            float actual = (dtype, path) switch
            {
                (DType.Q8_0, DotPath.Dispatched) => QuantDot.DotQ8_0(pw, xa),
                (DType.Q8_0, DotPath.Scalar) => QuantDot.DotQ8_0Scalar(pw, xa),
                (DType.Q8_0, DotPath.Avx2) => QuantDot.DotQ8_0Avx2(pw, xa),
                (DType.Q8_0, DotPath.Vnni) => QuantDot.DotQ8_0Vnni(pw, xa),
                (_, DotPath.Dispatched) => QuantDot.DotQ4_0(pw, xa),
                (_, DotPath.Scalar) => QuantDot.DotQ4_0Scalar(pw, xa),
                (_, DotPath.Avx2) => QuantDot.DotQ4_0Avx2(pw, xa),
                _ => QuantDot.DotQ4_0Vnni(pw, xa),
            };
            int blocks = n / 32;
            Assert.True(Math.Abs(actual - expected) <= (blocks + 2) * Math.Pow(2, -23) * magnitude + 1e-30,
                $"{dtype} n={n} {path}: {actual} vs {expected}");
        }
    }

    /// <summary>
    /// The branch-free fp16 widening the dot kernels use equals .NET's (float)Half for every finite half (all 63,488
    /// finite bit patterns, both signs, subnormals and zeros included): .NET's conversion is the independent reference.
    /// </summary>
    [Fact]
    public void HalfBitsToSingleIsExactForEveryFiniteHalf()
    {
        for (int bits = 0; bits <= 0xFFFF; bits++)
        {
            Half h = BitConverter.UInt16BitsToHalf((ushort)bits);
            if (!Half.IsFinite(h)) continue;
            float expected = (float)h, actual = QuantDot.HalfBitsToSingle((ushort)bits);
            Assert.True(BitConverter.SingleToUInt32Bits(expected) == BitConverter.SingleToUInt32Bits(actual),
                $"0x{bits:X4}: {actual} vs {expected}");
        }
    }

    /// <summary>
    /// The prepared activation holds BlockQ8_0.QuantizeRow's bytes, each block's scale as float, and q4_0's start value
    /// -8 sum_j q_j in lane 0 of 8 (the rest zero), recomputed here from the quantized bytes.
    /// </summary>
    [Fact]
    public void PreparedActivationHoldsBlocksScalesAndStarts()
    {
        const int n = 96;
        float[] x = Inputs.Random(n, 31, 5f);
        byte[] expectedBytes = new byte[DType.Q8_0.RowByteLength(n)];
        BlockQ8_0.QuantizeRow(x, expectedBytes);
        float[] scratch = new float[QuantDot.ScratchFloats(n)];
        fixed (float* ps = scratch)
        {
            var xa = QuantActivation.Prepare(x, ps, scratch.Length);
            Assert.Equal(3, xa.BlockCount);
            Assert.True(new ReadOnlySpan<byte>(xa.Blocks, expectedBytes.Length).SequenceEqual(expectedBytes));
            for (int b = 0; b < 3; b++)
            {
                Assert.Equal((float)BitConverter.UInt16BitsToHalf((ushort)(expectedBytes[34 * b] | expectedBytes[34 * b + 1] << 8)), xa.Scales[b]);
                int sum = 0;
                for (int j = 0; j < 32; j++) sum += (sbyte)expectedBytes[34 * b + 2 + j];
                Assert.Equal(-8 * sum, xa.Q4Starts[8 * b]);
                for (int lane = 1; lane < 8; lane++) Assert.Equal(0, xa.Q4Starts[8 * b + lane]);
            }
        }
        Assert.Throws<ArgumentException>(() => { fixed (float* ps = scratch) QuantActivation.Prepare(x, ps, scratch.Length - 1); });
    }

    /// <summary>
    /// MatMul.Range on a quantized weight against MatMul.Reference over the dequantized weight with float x (float64):
    /// the kernel also rounds x to q8_0, whose per-element error is at most d_x / 2 = amax_block(x) / 254 (plus the fp16
    /// rounding of d_x, relative 2^-11 of amax * 127 / 127), so |error| &lt;= sum_i |w_i| (amax_b(x) / 254 + amax_b(x) * 2^-11) + float slack.
    /// </summary>
    [Theory]
    [InlineData(DType.Q8_0, 1), InlineData(DType.Q8_0, 5), InlineData(DType.Q4_0, 1), InlineData(DType.Q4_0, 5)]
    public void MatMulRangeMatchesDequantizedReference(DType dtype, int rows)
    {
        const int outDim = 37, inDim = 96;
        float[] wf = Inputs.Random(outDim * inDim, 11, 0.5f), x = Inputs.Random(rows * inDim, 12, 3f), bias = Inputs.Random(outDim, 13);
        using var weight = new QuantizedWeight(wf, outDim, inDim, dtype);
        var view = weight.View;
        var expected = new float[rows * outDim];
        MatMul.Reference(x, rows, view, bias, expected);
        var actual = new float[rows * outDim];
        MatMul.Range(x, rows, view, bias, actual, 0, 20, new float[inDim]);
        MatMul.Range(x, rows, view, bias, actual, 20, outDim, new float[inDim]);
        float[] wd = view.ToFloat32();
        for (int r = 0; r < rows; r++)
            for (int o = 0; o < outDim; o++)
            {
                double bound = 1e-5;
                for (int b = 0; b < inDim / 32; b++)
                {
                    double amax = 0, wsum = 0;
                    for (int j = b * 32; j < b * 32 + 32; j++) { amax = Math.Max(amax, Math.Abs(x[r * inDim + j])); wsum += Math.Abs(wd[o * inDim + j]); }
                    bound += wsum * amax * (1 / 254.0 + Math.Pow(2, -11));
                }
                Assert.True(Math.Abs(actual[r * outDim + o] - expected[r * outDim + o]) <= bound,
                    $"[{r},{o}]: {actual[r * outDim + o]} vs {expected[r * outDim + o]} (bound {bound})");
            }
    }

    /// <summary>
    /// The CPU backend's MatMul job on a quantized weight (decode and prefill rows) gives the values of one
    /// MatMul.Range call (checked above against the float64 reference) bit for bit, for any thread count: each
    /// output is one block dot whatever thread computes it.
    /// </summary>
    [Theory]
    [InlineData(DType.Q8_0, 1), InlineData(DType.Q8_0, 6), InlineData(DType.Q4_0, 1), InlineData(DType.Q4_0, 6), InlineData(DType.Q8_0, 29), InlineData(DType.Q4_0, 29)]
    public void CpuBackendMatMulIsBitIdenticalForAnyThreadCount(DType dtype, int rows)
    {
        foreach (int threads in new[] { 1, 2, 3 })
        {
            using var backend = new LongLM.Kernels.Cpu.CpuBackend(threads);
            AssertBackendMatchesRange(backend, dtype, rows, 64, 53, 21, 22, $"{threads} threads");
        }
    }

    /// <summary>
    /// The backend quantizes a matmul's activation rows once per op into a buffer its per-thread job keeps: a long
    /// prefill, then a shorter one of another width, then decode, on one backend, each equal to MatMul.Range bit for
    /// bit (a stale row or a stride left from the previous op would show here).
    /// </summary>
    [Fact]
    public void CpuBackendMatMul_ReusesItsPreparedRowsAcrossShapes()
    {
        using var backend = new LongLM.Kernels.Cpu.CpuBackend(2);
        foreach (var (dtype, rows, inDim, outDim, seed) in new[] { (DType.Q8_0, 40, 128, 23, 31), (DType.Q4_0, 9, 64, 41, 32), (DType.Q8_0, 1, 96, 17, 33), (DType.Q4_0, 40, 128, 23, 34) })
            AssertBackendMatchesRange(backend, dtype, rows, inDim, outDim, seed, seed + 100, $"{dtype} {rows}x{inDim} -> {outDim}");
    }

    /// <summary>A random [outDim, inDim] weight quantized to dtype: the backend's MatMul of rows random rows equals one MatMul.Range call bit for bit.</summary>
    private static void AssertBackendMatchesRange(LongLM.Kernels.Cpu.CpuBackend backend, DType dtype, int rows, int inDim, int outDim, int weightSeed, int inputSeed, string what)
    {
        float[] wf = Inputs.Random(outDim * inDim, weightSeed, 0.5f), x = Inputs.Random(rows * inDim, inputSeed);
        using var weight = new QuantizedWeight(wf, outDim, inDim, dtype);
        var view = weight.View;
        var expected = new float[rows * outDim];
        MatMul.Range(x, rows, view, default, expected, 0, outDim, new float[inDim]);
        using var dx = backend.UploadNew(x);
        using var dy = backend.Allocate(rows * outDim);
        using var dw = backend.LoadWeight(view);
        backend.MatMul(dx, dw, null, dy, rows);
        var y = new float[rows * outDim];
        backend.Download(dy, y);
        Assert.True(expected.AsSpan().SequenceEqual(y), $"{what}: differs from MatMul.Range");
    }

    private static void Quantize(DType dtype, ReadOnlySpan<float> x, Span<byte> dst)
    {
        if (dtype == DType.Q8_0) BlockQ8_0.QuantizeRow(x, dst);
        else BlockQ4_0.QuantizeRow(x, dst);
    }
}
