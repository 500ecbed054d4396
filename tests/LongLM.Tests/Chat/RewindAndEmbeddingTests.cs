using System.Text.Json;
using LongLM.Chat;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Chat;

/// <summary>
/// Rewinding a session's cache (what KV reuse across chat turns rests on), the frequency/presence penalties and the
/// embedding generator. Expected logits come from a fresh prefill of the same ids (HF semantics: a cache rewound to n
/// tokens is the cache of those n tokens); the mean hidden state from tools/reference/llama_ref.py --mean-hidden
/// (golden/stories260K_mean_hidden.json).
/// </summary>
public sealed class RewindAndEmbeddingTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");
    private static readonly int[] Ids = Enumerable.Range(0, 300).Select(i => 3 + i * 13 % 500).ToArray();

    private static float[] FreshLast(LanguageModel lm, ReadOnlySpan<int> ids)
    {
        var all = lm.Logits(ids);
        return all[^lm.Config.VocabSize..];
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Rewind_ThenRun_EqualsAFreshPrefill(bool lambda)
    {
        var attention = lambda ? new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 } : null;
        using var lm = LanguageModel.Load(Stories, "cpu", attention);
        using var session = lm.CreateSession();
        session.Prefill(Ids);
        // Back 20 tokens (within the window), then a different continuation.
        Assert.True(session.TryRewind(280));
        Assert.Equal(280, session.ConversationLength);
        int[] tail = [7, 8, 9, 10];
        var got = session.Prefill(tail).ToArray();
        var expected = FreshLast(lm, [.. Ids[..280], .. tail]);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-4f);
    }

    [Fact]
    public void Rewind_PastABoundedWindow_IsRefused_AndChangesNothing()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var session = lm.CreateSession();
        // One token per call, as decoding goes: the window moves and old keys are dropped (L-1 plus L/2 are kept).
        foreach (int id in Ids) session.Prefill([id]);
        var before = session.Logits.ToArray();
        Assert.False(session.TryRewind(100));
        Assert.Equal(300, session.ConversationLength);
        Assert.Equal(before, session.Logits.ToArray());
    }

    [Fact]
    public void Rewind_WithinHalfAWindow_AlwaysSucceeds_WhileDecoding()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var session = lm.CreateSession();
        for (int n = 0; n < Ids.Length; n++)
        {
            session.Prefill([Ids[n]]);
            if (n < 40) continue;
            // Every step: going back 32 (= L/2) tokens must be possible; undo it by re-running them.
            Assert.True(session.TryRewind(n + 1 - 32), $"rewind at {n + 1}");
            session.Prefill(Ids.AsSpan(n + 1 - 32, 32));
        }
        var expected = FreshLastLambda(lm);
        var got = session.Logits.ToArray();
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-4f);
    }

    private static float[] FreshLastLambda(LanguageModel lm)
    {
        using var fresh = lm.CreateSession();
        return fresh.Prefill(Ids).ToArray();
    }

    [Fact]
    public void Rewind_DropsAPendingToken()
    {
        using var lm = LanguageModel.Load(Stories);
        using var session = lm.CreateSession();
        var generated = session.Generate([1], new GenerationOptions { MaxTokens = 3, Sampling = SamplingOptions.Greedy }).ToArray();
        Assert.Equal(4, session.ConversationLength); // BOS, two run, one pending
        Assert.True(session.TryRewind(3));
        var got = session.Prefill([5]).ToArray();
        var expected = FreshLast(lm, [1, generated[0], generated[1], 5]);
        for (int i = 0; i < expected.Length; i++) Assert.Equal(expected[i], got[i], 1e-4f);
    }

    [Fact]
    public void FrequencyAndPresencePenalties_FollowOpenAIsFormula()
    {
        // logit[j] -= count[j] * frequency + (count[j] > 0) * presence (OpenAI's documented formula), over the window.
        var logits = new float[] { 5f, 4.9f, 4.8f, 0f };
        var sampler = new Sampler(SamplingOptions.Greedy with { FrequencyPenalty = 0.1f, PresencePenalty = 0.05f, PenaltyLastN = 3 }, 4);
        // history: id 0 thrice but only its last two fall in the window of 3; id 1 once.
        int next = sampler.Sample(logits, [0, 0, 1, 0]);
        Assert.Equal(5f - 2 * 0.1f - 0.05f, logits[0], 5);
        Assert.Equal(4.9f - 0.1f - 0.05f, logits[1], 5);
        Assert.Equal(4.8f, logits[2]);
        Assert.Equal(2, next);
    }

    [Fact]
    public async Task Embeddings_AreTheReferenceMeanHiddenState_L2Normalised()
    {
        var golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "stories260K_mean_hidden.json"))).RootElement;
        int[] ids = golden.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var mean = golden.GetProperty("mean_hidden").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        using var lm = LanguageModel.Load(Stories);
        // The golden ids are BOS + the first five golden greedy ids: their text encodes back to them.
        string text = lm.Tokenizer.Decode(ids);
        Assert.Equal(ids, lm.Tokenizer.Encode(text));
        using var generator = new LongLMEmbeddingGenerator(lm);
        var result = await generator.GenerateAsync([text, text + " more"]);
        Assert.Equal(2, result.Count);
        var vector = result[0].Vector.ToArray();
        Assert.Equal(lm.Config.HiddenSize, vector.Length);
        double norm = Math.Sqrt(mean.Sum(v => v * v));
        for (int i = 0; i < vector.Length; i++) Assert.Equal(mean[i] / norm, vector[i], 1e-4f);
        Assert.Equal(1.0, Math.Sqrt(vector.Sum(v => (double)v * v)), 5);
        Assert.Equal(ids.Length + lm.Tokenizer.Encode(text + " more").Length, result.Usage!.InputTokenCount);
        Assert.Equal(lm.Config.HiddenSize, generator.Metadata.DefaultModelDimensions);
        await Assert.ThrowsAsync<LongLMException>(() => generator.GenerateAsync(["x"], new() { Dimensions = 3 }));
    }

    [Fact]
    public void MeanHidden_DoesNotDependOnTheInternalChunk()
    {
        using var lm = LanguageModel.Load(Stories);
        var whole = new float[lm.Config.HiddenSize];
        var chunked = new float[lm.Config.HiddenSize];
        using (var s = lm.Model.CreateSequence()) lm.Model.ForwardHidden(Ids, s, whole);
        using (var s = lm.Model.CreateSequence())
        {
            s.PrefillChunk = 7;
            lm.Model.ForwardHidden(Ids, s, chunked);
        }
        for (int i = 0; i < whole.Length; i++) Assert.Equal(whole[i], chunked[i], 1e-4f);
    }
}
