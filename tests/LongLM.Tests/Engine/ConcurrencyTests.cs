using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Engine;

/// <summary>
/// One model, many independent sequences: sessions and Logits calls on several threads give exactly what the same
/// calls give one after another (the expected values are those sequential runs on the same model).
/// </summary>
public sealed class ConcurrencyTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    private static int[] Sample(LanguageModel lm, int seed)
    {
        using var session = lm.CreateSession();
        var options = new GenerationOptions { MaxTokens = 60, Sampling = new SamplingOptions { Temperature = 1f, Seed = seed } };
        return session.Generate(lm.Tokenizer.Encode("Once upon a time"), options).ToArray();
    }

    /// <summary>Runs body(t) on n threads released together; an exception on any thread fails the test (not the host).</summary>
    private static void RunOnThreads(int n, Action<int> body)
    {
        using var start = new Barrier(n);
        var errors = new Exception?[n];
        var threads = Enumerable.Range(0, n).Select(t => new Thread(() =>
        {
            start.SignalAndWait();
            try
            {
                body(t);
            }
            catch (Exception e)
            {
                errors[t] = e;
            }
        })).ToArray();
        foreach (var thread in threads) thread.Start();
        foreach (var thread in threads) thread.Join();
        if (errors.FirstOrDefault(e => e is not null) is { } error) throw new Xunit.Sdk.XunitException($"a thread failed: {error}");
    }

    [Fact]
    public void FourThreadsTimesThreeSeeds_EqualTheSequentialRuns()
    {
        using var lm = LanguageModel.Load(Stories);
        int[] seeds = [1, 2, 3];
        var sequential = seeds.Select(s => Sample(lm, s)).ToArray();
        Assert.True(sequential.Select(ids => string.Join(',', ids)).Distinct().Count() == 3, "the seeds must give different streams");

        var results = new int[4][][];
        RunOnThreads(4, t => results[t] = seeds.Select(s => Sample(lm, s)).ToArray());

        for (int t = 0; t < 4; t++)
            for (int s = 0; s < seeds.Length; s++)
                Assert.Equal(sequential[s], results[t][s]);
    }

    [Fact]
    public void ConcurrentLogits_EqualSequentialLogits()
    {
        using var lm = LanguageModel.Load(Stories);
        var prompts = Enumerable.Range(0, 4).Select(p => Enumerable.Range(0, 300 + 37 * p).Select(i => 3 + (i * 31 + p * 7) % 500).ToArray()).ToArray();
        var sequential = prompts.Select(p => lm.Logits(p, chunk: 16)).ToArray();
        // Four threads released together, ten calls each, every call in 16-token chunks so they interleave.
        var mismatches = new int[4];
        RunOnThreads(4, t =>
        {
            for (int i = 0; i < 10; i++)
            {
                int p = (t + i) % prompts.Length;
                if (!lm.Logits(prompts[p], chunk: 16).AsSpan().SequenceEqual(sequential[p])) mismatches[t]++;
            }
        });
        Assert.Equal(0, mismatches.Sum());
    }

    [Fact]
    public async Task OneSequence_RefusesASecondConcurrentCall()
    {
        using var lm = LanguageModel.Load(Stories);
        using var sequence = lm.Model.CreateSequence();
        var ids = Enumerable.Range(0, 4000).Select(i => 3 + i % 500).ToArray();
        var logits = new float[lm.Config.VocabSize];
        sequence.PrefillChunk = 64;
        var first = Task.Run(() => lm.Model.Forward(ids, sequence, logits, LogitsRows.Last));
        // Wait until the first call holds the sequence (it has run a chunk), then try a second call.
        SpinWait.SpinUntil(() => sequence.TokenCount > 0 || first.IsCompleted, TimeSpan.FromSeconds(30));
        Assert.False(first.IsCompleted, "the first call ended before the second could overlap it");
        var e = Assert.Throws<InvalidOperationException>(() => lm.Model.Forward([1], sequence, new float[lm.Config.VocabSize], LogitsRows.Last));
        Assert.Contains("one call at a time", e.Message);
        await first;
        Assert.Equal(4000, sequence.TokenCount);
    }

    [Fact]
    public void SessionsOnIlgpuCpu_OnTwoThreads_EqualSequentialRuns()
    {
        // The ILGPU backend serialises chunks (one stream, shared staging buffers): results must still be independent.
        using var lm = LanguageModel.Load(Stories, "ilgpu-cpu");
        int[] Greedy(int first)
        {
            using var session = lm.CreateSession();
            return session.Generate([1, first], new GenerationOptions { MaxTokens = 6, Sampling = SamplingOptions.Greedy }).ToArray();
        }
        var expected = new[] { Greedy(403), Greedy(407) };
        var actual = new int[2][];
        Parallel.For(0, 2, i => actual[i] = Greedy(i == 0 ? 403 : 407));
        Assert.Equal(expected[0], actual[0]);
        Assert.Equal(expected[1], actual[1]);
    }
}
