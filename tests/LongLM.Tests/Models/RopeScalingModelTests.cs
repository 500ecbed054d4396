using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Models;
using LongLM.Runtime;

namespace LongLM.Tests.Models;

/// <summary>
/// rope_scaling inside the forward: stories260K with linear and llama3 scaling against golden logits from the
/// independent NumPy forward (tools/reference/llama_ref.py, commands in make_golden.sh).
/// </summary>
public sealed class RopeScalingModelTests : IDisposable
{
    private readonly TempDirectory _dir = new();
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    public void Dispose() => _dir.Dispose();

    private string WithScaling(JsonObject scaling)
    {
        foreach (var f in new[] { "model.safetensors", "tokenizer.model" }) File.Copy(Path.Combine(Stories, f), _dir.File(f));
        var config = JsonNode.Parse(File.ReadAllText(Path.Combine(Stories, "config.json")))!.AsObject();
        config["rope_scaling"] = scaling;
        File.WriteAllText(_dir.File("config.json"), config.ToJsonString());
        return _dir.Path;
    }

    [Fact]
    public void LinearScaling_FromConfig_MatchesNumPyReference()
    {
        var (ids, expected) = GoldenLogits.Read("stories260K_rope-linear_logits.json");
        using var lm = LanguageModel.Load(WithScaling(new JsonObject { ["type"] = "linear", ["factor"] = 4.0 }));
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4);
    }

    [Fact]
    public void LinearScaling_FromCommandLineOverride_MatchesNumPyReference()
    {
        var (ids, expected) = GoldenLogits.Read("stories260K_rope-linear_logits.json");
        using var lm = LanguageModel.Load(Stories, "cpu", new ModelOptions { RopeScaling = "linear:4" });
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4);
        // And the override really changes the model.
        using var plain = LanguageModel.Load(Stories);
        Assert.True(plain.Logits(ids).Zip(expected, (a, b) => Math.Abs(a - b)).Max() > 1e-2);
    }

    [Fact]
    public void Llama3Scaling_MatchesNumPyReference()
    {
        var (ids, expected) = GoldenLogits.Read("stories260K_rope-llama3_logits.json");
        using var lm = LanguageModel.Load(WithScaling(new JsonObject
        {
            ["rope_type"] = "llama3", ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 128,
        }));
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4);
    }

    [Theory]
    [InlineData("linear")]
    [InlineData("linear:0.5")]
    [InlineData("clex:4")]
    [InlineData("sideways:2")]
    public void BadOverride_IsOneLineError(string value)
    {
        var (exit, _, err) = Cli.CliRunner.Run("generate", "--model", Stories, "--max-tokens", "2", "--rope-scaling", value);
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
    }

    [Fact]
    public void DynamicScaling_IsPlainRopeUpToTheTrainedLength()
    {
        // HF dynamic NTK recomputes the base only when the call's length S exceeds L = 512; S = 512 is the boundary.
        using var plain = LanguageModel.Load(Stories);
        using var dynamic = LanguageModel.Load(Stories, "cpu", new ModelOptions { RopeScaling = "dynamic:4" });
        int[] ids = [1, .. Enumerable.Range(0, 511).Select(i => 3 + i * 7 % 500)];
        Assert.Equal(plain.Logits(ids), dynamic.Logits(ids));
    }

    [Fact]
    public void DynamicScaling_PastTheTrainedLength_IsOneCallAtTheWholeLength()
    {
        // One Logits call of S = 600 ids is HF model(input_ids): every row (also rows 0..511) is rotated with
        // base' = 10000 * ((4 * 600 / 512) - 3)^(8/6). Expected: golden/stories260K_rope-dynamic4_S600_logits.json from
        // tools/reference/llama_ref.py (dynamic NTK for one call of n tokens, rows 0, 1, 255, 256, 511, 512, 599 of the
        // first 600 corpus ids; make_golden.sh). Plain RoPE differs from it by 0.16-2.4 on rows 1..599 (0.9 on row 256),
        // so a runtime that runs rows 0..511 as a call of their own fails here.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "stories260K_rope-dynamic4_S600_logits.json")));
        int[] ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        int[] rows = doc.RootElement.GetProperty("rows").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        var expected = doc.RootElement.GetProperty("logits").EnumerateArray().Select(r => r.EnumerateArray().Select(e => e.GetSingle()).ToArray()).ToArray();
        Assert.Equal(600, ids.Length);
        using var dynamic = LanguageModel.Load(Stories, "cpu", new ModelOptions { RopeScaling = "dynamic:4" });
        float[] logits = dynamic.Logits(ids);
        int vocab = dynamic.Config.VocabSize;
        var diffs = rows.Select((r, i) => expected[i].Select((e, v) => Math.Abs(e - logits[r * vocab + v])).Max()).ToArray();
        Assert.True(diffs.Max() <= 1e-4, "max |logit - golden| per row: " + string.Join(", ", rows.Zip(diffs, (r, d) => $"{r}: {d:G3}")));
    }
}
