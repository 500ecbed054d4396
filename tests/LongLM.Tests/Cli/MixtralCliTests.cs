using System.Text.Json;
using LongLM.Tests.Models;

namespace LongLM.Tests.Cli;

/// <summary>
/// The CLI on a Mixtral fixture made by `longlm make-fixture --family mixtral` (tiny, F32, seed 15): info, logits
/// (expected: the NumPy reference's golden file, tools/reference/mixtral_ref.py via make_golden.sh), generate, ppl
/// and chat with a ChatML template on stdin; and make-fixture --family mixtral-clex on it.
/// </summary>
public sealed class MixtralCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    [Fact]
    public void InfoLogitsGeneratePplChat_OnMixtralFixture()
    {
        string dir = _dir.File("mixtral");
        var made = CliRunner.Run("make-fixture", "--family", "mixtral", "--shape", "tiny", "--dtype", "f32", "--seed", "15", "--out", dir);
        Assert.True(made.Exit == 0, made.Err);

        var info = CliRunner.Run("info", "--model", dir, "--json");
        Assert.True(info.Exit == 0, info.Err);
        using (var doc = JsonDocument.Parse(info.Out))
        {
            var r = doc.RootElement;
            Assert.Equal("MixtralForCausalLM", r.GetProperty("architecture").GetString());
            Assert.Equal("mixtral", r.GetProperty("family").GetString());
            Assert.Equal("rope", r.GetProperty("positional_encoding").GetString());
            Assert.Equal(1e6, r.GetProperty("rope_theta").GetDouble());
        }

        var (ids, expected) = GoldenLogits.Read("fixture_mixtral-tiny_f32_seed15_logits.json");
        string file = _dir.File("logits.json");
        var logits = CliRunner.Run("logits", "--model", dir, "--ids", string.Join(",", ids), "--out", file);
        Assert.True(logits.Exit == 0, logits.Err);
        using (var doc = JsonDocument.Parse(File.ReadAllText(file)))
            GoldenLogits.AssertWithin(expected, doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray(), 1e-4, "longlm logits");

        var generate = CliRunner.Run("generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "8", "--temperature", "0", "--json");
        Assert.True(generate.Exit == 0, generate.Err);
        using (var doc = JsonDocument.Parse(generate.Out))
            Assert.NotEmpty(doc.RootElement.GetProperty("ids").EnumerateArray());

        string text = _dir.WriteText("story.txt", "Once upon a time there was a little fox who lived in a wood. Every day the fox ran to the river.\n");
        var ppl = CliRunner.Run("ppl", "--model", dir, "--text", text, "--max-tokens", "60", "--chunk", "16", "--json");
        Assert.True(ppl.Exit == 0, ppl.Err);
        using (var doc = JsonDocument.Parse(ppl.Out))
        {
            double p = doc.RootElement.GetProperty("total").GetProperty("ppl").GetDouble();
            Assert.True(double.IsFinite(p) && p > 1, $"ppl {p}");
        }

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int chat = LongLM.Cli.Program.Run(["chat", "--model", dir, "--chat-template", ChatFixture.ChatMlPath, "--temperature", "0", "--max-tokens", "6"],
            new StringReader("Hello there\nAnd again\n"), true, stdout, stderr);
        Assert.True(chat == 0, stderr.ToString());

        string clex = _dir.File("mixtral-clex");
        var madeClex = CliRunner.Run("make-fixture", "--family", "mixtral-clex", "--base", dir, "--seed", "3", "--out", clex);
        Assert.True(madeClex.Exit == 0, madeClex.Err);
        var clexInfo = CliRunner.Run("info", "--model", clex, "--json");
        Assert.True(clexInfo.Exit == 0, clexInfo.Err);
        using (var doc = JsonDocument.Parse(clexInfo.Out))
            Assert.Equal("clex", doc.RootElement.GetProperty("rope_scaling").GetString());
    }
}
