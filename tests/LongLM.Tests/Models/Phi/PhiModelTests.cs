using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.Inference;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.Models.Phi;

/// <summary>
/// HF PhiForCausalLM on the phi tiny fixture, backend "cpu". Expected logits: the golden files of the independent NumPy
/// float64 reference tools/reference/phi_ref.py (make_golden.sh's Phi block; same family, shape, dtype and seed): 30
/// tokens, more than 3x the window L = 8; vanilla, LM-Infinite (8, 2, 8), top-k as the reference's incremental calls, and
/// CLEX (phi-clex) as one call of S = 64, 100, 150 ids (t = 1, 2, 3).
/// </summary>
public sealed class PhiModelTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string Fixture() => PhiGolden.Fixture(_dir.File("phi"));

    private static float[] TokenByToken(LanguageModel lm, int[] ids)
    {
        var logits = new float[ids.Length * PhiGolden.Vocab];
        using var sequence = lm.Model.CreateSequence();
        for (int i = 0; i < ids.Length; i++)
            lm.Model.Forward(ids.AsSpan(i, 1), sequence, logits.AsSpan(i * PhiGolden.Vocab, PhiGolden.Vocab), LogitsRows.Last);
        return logits;
    }

    [Theory]
    [InlineData(PhiGolden.Vanilla, false)]
    [InlineData(PhiGolden.Lambda, true)]
    public void Logits_MatchNumPyReferenceWithin1e4_OneShotChunkedAndTokenByToken(string golden, bool lambda)
    {
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(Fixture(), "cpu", lambda ? PhiGolden.LambdaOptions : null);
        Assert.Equal("phi", ModelRegistry.FamilyOf(lm.Config));
        Assert.Equal(8, lm.Config.RotaryDim);
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4, "one shot");
        GoldenLogits.AssertWithin(expected, lm.Logits(ids, chunk: 5), 1e-4, "chunks of 5");
        GoldenLogits.AssertWithin(expected, TokenByToken(lm, ids), 1e-4, "token by token");
    }

    [Theory]
    [InlineData(512)]
    [InlineData(5)]
    public void TopK_IncrementalCalls_MatchNumPyReferenceWithin1e4(int prefillChunk)
    {
        // The reference's schedule: a prefill call of 20 tokens (top-k on its last row only; internally chunked by 5 or
        // not at all, which must not matter), then 10 one-token calls, each with top-k on its row, from layer 1.
        var (ids, expected) = GoldenLogits.Read(PhiGolden.TopK);
        int[] calls = PhiGolden.Calls(PhiGolden.TopK);
        using var lm = LanguageModel.Load(Fixture(), "cpu", PhiGolden.TopKOptions);
        GoldenLogits.AssertWithin(expected, PhiGolden.RunCalls(lm, ids, calls, prefillChunk), 1e-4, $"prefill chunk {prefillChunk}");
        // Top-k moves the logits (reference: up to 0.37 from plain Lambda over these calls).
        using var plain = LanguageModel.Load(Fixture(), "cpu", PhiGolden.LambdaOptions);
        Assert.True(expected.Zip(PhiGolden.RunCalls(plain, ids, calls), (e, a) => Math.Abs(e - a)).Max() > 1e-2);
    }

    [Fact]
    public void Clex_OneCall_AtT123_MatchesNumPyReferenceWithin1e4_WhateverTheChunking()
    {
        // One call of S ids: every row and key uses t = ceil(S / 64) (1, 2, 3); reference phi_ref.py --clex-single,
        // which reports that the t = 1 frequencies instead move the kept logits by 0.20 (S = 100) and 0.15 (S = 150).
        string dir = PhiGolden.ClexFixture(_dir.File("phi-clex"), _dir.File("phi"));
        using var lm = LanguageModel.Load(dir);
        Assert.Equal("clex", lm.Config.RopeScaling?.Type);
        var cases = PhiGolden.ClexCases();
        Assert.Equal([1, 2, 3], cases.Select(c => c.T));
        foreach (var c in cases)
        {
            GoldenLogits.AssertWithin(c.Logits, PhiGolden.Rows(lm.Logits(c.Ids), c.Rows), 1e-4, $"S={c.S} one shot");
            GoldenLogits.AssertWithin(c.Logits, PhiGolden.Rows(lm.Logits(c.Ids, chunk: 5), c.Rows), 1e-4, $"S={c.S} chunks of 5");
        }
    }

    [Fact]
    public void Clex_TensorsSitUnderModelClexLayer_WithDTheRotaryDim()
    {
        // CLEX/phi2/modeling_phi2_clex.py: PhiModel.clex_layer = CLEXScalingRotaryEmbedding(int(partial_rotary_factor *
        // head_dim), ...): d = 8 here, not head_dim 16.
        string dir = PhiGolden.ClexFixture(_dir.File("phi-clex"), _dir.File("phi"));
        using var store = WeightStore.Open(dir);
        Assert.Equal([4L], store.Info("model.clex_layer.inv_freq").Shape);
        Assert.Equal([4L, 8L], store.Info("model.clex_layer.proj_func.ode_up_proj").Shape);
        Assert.Equal([8L, 4L], store.Info("model.clex_layer.proj_func.ode_down_proj").Shape);
    }

    [Fact]
    public void ClexFixture_FromAnotherFamily_IsAClearError()
    {
        var e = Assert.Throws<LongLMException>(() => FixtureWriter.WriteClex(Fixture(), 3, _dir.File("x"), clexFamily: "llama-clex"));
        Assert.Contains("llama-clex fixtures are made from llama models, not a phi model", e.Message);
        string mpt = _dir.File("mpt");
        FixtureWriter.Write("mpt", FixtureShape.Find("mpt", "tiny"), DType.F32, 5, mpt);
        Assert.Throws<LongLMException>(() => FixtureWriter.WriteClex(mpt, 3, _dir.File("y"), clexFamily: "phi-clex"));
    }

    [Fact]
    public void Config_PhiConfigDefaults_WhenFieldsAreAbsent()
    {
        // PhiConfig: partial_rotary_factor 0.5, hidden_act gelu_new, intermediate_size 8192, tie_word_embeddings false,
        // head_dim = hidden_size // num_attention_heads (a head_dim field is not PhiConfig's and is ignored).
        string dir = Fixture();
        string path = Path.Combine(dir, "config.json");
        string text = File.ReadAllText(path);
        foreach (string field in new[] { "\"partial_rotary_factor\": 0.5,", "\"hidden_act\": \"gelu_new\",", "\"intermediate_size\": 256,", "\"tie_word_embeddings\": false," })
        {
            Assert.Contains(field, text);
            text = text.Replace(field, "");
        }
        File.WriteAllText(path, text.Replace("\"hidden_size\": 64,", "\"hidden_size\": 64, \"head_dim\": 32,"));
        var c = ModelRegistry.LoadConfig(dir);
        Assert.Equal((16, 8, 8192, "gelu_new", false), (c.HeadDim, c.RotaryDim, c.IntermediateSize, c.HiddenAct, c.TieWordEmbeddings));
    }

    [Theory]
    [InlineData("\"qk_layernorm\": false", "\"qk_layernorm\": true", "qk_layernorm")]
    [InlineData("\"hidden_act\": \"gelu_new\"", "\"hidden_act\": \"relu\"", "hidden_act 'relu'")]
    [InlineData("\"partial_rotary_factor\": 0.5", "\"partial_rotary_factor\": 0.3125", "partial_rotary_factor 0.3125 x head_dim 16 gives 5")]
    [InlineData("\"partial_rotary_factor\": 0.5", "\"partial_rotary_factor\": 1.5", "partial_rotary_factor 1.5")]
    [InlineData("\"layer_norm_eps\": 1E-05", "\"layer_norm_eps\": 2", "layer_norm_eps 2")]
    [InlineData("\"num_attention_heads\": 4", "\"num_attention_heads\": 5", "num_attention_heads")]
    public void Config_UnsupportedOption_IsAConfigErrorNamingTheField(string from, string to, string message)
    {
        string dir = Fixture();
        string path = Path.Combine(dir, "config.json");
        string config = File.ReadAllText(path);
        Assert.Contains(from, config);
        File.WriteAllText(path, config.Replace(from, to));
        var e = Assert.Throws<ConfigException>(() => LanguageModel.Load(dir));
        Assert.Contains(message, e.Message);
        Assert.Contains("config.json", e.Message);
    }

    [Theory]
    [InlineData("lm_head.bias", false)]
    [InlineData("model.layers.1.mlp.fc1.bias", false)]
    [InlineData("model.layers.0.self_attn.dense.weight", true)]
    public void Weights_MissingOrWrongShapeTensor_IsAClearErrorNamingIt(string tensor, bool wrongShape)
    {
        string dir = Fixture(), broken = _dir.File("broken");
        Directory.CreateDirectory(broken);
        foreach (var f in Directory.GetFiles(dir).Where(f => !f.EndsWith(".safetensors")))
            File.Copy(f, Path.Combine(broken, Path.GetFileName(f)));
        using (var store = WeightStore.Open(dir))
        {
            var writer = new SafeTensorsWriter();
            foreach (var name in store.Names.Order(StringComparer.Ordinal))
            {
                var info = store.Info(name);
                if (name != tensor) writer.Add(name, info.DType, info.Shape, store.View(name).ToFloat32());
                else if (wrongShape) writer.Add(name, info.DType, [info.Shape[1], info.Shape[0] / 2], new float[info.Shape[0] * info.Shape[1] / 2]);
            }
            writer.Write(Path.Combine(broken, WeightStore.SingleFile));
        }
        var e = Assert.ThrowsAny<LongLMException>(() => LanguageModel.Load(broken));
        Assert.Contains(tensor, e.Message);
        Assert.Contains("model.safetensors", e.Message);
    }
}
