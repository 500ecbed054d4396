using LongLM.Runtime;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Runtime;

public sealed class SamplerTests
{
    private static float[] Logits() => [1.0f, 3.0f, 2.5f, -1f, 3.0f, 0.5f];

    [Fact]
    public void Greedy_PicksFirstMaximum()
    {
        // Ties resolve to the lower id, as torch.argmax and llama2.c do.
        Assert.Equal(1, new Sampler(SamplingOptions.Greedy).Sample(Logits(), []));
    }

    [Fact]
    public void SameSeed_SameSequence_DifferentSeed_DifferentSequence()
    {
        var options = new SamplingOptions { Temperature = 1.5f, TopK = 0, TopP = 1, MinP = 0, Seed = 42 };
        int[] Draw(SamplingOptions o)
        {
            var sampler = new Sampler(o);
            return Enumerable.Range(0, 50).Select(_ => sampler.Sample(Logits(), [])).ToArray();
        }
        Assert.Equal(Draw(options), Draw(options));
        Assert.NotEqual(Draw(options), Draw(options with { Seed = 43 }));
    }

    [Fact]
    public void Frequencies_FollowSoftmaxAtTemperature()
    {
        // Expected probabilities are softmax(logits / T) computed here; 20000 draws put each within ~0.01.
        float t = 0.7f;
        var logits = Logits();
        var p = logits.Select(l => Math.Exp(l / t)).ToArray();
        double sum = p.Sum();
        var sampler = new Sampler(new SamplingOptions { Temperature = t, TopK = 0, TopP = 1, MinP = 0, Seed = 7 });
        var counts = new int[logits.Length];
        for (int i = 0; i < 20000; i++) counts[sampler.Sample(Logits(), [])]++;
        for (int i = 0; i < logits.Length; i++) Assert.InRange(counts[i] / 20000.0, p[i] / sum - 0.015, p[i] / sum + 0.015);
    }

    [Fact]
    public void TopK_LimitsToKMostLikely()
    {
        var sampler = new Sampler(new SamplingOptions { Temperature = 5f, TopK = 2, TopP = 1, MinP = 0, Seed = 1 });
        var seen = Enumerable.Range(0, 500).Select(_ => sampler.Sample(Logits(), [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 4 }, seen);
    }

    [Fact]
    public void TopP_KeepsSmallestNucleus()
    {
        // p at T=1: ids 1 and 4 hold 0.352 each, id 2 0.213; top-p 0.6 keeps ids 1 and 4 only (0.704 >= 0.6).
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 0.6f, MinP = 0, Seed = 3 });
        var seen = Enumerable.Range(0, 500).Select(_ => sampler.Sample(Logits(), [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 4 }, seen);
    }

    [Fact]
    public void MinP_DropsTokensBelowFractionOfTop()
    {
        // p(2)/p(1) = e^-0.5 = 0.61; p(0)/p(1) = e^-2 = 0.135. min-p 0.5 keeps ids 1, 4, 2.
        var sampler = new Sampler(new SamplingOptions { Temperature = 1f, TopK = 0, TopP = 1, MinP = 0.5f, Seed = 5 });
        var seen = Enumerable.Range(0, 2000).Select(_ => sampler.Sample(Logits(), [])).ToHashSet();
        Assert.Equal(new HashSet<int> { 1, 2, 4 }, seen);
    }

    [Fact]
    public void RepetitionPenalty_FollowsHfRule()
    {
        // HF RepetitionPenaltyLogitsProcessor: score > 0 -> score / penalty, else score * penalty.
        var logits = Logits();
        Sampler.ApplyRepetitionPenalty(logits, [1, 3, 1], 2f);
        Assert.Equal([1.0f, 1.5f, 2.5f, -2f, 3.0f, 0.5f], logits);
        // With the penalty, greedy moves from id 1 to id 4.
        Assert.Equal(4, new Sampler(SamplingOptions.Greedy with { RepetitionPenalty = 2f }).Sample(Logits(), [1]));
    }

    [Theory]
    [InlineData(-1f, 40, 0.9f, 0f, 1f)]
    [InlineData(1f, -2, 0.9f, 0f, 1f)]
    [InlineData(1f, 40, 0f, 0f, 1f)]
    [InlineData(1f, 40, 1.5f, 0f, 1f)]
    [InlineData(1f, 40, 0.9f, 2f, 1f)]
    [InlineData(1f, 40, 0.9f, 0f, 0f)]
    [InlineData(float.NaN, 40, 0.9f, 0f, 1f)]
    public void BadOptions_AreRejected(float t, int k, float p, float minP, float penalty)
    {
        var options = new SamplingOptions { Temperature = t, TopK = k, TopP = p, MinP = minP, RepetitionPenalty = penalty };
        Assert.Throws<LongLMException>(() => new Sampler(options));
    }
}
