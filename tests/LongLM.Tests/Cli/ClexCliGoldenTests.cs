using System.Text.Json;
using LongLM.Tests.Models;
using Xunit.Abstractions;

namespace LongLM.Tests.Cli;

/// <summary>
/// `longlm logits`, `generate` and `ppl` on the CLEX fixture past its trained length (512), against values of the
/// NumPy reference tools/reference/clex_ref.py (golden/clex_stories260K_seed3_{onecall,onecall_logscale,greedy,ppl}.json;
/// commands in make_golden.sh). The ids of generate and ppl are the fixture tokenizer's (`longlm tokenize`, recorded in
/// the golden files); the numbers are the reference's.
/// </summary>
public sealed class ClexCliGoldenTests(ITestOutputHelper output) : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture() => ClexGolden.Fixture(_dir.File("clex"));

    // ---- logits: one logical call (HF model(input_ids)) ----

    [Theory]
    [InlineData(513, false)]
    [InlineData(1025, false)]
    [InlineData(1025, true)]
    public void Logits_PastTrainedLength_MatchesOneCallGolden(int length, bool logScale)
    {
        // Expected: clex_ref.py --single (one forward of all S ids: every row at t(S), log factor of K = S).
        var expected = ClexGolden.OneCall(logScale, length);
        string file = _dir.File("logits.json");
        string[] args = ["logits", "--model", Fixture(), "--ids", string.Join(",", expected.Ids), "--out", file];
        var (exit, _, err) = CliRunner.Run(logScale ? [.. args, "--clex-log-scale", "true"] : args);
        Assert.True(exit == 0, err);
        using var written = JsonDocument.Parse(File.ReadAllText(file));
        Assert.Equal(expected.Ids, ClexGolden.Ints(written.RootElement.GetProperty("ids")));
        float[] logits = written.RootElement.GetProperty("logits").EnumerateArray().SelectMany(ClexGolden.Floats).ToArray();
        var (logit, nll) = ClexGolden.AssertMatches(expected, logits, $"longlm logits S={length} log_scale={logScale}");
        output.WriteLine($"S={length} log_scale={logScale}: max |logit - golden| {logit:G3}, max |NLL - golden| {nll:G3}");
    }

    // ---- generate: one prefill call, then one call per token (HF generate) ----

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Generate_Greedy_PastTrainedLength_MatchesReference(bool logScale)
    {
        // Prompt: the first 3000 characters of the corpus, 1518 ids (t = 3); 24 greedy tokens cross S = 1536 -> 1537
        // (t = 3 -> 4). Expected ids: clex_ref.py --greedy, the argmax of the reference's last row after a one-call
        // prefill and after each one-token call (smallest top-1/top-2 margin 0.012, so the runtime's 1e-4 error
        // cannot flip one). Prefilling in calls of 512 instead changes the ids from the 9th on (the reference's stderr).
        using var doc = ClexGolden.Read("clex_stories260K_seed3_greedy.json");
        var promptIds = ClexGolden.Ints(doc.RootElement.GetProperty("prompt_ids"));
        var run = doc.RootElement.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("log_scale").GetBoolean() == logScale);
        var expected = ClexGolden.Ints(run.GetProperty("ids"));
        Assert.Equal(24, expected.Length); // no EOS among them (generate would stop before it)

        string prompt = File.ReadAllText(ClexGolden.Corpus)[..3000];
        string[] args = ["generate", "--model", Fixture(), "--prompt", prompt, "--max-tokens", "24", "--temperature", "0", "--json"];
        var (exit, stdout, err) = CliRunner.Run(logScale ? [.. args, "--clex-log-scale", "true"] : args);
        Assert.True(exit == 0, err);
        using var result = JsonDocument.Parse(stdout);
        Assert.Equal(promptIds, ClexGolden.Ints(result.RootElement.GetProperty("prompt_ids")));
        var ids = ClexGolden.Ints(result.RootElement.GetProperty("ids"));
        output.WriteLine($"log_scale={logScale}: runtime {string.Join(",", ids)}");
        output.WriteLine($"log_scale={logScale}: golden  {string.Join(",", expected)}");
        Assert.Equal(expected, ids);
    }

    [Fact]
    public void Generate_LmInfinite_PastTrainedLength_IsDeterministic()
    {
        // No reference combines CLEX with the Lambda mask, so this pins only that the run works and repeats exactly.
        string prompt = File.ReadAllText(ClexGolden.Corpus)[..3000];
        string[] args = ["generate", "--model", Fixture(), "--prompt", prompt, "--max-tokens", "12", "--temperature", "0", "--lm-infinite", "--json"];
        var first = CliRunner.Run(args);
        Assert.True(first.Exit == 0, first.Err);
        Assert.Equal(first.Out, CliRunner.Run(args).Out);
    }

    // ---- ppl: calls of --chunk tokens (algorithms.md 3.7) ----

    private static JsonElement PplRun(JsonDocument doc, int count, int chunk, bool logScale) =>
        doc.RootElement.GetProperty("runs").EnumerateArray().Single(r => r.GetProperty("count").GetInt32() == count
            && r.GetProperty("chunk").GetInt32() == chunk && r.GetProperty("log_scale").GetBoolean() == logScale);

    private (JsonDocument Doc, JsonElement Total) Ppl(int count, int chunk, params string[] extra)
    {
        string[] args = ["ppl", "--model", Fixture(), "--text", ClexGolden.Corpus, "--max-tokens", count.ToString(),
            "--chunk", chunk.ToString(), "--json", .. extra];
        var (exit, stdout, err) = CliRunner.Run(args);
        Assert.True(exit == 0, err);
        var doc = JsonDocument.Parse(stdout);
        return (doc, doc.RootElement.GetProperty("total"));
    }

    [Theory]
    [InlineData(1025, 1025, false)] // one call: t = 3 for every row
    [InlineData(1025, 1025, true)]  // one call, log factor of K = 1025 on every row
    [InlineData(1025, 512, false)]  // calls of 512, 512, 1: t = 1, 2, 3
    [InlineData(2000, 512, false)]  // calls of 512 x 3 + 464: t = 1, 2, 3, 4
    [InlineData(2000, 512, true)]
    public void Ppl_MatchesReferenceMeanNll_AndBuckets(int count, int chunk, bool logScale)
    {
        // Expected: clex_ref.py --ppl over the corpus ids (BOS + the file), each call with its own t and log factor;
        // every position after the first scored. One call vs calls of 512 differ by 0.32 in the mean NLL at 1025 and
        // 0.60 at 2000 (the reference's stderr), far beyond the 1e-4 bound.
        using var golden = ClexGolden.Read("clex_stories260K_seed3_ppl.json");
        var run = PplRun(golden, count, chunk, logScale);
        var (doc, total) = Ppl(count, chunk, logScale ? ["--clex-log-scale", "true"] : []);
        using var _ = doc;
        double nll = total.GetProperty("nll").GetDouble(), expected = run.GetProperty("nll_mean").GetDouble();
        output.WriteLine($"count={count} chunk={chunk} log_scale={logScale}: mean NLL {nll:F6}, golden {expected:F6}, diff {nll - expected:G3}");
        Assert.Equal(run.GetProperty("scored").GetInt64(), total.GetProperty("count").GetInt64());
        Assert.True(Math.Abs(nll - expected) <= 1e-4, $"mean NLL {nll} vs golden {expected}");
        var buckets = doc.RootElement.GetProperty("buckets").EnumerateArray().ToArray();
        var goldenBuckets = run.GetProperty("buckets").EnumerateArray().ToArray();
        Assert.Equal(goldenBuckets.Length, buckets.Length);
        for (int i = 0; i < buckets.Length; i++)
        {
            Assert.Equal(goldenBuckets[i].GetProperty("start").GetInt64(), buckets[i].GetProperty("start").GetInt64());
            Assert.Equal(goldenBuckets[i].GetProperty("count").GetInt64(), buckets[i].GetProperty("count").GetInt64());
            double b = buckets[i].GetProperty("nll").GetDouble(), g = goldenBuckets[i].GetProperty("nll").GetDouble();
            Assert.True(Math.Abs(b - g) <= 2e-4, $"bucket {goldenBuckets[i].GetProperty("start")}: {b} vs golden {g}");
        }
    }

    [Fact]
    public void Ppl_LmInfinite_FirstBucketIsVanillaReference()
    {
        // LM-Infinite (L = D = 512, G = 10) on 2000 tokens in calls of 512: positions 1..511 are scored by rows 0..510
        // of the first call, which see every key within the window at t = 1, so the bucket [1, 512) is the vanilla
        // reference's (clex_ref.py --ppl 2000:512). Later buckets have no reference (none combines CLEX and Lambda).
        using var golden = ClexGolden.Read("clex_stories260K_seed3_ppl.json");
        var first = PplRun(golden, 2000, 512, false).GetProperty("buckets")[0];
        var (doc, total) = Ppl(2000, 512, "--lm-infinite");
        using var _ = doc;
        var bucket = doc.RootElement.GetProperty("buckets")[0];
        Assert.Equal(1, bucket.GetProperty("start").GetInt64());
        Assert.Equal(first.GetProperty("count").GetInt64(), bucket.GetProperty("count").GetInt64());
        double b = bucket.GetProperty("nll").GetDouble(), g = first.GetProperty("nll").GetDouble();
        output.WriteLine($"lm-infinite: bucket [1,512) NLL {b:F6}, vanilla golden {g:F6}; total {total.GetProperty("nll").GetDouble():F6}");
        Assert.True(Math.Abs(b - g) <= 1e-4, $"bucket [1,512): {b} vs golden {g}");
        Assert.Equal(1999, total.GetProperty("count").GetInt64());
    }

    [Fact]
    public void Ppl_PastMaxLength_WithClexExtend_MatchesReferenceWithTMaxFactor()
    {
        // 4100 tokens > 512 x 8 in calls of 1024 with --clex-extend: the last call (S = 4100) keeps t = 8. Expected:
        // clex_ref.py --ppl 4100:1024 --extend (the reference itself refuses past 4096; --extend keeps t = max_factor).
        using var golden = ClexGolden.Read("clex_stories260K_seed3_ppl.json");
        var run = PplRun(golden, 4100, 1024, false);
        Assert.Equal([2, 4, 6, 8, 8], ClexGolden.Ints(run.GetProperty("t")));
        var (doc, total) = Ppl(4100, 1024, "--clex-extend");
        using var _ = doc;
        double nll = total.GetProperty("nll").GetDouble(), expected = run.GetProperty("nll_mean").GetDouble();
        output.WriteLine($"4100 tokens, calls of 1024, --clex-extend: mean NLL {nll:F6}, golden {expected:F6}");
        Assert.Equal(4099, total.GetProperty("count").GetInt64());
        Assert.True(Math.Abs(nll - expected) <= 1e-4, $"mean NLL {nll} vs golden {expected}");
    }
}
