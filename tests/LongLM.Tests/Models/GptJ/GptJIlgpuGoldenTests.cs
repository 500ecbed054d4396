using LongLM.Kernels;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;

namespace LongLM.Tests.Models.GptJ;

/// <summary>
/// The GPT-J golden files (NumPy reference tools/reference/gptj_ref.py via make_golden.sh) through the ILGPU kernels
/// on ILGPU's CPU accelerator: vanilla and Lambda one shot and in chunks of 7, and the top-k call schedule.
/// </summary>
public sealed class GptJIlgpuGoldenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(DType.F32, GptJFixtures.F32, false)]
    [InlineData(DType.F32, GptJFixtures.F32Lambda, true)]
    [InlineData(DType.BF16, GptJFixtures.Bf16, false)]
    [InlineData(DType.BF16, GptJFixtures.Bf16Lambda, true)]
    public void Fixture_OnIlgpuCpu_MatchesNumPyReferenceWithin1e4(DType dtype, string golden, bool lambda)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(GptJFixtures.Write(_dir.Path, dtype), "ilgpu-cpu", new ModelOptions { Attention = lambda ? GptJFixtures.Lambda : null });
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 7), 1e-4, "chunks of 7");
    }

    [Fact]
    public void TopK_Schedule_OnIlgpuCpu_MatchesIncrementalNumPyReferenceWithin1e4()
    {
        var (ids, expected) = GoldenLogits.Read(GptJFixtures.F32TopK);
        using var lm = LanguageModel.Load(GptJFixtures.Write(_dir.Path), "ilgpu-cpu", new ModelOptions { Attention = GptJFixtures.TopK });
        GoldenLogits.AssertWithin(expected, GptJFixtures.Scheduled(lm, ids), 1e-4, "schedule");
        GoldenLogits.AssertWithin(expected, GptJFixtures.Scheduled(lm, ids, chunk: 7), 1e-4, "schedule, prefill chunk 7");
    }
}
