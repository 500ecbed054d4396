using System.Text.Json;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;

namespace LongLM.Tests.Models;

/// <summary>
/// Random-weight fixtures (biases, untied head, GQA, BF16 storage) against golden logits from the independent
/// NumPy reference tools/reference/llama_ref.py (see tools/reference/make_golden.sh for the exact commands).
/// </summary>
public sealed class FixtureGoldenTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();



    [Theory]
    [InlineData("tiny", DType.F32, 7UL, "fixture_tiny_f32_seed7_logits.json")]
    [InlineData("tiny-tied", DType.BF16, 11UL, "fixture_tiny-tied_bf16_seed11_logits.json")]
    public void Fixture_MatchesNumPyReferenceWithin1e4(string shape, DType dtype, ulong seed, string golden)
    {
        FixtureWriter.Write("llama", FixtureShape.Find(shape), dtype, seed, _dir.Path);
        var (ids, expected) = GoldenLogits.Read(golden);
        using var lm = LanguageModel.Load(_dir.Path);
        GoldenLogits.AssertWithin(expected, lm.Logits(ids), 1e-4);
    }

    [Fact]
    public void F16Storage_MatchesF32ModelWithinHalfRounding()
    {
        // Same seed in F16 and F32: the only difference is the storage rounding (relative 2^-11 per weight).
        string f32 = Path.Combine(_dir.Path, "f32"), f16 = Path.Combine(_dir.Path, "f16");
        FixtureWriter.Write("llama", FixtureShape.Find("tiny"), DType.F32, 7, f32);
        FixtureWriter.Write("llama", FixtureShape.Find("tiny"), DType.F16, 7, f16);
        int[] ids = [5, 100, 257, 300, 12];
        using var a = LanguageModel.Load(f32);
        using var b = LanguageModel.Load(f16);
        GoldenLogits.AssertWithin(a.Logits(ids), b.Logits(ids), 2e-2);
        Assert.NotEqual(a.Logits(ids), b.Logits(ids));
    }

    [Fact]
    public void ShardedCheckpoint_GivesSameLogitsAsSingleFile()
    {
        string single = Path.Combine(_dir.Path, "single"), sharded = Path.Combine(_dir.Path, "sharded");
        FixtureWriter.Write("llama", FixtureShape.Find("tiny"), DType.F32, 7, single);
        Directory.CreateDirectory(sharded);
        foreach (var f in Directory.GetFiles(single).Where(f => !f.EndsWith(".safetensors")))
            File.Copy(f, Path.Combine(sharded, Path.GetFileName(f)));
        // Split the tensors over two shards by re-writing them with the writer, and index them as HF does.
        using (var store = LongLM.Runtime.SafeTensors.WeightStore.Open(single))
        {
            var names = store.Names.ToArray();
            var map = new Dictionary<string, string>();
            for (int part = 0; part < 2; part++)
            {
                var writer = new LongLM.Runtime.SafeTensors.SafeTensorsWriter();
                string file = $"model-0000{part + 1}-of-00002.safetensors";
                foreach (var name in names.Where((_, i) => i % 2 == part))
                {
                    var info = store.Info(name);
                    writer.Add(name, info.DType, info.Shape, store.View(name).ToFloat32());
                    map[name] = file;
                }
                writer.Write(Path.Combine(sharded, file));
            }
            File.WriteAllText(Path.Combine(sharded, "model.safetensors.index.json"), JsonSerializer.Serialize(new { metadata = new { }, weight_map = map }));
        }
        int[] ids = [5, 100, 257, 300];
        using var a = LanguageModel.Load(single);
        using var b = LanguageModel.Load(sharded);
        Assert.Equal(2, b.Weights.Files.Count);
        Assert.Equal(a.Logits(ids), b.Logits(ids));
    }
}
