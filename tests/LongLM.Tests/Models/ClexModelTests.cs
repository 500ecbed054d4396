using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Rope;
using LongLM.Tests.Cli;
using static LongLM.Tests.Models.ClexGolden;
using Xunit.Abstractions;

namespace LongLM.Tests.Models;

/// <summary>
/// CLEX end to end on the "llama-clex" fixture: stories260K (d = 8, m = 4, L_tr = 512) with a seeded CLEX layer
/// (FixtureWriter.WriteClex, seed 3: max_factor 8, λ = 1, tanh, time_dt 0.01, log_scale false). Expected values are
/// the golden files golden/clex_stories260K_seed3_{single,decode}.json from the independent NumPy reference
/// tools/reference/clex_ref.py (float64 forward, CLEX re-derived from algorithms.md 3.2-3.5 with a raw K/V cache
/// re-rotated at every call; commands in tools/reference/make_golden.sh). Its ODE runs in float32 in torchdiffeq's order
/// of operations with correctly rounded transcendentals, which the runtime's solver reproduces bit for bit: at t &gt;= 2
/// these logits move by up to 4e-4 between a float32 and a float64 ODE, so the 1e-4 bound relies on that (the
/// rounding-independent check is the frequencies against the float64 ODE, 2e-5 relative; tools/reference/README.md).
/// </summary>
public sealed class ClexModelTests(ITestOutputHelper output) : IDisposable
{
    private const string SingleGolden = "clex_stories260K_seed3_single.json";
    private const string DecodeGolden = "clex_stories260K_seed3_decode.json";

    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The fixture of the golden files (same base and seed), written once per test.</summary>
    private string Fixture() => ClexGolden.Fixture(_dir.File("clex"));

    private static JsonDocument Golden(string name) => ClexGolden.Read(name);

    // ---- the fixture and its frequencies ----

    [Fact]
    public void Fixture_HasClexConfigAndTensorsAndBaseWeights()
    {
        using var lm = LanguageModel.Load(Fixture());
        var scaling = lm.Config.RopeScaling!;
        Assert.Equal("clex", scaling.Type);
        Assert.Equal(TrainedLength, lm.Config.MaxPositionEmbeddings);
        var clex = RopeScaling.Create(lm.Config, lm.Weights) as ClexRope;
        Assert.NotNull(clex);
        Assert.Equal((MaxFactor, ClexActivation.Tanh, 0.01, 8, false), (clex.MaxFactor, clex.Activation, clex.TimeDt, clex.RotaryDim, clex.LogScaleInConfig!.Value));
        Assert.Equal([4L], lm.Weights.Info(ClexRope.InvFreqTensor).Shape);
        Assert.Equal([4L, 8L], lm.Weights.Info(ClexRope.UpProjTensor).Shape);
        Assert.Equal([8L, 4L], lm.Weights.Info(ClexRope.DownProjTensor).Shape);
        // inv_freq = stories260K's 1/10000^(2k/8) in float32; every base tensor copied unchanged.
        Assert.Equal(Array.ConvertAll(RopeFrequencies.Base(10000, 8), x => (float)x), lm.Weights.View(ClexRope.InvFreqTensor).ToFloat32());
        using var baseModel = LanguageModel.Load(Stories);
        foreach (string name in baseModel.Weights.Names)
        {
            Assert.Equal(baseModel.Weights.Info(name).DType, lm.Weights.Info(name).DType);
            Assert.Equal(baseModel.Weights.View(name).ToFloat32(), lm.Weights.View(name).ToFloat32());
        }
        Assert.Equal(baseModel.Weights.Names.Count() + 3, lm.Weights.Names.Count());
        Assert.Equal(baseModel.Tokenizer.Encode("Once upon a time"), lm.Tokenizer.Encode("Once upon a time"));
    }

    [Fact]
    public void Fixture_FrequenciesMatchReferenceOde()
    {
        // Golden "frequencies": clex_ref.py's float32 ODE (the reference's precision, torchdiffeq's order of operations,
        // correctly rounded transcendentals); "frequencies_f64": the same ODE in float64, the exact solution that any
        // float32 solve sits ~1e-5 relative from. t = 1 is the stored inv_freq bit for bit.
        using var lm = LanguageModel.Load(Fixture());
        var clex = (ClexRope)RopeScaling.Create(lm.Config, lm.Weights);
        using var doc = Golden(SingleGolden);
        double worst32 = 0, worst64 = 0;
        for (int t = 1; t <= MaxFactor; t++)
        {
            string key = t.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var f32 = Floats(doc.RootElement.GetProperty("frequencies").GetProperty(key));
            var f64 = Floats(doc.RootElement.GetProperty("frequencies_f64").GetProperty(key));
            var actual = clex.Frequencies(t);
            if (t == 1) Assert.Equal(f32, actual);
            for (int k = 0; k < 4; k++)
            {
                worst32 = Math.Max(worst32, Math.Abs(actual[k] / (double)f32[k] - 1));
                worst64 = Math.Max(worst64, Math.Abs(actual[k] / (double)f64[k] - 1));
            }
        }
        output.WriteLine($"max relative frequency difference: {worst32:G3} to the float32 ODE, {worst64:G3} to the float64 ODE");
        Assert.True(worst32 <= 1e-6, $"float32 ODE: max relative diff {worst32}");
        Assert.True(worst64 <= 2e-5, $"float64 ODE: max relative diff {worst64}");
    }

    [Fact]
    public void Fixture_OdeMovesFrequenciesFarFromXiOnlySolution()
    {
        // With W_down = 0 the solution is z_k(t) = ln inv_freq_k - (2k/(d-2)) ln(2t-1) (algorithms.md 3.2); the seeded
        // ODE weights must move z(2) and z(3) well away from it so the golden tests see the learned dynamics.
        using var lm = LanguageModel.Load(Fixture());
        var clex = (ClexRope)RopeScaling.Create(lm.Config, lm.Weights);
        var inv = clex.Frequencies(1);
        foreach (int t in new[] { 2, 3 })
        {
            var f = clex.Frequencies(t);
            double max = Enumerable.Range(0, 4).Max(k => Math.Abs(Math.Log(f[k]) - (Math.Log(inv[k]) - 2.0 * k / 6 * Math.Log(2 * t - 1))));
            output.WriteLine($"t={t}: max |z - z_xi| = {max:G4}");
            Assert.True(max > 1e-2, $"t={t}: {max}");
        }
    }

    // ---- logits against the NumPy reference ----

    [Theory]
    [InlineData(512, 1)]
    [InlineData(513, 2)]
    [InlineData(1025, 3)]
    public void SingleCall_MatchesNumPyReference(int length, int t)
    {
        using var doc = Golden(SingleGolden);
        var ids = Ints(doc.RootElement.GetProperty("ids"))[..length];
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("S").GetInt32() == length);
        Assert.Equal(t, c.GetProperty("t").GetInt32());
        var rows = Ints(c.GetProperty("rows"));
        var expected = c.GetProperty("logits").EnumerateArray().Select(Floats).ToArray();

        using var lm = LanguageModel.Load(Fixture());
        using var cache = lm.Model.CreateSequence();
        var logits = new float[length * Vocab];
        lm.Model.Forward(ids, cache, logits, LogitsRows.All); // one call: every row uses this call's t
        double worst = 0;
        for (int i = 0; i < rows.Length; i++)
            worst = Math.Max(worst, MaxDiff(expected[i], logits.AsSpan(rows[i] * Vocab, Vocab)));
        output.WriteLine($"S={length} t={t}: max |logit - golden| over {rows.Length} rows = {worst:G3}");
        Assert.True(worst <= 1e-4, $"S={length}: max |diff| {worst}");
    }

    [Theory]
    [InlineData(false, "cpu")]
    [InlineData(true, "cpu")]
    public void DecodeAcrossT1To2_MatchesNumPyReferenceStepByStep(bool logScale, string backend)
    {
        // Prefill 508 tokens in one call, then 8 one-token calls (S = 509..516): at S = 513 t becomes 2 and every cached
        // key is rotated again from its raw copy. log_scale (true only here, through ModelOptions) multiplies the query by
        // the bf16 ln(K)/ln(512) of each call.
        using var doc = Golden(DecodeGolden);
        var ids = Ints(doc.RootElement.GetProperty("ids"));
        var calls = Ints(doc.RootElement.GetProperty("calls"));
        var run = doc.RootElement.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("log_scale").GetBoolean() == logScale);
        var steps = run.GetProperty("steps").EnumerateArray().ToArray();
        Assert.Equal(calls.Length, steps.Length);

        using var lm = LanguageModel.Load(Fixture(), backend, new ModelOptions { ClexLogScale = logScale });
        using var cache = lm.Model.CreateSequence();
        var logits = new float[Vocab];
        int position = 0;
        double worst = 0;
        for (int i = 0; i < calls.Length; i++)
        {
            lm.Model.Forward(ids.AsSpan(position, calls[i]), cache, logits, LogitsRows.Last);
            position += calls[i];
            Assert.Equal(position, steps[i].GetProperty("S").GetInt32());
            double diff = MaxDiff(Floats(steps[i].GetProperty("logits")), logits);
            output.WriteLine($"S={position} t={steps[i].GetProperty("t").GetInt32()}: max |logit - golden| = {diff:G3}");
            Assert.True(diff <= 1e-4, $"S={position}: max |diff| {diff}");
            worst = Math.Max(worst, diff);
        }
        Assert.Equal(516, position);
    }

    [Fact]
    public void ClexLogits_DifferFromStories260KWithoutClex_OnlyOnceTPassesOne()
    {
        // The discriminating power of the golden tests: at t = 1 CLEX is the base model (inv_freq equals its frequencies
        // up to float32 rounding); at t = 2 the frequencies move and the logits move by whole units.
        using var doc = Golden(SingleGolden);
        var ids = Ints(doc.RootElement.GetProperty("ids"));
        using var clex = LanguageModel.Load(Fixture());
        using var plain = LanguageModel.Load(Stories);
        float[] Last(LanguageModel lm, int length)
        {
            using var cache = lm.Model.CreateSequence();
            var logits = new float[Vocab];
            lm.Model.Forward(ids.AsSpan(0, length), cache, logits, LogitsRows.Last);
            return logits;
        }
        double atT1 = MaxDiff(Last(clex, 512), Last(plain, 512));
        double atT2 = MaxDiff(Last(clex, 513), Last(plain, 513));
        output.WriteLine($"CLEX vs stories260K: t=1 {atT1:G3}, t=2 {atT2:G3}");
        Assert.True(atT1 < 1e-3, $"t=1: {atT1}");
        Assert.True(atT2 > 0.1, $"t=2: {atT2}");
    }

    // ---- the reference's length limit L_tr x max_factor = 4096 ----

    [Fact]
    public void PastMaxLength_IsClearErrorOnVanillaAttention()
    {
        using var lm = LanguageModel.Load(Fixture());
        var ids = Enumerable.Range(0, TrainedLength * MaxFactor + 1).Select(i => 3 + i % 500).ToArray();
        using var cache = lm.Model.CreateSequence();
        var logits = new float[Vocab];
        var e = Assert.Throws<LongLMException>(() => { lm.Model.Forward(ids, cache, logits, LogitsRows.Last); });
        Assert.Contains("4096", e.Message);
        Assert.Contains("4097", e.Message);
    }

    [Fact]
    public void PastMaxLength_RunsWithClexExtend_WithMaxFactorFrequencies()
    {
        var ids = Enumerable.Range(0, TrainedLength * MaxFactor + 4).Select(i => 3 + (i * 7919) % 509).ToArray();
        using var lm = LanguageModel.Load(Fixture(), "cpu", new ModelOptions { ClexExtend = true });
        using var cache = lm.Model.CreateSequence();
        var logits = new float[Vocab];
        lm.Model.Forward(ids.AsSpan(0, 4090), cache, logits, LogitsRows.Last);
        var atMax = new float[Vocab];
        for (int i = 4090; i < ids.Length; i++)
        {
            lm.Model.Forward(ids.AsSpan(i, 1), cache, logits, LogitsRows.Last);
            Assert.All(logits, x => Assert.True(float.IsFinite(x)));
            if (i == 4095) logits.CopyTo(atMax);
        }
        Assert.Equal(4100, cache.TokenCount);
        Assert.NotEqual(atMax, logits);
    }

    // ---- the CLI on the fixture ----

    private string CliFixture()
    {
        string dir = _dir.File("cli-clex");
        var (exit, stdout, err) = CliRunner.Run("make-fixture", "--family", "llama-clex", "--base", Stories, "--seed", "3", "--out", dir);
        Assert.True(exit == 0, err);
        Assert.Contains("wrote", stdout);
        return dir;
    }

    [Fact]
    public void Cli_MakeFixture_WritesTheSameModelAsFixtureWriter()
    {
        string cli = CliFixture();
        using var a = LanguageModel.Load(cli);
        using var b = LanguageModel.Load(Fixture());
        foreach (string name in b.Weights.Names) Assert.Equal(b.Weights.View(name).ToFloat32(), a.Weights.View(name).ToFloat32());
        Assert.Equal(File.ReadAllText(Path.Combine(Fixture(), "config.json")), File.ReadAllText(Path.Combine(cli, "config.json")));

        var (exit, _, err) = CliRunner.Run("make-fixture", "--family", "llama-clex", "--out", _dir.File("x"));
        Assert.NotEqual(0, exit);
        Assert.Contains("--base", err);
        (exit, _, err) = CliRunner.Run("make-fixture", "--family", "llama", "--base", Stories, "--out", _dir.File("y"));
        Assert.NotEqual(0, exit);
        Assert.Contains("--base", err);
    }

    [Fact]
    public void Cli_Info_DescribesClexModel()
    {
        var (exit, stdout, err) = CliRunner.Run("info", "--model", CliFixture(), "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal("clex", doc.RootElement.GetProperty("rope_scaling").GetString());
        Assert.Equal(TrainedLength, doc.RootElement.GetProperty("trained_context").GetInt32());
    }

    [Fact]
    public void Cli_Logits_MatchNumPyReferenceAtT1()
    {
        using var doc = Golden(SingleGolden);
        var ids = Ints(doc.RootElement.GetProperty("ids"))[..512];
        var c = doc.RootElement.GetProperty("cases").EnumerateArray().Single(x => x.GetProperty("S").GetInt32() == 512);
        string file = _dir.File("logits.json");
        var (exit, _, err) = CliRunner.Run("logits", "--model", CliFixture(), "--ids", string.Join(",", ids), "--out", file);
        Assert.True(exit == 0, err);
        using var written = JsonDocument.Parse(File.ReadAllText(file));
        var rows = written.RootElement.GetProperty("logits").EnumerateArray().ToArray();
        Assert.Equal(512, rows.Length);
        var expected = c.GetProperty("logits").EnumerateArray().Select(Floats).ToArray();
        var rowIds = Ints(c.GetProperty("rows"));
        for (int i = 0; i < rowIds.Length; i++)
            Assert.True(MaxDiff(expected[i], Floats(rows[rowIds[i]])) <= 1e-4, $"row {rowIds[i]}");
    }

    [Fact]
    public void Cli_Ppl_PastMaxLength_FailsClearly()
    {
        // 4100 tokens > 512 x 8: the reference stops there (one 4100-token call fails before any work). The values with
        // --clex-extend: Cli/ClexCliGoldenTests.Ppl_PastMaxLength_WithClexExtend_MatchesReferenceWithTMaxFactor.
        string[] args = ["ppl", "--model", CliFixture(), "--text", Corpus, "--max-tokens", "4100", "--repeat", "--json"];
        var (exit, _, err) = CliRunner.Run([.. args, "--chunk", "4100"]);
        Assert.NotEqual(0, exit);
        Assert.Contains("4096", err);
    }
}
