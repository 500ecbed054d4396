using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

public static partial class Attention
{
    /// <summary>Local keys per part of a split one-query row (a multiple of Group's 16-key and 64-row blocks).</summary>
    public const int SplitKeys = 256;

    /// <summary>
    /// Parts the one query row of a decode call is split into: one per <see cref="SplitKeys"/> visible local keys.
    /// A function of the shape alone, so a row's result never depends on the thread count.
    /// </summary>
    public static int SplitParts(in AttentionShape s)
    {
        long i = s.FirstQueryPosition + s.QueryCount - 1;
        long visible = i - LocalStart(s, i) + 1;
        return (int)((visible + SplitKeys - 1) / SplitKeys);
    }

    /// <summary>Scratch <see cref="GroupPart"/> needs: one part's logits for every query head of a KV group.</summary>
    public static int PartScratchLength(in AttentionShape s) => s.Heads / s.KvHeads * (SplitKeys + s.FarCount + s.ExtraCount);

    /// <summary>Floats of <see cref="GroupPart"/>'s partial outputs for <paramref name="parts"/> parts: [parts, heads, hd].</summary>
    public static int PartOutputLength(in AttentionShape s, int parts) => parts * s.Heads * s.HeadDim;

    /// <summary>Floats of <see cref="GroupPart"/>'s statistics for <paramref name="parts"/> parts: [parts, heads, (max, sum)].</summary>
    public static int PartStatsLength(in AttentionShape s, int parts) => parts * s.Heads * 2;

    /// <summary>
    /// Part <paramref name="part"/> of the one query row of a decode call, for every head of KV head
    /// <paramref name="kvHead"/>'s group: its visible local keys [part, part + 1) x <see cref="SplitKeys"/>, with the far
    /// keys in part 0 and the top-k extras in the last part. Writes each head's unnormalised output and its (max, sum of
    /// exponentials) into <paramref name="outputs"/> and <paramref name="stats"/> (laid out as their Length functions
    /// say); <see cref="MergeParts"/> combines the parts into the row's softmax.
    /// </summary>
    /// <remarks>
    /// Why: decode at depth is attention over thousands of keys, and whole rows give a call only KvHeads items (3 on
    /// SmolLM-135M), so two threads split the work 2:1 and short rows run on one thread. Parts of a fixed number of
    /// keys give every thread an equal share (the split-K of FlashDecoding). The result differs from Group's by float
    /// rounding only: a part's exponentials are taken against its own maximum and rescaled in the merge.
    /// Ceiling-only attention (far keys past the window, no global limit) keeps every far key in part 0.
    /// </remarks>
    public static void GroupPart(AttentionSpans b, in AttentionShape s, int kvHead, int part, int parts, Span<float> scratch,
        Span<float> outputs, Span<float> stats)
    {
        if (s.QueryCount != 1) throw new ArgumentException("split attention is for one query row");
        int group = s.Heads / s.KvHeads, firstHead = kvHead * group;
        long i = s.FirstQueryPosition;
        int visibleFrom = (int)(LocalStart(s, i) - s.LocalFirstPosition), visible = (int)(i - s.LocalFirstPosition) - visibleFrom + 1;
        int localFrom = part * SplitKeys, localCount = Math.Min(SplitKeys, visible - localFrom);
        if (part < 0 || part >= parts || localCount <= 0) throw new ArgumentOutOfRangeException(nameof(part));
        GroupKeys(b, s, 0, kvHead, visibleFrom + localFrom, localCount, part == 0 ? FarEnd(s, i) : 0, part == parts - 1 ? s.ExtraCount : 0,
            scratch, outputs.Slice((part * s.Heads + firstHead) * s.HeadDim, group * s.HeadDim), stats.Slice((part * s.Heads + firstHead) * 2, group * 2));
    }

    /// <summary>
    /// The softmax-weighted output of every head from <see cref="GroupPart"/>'s parts: with M = max_p m_p and
    /// w_p = e^(m_p - M), output = sum_p w_p o_p / sum_p w_p s_p.
    /// </summary>
    public static void MergeParts(in AttentionShape s, int parts, ReadOnlySpan<float> outputs, ReadOnlySpan<float> stats, Span<float> output)
    {
        int hd = s.HeadDim;
        for (int h = 0; h < s.Heads; h++)
        {
            float max = float.NegativeInfinity;
            for (int p = 0; p < parts; p++) max = Math.Max(max, stats[(p * s.Heads + h) * 2]);
            float sum = 0f;
            for (int p = 0; p < parts; p++)
                sum += MathF.Exp(stats[(p * s.Heads + h) * 2] - max) * stats[(p * s.Heads + h) * 2 + 1];
            var o = output.Slice(h * hd, hd);
            o.Clear();
            for (int p = 0; p < parts; p++)
                TensorPrimitives.MultiplyAdd(outputs.Slice((p * s.Heads + h) * hd, hd), MathF.Exp(stats[(p * s.Heads + h) * 2] - max) / sum, o, o);
        }
    }
}
