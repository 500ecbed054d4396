using System.Text.Json.Nodes;
using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.Config;
using LongLM.Runtime.Rope;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.RotaryEmbedding;

/// <summary>
/// <see cref="ClexRope"/>: loading from a checkpoint (fixtures written with SafeTensorsWriter), stored inv_freq used bit
/// for bit (algorithms.md 7.6), t selection and log scaling (7.7). Expected values are the spec's tables unless a test
/// says otherwise.
/// </summary>
public sealed class ClexRopeTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static JsonObject ClexScaling(int maxFactor = 16, double paramFactor = 1, string? act = "tanh") =>
        act is null
            ? new JsonObject { ["type"] = "clex", ["max_factor"] = maxFactor, ["param_factor"] = paramFactor, ["factor"] = 1 }
            : new JsonObject { ["type"] = "clex", ["max_factor"] = maxFactor, ["param_factor"] = paramFactor, ["factor"] = 1, ["act"] = act, ["time_dt"] = 0.01 };

    /// <summary>Writes config.json and model.safetensors holding the three CLEX tensors (plus an unrelated one).</summary>
    private (ModelConfig Config, WeightStore Store) Fixture(int headDim, double ropeTheta, int maxPositionEmbeddings, JsonObject scaling,
        (DType DType, long[] Shape, float[] Values) invFreq, (DType DType, long[] Shape, float[] Values) up, (DType DType, long[] Shape, float[] Values) down,
        bool? logScale = null)
    {
        var json = RopeTestConfig.Llama(headDim, ropeTheta, maxPositionEmbeddings, scaling);
        if (logScale is { } ls) json["log_scale"] = ls;
        var config = RopeTestConfig.Write(_dir, json);
        new SafeTensorsWriter()
            .Add("model.embed_tokens.weight", DType.F32, [2, 2], [1f, 2f, 3f, 4f])
            .Add(ClexRope.InvFreqTensor, invFreq.DType, invFreq.Shape, invFreq.Values)
            .Add(ClexRope.UpProjTensor, up.DType, up.Shape, up.Values)
            .Add(ClexRope.DownProjTensor, down.DType, down.Shape, down.Values)
            .Write(_dir.File(WeightStore.SingleFile));
        return (config, WeightStore.Open(_dir.Path));
    }

    private static float[] Base(double theta, int d) => Array.ConvertAll(RopeFrequencies.Base(theta, d), x => (float)x);

    private static float Bf16(float x) => BitConverter.UInt32BitsToSingle((uint)ElementConvert.SingleToBFloat16(x) << 16);

    // ---- 7.6: the stored inv_freq, bf16-rounded, is used bit for bit ----

    [Fact]
    public void Bf16StoredInvFreq_IsUsedBitForBit_NotRecomputedFromRopeTheta()
    {
        const int d = 128, m = 64;
        var exact = Base(1e4, d);
        var (config, store) = Fixture(d, 1e4, 4096, ClexScaling(), (DType.BF16, [m], exact), (DType.BF16, [m, d], new float[m * d]), (DType.BF16, [d, m], new float[d * m]));
        using var _ = store;

        var rope = ClexRope.Load(store, config);
        var t1 = rope.Frequencies(1);

        // 7.6 table: exact 0.865964323 / 0.316227766 / 0.01 are stored as bf16 0.8671875 / 0.31640625 / 0.0100097656.
        Assert.Equal(BitConverter.SingleToUInt32Bits(0.8671875f), BitConverter.SingleToUInt32Bits(t1[1]));
        Assert.Equal(BitConverter.SingleToUInt32Bits(0.31640625f), BitConverter.SingleToUInt32Bits(t1[8]));
        Assert.Equal(BitConverter.SingleToUInt32Bits(0.010009765625f), BitConverter.SingleToUInt32Bits(t1[32]));
        for (int k = 0; k < m; k++) Assert.Equal(BitConverter.SingleToUInt32Bits(Bf16(exact[k])), BitConverter.SingleToUInt32Bits(t1[k]));
        Assert.NotEqual(0.865964323f, t1[1]);

        // IRopeScaling at S <= L_tr hands out the same values, widened exactly.
        var viaFactory = RopeScaling.Create(config, store).Compute(4096);
        Assert.Equal(Array.ConvertAll(t1, x => (double)x), viaFactory.InverseFrequencies);
        Assert.Equal(1f, viaFactory.AttentionFactor);

        // The ODE starts from the stored values too: with W_down = 0, θ_1(2) = 0.8671875 · 3^(-2/126) (closed form of 7.5 a),
        // not the table's 0.850994291 that a recomputed inv_freq would give.
        double fromStored = 0.8671875 * Math.Pow(3, -2.0 / 126);
        Assert.Equal(fromStored, rope.Frequencies(2)[1], fromStored * 1e-5);
        Assert.True(Math.Abs(rope.Frequencies(2)[1] - 0.850994291) > 1e-3);
    }

    [Fact]
    public void Load_ReadsWeightsRowVectorTimesMatrix_AndTimeBaseIs1e4EvenForRopeTheta1e6()
    {
        // 7.5 (b) weights and 7.5 (c) initial value: a Mixtral-like checkpoint (rope_theta 1e6) storing inv_freq [1, 1e-3]
        // as F32. z(3) must be the table's [-0.08482088085, -8.585063175] (B = 1e4), so θ(3) = exp of it.
        float[] up = [0.3f, -0.2f, 0.1f, 0.05f, -0.1f, 0.25f, -0.3f, 0.2f];
        float[] down = [0.1f, -0.05f, 0.02f, 0.08f, -0.07f, 0.03f, 0.04f, -0.06f];
        var (config, store) = Fixture(4, 1e6, 32768, ClexScaling(maxFactor: 10),
            (DType.F32, [2], [1f, (float)Math.Pow(1e6, -0.5)]), (DType.F32, [2, 4], up), (DType.F32, [4, 2], down));
        using var _ = store;

        var rope = Assert.IsType<ClexRope>(RopeScaling.Create(config, store));
        Assert.Equal(10, rope.MaxFactor);
        Assert.Equal(32768, rope.TrainedLength);
        Assert.Equal(ClexActivation.Tanh, rope.Activation);
        var theta3 = rope.Frequencies(3);
        double[] expected = [Math.Exp(-0.08482088085), Math.Exp(-8.585063175)];
        for (int k = 0; k < 2; k++) Assert.Equal(expected[k], theta3[k], expected[k] * 3e-6);
        Assert.Same(rope.Compute(2 * 32768 + 1), rope.Compute(3 * 32768));
        Assert.Equal(Array.ConvertAll(theta3, x => (double)x), rope.Compute(3 * 32768).InverseFrequencies);
    }

    [Fact]
    public void Load_MissingAct_DefaultsToSilu_AndReadsLogScale()
    {
        const int d = 4, m = 2;
        var (config, store) = Fixture(d, 1e4, 64, ClexScaling(maxFactor: 2, act: null),
            (DType.F32, [m], Base(1e4, d)), (DType.F32, [m, d], new float[m * d]), (DType.F32, [d, m], new float[d * m]), logScale: true);
        using var _ = store;
        var rope = ClexRope.Load(store, config);
        Assert.Equal(ClexActivation.Silu, rope.Activation);
        Assert.Equal(0.01, rope.TimeDt);
        Assert.True(rope.LogScaleInConfig);
    }

    // ---- Load errors ----

    [Theory]
    [InlineData(ClexRope.InvFreqTensor)]
    [InlineData(ClexRope.UpProjTensor)]
    [InlineData(ClexRope.DownProjTensor)]
    public void Load_WrongShape_IsSafeTensorsErrorNamingTensorAndParamFactor(string wrong)
    {
        const int d = 8, m = 4;
        (DType, long[], float[]) Tensor(string name, long[] shape) =>
            (DType.F32, name == wrong ? [.. shape.Reverse().Append(1L)] : shape, new float[shape.Aggregate(1L, (a, b) => a * b)]);
        var inv = Tensor(ClexRope.InvFreqTensor, [m]);
        inv.Item3 = Base(1e4, d);
        var (config, store) = Fixture(d, 1e4, 64, ClexScaling(maxFactor: 2), inv, Tensor(ClexRope.UpProjTensor, [m, d]), Tensor(ClexRope.DownProjTensor, [d, m]));
        using var _ = store;
        var e = Assert.Throws<SafeTensorsException>(() => ClexRope.Load(store, config));
        Assert.Contains(wrong, e.Message);
        Assert.Contains("param_factor", e.Message);
    }

    [Fact]
    public void Load_ParamFactorDisagreeingWithTensors_IsSafeTensorsError()
    {
        const int d = 8, m = 4;
        var (config, store) = Fixture(d, 1e4, 64, ClexScaling(maxFactor: 2, paramFactor: 2),
            (DType.F32, [m], Base(1e4, d)), (DType.F32, [m, d], new float[m * d]), (DType.F32, [d, m], new float[d * m]));
        using var _ = store;
        var e = Assert.Throws<SafeTensorsException>(() => ClexRope.Load(store, config));
        Assert.Contains("[4, 16]", e.Message);
    }

    [Fact]
    public void Load_MissingTensor_IsSafeTensorsErrorNamingIt()
    {
        var config = RopeTestConfig.Write(_dir, RopeTestConfig.Llama(8, 1e4, 64, ClexScaling(maxFactor: 2)));
        new SafeTensorsWriter().Add(ClexRope.InvFreqTensor, DType.F32, [4], Base(1e4, 8)).Write(_dir.File(WeightStore.SingleFile));
        using var store = WeightStore.Open(_dir.Path);
        var e = Assert.Throws<SafeTensorsException>(() => ClexRope.Load(store, config));
        Assert.Contains(ClexRope.UpProjTensor, e.Message);
    }

    [Theory]
    [InlineData("max_factor", null, "max_factor")]
    [InlineData("max_factor", "2.5", "max_factor")]
    [InlineData("act", "\"relu\"", "'relu'")]
    [InlineData("time_dt", "-0.01", "time_dt")]
    [InlineData("param_factor", "0.3", "param_factor")]
    public void Load_BadScalingField_IsConfigErrorNamingIt(string field, string? value, string phrase)
    {
        var scaling = ClexScaling(maxFactor: 2);
        scaling.Remove(field);
        if (value is not null) scaling[field] = JsonNode.Parse(value);
        var (config, store) = Fixture(8, 1e4, 64, scaling,
            (DType.F32, [4], Base(1e4, 8)), (DType.F32, [4, 8], new float[32]), (DType.F32, [8, 4], new float[32]));
        using var _ = store;
        var e = Assert.Throws<ConfigException>(() => ClexRope.Load(store, config));
        Assert.Contains(phrase, e.Message);
    }

    // ---- 7.7: t selection and log factor, L_tr = 4096, max_factor 16 ----

    private static ClexRope Llama2Like(bool extend = false)
    {
        float[] up = [0.3f, -0.2f, 0.1f, 0.05f, -0.1f, 0.25f, -0.3f, 0.2f];
        float[] down = [0.1f, -0.05f, 0.02f, 0.08f, -0.07f, 0.03f, 0.04f, -0.06f];
        return new ClexRope([1f, 0.01f], up, down, 4, ClexActivation.Silu, 0.01, 16, 4096, extend);
    }

    [Theory]
    [InlineData(1, 1)]
    [InlineData(4095, 1)]
    [InlineData(4096, 1)]
    [InlineData(4097, 2)]
    [InlineData(8192, 2)]
    [InlineData(8193, 3)]
    [InlineData(16384, 4)]
    [InlineData(65536, 16)]
    [InlineData(65537, 16)]
    public void SelectT_IsCeilOfLengthOverTrainedLength_CappedAtMaxFactor(long length, int t)
    {
        var rope = Llama2Like();
        Assert.Equal(t, rope.SelectT(length));
        Assert.Equal(length > 65536, rope.Exceeds(length));
    }

    [Fact]
    public void BeyondMaxLength_IsRefused_UnlessExtended()
    {
        var e = Assert.Throws<LongLMException>(() => Llama2Like().Compute(65537));
        Assert.Contains("65536", e.Message);
        var extended = Llama2Like(extend: true);
        Assert.Equal(Array.ConvertAll(extended.Frequencies(16), x => (double)x), extended.Compute(65537).InverseFrequencies);
        Assert.Equal(Array.ConvertAll(extended.Frequencies(16), x => (double)x), extended.Compute(1_000_000).InverseFrequencies);
    }

    [Fact]
    public void Frequencies_AtScaleOne_AreTheStoredOnes_AndChangeWithT()
    {
        var rope = Llama2Like();
        Assert.Equal([1f, 0.01f], rope.Frequencies(1));
        Assert.NotEqual(rope.Frequencies(1), rope.Frequencies(2));
        Assert.Throws<ArgumentOutOfRangeException>(() => rope.Frequencies(0));
        Assert.Throws<ArgumentOutOfRangeException>(() => rope.Frequencies(17));
    }

    [Theory]
    [InlineData(1, 0.0, 0.0)]
    [InlineData(100, 0.5536547, 0.55078125)]
    [InlineData(2048, 0.9166667, 0.91796875)]
    [InlineData(4096, 1.0, 1.0)]
    [InlineData(8192, 1.0833333, 1.0859375)]
    [InlineData(16384, 1.1666667, 1.1640625)]
    [InlineData(65536, 1.3333333, 1.328125)]
    public void LogScale_IsUnclampedLnRatio_AndBf16EmulationRoundsLikeTheReference(long keys, double exact, double bf16)
    {
        // 7.7's bf16 column printed 7 digits (0.5507812, 0.9179688); these are the bf16 values themselves.
        var rope = Llama2Like();
        Assert.Equal(exact, rope.LogScale(keys, bf16: false), 5e-8);
        Assert.Equal(bf16, rope.LogScale(keys, bf16: true));
    }
}
