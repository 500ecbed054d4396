using System.Text.Json;
using LongLM.Models;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Models;

/// <summary>The real stories260K model against outputs of independent implementations.</summary>
public sealed class Stories260KGoldenTests
{
    private static string ModelDir => Path.Combine(SharedData.Root, "models", "stories260K");

    // llama2.c test_all.py expected_stdout for stories260K, temperature 0, 200 steps (the C run.c output).
    private const string Llama2cExpectedText =
        "Once upon a time, there was a little girl named Lily. She loved to play outside in the park. One day, she saw a big, red ball. " +
        "She wanted to play with it, but it was too high.\nLily's mom said, \"Lily, let's go to the park.\" Lily was sad and didn't know what to do. " +
        "She said, \"I want to play with your ball, but I can't find it.\"\nLily was sad and didn't know what to do. " +
        "She said, \"I'm sorry, Lily. I didn't know what to do.\"\nLily didn't want to help her mom, so she";

    private static int[] ExpectedGreedyIds()
    {
        // expected_greedy_200.json: ids produced by llama2.c's run.c (and an independent NumPy forward).
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(ModelDir, "expected_greedy_200.json")));
        return doc.RootElement.GetProperty("greedy_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
    }

    [Fact]
    public void Greedy200FromBos_EqualsLlama2cIdsAndText()
    {
        using var lm = LanguageModel.Load(ModelDir);
        using var session = lm.CreateSession();
        var prompt = lm.Tokenizer.Encode("");
        Assert.Equal([1], prompt);
        var ids = session.Generate(prompt, new GenerationOptions { MaxTokens = 200, Sampling = SamplingOptions.Greedy }).ToArray();
        Assert.Equal(ExpectedGreedyIds(), ids);
        Assert.Equal(Llama2cExpectedText, lm.Tokenizer.Decode(ids));
    }

    [Fact]
    public void Logits_MatchNumPyReferenceWithin1e4()
    {
        // golden/stories260K_logits.json: tools/reference/llama_ref.py, an independent float64 NumPy forward.
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "golden", "stories260K_logits.json")));
        int[] ids = doc.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()).ToArray();
        float[] expected = doc.RootElement.GetProperty("logits").EnumerateArray().SelectMany(r => r.EnumerateArray().Select(e => e.GetSingle())).ToArray();
        using var lm = LanguageModel.Load(ModelDir);
        float[] actual = lm.Logits(ids);
        Assert.Equal(expected.Length, actual.Length);
        double maxDiff = expected.Zip(actual, (e, a) => Math.Abs(e - a)).Max();
        Assert.True(maxDiff <= 1e-4, $"max |diff| = {maxDiff}");
    }

    [Fact]
    public void IncrementalDecode_EqualsOneShotForward()
    {
        using var lm = LanguageModel.Load(ModelDir);
        int[] ids = [1, .. ExpectedGreedyIds().Take(40)];
        float[] oneShot = lm.Logits(ids);
        int vocab = lm.Config.VocabSize;
        using var cache = lm.Model.CreateSequence();
        var row = new float[vocab];
        // Chunks of 7 then single tokens: exercises cache growth and the causal offset of a chunk.
        int i = 0;
        while (i < ids.Length)
        {
            int n = i < 21 ? Math.Min(7, ids.Length - i) : 1;
            lm.Model.Forward(ids.AsSpan(i, n), cache, row, LogitsRows.Last);
            i += n;
            var expected = oneShot.AsSpan((i - 1) * vocab, vocab);
            for (int v = 0; v < vocab; v++) Assert.True(Math.Abs(expected[v] - row[v]) < 1e-4, $"position {i - 1}, token {v}: {expected[v]} vs {row[v]}");
        }
    }
}
