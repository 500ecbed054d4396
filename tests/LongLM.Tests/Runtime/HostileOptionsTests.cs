using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Config;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Runtime;

/// <summary>
/// Run options are input too: a huge number must be one LongLMException at validation, never a stack overflow, an
/// arithmetic overflow deep in a cache, or an allocation sized by the number.
/// </summary>
public sealed class HostileOptionsTests
{
    private static readonly ModelConfig Config = ModelConfig.Load(ModelFolderCopy.Stories260K);

    [Fact]
    public void TopKMiddle_AboveTheKernelLimit_IsRefusedAtValidation()
    {
        // 1e9 middle tokens: the CPU kernel stack-allocated K entries per head, the CUDA kernel has room for 64
        // (TopKShape.MaxK); before, the run died with an OverflowException sizing the buffers (exit 1).
        var options = new LambdaAttentionOptions { TopK = 1_000_000_000 };
        var e = Assert.Throws<LongLMException>(() => options.Resolve(Config));
        Assert.Contains("top-k middle tokens must lie in [0, 64]", e.Message);
        Assert.Contains("1000000000", e.Message);
        Assert.Equal(64, (options with { TopK = 64 }).Resolve(Config).TopK);
    }

    [Fact]
    public void GlobalTokens_Huge_IsRefusedAtValidation()
    {
        // G = 2e9: the far store allocates G slots per layer up front (OverflowException before, exit 1).
        var e = Assert.Throws<LongLMException>(() => new LambdaAttentionOptions { GlobalTokens = 2_000_000_000 }.Resolve(Config));
        Assert.Contains("global tokens G must be at most 65536", e.Message);
    }

    [Fact]
    public void TopKKernel_KAboveTheLimit_IsAnArgumentError_NotAStackOverflow()
    {
        // Direct kernel callers bypass the options: the kernel itself refuses before its stackalloc.
        var shape = new TopKShape(Heads: 1, KvHeads: 1, HeadDim: 2, Scale: 1, Begin: 0, End: 1, K: 1_000_000_000);
        Assert.Throws<ArgumentOutOfRangeException>(() =>
            LongLM.Kernels.Ops.TopK.Head([1f, 0f], [1f, 0f], [1f, 0f], shape, 0, new float[1], new float[2]));
    }

    [Fact]
    public void SamplingTopK_Huge_KeepsEveryToken()
    {
        // Pin (passed before too): a top-k beyond the vocabulary is clamped to it, so int.MaxValue draws exactly what
        // top-k off (0) draws with the same seed, without sizing anything by K.
        float[] logits = [1.0f, 3.0f, 2.5f, -1f, 3.0f, 0.5f];
        int[] Draw(int topK)
        {
            var sampler = new Sampler(new SamplingOptions { Temperature = 1, TopK = topK, TopP = 1, MinP = 0, Seed = 7 });
            return Enumerable.Range(0, 40).Select(_ => sampler.Sample((float[])logits.Clone(), [])).ToArray();
        }
        Assert.Equal(Draw(0), Draw(int.MaxValue));
    }

    [Fact]
    public void RopeScalingOnAnAlibiFamily_IsRefusedByTheLibrary()
    {
        // The library, not only the CLI, refuses what it cannot honour (an MPT fixture from the fixture writer).
        using var dir = new TempDirectory();
        LongLM.Models.Fixtures.FixtureWriter.Write("mpt", LongLM.Models.Fixtures.FixtureShape.Find("mpt", "tiny"), DType.F32, 1, dir.Path);
        var e = Assert.Throws<LongLMException>(() => LongLM.Models.LanguageModel.Load(dir.Path, "cpu", new ModelOptions { RopeScaling = "dynamic:2" }));
        Assert.Contains("--rope-scaling dynamic:2 does not apply to mpt models", e.Message);
    }
}
