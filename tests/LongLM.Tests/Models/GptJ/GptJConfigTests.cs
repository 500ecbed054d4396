using System.Text.Json.Nodes;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.Models.GptJ;

/// <summary>
/// GPT-J's config.json as HF GPTJConfig reads it (names, defaults) and the options LongLM refuses, each one clear
/// error naming config.json and the field; missing or misshapen tensors name the tensor.
/// </summary>
public sealed class GptJConfigTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    /// <summary>The F32 fixture with config.json edited by <paramref name="edit"/>.</summary>
    private string Edited(Action<JsonObject> edit)
    {
        string dir = GptJFixtures.Write(_dir.File("m"));
        string path = Path.Combine(dir, "config.json");
        var json = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(json);
        File.WriteAllText(path, json.ToJsonString());
        return dir;
    }

    [Fact]
    public void Fixture_ReadsGptJNamesAndDefaults()
    {
        var c = ModelRegistry.LoadConfig(GptJFixtures.Write(_dir.File("m")));
        Assert.Equal("gptj", ModelRegistry.FamilyOf(c));
        Assert.Equal("rope", ModelRegistry.PositionalEncodingOf(c));
        Assert.Equal((64, 4, 16, 2, 64), (c.HiddenSize, c.NumAttentionHeads, c.HeadDim, c.NumHiddenLayers, c.MaxPositionEmbeddings));
        Assert.Equal(256, c.IntermediateSize); // n_inner null -> 4 * n_embd
        Assert.Equal(8, c.RotaryDim);
        Assert.Equal("gelu_new", c.HiddenAct);
        Assert.False(c.TieWordEmbeddings);
        Assert.Equal(10000, c.RopeTheta);
    }

    [Fact]
    public void Defaults_AbsentFields_AreGptJConfigs()
    {
        // No activation_function, tie_word_embeddings or n_inner: gelu_new, untied, 4 * n_embd. rotary_dim null: the whole head.
        string dir = Edited(j =>
        {
            j.Remove("activation_function");
            j.Remove("tie_word_embeddings");
            j.Remove("n_inner");
            j["rotary_dim"] = null;
        });
        var c = ModelRegistry.LoadConfig(dir);
        Assert.Equal(("gelu_new", false, 256, 16), (c.HiddenAct, c.TieWordEmbeddings, c.IntermediateSize, c.RotaryDim));
    }

    [Fact]
    public void RotaryDimAbsent_Is64_WhichThisHeadCannotHold()
    {
        var e = Assert.Throws<ConfigException>(() => ModelRegistry.LoadConfig(Edited(j => j.Remove("rotary_dim"))));
        Assert.Contains("rotary_dim 64", e.Message);
    }

    [Theory]
    [InlineData("activation_function", "\"relu\"", "activation_function")]
    [InlineData("activation_function", "\"gelu\"", "activation_function")]
    [InlineData("rotary_dim", "7", "rotary_dim")]
    [InlineData("rotary_dim", "32", "rotary_dim")]
    [InlineData("rotary_dim", "0", "rotary_dim")]
    [InlineData("rope_scaling", "{\"type\": \"linear\", \"factor\": 2.0}", "rope_scaling")]
    [InlineData("num_key_value_heads", "2", "num_key_value_heads")]
    [InlineData("layer_norm_epsilon", "2", "layer_norm_epsilon")]
    public void UnsupportedOption_IsAConfigErrorNamingFileAndField(string field, string value, string named)
    {
        string dir = Edited(j => j[field] = JsonNode.Parse(value));
        var e = Assert.Throws<ConfigException>(() => LanguageModel.Load(dir).Dispose());
        Assert.StartsWith("config.json:", e.Message);
        Assert.Contains(named, e.Message);
    }

    [Theory]
    [InlineData("lm_head.bias", false)]
    [InlineData("transformer.h.1.mlp.fc_in.bias", false)]
    [InlineData("transformer.h.0.attn.q_proj.weight", true)]
    public void MissingOrMisshapenTensor_IsOneClearErrorNamingIt(string tensor, bool misshapen)
    {
        string dir = GptJFixtures.Write(_dir.File("m"));
        string file = Path.Combine(dir, WeightStore.SingleFile);
        var writer = new SafeTensorsWriter();
        using (var store = WeightStore.Open(dir))
            foreach (string name in store.Names.Order(StringComparer.Ordinal))
            {
                var info = store.Info(name);
                if (name != tensor) writer.Add(name, info.DType, info.Shape, store.View(name).ToFloat32());
                else if (misshapen) writer.Add(name, info.DType, [info.Shape[0] / 2, info.Shape[1]], store.View(name).ToFloat32()[..(int)(info.Shape[0] / 2 * info.Shape[1])]);
            }
        writer.Write(file);
        var e = Assert.Throws<SafeTensorsException>(() => LanguageModel.Load(dir).Dispose());
        Assert.IsAssignableFrom<LongLMException>(e);
        Assert.Contains(tensor, e.Message);
        Assert.Contains(misshapen ? "shape" : "not found", e.Message);
    }
}
