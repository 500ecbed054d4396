using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>
/// Attention of a block of queries under <see cref="AttentionShape"/>'s rule: local rotary keys, far keys at the
/// distance ceiling, top-k extras, one softmax. The fast path and the double-precision reference share the
/// membership functions below, which are the dense rule of algorithms.md 2.2 written once.
/// </summary>
public static partial class Attention
{
    /// <summary>First local position visible to the query at <paramref name="position"/>.</summary>
    public static long LocalStart(in AttentionShape s, long position) =>
        s.Window == long.MaxValue ? s.LocalFirstPosition : Math.Max(s.LocalFirstPosition, position - s.Window + 1);

    /// <summary>Far slots [0, end) are candidates for the query at <paramref name="position"/> (those outside its window).</summary>
    public static int FarEnd(in AttentionShape s, long position)
    {
        if (s.FarCount == 0 || s.Window == long.MaxValue) return 0;
        long end = Math.Min(Math.Min(s.FarCount, s.GlobalLimit - s.FarFirstPosition), position - s.Window + 1 - s.FarFirstPosition);
        return (int)Math.Clamp(end, 0, s.FarCount);
    }

    /// <summary>One (query row, head). Scratch must hold LocalCount + FarCount + ExtraCount floats.</summary>
    public static void Head(AttentionSpans b, in AttentionShape s, int row, int head, Span<float> scratch)
    {
        int hd = s.HeadDim, kvHead = head / (s.Heads / s.KvHeads), stride = s.KvHeads * hd;
        long i = s.FirstQueryPosition + row;
        var q = b.Query.Slice((row * s.Heads + head) * hd, hd);
        int localFrom = (int)(LocalStart(s, i) - s.LocalFirstPosition), localTo = (int)(i - s.LocalFirstPosition);
        int farEnd = FarEnd(s, i);
        int extra = row == s.QueryCount - 1 ? s.ExtraCount : 0;
        int localCount = localTo - localFrom + 1;
        var logits = scratch[..(farEnd + localCount + extra)];

        float slope = b.AlibiSlopes.IsEmpty ? 0f : b.AlibiSlopes[head];
        FarLogits(b, s, row, head, logits[..farEnd]);
        long firstLocal = s.LocalFirstPosition + localFrom;
        for (int j = 0; j < localCount; j++)
        {
            logits[farEnd + j] = TensorPrimitives.Dot(q, b.LocalKeys.Slice((localFrom + j) * stride + kvHead * hd, hd)) * s.Scale;
            if (slope != 0f) logits[farEnd + j] -= slope * Math.Min(i - (firstLocal + j), s.AlibiDistanceCap);
        }
        for (int e = 0; e < extra; e++)
            logits[farEnd + localCount + e] = b.ExtraLogits[head * s.ExtraCount + e];

        // TensorPrimitives.SoftMax exponentiates without subtracting the maximum; large logits (a model run past its
        // trained length) would overflow to inf and NaN, so shift first.
        TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), logits);
        TensorPrimitives.SoftMax(logits, logits);
        var o = b.Output.Slice((row * s.Heads + head) * hd, hd);
        o.Clear();
        for (int f = 0; f < farEnd; f++)
            TensorPrimitives.MultiplyAdd(b.FarValues.Slice(f * stride + kvHead * hd, hd), logits[f], o, o);
        for (int j = 0; j < localCount; j++)
            TensorPrimitives.MultiplyAdd(b.LocalValues.Slice((localFrom + j) * stride + kvHead * hd, hd), logits[farEnd + j], o, o);
        for (int e = 0; e < extra; e++)
            TensorPrimitives.MultiplyAdd(b.ExtraValues.Slice((head * s.ExtraCount + e) * hd, hd), logits[farEnd + localCount + e], o, o);
    }

    /// <summary>Logits of far slots [0, logits.Length) for (row, head): the ceiling logit, 0 in the zero band, ALiBi at the cap.</summary>
    private static void FarLogits(AttentionSpans b, in AttentionShape s, int row, int head, Span<float> logits)
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd, kvHead = head / (s.Heads / s.KvHeads);
        long i = s.FirstQueryPosition + row;
        float slope = b.AlibiSlopes.IsEmpty ? 0f : b.AlibiSlopes[head];
        for (int f = 0; f < logits.Length; f++)
        {
            long distance = i - (s.FarFirstPosition + f);
            float score = distance >= s.StationaryFrom
                ? TensorPrimitives.Dot(b.FarQuery.Slice((row * s.Heads + head) * hd, hd), b.FarKeys.Slice(f * stride + kvHead * hd, hd)) * s.Scale
                : 0f;
            logits[f] = FarLogit(s, distance, slope, score);
        }
    }

    /// <summary>
    /// A far key's logit from its scaled score: 0 in the zero band before the ceiling (distance &lt; StationaryFrom),
    /// then ALiBi at the clipped distance D, since far keys sit at D whatever their true distance (algorithms.md 2.4:
    /// starting tokens at -m*D). Shared by <see cref="FarLogits"/> and the prefill kernels (Tile, Lanes), which compute
    /// the scores of every far key as vectors first; inlined, since Lanes calls it per (far slot, lane).
    /// </summary>
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static float FarLogit(in AttentionShape s, long distance, float slope, float score)
    {
        float logit = distance >= s.StationaryFrom ? score : 0f;
        if (slope != 0f) logit -= slope * (s.AlibiDistanceCap == long.MaxValue ? distance : s.AlibiDistanceCap);
        return logit;
    }

    /// <summary>Scalar reference in double precision: the same rule, key by key, every row and head.</summary>
    public static void Reference(AttentionSpans b, AttentionShape s)
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd;
        var slopes = b.AlibiSlopes.ToArray();
        double Alibi(int head, long distance) => slopes.Length == 0 ? 0 : (double)slopes[head] * Math.Min(distance, s.AlibiDistanceCap);
        for (int row = 0; row < s.QueryCount; row++)
            for (int h = 0; h < s.Heads; h++)
            {
                int kvHead = h / (s.Heads / s.KvHeads);
                long i = s.FirstQueryPosition + row;
                var entries = new List<(double Logit, int Source, int Index)>();
                double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> k)
                {
                    double sum = 0;
                    for (int c = 0; c < hd; c++) sum += (double)a[c] * k[c];
                    return sum * s.Scale;
                }
                // Far keys: outside the window, inside the global limit.
                for (int f = 0; f < s.FarCount; f++)
                {
                    long j = s.FarFirstPosition + f, distance = i - j;
                    if (s.Window == long.MaxValue || distance < s.Window || j >= s.GlobalLimit) continue;
                    double logit = distance >= s.StationaryFrom
                        ? Dot(b.FarQuery.Slice((row * s.Heads + h) * hd, hd), b.FarKeys.Slice(f * stride + kvHead * hd, hd))
                        : 0;
                    entries.Add((logit - Alibi(h, s.AlibiDistanceCap == long.MaxValue ? distance : s.AlibiDistanceCap), 0, f));
                }
                // Local keys: distance 0 .. Window-1, causal.
                for (int slot = 0; slot < s.LocalCount; slot++)
                {
                    long j = s.LocalFirstPosition + slot, distance = i - j;
                    if (distance < 0 || distance >= s.Window) continue;
                    entries.Add((Dot(b.Query.Slice((row * s.Heads + h) * hd, hd), b.LocalKeys.Slice(slot * stride + kvHead * hd, hd)) - Alibi(h, distance), 1, slot));
                }
                if (row == s.QueryCount - 1)
                    for (int e = 0; e < s.ExtraCount; e++) entries.Add((b.ExtraLogits[h * s.ExtraCount + e], 2, e));

                double max = entries.Max(e => e.Logit);
                double sum = entries.Sum(e => Math.Exp(e.Logit - max));
                for (int c = 0; c < hd; c++)
                {
                    double acc = 0;
                    foreach (var (logit, source, index) in entries)
                    {
                        float v = source switch
                        {
                            0 => b.FarValues[index * stride + kvHead * hd + c],
                            1 => b.LocalValues[index * stride + kvHead * hd + c],
                            _ => b.ExtraValues[(h * s.ExtraCount + index) * hd + c],
                        };
                        acc += Math.Exp(logit - max) / sum * v;
                    }
                    b.Output[(row * s.Heads + h) * hd + c] = (float)acc;
                }
            }
    }
}

/// <summary>Host views of <see cref="AttentionBuffers"/> (empty spans for absent buffers).</summary>
public readonly ref struct AttentionSpans
{
    /// <summary>Groups the spans.</summary>
    public AttentionSpans(ReadOnlySpan<float> query, ReadOnlySpan<float> localKeys, ReadOnlySpan<float> localValues, Span<float> output,
        ReadOnlySpan<float> farQuery = default, ReadOnlySpan<float> farKeys = default, ReadOnlySpan<float> farValues = default,
        ReadOnlySpan<float> extraLogits = default, ReadOnlySpan<float> extraValues = default, ReadOnlySpan<float> alibiSlopes = default)
    {
        Query = query;
        LocalKeys = localKeys;
        LocalValues = localValues;
        Output = output;
        FarQuery = farQuery;
        FarKeys = farKeys;
        FarValues = farValues;
        ExtraLogits = extraLogits;
        ExtraValues = extraValues;
        AlibiSlopes = alibiSlopes;
    }

    /// <summary>[rows, heads, hd].</summary>
    public ReadOnlySpan<float> Query { get; }
    /// <summary>[slots, kvHeads, hd].</summary>
    public ReadOnlySpan<float> LocalKeys { get; }
    /// <summary>[slots, kvHeads, hd].</summary>
    public ReadOnlySpan<float> LocalValues { get; }
    /// <summary>[rows, heads, hd].</summary>
    public Span<float> Output { get; }
    /// <summary>[rows, heads, hd].</summary>
    public ReadOnlySpan<float> FarQuery { get; }
    /// <summary>[far slots, kvHeads, hd].</summary>
    public ReadOnlySpan<float> FarKeys { get; }
    /// <summary>[far slots, kvHeads, hd].</summary>
    public ReadOnlySpan<float> FarValues { get; }
    /// <summary>[heads, k].</summary>
    public ReadOnlySpan<float> ExtraLogits { get; }
    /// <summary>[heads, k, hd].</summary>
    public ReadOnlySpan<float> ExtraValues { get; }
    /// <summary>[heads] ALiBi slopes, or empty.</summary>
    public ReadOnlySpan<float> AlibiSlopes { get; }
}
