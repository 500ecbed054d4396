namespace LongLM.Server;

/// <summary>OpenAI's logprobs of one generated token: its log-probability and the most likely alternatives.</summary>
internal static class LogProbs
{
    /// <summary>
    /// log softmax of <paramref name="logits"/> (the distribution the token was drawn from, before temperature and
    /// the top-k/top-p/min-p filters, as llama-server reports it) at <paramref name="id"/>, and the <paramref name="top"/>
    /// most likely ids with theirs.
    /// </summary>
    public static (double LogProb, (int Id, double LogProb)[] Top) Of(ReadOnlySpan<float> logits, int id, int top)
    {
        float max = float.NegativeInfinity;
        foreach (float l in logits) max = Math.Max(max, l);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        double logZ = max + Math.Log(sum);
        var best = new List<(int Id, double LogProb)>(top + 1);
        if (top > 0)
        {
            for (int i = 0; i < logits.Length; i++)
            {
                if (best.Count == top && logits[i] <= best[^1].LogProb + logZ) continue;
                best.Add((i, logits[i] - logZ));
                best.Sort((a, b) => b.LogProb.CompareTo(a.LogProb));
                if (best.Count > top) best.RemoveAt(top);
            }
        }
        return (logits[id] - logZ, best.ToArray());
    }
}
