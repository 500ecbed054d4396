using System.Text.Json;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.Models;

/// <summary>
/// The ALiBi families (MPT, BLOOM) on random-weight fixtures. Expected logits come from the independent NumPy float64
/// reference tools/reference/alibi_ref.py (HF modeling_mpt / modeling_bloom semantics; LM-Infinite's Lambda mask with
/// the efficient-path ALiBi clipping of algorithms.md 2.4), written by tools/reference/make_golden.sh from the same
/// fixtures (same family, shape, dtype and seed); 30 tokens, more than 3x the window L = 8.
/// </summary>
public sealed class AlibiModelTests : IDisposable
{
    private static readonly LambdaAttentionOptions Lambda = new() { LocalWindow = 8, GlobalTokens = 2 };
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();



    /// <summary>The fixture behind each golden file (the make_golden.sh lines).</summary>
    private string Fixture(string family, string shape = "tiny")
    {
        string dir = Path.Combine(_dir.Path, $"{family}-{shape}");
        if (Directory.Exists(dir)) return dir;
        var (dtype, seed) = (family, shape) switch
        {
            ("mpt", "tiny") => (DType.F32, 5UL),
            ("mpt", "tiny-bias") => (DType.F32, 6UL),
            _ => (DType.BF16, 9UL),
        };
        FixtureWriter.Write(family, FixtureShape.Find(family, shape), dtype, seed, dir);
        return dir;
    }

    private static float[] TokenByToken(LanguageModel lm, int[] ids)
    {
        int vocab = lm.Config.VocabSize;
        var logits = new float[ids.Length * vocab];
        using var cache = lm.Model.CreateSequence();
        for (int i = 0; i < ids.Length; i++)
            lm.Model.Forward(ids.AsSpan(i, 1), cache, logits.AsSpan(i * vocab, vocab), LogitsRows.Last);
        return logits;
    }

    [Theory]
    [InlineData("mpt", "tiny", "fixture_mpt-tiny_f32_seed5_logits.json")]
    [InlineData("mpt", "tiny-bias", "fixture_mpt-tiny-bias_f32_seed6_logits.json")]
    [InlineData("bloom", "tiny", "fixture_bloom-tiny_bf16_seed9_logits.json")]
    public void VanillaAlibi_MatchesNumPyReferenceWithin1e4_OneShotChunkedAndTokenByToken(string family, string shape, string golden)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(Fixture(family, shape));
        Assert.Equal(family, ModelRegistry.FamilyOf(lm.Config));
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 5), 1e-4, "chunks of 5");
        GoldenLogits.AssertWithin(expected, TokenByToken(lm, ids), 1e-4, "token by token");
    }

    [Theory]
    [InlineData("mpt", "fixture_mpt-tiny_f32_seed5_lambda8-2-8_logits.json")]
    [InlineData("bloom", "fixture_bloom-tiny_bf16_seed9_lambda8-2-8_logits.json")]
    public void LmInfinite_ClippedAlibi_MatchesNumPyReferenceWithin1e4_OneShotChunkedAndTokenByToken(string family, string golden)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(Fixture(family), "cpu", Lambda);
        Assert.Equal("lambda L=8 G=2 D=8", lm.Model.Policy.ToString());
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 5), 1e-4, "chunks of 5");
        GoldenLogits.AssertWithin(expected, TokenByToken(lm, ids), 1e-4, "token by token");
    }

    [Theory]
    [InlineData("mpt", "fixture_mpt-tiny_f32_seed5_logits.json", "fixture_mpt-tiny_f32_seed5_lambda8-2-8_logits.json")]
    [InlineData("bloom", "fixture_bloom-tiny_bf16_seed9_logits.json", "fixture_bloom-tiny_bf16_seed9_lambda8-2-8_logits.json")]
    public void LmInfinite_IsVanillaUpToRowL_AndDiffersAfter(string family, string vanillaGolden, string lambdaGolden)
    {
        // Rows 0..L-1 see no far token; row L sees token 0 at distance L = D, where the clipped bias -m*D is the true
        // one. From row L+1 on the clipping (and from L+2 the masked middle) change the logits. Expected: the two golden
        // files of alibi_ref.py (vanilla and --lambda 8,2,8); the runtime's Lambda-minus-vanilla difference must be the
        // reference's, row by row, so a runtime whose Lambda run silently fell back to vanilla (difference 0, while the
        // reference's is > 1e-3 on every row from 9 on) fails, and so does one that is Lambda everywhere.
        var (ids, v) = GoldenLogits.Read(vanillaGolden);
        var (lambdaIds, l) = GoldenLogits.Read(lambdaGolden);
        Assert.Equal(ids, lambdaIds);
        using var vanilla = LanguageModel.Load(Fixture(family));
        using var lambda = LanguageModel.Load(Fixture(family), "cpu", Lambda);
        int vocab = vanilla.Config.VocabSize, same = 9 * vocab;
        float[] a = vanilla.Logits(ids), b = lambda.Logits(ids);
        // Rows 0..L-1 agree to rounding: a prefill sums a far key's share of the output apart from the local keys'.
        for (int i = 0; i < same; i++) Assert.True(Math.Abs(a[i] - b[i]) <= 1e-5, $"logit {i} (row {i / vocab}): vanilla {a[i]}, Lambda {b[i]}");
        for (int row = 0; row < ids.Length; row++)
        {
            double runtime = Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs(a[i] - b[i]));
            double reference = Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs(v[i] - l[i]));
            double mismatch = Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs((b[i] - a[i]) - (l[i] - v[i])));
            Assert.True(mismatch <= 2e-4, $"row {row}: runtime Lambda - vanilla differs from the reference's by {mismatch}");
            if (row >= 9)
            {
                Assert.True(reference > 1e-3, $"row {row}: the reference's Lambda and vanilla differ by only {reference}");
                Assert.True(runtime > 1e-3, $"row {row}: runtime Lambda and vanilla differ by only {runtime}");
            }
        }
    }

    [Theory]
    [InlineData("mpt")]
    [InlineData("bloom")]
    public void LmInfinite_LongStream_BoundedCacheGivesOneShotLogits(string family)
    {
        // 200 tokens, 25x the window: token by token the local store is compacted to the last L-1 keys again and again,
        // and the far store keeps the G = 2 starting tokens; the numbers must not move.
        using var lm = LanguageModel.Load(Fixture(family), "cpu", Lambda);
        int vocab = lm.Config.VocabSize;
        int[] ids = Enumerable.Range(0, 200).Select(i => (i * 37 + 11) % vocab).ToArray();
        float[] oneShot = lm.Logits(ids);
        GoldenLogits.AssertWithin(oneShot, lm.Logits(ids, chunk: 7), 1e-5, "chunks of 7");

        var stepped = new float[ids.Length * vocab];
        using var cache = lm.Model.CreateSequence();
        long allocatedAfterWarmup = 0;
        for (int i = 0; i < ids.Length; i++)
        {
            lm.Model.Forward(ids.AsSpan(i, 1), cache, stepped.AsSpan(i * vocab, vocab), LogitsRows.Last);
            if (i == 100) allocatedAfterWarmup = cache.Cache.AllocatedFloats;
        }
        GoldenLogits.AssertWithin(oneShot, stepped, 1e-5, "token by token");
        Assert.Equal(allocatedAfterWarmup, cache.Cache.AllocatedFloats);
        Assert.Equal(2, cache.Cache.FarCount);
        // The local store was cut back to the last L-1 keys whenever it filled: the early tokens are gone from it.
        Assert.True(cache.Cache.LocalFirstPosition >= 100 && cache.Cache.LocalCount < 100, $"local slots [{cache.Cache.LocalFirstPosition}, +{cache.Cache.LocalCount})");
    }

    [Theory]
    [InlineData("mpt", null)]
    [InlineData("bloom", null)]
    [InlineData("mpt", 8)]
    [InlineData("bloom", 8)]
    public void Alibi_DependsOnDistanceOnly_PositionOffset1e9(string family, int? window)
    {
        // ALiBi biases are -m * min(i - j, cap): shifting every position by 10^9 must change nothing.
        using var lm = LanguageModel.Load(Fixture(family), "cpu", window is null ? null : Lambda);
        int vocab = lm.Config.VocabSize;
        int[] ids = Enumerable.Range(0, 24).Select(i => (i * 53 + 3) % vocab).ToArray();
        var atZero = new float[ids.Length * vocab];
        var atBillion = new float[ids.Length * vocab];
        using (var cache = lm.Model.CreateSequence()) lm.Model.Forward(ids, cache, atZero, LogitsRows.All);
        using (var cache = lm.Model.CreateSequence(1_000_000_000)) lm.Model.Forward(ids, cache, atBillion, LogitsRows.All);
        GoldenLogits.AssertWithin(atZero, atBillion, 1e-5);
    }

    [Fact]
    public void Bloom_CheckpointWithoutTransformerPrefix_LoadsAsHfDoes()
    {
        // bigscience's checkpoints were saved from BloomModel: "h.0.…", "word_embeddings.weight" without "transformer.".
        string prefixed = Fixture("bloom"), bare = Path.Combine(_dir.Path, "bloom-bare");
        Directory.CreateDirectory(bare);
        foreach (var f in Directory.GetFiles(prefixed).Where(f => !f.EndsWith(".safetensors")))
            File.Copy(f, Path.Combine(bare, Path.GetFileName(f)));
        using (var store = WeightStore.Open(prefixed))
        {
            var writer = new SafeTensorsWriter();
            foreach (var name in store.Names.Order(StringComparer.Ordinal))
            {
                var info = store.Info(name);
                writer.Add(name["transformer.".Length..], info.DType, info.Shape, store.View(name).ToFloat32());
            }
            writer.Write(Path.Combine(bare, WeightStore.SingleFile));
        }
        int[] ids = [5, 100, 257, 299, 12, 42];
        using var a = LanguageModel.Load(prefixed);
        using var b = LanguageModel.Load(bare);
        Assert.Equal(a.Logits(ids), b.Logits(ids));
    }

    [Theory]
    [InlineData("\"clip_qkv\": null", "\"clip_qkv\": 6", "attn_config.clip_qkv")]
    [InlineData("\"qk_ln\": false", "\"qk_ln\": true", "attn_config.qk_ln")]
    [InlineData("\"alibi\": true", "\"alibi\": false", "attn_config.alibi")]
    [InlineData("\"softmax_scale\": null", "\"softmax_scale\": 0.5", "attn_config.softmax_scale")]
    [InlineData("\"prefix_lm\": false", "\"prefix_lm\": true", "attn_config.prefix_lm")]
    [InlineData("\"attn_type\": \"multihead_attention\"", "\"attn_type\": \"grouped_query_attention\"", "attn_config.attn_type")]
    [InlineData("\"logit_scale\": null", "\"logit_scale\": \"inv_sqrt_d_model\"", "logit_scale")]
    [InlineData("\"norm_type\": \"low_precision_layernorm\"", "\"norm_type\": \"rmsnorm\"", "norm_type")]
    public void Mpt_UnsupportedOption_IsAConfigErrorNamingTheField(string from, string to, string field)
    {
        string dir = Fixture("mpt");
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        Assert.Contains(from, config);
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace(from, to));
        var e = Assert.Throws<ConfigException>(() => LanguageModel.Load(dir));
        Assert.Contains(field, e.Message);
        Assert.StartsWith("config.json:", e.Message);
    }

    [Fact]
    public void Mpt_DefaultSoftmaxScaleWrittenOut_IsAccepted()
    {
        // softmax_scale = 1/sqrt(head_dim) spelled out is the default, not a different model.
        string dir = Fixture("mpt");
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace("\"softmax_scale\": null", "\"softmax_scale\": 0.35355339059327373"));
        int[] ids = [5, 100, 257];
        using var lm = LanguageModel.Load(dir);
        var (_, expected) = GoldenLogits.Read("fixture_mpt-tiny_f32_seed5_logits.json");
        GoldenLogits.AssertWithin(expected[..(3 * 300)], lm.Logits(ids), 1e-4);
    }

    [Theory]
    [InlineData("mpt", AttentionMode.LambdaNoCeiling)]
    [InlineData("mpt", AttentionMode.CeilingOnly)]
    [InlineData("bloom", AttentionMode.LambdaNoCeiling)]
    [InlineData("bloom", AttentionMode.CeilingOnly)]
    public void Alibi_RopeOnlyModes_AreRefused(string family, AttentionMode mode)
    {
        var e = Assert.Throws<LongLMException>(() => LanguageModel.Load(Fixture(family), "cpu", Lambda with { Mode = mode }));
        Assert.Contains("RoPE models only", e.Message);
    }

    [Fact]
    public void Bloom_ResidualAfterLayerNorm_IsRefused()
    {
        string dir = Fixture("bloom");
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace("\"apply_residual_connection_post_layernorm\": false", "\"apply_residual_connection_post_layernorm\": true"));
        var e = Assert.Throws<ConfigException>(() => LanguageModel.Load(dir));
        Assert.Contains("apply_residual_connection_post_layernorm", e.Message);
    }

    [Fact]
    public void Fixture_ShapeOfAnotherFamily_IsAClearError()
    {
        var e = Assert.Throws<LongLMException>(() => FixtureWriter.Write("mpt", FixtureShape.Find("tiny"), DType.F32, 1, _dir.File("x")));
        Assert.Contains("llama shape", e.Message);
        Assert.Throws<LongLMException>(() => FixtureShape.Find("bloom", "tiny-tied"));
    }
}
