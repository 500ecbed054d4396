using System.Text.Json;
using LongLM.Tests.Models;
using LongLM.Tests.Models.Phi;

namespace LongLM.Tests.Cli;

/// <summary>
/// The CLI on the Phi fixture (`longlm make-fixture --family phi --shape tiny --dtype f32 --seed 13`, and phi-clex on
/// top of it): info, logits (against the NumPy reference's golden files, tools/reference/phi_ref.py), generate, ppl and
/// chat with the ChatML test template from stdin.
/// </summary>
public sealed class PhiCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static float[] LogitsFile(string path) =>
        JsonDocument.Parse(File.ReadAllText(path)).RootElement.GetProperty("logits").EnumerateArray()
            .SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray();

    [Fact]
    public void InfoLogitsGeneratePplChat_RunOnThePhiFixture()
    {
        string dir = _dir.File("phi"), clex = _dir.File("phi-clex");
        var made = CliRunner.Run("make-fixture", "--family", "phi", "--shape", "tiny", "--dtype", "f32", "--seed", "13", "--out", dir);
        Assert.True(made.Exit == 0, made.Err);
        made = CliRunner.Run("make-fixture", "--family", "phi-clex", "--base", dir, "--seed", "3", "--out", clex);
        Assert.True(made.Exit == 0, made.Err);

        var info = CliRunner.Run("info", "--model", dir, "--json");
        Assert.True(info.Exit == 0, info.Err);
        var r = JsonDocument.Parse(info.Out).RootElement;
        Assert.Equal("PhiForCausalLM", r.GetProperty("architecture").GetString());
        Assert.Equal("phi", r.GetProperty("family").GetString());
        Assert.Equal("rope", r.GetProperty("positional_encoding").GetString());
        Assert.Equal(8, r.GetProperty("rotary_dim").GetInt32());
        Assert.Equal(16, r.GetProperty("head_dim").GetInt32());
        info = CliRunner.Run("info", "--model", clex, "--json");
        Assert.True(info.Exit == 0, info.Err);
        Assert.Equal("clex", JsonDocument.Parse(info.Out).RootElement.GetProperty("rope_scaling").GetString());

        foreach (var (golden, flags) in new[] { (PhiGolden.Vanilla, Array.Empty<string>()),
                     (PhiGolden.Lambda, ["--lm-infinite", "--local-window", "8", "--global-tokens", "2", "--distance-limit", "8"]) })
        {
            var (ids, expected) = GoldenLogits.Read(golden);
            string file = _dir.File(golden);
            var run = CliRunner.Run(["logits", "--model", dir, "--ids", string.Join(",", ids), "--out", file, "--prefill-chunk", "5", .. flags]);
            Assert.True(run.Exit == 0, run.Err);
            GoldenLogits.AssertWithin(expected, LogitsFile(file), 1e-4, golden);
        }

        foreach (string model in new[] { dir, clex })
        {
            var gen = CliRunner.Run("generate", "--model", model, "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0", "--json");
            Assert.True(gen.Exit == 0, gen.Err);
            Assert.NotEmpty(JsonDocument.Parse(gen.Out).RootElement.GetProperty("ids").EnumerateArray());
        }

        string text = _dir.WriteText("story.txt", "Once upon a time there was a little fox who lived in a wood. Every day the fox ran to the river.\n");
        var ppl = CliRunner.Run("ppl", "--model", dir, "--text", text, "--max-tokens", "150", "--repeat", "--chunk", "16",
            "--attention", "vanilla,lambda", "--local-window", "8", "--global-tokens", "2", "--json");
        Assert.True(ppl.Exit == 0, ppl.Err);
        var runs = JsonDocument.Parse(ppl.Out).RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(2, runs.Length);
        Assert.All(runs, x => Assert.True(double.IsFinite(x.GetProperty("total").GetProperty("ppl").GetDouble())));

        string template = Path.Combine(AppContext.BaseDirectory, "data", "chat", "chatml.jinja");
        Assert.True(File.Exists(template), template);
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int exit = LongLM.Cli.Program.Run(["chat", "--model", dir, "--chat-template", template, "--temperature", "0", "--max-tokens", "6"],
            new StringReader("Hello there\nHow are you?\n"), true, stdout, stderr);
        Assert.True(exit == 0, stderr.ToString());
        Assert.Contains("conversation", stderr.ToString());
    }
}
