using LongLM.Kernels;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Quant;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime;

namespace LongLM.Tests.Models;

/// <summary>
/// Load-time quantization (ModelOptions.Quantize). Expected values: the stored weights run through the reference
/// quantizers BlockQ8_0/BlockQ4_0.QuantizeRowReference (ggml's quantize_row_*_ref, checked by hand in QuantTests) row by row,
/// the F32 model's own logits for the closeness bound, and the F32 byte size of the tensors for the streaming bound.
/// </summary>
public sealed class LoadQuantizationTests : IDisposable
{
    private static string Stories => ModelFolderCopy.Stories260K;
    private static readonly int[] Ids = [1, 403, 407, 261, 378, 275, 370, 284, 267, 291, 307, 260, 445, 423, 293, 266];
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static DecoderModel Decoder(LanguageModel lm) => Assert.IsAssignableFrom<DecoderModel>(lm.Model);

    private static WeightView Loaded(LanguageModel lm, string name) =>
        ((CpuWeight)Decoder(lm).LoadedWeights.Single(w => w.Name == name)).View;

    [Fact]
    public void Q8_0Logits_CloseToF32ButNotEqual_ProjectionsQuantizedDownProjKept()
    {
        using var f32 = LanguageModel.Load(Stories);
        using var q8 = LanguageModel.Load(Stories, "cpu", new ModelOptions { Quantize = DType.Q8_0 });
        // q_proj [64, 64] is quantized; down_proj [64, 172] cannot be (172 % 32 != 0); the tied embedding/head stays F32.
        Assert.Equal(DType.Q8_0, Loaded(q8, "model.layers.0.self_attn.q_proj.weight").DType);
        Assert.Equal(DType.F32, Loaded(q8, "model.layers.0.mlp.down_proj.weight").DType);
        Assert.Equal(DType.F32, Loaded(q8, "model.embed_tokens.weight").DType);
        Assert.Equal(DType.F32, Loaded(q8, "model.layers.0.input_layernorm.weight").DType);
        float[] a = f32.Logits(Ids), b = q8.Logits(Ids);
        Assert.NotEqual(a, b);
        // Measured (16 positions x 512 logits, |logit| up to 18.9): max |difference| 0.41, mean 0.072, the same argmax at
        // every position. q8_0 weights and q8_0 activations over 64-wide rows average few errors; bounds 0.75 / 0.15.
        double max = a.Zip(b, (x, y) => Math.Abs(x - y)).Max(), mean = a.Zip(b, (x, y) => Math.Abs(x - y)).Average(), top = a.Max(MathF.Abs);
        int same = Enumerable.Range(0, Ids.Length).Count(p => Argmax(a, p) == Argmax(b, p));
        Assert.True(max < 0.75 && mean < 0.15, $"q8_0 logits differ from F32 by {max} at most, {mean} on average (largest |logit| {top})");
        Assert.Equal(Ids.Length, same);
    }

    private static int Argmax(float[] x, int p)
    {
        int best = 0;
        for (int i = 1; i < 512; i++) if (x[p * 512 + i] > x[p * 512 + best]) best = i;
        return best;
    }

    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void QuantizedWeights_AreTheReferenceQuantizerOfTheStoredRows(DType type)
    {
        using var lm = LanguageModel.Load(Stories, "cpu", new ModelOptions { Quantize = type });
        int quantized = 0;
        foreach (var weight in Decoder(lm).LoadedWeights)
        {
            var view = ((CpuWeight)weight).View;
            if (!view.DType.IsQuantized()) continue;
            quantized++;
            var stored = lm.Weights.View(view.Name);
            var expected = new byte[type.RowByteLength(stored.Cols)];
            for (int r = 0; r < stored.Rows; r++)
            {
                float[] row = new float[stored.Cols];
                ElementConvert.ToSingle(stored.RowBytes(r), stored.DType, row);
                if (type == DType.Q8_0) BlockQ8_0.QuantizeRowReference(row, expected); else BlockQ4_0.QuantizeRowReference(row, expected);
                Assert.True(expected.AsSpan().SequenceEqual(view.RowBytes(r)), $"{view.Name} row {r}");
            }
            // And dequantizing gives the stored row back within the format's step (d = amax/127 or amax/8 per block).
            float[] back = new float[stored.Cols], original = new float[stored.Cols];
            ElementConvert.ToSingle(view.RowBytes(0), view.DType, back);
            ElementConvert.ToSingle(stored.RowBytes(0), stored.DType, original);
            float amax = original.Max(MathF.Abs);
            Assert.All(back.Zip(original), p => Assert.True(MathF.Abs(p.First - p.Second) <= amax / (type == DType.Q8_0 ? 127f : 8f) * 1.01f));
        }
        // stories260K: 5 layers x (q, k, v, o, gate, up) = 30; down_proj (172 columns), norms and the tied embedding stay F32.
        Assert.Equal(30, quantized);
    }

    [Fact]
    public void QuantizeOutput_QuantizesTheTiedEmbeddingHead()
    {
        // llama.cpp's rule for a tied head: the shared token_embd tensor takes the output type.
        using var lm = LanguageModel.Load(Stories, "cpu", new ModelOptions { Quantize = DType.Q8_0, QuantizeOutput = true });
        Assert.Equal(DType.Q8_0, Loaded(lm, "model.embed_tokens.weight").DType);
        Assert.All(lm.Logits(Ids), v => Assert.True(float.IsFinite(v)));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void Quantizing_AllocatesNoManagedCopyOfTheWeights(bool bf16)
    {
        // The tiny fixture in BF16 exercises the one-row widening scratch; stories260K (F32) the in-place read.
        string dir = Stories;
        if (bf16)
        {
            dir = _dir.Path;
            FixtureWriter.Write("llama", FixtureShape.Find("tiny"), DType.BF16, 7, dir);
        }
        var options = new ModelOptions { Quantize = DType.Q8_0 };
        long Allocated(ModelOptions? o)
        {
            long before = GC.GetAllocatedBytesForCurrentThread();
            using var lm = LanguageModel.Load(dir, "cpu", o ?? new ModelOptions());
            return GC.GetAllocatedBytesForCurrentThread() - before;
        }
        Allocated(null); Allocated(options); // JIT and static caches out of the way
        long plain = Allocated(null), quantized = Allocated(options);
        long f32Bytes;
        using (var lm = LanguageModel.Load(dir, "cpu", options))
            f32Bytes = Decoder(lm).LoadedWeights.Where(w => w.DType.IsQuantized()).Sum(w => 4L * w.Rows * w.Cols);
        // What quantizing adds over the plain load: per tensor a view, one row of scratch at most (BF16) and list entries.
        // A float copy of the quantized tensors would add f32Bytes; allow a tenth of it.
        Assert.True(quantized - plain < f32Bytes / 10, $"quantized load allocated {quantized - plain} bytes more than the plain one; the quantized tensors are {f32Bytes} bytes as F32");
    }

    [Theory]
    [InlineData("mixtral", "model.layers.0.block_sparse_moe.experts.0.w2.weight", "model.layers.0.block_sparse_moe.gate.weight")]
    [InlineData("gpt-neox", "gpt_neox.layers.0.attention.query_key_value.weight[q]", "embed_out.weight")]
    [InlineData("gptj", "transformer.h.0.mlp.fc_out.weight", "lm_head.weight")]
    [InlineData("phi", "model.layers.0.self_attn.dense.weight", "model.embed_tokens.weight")]
    public void OtherFamilies_QuantizeProjectionsKeepRouterHeadAndEmbeddings(string family, string quantized, string kept)
    {
        // The fixtures' shapes (FixtureShape: hidden 64, intermediate 96 or 256) make every projection 32-divisible.
        FixtureWriter.Write(family, FixtureShape.Find(family, "tiny"), DType.F32, 3, _dir.Path);
        using var lm = LanguageModel.Load(_dir.Path, "cpu", new ModelOptions { Quantize = DType.Q8_0 });
        Assert.Equal(DType.Q8_0, Loaded(lm, quantized).DType);
        Assert.Equal(DType.F32, Loaded(lm, kept).DType);
        Assert.All(lm.Logits([1, 2, 3, 4]), v => Assert.True(float.IsFinite(v)));
    }

    /// <summary>
    /// The ILGPU kernels (ilgpu-cpu) run a quantized model as the cpu backend does: the same tensors quantized (the host
    /// quantizer feeds both), and logits equal up to float noise and the rare activation quant that float noise pushes
    /// across a rounding boundary (q8_0 activations step by amax/127). Measured on these 16 ids: max |difference| 1e-5
    /// for q8_0 and 0.11 for q4_0 (one such step from position 2 on), against 0.41 between q8_0 and F32 above. A wrong
    /// kernel (nibbles paired with the wrong half of the block, say) moves every logit by whole units.
    /// </summary>
    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void IlgpuCpu_QuantizedLogits_MatchTheCpuBackend(DType type)
    {
        var options = new ModelOptions { Quantize = type };
        using var cpu = LanguageModel.Load(Stories, "cpu", options);
        using var ilgpu = LanguageModel.Load(Stories, "ilgpu-cpu", options);
        Assert.Equal(type, Decoder(ilgpu).LoadedWeights.Single(w => w.Name == "model.layers.0.self_attn.q_proj.weight").DType);
        // The cpu backend reads its 30 quantized tensors in place; the ILGPU backend uploaded them and the host copies are gone.
        Assert.Equal(30, Decoder(cpu).HostQuantizedCopies);
        Assert.Equal(0, Decoder(ilgpu).HostQuantizedCopies);
        float[] a = cpu.Logits(Ids), b = ilgpu.Logits(Ids);
        double max = a.Zip(b, (x, y) => Math.Abs(x - y)).Max();
        Assert.True(max < 0.25, $"{type}: ilgpu-cpu logits differ from the cpu backend's by {max}");
        for (int p = 0; p < Ids.Length; p++) Assert.Equal(Argmax(a, p), Argmax(b, p));
    }

    [Fact]
    public void NotAQuantizedType_IsRefused()
    {
        Assert.Throws<LongLMException>(() => LanguageModel.Load(Stories, "cpu", new ModelOptions { Quantize = DType.BF16 }));
    }

    /// <summary>
    /// A NaN in a weight the rule quantizes is one clear error naming the tensor (the folder is untrusted input), not a
    /// garbage block scale. The NaN is written by hand into stories260K's q_proj bytes (offsets from the safetensors
    /// header); before the check, the load succeeded and wrote a NaN scale.
    /// </summary>
    [Theory]
    [InlineData(DType.Q8_0)]
    [InlineData(DType.Q4_0)]
    public void NonFiniteWeight_IsRefusedWithTheTensorName(DType type)
    {
        foreach (string f in Directory.GetFiles(Stories)) File.Copy(f, Path.Combine(_dir.Path, Path.GetFileName(f)));
        string file = Path.Combine(_dir.Path, "model.safetensors");
        byte[] bytes = File.ReadAllBytes(file);
        long headerLength = BitConverter.ToInt64(bytes, 0);
        using var header = System.Text.Json.JsonDocument.Parse(bytes.AsMemory(8, (int)headerLength));
        const string name = "model.layers.1.self_attn.q_proj.weight";
        long start = header.RootElement.GetProperty(name).GetProperty("data_offsets")[0].GetInt64();
        BitConverter.TryWriteBytes(bytes.AsSpan((int)(8 + headerLength + start + 4 * 70)), float.NaN); // row 1, column 6
        File.WriteAllBytes(file, bytes);
        var e = Assert.Throws<LongLMException>(() => LanguageModel.Load(_dir.Path, "cpu", new ModelOptions { Quantize = type }));
        Assert.Contains(name, e.Message);
        Assert.Contains("row 1", e.Message);
    }
}
