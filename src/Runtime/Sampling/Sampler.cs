namespace LongLM.Runtime.Sampling;

/// <summary>Chooses next tokens from logits; reproducible for a given seed.</summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;

    /// <summary>A sampler with its own generator.</summary>
    public Sampler(SamplingOptions options)
    {
        options.Validate();
        _options = options;
        _random = new Random(options.Seed ?? Random.Shared.Next());
    }

    /// <summary>Index of the largest logit; the first one on ties, as torch.argmax and llama2.c.</summary>
    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    /// <summary>Picks the next id. <paramref name="logits"/> is modified in place; <paramref name="history"/> is prompt plus generated ids.</summary>
    public int Sample(Span<float> logits, IReadOnlyCollection<int> history)
    {
        if (_options.RepetitionPenalty != 1f) ApplyRepetitionPenalty(logits, history, _options.RepetitionPenalty);
        if (_options.Temperature == 0f) return ArgMax(logits);

        // Candidates sorted by logit, descending; top-k first bounds the sort.
        int[] order = TopIndices(logits, _options.TopK > 0 ? Math.Min(_options.TopK, logits.Length) : logits.Length);
        double max = logits[order[0]] / _options.Temperature;
        var probabilities = new double[order.Length];
        double sum = 0;
        for (int i = 0; i < order.Length; i++) sum += probabilities[i] = Math.Exp(logits[order[i]] / _options.Temperature - max);
        for (int i = 0; i < order.Length; i++) probabilities[i] /= sum;

        int keep = order.Length;
        if (_options.TopP < 1f)
        {
            double cumulative = 0;
            for (int i = 0; i < order.Length; i++)
            {
                cumulative += probabilities[i];
                if (cumulative >= _options.TopP) { keep = i + 1; break; }
            }
        }
        if (_options.MinP > 0f)
        {
            double threshold = _options.MinP * probabilities[0];
            int i = 1;
            while (i < keep && probabilities[i] >= threshold) i++;
            keep = i;
        }

        double total = 0;
        for (int i = 0; i < keep; i++) total += probabilities[i];
        double draw = _random.NextDouble() * total;
        for (int i = 0; i < keep; i++)
        {
            draw -= probabilities[i];
            if (draw < 0) return order[i];
        }
        return order[keep - 1];
    }

    /// <summary>HF RepetitionPenaltyLogitsProcessor: positive logits are divided by the penalty, negative multiplied.</summary>
    public static void ApplyRepetitionPenalty(Span<float> logits, IReadOnlyCollection<int> history, float penalty)
    {
        foreach (int id in history.Distinct())
        {
            if ((uint)id >= (uint)logits.Length) continue;
            logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
        }
    }

    private static int[] TopIndices(ReadOnlySpan<float> logits, int count)
    {
        // Ties go to the lower id, so a seed gives the same draw whatever the sort algorithm does.
        static int Compare((float Logit, int Id) a, (float Logit, int Id) b) =>
            a.Logit != b.Logit ? b.Logit.CompareTo(a.Logit) : a.Id.CompareTo(b.Id);
        var comparer = Comparer<(float Logit, int Id)>.Create(Compare);
        (float Logit, int Id)[] candidates;
        if (count < logits.Length)
        {
            // Top-k by a k-sized heap whose root is the weakest kept candidate: O(V log k), not a full sort.
            var heap = new PriorityQueue<int, (float Logit, int Id)>(count, Comparer<(float Logit, int Id)>.Create((a, b) => Compare(b, a)));
            for (int i = 0; i < logits.Length; i++)
            {
                if (heap.Count < count) heap.Enqueue(i, (logits[i], i));
                else if (Compare((logits[i], i), (logits[heap.Peek()], heap.Peek())) < 0) heap.EnqueueDequeue(i, (logits[i], i));
            }
            candidates = new (float, int)[heap.Count];
            int n = 0;
            while (heap.TryDequeue(out int id, out _)) candidates[n++] = (logits[id], id);
        }
        else
        {
            candidates = new (float, int)[logits.Length];
            for (int i = 0; i < logits.Length; i++) candidates[i] = (logits[i], i);
        }
        Array.Sort(candidates, comparer);
        return candidates.Select(c => c.Id).ToArray();
    }
}
