using System.Text;
using LongLM.Kernels;
using LongLM.Runtime;
using LongLM.Runtime.SafeTensors;

namespace LongLM.Tests.SafeTensors;

/// <summary>Model folders: a single model.safetensors, sharded checkpoints with an index, and their failure modes.</summary>
public sealed class WeightStoreTests : IDisposable
{
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private string ModelDir => _dir.Path;

    private void WriteShard(string fileName, params (string Name, float[] Values)[] tensors)
    {
        var writer = new SafeTensorsWriter();
        foreach (var (name, values) in tensors) writer.Add(name, DType.F32, [values.Length], values);
        writer.Write(_dir.File(fileName));
    }

    private void WriteIndex(params (string Tensor, string Shard)[] entries)
    {
        var json = new StringBuilder("""{"metadata":{"total_size":0},"weight_map":{""");
        json.AppendJoin(",", entries.Select(e => $"\"{e.Tensor}\":\"{e.Shard}\""));
        json.Append("}}");
        _dir.WriteText(WeightStore.IndexFile, json.ToString());
    }

    private SafeTensorsException AssertOpenFails(params string[] phrases)
    {
        var ex = Assert.Throws<SafeTensorsException>(() => WeightStore.Open(ModelDir).Dispose());
        foreach (string phrase in phrases) Assert.Contains(phrase, ex.Message);
        return ex;
    }

    // ---- single file ------------------------------------------------------------------------------------------

    [Fact]
    public void Open_SingleModelFile_LoadsEveryTensor()
    {
        new SafeTensorsWriter()
            .Add("model.embed_tokens.weight", DType.BF16, [4, 2], [1, 2, 3, 4, 5, 6, 7, 8])
            .Add("model.norm.weight", DType.F32, [2], [0.5f, 0.25f])
            .Write(_dir.File(WeightStore.SingleFile));
        using var store = WeightStore.Open(ModelDir);
        Assert.Single(store.Files);
        Assert.Equal(ModelDir, store.Directory);
        Assert.Equal(["model.embed_tokens.weight", "model.norm.weight"], store.Names.Order(StringComparer.Ordinal).ToArray());
        Assert.True(store.Contains("model.norm.weight"));
        Assert.False(store.Contains("lm_head.weight"));
        Assert.Equal([1f, 2f, 3f, 4f, 5f, 6f, 7f, 8f], store.View("model.embed_tokens.weight", 4, 2).ToFloat32());
        Assert.Equal([0.5f, 0.25f], store.View("model.norm.weight").ToFloat32());
        Assert.Equal(DType.BF16, store.Info("model.embed_tokens.weight").DType);
    }

    [Fact]
    public void Open_LoneSafetensorsFileWithOtherName_IsUsed()
    {
        WriteShard("weights.safetensors", ("w", [1f, 2f]));
        using var store = WeightStore.Open(ModelDir);
        Assert.Equal([1f, 2f], store.View("w").ToFloat32());
    }

    [Fact]
    public void Open_FolderWithoutSafetensors_ThrowsMentioningModelSafetensors()
    {
        _dir.WriteText("config.json", "{}");
        var ex = Assert.Throws<LongLMException>(() => WeightStore.Open(ModelDir).Dispose());
        Assert.Contains(WeightStore.SingleFile, ex.Message);
        Assert.Contains(ModelDir, ex.Message);
    }

    [Fact]
    public void Open_MissingFolder_ThrowsMentioningModelSafetensors()
    {
        string missing = Path.Combine(ModelDir, "no-such-model");
        var ex = Assert.Throws<LongLMException>(() => WeightStore.Open(missing).Dispose());
        Assert.Contains(WeightStore.SingleFile, ex.Message);
    }

    [Fact]
    public void Open_TwoUnindexedSafetensorsFiles_ThrowsMentioningModelSafetensors()
    {
        // Without an index there is no telling which file is the model.
        WriteShard("a.safetensors", ("w", [1f]));
        WriteShard("b.safetensors", ("v", [2f]));
        var ex = Assert.Throws<LongLMException>(() => WeightStore.Open(ModelDir).Dispose());
        Assert.Contains(WeightStore.SingleFile, ex.Message);
    }

    [Fact]
    public void Open_CorruptModelFile_ThrowsNamingFile()
    {
        _dir.Write(WeightStore.SingleFile, RawSafeTensors.Build("[]", []));
        AssertOpenFails(WeightStore.SingleFile, "not a JSON object");
    }

    // ---- shape checks, missing tensors ------------------------------------------------------------------------

    [Fact]
    public void View_WrongExpectedShape_ThrowsNamingTensorAndBothShapes()
    {
        new SafeTensorsWriter().Add("model.layers.0.mlp.up_proj.weight", DType.F32, [2, 3], [1, 2, 3, 4, 5, 6])
            .Write(_dir.File(WeightStore.SingleFile));
        using var store = WeightStore.Open(ModelDir);
        var ex = Assert.Throws<SafeTensorsException>(() => store.View("model.layers.0.mlp.up_proj.weight", 3, 2));
        Assert.Contains("'model.layers.0.mlp.up_proj.weight'", ex.Message);
        Assert.Contains("[2, 3]", ex.Message);
        Assert.Contains("[3, 2]", ex.Message);
        Assert.Contains(WeightStore.SingleFile, ex.Message);

        var rank = Assert.Throws<SafeTensorsException>(() => store.View("model.layers.0.mlp.up_proj.weight", 6));
        Assert.Contains("[6]", rank.Message);

        var view = store.View("model.layers.0.mlp.up_proj.weight", 2, 3);
        Assert.Equal((2, 3), (view.Rows, view.Cols));
    }

    [Fact]
    public void View_MissingTensor_ThrowsNamingTensor()
    {
        WriteShard(WeightStore.SingleFile, ("present", [1f]));
        using var store = WeightStore.Open(ModelDir);
        var ex = Assert.Throws<SafeTensorsException>(() => store.View("lm_head.weight"));
        Assert.Contains("'lm_head.weight'", ex.Message);
        Assert.Contains("not found", ex.Message);
        Assert.Contains(WeightStore.SingleFile, ex.Message);
        Assert.Throws<SafeTensorsException>(() => store.View("lm_head.weight", 1));
        Assert.Throws<SafeTensorsException>(() => store.Info("lm_head.weight"));
    }

    [Fact]
    public void View_MissingTensorInShardedStore_NamesIndex()
    {
        WriteShard("s1.safetensors", ("a", [1f]));
        WriteShard("s2.safetensors", ("b", [2f]));
        WriteIndex(("a", "s1.safetensors"), ("b", "s2.safetensors"));
        using var store = WeightStore.Open(ModelDir);
        var ex = Assert.Throws<SafeTensorsException>(() => store.View("c"));
        Assert.Contains("'c'", ex.Message);
        Assert.Contains(WeightStore.IndexFile, ex.Message);
    }

    // ---- sharded ----------------------------------------------------------------------------------------------

    [Fact]
    public void Open_TwoShardsWithIndex_LoadsEveryTensorFromItsShard()
    {
        const string shard1 = "model-00001-of-00002.safetensors";
        const string shard2 = "model-00002-of-00002.safetensors";
        WriteShard(shard1, ("embed", [1f, 2f]), ("layer0", [3f, 4f, 5f]));
        WriteShard(shard2, ("layer1", [6f]), ("norm", [7f, 8f]));
        WriteIndex(("embed", shard1), ("layer0", shard1), ("layer1", shard2), ("norm", shard2));

        using var store = WeightStore.Open(ModelDir);
        Assert.Equal(2, store.Files.Count);
        Assert.Equal(["embed", "layer0", "layer1", "norm"], store.Names.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal([1f, 2f], store.View("embed").ToFloat32());
        Assert.Equal([3f, 4f, 5f], store.View("layer0", 3).ToFloat32());
        Assert.Equal([6f], store.View("layer1").ToFloat32());
        Assert.Equal([7f, 8f], store.View("norm").ToFloat32());

        var byName = store.Files.ToDictionary(f => Path.GetFileName(f.FilePath));
        Assert.Equal(["embed", "layer0"], byName[shard1].Tensors.Keys.Order(StringComparer.Ordinal).ToArray());
        Assert.Equal(["layer1", "norm"], byName[shard2].Tensors.Keys.Order(StringComparer.Ordinal).ToArray());
    }

    [Fact]
    public void Open_IndexTakesPrecedenceOverModelSafetensors()
    {
        WriteShard(WeightStore.SingleFile, ("w", [1f]));
        WriteShard("shard.safetensors", ("w", [2f]));
        WriteIndex(("w", "shard.safetensors"));
        using var store = WeightStore.Open(ModelDir);
        Assert.Equal([2f], store.View("w").ToFloat32());
    }

    [Fact]
    public void Open_SameTensorNameInTwoShards_UsesTheShardTheIndexNames()
    {
        WriteShard("s1.safetensors", ("w", [1f]), ("x", [10f]));
        WriteShard("s2.safetensors", ("w", [2f]));
        WriteIndex(("x", "s1.safetensors"), ("w", "s2.safetensors"));
        using var store = WeightStore.Open(ModelDir);
        Assert.Equal([2f], store.View("w").ToFloat32());
        Assert.Equal([10f], store.View("x").ToFloat32());
    }

    [Fact]
    public void Open_IndexNamingMissingShard_ThrowsNamingShard()
    {
        WriteShard("model-00001-of-00002.safetensors", ("a", [1f]));
        WriteIndex(("a", "model-00001-of-00002.safetensors"), ("b", "model-00002-of-00002.safetensors"));
        var ex = AssertOpenFails(WeightStore.IndexFile, "shard 'model-00002-of-00002.safetensors'", "is missing");
        Assert.Contains("'b'", ex.Message);
    }

    [Theory]
    [InlineData("../outside.safetensors")]
    [InlineData("sub/inner.safetensors")]
    [InlineData("./sub/inner.safetensors")]
    [InlineData("/tmp/absolute.safetensors")]
    [InlineData("..")]
    [InlineData(".")]
    [InlineData("")]
    public void Open_ShardNameWithPath_IsRefused(string shard)
    {
        // Put real files where the path points, so the refusal is about the path, not a missing file.
        using var outer = new TempDirectory();
        string modelDir = Path.Combine(outer.Path, "model");
        Directory.CreateDirectory(Path.Combine(modelDir, "sub"));
        new SafeTensorsWriter().Add("w", DType.F32, [1], [1]).Write(Path.Combine(outer.Path, "outside.safetensors"));
        new SafeTensorsWriter().Add("w", DType.F32, [1], [1]).Write(Path.Combine(modelDir, "sub", "inner.safetensors"));
        File.WriteAllText(Path.Combine(modelDir, WeightStore.IndexFile), $$$"""{"weight_map":{"w":"{{{shard}}}"}}""");

        var ex = Assert.Throws<SafeTensorsException>(() => WeightStore.Open(modelDir).Dispose());
        Assert.Contains(WeightStore.IndexFile, ex.Message);
        Assert.Contains($"'{shard}'", ex.Message);
        Assert.Contains("not a file in the model folder", ex.Message);
    }

    [Theory]
    [InlineData("{\"weight_map\":{\"w\":\"s.safetensors\"")]
    [InlineData("not json at all")]
    [InlineData("")]
    public void Open_IndexWithInvalidJson_ThrowsNamingIndex(string index)
    {
        WriteShard("s.safetensors", ("w", [1f]));
        _dir.WriteText(WeightStore.IndexFile, index);
        AssertOpenFails(WeightStore.IndexFile, "not valid JSON");
    }

    [Theory]
    [InlineData("[]")]
    [InlineData("[{\"weight_map\":{}}]")]
    [InlineData("\"weight_map\"")]
    [InlineData("null")]
    public void Open_IndexJsonNotObject_ThrowsNamingIndex(string index)
    {
        _dir.WriteText(WeightStore.IndexFile, index);
        AssertOpenFails(WeightStore.IndexFile, "weight_map");
    }

    [Theory]
    [InlineData("{}")]
    [InlineData("{\"weight_map\":[]}")]
    [InlineData("{\"weight_map\":\"model.safetensors\"}")]
    public void Open_IndexWithoutWeightMapObject_ThrowsNamingIndex(string index)
    {
        _dir.WriteText(WeightStore.IndexFile, index);
        AssertOpenFails(WeightStore.IndexFile, "no \"weight_map\" object");
    }

    [Fact]
    public void Open_IndexEntryNotString_ThrowsNamingIndexAndTensor()
    {
        _dir.WriteText(WeightStore.IndexFile, """{"weight_map":{"w":1}}""");
        AssertOpenFails(WeightStore.IndexFile, "'w'", "is not a file name");
    }

    [Fact]
    public void Open_TensorListedInIndexButAbsentFromShard_ThrowsNamingTensorAndShard()
    {
        WriteShard("s1.safetensors", ("a", [1f]));
        WriteShard("s2.safetensors", ("b", [2f]));
        WriteIndex(("a", "s1.safetensors"), ("b", "s2.safetensors"), ("ghost", "s2.safetensors"));
        AssertOpenFails("s2.safetensors", "'ghost'", "not stored in this shard");
    }

    [Fact]
    public void Open_CorruptShard_ThrowsNamingShard()
    {
        WriteShard("good.safetensors", ("a", [1f]));
        _dir.Write("bad.safetensors", RawSafeTensors.LengthOnly(1UL << 40));
        WriteIndex(("a", "good.safetensors"), ("b", "bad.safetensors"));
        AssertOpenFails("bad.safetensors", "exceeds");
    }

    [Fact]
    public void Open_IndexWithInvalidUtf8_ThrowsNamingIndex()
    {
        WriteShard("s.safetensors", ("w", [1f]));
        byte[] index = Encoding.UTF8.GetBytes("""{"weight_map":{"w?":"s.safetensors"}}""");
        index[Array.IndexOf(index, (byte)'?')] = 0xFF;
        _dir.Write(WeightStore.IndexFile, index);
        AssertOpenFails(WeightStore.IndexFile, "not valid UTF-8");
    }

    [Fact]
    public void Open_IndexWithLoneSurrogateEscape_ThrowsNamingIndex()
    {
        WriteShard("s.safetensors", ("w", [1f]));
        _dir.WriteText(WeightStore.IndexFile, """{"weight_map":{"w":"s\ud800.safetensors"}}""");
        AssertOpenFails(WeightStore.IndexFile, "holds an invalid string");
    }
}
