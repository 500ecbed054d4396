using LongLM.Models;
using LongLM.Runtime;
using LongLM.Runtime.Inference;
using LongLM.Runtime.Sampling;

namespace LongLM.Tests.Models;

/// <summary>The library surface the README shows: sessions, streaming text, continuing a conversation.</summary>
public sealed class LibraryApiTests
{
    private static string Stories => Path.Combine(SharedData.Root, "models", "stories260K");

    [Fact]
    public async Task GenerateTextAsync_StreamsTheDecodedIds()
    {
        using var lm = LanguageModel.Load(Stories);
        var options = new GenerationOptions { MaxTokens = 40, Sampling = SamplingOptions.Greedy };
        using var a = lm.CreateSession();
        var pieces = new List<string>();
        await foreach (string piece in a.GenerateTextAsync("Once upon a time", options)) pieces.Add(piece);
        using var b = lm.CreateSession();
        var ids = b.Generate(lm.Tokenizer.Encode("Once upon a time"), options).ToArray();
        Assert.True(pieces.Count > 1);
        Assert.Equal(lm.Tokenizer.Decode(ids), string.Concat(pieces));
    }

    [Fact]
    public void Generate_InTwoCalls_EqualsOneCall()
    {
        // The last id of the first call is pending (sampled, not yet run); the second call runs it first.
        using var lm = LanguageModel.Load(Stories);
        var greedy = new GenerationOptions { MaxTokens = 30, Sampling = SamplingOptions.Greedy };
        using var whole = lm.CreateSession();
        var all = whole.Generate([1], greedy).ToArray();
        using var split = lm.CreateSession();
        var first = split.Generate([1], greedy with { MaxTokens = 12 }).ToArray();
        var second = split.Generate([], greedy with { MaxTokens = 18 }).ToArray();
        Assert.Equal(all, first.Concat(second).ToArray());
        Assert.Equal(30, split.Cache.TokenCount);
    }

    [Fact]
    public void Generate_StopsAtEos()
    {
        using var lm = LanguageModel.Load(Stories);
        using var session = lm.CreateSession();
        // Greedy from BOS produces 403 first: naming it a stop id ends generation before any output.
        var ids = session.Generate([1], new GenerationOptions { MaxTokens = 10, Sampling = SamplingOptions.Greedy, StopIds = new HashSet<int> { 403 } }).ToArray();
        Assert.Empty(ids);
        Assert.Contains(2, lm.StopIds);
    }

    [Fact]
    public void EmptyPrompt_IsAClearError()
    {
        using var lm = LanguageModel.Load(Stories);
        using var session = lm.CreateSession();
        Assert.Throws<LongLMException>(() => session.Generate([], new GenerationOptions()).ToArray());
    }
}
