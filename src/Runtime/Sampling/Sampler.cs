namespace LongLM.Runtime.Sampling;

/// <summary>
/// Chooses next tokens from logits; reproducible for a given seed. Its working arrays are sized once for the
/// vocabulary, so a decode step allocates nothing.
/// </summary>
public sealed class Sampler
{
    private readonly SamplingOptions _options;
    private readonly Random _random;
    private Candidate[] _candidates = [];
    private double[] _probabilities = [];
    private bool[] _seen = [];
    private int[] _touched = [];
    private int[] _counts = [];

    /// <summary>A sampler with its own generator; <paramref name="vocabSize"/> pre-sizes its arrays (0: on first use).</summary>
    public Sampler(SamplingOptions options, int vocabSize = 0)
    {
        options.Validate();
        _options = options;
        _random = new Random(options.Seed ?? Random.Shared.Next());
        if (vocabSize > 0) EnsureCapacity(vocabSize);
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
    public int Sample(Span<float> logits, IReadOnlyList<int> history)
    {
        EnsureCapacity(logits.Length);
        if (_options.RepetitionPenalty != 1f) Penalise(logits, history, _options.RepetitionPenalty);
        if (_options.FrequencyPenalty != 0f || _options.PresencePenalty != 0f) PenaliseCounts(logits, history);
        if (_options.Temperature == 0f) return ArgMax(logits);

        // Candidates sorted by logit, descending (ties to the lower id); top-k first bounds the sort.
        var order = TopCandidates(logits, _options.TopK > 0 ? Math.Min(_options.TopK, logits.Length) : logits.Length);
        var probabilities = _probabilities.AsSpan(0, order.Length);
        double max = order[0].Logit / _options.Temperature;
        double sum = 0;
        for (int i = 0; i < order.Length; i++) sum += probabilities[i] = Math.Exp(order[i].Logit / _options.Temperature - max);
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
            if (draw < 0) return order[i].Id;
        }
        return order[keep - 1].Id;
    }

    /// <summary>HF RepetitionPenaltyLogitsProcessor: positive logits are divided by the penalty, negative multiplied, once per distinct id.</summary>
    public static void ApplyRepetitionPenalty(Span<float> logits, IReadOnlyList<int> history, float penalty) =>
        new Sampler(SamplingOptions.Greedy, logits.Length).Penalise(logits, history, penalty);

    private void Penalise(Span<float> logits, IReadOnlyList<int> history, float penalty)
    {
        int touched = 0;
        for (int i = 0; i < history.Count; i++)
        {
            int id = history[i];
            if ((uint)id >= (uint)logits.Length || _seen[id]) continue;
            _seen[id] = true;
            _touched[touched++] = id;
            logits[id] = logits[id] > 0 ? logits[id] / penalty : logits[id] * penalty;
        }
        for (int i = 0; i < touched; i++) _seen[_touched[i]] = false;
    }

    /// <summary>OpenAI's frequency and presence penalties over the last PenaltyLastN ids (counted in a reused array).</summary>
    private void PenaliseCounts(Span<float> logits, IReadOnlyList<int> history)
    {
        int touched = 0;
        for (int i = Math.Max(0, history.Count - _options.PenaltyLastN); i < history.Count; i++)
        {
            int id = history[i];
            if ((uint)id >= (uint)logits.Length) continue;
            if (_counts[id]++ == 0) _touched[touched++] = id;
        }
        for (int i = 0; i < touched; i++)
        {
            int id = _touched[i];
            logits[id] -= _counts[id] * _options.FrequencyPenalty + _options.PresencePenalty;
            _counts[id] = 0;
        }
    }

    private ReadOnlySpan<Candidate> TopCandidates(ReadOnlySpan<float> logits, int count)
    {
        var candidates = _candidates.AsSpan(0, count);
        if (count < logits.Length)
        {
            // Top-k by a k-sized min-heap whose root is the weakest kept candidate: O(V log k), not a full sort.
            for (int i = 0; i < count; i++) candidates[i] = new Candidate(logits[i], i);
            for (int i = count / 2 - 1; i >= 0; i--) SiftDown(candidates, i);
            for (int i = count; i < logits.Length; i++)
            {
                var c = new Candidate(logits[i], i);
                if (Candidate.Stronger(c, candidates[0]))
                {
                    candidates[0] = c;
                    SiftDown(candidates, 0);
                }
            }
        }
        else
        {
            for (int i = 0; i < logits.Length; i++) candidates[i] = new Candidate(logits[i], i);
        }
        candidates.Sort(StrongestFirst); // a cached static delegate: a struct comparer would be boxed per call
        return candidates;
    }

    private static void SiftDown(Span<Candidate> heap, int i)
    {
        while (true)
        {
            int weakest = i, left = 2 * i + 1, right = left + 1;
            if (left < heap.Length && Candidate.Stronger(heap[weakest], heap[left])) weakest = left;
            if (right < heap.Length && Candidate.Stronger(heap[weakest], heap[right])) weakest = right;
            if (weakest == i) return;
            (heap[i], heap[weakest]) = (heap[weakest], heap[i]);
            i = weakest;
        }
    }

    private void EnsureCapacity(int vocab)
    {
        if (_candidates.Length >= vocab) return;
        _candidates = new Candidate[vocab];
        _probabilities = new double[vocab];
        _seen = new bool[vocab];
        _touched = new int[vocab];
        _counts = new int[vocab];
    }

    private readonly record struct Candidate(float Logit, int Id)
    {
        // The total order of the candidates: higher logit first, ties to the lower id, so a seed gives the same
        // draw whatever the selection algorithm does.
        public static bool Stronger(Candidate a, Candidate b) => a.Logit != b.Logit ? a.Logit > b.Logit : a.Id < b.Id;
    }

    private static readonly Comparison<Candidate> StrongestFirst = static (a, b) => Candidate.Stronger(a, b) ? -1 : Candidate.Stronger(b, a) ? 1 : 0;
}
