using System.Text.Json.Nodes;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.Models.Mixtral;

/// <summary>
/// Mixtral's config.json as HF MixtralConfig reads it (its own defaults), and one clear error naming the file and the
/// field for every option or checkpoint the runtime cannot run.
/// </summary>
public sealed class MixtralConfigTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Edited(Action<JsonObject> edit)
    {
        string dir = MixtralFixtures.Write(_dir.Path);
        string copy = _dir.File("edited-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(dir)) File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        var json = JsonNode.Parse(File.ReadAllText(Path.Combine(copy, "config.json")))!.AsObject();
        edit(json);
        File.WriteAllText(Path.Combine(copy, "config.json"), json.ToJsonString());
        return copy;
    }

    [Fact]
    public void MissingFields_TakeMixtralConfigDefaults()
    {
        var config = ModelRegistry.LoadConfig(Edited(j =>
        {
            j.Remove("rope_theta");
            j.Remove("rms_norm_eps");
        }));
        Assert.Equal(1e6, config.RopeTheta);
        Assert.Equal(1e-5, config.RmsNormEps);
        Assert.Equal("mixtral", ModelRegistry.FamilyOf(config));
        var noWidth = ModelRegistry.LoadConfig(Edited(j => j.Remove("intermediate_size")));
        Assert.Equal(14336, noWidth.IntermediateSize);
    }

    [Theory]
    [InlineData("num_experts_per_tok", 9, "num_experts_per_tok 9")]
    [InlineData("num_experts_per_tok", 0, "num_experts_per_tok 0")]
    [InlineData("num_local_experts", 0, "num_local_experts 0")]
    [InlineData("hidden_act", "gelu", "hidden_act 'gelu'")]
    [InlineData("attention_bias", true, "attention_bias")]
    [InlineData("num_experts_per_tok", 1.5, "num_experts_per_tok")]
    public void UnsupportedOption_IsOneConfigExceptionNamingFileAndField(string field, object value, string message)
    {
        string dir = Edited(j => j[field] = JsonValue.Create(value));
        var e = Assert.Throws<ConfigException>(() => LanguageModel.Load(dir));
        Assert.Contains("config.json", e.Message);
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void MissingExpertTensor_IsOneClearError()
    {
        string dir = MixtralFixtures.Write(_dir.Path);
        string copy = _dir.File("missing-w3");
        Directory.CreateDirectory(copy);
        foreach (string file in Directory.GetFiles(dir).Where(f => !f.EndsWith(".safetensors", StringComparison.Ordinal)))
            File.Copy(file, Path.Combine(copy, Path.GetFileName(file)));
        const string dropped = "model.layers.1.block_sparse_moe.experts.5.w3.weight";
        using (var store = WeightStore.Open(dir))
        {
            var writer = new SafeTensorsWriter();
            foreach (string name in store.Names.Where(n => n != dropped).Order(StringComparer.Ordinal))
                writer.Add(name, DType.F32, store.Info(name).Shape, span => store.View(name).ToFloat32().CopyTo(span));
            writer.Write(Path.Combine(copy, WeightStore.SingleFile), new Dictionary<string, string> { ["format"] = "pt" });
        }
        var e = Assert.ThrowsAny<LongLMException>(() => LanguageModel.Load(copy));
        Assert.Contains(dropped, e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }

    [Fact]
    public void ExpertShapeDisagreeingWithConfig_IsOneClearError()
    {
        // intermediate_size 80 while the experts' w1 is [96, 64]: the first expert tensor read names itself and both shapes.
        string dir = Edited(j => j["intermediate_size"] = 80);
        var e = Assert.ThrowsAny<LongLMException>(() => LanguageModel.Load(dir));
        Assert.Contains("block_sparse_moe.experts.0.w1.weight", e.Message);
    }
}
