using System.Numerics.Tensors;

namespace LongLM.Kernels.Ops;

/// <summary>LM-Infinite top-k middle-token selection (algorithms.md 2.5, steps 3 to 5).</summary>
public static class TopK
{
    /// <summary>One head: the k best far slots in [Begin, End) by scale * q . k_raw (ties to the lower slot), their logits and values.</summary>
    public static void Head(ReadOnlySpan<float> query, ReadOnlySpan<float> farKeys, ReadOnlySpan<float> farValues, in TopKShape s, int head,
        Span<float> logits, Span<float> values)
    {
        int hd = s.HeadDim, kvHead = head / (s.Heads / s.KvHeads), stride = s.KvHeads * hd;
        var q = query.Slice(head * hd, hd);
        // A k-sized insertion list: k is small (5 in the paper's runs), the range is long.
        if ((uint)s.K - 1 >= TopKShape.MaxK) throw new ArgumentOutOfRangeException(nameof(s), s.K, $"top-k K must lie in [1, {TopKShape.MaxK}]");
        Span<int> best = stackalloc int[s.K];
        Span<float> bestScore = stackalloc float[s.K];
        int count = 0;
        for (int j = s.Begin; j < s.End; j++)
        {
            float score = TensorPrimitives.Dot(q, farKeys.Slice(j * stride + kvHead * hd, hd)) * s.Scale;
            if (count == s.K && score <= bestScore[count - 1]) continue;
            int at = count < s.K ? count++ : count - 1;
            while (at > 0 && bestScore[at - 1] < score)
            {
                best[at] = best[at - 1];
                bestScore[at] = bestScore[at - 1];
                at--;
            }
            best[at] = j;
            bestScore[at] = score;
        }
        if (count < s.K) throw new ArgumentException($"top-k needs {s.K} middle tokens, the range [{s.Begin}, {s.End}) has {count}");
        for (int e = 0; e < s.K; e++)
        {
            logits[head * s.K + e] = bestScore[e];
            farValues.Slice(best[e] * stride + kvHead * hd, hd).CopyTo(values.Slice((head * s.K + e) * hd, hd));
        }
    }

    /// <summary>Reference: every score in double precision, stable sort, first k.</summary>
    public static int[] SelectReference(ReadOnlySpan<float> query, ReadOnlySpan<float> farKeys, in TopKShape s, int head)
    {
        int hd = s.HeadDim, kvHead = head / (s.Heads / s.KvHeads), stride = s.KvHeads * hd;
        var scored = new List<(double Score, int Slot)>();
        for (int j = s.Begin; j < s.End; j++)
        {
            double dot = 0;
            for (int c = 0; c < hd; c++) dot += (double)query[head * hd + c] * farKeys[j * stride + kvHead * hd + c];
            scored.Add((dot * s.Scale, j));
        }
        return scored.OrderByDescending(x => x.Score).ThenBy(x => x.Slot).Take(s.K).Select(x => x.Slot).ToArray();
    }
}
