using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

/// <summary>
/// Prefill GEMM y[r, o] = x[r, :] . w[o, :] (+ bias[o]), register-tiled, by one of two kernels chosen by the inner
/// dimension K alone (so a shape always takes the same one): below <see cref="OuterProductMaxInner"/> an outer product
/// (this file), from there the inner-product tile (MatMulTiledInner.cs). Measured end to end on this machine
/// (bench/RESULTS.md): the outer product made stories260K's prefill (K = 64, 172) about 1.3x faster, the inner product
/// stayed about 1.1x faster on SmolLM-135M's BF16 prefill (K = 576, 1536), where the outer product's per-block
/// widening of the panel costs more than the inner product's lane reductions; the crossover between 172 and 576 was
/// not located.
/// <para>
/// The outer product: a block of
/// <see cref="BlockCols"/> outputs is first packed (widened to float32 whatever the stored dtype) into a panel laid out
/// k-major, panel[k, o]; then each register tile of <see cref="TileRows"/> rows x 3 vectors of outputs keeps its
/// 12 vector accumulators over the whole inner dimension, every step one broadcast activation per row times three
/// panel vectors. Nothing is reduced across lanes: a lane is one output. (The inner-product tile sums along the inner
/// dimension in lanes and reduces 12 vectors at the end, which costs as much as its multiply-adds when the inner
/// dimension is a few vectors long: stories260K's 64 is 4 Vector512 steps.) 4 x 3 uses 12 accumulators + 3 panel
/// vectors + one broadcast of the 16 AVX2 registers.
/// </para>
/// <para>
/// Every output element is the same chain wherever it falls: partial sums over inner blocks of
/// <see cref="PartialSumSteps"/> steps, each fma(x[r, k], w[o, k], ...) in inner order from 0, added to the output in block order, then + bias[o].
/// A tile at the edge repeats its last row and computes the zero-padded outputs of the panel without storing them, so the value of y[r, o] depends on neither the tile, nor the block, nor
/// the thread that computes it, nor the vector width.
/// </para>
/// </summary>
public static unsafe partial class MatMulTiled
{
    /// <summary>Rows of one register tile (both kernels).</summary>
    public const int TileRows = 4;
    /// <summary>Inner dimensions below this take the outer-product kernel; the rest the inner-product one.</summary>
    public const int OuterProductMaxInner = 256;
    /// <summary>Output vectors of one register tile.</summary>
    public const int TileVectors = 3;
    /// <summary>
    /// Inner-dimension steps summed in registers before being added to the output: partial sums of 32 products, so the
    /// rounding error grows with 32 + K/32 terms rather than K, like the decode GEMV's lanes (one running sum over K
    /// raised OneCallSemanticsTests' largest prefill-vs-decode logit difference from 6.6e-5 to 1.1e-4; blocked, 6.7e-5).
    /// </summary>
    public const int PartialSumSteps = 32;
    /// <summary>Output features of one work block (one packed panel): one 4 x 3 tile's width at Vector512, two at Vector256.</summary>
    public const int BlockCols = 48;

    /// <summary>True when a vector width is accelerated; otherwise <see cref="MatMul.Range"/> keeps the dot path.</summary>
    public static bool IsSupported => Vector512.IsHardwareAccelerated || Vector256.IsHardwareAccelerated || Vector128.IsHardwareAccelerated;

    /// <summary>
    /// Rows of one work block, a multiple of <see cref="TileRows"/>. Inner product: about 96 KB of activations, so a
    /// block's rows stay in L2 while its tiles stream them once per output triple. Outer product: about 256 KB, up to
    /// 256 rows, because every work block packs its panel again (at 96 KB a 512-row stories260K prefill re-packed each
    /// panel 4 times), yet at least two blocks for a 512-row call so both threads get work on a 32-output projection.
    /// </summary>
    public static int BlockRows(int inDim) => inDim < OuterProductMaxInner
        ? Math.Clamp(65536 / inDim / TileRows * TileRows, TileRows, 256)
        : Math.Clamp(24576 / inDim / TileRows * TileRows, TileRows, 128);

    /// <summary>
    /// Floats of panel scratch a block needs. Outer product: its <see cref="BlockCols"/> outputs packed k-major as
    /// float32, and one tile's rows for a partial tile's whole-vector stores. Inner product: F16 weights widened per
    /// block of outputs (F32 and BF16 are read in place).
    /// </summary>
    public static int PanelLength(WeightView w) => w.Cols < OuterProductMaxInner
        ? BlockCols * (w.Cols + TileRows)
        : w.DType == DType.F16 ? BlockCols * w.Cols : 0;

    /// <summary>
    /// Computes y for rows [rowStart, rowEnd) and output features [outStart, outEnd) with the widest accelerated
    /// vector. <paramref name="panel"/> holds <see cref="PanelLength"/> floats.
    /// </summary>
    public static void Block(ReadOnlySpan<float> x, WeightView w, ReadOnlySpan<float> bias, Span<float> y,
        int rowStart, int rowEnd, int outStart, int outEnd, Span<float> panel)
    {
        if (Vector512.IsHardwareAccelerated) Block<Vector512<float>, Vector512Ops>(x, w, bias, y, rowStart, rowEnd, outStart, outEnd, panel);
        else if (Vector256.IsHardwareAccelerated) Block<Vector256<float>, Vector256Ops>(x, w, bias, y, rowStart, rowEnd, outStart, outEnd, panel);
        else Block<Vector128<float>, Vector128Ops>(x, w, bias, y, rowStart, rowEnd, outStart, outEnd, panel);
    }

    /// <summary>
    /// <see cref="Block(ReadOnlySpan{float}, WeightView, ReadOnlySpan{float}, Span{float}, int, int, int, int, Span{float})"/>
    /// at one chosen vector width (tests run every width, accelerated or not).
    /// </summary>
    internal static void Block<TV, TOps>(ReadOnlySpan<float> x, WeightView w, ReadOnlySpan<float> bias, Span<float> y,
        int rowStart, int rowEnd, int outStart, int outEnd, Span<float> panel)
        where TV : struct where TOps : IVectorOps<TV>
    {
        int inDim = w.Cols, outDim = w.Rows;
        if (rowStart < 0 || rowEnd * (long)inDim > x.Length || rowEnd * (long)outDim > y.Length || outStart < 0 || outEnd > outDim || (!bias.IsEmpty && bias.Length < outDim))
            throw new ArgumentOutOfRangeException(nameof(x), $"matmul block rows [{rowStart}, {rowEnd}) outputs [{outStart}, {outEnd}) outside the buffers of '{w.Name}'");
        if (rowStart >= rowEnd || outStart >= outEnd) return;
        if (panel.Length < PanelLength(w)) throw new ArgumentException($"matmul panel holds {panel.Length} floats, needs {PanelLength(w)}", nameof(panel));
        if (w.DType is not (DType.F32 or DType.BF16 or DType.F16))
            throw new ArgumentOutOfRangeException(nameof(w), $"matmul: weight '{w.Name}' has unsupported dtype {w.DType}");
        fixed (float* px = x, py = y, pb = bias, pp = panel)
        {
            if (inDim >= OuterProductMaxInner)
            {
                InnerBlock<TV, TOps>(px, w, pb, py, rowStart, rowEnd, outStart, outEnd, panel);
                return;
            }
            for (int o0 = outStart; o0 < outEnd; o0 += BlockCols)
            {
                int o1 = Math.Min(outEnd, o0 + BlockCols);
                Pack(w, o0, o1, pp);
                for (int r = rowStart; r < rowEnd; r += TileRows)
                {
                    int nr = Math.Min(TileRows, rowEnd - r);
                    float* x0 = px + (long)r * inDim;
                    float* x1 = nr > 1 ? x0 + inDim : x0, x2 = nr > 2 ? x0 + 2L * inDim : x1, x3 = nr > 3 ? x0 + 3L * inDim : x2;
                    for (int oc = 0; oc < o1 - o0; oc += TileVectors * TOps.Count)
                    {
                        int nc = Math.Min(TileVectors * TOps.Count, o1 - o0 - oc);
                        float* yt = py + (long)r * outDim + o0 + oc;
                        if (nc == TileVectors * TOps.Count)
                        {
                            Tile<TV, TOps>(x0, x1, x2, x3, pp + oc, inDim, yt, outDim, nr, pb == null ? null : pb + o0 + oc);
                            continue;
                        }
                        // A partial tile stores whole vectors into the scratch rows after the panel, then copies its
                        // outputs (the bias added alone: the same add as in a lane).
                        float* lanes = pp + (long)BlockCols * inDim;
                        Tile<TV, TOps>(x0, x1, x2, x3, pp + oc, inDim, lanes, BlockCols, nr, null);
                        for (int rr = 0; rr < nr; rr++)
                            for (int c = 0; c < nc; c++)
                                yt[(long)rr * outDim + c] = pb == null ? lanes[rr * BlockCols + c] : lanes[rr * BlockCols + c] + pb[o0 + oc + c];
                    }
                }
            }
        }
    }

    /// <summary>panel[k, o - o0] = w[o, k] as float32 for o in [o0, o1), zeros for the rest of the block's columns.</summary>
    private static void Pack(WeightView w, int o0, int o1, float* panel)
    {
        int inDim = w.Cols;
        byte* rows = (byte*)w.Pointer;
        long rowBytes = w.DType.RowByteLength(inDim);
        for (int o = o0; o < o1; o++)
        {
            byte* row = rows + o * rowBytes;
            float* column = panel + (o - o0);
            switch (w.DType)
            {
                case DType.F32:
                    for (int k = 0; k < inDim; k++) column[(long)k * BlockCols] = ((float*)row)[k];
                    break;
                case DType.BF16:
                    for (int k = 0; k < inDim; k++) column[(long)k * BlockCols] = BitConverter.UInt32BitsToSingle((uint)((ushort*)row)[k] << 16);
                    break;
                default:
                    for (int k = 0; k < inDim; k++) column[(long)k * BlockCols] = (float)BitConverter.UInt16BitsToHalf(((ushort*)row)[k]);
                    break;
            }
        }
        for (int k = 0; k < inDim && o1 - o0 < BlockCols; k++) new Span<float>(panel + (long)k * BlockCols + (o1 - o0), BlockCols - (o1 - o0)).Clear();
    }

    /// <summary>The 4 x 3-vector register tile: y[r, c] = x_r . panel[:, c] (+ bias[c]) for r &lt; nr and all 3 vectors of c.</summary>
    /// <remarks>
    /// Not inlined, and nothing called inside or after the loop: inside Block's loops, or with a call after the loop
    /// (every vector register is caller-saved), the JIT spilled the twelve accumulators to the stack on every step.
    /// </remarks>
    [MethodImpl(MethodImplOptions.AggressiveOptimization | MethodImplOptions.NoInlining)]
    private static void Tile<TV, TOps>(float* x0, float* x1, float* x2, float* x3, float* panel, int n, float* y, int outDim, int nr, float* bias)
        where TV : struct where TOps : IVectorOps<TV>
    {
        for (int k0 = 0; k0 < n; k0 += PartialSumSteps)
        {
            int k1 = Math.Min(n, k0 + PartialSumSteps);
            TV a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero;
            TV a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero;
            TV a20 = TOps.Zero, a21 = TOps.Zero, a22 = TOps.Zero;
            TV a30 = TOps.Zero, a31 = TOps.Zero, a32 = TOps.Zero;
            for (int k = k0; k < k1; k++)
            {
                float* p = panel + (long)k * BlockCols;
                TV w0 = TOps.Load(p), w1 = TOps.Load(p + TOps.Count), w2 = TOps.Load(p + 2 * TOps.Count);
                TV u = TOps.Create(x0[k]);
                a00 = TOps.FusedMultiplyAdd(u, w0, a00); a01 = TOps.FusedMultiplyAdd(u, w1, a01); a02 = TOps.FusedMultiplyAdd(u, w2, a02);
                u = TOps.Create(x1[k]);
                a10 = TOps.FusedMultiplyAdd(u, w0, a10); a11 = TOps.FusedMultiplyAdd(u, w1, a11); a12 = TOps.FusedMultiplyAdd(u, w2, a12);
                u = TOps.Create(x2[k]);
                a20 = TOps.FusedMultiplyAdd(u, w0, a20); a21 = TOps.FusedMultiplyAdd(u, w1, a21); a22 = TOps.FusedMultiplyAdd(u, w2, a22);
                u = TOps.Create(x3[k]);
                a30 = TOps.FusedMultiplyAdd(u, w0, a30); a31 = TOps.FusedMultiplyAdd(u, w1, a31); a32 = TOps.FusedMultiplyAdd(u, w2, a32);
            }
            bool first = k0 == 0;
            float* b = k1 == n ? bias : null;
            Store<TV, TOps>(a00, a01, a02, y, first, b);
            if (nr > 1) Store<TV, TOps>(a10, a11, a12, y + outDim, first, b);
            if (nr > 2) Store<TV, TOps>(a20, a21, a22, y + 2L * outDim, first, b);
            if (nr > 3) Store<TV, TOps>(a30, a31, a32, y + 3L * outDim, first, b);
        }
    }

    /// <summary>One tile row's three vectors: stored (the first inner block) or added to what is there, then the bias (after the last block).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Store<TV, TOps>(TV a0, TV a1, TV a2, float* y, bool first, float* bias) where TV : struct where TOps : IVectorOps<TV>
    {
        int w = TOps.Count;
        if (!first)
        {
            a0 = TOps.Add(TOps.Load(y), a0);
            a1 = TOps.Add(TOps.Load(y + w), a1);
            a2 = TOps.Add(TOps.Load(y + 2 * w), a2);
        }
        if (bias != null)
        {
            a0 = TOps.Add(a0, TOps.Load(bias));
            a1 = TOps.Add(a1, TOps.Load(bias + w));
            a2 = TOps.Add(a2, TOps.Load(bias + 2 * w));
        }
        TOps.Store(a0, y);
        TOps.Store(a1, y + w);
        TOps.Store(a2, y + 2 * w);
    }
}
