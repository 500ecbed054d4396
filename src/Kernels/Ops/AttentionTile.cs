using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

public static partial class Attention
{
    /// <summary>Query rows per tile of <see cref="Tile"/>: one tile copies its keys once for every row and head of its group.</summary>
    public const int TileRows = 64;

    /// <summary>Lane padding of the tile's panels: the widest vector (Vector512), so one layout serves every width.</summary>
    private const int TilePad = 16;

    /// <summary>Local keys a tile of <see cref="TileRows"/> rows can see: its window plus the rows after the first.</summary>
    public static int TileKeySpan(in AttentionShape s) =>
        s.Window == long.MaxValue ? s.LocalCount : (int)Math.Min(s.LocalCount, s.Window + TileRows - 1);

    /// <summary>Floats of one padded panel row: the span rounded up to whole vectors, plus one vector of zeros.</summary>
    private static int TilePanelStride(in AttentionShape s) => (TileKeySpan(s) + 2 * TilePad - 1) / TilePad * TilePad;

    /// <summary>Floats of one far panel row (far keys, values or logits), padded the same way.</summary>
    private static int TileFarStride(in AttentionShape s) => (s.FarCount + 2 * TilePad - 1) / TilePad * TilePad;

    /// <summary>Floats of one head's top-k logit row, padded the same way.</summary>
    private static int TileExtraStride(in AttentionShape s) => (s.ExtraCount + 2 * TilePad - 1) / TilePad * TilePad;

    /// <summary>
    /// Scratch <see cref="Tile"/> needs: transposed local and far keys and values, a local, far and top-k logit row for
    /// each of two heads, and one vector of slack to align them.
    /// </summary>
    public static int TileScratchLength(in AttentionShape s) =>
        (2 * s.HeadDim + 2) * (TilePanelStride(s) + TileFarStride(s)) + 2 * TileExtraStride(s) + TilePad;

    /// <summary>
    /// Rows [rowStart, rowEnd) (at most <see cref="TileRows"/>) of every query head that reads KV head
    /// <paramref name="kvHead"/>: the rule and softmax of <see cref="Head"/>, computed for a block of queries.
    /// </summary>
    /// <remarks>
    /// A prefill's per-key work in <see cref="Head"/> is a dot product of head_dim floats and a multiply-add of head_dim
    /// floats, calls too short to vectorise (stories260K's head_dim is 8) and repeated for every row. Here the tile's
    /// local keys and values, and the far (Lambda's global) keys and values, are transposed once into zero-padded
    /// [head_dim, keys] panels, and the heads of the group go two at a time through three vector passes along the
    /// keys: logits (each panel load feeds both heads), the shifted exponentials with their sum (a polynomial exp,
    /// <see cref="VectorMath{TV,TOps}.ExpNonPositive"/>), and the unnormalised weighted sum of values (each value load
    /// feeds both heads), divided by the sum at the end. A row's spans are padded to whole vectors with logit -inf
    /// (weight exactly 0, over zero values), so no scalar tail exists. Every (row, head) is computed by the same
    /// instructions in the same order, its lanes counted from its own first key, whichever tile, pair or thread holds
    /// it, so results never depend on how rows are split.
    /// </remarks>
    public static void Tile(AttentionSpans b, in AttentionShape s, int kvHead, int rowStart, int rowEnd, Span<float> scratch)
    {
        if (Vector512.IsHardwareAccelerated) Tile<Vector512<float>, Vector512Ops>(b, s, kvHead, rowStart, rowEnd, scratch);
        else if (Vector256.IsHardwareAccelerated) Tile<Vector256<float>, Vector256Ops>(b, s, kvHead, rowStart, rowEnd, scratch);
        else Tile<Vector128<float>, Vector128Ops>(b, s, kvHead, rowStart, rowEnd, scratch);
    }

    /// <summary><see cref="Tile(AttentionSpans, in AttentionShape, int, int, int, Span{float})"/> at one vector width (tests run every width).</summary>
    internal static unsafe void Tile<TV, TOps>(AttentionSpans b, in AttentionShape s, int kvHead, int rowStart, int rowEnd, Span<float> scratch)
        where TV : struct where TOps : IVectorOps<TV>
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd, group = s.Heads / s.KvHeads;
        int np = TilePanelStride(s), nf = TileFarStride(s), nx = TileExtraStride(s);
        long firstPosition = s.FirstQueryPosition + rowStart, lastPosition = s.FirstQueryPosition + rowEnd - 1;
        int keyFrom = (int)(LocalStart(s, firstPosition) - s.LocalFirstPosition), keyTo = (int)(lastPosition - s.LocalFirstPosition);
        int n = keyTo - keyFrom + 1;
        if (scratch.Length < TileScratchLength(s) || n > TileKeySpan(s) || rowStart < 0 || rowEnd > s.QueryCount
            || (long)(keyTo + 1) * stride > b.LocalKeys.Length || (long)(keyTo + 1) * stride > b.LocalValues.Length
            || (long)s.QueryCount * s.Heads * hd > Math.Min(b.Query.Length, b.Output.Length)
            || (s.FarCount > 0 && ((long)s.FarCount * stride > Math.Min(b.FarKeys.Length, b.FarValues.Length) || b.FarQuery.Length < b.Query.Length)))
            throw new ArgumentException($"attention tile rows [{rowStart}, {rowEnd}): buffers or scratch ({scratch.Length} of {TileScratchLength(s)}) too short for {s}", nameof(scratch));
        fixed (float* scratchStart = scratch, localKeys = b.LocalKeys, localValues = b.LocalValues, farKeys = b.FarKeys, farValues = b.FarValues)
        {
            // Panels start on a 64-byte line (the array is only 8-byte aligned): a misaligned Vector512 load or store
            // splits across two cache lines.
            float* kt = (float*)(((nint)scratchStart + 63) & ~(nint)63), vt = kt + (long)hd * np;
            float* fkt = vt + (long)hd * np, fvt = fkt + (long)hd * nf;
            float* lr = fvt + (long)hd * nf, fr = lr + 2L * np, xr = fr + 2L * nf;
            Transpose(localKeys + (long)keyFrom * stride + kvHead * hd, stride, n, hd, kt, np);
            Transpose(localValues + (long)keyFrom * stride + kvHead * hd, stride, n, hd, vt, np);
            Transpose(farKeys + kvHead * hd, stride, s.FarCount, hd, fkt, nf);
            Transpose(farValues + kvHead * hd, stride, s.FarCount, hd, fvt, nf);

            for (int row = rowStart; row < rowEnd; row++)
            {
                long i = s.FirstQueryPosition + row;
                int from = (int)(LocalStart(s, i) - s.LocalFirstPosition) - keyFrom, count = (int)(i - s.LocalFirstPosition) - keyFrom - from + 1;
                int farEnd = FarEnd(s, i);
                int extra = row == s.QueryCount - 1 ? s.ExtraCount : 0;
                long firstLocal = s.LocalFirstPosition + keyFrom + from;
                int padded = Whole<TV, TOps>(count), farPadded = Whole<TV, TOps>(farEnd), extraPadded = Whole<TV, TOps>(extra);
                for (int g = 0; g < group; g += 2)
                {
                    // Two heads per pass; an odd last head runs as its own pair (same instructions, second result unused).
                    int h0 = kvHead * group + g, h1 = g + 1 < group ? h0 + 1 : h0;
                    float* l0 = lr, l1 = lr + np, f0 = fr, f1 = fr + nf, x0 = xr, x1 = xr + nx;
                    fixed (float* q0 = &b.Query[(row * s.Heads + h0) * hd], q1 = &b.Query[(row * s.Heads + h1) * hd])
                        Logits<TV, TOps>(kt + from, np, hd, q0, q1, s.Scale, padded, l0, l1);
                    if (farEnd > 0)
                        fixed (float* q0 = &b.FarQuery[(row * s.Heads + h0) * hd], q1 = &b.FarQuery[(row * s.Heads + h1) * hd])
                            Logits<TV, TOps>(fkt, nf, hd, q0, q1, s.Scale, farPadded, f0, f1);
                    for (int pair = 0; pair < 2; pair++)
                    {
                        int head = pair == 0 ? h0 : h1;
                        float* l = pair == 0 ? l0 : l1, f = pair == 0 ? f0 : f1, x = pair == 0 ? x0 : x1;
                        float slope = b.AlibiSlopes.IsEmpty ? 0f : b.AlibiSlopes[head];
                        if (slope != 0f)
                            for (int j = 0; j < count; j++) l[j] -= slope * Math.Min(i - (firstLocal + j), s.AlibiDistanceCap);
                        for (int j = count; j < padded; j++) l[j] = float.NegativeInfinity;
                        for (int e = 0; e < farEnd; e++) f[e] = FarLogit(s, i - (s.FarFirstPosition + e), slope, f[e]);
                        for (int e = farEnd; e < farPadded; e++) f[e] = float.NegativeInfinity;
                        for (int e = 0; e < extra; e++) x[e] = b.ExtraLogits[head * s.ExtraCount + e];
                        for (int e = extra; e < extraPadded; e++) x[e] = float.NegativeInfinity;
                    }
                    float max0 = MathF.Max(RowMax<TV, TOps>(l0, padded), MathF.Max(RowMax<TV, TOps>(f0, farPadded), RowMax<TV, TOps>(x0, extraPadded)));
                    float max1 = MathF.Max(RowMax<TV, TOps>(l1, padded), MathF.Max(RowMax<TV, TOps>(f1, farPadded), RowMax<TV, TOps>(x1, extraPadded)));
                    float sum0 = Exponentials<TV, TOps>(f0, farPadded, max0) + Exponentials<TV, TOps>(l0, padded, max0) + Exponentials<TV, TOps>(x0, extraPadded, max0);
                    float sum1 = Exponentials<TV, TOps>(f1, farPadded, max1) + Exponentials<TV, TOps>(l1, padded, max1) + Exponentials<TV, TOps>(x1, extraPadded, max1);
                    fixed (float* o0 = &b.Output[(row * s.Heads + h0) * hd], o1 = &b.Output[(row * s.Heads + h1) * hd])
                    {
                        WeightedValues<TV, TOps>(fvt, nf, f0, f1, farPadded, vt + from, np, l0, l1, padded, hd, o0, o1);
                        // When h1 aliases h0, o1 is o0: normalise it once.
                        for (int pair = 0; pair < (h1 == h0 ? 1 : 2); pair++)
                        {
                            int head = pair == 0 ? h0 : h1;
                            float* o = pair == 0 ? o0 : o1, x = pair == 0 ? x0 : x1;
                            float inverse = 1f / (pair == 0 ? sum0 : sum1);
                            for (int c = 0; c < hd; c++)
                            {
                                float acc = o[c];
                                for (int e = 0; e < extra; e++) acc += x[e] * b.ExtraValues[(head * s.ExtraCount + e) * hd + c];
                                o[c] = acc * inverse;
                            }
                        }
                    }
                }
            }
        }
    }

    /// <summary>count rounded up to whole vectors.</summary>
    private static int Whole<TV, TOps>(int count) where TV : struct where TOps : IVectorOps<TV> => (count + TOps.Count - 1) / TOps.Count * TOps.Count;

    /// <summary>
    /// panel[c, j] = rows[j * stride + c] for j &lt; count, c &lt; hd, and zeros to the end of each panel row: a padded
    /// lane's weight is 0 and 0 * 0 adds nothing (garbage there could be NaN).
    /// </summary>
    private static unsafe void Transpose(float* rows, int stride, int count, int hd, float* panel, int panelStride)
    {
        for (int j = 0; j < count; j++)
        {
            float* r = rows + (long)j * stride;
            for (int c = 0; c < hd; c++) panel[(long)c * panelStride + j] = r[c];
        }
        for (int c = 0; c < hd; c++) new Span<float>(panel + (long)c * panelStride + count, panelStride - count).Clear();
    }

    /// <summary>
    /// l[j] = scale * sum_c q[c] * keysT[c, j] for j &lt; padded, for two query heads at once (each panel load serves
    /// both); each lane keeps its key's sum in a register over every dimension.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void Logits<TV, TOps>(float* kt, int np, int hd, float* q0, float* q1, float scale, int padded, float* l0, float* l1)
        where TV : struct where TOps : IVectorOps<TV>
    {
        TV vscale = TOps.Create(scale);
        int j = 0;
        // Two vectors of keys per pass (four independent accumulators per panel row read).
        for (; j + 2 * TOps.Count <= padded; j += 2 * TOps.Count)
        {
            float* k = kt + j;
            TV key = TOps.Load(k), key2 = TOps.Load(k + TOps.Count);
            TV c0 = TOps.Create(q0[0]), c1 = TOps.Create(q1[0]);
            TV a0 = TOps.Multiply(key, c0), a1 = TOps.Multiply(key, c1), b0 = TOps.Multiply(key2, c0), b1 = TOps.Multiply(key2, c1);
            for (int c = 1; c < hd; c++)
            {
                k += np;
                key = TOps.Load(k);
                key2 = TOps.Load(k + TOps.Count);
                c0 = TOps.Create(q0[c]);
                c1 = TOps.Create(q1[c]);
                a0 = TOps.FusedMultiplyAdd(key, c0, a0);
                a1 = TOps.FusedMultiplyAdd(key, c1, a1);
                b0 = TOps.FusedMultiplyAdd(key2, c0, b0);
                b1 = TOps.FusedMultiplyAdd(key2, c1, b1);
            }
            TOps.Store(TOps.Multiply(a0, vscale), l0 + j);
            TOps.Store(TOps.Multiply(a1, vscale), l1 + j);
            TOps.Store(TOps.Multiply(b0, vscale), l0 + j + TOps.Count);
            TOps.Store(TOps.Multiply(b1, vscale), l1 + j + TOps.Count);
        }
        for (; j < padded; j += TOps.Count)
        {
            float* k = kt + j;
            TV key = TOps.Load(k);
            TV a0 = TOps.Multiply(key, TOps.Create(q0[0])), a1 = TOps.Multiply(key, TOps.Create(q1[0]));
            for (int c = 1; c < hd; c++)
            {
                key = TOps.Load(k + (long)c * np);
                a0 = TOps.FusedMultiplyAdd(key, TOps.Create(q0[c]), a0);
                a1 = TOps.FusedMultiplyAdd(key, TOps.Create(q1[c]), a1);
            }
            TOps.Store(TOps.Multiply(a0, vscale), l0 + j);
            TOps.Store(TOps.Multiply(a1, vscale), l1 + j);
        }
    }

    /// <summary>The largest of x[0, padded) (padded is a whole number of vectors; 0 gives -inf).</summary>
    private static unsafe float RowMax<TV, TOps>(float* x, int padded) where TV : struct where TOps : IVectorOps<TV>
    {
        if (padded == 0) return float.NegativeInfinity;
        TV m = TOps.Load(x);
        for (int j = TOps.Count; j < padded; j += TOps.Count) m = TOps.Max(m, TOps.Load(x + j));
        return TOps.MaxAcross(m);
    }

    /// <summary>x[j] = e^(x[j] - max) in place over whole vectors; returns their sum (lanes in order, then one reduction).</summary>
    private static unsafe float Exponentials<TV, TOps>(float* x, int padded, float max) where TV : struct where TOps : IVectorOps<TV>
    {
        TV shift = TOps.Create(-max), sum = TOps.Zero;
        for (int j = 0; j < padded; j += TOps.Count)
        {
            TV e = VectorMath<TV, TOps>.ExpNonPositive(TOps.Add(TOps.Load(x + j), shift));
            TOps.Store(e, x + j);
            sum = TOps.Add(sum, e);
        }
        return TOps.Sum(sum);
    }

    /// <summary>
    /// o0[c] = sum_j p0[j] * values[c, j] over the far segment then the local one, and the same for p1/o1; four
    /// dimensions per pass so each value load serves two heads and each weight load four dimensions.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightedValues<TV, TOps>(float* farValues, int nf, float* f0, float* f1, int farPadded,
        float* values, int np, float* p0, float* p1, int padded, int hd, float* o0, float* o1)
        where TV : struct where TOps : IVectorOps<TV>
    {
        int c = 0;
        for (; c + 4 <= hd; c += 4)
        {
            TV a00 = TOps.Zero, a01 = TOps.Zero, a02 = TOps.Zero, a03 = TOps.Zero;
            TV a10 = TOps.Zero, a11 = TOps.Zero, a12 = TOps.Zero, a13 = TOps.Zero;
            for (int segment = 0; segment < 2; segment++)
            {
                float* v0 = segment == 0 ? farValues + (long)c * nf : values + (long)c * np;
                long rowStride = segment == 0 ? nf : np;
                float* v1 = v0 + rowStride, v2 = v1 + rowStride, v3 = v2 + rowStride;
                float* w0p = segment == 0 ? f0 : p0, w1p = segment == 0 ? f1 : p1;
                int length = segment == 0 ? farPadded : padded;
                for (int j = 0; j < length; j += TOps.Count)
                {
                    TV w0 = TOps.Load(w0p + j), w1 = TOps.Load(w1p + j), v = TOps.Load(v0 + j);
                    a00 = TOps.FusedMultiplyAdd(w0, v, a00); a10 = TOps.FusedMultiplyAdd(w1, v, a10);
                    v = TOps.Load(v1 + j);
                    a01 = TOps.FusedMultiplyAdd(w0, v, a01); a11 = TOps.FusedMultiplyAdd(w1, v, a11);
                    v = TOps.Load(v2 + j);
                    a02 = TOps.FusedMultiplyAdd(w0, v, a02); a12 = TOps.FusedMultiplyAdd(w1, v, a12);
                    v = TOps.Load(v3 + j);
                    a03 = TOps.FusedMultiplyAdd(w0, v, a03); a13 = TOps.FusedMultiplyAdd(w1, v, a13);
                }
            }
            (o0[c], o0[c + 1], o0[c + 2], o0[c + 3]) = (TOps.Sum(a00), TOps.Sum(a01), TOps.Sum(a02), TOps.Sum(a03));
            (o1[c], o1[c + 1], o1[c + 2], o1[c + 3]) = (TOps.Sum(a10), TOps.Sum(a11), TOps.Sum(a12), TOps.Sum(a13));
        }
        for (; c < hd; c++)
        {
            TV a0 = TOps.Zero, a1 = TOps.Zero;
            for (int j = 0; j < farPadded; j += TOps.Count)
            {
                TV x = TOps.Load(farValues + (long)c * nf + j);
                a0 = TOps.FusedMultiplyAdd(TOps.Load(f0 + j), x, a0);
                a1 = TOps.FusedMultiplyAdd(TOps.Load(f1 + j), x, a1);
            }
            for (int j = 0; j < padded; j += TOps.Count)
            {
                TV x = TOps.Load(values + (long)c * np + j);
                a0 = TOps.FusedMultiplyAdd(TOps.Load(p0 + j), x, a0);
                a1 = TOps.FusedMultiplyAdd(TOps.Load(p1 + j), x, a1);
            }
            (o0[c], o1[c]) = (TOps.Sum(a0), TOps.Sum(a1));
        }
    }
}
