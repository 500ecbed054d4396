namespace LongLM.Tests.Cli;

/// <summary>
/// --quantize / --quantize-output on the CLI. Expected values: the exit codes of ExitCodes (2 for a usage error) and
/// the tensor counts of stories260K's config (5 layers: q, k, v, o, gate, up quantizable; down_proj has 172 columns).
/// </summary>
public sealed class QuantizeCliTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    [Theory]
    [InlineData("logits")]
    [InlineData("ppl")]
    [InlineData("generate")]
    [InlineData("info")]
    public void BadValue_ExitsTwoListingTheAcceptedValues(string command)
    {
        string[] extra = command switch
        {
            "logits" => ["--prompt", "Once", "--out", Path.Combine(Path.GetTempPath(), "unused-quantize-logits.npy")],
            "ppl" => ["--text", Path.Combine(SharedData.Root, "corpus", "tinystories-sample.txt")],
            "generate" => ["--prompt", "Once", "--max-tokens", "2"],
            _ => [],
        };
        var (exit, _, err) = CliRunner.Run([command, "--model", Stories, "--quantize", "q5_k", .. extra]);
        Assert.Equal(2, exit);
        Assert.Contains("accepted values are q8_0, q4_0", err);
    }

    [Fact]
    public void QuantizeOutputWithoutQuantize_ExitsTwo()
    {
        var (exit, _, err) = CliRunner.Run("info", "--model", Stories, "--quantize-output");
        Assert.Equal(2, exit);
        Assert.Contains("--quantize-output needs --quantize", err);
    }

    [Fact]
    public void IlgpuBackend_GeneratesWithQuantizedWeights()
    {
        // The same greedy ids as the cpu backend's q8_0 run (the ILGPU kernels' logits match it to 1e-5 here, LoadQuantizationTests).
        string[] args = ["generate", "--model", Stories, "--quantize", "q8_0", "--prompt", "Once upon a time", "--max-tokens", "12", "--temperature", "0", "--json"];
        var (cpuExit, cpuOut, _) = CliRunner.Run([.. args, "--backend", "cpu"]);
        var (exit, output, err) = CliRunner.Run([.. args, "--backend", "ilgpu-cpu"]);
        Assert.Equal(0, cpuExit);
        Assert.True(exit == 0, err);
        Assert.Equal(cpuOut, output);
    }

    [Fact]
    public void Info_ShowsLoadedDtypeCounts()
    {
        var (exit, output, _) = CliRunner.Run("info", "--model", Stories, "--quantize", "q4_0");
        Assert.Equal(0, exit);
        // 30 projections quantized; 5 down_proj + 10 layer norms + final norm + the tied embedding stay F32.
        Assert.Contains("F32:17,Q4_0:30", output);
    }
}
