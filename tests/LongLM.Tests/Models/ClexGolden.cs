using System.Text.Json;
using LongLM.Models.Fixtures;

namespace LongLM.Tests.Models;

/// <summary>
/// The CLEX fixture of the golden files (stories260K + a seeded CLEX layer, `longlm make-fixture --family llama-clex
/// --base stories260K --seed 3`; d = 8, L_tr = 512, max_factor 8, log_scale false) and readers for the golden files
/// golden/clex_stories260K_seed3_*.json that tools/reference/clex_ref.py writes (commands in make_golden.sh).
/// </summary>
internal static class ClexGolden
{
    public const ulong Seed = 3;
    public const int Vocab = 512, TrainedLength = 512, MaxFactor = 8;

    public static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");
    public static string Corpus => Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt");

    /// <summary>Writes the fixture into <paramref name="dir"/> (once) and returns it.</summary>
    public static string Fixture(string dir)
    {
        if (!Directory.Exists(dir)) FixtureWriter.WriteClex(Stories, Seed, dir);
        return dir;
    }

    public static JsonDocument Read(string name) =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", name)));

    public static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();
    public static float[] Floats(JsonElement e) => e.EnumerateArray().Select(x => x.GetSingle()).ToArray();
    public static double[] Doubles(JsonElement e) => e.EnumerateArray().Select(x => x.GetDouble()).ToArray();

    public static double MaxDiff(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        Assert.Equal(a.Length, b.Length);
        double max = 0;
        for (int i = 0; i < a.Length; i++) max = Math.Max(max, Math.Abs((double)a[i] - b[i]));
        return max;
    }

    /// <summary>One case of a one-call golden file (clex_ref.py --single ... --rows ... --nll).</summary>
    public sealed record OneCallCase(int[] Ids, int T, int[] Rows, float[][] Logits, double[] Nll, double NllMean);

    /// <summary>
    /// golden/clex_stories260K_seed3_onecall[_logscale].json: ONE forward of the first S ids on an empty cache (HF
    /// model(input_ids)), every row at t(S) (and the log factor of K = S when on).
    /// </summary>
    public static OneCallCase OneCall(bool logScale, int length)
    {
        using var doc = Read(logScale ? "clex_stories260K_seed3_onecall_logscale.json" : "clex_stories260K_seed3_onecall.json");
        var root = doc.RootElement;
        Assert.Equal(logScale, root.GetProperty("log_scale").GetBoolean());
        var c = root.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("S").GetInt32() == length);
        return new OneCallCase(Ints(root.GetProperty("ids"))[..length], c.GetProperty("t").GetInt32(), Ints(c.GetProperty("rows")),
            c.GetProperty("logits").EnumerateArray().Select(Floats).ToArray(), Doubles(c.GetProperty("nll")),
            c.GetProperty("nll_mean").GetDouble());
    }

    /// <summary>-log softmax(row r)[ids[r + 1]] for every row but the last, in double precision.</summary>
    public static double[] NextTokenNll(float[] logits, int[] ids)
    {
        var nll = new double[ids.Length - 1];
        for (int r = 0; r < nll.Length; r++)
            nll[r] = LongLM.Runtime.Evaluation.PerplexityEvaluator.NegativeLogLikelihood(logits.AsSpan(r * Vocab, Vocab), ids[r + 1]);
        return nll;
    }

    /// <summary>
    /// Checks [S, vocab] <paramref name="logits"/> against a one-call case: the kept rows within 1e-4 (the bound of the
    /// other CLEX golden tests) and, for every row, the next-token NLL within 2e-4 (two logits each off by 1e-4).
    /// Returns (max logit diff, max NLL diff) for the test output.
    /// </summary>
    public static (double Logit, double Nll) AssertMatches(OneCallCase expected, float[] logits, string what)
    {
        Assert.Equal(expected.Ids.Length * Vocab, logits.Length);
        double worstLogit = 0;
        var perRow = new List<string>();
        for (int i = 0; i < expected.Rows.Length; i++)
        {
            double d = MaxDiff(expected.Logits[i], logits.AsSpan(expected.Rows[i] * Vocab, Vocab));
            perRow.Add($"row {expected.Rows[i]}: {d:G3}");
            worstLogit = Math.Max(worstLogit, d);
        }
        var nll = NextTokenNll(logits, expected.Ids);
        int worstRow = 0;
        for (int r = 1; r < nll.Length; r++)
            if (Math.Abs(nll[r] - expected.Nll[r]) > Math.Abs(nll[worstRow] - expected.Nll[worstRow])) worstRow = r;
        double worstNll = Math.Abs(nll[worstRow] - expected.Nll[worstRow]);
        Assert.True(worstLogit <= 1e-4, $"{what}: max |logit - golden| {worstLogit:G4} ({string.Join(", ", perRow)})");
        Assert.True(worstNll <= 2e-4, $"{what}: max |next-token NLL - golden| {worstNll:G4} at row {worstRow}");
        return (worstLogit, worstNll);
    }
}
