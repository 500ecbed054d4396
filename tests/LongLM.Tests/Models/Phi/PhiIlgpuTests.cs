using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Tests.Models.Phi;

/// <summary>
/// The Phi golden files (NumPy reference tools/reference/phi_ref.py, make_golden.sh's Phi block) through the ILGPU
/// kernels on ILGPU's CPU accelerator: vanilla, LM-Infinite (8, 2, 8), top-k as incremental calls, CLEX at t = 1, 2, 3.
/// </summary>
public sealed class PhiIlgpuTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Theory]
    [InlineData(PhiGolden.Vanilla, false)]
    [InlineData(PhiGolden.Lambda, true)]
    public void Logits_OnIlgpuCpu_MatchNumPyReferenceWithin1e4(string golden, bool lambda)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(PhiGolden.Fixture(_dir.File("phi")), "ilgpu-cpu", new ModelOptions { Attention = lambda ? PhiGolden.LambdaOptions : null });
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 7), 1e-4, "chunks of 7");
    }

    [Fact]
    public void TopK_OnIlgpuCpu_IncrementalCallsMatchNumPyReferenceWithin1e4()
    {
        var (ids, expected) = GoldenLogits.Read(PhiGolden.TopK);
        using var lm = LanguageModel.Load(PhiGolden.Fixture(_dir.File("phi")), "ilgpu-cpu", new ModelOptions { Attention = PhiGolden.TopKOptions });
        var calls = PhiGolden.Calls(PhiGolden.TopK);
        GoldenLogits.AssertWithin(expected, PhiGolden.RunCalls(lm, ids, calls), 1e-4, "one-shot prefill");
        GoldenLogits.AssertWithin(expected, PhiGolden.RunCalls(lm, ids, calls, prefillChunk: 7), 1e-4, "prefill in chunks of 7");
    }

    [Fact]
    public void Clex_OnIlgpuCpu_OneCallAtT123MatchesNumPyReferenceWithin1e4()
    {
        using var lm = LanguageModel.Load(PhiGolden.ClexFixture(_dir.File("phi-clex"), _dir.File("phi")), "ilgpu-cpu", new ModelOptions());
        foreach (var c in PhiGolden.ClexCases())
        {
            GoldenLogits.AssertWithin(c.Logits, PhiGolden.Rows(lm.Logits(c.Ids), c.Rows), 1e-4, $"S={c.S} one shot");
            GoldenLogits.AssertWithin(c.Logits, PhiGolden.Rows(lm.Logits(c.Ids, chunk: 7), c.Rows), 1e-4, $"S={c.S} chunks of 7");
        }
    }
}
