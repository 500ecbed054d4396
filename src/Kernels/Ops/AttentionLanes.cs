using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace LongLM.Kernels.Ops;

public static partial class Attention
{
    /// <summary>The head width <see cref="Lanes"/> is written for: the query and the output stay in 8 registers each.</summary>
    public const int LanesHeadDim = 8;

    /// <summary>
    /// True when <see cref="Lanes"/> computes this call: a block of queries with head_dim 8 (stories260K's), no ALiBi
    /// slopes and no top-k extras. Otherwise <see cref="Tile"/> does.
    /// </summary>
    public static bool LanesApply(in AttentionShape s, bool hasAlibiSlopes) =>
        s.HeadDim == LanesHeadDim && s.QueryCount > 1 && s.ExtraCount == 0 && !hasAlibiSlopes;

    /// <summary>log2(e): <see cref="Lanes"/> keeps logits in log2 units (the scale folded into one multiply) for <see cref="VectorMath{TV, TOps}.Exp2NonPositive"/>.</summary>
    private const float Log2E = 1.44269504088896341f;

    /// <summary>Query rows per <see cref="Lanes"/> call: one per lane of the widest accelerated vector.</summary>
    public static int LanesRows =>
        Vector512.IsHardwareAccelerated ? Vector512<float>.Count : Vector256.IsHardwareAccelerated ? Vector256<float>.Count : Vector128<float>.Count;

    /// <summary>Scratch <see cref="Lanes"/> needs at <paramref name="rows"/> lanes: a logit vector per far key and per local key of the block.</summary>
    public static int LanesScratchLength(in AttentionShape s, int rows) =>
        (s.FarCount + (s.Window == long.MaxValue ? s.LocalCount : (int)Math.Min(s.LocalCount, s.Window + rows - 1))) * rows;

    /// <summary>
    /// Query rows [rowStart, rowStart + <see cref="LanesRows"/>) (fewer at the end) of query head
    /// <paramref name="head"/>, with the rule and softmax of <see cref="Head"/>, one row per vector lane.
    /// </summary>
    /// <remarks>
    /// <see cref="Tile"/> puts keys along the lanes, which needs the keys and values transposed into panels, a row's
    /// logits, exponentials and weighted values as three passes per (row, head) and lane reductions at the end; at
    /// head_dim 8 those per-row costs are most of the work. Here the lanes are query rows: a key's 8 floats are
    /// broadcast from the cache as it is stored (no transposition) against the 8 query registers, one multiply-add
    /// per dimension for all rows at once, and its value's 8 floats are accumulated into 8 output registers the
    /// same way, so no lane is ever reduced. Pass 1 writes the logit vectors (far keys, then the local keys of the
    /// block's window in position order) and their running max; pass 2 takes each exponential, its sum and the
    /// weighted values. A key outside a row's window (the block's rows see windows shifted by one key each) has logit
    /// -inf in that lane, weight exactly 0, and adds exact zeros: every row's sums see the same keys in the same order
    /// whichever block holds it, so results never depend on how rows are split.
    /// </remarks>
    public static void Lanes(AttentionSpans b, in AttentionShape s, int head, int rowStart, Span<float> scratch)
    {
        if (Vector512.IsHardwareAccelerated) Lanes<Vector512<float>, Vector512Ops>(b, s, head, rowStart, scratch);
        else if (Vector256.IsHardwareAccelerated) Lanes<Vector256<float>, Vector256Ops>(b, s, head, rowStart, scratch);
        else Lanes<Vector128<float>, Vector128Ops>(b, s, head, rowStart, scratch);
    }

    /// <summary><see cref="Lanes(AttentionSpans, in AttentionShape, int, int, Span{float})"/> at one vector width (tests run every width).</summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    internal static unsafe void Lanes<TV, TOps>(AttentionSpans b, in AttentionShape s, int head, int rowStart, Span<float> scratch)
        where TV : struct where TOps : IVectorOps<TV>
    {
        const int hd = LanesHeadDim;
        int n = TOps.Count, heads = s.Heads, stride = s.KvHeads * hd, kvHead = head / (s.Heads / s.KvHeads);
        int rows = Math.Min(n, s.QueryCount - rowStart);
        long first = s.FirstQueryPosition + rowStart, last = first + rows - 1;
        // Local slots of the block: from the first row's window start to the last row.
        int keyFrom = (int)(LocalStart(s, first) - s.LocalFirstPosition), keyTo = (int)(last - s.LocalFirstPosition);
        // Slots every row of the block sees (possibly none): no lane needs masking there.
        int allFrom = (int)(LocalStart(s, last) - s.LocalFirstPosition), allTo = (int)(first - s.LocalFirstPosition);
        int farCount = FarEnd(s, last); // the last row sees the most far slots
        int keys = keyTo - keyFrom + 1;
        if (s.HeadDim != hd || s.ExtraCount != 0 || !b.AlibiSlopes.IsEmpty || rows <= 0 || rowStart < 0 || head < 0 || head >= heads
            || scratch.Length < (long)(farCount + keys) * n || (long)(keyTo + 1) * stride > Math.Min(b.LocalKeys.Length, b.LocalValues.Length)
            || (long)s.QueryCount * heads * hd > Math.Min(b.Query.Length, b.Output.Length)
            || (farCount > 0 && ((long)farCount * stride > Math.Min(b.FarKeys.Length, b.FarValues.Length) || b.FarQuery.Length < b.Query.Length)))
            throw new ArgumentException($"attention lanes rows from {rowStart}, head {head}: unsupported shape or buffers too short for {s}", nameof(scratch));
        float* qt = stackalloc float[hd * Vector512<float>.Count];
        // Each lane's local slots [from, to]; lanes past the last row see none.
        int* from = stackalloc int[Vector512<float>.Count], to = stackalloc int[Vector512<float>.Count];
        for (int lane = 0; lane < n; lane++)
            (from[lane], to[lane]) = lane < rows
                ? ((int)(LocalStart(s, first + lane) - s.LocalFirstPosition), (int)(first + lane - s.LocalFirstPosition))
                : (int.MaxValue, -1);
        fixed (float* logits = scratch, query = b.Query, farQuery = b.FarQuery, localKeys = b.LocalKeys, localValues = b.LocalValues,
               farKeys = b.FarKeys, farValues = b.FarValues, output = b.Output)
        {
            float* farLogits = logits, localLogits = logits + (long)farCount * n;
            TV max = TOps.Create(float.NegativeInfinity);
            if (farCount > 0)
            {
                Transposed(farQuery, rowStart, rows, heads, head, n, s.Scale, qt);
                max = FarLaneLogits<TV, TOps>(s, farKeys + kvHead * hd, stride, farCount, first, rows, qt, farLogits);
            }
            Transposed(query, rowStart, rows, heads, head, n, s.Scale * Log2E, qt);
            max = TOps.Max(max, LocalLaneLogits<TV, TOps>(localKeys + (long)keyFrom * stride + kvHead * hd, stride, keyFrom, keyTo, allFrom, allTo,
                from, to, qt, localLogits));
            WeightedLanes<TV, TOps>(farLogits, farValues + kvHead * hd, farCount, localLogits, localValues + (long)keyFrom * stride + kvHead * hd, keys,
                stride, max, qt);
            for (int lane = 0; lane < rows; lane++)
            {
                float* o = output + ((long)(rowStart + lane) * heads + head) * hd;
                for (int c = 0; c < hd; c++) o[c] = qt[c * n + lane];
            }
        }
    }

    /// <summary>
    /// Far slots [0, farCount): (scale * farQuery) . key as vectors of rows, then each lane's rule (a slot outside
    /// FarEnd of its row is -inf, the zero band before StationaryFrom is 0: <see cref="FarLogit"/> without ALiBi) in
    /// log2 units; returns their lane-wise max.
    /// </summary>
    private static unsafe TV FarLaneLogits<TV, TOps>(in AttentionShape s, float* keys, int stride, int farCount, long first, int rows, float* qt, float* logits)
        where TV : struct where TOps : IVectorOps<TV>
    {
        int n = TOps.Count;
        TV q0 = TOps.Load(qt), q1 = TOps.Load(qt + n), q2 = TOps.Load(qt + 2 * n), q3 = TOps.Load(qt + 3 * n);
        TV q4 = TOps.Load(qt + 4 * n), q5 = TOps.Load(qt + 5 * n), q6 = TOps.Load(qt + 6 * n), q7 = TOps.Load(qt + 7 * n);
        for (int e = 0; e < farCount; e++)
            TOps.Store(Dot8<TV, TOps>(keys + (long)e * stride, q0, q1, q2, q3, q4, q5, q6, q7), logits + (long)e * n);
        // Each lane's far slot count and its distance to slot 0, hoisted out of the slot loop.
        int* ends = stackalloc int[Vector512<float>.Count];
        long* distances = stackalloc long[Vector512<float>.Count];
        for (int lane = 0; lane < n; lane++)
            (ends[lane], distances[lane]) = (lane < rows ? FarEnd(s, first + lane) : 0, first + lane - s.FarFirstPosition);
        TV max = TOps.Create(float.NegativeInfinity);
        for (int e = 0; e < farCount; e++)
        {
            float* l = logits + (long)e * n;
            for (int lane = 0; lane < n; lane++)
                l[lane] = e >= ends[lane] ? float.NegativeInfinity : FarLogit(s, distances[lane] - e, 0f, l[lane]) * Log2E;
            max = TOps.Max(max, TOps.Load(l));
        }
        return max;
    }

    /// <summary>
    /// Local slots [keyFrom, keyTo] (keys points at keyFrom's): (scale log2(e) q) . key as vectors of rows; outside
    /// [allFrom, allTo] each lane outside its own [from, to] is set to -inf. Returns their lane-wise max. No calls
    /// inside: the query stays in registers.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe TV LocalLaneLogits<TV, TOps>(float* keys, int stride, int keyFrom, int keyTo, int allFrom, int allTo, int* from, int* to,
        float* qt, float* logits) where TV : struct where TOps : IVectorOps<TV>
    {
        int n = TOps.Count;
        TV q0 = TOps.Load(qt), q1 = TOps.Load(qt + n), q2 = TOps.Load(qt + 2 * n), q3 = TOps.Load(qt + 3 * n);
        TV q4 = TOps.Load(qt + 4 * n), q5 = TOps.Load(qt + 5 * n), q6 = TOps.Load(qt + 6 * n), q7 = TOps.Load(qt + 7 * n);
        TV max = TOps.Create(float.NegativeInfinity);
        float* l = logits;
        for (int j = keyFrom; j <= keyTo; j++, keys += stride, l += n)
        {
            TV logit = Dot8<TV, TOps>(keys, q0, q1, q2, q3, q4, q5, q6, q7);
            TOps.Store(logit, l);
            if (j < allFrom || j > allTo)
            {
                for (int lane = 0; lane < n; lane++)
                    if (j < from[lane] || j > to[lane]) l[lane] = float.NegativeInfinity;
                logit = TOps.Load(l);
            }
            max = TOps.Max(max, logit);
        }
        return max;
    }

    /// <summary>
    /// Pass 2 into qt (8 vectors of rows): sum_j 2^(l_j - max) v_j / sum_j 2^(l_j - max) over the far slots then the
    /// local ones, in pass 1's order (l in log2 units, so 2^(l - max) is the softmax weight e^(logit - max logit)).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveOptimization)]
    private static unsafe void WeightedLanes<TV, TOps>(float* farLogits, float* farValues, int farCount, float* localLogits, float* localValues, int keys,
        int stride, TV max, float* qt) where TV : struct where TOps : IVectorOps<TV>
    {
        int n = TOps.Count;
        TV sum = TOps.Zero, a0 = TOps.Zero, a1 = TOps.Zero, a2 = TOps.Zero, a3 = TOps.Zero, a4 = TOps.Zero, a5 = TOps.Zero, a6 = TOps.Zero, a7 = TOps.Zero;
        for (int segment = 0; segment < 2; segment++)
        {
            float* l = segment == 0 ? farLogits : localLogits;
            float* value = segment == 0 ? farValues : localValues;
            int count = segment == 0 ? farCount : keys;
            for (int j = 0; j < count; j++, l += n, value += stride)
            {
                TV p = VectorMath<TV, TOps>.Exp2NonPositive(TOps.Subtract(TOps.Load(l), max));
                sum = TOps.Add(sum, p);
                a0 = TOps.FusedMultiplyAdd(p, TOps.Create(value[0]), a0);
                a1 = TOps.FusedMultiplyAdd(p, TOps.Create(value[1]), a1);
                a2 = TOps.FusedMultiplyAdd(p, TOps.Create(value[2]), a2);
                a3 = TOps.FusedMultiplyAdd(p, TOps.Create(value[3]), a3);
                a4 = TOps.FusedMultiplyAdd(p, TOps.Create(value[4]), a4);
                a5 = TOps.FusedMultiplyAdd(p, TOps.Create(value[5]), a5);
                a6 = TOps.FusedMultiplyAdd(p, TOps.Create(value[6]), a6);
                a7 = TOps.FusedMultiplyAdd(p, TOps.Create(value[7]), a7);
            }
        }
        TV inverse = TOps.Divide(TOps.Create(1f), sum);
        TOps.Store(TOps.Multiply(a0, inverse), qt); TOps.Store(TOps.Multiply(a1, inverse), qt + n);
        TOps.Store(TOps.Multiply(a2, inverse), qt + 2 * n); TOps.Store(TOps.Multiply(a3, inverse), qt + 3 * n);
        TOps.Store(TOps.Multiply(a4, inverse), qt + 4 * n); TOps.Store(TOps.Multiply(a5, inverse), qt + 5 * n);
        TOps.Store(TOps.Multiply(a6, inverse), qt + 6 * n); TOps.Store(TOps.Multiply(a7, inverse), qt + 7 * n);
    }

    /// <summary>sum_c q_c * key[c] over the 8 dimensions, each key float broadcast to every lane (row).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static unsafe TV Dot8<TV, TOps>(float* key, TV q0, TV q1, TV q2, TV q3, TV q4, TV q5, TV q6, TV q7)
        where TV : struct where TOps : IVectorOps<TV>
    {
        TV d = TOps.Multiply(q0, TOps.Create(key[0]));
        d = TOps.FusedMultiplyAdd(q1, TOps.Create(key[1]), d);
        d = TOps.FusedMultiplyAdd(q2, TOps.Create(key[2]), d);
        d = TOps.FusedMultiplyAdd(q3, TOps.Create(key[3]), d);
        d = TOps.FusedMultiplyAdd(q4, TOps.Create(key[4]), d);
        d = TOps.FusedMultiplyAdd(q5, TOps.Create(key[5]), d);
        d = TOps.FusedMultiplyAdd(q6, TOps.Create(key[6]), d);
        return TOps.FusedMultiplyAdd(q7, TOps.Create(key[7]), d);
    }

    /// <summary>
    /// qt[c * n + lane] = factor * q[(rowStart + lane), head, c]: the block's queries as 8 vectors of rows (zeros past
    /// the last row), the logit scale folded in once per block instead of once per key.
    /// </summary>
    private static unsafe void Transposed(float* q, int rowStart, int rows, int heads, int head, int n, float factor, float* qt)
    {
        float* row = q + ((long)rowStart * heads + head) * LanesHeadDim;
        long rowStride = (long)heads * LanesHeadDim;
        for (int lane = 0; lane < rows; lane++, row += rowStride)
            for (int c = 0; c < LanesHeadDim; c++) qt[c * n + lane] = factor * row[c];
        for (int lane = rows; lane < n; lane++)
            for (int c = 0; c < LanesHeadDim; c++) qt[c * n + lane] = 0f;
    }
}
