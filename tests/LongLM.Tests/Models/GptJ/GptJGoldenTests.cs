using LongLM.Kernels;
using LongLM.Kernels.Ops;
using LongLM.Models;
using LongLM.Models.GptJ;

namespace LongLM.Tests.Models.GptJ;

/// <summary>
/// GPT-J (GPTJForCausalLM) on the tiny random-weight fixtures, backend "cpu". Expected logits come from the independent
/// NumPy float64 reference tools/reference/gptj_ref.py (HF modeling_gptj semantics, attention from
/// rope_attention_ref.py), written by tools/reference/make_golden.sh from the same fixtures; 30 tokens, more than 3x
/// the window L = 8. Partial rotary (8 of 16 head dims), interleaved pairs, parallel residual and the head bias all
/// change these logits, so each is pinned by them.
/// </summary>
public sealed class GptJGoldenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture(DType dtype) => GptJFixtures.Write(_dir.File(dtype.ToString()), dtype);

    [Theory]
    [InlineData(DType.F32, GptJFixtures.F32, false)]
    [InlineData(DType.BF16, GptJFixtures.Bf16, false)]
    [InlineData(DType.F32, GptJFixtures.F32Lambda, true)]
    [InlineData(DType.BF16, GptJFixtures.Bf16Lambda, true)]
    public void Logits_MatchNumPyReferenceWithin1e4_OneShotChunkedAndTokenByToken(DType dtype, string golden, bool lambda)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(Fixture(dtype), "cpu", lambda ? GptJFixtures.Lambda : null);
        Assert.Equal("gptj", ModelRegistry.FamilyOf(lm.Config));
        if (lambda) Assert.Equal("lambda L=8 G=2 D=8", lm.Model.Policy.ToString());
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 5), 1e-4, "chunks of 5");
        GoldenLogits.AssertWithin(expected, GptJFixtures.TokenByToken(lm, ids), 1e-4, "token by token");
    }

    [Theory]
    [InlineData(512)]
    [InlineData(5)]
    public void TopK_PrefillThenOneTokenCalls_MatchIncrementalNumPyReferenceWithin1e4(int chunk)
    {
        // The golden is gptj_ref.py's incremental mode over the same schedule (--calls 20,1,...,1): top-k re-admits
        // k = 2 middle keys on the last row of each call in layer 1. A prefill split in chunks of 5 is still one call.
        var (ids, expected) = GoldenLogits.Read(GptJFixtures.F32TopK);
        using var lm = LanguageModel.Load(Fixture(DType.F32), "cpu", GptJFixtures.TopK);
        GoldenLogits.AssertWithin(expected, GptJFixtures.Scheduled(lm, ids, chunk), 1e-4, $"schedule, prefill chunk {chunk}");
    }

    [Fact]
    public void TopK_ChangesEachCallsLastRow_AgainstLambdaGolden()
    {
        // Both expected files are the reference's: top-k leaves rows 0..18 as plain Lambda and moves rows 19..29 (the
        // last row of each call) by more than 0.1, so a runtime that ignored top-k would fail the test above.
        var (_, lambda) = GoldenLogits.Read(GptJFixtures.F32Lambda);
        var (_, topK) = GoldenLogits.Read(GptJFixtures.F32TopK);
        const int vocab = 300;
        for (int row = 0; row < 30; row++)
        {
            double diff = Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs(lambda[i] - topK[i]));
            if (row < GptJFixtures.Prefill - 1) Assert.True(diff <= 1e-6, $"row {row}: {diff}");
            else Assert.True(diff > 0.1, $"row {row}: {diff}");
        }
    }

    [Fact]
    public void Lambda_IsVanillaUpToRowL_AndDiffersAfter()
    {
        // Rows 0..8 see no key beyond distance L - 1 = 7 except row 8's key 0 at distance 8 = D, where the stationary
        // logit is the true one; from row 9 on the reference's Lambda and vanilla differ, and so must the runtime's.
        var (ids, _) = GoldenLogits.Read(GptJFixtures.F32);
        using var vanilla = LanguageModel.Load(Fixture(DType.F32));
        using var lambda = LanguageModel.Load(Fixture(DType.F32), "cpu", GptJFixtures.Lambda);
        float[] a = vanilla.Logits(ids), b = lambda.Logits(ids);
        const int vocab = 300;
        GoldenLogits.AssertWithin(a[..(9 * vocab)], b[..(9 * vocab)], 1e-5, "rows 0..8");
        for (int row = 9; row < ids.Length; row++)
            Assert.True(Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs(a[i] - b[i])) > 1e-3, $"row {row}");
    }

    [Fact]
    public void Rotary_IsInterleavedOverRotaryDim_Vector71()
    {
        // The model's own rotary setup: rotary_dim 8 of head_dim 16, inv_freq 1/10000^(2k/8), interleaved pairs. The
        // expected head is rope_attention_ref.rotate(x = 1..16, pos 3, rotary_dim 8, 'interleaved'); its first pair
        // is algorithms.md 7.1's interleaved [-1.2722325, -1.838865] (angle 3 on (1, 2)), dims 8..15 pass through.
        // Half-split would give [-1.6955925, 0.13755174, ...].
        using var lm = LanguageModel.Load(Fixture(DType.F32));
        var rotary = Assert.IsType<GptJModel>(lm.Model).Rotary;
        Assert.Equal(RopePairing.Interleaved, rotary.Pairing);
        Assert.Equal(8, rotary.RotaryDim);
        var inv = rotary.Scaling.Compute(30).InverseFrequencies;
        Assert.Equal(4, inv.Length);
        for (int k = 0; k < 4; k++) Assert.Equal(Math.Pow(10000, -2.0 * k / 8), inv[k], 12);

        var b = lm.Model.Backend;
        var cosSin = new float[8];
        Rope.CosSin(3, inv, cosSin);
        using var x = b.Allocate(16);
        using var table = b.Allocate(8);
        b.Upload(Enumerable.Range(1, 16).Select(i => (float)i).ToArray(), x);
        b.Upload(cosSin, table);
        b.Rope(x, table, 1, 1, 16, rotary.RotaryDim, rotary.Pairing);
        var result = new float[16];
        b.Download(x, result);
        double[] expected = [-1.2722325, -1.838865, 1.6839286, 4.7079066, 4.8177772, 6.1472777, 6.9759685, 8.020964, 9, 10, 11, 12, 13, 14, 15, 16];
        for (int c = 0; c < 16; c++) Assert.True(Math.Abs(expected[c] - result[c]) <= 1e-5, $"[{c}] {result[c]} vs {expected[c]}");
    }
}
