namespace LongLM.Runtime.Attention;

/// <summary>ALiBi head slopes (Press et al. 2022) for any head count (algorithms.md 2.4).</summary>
public static class AlibiSlopes
{
    /// <summary>
    /// MPT's rule: n' = 2^ceil(log2 n), s_p = 2^(-maxBias * p / n') for p = 1..n'; when n' != n, the entries at odd
    /// 0-based indices, then the even ones, truncated to n. Equal to the BLOOM and llama.cpp rules.
    /// </summary>
    public static float[] Compute(int heads, double maxBias = 8)
    {
        if (heads <= 0) throw new ArgumentOutOfRangeException(nameof(heads));
        int padded = 1;
        while (padded < heads) padded *= 2;
        var all = Enumerable.Range(1, padded).Select(p => Math.Pow(2, -maxBias * p / padded)).ToArray();
        var ordered = padded == heads ? all : all.Where((_, i) => i % 2 == 1).Concat(all.Where((_, i) => i % 2 == 0)).ToArray();
        return ordered.Take(heads).Select(s => (float)s).ToArray();
    }
}
