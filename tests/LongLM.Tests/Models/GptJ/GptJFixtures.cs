using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.Models.GptJ;

/// <summary>
/// The GPT-J golden files and the fixtures behind them (tools/reference/make_golden.sh, GPT-J block: gptj_ref.py on
/// `longlm make-fixture --family gptj --shape tiny`, F32 seed 13 and BF16 seed 14), and the call schedule of the
/// top-k golden: a prefill of 20 ids, then 10 one-token calls.
/// </summary>
internal static class GptJFixtures
{
    public const string F32 = "fixture_gptj-tiny_f32_seed13_logits.json";
    public const string F32Lambda = "fixture_gptj-tiny_f32_seed13_lambda8-2-8_logits.json";
    public const string F32TopK = "fixture_gptj-tiny_f32_seed13_lambda8-2-8_topk2-4-1_logits.json";
    public const string Bf16 = "fixture_gptj-tiny_bf16_seed14_logits.json";
    public const string Bf16Lambda = "fixture_gptj-tiny_bf16_seed14_lambda8-2-8_logits.json";

    /// <summary>LM-Infinite as in the golden files: L = D = 8, G = 2.</summary>
    public static readonly LambdaAttentionOptions Lambda = new() { LocalWindow = 8, GlobalTokens = 2 };

    /// <summary>Lambda plus top-k middle tokens: k = 2 at insert distance 4, from 0-based layer 1 (of 2).</summary>
    public static readonly LambdaAttentionOptions TopK = Lambda with { TopK = 2, TopKInsertAt = 4, TopKFromLayer = 1 };

    /// <summary>Prefill length of the top-k golden's schedule (the rest are one-token calls).</summary>
    public const int Prefill = 20;

    /// <summary>Writes the fixture of <paramref name="dtype"/> (F32: seed 13; BF16: seed 14) into <paramref name="dir"/>.</summary>
    public static string Write(string dir, DType dtype = DType.F32)
    {
        if (!Directory.Exists(dir) || !File.Exists(Path.Combine(dir, "config.json")))
            FixtureWriter.Write("gptj", FixtureShape.Find("gptj", "tiny"), dtype, dtype == DType.F32 ? 13UL : 14UL, dir);
        return dir;
    }

    /// <summary>Every row's logits, one token per call.</summary>
    public static float[] TokenByToken(LanguageModel lm, int[] ids)
    {
        int vocab = lm.Config.VocabSize;
        var logits = new float[ids.Length * vocab];
        using var sequence = lm.Model.CreateSequence();
        for (int i = 0; i < ids.Length; i++)
            lm.Model.Forward(ids.AsSpan(i, 1), sequence, logits.AsSpan(i * vocab, vocab), LogitsRows.Last);
        return logits;
    }

    /// <summary>The top-k golden's schedule: one call of the first <see cref="Prefill"/> ids (all rows, internally in chunks of <paramref name="chunk"/>), then one-token calls.</summary>
    public static float[] Scheduled(LanguageModel lm, int[] ids, int chunk = SequenceState.DefaultPrefillChunk)
    {
        int vocab = lm.Config.VocabSize;
        var logits = new float[ids.Length * vocab];
        using var sequence = lm.Model.CreateSequence();
        sequence.PrefillChunk = chunk;
        lm.Model.Forward(ids.AsSpan(0, Prefill), sequence, logits.AsSpan(0, Prefill * vocab), LogitsRows.All);
        for (int i = Prefill; i < ids.Length; i++)
            lm.Model.Forward(ids.AsSpan(i, 1), sequence, logits.AsSpan(i * vocab, vocab), LogitsRows.Last);
        return logits;
    }
}
