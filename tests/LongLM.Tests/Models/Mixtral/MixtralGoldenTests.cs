using LongLM.Models;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.Models.Mixtral;

/// <summary>
/// Mixtral (MixtralForCausalLM, 8 experts top-2) on the random-weight fixtures, on backends "cpu" and "ilgpu-cpu".
/// Expected logits come from the independent NumPy float64 reference tools/reference/mixtral_ref.py (HF
/// modeling_mixtral semantics; attention from rope_attention_ref.py; CLEX frequencies from clex_ref.py), written by
/// the Mixtral block of tools/reference/make_golden.sh from the same fixtures; 30 tokens, more than 3x the window
/// L = 8. Each file records its smallest top-2/top-3 router probability gap (at least 2e-4: no row sits on a tie).
/// </summary>
public sealed class MixtralGoldenTests : IDisposable
{
    private static readonly LambdaAttentionOptions Lambda = new() { LocalWindow = 8, GlobalTokens = 2 };
    private static readonly LambdaAttentionOptions TopK = Lambda with { TopK = 2, TopKInsertAt = 4, TopKFromLayer = 1 };
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] TokenByToken(LanguageModel lm, int[] ids, int prefill = 0)
    {
        int vocab = lm.Config.VocabSize;
        var logits = new float[ids.Length * vocab];
        using var sequence = lm.Model.CreateSequence();
        if (prefill > 0) lm.Model.Forward(ids.AsSpan(0, prefill), sequence, logits.AsSpan(0, prefill * vocab), LogitsRows.All);
        for (int i = prefill; i < ids.Length; i++)
            lm.Model.Forward(ids.AsSpan(i, 1), sequence, logits.AsSpan(i * vocab, vocab), LogitsRows.Last);
        return logits;
    }

    private static LambdaAttentionOptions? Options(string attention) => attention switch
    {
        "lambda" => Lambda,
        "topk" => TopK,
        _ => null,
    };

    [Theory]
    [InlineData("cpu", "tiny", "vanilla", "fixture_mixtral-tiny_f32_seed15_logits.json")]
    [InlineData("cpu", "tiny-window", "vanilla", "fixture_mixtral-tiny-window_f32_seed15_logits.json")]
    [InlineData("cpu", "tiny", "lambda", "fixture_mixtral-tiny_f32_seed15_lambda8-2-8_logits.json")]
    [InlineData("ilgpu-cpu", "tiny", "vanilla", "fixture_mixtral-tiny_f32_seed15_logits.json")]
    [InlineData("ilgpu-cpu", "tiny-window", "vanilla", "fixture_mixtral-tiny-window_f32_seed15_logits.json")]
    [InlineData("ilgpu-cpu", "tiny", "lambda", "fixture_mixtral-tiny_f32_seed15_lambda8-2-8_logits.json")]
    public void OneCall_MatchesNumPyReferenceWithin1e4_OneShotChunkedAndTokenByToken(string backend, string shape, string attention, string golden)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(MixtralFixtures.Write(_dir.Path, shape), backend, Options(attention));
        Assert.Equal("mixtral", ModelRegistry.FamilyOf(lm.Config));
        Assert.Equal(shape == "tiny-window" ? "window L=16" : attention == "lambda" ? "lambda L=8 G=2 D=8" : "vanilla", lm.Model.Policy.ToString());
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 5), 1e-4, "chunks of 5");
        if (backend == "cpu") GoldenLogits.AssertWithin(expected, TokenByToken(lm, ids), 1e-4, "token by token");
    }

    [Theory]
    [InlineData("cpu", 512)]
    [InlineData("cpu", 5)]
    [InlineData("ilgpu-cpu", 512)]
    [InlineData("ilgpu-cpu", 5)]
    public void TopK_PrefillThenDecode_MatchesIncrementalNumPyReferenceWithin1e4(string backend, int chunk)
    {
        // The reference's schedule: one call of the first 12 ids (top-k on its last row only, layers >= 1), then one
        // call per id; the prefill call may be chunked internally (chunk 5), which must change nothing.
        var (ids, expected) = GoldenLogits.Read("fixture_mixtral-tiny_f32_seed15_lambda8-2-8_topk2-4-1_prefill12_logits.json");
        using var lm = LanguageModel.Load(MixtralFixtures.Write(_dir.Path), backend, TopK);
        Assert.Equal("lambda L=8 G=2 D=8 top-k=2 at 4 layers>=1", lm.Model.Policy.ToString());
        int vocab = lm.Config.VocabSize;
        var logits = new float[ids.Length * vocab];
        using var sequence = lm.Model.CreateSequence();
        sequence.PrefillChunk = chunk;
        lm.Model.Forward(ids.AsSpan(0, 12), sequence, logits.AsSpan(0, 12 * vocab), LogitsRows.All);
        for (int i = 12; i < ids.Length; i++)
            lm.Model.Forward(ids.AsSpan(i, 1), sequence, logits.AsSpan(i * vocab, vocab), LogitsRows.Last);
        GoldenLogits.AssertWithin(expected, logits, 1e-4, $"prefill 12 (chunk {chunk}) then decode");
    }

    [Fact]
    public void Goldens_DifferWhereTheirRulesDiffer()
    {
        // The golden files themselves: Lambda equals vanilla up to row L-1 and differs after; top-k changes the decode
        // rows (it touches the last row of each call once K - L >= G + k); the window changes rows from 16 on.
        var (_, vanilla) = GoldenLogits.Read("fixture_mixtral-tiny_f32_seed15_logits.json");
        var (_, lambda) = GoldenLogits.Read("fixture_mixtral-tiny_f32_seed15_lambda8-2-8_logits.json");
        var (_, topK) = GoldenLogits.Read("fixture_mixtral-tiny_f32_seed15_lambda8-2-8_topk2-4-1_prefill12_logits.json");
        var (_, window) = GoldenLogits.Read("fixture_mixtral-tiny-window_f32_seed15_logits.json");
        const int vocab = 300;
        double RowDiff(float[] a, float[] b, int row) => Enumerable.Range(row * vocab, vocab).Max(i => Math.Abs(a[i] - b[i]));
        for (int row = 0; row < 30; row++)
        {
            Assert.True(row < 8 ? RowDiff(vanilla, lambda, row) < 2e-6 : row < 10 || RowDiff(vanilla, lambda, row) > 1e-3, $"lambda row {row}");
            Assert.True(row < 16 ? RowDiff(vanilla, window, row) < 2e-6 : RowDiff(vanilla, window, row) > 1e-4, $"window row {row}");
            if (row >= 12) Assert.True(RowDiff(lambda, topK, row) > 1e-4, $"top-k row {row}");
        }
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void ClexMixtral_OneCallAtT123_MatchesNumPyReferenceWithin1e4(string backend)
    {
        // One HF forward of S = 64, 65, 129 ids: every row at t = 1, 2, 3 (L_tr = 64, max_factor 8), the ODE's
        // time embedding on base 10000 although rope_theta is 1e6; expected rows from mixtral_ref.py --clex-single.
        var (ids, calls) = MixtralFixtures.ReadClex();
        using var lm = LanguageModel.Load(MixtralFixtures.WriteClex(_dir.Path), backend);
        Assert.Equal("clex", lm.Config.RopeScaling!.Type);
        Assert.Equal([1, 2, 3], calls.Select(c => c.T));
        int vocab = lm.Config.VocabSize;
        foreach (var call in calls)
        {
            var logits = lm.Logits(ids.AsSpan(0, call.S), chunk: backend == "cpu" ? 512 : 40);
            for (int k = 0; k < call.Rows.Length; k++)
                GoldenLogits.AssertWithin(call.Logits[k], logits.AsSpan(call.Rows[k] * vocab, vocab).ToArray(), 1e-4, $"S = {call.S}, row {call.Rows[k]}");
        }
    }
}
