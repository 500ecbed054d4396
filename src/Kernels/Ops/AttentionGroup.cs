using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

public static partial class Attention
{
    /// <summary>Scratch <see cref="Group"/> needs: one row of logits for every query head of a KV group.</summary>
    public static int GroupScratchLength(in AttentionShape s) =>
        s.Heads / s.KvHeads * (s.LocalCount + s.FarCount + s.ExtraCount);

    /// <summary>
    /// One query row for every query head that reads KV head <paramref name="kvHead"/>: the result of
    /// <see cref="Head"/> for each of those heads, bit for bit.
    /// </summary>
    /// <remarks>
    /// Under GQA (SmolLM-135M: 9 query heads on 3 KV heads) <see cref="Head"/> re-reads a group's keys and values once
    /// per query head; at depth the K/V of a layer (6 MB at 4096 keys) no longer fits in cache, so decode attention is
    /// that re-reading. Here each local key and value row is read once and used by every head of the group while it is
    /// in L1. With AVX-512 and a head width of whole vectors, the local keys go 16 at a time through one reduction tree
    /// (<see cref="Logits16"/>) and the local values 64 rows at a time into register accumulators (<see cref="WeightedRows"/>):
    /// the per-key horizontal sums and per-row calls made this kernel compute bound at depth. Those blocks sum in another
    /// order than <see cref="Head"/> (float rounding apart); elsewhere every head's dot products, softmax and multiply-adds
    /// are Head's calls in Head's order, only interleaved across heads, so the output is identical.
    /// </remarks>
    public static void Group(AttentionSpans b, in AttentionShape s, int row, int kvHead, Span<float> scratch)
    {
        int group = s.Heads / s.KvHeads;
        long i = s.FirstQueryPosition + row;
        int localFrom = (int)(LocalStart(s, i) - s.LocalFirstPosition), localTo = (int)(i - s.LocalFirstPosition);
        int extra = row == s.QueryCount - 1 ? s.ExtraCount : 0;
        GroupKeys(b, s, row, kvHead, localFrom, localTo - localFrom + 1, FarEnd(s, i), extra, scratch,
            b.Output.Slice((row * s.Heads + kvHead * group) * s.HeadDim, group * s.HeadDim), stats: default);
    }

    /// <summary>
    /// Group's work over one range of keys: far slots [0, <paramref name="farEnd"/>), local slots
    /// [<paramref name="localFrom"/>, + <paramref name="localCount"/>) and the first <paramref name="extra"/> top-k
    /// entries, for every head of KV head <paramref name="kvHead"/>'s group, into <paramref name="output"/> ([group, hd]).
    /// With empty <paramref name="stats"/> the softmax is normalised over the range (the whole row: Group); otherwise the
    /// range is one part of a split row (<see cref="GroupPart"/>): the outputs stay unnormalised, sum_j e^(l_j - m) v_j,
    /// and stats gets (m, sum_j e^(l_j - m)) per head for <see cref="MergeParts"/>.
    /// </summary>
    private static void GroupKeys(AttentionSpans b, in AttentionShape s, int row, int kvHead, int localFrom, int localCount, int farEnd, int extra,
        Span<float> scratch, Span<float> output, Span<float> stats)
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd, group = s.Heads / s.KvHeads, firstHead = kvHead * group;
        long i = s.FirstQueryPosition + row;
        int width = farEnd + localCount + extra;
        long firstLocal = s.LocalFirstPosition + localFrom;

        for (int g = 0; g < group; g++) FarLogits(b, s, row, firstHead + g, scratch.Slice(g * width, farEnd));
        int j0 = 0;
        if (HasLogits16(hd) && localCount >= 16)
            j0 = BlockLogits(b, s, row, kvHead, firstHead, group, localFrom, localCount, farEnd, width, firstLocal, i, scratch);
        for (int j = j0; j < localCount; j++)
        {
            var k = b.LocalKeys.Slice((localFrom + j) * stride + kvHead * hd, hd);
            for (int g = 0; g < group; g++)
            {
                int head = firstHead + g;
                float logit = TensorPrimitives.Dot(b.Query.Slice((row * s.Heads + head) * hd, hd), k) * s.Scale;
                float slope = b.AlibiSlopes.IsEmpty ? 0f : b.AlibiSlopes[head];
                if (slope != 0f) logit -= slope * Math.Min(i - (firstLocal + j), s.AlibiDistanceCap);
                scratch[g * width + farEnd + j] = logit;
            }
        }
        for (int g = 0; g < group; g++)
        {
            int head = firstHead + g;
            var logits = scratch.Slice(g * width, width);
            for (int e = 0; e < extra; e++)
                logits[farEnd + localCount + e] = b.ExtraLogits[head * s.ExtraCount + e];
            // Shifted by the maximum first, as in Head (SoftMax alone would overflow on large logits).
            float max = TensorPrimitives.Max(logits);
            TensorPrimitives.Subtract(logits, max, logits);
            if (stats.IsEmpty)
            {
                TensorPrimitives.SoftMax(logits, logits);
            }
            else
            {
                TensorPrimitives.Exp(logits, logits);
                stats[2 * g] = max;
                stats[2 * g + 1] = TensorPrimitives.Sum(logits);
            }
            var o = output.Slice(g * hd, hd);
            o.Clear();
            for (int f = 0; f < farEnd; f++)
                TensorPrimitives.MultiplyAdd(b.FarValues.Slice(f * stride + kvHead * hd, hd), logits[f], o, o);
        }
        int v0 = HasLogits16(hd) ? BlockValues(b, s, kvHead, group, localFrom, localCount, farEnd, width, scratch, output) : 0;
        for (int j = v0; j < localCount; j++)
        {
            var v = b.LocalValues.Slice((localFrom + j) * stride + kvHead * hd, hd);
            for (int g = 0; g < group; g++)
            {
                var o = output.Slice(g * hd, hd);
                TensorPrimitives.MultiplyAdd(v, scratch[g * width + farEnd + j], o, o);
            }
        }
        for (int g = 0; g < group; g++)
        {
            int head = firstHead + g;
            var o = output.Slice(g * hd, hd);
            for (int e = 0; e < extra; e++)
                TensorPrimitives.MultiplyAdd(b.ExtraValues.Slice((head * s.ExtraCount + e) * hd, hd), scratch[g * width + farEnd + localCount + e], o, o);
        }
    }

    /// <summary>
    /// Local logits of keys [0, 16 n) for every head of the group, 16 keys at a time (<see cref="Logits16"/>), then
    /// ALiBi's line as the per-key loop applies it. Returns 16 n, the first key left to the per-key loop.
    /// </summary>
    private static unsafe int BlockLogits(AttentionSpans b, in AttentionShape s, int row, int kvHead, int firstHead, int group,
        int localFrom, int localCount, int farEnd, int width, long firstLocal, long i, Span<float> scratch)
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd, blocked = localCount / 16 * 16;
        // Bounds, checked once for the whole block (the kernel reads raw pointers).
        if ((long)(localFrom + blocked - 1) * stride + kvHead * hd + hd > b.LocalKeys.Length || (row * s.Heads + firstHead + group) * hd > b.Query.Length
            || (group - 1) * width + farEnd + blocked > scratch.Length)
            throw new ArgumentException("attention spans are shorter than the shape says");
        fixed (float* keys = b.LocalKeys, query = b.Query, logits = scratch)
            for (int j = 0; j < blocked; j += 16)
            {
                float* k = keys + (long)(localFrom + j) * stride + kvHead * hd;
                for (int g = 0; g < group; g++)
                    Logits16(query + (row * s.Heads + firstHead + g) * hd, k, stride, hd, s.Scale, logits + g * width + farEnd + j);
            }
        for (int g = 0; g < group; g++)
        {
            float slope = b.AlibiSlopes.IsEmpty ? 0f : b.AlibiSlopes[firstHead + g];
            if (slope == 0f) continue;
            for (int j = 0; j < blocked; j++)
                scratch[g * width + farEnd + j] -= slope * Math.Min(i - (firstLocal + j), s.AlibiDistanceCap);
        }
        return blocked;
    }

    /// <summary>
    /// The local values' share of every head's output, for keys [0, 64 n) in blocks of 64 (a block's values stay in L1
    /// while each head of the group adds them, <see cref="WeightedRows"/>). Returns 64 n, the first key left to the
    /// per-key loop.
    /// </summary>
    private static unsafe int BlockValues(AttentionSpans b, in AttentionShape s, int kvHead, int group,
        int localFrom, int localCount, int farEnd, int width, Span<float> scratch, Span<float> output)
    {
        const int Block = 64;
        int hd = s.HeadDim, stride = s.KvHeads * hd, blocked = localCount / Block * Block;
        if (blocked == 0) return 0;
        if ((long)(localFrom + blocked - 1) * stride + kvHead * hd + hd > b.LocalValues.Length || group * hd > output.Length
            || (group - 1) * width + farEnd + blocked > scratch.Length)
            throw new ArgumentException("attention spans are shorter than the shape says");
        fixed (float* values = b.LocalValues, o = output, weights = scratch)
            for (int j = 0; j < blocked; j += Block)
            {
                float* v = values + (long)(localFrom + j) * stride + kvHead * hd;
                for (int g = 0; g < group; g++)
                    WeightedRows(v, stride, hd, weights + g * width + farEnd + j, Block, o + g * hd);
            }
        return blocked;
    }
}
