namespace LongLM.Models.Fixtures;

/// <summary>
/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded generator whose stream is fixed by its definition,
/// so a fixture made from a seed is the same on every machine and .NET version.
/// </summary>
public sealed class SplitMix64(ulong seed)
{
    private ulong _state = seed;

    /// <summary>Next 64 random bits.</summary>
    public ulong Next()
    {
        ulong z = _state += 0x9E3779B97F4A7C15UL;
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    /// <summary>Uniform in [-1, 1) with 24 bits of resolution.</summary>
    public float NextSigned() => (float)((long)(Next() >> 40) - (1L << 23)) / (1 << 23);
}
