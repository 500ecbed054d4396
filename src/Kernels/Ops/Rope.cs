using System.Runtime.Intrinsics;

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

    /// <summary>
    /// Rotates every head of one row in place with the row's table (<paramref name="cosSin"/>: rotaryDim/2 pairs, the
    /// same for all heads): the arithmetic of <see cref="Head"/>, bit for bit, but for half-split pairs with a rotary
    /// half of 4 or more the table is split into cos and sin vectors once per row and each head takes a few vector
    /// operations (a per-pair scalar loop per (row, head) was 4% of a stories260K prefill, whose heads are 8 wide).
    /// </summary>
    public static unsafe void Row(Span<float> row, int heads, int headDim, ReadOnlySpan<float> cosSin, int rotaryDim, RopePairing pairing)
    {
        int half = rotaryDim / 2;
        if ((long)heads * headDim > row.Length || cosSin.Length < 2 * half || rotaryDim > headDim)
            throw new ArgumentException("rope row: spans too short", nameof(row));
        if (pairing != RopePairing.HalfSplit || half < 4 || half > 512)
        {
            for (int h = 0; h < heads; h++) Head(row.Slice(h * headDim, headDim), cosSin, rotaryDim, pairing);
            return;
        }
        float* cos = stackalloc float[half], sin = stackalloc float[half];
        for (int k = 0; k < half; k++) (cos[k], sin[k]) = (cosSin[2 * k], cosSin[2 * k + 1]);
        fixed (float* data = row)
            for (int h = 0; h < heads; h++)
            {
                float* lo = data + h * headDim, hi = lo + half;
                int k = 0;
                for (; k + 8 <= half; k += 8)
                {
                    Vector256<float> x0 = Vector256.Load(lo + k), x1 = Vector256.Load(hi + k), c = Vector256.Load(cos + k), s = Vector256.Load(sin + k);
                    (x0 * c - x1 * s).Store(lo + k);
                    (x1 * c + x0 * s).Store(hi + k);
                }
                for (; k + 4 <= half; k += 4)
                {
                    Vector128<float> x0 = Vector128.Load(lo + k), x1 = Vector128.Load(hi + k), c = Vector128.Load(cos + k), s = Vector128.Load(sin + k);
                    (x0 * c - x1 * s).Store(lo + k);
                    (x1 * c + x0 * s).Store(hi + k);
                }
                for (; k < half; k++)
                {
                    float x0 = lo[k], x1 = hi[k];
                    lo[k] = x0 * cos[k] - x1 * sin[k];
                    hi[k] = x1 * cos[k] + x0 * sin[k];
                }
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
