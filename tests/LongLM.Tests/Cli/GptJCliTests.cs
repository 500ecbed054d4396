using System.Text.Json;
using LongLM.Tests.Models;

namespace LongLM.Tests.Cli;

/// <summary>
/// The CLI on the GPT-J fixture made with `longlm make-fixture --family gptj --shape tiny --dtype f32 --seed 13`:
/// info, logits (checked against gptj_ref.py's golden file, vanilla and LM-Infinite), generate, ppl and chat.
/// </summary>
public sealed class GptJCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture()
    {
        string dir = _dir.File("gptj");
        if (Directory.Exists(dir)) return dir;
        var (exit, _, err) = CliRunner.Run("make-fixture", "--family", "gptj", "--shape", "tiny", "--dtype", "f32", "--seed", "13", "--out", dir);
        Assert.True(exit == 0, err);
        return dir;
    }

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    [Fact]
    public void InfoLogitsGeneratePplChat_RunOnTheGptJFixture()
    {
        string dir = Fixture();
        var info = CliRunner.Run("info", "--model", dir, "--json");
        Assert.True(info.Exit == 0, info.Err);
        using (var doc = JsonDocument.Parse(info.Out))
        {
            var r = doc.RootElement;
            Assert.Equal("GPTJForCausalLM", r.GetProperty("architecture").GetString());
            Assert.Equal("gptj", r.GetProperty("family").GetString());
            Assert.Equal("rope", r.GetProperty("positional_encoding").GetString());
            Assert.Equal(8, r.GetProperty("rotary_dim").GetInt32());
            Assert.Equal(64, r.GetProperty("trained_context").GetInt32());
            Assert.Equal(256, r.GetProperty("intermediate_size").GetInt32());
            Assert.False(r.GetProperty("tie_word_embeddings").GetBoolean());
        }

        foreach (var (golden, flags) in new[] { (Models.GptJ.GptJFixtures.F32, Array.Empty<string>()),
                     (Models.GptJ.GptJFixtures.F32Lambda, new[] { "--lm-infinite", "--local-window", "8", "--global-tokens", "2" }) })
        {
            var (ids, expected) = GoldenLogits.Read(golden);
            string file = _dir.File("logits.json");
            var run = CliRunner.Run(["logits", "--model", dir, "--ids", string.Join(",", ids), "--out", file, .. flags]);
            Assert.True(run.Exit == 0, run.Err);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            Assert.Equal(ids, Ints(doc.RootElement.GetProperty("ids")));
            var actual = doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray();
            GoldenLogits.AssertWithin(expected, actual, 1e-4, golden);
        }

        var generate = CliRunner.Run("generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0", "--json",
            "--lm-infinite", "--local-window", "8", "--global-tokens", "2");
        Assert.True(generate.Exit == 0, generate.Err);
        Assert.NotEmpty(Ints(JsonDocument.Parse(generate.Out).RootElement.GetProperty("ids")));

        string text = _dir.WriteText("story.txt", "Once upon a time there was a little fox who lived in a wood. Every day the fox ran to the river.\n");
        var ppl = CliRunner.Run("ppl", "--model", dir, "--text", text, "--max-tokens", "100", "--repeat", "--chunk", "16",
            "--attention", "vanilla,lambda", "--local-window", "8", "--global-tokens", "2", "--json");
        Assert.True(ppl.Exit == 0, ppl.Err);
        using (var doc = JsonDocument.Parse(ppl.Out))
        {
            var values = doc.RootElement.GetProperty("runs").EnumerateArray().Select(r => r.GetProperty("total").GetProperty("ppl").GetDouble()).ToArray();
            Assert.Equal(2, values.Length);
            Assert.All(values, p => Assert.True(double.IsFinite(p) && p > 1, $"ppl {p}"));
            Assert.NotEqual(values[0], values[1]);
        }

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        string template = Path.Combine(AppContext.BaseDirectory, "data", "chat", "chatml.jinja");
        int chat = LongLM.Cli.Program.Run(["chat", "--model", dir, "--chat-template", template, "--temperature", "0", "--max-tokens", "6"],
            new StringReader("Hello there\nHow are you?\n"), true, stdout, stderr);
        Assert.True(chat == 0, stderr.ToString());
    }
}
