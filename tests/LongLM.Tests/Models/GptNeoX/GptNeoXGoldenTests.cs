using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Attention;

namespace LongLM.Tests.Models.GptNeoX;

/// <summary>
/// GPT-NeoX on random-weight fixtures against golden logits from the independent NumPy float64 reference
/// tools/reference/gpt_neox_ref.py (HF modeling_gpt_neox semantics: per-head query_key_value, half-split rotary on the
/// first int(16 * 0.25) = 4 dims, parallel or sequential residual; attention by tools/reference/rope_attention_ref.py),
/// written by tools/reference/make_golden.sh from the same fixtures. 30 tokens, more than 3x the window L = 8:
/// vanilla, LM-Infinite Lambda (8, 2, 8), and top-k (k = 2, insert_at 4, layers >= 1) over the reference's call
/// schedule (a prefill of 20, then one-token calls). Backend "cpu" and ILGPU's CPU accelerator; tolerance 1e-4.
/// </summary>
public sealed class GptNeoXGoldenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture(string shape)
    {
        string dir = Path.Combine(_dir.Path, shape);
        return Directory.Exists(dir) ? dir : GptNeoXFixtures.Write(shape, dir);
    }

    [Theory]
    [InlineData("tiny", false)]
    [InlineData("tiny", true)]
    [InlineData("tiny-seq", false)]
    [InlineData("tiny-seq", true)]
    public void VanillaAndLambda_Cpu_MatchNumPyReference_OneShotChunkedAndTokenByToken(string shape, bool lambda)
    {
        string golden = GptNeoXFixtures.Base(shape) + (lambda ? "_lambda8-2-8" : "") + "_logits.json";
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(Fixture(shape), "cpu", lambda ? GptNeoXFixtures.Lambda : null);
        Assert.Equal("gpt-neox", ModelRegistry.FamilyOf(lm.Config));
        Assert.Equal(4, lm.Config.RotaryDim);
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 5), 1e-4, "chunks of 5");
        GoldenLogits.AssertWithin(expected, GptNeoXFixtures.TokenByToken(lm, ids), 1e-4, "token by token");
    }

    [Theory]
    [InlineData("tiny")]
    [InlineData("tiny-seq")]
    public void TopK_Cpu_MatchesNumPyReference_OverItsCallSchedule(string shape)
    {
        string golden = GptNeoXFixtures.Base(shape) + "_lambda8-2-8_topk2-4-1_logits.json";
        var (ids, expected) = GoldenLogits.Read(golden);
        int[] schedule = GptNeoXFixtures.Schedule(golden);
        using var lm = LanguageModel.Load(Fixture(shape), "cpu", GptNeoXFixtures.TopK);
        GoldenLogits.AssertWithin(expected, GptNeoXFixtures.Calls(lm, ids, schedule), 1e-4, "prefill 20 then one-token calls");
        GoldenLogits.AssertWithin(expected, GptNeoXFixtures.Calls(lm, ids, schedule, chunk: 5), 1e-4, "prefill in chunks of 5");
    }

    [Theory]
    [InlineData("tiny", "vanilla")]
    [InlineData("tiny", "lambda")]
    [InlineData("tiny", "topk")]
    [InlineData("tiny-seq", "vanilla")]
    [InlineData("tiny-seq", "lambda")]
    [InlineData("tiny-seq", "topk")]
    public void Goldens_IlgpuCpu_MatchNumPyReference_OneShotAndChunked(string shape, string mode)
    {
        string golden = GptNeoXFixtures.Base(shape) + mode switch
        {
            "vanilla" => "_logits.json",
            "lambda" => "_lambda8-2-8_logits.json",
            _ => "_lambda8-2-8_topk2-4-1_logits.json",
        };
        var (ids, expected) = GoldenLogits.Read(golden);
        var attention = mode switch { "vanilla" => null, "lambda" => GptNeoXFixtures.Lambda, _ => GptNeoXFixtures.TopK };
        using var lm = LanguageModel.Load(Fixture(shape), "ilgpu-cpu", new ModelOptions { Attention = attention });
        int[] schedule = GptNeoXFixtures.Schedule(golden);
        GoldenLogits.AssertWithin(expected, GptNeoXFixtures.Calls(lm, ids, schedule), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, GptNeoXFixtures.Calls(lm, ids, schedule, chunk: 7), 1e-4, "chunks of 7");
    }

    [Fact]
    public void TopK_ChangesOnlyTheLastRowOfEachCall_AsTheReference()
    {
        // The top-k golden equals the Lambda golden on the prefill's rows 0..18 (same as the reference: top-k touches
        // only the last row of a call) and differs from row 19 on, so the top-k tests above check something Lambda alone would not pass.
        string b = GptNeoXFixtures.Base("tiny");
        var (ids, lambda) = GoldenLogits.Read(b + "_lambda8-2-8_logits.json");
        var (_, topk) = GoldenLogits.Read(b + "_lambda8-2-8_topk2-4-1_logits.json");
        const int vocab = 300;
        Assert.Equal(lambda[..(19 * vocab)], topk[..(19 * vocab)]);
        for (int row = 19; row < ids.Length; row++)
            Assert.True(Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs(lambda[i] - topk[i])) > 1e-2, $"row {row}");
    }
}
