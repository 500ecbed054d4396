using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Models;

/// <summary>The whole model through the ILGPU kernels (on the CPU accelerator) against the llama2.c golden ids.</summary>
public sealed class IlgpuGreedyTests
{
    private static string ModelDir => Path.Combine(SharedData.Root, "models", "stories260K");

    [Fact]
    public void Stories260K_Greedy32OnIlgpuCpu_EqualsGoldenIds()
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelDir, "expected_greedy_200.json")));
        int[] expected = doc.RootElement.GetProperty("greedy_ids").EnumerateArray().Take(32).Select(e => e.GetInt32()).ToArray();
        using var lm = LanguageModel.Load(ModelDir, "ilgpu-cpu");
        Assert.Equal("ilgpu-cpu", lm.Model.Backend.Name);
        using var session = lm.CreateSession();
        var ids = session.Generate(lm.Tokenizer.Encode(""), new GenerationOptions { MaxTokens = 32, Sampling = SamplingOptions.Greedy }).ToArray();
        Assert.Equal(expected, ids);
    }
}
