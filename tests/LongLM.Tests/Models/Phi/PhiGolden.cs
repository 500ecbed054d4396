using System.Text.Json;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.Models.Phi;

/// <summary>
/// The Phi fixtures behind the golden files and readers for them. Fixtures (make_golden.sh's Phi block):
/// `longlm make-fixture --family phi --shape tiny --dtype f32 --seed 13` (head_dim 16, 8 rotary dims, GQA 2:1, biases
/// everywhere, L_tr = 64) and `--family phi-clex --base that --seed 3` (d = 8, max_factor 8, tanh). Expected values:
/// tools/reference/phi_ref.py (NumPy float64, attention from rope_attention_ref.py, CLEX frequencies from clex_ref.py).
/// </summary>
internal static class PhiGolden
{
    public const ulong Seed = 13, ClexSeed = 3;
    public const int Vocab = 300;
    public const string Vanilla = "fixture_phi-tiny_f32_seed13_logits.json";
    public const string Lambda = "fixture_phi-tiny_f32_seed13_lambda8-2-8_logits.json";
    public const string TopK = "fixture_phi-tiny_f32_seed13_lambda8-2-8_topk2-4-1_logits.json";
    public const string Clex = "fixture_phi-clex-tiny_seed13-3_onecall.json";

    /// <summary>L = D = 8, G = 2, as the golden files.</summary>
    public static LambdaAttentionOptions LambdaOptions { get; } = new() { LocalWindow = 8, GlobalTokens = 2, DistanceLimit = 8 };

    /// <summary>Lambda plus top-k: k = 2 middle tokens at distance 4 from layer 1 (the second of two).</summary>
    public static LambdaAttentionOptions TopKOptions { get; } = LambdaOptions with { TopK = 2, TopKInsertAt = 4, TopKFromLayer = 1 };

    /// <summary>The phi tiny fixture in <paramref name="dir"/> (written once).</summary>
    public static string Fixture(string dir)
    {
        if (!Directory.Exists(dir)) FixtureWriter.Write("phi", FixtureShape.Find("phi", "tiny"), DType.F32, Seed, dir);
        return dir;
    }

    /// <summary>The phi-clex fixture in <paramref name="dir"/>, made from the phi tiny fixture in <paramref name="baseDir"/>.</summary>
    public static string ClexFixture(string dir, string baseDir)
    {
        if (!Directory.Exists(dir)) FixtureWriter.WriteClex(Fixture(baseDir), ClexSeed, dir, clexFamily: "phi-clex");
        return dir;
    }

    /// <summary>The incremental call schedule of the top-k golden ("calls": a prefill, then one-token calls).</summary>
    public static int[] Calls(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", name)));
        return doc.RootElement.GetProperty("calls").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    /// <summary>One case of the CLEX one-call golden: ONE forward of the first S ids, rows kept, their logits.</summary>
    public sealed record ClexCase(int S, int T, int[] Ids, int[] Rows, float[] Logits);

    public static ClexCase[] ClexCases()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", Clex)));
        var ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        return doc.RootElement.GetProperty("cases").EnumerateArray().Select(c =>
        {
            int s = c.GetProperty("S").GetInt32();
            return new ClexCase(s, c.GetProperty("t").GetInt32(), ids[..s],
                c.GetProperty("rows").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
                c.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray());
        }).ToArray();
    }

    /// <summary>The kept rows of a [S, vocab] logits array, flattened.</summary>
    public static float[] Rows(float[] logits, int[] rows) =>
        rows.SelectMany(r => logits.AsSpan(r * Vocab, Vocab).ToArray()).ToArray();

    /// <summary>
    /// Runs <paramref name="ids"/> as the golden's consecutive calls on one sequence (the first call returning all its
    /// rows, internally chunked by <paramref name="prefillChunk"/>; the others one token each) and concatenates the rows.
    /// </summary>
    public static float[] RunCalls(LanguageModel lm, int[] ids, int[] calls, int prefillChunk = SequenceState.DefaultPrefillChunk)
    {
        var logits = new float[ids.Length * Vocab];
        using var sequence = lm.Model.CreateSequence();
        sequence.PrefillChunk = prefillChunk;
        int pos = 0;
        foreach (int n in calls)
        {
            lm.Model.Forward(ids.AsSpan(pos, n), sequence, logits.AsSpan(pos * Vocab, n * Vocab), LogitsRows.All);
            pos += n;
        }
        Assert.Equal(ids.Length, pos);
        return logits;
    }
}
