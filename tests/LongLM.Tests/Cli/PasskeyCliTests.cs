using System.Text.Json;

namespace LongLM.Tests.Cli;

/// <summary>
/// `longlm passkey` on stories260K (trained length 512): the table, the JSON file and the PNG of a tiny grid, and
/// bad input as exit 2. Accuracy values are not asserted here (the scoring is PasskeyTests'); the structure is.
/// </summary>
public sealed class PasskeyCliTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    [Fact]
    public void Writes_table_json_and_png_for_every_mode()
    {
        using var dir = new TempDirectory();
        string json = Path.Combine(dir.Path, "passkey.json"), png = Path.Combine(dir.Path, "passkey.png");
        var (exit, output, err) = CliRunner.Run("passkey", "--model", Stories, "--lengths", "256,320", "--depths", "0,1", "--trials", "2",
            "--attention", "vanilla,lambda", "--local-window", "128", "--top-k-middle", "2", "--json", json, "--plot", png);
        Assert.True(exit == 0, err);
        // stories260K: one filler already makes 210 tokens. vanilla, lambda without top-k, lambda with top-k: three tables of two lengths.
        Assert.Equal(3, output.Split('\n').Count(l => l.StartsWith("passkey accuracy (2 trials per cell)", StringComparison.Ordinal)));
        Assert.Contains("length | tokens | depth 0 | depth 1 | mean", output);
        using var doc = JsonDocument.Parse(File.ReadAllText(json));
        var runs = doc.RootElement.GetProperty("runs");
        Assert.Equal(3, runs.GetArrayLength());
        Assert.Equal("vanilla", runs[0].GetProperty("attention").GetString());
        Assert.DoesNotContain("top-k", runs[1].GetProperty("attention").GetString());
        Assert.Contains("top-k=2", runs[2].GetProperty("attention").GetString());
        foreach (var run in runs.EnumerateArray())
        {
            var cells = run.GetProperty("cells");
            Assert.Equal(4, cells.GetArrayLength());
            foreach (var cell in cells.EnumerateArray())
            {
                Assert.Equal(2, cell.GetProperty("trials").GetInt32());
                Assert.Equal(2, cell.GetProperty("answers").GetArrayLength());
                Assert.InRange(cell.GetProperty("accuracy").GetDouble(), 0, 1);
                Assert.InRange(cell.GetProperty("mean_tokens").GetDouble(), 210, cell.GetProperty("length").GetInt32());
            }
        }
        byte[] bytes = File.ReadAllBytes(png);
        Assert.Equal(new byte[] { 0x89, (byte)'P', (byte)'N', (byte)'G' }, bytes[..4]);
    }

    [Theory]
    [InlineData("--lengths", "1k,x")]
    [InlineData("--lengths", "40")]          // too short for one filler
    [InlineData("--lengths", "1k")]          // past 512 under vanilla
    [InlineData("--depths", "0,2")]
    [InlineData("--trials", "0")]
    [InlineData("--attention", "sideways")]
    [InlineData("--top-k-middle", "2")]      // LM-Infinite flag without an LM-Infinite mode
    public void Bad_input_exits_2(string flag, string value)
    {
        var args = new List<string> { "passkey", "--model", Stories, "--lengths", "128", "--depths", "0", "--trials", "1" };
        int at = args.IndexOf(flag);
        if (at >= 0) args[at + 1] = value; else args.AddRange([flag, value]);
        var (exit, _, err) = CliRunner.Run([.. args]);
        Assert.Equal(2, exit);
        Assert.DoesNotContain("internal error", err);
    }

    [Fact]
    public void Missing_model_exits_2()
    {
        var (exit, _, err) = CliRunner.Run("passkey", "--model", "/nonexistent/model", "--lengths", "128");
        Assert.Equal(2, exit);
        Assert.DoesNotContain("internal error", err);
    }

    [Fact]
    public void Vanilla_past_context_runs_when_asked()
    {
        var (exit, output, err) = CliRunner.Run("passkey", "--model", Stories, "--lengths", "600", "--depths", "0.5", "--trials", "1", "--vanilla-past-context");
        Assert.True(exit == 0, err);
        Assert.Contains("600 | ", output);
    }
}
