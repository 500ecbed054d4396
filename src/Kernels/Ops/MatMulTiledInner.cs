using System.Runtime.CompilerServices;

namespace LongLM.Kernels.Ops;

/// <summary>
/// The inner-product kernel of <see cref="MatMulTiled"/>, for wide inner dimensions: a tile of <see cref="TileRows"/>
/// rows x <see cref="InnerTileCols"/> outputs keeps its 4 x 3 dot products in vector accumulators along the inner
/// dimension, so each weight vector load is reused across 4 rows and each activation load across 3 outputs; F32
/// weights are read in place, BF16 widened in registers, F16 widened once per block of outputs into a per-thread panel.
/// 4 x 3 uses 12 accumulators + 3 weight vectors of the 16 AVX2 registers plus one for the activation vector.
/// <para>
/// Every output element is the same instruction sequence wherever it falls: lanes accumulate over
/// [0, inDim - inDim % Count) in order, the lanes are summed (one fixed reduction), the inner tail is added in order,
/// then the bias. A tile at the edge repeats its last row or output instead of taking a different path.
/// </para>
/// </summary>
public static unsafe partial class MatMulTiled
{
    /// <summary>Output features of one inner-product register tile.</summary>
    public const int InnerTileCols = 3;

    private static void InnerBlock<TV, TOps>(float* px, WeightView w, float* pb, float* py, int rowStart, int rowEnd, int outStart, int outEnd, Span<float> panel)
        where TV : struct where TOps : IVectorOps<TV>
    {
        int inDim = w.Cols, outDim = w.Rows;
        fixed (float* ppanel = panel)
        {
            for (int o0 = outStart; o0 < outEnd; o0 += BlockCols)
            {
                int o1 = Math.Min(outEnd, o0 + BlockCols);
                var block = new InnerTiles(px, py, pb, inDim, outDim, rowStart, rowEnd);
                switch (w.DType)
                {
                    case DType.F32:
                        block.Run<TV, TOps, F32Weights>((byte*)((float*)w.Pointer + (long)o0 * inDim), inDim * sizeof(float), o0, o1);
                        break;
                    case DType.BF16:
                        block.Run<TV, TOps, BFloat16Weights>((byte*)((ushort*)w.Pointer + (long)o0 * inDim), inDim * sizeof(ushort), o0, o1);
                        break;
                    case DType.F16:
                        if (panel.Length < (o1 - o0) * inDim) throw new ArgumentException($"matmul panel holds {panel.Length} floats, needs {(o1 - o0) * inDim}", nameof(panel));
                        for (int o = o0; o < o1; o++) ElementConvert.ToSingle(w.RowBytes(o), DType.F16, panel.Slice((o - o0) * inDim, inDim));
                        block.Run<TV, TOps, F32Weights>((byte*)ppanel, inDim * sizeof(float), o0, o1);
                        break;
                    default:
                        throw new ArgumentOutOfRangeException(nameof(w), $"matmul: weight '{w.Name}' has unsupported dtype {w.DType}");
                }
            }
        }
    }

    /// <summary>One block's fixed arguments: activations, output, bias and the row range.</summary>
    private readonly struct InnerTiles(float* x, float* y, float* bias, int inDim, int outDim, int rowStart, int rowEnd)
    {
        /// <summary>Outputs [o0, o1), whose weight rows start at <paramref name="w"/>, <paramref name="stride"/> bytes apart.</summary>
        public void Run<TV, TOps, TW>(byte* w, int stride, int o0, int o1)
            where TV : struct where TOps : IVectorOps<TV> where TW : IMatMulWeight
        {
            for (int o = o0; o < o1; o += InnerTileCols)
            {
                int nc = Math.Min(InnerTileCols, o1 - o);
                // An edge tile repeats its last output: same instructions, results not stored.
                byte* w0 = w + (long)(o - o0) * stride, w1 = nc > 1 ? w0 + stride : w0, w2 = nc > 2 ? w0 + 2L * stride : w1;
                for (int r = rowStart; r < rowEnd; r += TileRows)
                {
                    int nr = Math.Min(TileRows, rowEnd - r);
                    float* x0 = x + (long)r * inDim;
                    float* x1 = nr > 1 ? x0 + inDim : x0, x2 = nr > 2 ? x0 + 2L * inDim : x1, x3 = nr > 3 ? x0 + 3L * inDim : x2;
                    InnerTile<TV, TOps, TW>(x0, x1, x2, x3, w0, w1, w2, inDim, y + (long)r * outDim + o, outDim, nr, nc, bias == null ? null : bias + o);
                }
            }
        }
    }

    /// <summary>The 4 x 3 inner-product register tile: y[r, c] = x_r . w_c (+ bias[c]) for r &lt; nr, c &lt; nc.</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static void InnerTile<TV, TOps, TW>(float* x0, float* x1, float* x2, float* x3, byte* w0, byte* w1, byte* w2,
        int n, float* y, int outDim, int nr, int nc, float* bias)
        where TV : struct where TOps : IVectorOps<TV> where TW : IMatMulWeight
    {
        TV a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero;
        TV a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero;
        TV a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero;
        TV a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero;
        int i = 0;
        for (; i <= n - TOps.Count; i += TOps.Count)
        {
            TV v0 = TW.Load<TV, TOps>(w0, i), v1 = TW.Load<TV, TOps>(w1, i), v2 = TW.Load<TV, TOps>(w2, i);
            TV u = TOps.Load(x0 + i);
            a00 = TOps.FusedMultiplyAdd(u, v0, a00); a01 = TOps.FusedMultiplyAdd(u, v1, a01); a02 = TOps.FusedMultiplyAdd(u, v2, a02);
            u = TOps.Load(x1 + i);
            a10 = TOps.FusedMultiplyAdd(u, v0, a10); a11 = TOps.FusedMultiplyAdd(u, v1, a11); a12 = TOps.FusedMultiplyAdd(u, v2, a12);
            u = TOps.Load(x2 + i);
            a20 = TOps.FusedMultiplyAdd(u, v0, a20); a21 = TOps.FusedMultiplyAdd(u, v1, a21); a22 = TOps.FusedMultiplyAdd(u, v2, a22);
            u = TOps.Load(x3 + i);
            a30 = TOps.FusedMultiplyAdd(u, v0, a30); a31 = TOps.FusedMultiplyAdd(u, v1, a31); a32 = TOps.FusedMultiplyAdd(u, v2, a32);
        }
        InnerStore<TW>(TOps.Sum(a00), TOps.Sum(a01), TOps.Sum(a02), x0, w0, w1, w2, i, n, y, nc, bias);
        if (nr > 1) InnerStore<TW>(TOps.Sum(a10), TOps.Sum(a11), TOps.Sum(a12), x1, w0, w1, w2, i, n, y + outDim, nc, bias);
        if (nr > 2) InnerStore<TW>(TOps.Sum(a20), TOps.Sum(a21), TOps.Sum(a22), x2, w0, w1, w2, i, n, y + 2L * outDim, nc, bias);
        if (nr > 3) InnerStore<TW>(TOps.Sum(a30), TOps.Sum(a31), TOps.Sum(a32), x3, w0, w1, w2, i, n, y + 3L * outDim, nc, bias);
    }

    /// <summary>One tile row: the reduced lanes plus the inner tail [i, n) in order, plus the bias.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void InnerStore<TW>(float s0, float s1, float s2, float* x, byte* w0, byte* w1, byte* w2, int i, int n, float* y, int nc, float* bias)
        where TW : IMatMulWeight
    {
        for (; i < n; i++)
        {
            float xi = x[i];
            s0 += xi * TW.Scalar(w0, i);
            s1 += xi * TW.Scalar(w1, i);
            s2 += xi * TW.Scalar(w2, i);
        }
        y[0] = bias == null ? s0 : s0 + bias[0];
        if (nc > 1) y[1] = bias == null ? s1 : s1 + bias[1];
        if (nc > 2) y[2] = bias == null ? s2 : s2 + bias[2];
    }
}


/// <summary>How a tile reads element i of a stored weight row, as a vector of lanes or one float.</summary>
internal unsafe interface IMatMulWeight
{
    static abstract TV Load<TV, TOps>(byte* row, int i) where TV : struct where TOps : IVectorOps<TV>;
    static abstract float Scalar(byte* row, int i);
}

/// <summary>F32 rows, read in place (also the widened F16 panel).</summary>
internal readonly unsafe struct F32Weights : IMatMulWeight
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Load<TV, TOps>(byte* row, int i) where TV : struct where TOps : IVectorOps<TV> => TOps.Load((float*)row + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scalar(byte* row, int i) => ((float*)row)[i];
}

/// <summary>BF16 rows, widened in registers.</summary>
internal readonly unsafe struct BFloat16Weights : IMatMulWeight
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static TV Load<TV, TOps>(byte* row, int i) where TV : struct where TOps : IVectorOps<TV> => TOps.LoadBFloat16((ushort*)row + i);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float Scalar(byte* row, int i) => BitConverter.UInt32BitsToSingle((uint)((ushort*)row)[i] << 16);
}
