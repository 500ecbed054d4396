namespace LongLM.Kernels.Ops;

/// <summary>
/// Rotary position embedding (Su et al. 2021) applied with precomputed (cos, sin) per row and pair.
/// Angles are formed by the caller in double precision (algorithms.md decisions: positions are unbounded).
/// </summary>
public static class Rope
{
    /// <summary>Rotates one head vector in place. cosSin holds rotaryDim/2 (cos, sin) pairs.</summary>
    public static void Head(Span<float> head, ReadOnlySpan<float> cosSin, int rotaryDim, RopePairing pairing)
    {
        int half = rotaryDim / 2;
        for (int k = 0; k < half; k++)
        {
            float cos = cosSin[2 * k], sin = cosSin[2 * k + 1];
            // half-split pairs (x[k], x[k + d/2]) as HF rotate_half; interleaved pairs (x[2k], x[2k+1]) as GPT-J.
            int a = pairing == RopePairing.HalfSplit ? k : 2 * k;
            int b = pairing == RopePairing.HalfSplit ? k + half : 2 * k + 1;
            float x0 = head[a], x1 = head[b];
            head[a] = x0 * cos - x1 * sin;
            head[b] = x1 * cos + x0 * sin;
        }
    }

    /// <summary>Reference: rotates in double precision from inverse frequencies and a position.</summary>
    public static void HeadReference(Span<float> head, ReadOnlySpan<double> inverseFrequencies, long position, int rotaryDim, RopePairing pairing)
    {
        int half = rotaryDim / 2;
        for (int k = 0; k < half; k++)
        {
            double angle = position * inverseFrequencies[k];
            double cos = Math.Cos(angle), sin = Math.Sin(angle);
            int a = pairing == RopePairing.HalfSplit ? k : 2 * k;
            int b = pairing == RopePairing.HalfSplit ? k + half : 2 * k + 1;
            double x0 = head[a], x1 = head[b];
            head[a] = (float)(x0 * cos - x1 * sin);
            head[b] = (float)(x1 * cos + x0 * sin);
        }
    }

    /// <summary>
    /// Fills (cos, sin) for one position: the angle position * theta_k is reduced modulo 2*pi in double precision,
    /// so it stays exact far beyond 2^24 (float32(pos) * theta loses every digit there).
    /// </summary>
    public static void CosSin(long position, ReadOnlySpan<double> inverseFrequencies, Span<float> cosSin, float attentionFactor = 1f)
    {
        for (int k = 0; k < inverseFrequencies.Length; k++)
        {
            double angle = Math.IEEERemainder(position * inverseFrequencies[k], 2 * Math.PI);
            cosSin[2 * k] = (float)(Math.Cos(angle) * attentionFactor);
            cosSin[2 * k + 1] = (float)(Math.Sin(angle) * attentionFactor);
        }
    }
}
