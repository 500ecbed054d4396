using System.Text.Json.Nodes;
using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Ops;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.Models.GptNeoX;

/// <summary>
/// GPTNeoXConfig as the family reads it: HF's names and defaults (rotary_pct 0.25, rotary_emb_base 10000,
/// use_parallel_residual true, hidden_act gelu, attention_bias true, untied), both spellings of the renamed fields, the
/// half-split partial rotary of algorithms.md 7.1, and a clear error naming the file and field for every option the
/// runtime refuses. Expected logits for the default-filling cases are the fixture's own logits with the fields written
/// out (the NumPy golden's numbers, checked in <see cref="GptNeoXGoldenTests"/>).
/// </summary>
public sealed class GptNeoXConfigTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture(string shape = "tiny") => GptNeoXFixtures.Write(shape, Path.Combine(_dir.Path, shape + Guid.NewGuid().ToString("N")[..6]));

    private static void EditConfig(string dir, Action<JsonObject> edit)
    {
        string path = Path.Combine(dir, "config.json");
        var config = JsonNode.Parse(File.ReadAllText(path))!.AsObject();
        edit(config);
        File.WriteAllText(path, config.ToJsonString());
    }

    [Fact]
    public void AbsentFields_TakeGptNeoXConfigDefaults_AndGiveTheGoldenLogits()
    {
        var (ids, expected) = GoldenLogits.Read(GptNeoXFixtures.Base("tiny") + "_logits.json");
        string dir = Fixture();
        EditConfig(dir, c =>
        {
            foreach (var field in new[] { "rotary_pct", "rotary_emb_base", "use_parallel_residual", "hidden_act", "attention_bias", "tie_word_embeddings", "layer_norm_eps" })
                Assert.True(c.Remove(field), field);
        });
        var config = ModelRegistry.LoadConfig(dir);
        Assert.Equal(4, config.RotaryDim);           // int(16 * 0.25)
        Assert.Equal(10000, config.RopeTheta);
        Assert.True(config.AttentionBias);
        Assert.False(config.TieWordEmbeddings);
        Assert.Equal("gelu", config.HiddenAct);
        using var lm = LanguageModel.Load(dir);
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "defaults");
    }

    [Fact]
    public void NewerSpellings_PartialRotaryFactorAndRopeTheta_ReadAsTheOldOnes()
    {
        var (ids, expected) = GoldenLogits.Read(GptNeoXFixtures.Base("tiny") + "_logits.json");
        string dir = Fixture();
        EditConfig(dir, c =>
        {
            c.Remove("rotary_pct");
            c.Remove("rotary_emb_base");
            c["partial_rotary_factor"] = 0.25;
            c["rope_theta"] = 10000.0;
        });
        using var lm = LanguageModel.Load(dir);
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "newer spellings");
    }

    [Theory]
    [InlineData(0.5, 500.0, 8)]
    [InlineData(1.0, 10000.0, 16)]
    [InlineData(0.3, 10000.0, 4)] // int(16 * 0.3) = int(4.8) = 4
    public void RotaryPctAndBase_SetRotaryDimAndTheta(double pct, double theta, int rotary)
    {
        string dir = Fixture();
        EditConfig(dir, c =>
        {
            c["rotary_pct"] = pct;
            c["rotary_emb_base"] = theta;
        });
        var config = ModelRegistry.LoadConfig(dir);
        Assert.Equal(rotary, config.RotaryDim);
        Assert.Equal(theta, config.RopeTheta);
        Assert.Equal(RopeFrequencies.Base(theta, rotary), RopeFrequencies.FromConfig(config).InverseFrequencies);
    }

    [Theory]
    [InlineData("cpu")]
    [InlineData("ilgpu-cpu")]
    public void PartialHalfSplitRotary_IsAlgorithms71_OnTheFirstFourDims(string backendName)
    {
        // The fixture's rotary: 4 of 16 dims, base 10000, so inv_freq = (1, 10000^-0.5) = (1, 0.01), 7.1's frequencies.
        // x = (1, 2, 3, 4, 5, ..., 16) at position 3: the first four dims are 7.1's half-split vector, the rest pass.
        var config = ModelRegistry.LoadConfig(Fixture());
        var inv = RopeFrequencies.FromConfig(config).InverseFrequencies;
        Assert.Equal(new[] { 1.0, 0.01 }, inv.Select(v => Math.Round(v, 12)));
        using IBackend backend = Backends.Create(backendName);
        var cosSin = new float[config.RotaryDim];
        Rope.CosSin(3, inv, cosSin);
        float[] x = Enumerable.Range(1, config.HeadDim).Select(i => (float)i).ToArray();
        using var buffer = backend.Allocate(x.Length);
        using var table = backend.Allocate(cosSin.Length);
        backend.Upload(x, buffer);
        backend.Upload(cosSin, table);
        backend.Rope(buffer, table, 1, 1, config.HeadDim, config.RotaryDim, RopePairing.HalfSplit);
        var result = new float[x.Length];
        backend.Download(buffer, result);
        double[] expected = [-1.4133525, 1.8791181, -2.8288575, 4.0581911];
        for (int c = 0; c < 4; c++) Assert.True(Math.Abs(expected[c] - result[c]) <= 1e-6, $"[{c}] {result[c]}");
        Assert.Equal(x[4..], result[4..]);
    }

    [Theory]
    [InlineData("hidden_act", "\"relu\"", "hidden_act")]
    [InlineData("hidden_act", "\"quick_gelu\"", "hidden_act")]
    [InlineData("num_key_value_heads", "2", "num_key_value_heads")]
    [InlineData("rotary_pct", "0.05", "rotary_pct")]          // int(16 * 0.05) = 0 rotary dims
    [InlineData("rotary_pct", "0.1875", "rotary_pct")]        // 3 rotary dims: odd
    [InlineData("rotary_pct", "1.5", "rotary_pct")]
    [InlineData("partial_rotary_factor", "0.5", "partial_rotary_factor")] // disagrees with rotary_pct 0.25
    [InlineData("rope_theta", "500", "rope_theta")]                      // disagrees with rotary_emb_base 10000
    [InlineData("rotary_emb_base", "-1", "rotary_emb_base")]
    [InlineData("layer_norm_eps", "-1", "layer_norm_eps")]
    [InlineData("use_parallel_residual", "\"yes\"", "use_parallel_residual")]
    public void UnsupportedOrInconsistentOption_IsAConfigErrorNamingTheField(string field, string json, string named)
    {
        string dir = Fixture();
        EditConfig(dir, c => c[field] = JsonNode.Parse(json));
        var e = Assert.Throws<ConfigException>(() => LanguageModel.Load(dir));
        Assert.Contains(named, e.Message);
        Assert.StartsWith("config.json:", e.Message);
    }

    [Theory]
    [InlineData("gelu_new")]
    [InlineData("gelu_fast")]
    [InlineData("gelu_pytorch_tanh")]
    public void TanhGeluSpellings_AreAccepted_AndDifferFromExactGelu(string act)
    {
        int[] ids = [5, 100, 257, 299, 12, 42];
        string exact = Fixture(), tanh = Fixture();
        EditConfig(tanh, c => c["hidden_act"] = act);
        using var a = LanguageModel.Load(exact);
        using var b = LanguageModel.Load(tanh);
        float[] x = a.Logits(ids), y = b.Logits(ids);
        double diff = x.Zip(y, (p, q) => Math.Abs(p - q)).Max();
        Assert.True(diff is > 1e-6 and < 0.1, $"gelu vs {act}: {diff}");
    }

    [Theory]
    [InlineData("embed_out.weight")]
    [InlineData("gpt_neox.layers.1.attention.query_key_value.bias")]
    [InlineData("gpt_neox.final_layer_norm.bias")]
    public void MissingTensor_IsOneErrorNamingTheTensor(string missing)
    {
        string dir = Fixture();
        RewriteWeights(dir, name => name != missing);
        var e = Assert.Throws<SafeTensorsException>(() => LanguageModel.Load(dir));
        Assert.Contains(missing, e.Message);
    }

    [Fact]
    public void WrongShape_IsOneErrorNamingTheTensor()
    {
        // intermediate_size 128 in config.json, 256 in the weights: the first MLP tensor is the one named.
        string dir = Fixture();
        EditConfig(dir, c => c["intermediate_size"] = 128);
        var e = Assert.ThrowsAny<LongLMException>(() => LanguageModel.Load(dir));
        Assert.Contains("dense_h_to_4h", e.Message);
    }

    [Fact]
    public void TiedEmbeddings_UseEmbedIn_WhenEmbedOutIsAbsent()
    {
        string dir = Fixture();
        EditConfig(dir, c => c["tie_word_embeddings"] = true);
        RewriteWeights(dir, name => name != "embed_out.weight");
        using var lm = LanguageModel.Load(dir);
        Assert.True(lm.Config.TieWordEmbeddings);
        Assert.All(lm.Logits([5, 100, 257]), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void AttentionBiasFalse_NeedsNoQkvOrDenseBias()
    {
        // GPTNeoXConfig.attention_bias false: query_key_value and dense are Linear(bias=False); the MLP keeps its biases.
        string dir = Fixture();
        EditConfig(dir, c => c["attention_bias"] = false);
        RewriteWeights(dir, name => !name.EndsWith("attention.query_key_value.bias") && !name.EndsWith("attention.dense.bias"));
        using var lm = LanguageModel.Load(dir);
        Assert.False(lm.Config.AttentionBias);
        Assert.All(lm.Logits([5, 100, 257]), v => Assert.True(float.IsFinite(v)));
    }

    [Fact]
    public void RopeScalingLinear_ScalesThePartialRotaryFrequencies()
    {
        // rope_scaling as the other RoPE families: linear factor 2 halves inv_freq of the 4 rotary dims (1, 0.01).
        string dir = Fixture();
        EditConfig(dir, c => c["rope_scaling"] = new JsonObject { ["type"] = "linear", ["factor"] = 2.0 });
        var inv = RopeFrequencies.FromConfig(ModelRegistry.LoadConfig(dir)).InverseFrequencies;
        Assert.Equal(new[] { 0.5, 0.005 }, inv.Select(v => Math.Round(v, 12)));
    }

    private static void RewriteWeights(string dir, Func<string, bool> keep)
    {
        string file = Path.Combine(dir, WeightStore.SingleFile);
        var writer = new SafeTensorsWriter();
        using (var store = WeightStore.Open(dir))
            foreach (var name in store.Names.Where(keep).Order(StringComparer.Ordinal))
            {
                var info = store.Info(name);
                writer.Add(name, info.DType, info.Shape, store.View(name).ToFloat32());
            }
        writer.Write(file);
    }
}
