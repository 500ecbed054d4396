using System.Text.Json;
using System.Text.Json.Nodes;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;

namespace LongLM.Tests.RotaryEmbedding;

/// <summary>
/// The rope_scaling table (default, linear, dynamic, yarn, llama3) against golden/rope_scaling.json, written by the
/// independent NumPy float64 reference tools/reference/rope_scaling_ref.py from HF modeling_rope_utils' formulas
/// (regenerate: /usr/bin/python3 tools/reference/rope_scaling_ref.py --out tests/LongLM.Tests/golden/rope_scaling.json).
/// </summary>
public sealed class RopeScalingTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static readonly Lazy<Dictionary<string, JsonElement>> s_golden = new(() =>
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "rope_scaling.json")));
        return doc.RootElement.GetProperty("cases").EnumerateArray().ToDictionary(c => c.GetProperty("name").GetString()!, c => c.Clone());
    });

    public static TheoryData<string> GoldenCases()
    {
        var data = new TheoryData<string>();
        foreach (var name in s_golden.Value.Keys) data.Add(name);
        return data;
    }

    private ModelConfig Config(JsonElement golden) =>
        RopeTestConfig.Write(_dir, JsonNode.Parse(golden.GetProperty("config").GetRawText())!.AsObject());

    [Theory]
    [MemberData(nameof(GoldenCases))]
    public void RopeScaling_MatchesNumPyReference(string name)
    {
        var golden = s_golden.Value[name];
        var config = Config(golden);
        long length = golden.GetProperty("sequence_length").GetInt64();
        double[] expected = golden.GetProperty("inv_freq").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        double expectedFactor = golden.GetProperty("attention_factor").GetDouble();

        var rope = RopeScaling.Create(config).Compute(length);

        Assert.Equal(expected.Length, rope.InverseFrequencies.Length);
        for (int k = 0; k < expected.Length; k++)
        {
            // Both sides are float64 evaluations of the same formulas: only pow/log last-bit differences remain.
            double relative = Math.Abs(rope.InverseFrequencies[k] - expected[k]) / expected[k];
            Assert.True(relative <= 1e-9, $"{name}: inv_freq[{k}] = {rope.InverseFrequencies[k]:R}, reference {expected[k]:R} (relative {relative:E2})");
        }
        Assert.True(Math.Abs(rope.AttentionFactor - expectedFactor) <= 1e-6 * expectedFactor,
            $"{name}: attention factor {rope.AttentionFactor:R}, reference {expectedFactor:R}");
    }

    [Theory]
    [InlineData("default_d128_base1e4", false)]
    [InlineData("linear4_d64_base1e4", false)]
    [InlineData("dynamic4_d128_base1e4_S=3L", true)]
    [InlineData("yarn4_d128_base1e4_orig2048", false)]
    [InlineData("llama3_8_d128_base5e5", false)]
    public void DependsOnLength_OnlyForDynamic(string name, bool dependsOnLength)
    {
        var scaling = RopeScaling.Create(Config(s_golden.Value[name]));
        Assert.Equal(dependsOnLength, scaling.DependsOnLength);
        if (!dependsOnLength) Assert.Same(scaling.Compute(1), scaling.Compute(1 << 20));
    }

    [Fact]
    public void DynamicNtk_IsBaseUpToTrainedLength_AndGrowsAfter()
    {
        // Expected values: the formula base' = base * ((factor*S/L) - (factor-1))^(d/(d-2)) evaluated by hand in the test.
        var dynamic = new DynamicNtkRope(10000, 128, 4, 2048);
        Assert.Equal(RopeFrequencies.Base(10000, 128), dynamic.Compute(1).InverseFrequencies);
        Assert.Equal(RopeFrequencies.Base(10000, 128), dynamic.Compute(2048).InverseFrequencies);
        Assert.Equal(10000 * Math.Pow(4.0 * 6144 / 2048 - 3, 128.0 / 126), dynamic.ScaledBase(6144), 1e-9);
        Assert.True(dynamic.Compute(2049).InverseFrequencies[63] < dynamic.Compute(2048).InverseFrequencies[63]);
    }

    [Fact]
    public void FromConfig_UsesTheTableForLengthIndependentMethods()
    {
        var golden = s_golden.Value["llama3_8_d128_base5e5"];
        var fromConfig = RopeFrequencies.FromConfig(Config(golden));
        double[] expected = golden.GetProperty("inv_freq").EnumerateArray().Select(e => e.GetDouble()).ToArray();
        for (int k = 0; k < expected.Length; k++) Assert.Equal(expected[k], fromConfig.InverseFrequencies[k], expected[k] * 1e-9);
    }

    [Fact]
    public void FromConfig_RefusesLengthDependentMethods()
    {
        var e = Assert.Throws<ConfigException>(() => RopeFrequencies.FromConfig(Config(s_golden.Value["dynamic4_d128_base1e4_S=3L"])));
        Assert.Contains("'dynamic'", e.Message);
        Assert.Contains("sequence length", e.Message);
    }

    [Theory]
    [InlineData("longrope")]
    [InlineData("su")]
    [InlineData("Linear")]
    public void UnknownType_IsConfigErrorNamingItAndTheSupportedOnes(string type)
    {
        var config = RopeTestConfig.Write(_dir, RopeTestConfig.Llama(64, 10000, 2048, new JsonObject { ["rope_type"] = type, ["factor"] = 2.0 }));
        foreach (var e in new[]
                 {
                     Assert.Throws<ConfigException>(() => RopeScaling.Create(config)),
                     Assert.Throws<ConfigException>(() => RopeFrequencies.FromConfig(config)),
                 })
        {
            Assert.Contains($"'{type}'", e.Message);
            Assert.Contains("config.json", e.Message);
            foreach (var supported in new[] { "linear", "dynamic", "yarn", "llama3", "clex" }) Assert.Contains(supported, e.Message);
        }
    }

    [Theory]
    [InlineData("linear", "factor")]
    [InlineData("dynamic", "factor")]
    [InlineData("llama3", "low_freq_factor")]
    [InlineData("llama3", "high_freq_factor")]
    public void MissingRequiredField_IsConfigErrorNamingIt(string type, string field)
    {
        var scaling = new JsonObject { ["rope_type"] = type, ["factor"] = 8.0, ["low_freq_factor"] = 1.0, ["high_freq_factor"] = 4.0, ["original_max_position_embeddings"] = 1024 };
        scaling.Remove(field);
        var config = RopeTestConfig.Write(_dir, RopeTestConfig.Llama(64, 10000, 8192, scaling));
        var e = Assert.Throws<ConfigException>(() => RopeScaling.Create(config));
        Assert.Contains($"'{field}'", e.Message);
    }

    [Fact]
    public void Clex_WithoutWeights_IsConfigErrorAskingForThem()
    {
        var config = RopeTestConfig.Write(_dir, RopeTestConfig.Llama(64, 10000, 2048, new JsonObject { ["type"] = "clex", ["max_factor"] = 4 }));
        var e = Assert.Throws<ConfigException>(() => RopeScaling.Create(config));
        Assert.Contains("clex", e.Message);
        Assert.Contains("weights", e.Message);
        Assert.Throws<ConfigException>(() => RopeFrequencies.FromConfig(config));
    }

    [Fact]
    public void Yarn_TruncateFalse_KeepsFractionalRampEnds()
    {
        // Expected ends: find_correction_dim(32) and (1) for d = 64, base 150000, L_orig = 4096, computed here.
        var golden = s_golden.Value["yarn32_d64_base150000_notruncate"];
        var yarn = Assert.IsType<YarnRope>(RopeScaling.Create(Config(golden)));
        double Dim(double r) => 64 * Math.Log(4096 / (r * 2 * Math.PI)) / (2 * Math.Log(150000));
        Assert.Equal(Dim(32), yarn.RampLow, 1e-12);
        Assert.Equal(Dim(1), yarn.RampHigh, 1e-12);
        Assert.NotEqual(Math.Floor(yarn.RampLow), yarn.RampLow);
    }
}
