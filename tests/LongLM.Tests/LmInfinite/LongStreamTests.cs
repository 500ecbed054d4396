using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Evaluation;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.LmInfinite;

/// <summary>LM-Infinite on the real stories260K model (trained length 512): positions, cache bounds, streaming scores.</summary>
public sealed class LongStreamTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    private static int[] Tokens(LanguageModel lm, int count)
    {
        var ids = lm.Tokenizer.Encode(File.ReadAllText(Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt")));
        return Enumerable.Range(0, count).Select(i => i < ids.Length ? ids[i] : ids[1 + (i - 1) % (ids.Length - 1)]).ToArray();
    }

    [Fact]
    public void VanillaLogits_AtPositionOffset1e9_EqualOffset0()
    {
        // RoPE depends on distances only; with pos * theta formed in float32 this fails badly past 2^24.
        using var lm = LanguageModel.Load(Stories);
        int[] ids = Tokens(lm, 24);
        int vocab = lm.Config.VocabSize;
        var atZero = new float[ids.Length * vocab];
        var atBillion = new float[ids.Length * vocab];
        using (var cache = lm.Model.CreateSequence()) lm.Model.Forward(ids, cache, atZero, LogitsRows.All);
        using (var cache = lm.Model.CreateSequence(1_000_000_000)) lm.Model.Forward(ids, cache, atBillion, LogitsRows.All);
        double max = atZero.Zip(atBillion, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(max <= 1e-4, $"max |diff| = {max}");
    }

    [Fact]
    public void Lambda_WithinTrainedLength_IsVanilla()
    {
        // 2.2: when i <= L - 1 the Lambda mask changes nothing.
        using var vanilla = LanguageModel.Load(Stories);
        using var lambda = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions());
        int[] ids = Tokens(vanilla, 300);
        Assert.Equal(vanilla.Logits(ids), lambda.Logits(ids));
    }

    [Fact]
    public void Lambda_CacheStaysBoundedOverLongStream()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 64, GlobalTokens = 4 });
        using var cache = lm.Model.CreateSequence();
        var logits = new float[lm.Config.VocabSize];
        int[] ids = Tokens(lm, 1200);
        long allocatedAfterWarmup = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            lm.Model.Forward(ids.AsSpan(i, 1), cache, logits, LogitsRows.Last);
            if (i == 300) allocatedAfterWarmup = cache.Cache.AllocatedFloats;
        }
        Assert.Equal(allocatedAfterWarmup, cache.Cache.AllocatedFloats);
        Assert.Equal(4, cache.Cache.FarCount);
        Assert.True(cache.Cache.LocalCount <= 2 * 64, $"local slots {cache.Cache.LocalCount}");
    }

    [Fact]
    public void Lambda_StreamedDecode_EqualsChunkedPrefill()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions { LocalWindow = 32, GlobalTokens = 3 });
        int[] ids = Tokens(lm, 100);
        float[] chunked = lm.Logits(ids, chunk: 17);
        int vocab = lm.Config.VocabSize;
        using var cache = lm.Model.CreateSequence();
        var row = new float[vocab];
        for (int i = 0; i < ids.Length; i++)
        {
            lm.Model.Forward(ids.AsSpan(i, 1), cache, row, LogitsRows.Last);
            for (int v = 0; v < vocab; v++)
                Assert.True(Math.Abs(chunked[i * vocab + v] - row[v]) <= 1e-4, $"position {i}, id {v}");
        }
    }

    [Theory]
    [InlineData(AttentionMode.Vanilla, 64)]
    [InlineData(AttentionMode.Lambda, 50)]
    [InlineData(AttentionMode.Truncate, 64)]
    public void Perplexity_EqualsNllFromIndependentForward(AttentionMode mode, int chunk)
    {
        // Per-token NLL recomputed here from logits of plain forwards (one per token for truncate).
        var options = mode == AttentionMode.Vanilla ? null : new LambdaAttentionOptions { Mode = mode, LocalWindow = 40, GlobalTokens = 2 };
        using var lm = LanguageModel.Load(Stories, "cpu", options);
        int[] ids = Tokens(lm, 130);
        var result = PerplexityEvaluator.Evaluate(lm.Model, p => ids[p], ids.Length, chunk);
        int vocab = lm.Config.VocabSize;
        double sum = 0;
        if (mode == AttentionMode.Truncate)
        {
            // Truncate means the model only ever sees the last L = 40 ids (positions from 0): calls of L - 1 = 39 ids,
            // each one's rows computed on the context [end - 40, end) by a plain vanilla forward; token p is scored by
            // row p - 1 of the call that ran token p - 1 (the last row of a call scores the next call's first token).
            using var vanilla = LanguageModel.Load(Stories);
            for (int start = 0; start < ids.Length; start += 39)
            {
                int end = Math.Min(ids.Length, start + 39), from = Math.Max(0, end - 40);
                float[] logits = vanilla.Logits(ids.AsSpan(from, end - from));
                for (int p = start + 1; p <= end && p < ids.Length; p++) sum += PerplexityEvaluator.NegativeLogLikelihood(logits.AsSpan((p - 1 - from) * vocab, vocab), ids[p]);
            }
        }
        else
        {
            float[] logits = lm.Logits(ids);
            for (int p = 1; p < ids.Length; p++) sum += PerplexityEvaluator.NegativeLogLikelihood(logits.AsSpan((p - 1) * vocab, vocab), ids[p]);
        }
        Assert.Equal(ids.Length - 1, result.Total.Count);
        Assert.Equal(sum / (ids.Length - 1), result.Total.Nll, 5);
    }

    /// <summary>
    /// A long stream's scoring allocates nothing per chunk on the calling thread (the model's forward allocates nothing
    /// either): 40 and 160 chunks of 512 tokens allocate the same fixed setup (the sequence, buffers, buckets; about 9 MB),
    /// measured within a few KB of each other, non-monotonic in the chunk count (a bucket more, the thread pool's own
    /// bookkeeping); the bound is 16 KB. Parallel.For, which the chunk scoring used before, allocated about 6.7 KB per
    /// chunk on the caller (805 KB here, measured on the old code), and over 200M tokens that garbage grew the peak working set from 67 to 118 MiB.
    /// </summary>
    [Fact]
    public void Perplexity_AllocatesNothingPerChunk()
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new LambdaAttentionOptions());
        int[] ids = Tokens(lm, 160 * 512);
        long Allocated(int tokens)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            PerplexityEvaluator.Evaluate(lm.Model, p => ids[p], tokens, 512);
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Allocated(40 * 512); // warm-up: first-call costs (JIT, the thread pool, per-thread scratch)
        long forty = Allocated(40 * 512), more = Allocated(160 * 512);
        Assert.True(more - forty < 16384, $"120 more chunks allocated {more - forty} bytes ({forty} for 40 chunks, {more} for 160)");
    }

    [Fact]
    public void Buckets_FollowTheDoublingEdges()
    {
        Assert.Equal(1, PerplexityEvaluator.BucketStart(1));
        Assert.Equal(1, PerplexityEvaluator.BucketStart(511));
        Assert.Equal(512, PerplexityEvaluator.BucketStart(512));
        Assert.Equal(1024, PerplexityEvaluator.BucketStart(2047));
        Assert.Equal(2048, PerplexityEvaluator.BucketStart(2048));
        Assert.Equal(1L << 20, PerplexityEvaluator.BucketStart(1_500_000));
    }

    [Fact]
    public void PplCli_Json_ReportsBucketsAndTotals()
    {
        var (exit, output, err) = Cli.CliRunner.Run("ppl", "--model", Stories, "--text", Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt"),
            "--max-tokens", "700", "--lm-infinite", "--local-window", "128", "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(output);
        var buckets = doc.RootElement.GetProperty("buckets").EnumerateArray().ToArray();
        Assert.Equal([1L, 512L], buckets.Select(b => b.GetProperty("start").GetInt64()));
        Assert.Equal(699, doc.RootElement.GetProperty("total").GetProperty("count").GetInt64());
        Assert.Equal(511, buckets[0].GetProperty("count").GetInt64());
        Assert.True(doc.RootElement.GetProperty("peak_working_set_bytes").GetInt64() > 0);
    }

    [Theory]
    [InlineData("--global-tokens", "5")]
    [InlineData("--attention", "sideways")]
    public void PplCli_BadAttentionFlags_AreOneLineErrors(string flag, string value)
    {
        var (exit, _, err) = Cli.CliRunner.Run("ppl", "--model", Stories, "--text", Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt"), flag, value);
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void PplCli_FileTooShortWithoutRepeat_SaysSo()
    {
        var (exit, _, err) = Cli.CliRunner.Run("ppl", "--model", Stories, "--text", Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt"), "--max-tokens", "100000");
        Assert.Equal(2, exit);
        Assert.Contains("--repeat", err);
    }
}
