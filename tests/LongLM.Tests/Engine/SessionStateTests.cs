using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;
using Xunit.Abstractions;

namespace LongLM.Tests.Engine;

/// <summary>
/// What a session keeps while it runs: bounded history under a bounded policy, no allocation per decoded token,
/// cancellation between prefill chunks, the truncate baseline, the past-the-context warning, re-rotation counts.
/// </summary>
public sealed class SessionStateTests(ITestOutputHelper output)
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    [Fact]
    public void LambdaSession_HistoryAndCacheStayBounded_OverALongStream()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var session = lm.CreateSession();
        var ids = Enumerable.Range(0, 3000).Select(i => 3 + i * 7 % 500).ToArray();
        session.Prefill(ids, chunk: 100);
        long bytes = session.Sequence.AllocatedBytes;
        session.Prefill(ids, chunk: 100);
        Assert.Equal(6000, session.History.Total);
        Assert.Equal(64, session.History.Count);
        Assert.Equal(ids[^64..], session.History.ToArray());
        Assert.Equal(bytes, session.Sequence.AllocatedBytes);
    }

    [Fact]
    public void GreedyDecode_AllocatesNothingPerToken_InSteadyState()
    {
        // Lambda with a 64-token window: the cache reaches its final size during warm-up (a vanilla cache keeps
        // doubling, which is the cache itself growing, not the hot path).
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var session = lm.CreateSession();
        var options = new GenerationOptions { MaxTokens = 1000, Sampling = SamplingOptions.Greedy, StopIds = new HashSet<int>() };
        using var tokens = session.Generate([1], options).GetEnumerator();
        for (int i = 0; i < 300; i++) Assert.True(tokens.MoveNext()); // warm-up: buffers reach their size (the window moves twice), JIT tiers up
        long before = GC.GetAllocatedBytesForCurrentThread();
        const int Steps = 200;
        for (int i = 0; i < Steps; i++) Assert.True(tokens.MoveNext());
        double perToken = (GC.GetAllocatedBytesForCurrentThread() - before) / (double)Steps;
        output.WriteLine($"{perToken:F1} bytes allocated per decoded token on the calling thread");
        // Generous bound: a per-token array of the vocabulary (2 KB) or of the cache would exceed it.
        Assert.True(perToken < 64, $"{perToken:F0} bytes per token");
    }

    [Fact]
    public void SampledDecode_AllocatesNothingPerToken_InSteadyState()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var session = lm.CreateSession();
        var options = new GenerationOptions
        {
            MaxTokens = 1000, StopIds = new HashSet<int>(),
            Sampling = new SamplingOptions { Temperature = 0.9f, TopK = 40, TopP = 0.95f, RepetitionPenalty = 1.1f, Seed = 4 },
        };
        using var tokens = session.Generate([1], options).GetEnumerator();
        for (int i = 0; i < 300; i++) Assert.True(tokens.MoveNext());
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 200; i++) Assert.True(tokens.MoveNext());
        double perToken = (GC.GetAllocatedBytesForCurrentThread() - before) / 200.0;
        output.WriteLine($"{perToken:F1} bytes allocated per sampled token on the calling thread");
        Assert.True(perToken < 64, $"{perToken:F0} bytes per token");
    }

    [Fact]
    public async Task Prefill_HonoursCancellation_BetweenChunks_AndDoesNotBlockTheCaller()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions());
        using var session = lm.CreateSession();
        string prompt = string.Concat(Enumerable.Repeat(File.ReadAllText(Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt")), 20));
        int promptTokens = lm.Tokenizer.Encode(prompt).Length;
        Assert.True(promptTokens > 20000, $"{promptTokens} tokens");
        using var cts = new CancellationTokenSource();
        await using var stream = session.GenerateTextAsync(prompt, new GenerationOptions { MaxTokens = 5, PrefillChunk = 256 }, cts.Token).GetAsyncEnumerator(cts.Token);
        var first = stream.MoveNextAsync();
        // The model runs on the pool: the caller gets control back while the prefill is still running.
        Assert.False(first.IsCompleted, "GenerateTextAsync ran the prefill on the caller's thread");
        await Task.Delay(200);
        cts.Cancel();
        var stopped = first.AsTask();
        // Hang guard only (not a speed target): a cancel must stop the prefill at its next chunk boundary.
        Assert.Same(stopped, await Task.WhenAny(stopped, Task.Delay(TimeSpan.FromSeconds(20))));
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => stopped);
        Assert.True(session.Cache.TokenCount < promptTokens, $"the whole prompt ran ({session.Cache.TokenCount} tokens) before the cancel was seen");
        Assert.Equal(session.Cache.TokenCount, session.History.Total);
    }

    [Fact]
    public void FollowUpPrompt_GetsNoBosMidConversation()
    {
        using var lm = LanguageModel.Load(Stories);
        using var session = lm.CreateSession();
        var options = new GenerationOptions { MaxTokens = 3, Sampling = SamplingOptions.Greedy };
        _ = session.GenerateTextAsync("Once upon a time", options).ToBlockingEnumerable().ToList();
        long before = session.History.Total;
        _ = session.GenerateTextAsync(" Lily", options).ToBlockingEnumerable().ToList();
        var added = session.History.Skip((int)before).ToList();
        Assert.DoesNotContain(lm.Tokenizer.BosId!.Value, added);
        Assert.Equal(lm.Tokenizer.BosId!.Value, session.History[0]);
    }

    [Fact]
    public void TruncateSession_EachStepSeesTheLastLTokens()
    {
        // Reference: the truncate baseline by definition, each next token the argmax of a plain vanilla forward on
        // the last L = 16 tokens from position 0 (LanguageModel.Logits on a vanilla model).
        const int L = 16;
        using var vanilla = LanguageModel.Load(Stories);
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { Mode = AttentionMode.Truncate, LocalWindow = L });
        using var session = lm.CreateSession();
        var context = lm.Tokenizer.Encode("Once upon a time, there was a little girl named Lily who loved to play").ToList();
        Assert.True(context.Count > L);
        var generated = session.Generate(context, new GenerationOptions { MaxTokens = 12, Sampling = SamplingOptions.Greedy, StopIds = new HashSet<int>() }).ToArray();
        var expected = new List<int>();
        for (int step = 0; step < 12; step++)
        {
            var window = context.Skip(Math.Max(0, context.Count - L)).ToArray();
            float[] logits = vanilla.Logits(window);
            int next = Sampler.ArgMax(logits.AsSpan((window.Length - 1) * 512, 512));
            expected.Add(next);
            context.Add(next);
        }
        Assert.Equal(expected, generated);
        Assert.True(session.Cache.TokenCount <= L);
    }

    [Fact]
    public void TruncateLogits_MoreThanLIds_IsAClearError()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { Mode = AttentionMode.Truncate, LocalWindow = 16 });
        var e = Assert.Throws<LongLMException>(() => lm.Logits(Enumerable.Range(3, 20).ToArray()));
        Assert.Contains("last L = 16", e.Message);
    }

    [Fact]
    public void VanillaPastTheTrainedLength_WarnsOnce_PointingToLmInfinite()
    {
        using var lm = LanguageModel.Load(Stories);
        var warnings = new List<string>();
        lm.Model.Warning += warnings.Add;
        lm.Logits(Enumerable.Range(0, 512).Select(i => 3 + i % 500).ToArray());
        Assert.Empty(warnings);
        lm.Logits(Enumerable.Range(0, 513).Select(i => 3 + i % 500).ToArray());
        lm.Logits(Enumerable.Range(0, 600).Select(i => 3 + i % 500).ToArray());
        Assert.Single(warnings);
        Assert.Contains("--lm-infinite", warnings[0]);
        Assert.Contains("512", warnings[0]);
        Assert.Equal(warnings[0], lm.Model.LastWarning);

        using var lambda = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions());
        lambda.Logits(Enumerable.Range(0, 600).Select(i => 3 + i % 500).ToArray());
        Assert.Null(lambda.Model.LastWarning);
    }

    [Fact]
    public void VanillaPastTheTrainedLength_CliWarnsOnceOnStderr()
    {
        var (exit, _, err) = Cli.CliRunner.Run("generate", "--model", Stories, "--prompt", string.Concat(Enumerable.Repeat("Lily and Tom play. ", 100)),
            "--max-tokens", "20", "--temperature", "0");
        Assert.Equal(0, exit);
        var lines = err.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines, l => l.Contains("--lm-infinite"));
    }

    [Fact]
    public void DynamicNtk_DecodePastTheTrainedLength_NeverReRotatesTheCache()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new ModelOptions { RopeScaling = "dynamic:4" });
        using var session = lm.CreateSession();
        session.Prefill(Enumerable.Range(0, 500).Select(i => 3 + i % 500).ToArray());
        var ids = session.Generate([5], new GenerationOptions { MaxTokens = 60, Sampling = SamplingOptions.Greedy, StopIds = new HashSet<int>() }).ToArray();
        Assert.Equal(60, ids.Length);
        Assert.True(session.Cache.TokenCount > 512);
        Assert.Equal(0, session.Cache.ReRotations);
        Assert.Null(session.Cache.RawLocalKeys(0));
    }
}
