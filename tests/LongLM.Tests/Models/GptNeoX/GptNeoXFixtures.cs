using System.Text.Json;
using LongLM.Kernels;
using LongLM.Models;
using LongLM.Models.Fixtures;
using LongLM.Runtime.Attention;
using LongLM.Runtime.Inference;

namespace LongLM.Tests.Models.GptNeoX;

/// <summary>
/// The GPT-NeoX fixtures behind the golden files (tools/reference/make_golden.sh, GPT-NeoX block): tiny = parallel
/// residual, F32, seed 13; tiny-seq = sequential residual, BF16, seed 14; and the runtime side of the top-k call schedule.
/// </summary>
internal static class GptNeoXFixtures
{
    /// <summary>LM-Infinite of the Lambda goldens: L = 8, G = 2, D = 8.</summary>
    public static LambdaAttentionOptions Lambda { get; } = new() { LocalWindow = 8, GlobalTokens = 2 };

    /// <summary>The top-k goldens: Lambda (8, 2, 8) plus k = 2 middle tokens at distance 4 in layers >= 1.</summary>
    public static LambdaAttentionOptions TopK { get; } = new() { LocalWindow = 8, GlobalTokens = 2, TopK = 2, TopKInsertAt = 4, TopKFromLayer = 1 };

    /// <summary>Golden file base name of a shape.</summary>
    public static string Base(string shape) => shape == "tiny" ? "fixture_gpt-neox-tiny_f32_seed13" : "fixture_gpt-neox-tiny-seq_bf16_seed14";

    /// <summary>Writes the fixture of <paramref name="shape"/> into <paramref name="directory"/>.</summary>
    public static string Write(string shape, string directory)
    {
        var (dtype, seed) = shape == "tiny" ? (DType.F32, 13UL) : (DType.BF16, 14UL);
        FixtureWriter.Write("gpt-neox", FixtureShape.Find("gpt-neox", shape), dtype, seed, directory);
        return directory;
    }

    /// <summary>The "schedule" (call sizes) of a golden file.</summary>
    public static int[] Schedule(string golden)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", golden)));
        return doc.RootElement.GetProperty("schedule").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    /// <summary>
    /// The reference's incremental semantics: consecutive forward calls of <paramref name="schedule"/>'s sizes on one
    /// sequence, every row's logits; <paramref name="chunk"/> bounds each call's internal passes.
    /// </summary>
    public static float[] Calls(LanguageModel lm, int[] ids, int[] schedule, int chunk = SequenceState.DefaultPrefillChunk)
    {
        int vocab = lm.Config.VocabSize, at = 0;
        var logits = new float[ids.Length * vocab];
        using var sequence = lm.Model.CreateSequence();
        sequence.PrefillChunk = chunk;
        foreach (int size in schedule)
        {
            lm.Model.Forward(ids.AsSpan(at, size), sequence, logits.AsSpan(at * vocab, size * vocab), LogitsRows.All);
            at += size;
        }
        return logits;
    }

    /// <summary>One call per token.</summary>
    public static float[] TokenByToken(LanguageModel lm, int[] ids) => Calls(lm, ids, Enumerable.Repeat(1, ids.Length).ToArray());
}
