using System.Text.Json;
using LongLM.Tests.Models;
using LongLM.Tests.Models.GptNeoX;

namespace LongLM.Tests.Cli;

/// <summary>
/// The CLI on the GPT-NeoX fixture (`longlm make-fixture --family gpt-neox --shape tiny --dtype f32 --seed 13`): info,
/// logits (expected: the NumPy golden of tools/reference/gpt_neox_ref.py, vanilla and Lambda 8/2/8), generate, ppl and
/// a scripted chat with the ChatML template.
/// </summary>
public sealed class GptNeoXCliTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture()
    {
        string dir = _dir.File("neox");
        if (Directory.Exists(dir)) return dir;
        var (exit, _, err) = CliRunner.Run("make-fixture", "--family", "gpt-neox", "--shape", "tiny", "--dtype", "f32", "--seed", "13", "--out", dir);
        Assert.True(exit == 0, err);
        return dir;
    }

    [Fact]
    public void InfoLogitsGeneratePplChat_AllRunOnTheFixture()
    {
        string dir = Fixture();
        var info = CliRunner.Run("info", "--model", dir, "--json");
        Assert.True(info.Exit == 0, info.Err);
        using (var doc = JsonDocument.Parse(info.Out))
        {
            var r = doc.RootElement;
            Assert.Equal("GPTNeoXForCausalLM", r.GetProperty("architecture").GetString());
            Assert.Equal("gpt-neox", r.GetProperty("family").GetString());
            Assert.Equal("rope", r.GetProperty("positional_encoding").GetString());
            Assert.Equal(4, r.GetProperty("rotary_dim").GetInt32());
            Assert.Equal(10000, r.GetProperty("rope_theta").GetDouble());
            Assert.Equal(256, r.GetProperty("intermediate_size").GetInt32());
            Assert.False(r.GetProperty("tie_word_embeddings").GetBoolean());
        }

        foreach (bool lambda in new[] { false, true })
        {
            var (ids, expected) = GoldenLogits.Read(GptNeoXFixtures.Base("tiny") + (lambda ? "_lambda8-2-8" : "") + "_logits.json");
            string file = _dir.File($"logits-{lambda}.json");
            string[] flags = lambda ? ["--lm-infinite", "--local-window", "8", "--global-tokens", "2"] : [];
            var run = CliRunner.Run(["logits", "--model", dir, "--ids", string.Join(",", ids), "--out", file, .. flags]);
            Assert.True(run.Exit == 0, run.Err);
            using var doc = JsonDocument.Parse(File.ReadAllText(file));
            float[] actual = doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray();
            GoldenLogits.AssertWithin(expected, actual, 1e-4, lambda ? "lambda" : "vanilla");
        }

        var generate = CliRunner.Run("generate", "--model", dir, "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0", "--json",
            "--lm-infinite", "--local-window", "8", "--global-tokens", "2", "--top-k-middle", "2", "--top-k-from-layer", "1");
        Assert.True(generate.Exit == 0, generate.Err);
        using (var doc = JsonDocument.Parse(generate.Out)) Assert.NotEmpty(doc.RootElement.GetProperty("ids").EnumerateArray());

        string text = _dir.WriteText("story.txt", "Once upon a time there was a little fox who lived in a wood. Every day the fox ran to the river.\n");
        var ppl = CliRunner.Run("ppl", "--model", dir, "--text", text, "--max-tokens", "100", "--repeat", "--chunk", "16",
            "--attention", "vanilla,lambda", "--local-window", "8", "--global-tokens", "2", "--json");
        Assert.True(ppl.Exit == 0, ppl.Err);
        using (var doc = JsonDocument.Parse(ppl.Out))
            Assert.All(doc.RootElement.GetProperty("runs").EnumerateArray(), r =>
                Assert.True(double.IsFinite(r.GetProperty("total").GetProperty("ppl").GetDouble())));

        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int chat = LongLM.Cli.Program.Run(["chat", "--model", dir, "--chat-template", ChatFixture.ChatMlPath, "--temperature", "0", "--max-tokens", "6",
            "--lm-infinite", "--local-window", "8", "--global-tokens", "2"],
            new StringReader("Hello there\nAnd again\n"), true, stdout, stderr);
        Assert.True(chat == 0, stderr.ToString());
        Assert.Equal(2, stderr.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries).Length); // one stats line per turn (Lambda: no past-the-context warning)
    }
}
