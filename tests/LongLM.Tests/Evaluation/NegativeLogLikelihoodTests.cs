using LongLM.Runtime;
using LongLM.Runtime.Evaluation;

namespace LongLM.Tests.Evaluation;

/// <summary>
/// PerplexityEvaluator.NegativeLogLikelihood, the per-token score of every perplexity figure: against a hand-computed
/// case (python3: math.log(math.e + math.e**2 + math.e**3) - 1 = 2.40760596444438), against a scalar double loop
/// written here (max, sum of Math.Exp, log) over a vocabulary-sized row, and its bad target.
/// </summary>
public sealed class NegativeLogLikelihoodTests
{
    [Fact]
    public void ThreeLogits_MatchTheHandComputedValue()
    {
        Assert.Equal(2.40760596444438, PerplexityEvaluator.NegativeLogLikelihood([1f, 2f, 3f], 0), 1e-13);
        Assert.Equal(2.40760596444438 - 2, PerplexityEvaluator.NegativeLogLikelihood([1f, 2f, 3f], 2), 1e-13);
    }

    [Theory]
    [InlineData(512, 7, 1f)]
    [InlineData(32000, 31999, 30f)]
    [InlineData(1001, 0, 1e4f)]
    public void VocabularyRow_MatchesAScalarDoubleLoop(int vocab, int target, float scale)
    {
        var random = new Random(vocab);
        var logits = new float[vocab];
        for (int i = 0; i < vocab; i++) logits[i] = (float)(random.NextDouble() * 2 - 1) * scale;
        double max = double.NegativeInfinity, sum = 0;
        foreach (float v in logits) max = Math.Max(max, v);
        foreach (float v in logits) sum += Math.Exp(v - max);
        double expected = max + Math.Log(sum) - logits[target];
        Assert.Equal(expected, PerplexityEvaluator.NegativeLogLikelihood(logits, target), Math.Abs(expected) * 1e-13 + 1e-13);
    }

    [Fact]
    public void TargetOutsideTheVocabulary_IsATypedError()
    {
        Assert.Throws<LongLMException>(() => PerplexityEvaluator.NegativeLogLikelihood([0f, 1f], 2));
        Assert.Throws<LongLMException>(() => PerplexityEvaluator.NegativeLogLikelihood([0f, 1f], -1));
    }
}
