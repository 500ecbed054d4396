using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime;
using LongLM.Runtime.Attention;

namespace LongLM.Tests.Models;

/// <summary>
/// The golden fixtures (NumPy reference, tools/reference/make_golden.sh) through the ILGPU kernels on ILGPU's CPU
/// accelerator: Llama (biases, untied, BF16 tied), MPT and BLOOM, vanilla and LM-Infinite with clipped ALiBi.
/// </summary>
public sealed class IlgpuGoldenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData("llama", "tiny", DType.F32, 7UL, "fixture_tiny_f32_seed7_logits.json", false)]
    [InlineData("llama", "tiny-tied", DType.BF16, 11UL, "fixture_tiny-tied_bf16_seed11_logits.json", false)]
    [InlineData("mpt", "tiny", DType.F32, 5UL, "fixture_mpt-tiny_f32_seed5_logits.json", false)]
    [InlineData("mpt", "tiny", DType.F32, 5UL, "fixture_mpt-tiny_f32_seed5_lambda8-2-8_logits.json", true)]
    [InlineData("bloom", "tiny", DType.BF16, 9UL, "fixture_bloom-tiny_bf16_seed9_logits.json", false)]
    [InlineData("bloom", "tiny", DType.BF16, 9UL, "fixture_bloom-tiny_bf16_seed9_lambda8-2-8_logits.json", true)]
    public void Fixture_OnIlgpuCpu_MatchesNumPyReferenceWithin1e4(string family, string shape, DType dtype, ulong seed, string golden, bool lambda)
    {
        FixtureWriter.Write(family, FixtureShape.Find(family, shape), dtype, seed, _dir.Path);
        var (ids, expected) = GoldenLogits.Read(golden);
        var options = new ModelOptions { Attention = lambda ? new LambdaAttentionOptions { LocalWindow = 8, GlobalTokens = 2 } : null };
        using var lm = LanguageModel.Load(_dir.Path, "ilgpu-cpu", options);
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 7), 1e-4, "chunks of 7");
    }
}
