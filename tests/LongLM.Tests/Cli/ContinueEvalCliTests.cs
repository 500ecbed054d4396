using System.Text.Json;

namespace LongLM.Tests.Cli;

/// <summary>`longlm continue-eval`: table, JSON and PNG written; bad input is exit 2 with one error line.</summary>
public sealed class ContinueEvalCliTests : IDisposable
{
    private static string Stories => ModelFolderCopy.Stories260K;
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Text() => _dir.WriteText("t.txt", string.Concat(Enumerable.Repeat("Once upon a time there was a little cat. The cat liked to play in the sun. ", 12)));

    [Fact]
    public void TwoModes_WriteTableJsonAndPng()
    {
        string json = _dir.File("r.json"), png = _dir.File("r.png");
        var (exit, output, err) = CliRunner.Run("continue-eval", "--model", Stories, "--text", Text(), "--milestones", "32,64", "--tokens", "16",
            "--attention", "vanilla,lambda", "--local-window", "48", "--json", json, "--plot", png);
        Assert.True(exit == 0, err);
        string[] lines = output.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("BLEU-4 / ROUGE-L of 16 greedy tokens (x100) | vanilla | lambda L=48", lines[0]);
        Assert.Matches(@"^32 \| [0-9]+\.[0-9]{2} / [0-9]+\.[0-9]{2}.* \| [0-9]+\.[0-9]{2} / ", lines[1]);
        Assert.StartsWith("64 | ", lines[2]);

        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        Assert.Equal(16, doc.RootElement.GetProperty("tokens").GetInt32());
        var runs = doc.RootElement.GetProperty("runs").EnumerateArray().ToArray();
        Assert.Equal(2, runs.Length);
        Assert.Equal("vanilla", runs[0].GetProperty("attention").GetString());
        foreach (var run in runs)
        {
            var ms = run.GetProperty("milestones").EnumerateArray().ToArray();
            Assert.Equal([32, 64], ms.Select(m => m.GetProperty("milestone").GetInt32()));
            foreach (var m in ms)
            {
                Assert.InRange(m.GetProperty("bleu").GetDouble(), 0, 1);
                Assert.InRange(m.GetProperty("rouge_l").GetDouble(), 0, 1);
                Assert.Equal(4, m.GetProperty("bleu_precisions").GetArrayLength());
                Assert.NotEqual("", m.GetProperty("prediction").GetString());
                Assert.NotEqual("", m.GetProperty("reference").GetString());
            }
        }
        byte[] head = File.ReadAllBytes(png)[..8];
        Assert.Equal(new byte[] { 0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A }, head);
    }

    [Theory]
    [InlineData("512,abc")]
    [InlineData("0")]
    [InlineData("64,64")]
    [InlineData("")]
    public void BadMilestones_AreExit2(string list)
    {
        var (exit, output, err) = CliRunner.Run("continue-eval", "--model", Stories, "--text", Text(), "--milestones", list);
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.StartsWith("longlm: error: --milestones", err);
        Assert.Single(err.Split('\n', StringSplitOptions.RemoveEmptyEntries));
    }

    [Fact]
    public void MissingText_MilestoneBeyondTheText_AndBadTokens_AreExit2()
    {
        var missing = CliRunner.Run("continue-eval", "--model", Stories, "--text", _dir.File("none.txt"), "--milestones", "32");
        Assert.Equal(2, missing.Exit);
        Assert.Contains("text file not found", missing.Err);

        var beyond = CliRunner.Run("continue-eval", "--model", Stories, "--text", Text(), "--milestones", "64,4k", "--attention", "vanilla,lambda");
        Assert.Equal(2, beyond.Exit);
        Assert.Equal("", beyond.Out);
        Assert.Contains("milestone 4096 needs 4196 tokens", beyond.Err);

        var tokens = CliRunner.Run("continue-eval", "--model", Stories, "--text", Text(), "--milestones", "32", "--tokens", "0");
        Assert.Equal(2, tokens.Exit);
        Assert.Contains("--tokens must be positive", tokens.Err);

        var mode = CliRunner.Run("continue-eval", "--model", Stories, "--text", Text(), "--milestones", "32", "--attention", "vanilla,bogus");
        Assert.Equal(2, mode.Exit);
    }
}
