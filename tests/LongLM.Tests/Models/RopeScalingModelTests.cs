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
    public void DynamicScaling_ChangesOnlyPastTheTrainedLength()
    {
        // HF dynamic NTK: base' = base * ((f*S/L) - (f-1))^(d/(d-2)) only when S > L; at S <= L it is plain RoPE.
        using var plain = LanguageModel.Load(Stories);
        using var dynamic = LanguageModel.Load(Stories, "cpu", new ModelOptions { RopeScaling = "dynamic:4" });
        int[] ids = [1, .. Enumerable.Range(0, 40).Select(i => 3 + i * 7 % 500)];
        Assert.Equal(plain.Logits(ids), dynamic.Logits(ids));
    }
}
