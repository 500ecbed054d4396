using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime.Attention;

namespace LongLM.Tests.Cli;

/// <summary>
/// The CLI on the ALiBi fixtures (made with `longlm make-fixture --family mpt|bloom`), with and without LM-Infinite and
/// with the window and truncate baselines. Expected logits are the NumPy reference's golden files
/// (tools/reference/alibi_ref.py via make_golden.sh, same family, shape, dtype and seed).
/// </summary>
public sealed class AlibiCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    private static (int[] Ids, float[] Logits) Golden(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", name)));
        return (Ints(doc.RootElement.GetProperty("ids")),
            doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray());
    }

    private static float[] LogitsFile(string path, out int[] ids)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        ids = Ints(doc.RootElement.GetProperty("ids"));
        return doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray();
    }

    private static double MaxDiff(float[] a, float[] b)
    {
        Assert.Equal(a.Length, b.Length);
        return a.Zip(b, (x, y) => (double)Math.Abs(x - y)).Max();
    }

    /// <summary>The fixture of the golden files, written through the CLI.</summary>
    private string Fixture(string family)
    {
        string dir = _dir.File(family);
        if (Directory.Exists(dir)) return dir;
        string[] args = family == "mpt" ? ["--dtype", "f32", "--seed", "5"] : ["--dtype", "bf16", "--seed", "9"];
        var (exit, _, err) = CliRunner.Run(["make-fixture", "--family", family, "--shape", "tiny", .. args, "--out", dir]);
        Assert.True(exit == 0, err);
        return dir;
    }

    private static string GoldenName(string family, bool lambda) =>
        (family == "mpt" ? "fixture_mpt-tiny_f32_seed5" : "fixture_bloom-tiny_bf16_seed9") + (lambda ? "_lambda8-2-8" : "") + "_logits.json";

    [Theory]
    [InlineData("mpt", "MptForCausalLM")]
    [InlineData("bloom", "BloomForCausalLM")]
    public void Info_AlibiFixture_DescribesAlibiModel(string family, string architecture)
    {
        var (exit, output, err) = CliRunner.Run("info", "--model", Fixture(family), "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.Equal(architecture, r.GetProperty("architecture").GetString());
        Assert.Equal(family, r.GetProperty("family").GetString());
        Assert.Equal("alibi", r.GetProperty("positional_encoding").GetString());
        Assert.Equal(JsonValueKind.Null, r.GetProperty("rope_theta").ValueKind);
        Assert.Equal(64, r.GetProperty("trained_context").GetInt32());
        Assert.Equal(192, r.GetProperty("intermediate_size").GetInt32());
        Assert.Equal(6, r.GetProperty("num_attention_heads").GetInt32());
        Assert.True(r.GetProperty("tie_word_embeddings").GetBoolean());
    }

    [Theory]
    [InlineData("mpt", false)]
    [InlineData("mpt", true)]
    [InlineData("bloom", false)]
    [InlineData("bloom", true)]
    public void Logits_VanillaAndLmInfinite_EqualNumPyGolden(string family, bool lambda)
    {
        var (ids, expected) = Golden(GoldenName(family, lambda));
        string file = _dir.File($"{family}-{lambda}.json");
        string[] flags = lambda ? ["--lm-infinite", "--local-window", "8", "--global-tokens", "2"] : [];
        var (exit, _, err) = CliRunner.Run(["logits", "--model", Fixture(family), "--ids", string.Join(",", ids), "--out", file, .. flags]);
        Assert.True(exit == 0, err);
        var actual = LogitsFile(file, out var written);
        Assert.Equal(ids, written);
        Assert.True(MaxDiff(expected, actual) <= 1e-4, $"max |diff| = {MaxDiff(expected, actual)}");
    }

    [Theory]
    [InlineData("mpt")]
    [InlineData("bloom")]
    public void Logits_WindowAndTruncate_AreTheBaselines(string family)
    {
        var (ids, vanilla) = Golden(GoldenName(family, false));
        string dir = Fixture(family), window = _dir.File("window.json"), truncate = _dir.File("truncate.json");
        string idText = string.Join(",", ids);
        var w = CliRunner.Run("logits", "--model", dir, "--ids", idText, "--out", window, "--attention", "window", "--local-window", "8");
        var t = CliRunner.Run("logits", "--model", dir, "--ids", idText, "--out", truncate, "--attention", "truncate", "--local-window", "8");
        Assert.True(w.Exit == 0, w.Err);
        Assert.True(t.Exit == 0, t.Err);
        const int vocab = 300;

        // Sliding window: the first L rows see their whole past, so they are the vanilla rows; later rows are not.
        var windowed = LogitsFile(window, out _);
        Assert.True(MaxDiff(vanilla[..(8 * vocab)], windowed[..(8 * vocab)]) <= 1e-4);
        Assert.True(MaxDiff(vanilla, windowed) > 1e-3);

        // Truncate: only the last L tokens go in, from position 0, which is vanilla attention on those 8 ids.
        var truncated = LogitsFile(truncate, out var kept);
        Assert.Equal(ids[^8..], kept);
        using var lm = LanguageModel.Load(dir);
        Assert.True(MaxDiff(lm.Logits(ids[^8..]), truncated) <= 1e-5);
    }

    [Theory]
    [InlineData("mpt")]
    [InlineData("bloom")]
    public void Generate_GreedyWithAndWithoutLmInfinite(string family)
    {
        string dir = Fixture(family);
        string[] greedy = ["generate", "--model", dir, "--prompt", "Once upon a time, the quick brown fox", "--max-tokens", "24", "--temperature", "0", "--json"];
        var vanilla = CliRunner.Run(greedy);
        var lmInfinite = CliRunner.Run([.. greedy, "--lm-infinite"]);
        Assert.True(vanilla.Exit == 0, vanilla.Err);
        Assert.True(lmInfinite.Exit == 0, lmInfinite.Err);
        // Default L = D = the trained length (64) > prompt + 24 tokens: LM-Infinite changes nothing yet.
        Assert.Equal(vanilla.Out, lmInfinite.Out);

        // L = 8, G = 2: the decode path (bounded cache, one token per call) must pick the argmax of the one-shot Lambda
        // logits of the same sequence.
        var small = CliRunner.Run([.. greedy, "--lm-infinite", "--local-window", "8", "--global-tokens", "2"]);
        Assert.True(small.Exit == 0, small.Err);
        using var doc = JsonDocument.Parse(small.Out);
        int[] prompt = Ints(doc.RootElement.GetProperty("prompt_ids")), generated = Ints(doc.RootElement.GetProperty("ids"));
        Assert.True(prompt.Length > 8, "the prompt must be longer than the window");
        Assert.NotEmpty(generated);
        using var lm = LanguageModel.Load(dir, "cpu", new LambdaAttentionOptions { LocalWindow = 8, GlobalTokens = 2 });
        int[] all = [.. prompt, .. generated];
        var logits = lm.Logits(all);
        for (int k = 0; k < generated.Length; k++)
        {
            var row = logits.AsSpan((prompt.Length - 1 + k) * 300, 300);
            Assert.Equal(generated[k], System.Numerics.Tensors.TensorPrimitives.IndexOfMax(row));
        }

        foreach (string[] mode in new[] { new[] { "--attention", "window", "--local-window", "8" }, ["--attention", "truncate", "--local-window", "8"] })
        {
            var run = CliRunner.Run([.. greedy, .. mode]);
            Assert.True(run.Exit == 0, run.Err);
            Assert.NotEmpty(Ints(JsonDocument.Parse(run.Out).RootElement.GetProperty("ids")));
        }
    }

    [Theory]
    [InlineData("mpt")]
    [InlineData("bloom")]
    public void Ppl_AllAlibiModes_ScoreTheStream(string family)
    {
        string text = _dir.WriteText("story.txt", "Once upon a time there was a little fox who lived in a wood. Every day the fox ran to the river.\n");
        var (exit, output, err) = CliRunner.Run("ppl", "--model", Fixture(family), "--text", text, "--max-tokens", "150", "--repeat", "--chunk", "16",
            "--attention", "vanilla,lambda,window,truncate", "--local-window", "8", "--global-tokens", "2", "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(output);
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(["vanilla", "lambda L=8 G=2 D=8", "window L=8", "truncate L=8"], runs.Select(r => r.GetProperty("attention").GetString()));
        var ppl = runs.Select(r => r.GetProperty("total").GetProperty("ppl").GetDouble()).ToArray();
        Assert.All(ppl, p => Assert.True(double.IsFinite(p) && p > 1, $"ppl {p}"));
        Assert.NotEqual(ppl[0], ppl[1]);

        var defaults = CliRunner.Run("ppl", "--model", Fixture(family), "--text", text, "--max-tokens", "150", "--repeat", "--lm-infinite", "--json");
        Assert.True(defaults.Exit == 0, defaults.Err);
        Assert.Equal("lambda L=64 G=10 D=64", JsonDocument.Parse(defaults.Out).RootElement.GetProperty("attention").GetString());
    }

    [Theory]
    [InlineData("mpt", "generate", "--attention", "lambda-no-ceiling")]
    [InlineData("bloom", "generate", "--attention", "lambda-no-ceiling")]
    [InlineData("mpt", "logits", "--attention", "ceiling-only")]
    [InlineData("bloom", "ppl", "--attention", "lambda-no-ceiling")]
    [InlineData("mpt", "generate", "--lm-infinite", "--top-k-middle", "2")]
    [InlineData("bloom", "logits", "--lm-infinite", "--top-k", "2")]
    public void RopeOnlyModes_OnAlibiModel_OneLineExitCode2(string family, string command, params string[] flags)
    {
        string text = _dir.WriteText("t.txt", "some text to score here");
        string[] extra = command switch
        {
            "logits" => ["--ids", "1,2,3", "--out", _dir.File("o.json")],
            "ppl" => ["--text", text],
            _ => ["--max-tokens", "2"],
        };
        var (exit, _, err) = CliRunner.Run([command, "--model", Fixture(family), .. extra, .. flags]);
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("longlm: error:", err);
        Assert.Contains("RoPE models only", err);
    }

    [Fact]
    public void Mpt_ClipQkv_OneLineExitCode2NamingTheOption()
    {
        string dir = Fixture("mpt");
        string config = File.ReadAllText(Path.Combine(dir, "config.json"));
        File.WriteAllText(Path.Combine(dir, "config.json"), config.Replace("\"clip_qkv\": null", "\"clip_qkv\": 8"));
        var (exit, _, err) = CliRunner.Run("generate", "--model", dir, "--max-tokens", "2");
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("attn_config.clip_qkv", err);
    }

    [Theory]
    [InlineData("--family", "mpt", "--shape", "tiny-tied")]
    [InlineData("--family", "bloom", "--shape", "tiny-bias")]
    [InlineData("--family", "gpt2", "--shape", "tiny")]
    public void MakeFixture_ShapeOrFamilyUnknown_OneLineExitCode2(params string[] args)
    {
        var (exit, _, err) = CliRunner.Run(["make-fixture", .. args, "--out", _dir.File("x")]);
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
    }
}
