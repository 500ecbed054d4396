namespace LongLM.Models.Mixtral;

/// <summary>
/// Host-side routing of one MoE layer's chunk (HF MixtralSparseMoeBlock): softmax of each token's router logits (in
/// double, rounded to float: HF takes it in float32), the top num_experts_per_tok experts (ties to the lower expert
/// index; torch.topk leaves ties unspecified), their probabilities renormalised by their sum; then the tokens grouped
/// by expert, so that each expert's MatMuls run on its own rows only. The arrays grow with the chunk and are reused:
/// nothing is allocated per token.
/// </summary>
internal sealed class MoeRouting
{
    [ThreadStatic] private static MoeRouting? t_current;

    private int _experts, _capacity;
    private int[] _rows = [];
    private float[] _scales = [];
    private int[] _counts = [];
    private float[] _logits = [];

    /// <summary>
    /// This thread's routing scratch, large enough for <paramref name="tokens"/> x <paramref name="experts"/>. A
    /// forward runs a chunk's layers on one thread, so the scratch is never shared while in use.
    /// </summary>
    public static MoeRouting For(int tokens, int experts)
    {
        var r = t_current ??= new MoeRouting();
        if (r._experts != experts || r._capacity < tokens)
        {
            r._experts = experts;
            r._capacity = Math.Max(tokens, r._capacity);
            r._rows = new int[experts * r._capacity];
            r._scales = new float[experts * r._capacity];
            r._counts = new int[experts];
            r._logits = new float[experts * r._capacity];
        }
        return r;
    }

    /// <summary>[tokens, experts] router logits, downloaded here before <see cref="Route"/>.</summary>
    public Span<float> Logits(int tokens) => _logits.AsSpan(0, tokens * _experts);

    /// <summary>Tokens routed to expert <paramref name="e"/>, in increasing order.</summary>
    public ReadOnlySpan<int> Rows(int e) => _rows.AsSpan(e * _capacity, _counts[e]);

    /// <summary>The routing weight of each of <see cref="Rows"/>.</summary>
    public ReadOnlySpan<float> Scales(int e) => _scales.AsSpan(e * _capacity, _counts[e]);

    /// <summary>Routes <paramref name="tokens"/> rows of <see cref="Logits"/> to <paramref name="topK"/> experts each.</summary>
    public void Route(int tokens, int topK)
    {
        int experts = _experts;
        Array.Clear(_counts);
        Span<int> chosen = stackalloc int[topK];
        for (int t = 0; t < tokens; t++)
        {
            var logits = _logits.AsSpan(t * experts, experts);
            // softmax(l)_i / sum over the chosen of softmax(l)_j = exp(l_i - max) / sum over the chosen exp(l_j - max):
            // the full softmax denominator cancels, and the top-k of the probabilities is the top-k of the logits.
            for (int k = 0; k < topK; k++)
            {
                int best = -1;
                for (int e = 0; e < experts; e++)
                {
                    if (chosen[..k].Contains(e)) continue;
                    if (best < 0 || logits[e] > logits[best]) best = e; // strict: a tie keeps the lower index
                }
                chosen[k] = best;
            }
            double max = logits[chosen[0]], sum = 0;
            for (int k = 0; k < topK; k++) sum += Math.Exp(logits[chosen[k]] - max);
            for (int k = 0; k < topK; k++)
            {
                int e = chosen[k], at = e * _capacity + _counts[e]++;
                _rows[at] = t;
                _scales[at] = (float)(Math.Exp(logits[e] - max) / sum);
            }
        }
    }
}
