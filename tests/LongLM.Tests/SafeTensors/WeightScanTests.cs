using LongLM.Kernels;
using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.SafeTensors;
using LongLM.Tests.Cli;

namespace LongLM.Tests.SafeTensors;

/// <summary>
/// NaN or infinity stored in a weight: <see cref="WeightScan"/> names the first tensor and element, and
/// <see cref="ModelOptions.CheckWeights"/> / --check-weights turn it into a load error. Expected indices are where
/// each test planted the value.
/// </summary>
public sealed class WeightScanTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private WeightStore Store(Action<SafeTensorsWriter> add)
    {
        var writer = new SafeTensorsWriter();
        add(writer);
        writer.Write(_dir.File("model.safetensors"));
        return WeightStore.Open(_dir.Path);
    }

    private static float[] Ramp(int n) => Enumerable.Range(0, n).Select(i => (i % 97) * 0.125f - 6f).ToArray();

    [Theory]
    [InlineData(DType.F32, float.NaN)]
    [InlineData(DType.F32, float.PositiveInfinity)]
    [InlineData(DType.F16, float.NegativeInfinity)]
    [InlineData(DType.F16, float.NaN)]
    [InlineData(DType.BF16, float.PositiveInfinity)]
    [InlineData(DType.BF16, float.NaN)]
    public void FindNonFinite_NamesTheFirstTensorAndElement(DType dtype, float bad)
    {
        // Index 77 lies in the scalar tail after the whole vectors of a 79-element tensor; index 3 in the first vector.
        var second = Ramp(79);
        second[77] = bad;
        var third = Ramp(64);
        third[3] = bad;
        using var store = Store(w => w.Add("clean", dtype, [8, 8], Ramp(64)).Add("second", dtype, [79], second).Add("third", dtype, [8, 8], third));
        Assert.Equal(("second", 77L), WeightScan.FindNonFinite(store));
    }

    [Fact]
    public void FindNonFinite_CleanCheckpoint_IsNull_AndLargeFiniteValuesAreFinite()
    {
        // float.MaxValue (exponent 0xFE) and subnormals are finite; only an all-ones exponent is not.
        using var store = Store(w => w
            .Add("a", DType.F32, [4], [float.MaxValue, float.MinValue, float.Epsilon, -0f])
            .Add("b", DType.F16, [3], [65504f, -65504f, 6e-8f])
            .Add("c", DType.BF16, [2], [3e38f, -3e38f]));
        Assert.Null(WeightScan.FindNonFinite(store));
        WeightScan.ThrowIfNonFinite(store);
    }

    [Fact]
    public void FindNonFinite_PastTheFirstWindow_CountsTheWholeTensor()
    {
        // 5M floats (20 MB) are read in 16 MB windows; element 4_500_000 lies in the second one.
        const int n = 5_000_000, at = 4_500_000;
        using var store = Store(w => w.Add("big", DType.F32, [n / 1000, 1000], v => v[at] = float.NaN));
        Assert.Equal(("big", (long)at), WeightScan.FindNonFinite(store));
    }

    [Fact]
    public void ThrowIfNonFinite_NamesFileTensorElementAndValue()
    {
        var values = Ramp(12);
        values[7] = float.NegativeInfinity;
        using var store = Store(w => w.Add("model.norm.weight", DType.F32, [3, 4], values));
        var e = Assert.Throws<SafeTensorsException>(() => WeightScan.ThrowIfNonFinite(store));
        Assert.Contains("model.safetensors", e.Message);
        Assert.Contains("tensor 'model.norm.weight' [3, 4] F32 holds -Infinity at element 7 ([1, 3])", e.Message);
    }

    /// <summary>A copy of stories260K whose tensor <paramref name="name"/> holds NaN at element <paramref name="index"/>.</summary>
    private string StoriesWithNaN(string name, long index) => StoriesWith(name, index, float.NaN);

    /// <summary>A copy of stories260K whose tensor <paramref name="name"/> holds <paramref name="value"/> at elements [index, index + count).</summary>
    private string StoriesWith(string name, long index, float value, int count = 1)
    {
        string dir = ModelFolderCopy.Stories(_dir);
        string path = _dir.File("model.safetensors");
        long at;
        using (var file = SafeTensorsFile.Open(path))
        {
            var info = file.Info(name);
            Assert.Equal(DType.F32, info.DType);
            at = 8 + RawSafeTensors.HeaderLength(File.ReadAllBytes(path)) + info.Begin + index * 4;
        }
        var bytes = File.ReadAllBytes(path);
        for (int i = 0; i < count; i++) BitConverter.GetBytes(value).CopyTo(bytes, at + 4 * i);
        File.WriteAllBytes(path, bytes);
        return dir;
    }

    [Fact]
    public void LoadWithCheckWeights_RefusesNaN_WithoutIt_Loads()
    {
        string dir = StoriesWithNaN("model.layers.2.mlp.down_proj.weight", 1000);
        using (LanguageModel.Load(dir)) { }
        var e = Assert.Throws<SafeTensorsException>(() => LanguageModel.Load(dir, "cpu", new ModelOptions { CheckWeights = true }));
        Assert.Contains("tensor 'model.layers.2.mlp.down_proj.weight' [64, 172] F32 holds NaN at element 1000 ([5, 140])", e.Message);
    }

    [Theory]
    [InlineData("info")]
    [InlineData("generate")]
    [InlineData("logits")]
    [InlineData("ppl")]
    public void Cli_CheckWeights_IsExit2NamingTheTensor(string command)
    {
        string dir = StoriesWithNaN("model.embed_tokens.weight", 130);
        string text = _dir.WriteText("text.txt", "Once upon a time");
        string[] extra = command switch
        {
            "generate" => ["--max-tokens", "2"],
            "logits" => ["--ids", "1,2", "--out", _dir.File("l.json")],
            "ppl" => ["--text", text],
            _ => [],
        };
        var (exit, _, err) = CliRunner.Run([command, "--model", dir, "--check-weights", .. extra]);
        Assert.True(exit == 2, err);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("tensor 'model.embed_tokens.weight' [512, 64] F32 holds NaN at element 130 ([2, 2])", err);
    }

    // ---- without --check-weights: the forward itself refuses non-finite logits ----

    [Fact]
    public void NaNWeight_WithoutCheckWeights_ForwardStopsNamingTheTensor()
    {
        // One NaN in a layer's MLP poisons every later activation; the sampler must never see the NaN logits
        // (argmax over NaN would emit token 0 for ever).
        string dir = StoriesWithNaN("model.layers.2.mlp.down_proj.weight", 1000);
        using var lm = LanguageModel.Load(dir);
        var e = Assert.Throws<LongLMException>(() => lm.Logits([1, 403, 407]));
        Assert.Contains("non-finite logit", e.Message);
        Assert.Contains("tensor 'model.layers.2.mlp.down_proj.weight' holds a non-finite value at element 1000", e.Message);
    }

    [Fact]
    public void NaNWeight_Generate_IsExit2NamingTheTensor_NotTokenZeroForEver()
    {
        string dir = StoriesWithNaN("model.norm.weight", 5);
        var (exit, output, err) = CliRunner.Run("generate", "--model", dir, "--max-tokens", "20", "--temperature", "0");
        Assert.True(exit == 2, $"exit {exit}: {output} {err}");
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("tensor 'model.norm.weight' holds a non-finite value at element 5", err);
    }

    [Fact]
    public void FiniteWeightsThatOverflow_SayTheActivationsOverflowed()
    {
        // Every final-norm weight 3e38: finite, but the logits overflow to infinity.
        string dir = StoriesWith("model.norm.weight", 0, 3e38f, count: 64);
        using var lm = LanguageModel.Load(dir);
        var e = Assert.Throws<LongLMException>(() => lm.Logits([1, 403]));
        Assert.Contains("every weight is finite, so the activations overflowed float32", e.Message);
    }
}
