using System.Text.Json;
using LongLM.Tests.Kernels;

namespace LongLM.Tests.Cli;

public sealed class CliTests : IDisposable
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");
    private readonly TempDirectory _dir = new();

    public void Dispose() => _dir.Dispose();

    private static int[] Ints(JsonElement e) => e.EnumerateArray().Select(x => x.GetInt32()).ToArray();

    /// <summary>A writable copy of stories260K to damage.</summary>
    private void CopyStories()
    {
        foreach (var f in Directory.GetFiles(Stories)) File.Copy(f, _dir.File(Path.GetFileName(f)));
    }

    [Fact]
    public void Generate_GreedyJson_EqualsLlama2cGolden()
    {
        // expected_greedy_200.json comes from llama2.c's run.c; the CLI must reproduce it through tokenizer, BOS and sampling flags.
        var (exit, output, err) = CliRunner.Run("generate", "--model", Stories, "--prompt", "", "--max-tokens", "200", "--temperature", "0", "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(output);
        using var golden = JsonDocument.Parse(File.ReadAllText(Path.Combine(Stories, "expected_greedy_200.json")));
        Assert.Equal([1], Ints(doc.RootElement.GetProperty("prompt_ids")));
        Assert.Equal(Ints(golden.RootElement.GetProperty("greedy_ids")), Ints(doc.RootElement.GetProperty("ids")));
        Assert.StartsWith("Once upon a time, there was a little girl named Lily.", doc.RootElement.GetProperty("text").GetString());
    }

    [Fact]
    public void Generate_Streaming_PrintsSameTextAsJson()
    {
        var json = CliRunner.Run("generate", "--model", Stories, "--prompt", "Once upon a time", "--max-tokens", "30", "--temperature", "0", "--json");
        var text = CliRunner.Run("generate", "--model", Stories, "--prompt", "Once upon a time", "--max-tokens", "30", "--temperature", "0");
        Assert.Equal(0, text.Exit);
        using var doc = JsonDocument.Parse(json.Out);
        Assert.Equal(doc.RootElement.GetProperty("text").GetString() + Environment.NewLine, text.Out);
    }

    [Fact]
    public void Generate_SeededSampling_IsReproducible()
    {
        string[] args = ["generate", "--model", Stories, "--prompt", "Lily", "--max-tokens", "40", "--temperature", "1", "--top-p", "0.9", "--seed", "1234", "--json"];
        var a = CliRunner.Run(args);
        var b = CliRunner.Run(args);
        Assert.Equal(0, a.Exit);
        Assert.Equal(a.Out, b.Out);
        var c = CliRunner.Run([.. args[..^2], "4321", "--json"]);
        Assert.NotEqual(a.Out, c.Out);
    }

    [Fact]
    public void Logits_Ids_WritesEveryPosition()
    {
        string file = _dir.File("logits.json");
        var (exit, _, err) = CliRunner.Run("logits", "--model", Stories, "--ids", "1,403,407", "--out", file);
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        Assert.Equal([1, 403, 407], Ints(doc.RootElement.GetProperty("ids")));
        var rows = doc.RootElement.GetProperty("logits").EnumerateArray().ToArray();
        Assert.Equal(3, rows.Length);
        Assert.All(rows, r => Assert.Equal(512, r.GetArrayLength()));
        // Greedy golden: after BOS the argmax is 403, after 403 it is 407.
        int Argmax(JsonElement r) => r.EnumerateArray().Select((v, i) => (v.GetSingle(), i)).Max().i;
        Assert.Equal(403, Argmax(rows[0]));
        Assert.Equal(407, Argmax(rows[1]));
    }

    [Fact]
    public void Tokenize_Json_MatchesSentencePieceIds()
    {
        // tokenizer-expected.json: ids from Google's sentencepiece, without BOS.
        var (exit, output, _) = CliRunner.Run("tokenize", "--model", Stories, "--text", "Hello, world!", "--no-bos", "--json");
        Assert.Equal(0, exit);
        Assert.Equal("""{"ids":[346,306,414,432,263,304,341,443]}""", output.Trim());
        var withBos = CliRunner.Run("tokenize", "--model", Stories, "--text", "Hello, world!", "--json");
        Assert.StartsWith("""{"ids":[1,346,""", withBos.Out);
    }

    [Fact]
    public void Info_Json_DescribesModel()
    {
        var (exit, output, err) = CliRunner.Run("info", "--model", Stories, "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(output);
        var r = doc.RootElement;
        Assert.Equal("LlamaForCausalLM", r.GetProperty("architecture").GetString());
        Assert.Equal(5, r.GetProperty("num_hidden_layers").GetInt32());
        Assert.Equal(512, r.GetProperty("trained_context").GetInt32());
        Assert.Equal("sentencepiece", r.GetProperty("tokenizer").GetString());
        // 512x64 tied embeddings + 5 x (2x64 norms + q 64x64 + k,v 32x64 + o 64x64 + 3 x 172x64) + 64 final norm.
        Assert.Equal(260_032, r.GetProperty("parameters").GetInt64());
    }

    [Theory]
    [InlineData("generate", "--model", "/nonexistent/model")]
    [InlineData("generate", "--model")]
    [InlineData("generate", "--model", "X", "--max-tokens", "many")]
    [InlineData("generate", "--bogus-flag")]
    [InlineData("frobnicate")]
    [InlineData("make-fixture", "--shape", "huge", "--out", "x")]
    public void UserErrors_OneLineExitCode2(params string[] args)
    {
        var (exit, _, err) = CliRunner.Run(args);
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
        Assert.StartsWith("longlm: error:", err);
    }

    [Fact]
    public void Generate_BadBackend_IsUsageError()
    {
        var (exit, _, err) = CliRunner.Run("generate", "--model", Stories, "--backend", "tpu");
        Assert.Equal(2, exit);
        Assert.Contains("tpu", err);
    }

    [NoGpuFact]
    public void Generate_CudaWithoutGpu_IsOneLineErrorExit2()
    {
        var (exit, _, err) = CliRunner.Run("generate", "--model", Stories, "--backend", "cuda", "--max-tokens", "2");
        Assert.Equal(2, exit);
        Assert.Single(err.Trim().Split('\n'));
        Assert.Contains("--backend cpu", err);
    }

    [GpuFact]
    public void Generate_CudaWithGpu_GreedyEqualsLlama2cIds()
    {
        // The counterpart of the test above on a GPU machine. Expected: the first 32 of expected_greedy_200.json (ids of
        // llama2.c's run.c from BOS).
        using var expected = JsonDocument.Parse(File.ReadAllText(Path.Combine(Stories, "expected_greedy_200.json")));
        var ids = expected.RootElement.GetProperty("greedy_ids").EnumerateArray().Take(32).Select(e => e.GetInt32()).ToArray();
        var (exit, stdout, err) = CliRunner.Run("generate", "--model", Stories, "--backend", "cuda", "--max-tokens", "32", "--temperature", "0", "--json");
        Assert.True(exit == 0, err);
        using var doc = JsonDocument.Parse(stdout);
        Assert.Equal(ids, doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray());
    }

    [Fact]
    public void Generate_CorruptWeights_NamesFile()
    {
        CopyStories();
        File.WriteAllBytes(_dir.File("model.safetensors"), [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x7B]);
        var (exit, _, err) = CliRunner.Run("generate", "--model", _dir.Path, "--max-tokens", "2");
        Assert.Equal(2, exit);
        Assert.Contains("model.safetensors", err);
        Assert.DoesNotContain("   at ", err);
    }

    [Fact]
    public void Generate_UnsupportedArchitecture_ListsSupported()
    {
        CopyStories();
        var config = File.ReadAllText(_dir.File("config.json")).Replace("LlamaForCausalLM", "FalconForCausalLM").Replace("\"llama\"", "\"falcon\"");
        File.WriteAllText(_dir.File("config.json"), config);
        var (exit, _, err) = CliRunner.Run("generate", "--model", _dir.Path);
        Assert.Equal(2, exit);
        Assert.Contains("FalconForCausalLM", err);
        Assert.Contains("LlamaForCausalLM", err);
    }

    [Fact]
    public void Generate_WrongTensorShape_NamesTensor()
    {
        // A config that disagrees with the weights (a real failure mode of hand-edited folders).
        CopyStories();
        File.WriteAllText(_dir.File("config.json"), File.ReadAllText(_dir.File("config.json")).Replace("\"intermediate_size\": 172", "\"intermediate_size\": 171"));
        var (exit, _, err) = CliRunner.Run("generate", "--model", _dir.Path);
        Assert.Equal(2, exit);
        Assert.Contains("mlp.gate_proj.weight", err);
    }

    [Fact]
    public void Verbose_ShowsStackTrace()
    {
        var (exit, _, err) = CliRunner.Run("info", "--model", "/nonexistent/model", "--verbose");
        Assert.Equal(2, exit);
        Assert.Contains("   at ", err);
    }
}
