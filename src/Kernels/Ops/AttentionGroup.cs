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
    /// in L1. Every head's dot products, softmax and multiply-adds are the same calls in the same order as in
    /// <see cref="Head"/>, only interleaved across heads, so the output is identical.
    /// </remarks>
    public static void Group(AttentionSpans b, in AttentionShape s, int row, int kvHead, Span<float> scratch)
    {
        int hd = s.HeadDim, stride = s.KvHeads * hd, group = s.Heads / s.KvHeads, firstHead = kvHead * group;
        long i = s.FirstQueryPosition + row;
        int localFrom = (int)(LocalStart(s, i) - s.LocalFirstPosition), localTo = (int)(i - s.LocalFirstPosition);
        int farEnd = FarEnd(s, i);
        int extra = row == s.QueryCount - 1 ? s.ExtraCount : 0;
        int localCount = localTo - localFrom + 1, width = farEnd + localCount + extra;
        long firstLocal = s.LocalFirstPosition + localFrom;

        for (int g = 0; g < group; g++) FarLogits(b, s, row, firstHead + g, scratch.Slice(g * width, farEnd));
        for (int j = 0; j < localCount; j++)
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
            TensorPrimitives.Subtract(logits, TensorPrimitives.Max(logits), logits);
            TensorPrimitives.SoftMax(logits, logits);
            var o = b.Output.Slice((row * s.Heads + head) * hd, hd);
            o.Clear();
            for (int f = 0; f < farEnd; f++)
                TensorPrimitives.MultiplyAdd(b.FarValues.Slice(f * stride + kvHead * hd, hd), logits[f], o, o);
        }
        for (int j = 0; j < localCount; j++)
        {
            var v = b.LocalValues.Slice((localFrom + j) * stride + kvHead * hd, hd);
            for (int g = 0; g < group; g++)
            {
                var o = b.Output.Slice((row * s.Heads + firstHead + g) * hd, hd);
                TensorPrimitives.MultiplyAdd(v, scratch[g * width + farEnd + j], o, o);
            }
        }
        for (int g = 0; g < group; g++)
        {
            int head = firstHead + g;
            var o = b.Output.Slice((row * s.Heads + head) * hd, hd);
            for (int e = 0; e < extra; e++)
                TensorPrimitives.MultiplyAdd(b.ExtraValues.Slice((head * s.ExtraCount + e) * hd, hd), scratch[g * width + farEnd + localCount + e], o, o);
        }
    }
}
