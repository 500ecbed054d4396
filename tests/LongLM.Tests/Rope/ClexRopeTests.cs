using LongLM.Runtime;
using LongLM.Runtime.Rope;

namespace LongLM.Tests.RotaryEmbedding;

/// <summary>
/// <see cref="ClexRope"/>: t selection and log scaling (algorithms.md 7.7). Expected values are the spec's tables
/// unless a test says otherwise.
/// </summary>
public sealed class ClexRopeTests
{
    // ---- 7.7: t selection and log factor, L_tr = 4096, max_factor 16 ----

    private static ClexRope Llama2Like(bool extend = false)
    {
        float[] up = [0.3f, -0.2f, 0.1f, 0.05f, -0.1f, 0.25f, -0.3f, 0.2f];
        float[] down = [0.1f, -0.05f, 0.02f, 0.08f, -0.07f, 0.03f, 0.04f, -0.06f];
        return new ClexRope([1f, 0.01f], up, down, 4, ClexActivation.Silu, 0.01, 16, 4096, extend);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4095, 1)]
    [InlineData(4096, 1)]
    [InlineData(4097, 2)]
    [InlineData(8192, 2)]
    [InlineData(8193, 3)]
    [InlineData(16384, 4)]
    [InlineData(65536, 16)]
    [InlineData(65537, 16)]
    public void SelectT_IsCeilOfLengthOverTrainedLength_CappedAtMaxFactor(long length, int t)
    {
        var rope = Llama2Like();
        Assert.Equal(t, rope.SelectT(length));
        Assert.Equal(length > 65536, rope.Exceeds(length));
    }

    [Fact]
    public void BeyondMaxLength_IsRefused_UnlessExtended()
    {
        var e = Assert.Throws<LongLMException>(() => Llama2Like().Compute(65537));
        Assert.Contains("65536", e.Message);
        var extended = Llama2Like(extend: true);
        Assert.Equal(Array.ConvertAll(extended.Frequencies(16), x => (double)x), extended.Compute(65537).InverseFrequencies);
        Assert.Equal(Array.ConvertAll(extended.Frequencies(16), x => (double)x), extended.Compute(1_000_000).InverseFrequencies);
    }

    [Fact]
    public void Frequencies_AtScaleOne_AreTheStoredOnes_AndChangeWithT()
    {
        var rope = Llama2Like();
        Assert.Equal([1f, 0.01f], rope.Frequencies(1));
        Assert.NotEqual(rope.Frequencies(1), rope.Frequencies(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => rope.Frequencies(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => rope.Frequencies(17));
    }

    [Theory]
    [InlineData(1, 0.0, 0.0)]
    [InlineData(100, 0.5536547, 0.55078125)]
    [InlineData(2048, 0.9166667, 0.91796875)]
    [InlineData(4096, 1.0, 1.0)]
    [InlineData(8192, 1.0833333, 1.0859375)]
    [InlineData(16384, 1.1666667, 1.1640625)]
    [InlineData(65536, 1.3333333, 1.328125)]
    public void LogScale_IsUnclampedLnRatio_AndBf16EmulationRoundsLikeTheReference(long keys, double exact, double bf16)
    {
        // 7.7's bf16 column printed 7 digits (0.5507812, 0.9179688); these are the bf16 values themselves.
        var rope = Llama2Like();
        Assert.Equal(exact, rope.LogScale(keys, bf16: false), 5e-8);
        Assert.Equal(bf16, rope.LogScale(keys, bf16: true));
    }
}
