using System.Text.Json;
using LongLM.Kernels.Cpu;
using LongLM.Kernels.Profiling;
using LongLM.Models;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.Cli;

/// <summary>
/// `longlm bench --profile` and the <see cref="ProfilingBackend"/> behind it, on stories260K. Expected call counts are
/// the Llama architecture's (HF LlamaDecoderLayer, read from config.json by hand): per layer one input_layernorm and
/// one post_attention_layernorm, four attention projections (q, k, v, o), three MLP projections (gate, up, down), RoPE
/// on q and on k, one attention and one SiluMul; then the final norm and the (tied) head once per call.
/// </summary>
public sealed class BenchProfileCliTests
{
    private static string Stories => ModelFolderCopy.Stories260K;

    private static int Layers() =>
        JsonDocument.Parse(File.ReadAllText(Path.Combine(Stories, "config.json"))).RootElement.GetProperty("num_hidden_layers").GetInt32();

    private static Dictionary<string, JsonElement> Ops(JsonElement row) =>
        row.GetProperty("profile").GetProperty("ops").EnumerateArray().ToDictionary(e => e.GetProperty("op").GetString()!);

    [Fact]
    public void Json_ProfilesEveryOpPerToken_WithTheArchitecturesCallCounts()
    {
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, "-p", "8", "-n", "4", "-r", "2", "-o", "json", "--profile"]);
        Assert.True(exit == 0, err);
        var rows = JsonDocument.Parse(output).RootElement.EnumerateArray().ToArray();
        Assert.Equal(2, rows.Length);
        int layers = Layers();
        foreach (var row in rows)
        {
            // tg: one forward call per token; pp8: one call for 8 tokens, so per token the per-call counts are divided by 8.
            double perCall = row.GetProperty("test").GetString() == "tg4" ? 1 : 1 / 8.0;
            var ops = Ops(row);
            // Per layer: q/k/v as one MatMul3 call and o_proj; gate/up/SiLU as one GatedMatMul call and down_proj.
            Assert.Equal(2 * layers * perCall, ops["matmul_attention"].GetProperty("calls_per_token").GetDouble(), 9);
            Assert.Equal(2 * layers * perCall, ops["matmul_mlp"].GetProperty("calls_per_token").GetDouble(), 9);
            Assert.Equal(1 * perCall, ops["matmul_head"].GetProperty("calls_per_token").GetDouble(), 9);
            Assert.Equal(layers * perCall, ops["attention"].GetProperty("calls_per_token").GetDouble(), 9);
            Assert.Equal((2 * layers + 1) * perCall, ops["norm"].GetProperty("calls_per_token").GetDouble(), 9);
            Assert.Equal(2 * layers * perCall, ops["rope"].GetProperty("calls_per_token").GetDouble(), 9);
            Assert.False(ops.ContainsKey("activation")); // SwiGLU's multiply is inside GatedMatMul
            // Sampling is timed on decode rows only (one argmax per token); "other" is what the ops leave of the wall time.
            Assert.Equal(row.GetProperty("test").GetString() == "tg4", ops.ContainsKey("sampling"));
            Assert.True(ops.ContainsKey("other"));
            double share = ops.Values.Sum(e => e.GetProperty("share").GetDouble());
            Assert.InRange(share, 0.999, 1.001);
            foreach (var e in ops.Values) Assert.True(e.GetProperty("us_per_token").GetDouble() >= 0);
            Assert.True(row.GetProperty("profile").GetProperty("empty_region_us").GetDouble() >= 0);
        }
    }

    [Fact]
    public void Json_WithoutProfile_HasNoProfile()
    {
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, "-p", "8", "-n", "2", "-r", "1", "-o", "json"]);
        Assert.True(exit == 0, err);
        foreach (var row in JsonDocument.Parse(output).RootElement.EnumerateArray())
            Assert.Equal(JsonValueKind.Null, row.GetProperty("profile").ValueKind);
    }

    [Fact]
    public void Markdown_PrintsAProfileTablePerRow()
    {
        var (exit, output, err) = CliRunner.Run(["bench", "-m", Stories, "-p", "8", "-n", "2", "-r", "1", "--profile"]);
        Assert.True(exit == 0, err);
        Assert.Contains("profile: stories260K, vanilla, t=", output);
        Assert.Contains("| op | calls/token | us/token | share |", output);
        Assert.Contains("| matmul_mlp | ", output);
        Assert.Contains("thread wake-ups: ", output);
        Assert.Equal(2, output.Split("profile: ").Length - 1);
    }

    [Theory]
    [InlineData("--backend", "ilgpu-cpu")]
    [InlineData("--from", "rows.json")]
    public void Profile_RefusesWhatItCannotTime(string flag, string value)
    {
        string[] args = flag == "--from" ? ["bench", "--from", value, "--profile"] : ["bench", "-m", Stories, flag, value, "--profile"];
        var (exit, output, err) = CliRunner.Run(args);
        Assert.Equal(2, exit);
        Assert.Equal("", output);
        Assert.Contains("--profile", err);
    }

    /// <summary>The wrapper only times: logits through it equal the cpu backend's bit for bit, profiled or not.</summary>
    [Fact]
    public void ProfilingBackend_ChangesNoResult()
    {
        int[] ids = [1, 200, 45, 300, 7, 99, 12, 401, 3];
        using var cpu = new CpuBackend(2);
        using var plain = LanguageModel.Load(Stories, cpu);
        using var profiling = new ProfilingBackend(new CpuBackend(2));
        using var profiled = LanguageModel.Load(Stories, profiling);
        float[] expected = plain.Logits(ids);
        profiling.Profile.Start();
        float[] actual = profiled.Logits(ids);
        var totals = profiling.Profile.Stop();
        Assert.Equal(expected, actual);
        Assert.Equal(2 * Layers(), totals.ByKind[OpKind.MatMulAttention].Calls); // MatMul3 (q, k, v) and o_proj
        Assert.False(profiling.Profile.Enabled);
    }
}
